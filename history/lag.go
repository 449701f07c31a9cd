package history

import (
	"sort"
	"time"

	"github.com/zombi-dev/zombi/kafka/groups"
)

type lagKey struct {
	topic string
	part  int32
}

// lagSeries is one group partition's lag at each slow pass of the window,
// -1 where it had none (8 bytes a point: 720 bytes a partition).
type lagSeries struct {
	vals []int64
	last int // slow pass of the latest value
}

// LagSeries is one partition's lag over the window: points are [Unix ms,
// lag], oldest first.
type LagSeries struct {
	Topic     string     `json:"topic"`
	Partition int32      `json:"partition"`
	Points    [][2]int64 `json:"points"`
}

type lagRow struct {
	group string
	key   lagKey
	lag   int64
}

// slowPass records every topic's records in since the last one and every
// group partition's lag.
func (s *Sampler) slowPass(now time.Time) {
	rows := s.readLags()
	s.mu.Lock()
	defer s.mu.Unlock()
	s.slowTopics()
	slot := s.slow % s.slowN
	s.slowT[slot] = now.UnixMilli()
	for _, r := range rows {
		g := s.lags[r.group]
		if g == nil {
			g = map[lagKey]*lagSeries{}
			s.lags[r.group] = g
		}
		ls := g[r.key]
		if ls == nil {
			ls = &lagSeries{vals: make([]int64, s.slowN)}
			for i := range ls.vals {
				ls.vals[i] = -1
			}
			g[r.key] = ls
		}
		ls.vals[slot] = r.lag
		ls.last = s.slow
	}
	// Series without a value now get a gap; those empty over the whole
	// window (group or topic deleted, offsets removed) go.
	for name, g := range s.lags {
		for k, ls := range g {
			if ls.last != s.slow {
				ls.vals[slot] = -1
				if s.slow-ls.last >= s.slowN {
					delete(g, k)
				}
			}
		}
		if len(g) == 0 {
			delete(s.lags, name)
		}
	}
	s.slow++
}

// readLags computes each group partition's lag as GET /consumers/{g} does:
// every partition with a committed offset (high watermark - committed), and
// every partition a live consumer-group member is assigned without one
// (everything retained is behind: high watermark - log start). Partitions of
// deleted topics are left out.
func (s *Sampler) readLags() []lagRow {
	if s.cfg.Offsets == nil {
		return nil
	}
	offs, err := s.cfg.Offsets.AllOffsets()
	if err != nil {
		s.logger.Warn("lag history: read committed offsets", "err", err)
		return nil
	}
	type gk struct {
		group string
		key   lagKey
	}
	committed := make(map[gk]int64, len(offs))
	order := make([]gk, 0, len(offs))
	for _, o := range offs {
		k := gk{o.Group, lagKey{o.Topic, o.Partition}}
		committed[k] = o.Offset
		order = append(order, k)
	}
	if s.cfg.Groups != nil {
		for _, g := range s.cfg.Groups.List() {
			if g.ProtocolType != "consumer" {
				continue
			}
			for _, m := range g.Members {
				asg, ok := groups.ConsumerAssignment(m.Assignment)
				if !ok {
					continue
				}
				for topic, parts := range asg {
					for _, p := range parts {
						k := gk{g.Group, lagKey{topic, p}}
						if _, ok := committed[k]; !ok {
							committed[k] = -1
							order = append(order, k)
						}
					}
				}
			}
		}
	}
	rows := make([]lagRow, 0, len(order))
	for _, k := range order {
		start, hwm, err := s.cfg.Offsets.Offsets(k.key.topic, k.key.part)
		if err != nil {
			continue
		}
		from := committed[k]
		if from < 0 {
			from = start
		}
		rows = append(rows, lagRow{k.group, k.key, max(0, hwm-from)})
	}
	return rows
}

// LagHistory is group's lag per partition over the window, sorted by topic
// and partition; empty for a group without any.
func (s *Sampler) LagHistory(group string) []LagSeries {
	s.mu.RLock()
	defer s.mu.RUnlock()
	g := s.lags[group]
	out := make([]LagSeries, 0, len(g))
	n := min(s.slow, s.slowN)
	for k, ls := range g {
		series := LagSeries{Topic: k.topic, Partition: k.part, Points: make([][2]int64, 0, n)}
		for i := s.slow - n; i < s.slow; i++ {
			if v := ls.vals[i%s.slowN]; v >= 0 {
				series.Points = append(series.Points, [2]int64{s.slowT[i%s.slowN], v})
			}
		}
		out = append(out, series)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Topic != out[j].Topic {
			return out[i].Topic < out[j].Topic
		}
		return out[i].Partition < out[j].Partition
	})
	return out
}
