package history

import (
	"math"

	plog "github.com/zombi-dev/zombi/log"
)

// rateSlots is how many slow passes a topic's records-in ring keeps: the
// sparkline's points times the passes each covers.
const rateSlots = RatePoints * RatePointTicks

// topicSeries is one topic's state: the counters at the last sample and
// the records in per slow pass (about 420 bytes with the map entry: 4 MB
// for 10,000 topics). Only topics that exist have one: a deleted topic's
// goes at the next sample.
type topicSeries struct {
	uuid               [16]byte
	in, inB, out, outB int64 // counters at the last sample
	acc                uint32
	gen                uint32
	ring               [rateSlots]uint32 // records in per slow pass, saturating
}

// topicDeltas updates every topic's last counters and returns the sum of
// what each moved since the previous sample. A topic seen for the first
// time after the first sample counts from 0 (it was created since); a
// re-created one (another UUID) too.
func (s *Sampler) topicDeltas(tt []plog.TopicTraffic) (in, inB, out, outB int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.gen++
	for i := range tt {
		t := &tt[i]
		ts := s.topics[t.Name]
		if ts == nil || ts.uuid != t.UUID {
			ts = &topicSeries{uuid: t.UUID}
			if !s.started {
				ts.in, ts.inB, ts.out, ts.outB = t.RecordsIn, t.BytesIn, t.RecordsOut, t.BytesOut
			}
			s.topics[t.Name] = ts
		}
		dIn := max(0, t.RecordsIn-ts.in)
		in += dIn
		inB += max(0, t.BytesIn-ts.inB)
		out += max(0, t.RecordsOut-ts.out)
		outB += max(0, t.BytesOut-ts.outB)
		ts.in, ts.inB, ts.out, ts.outB = t.RecordsIn, t.BytesIn, t.RecordsOut, t.BytesOut
		ts.acc = uint32(min(int64(ts.acc)+dIn, math.MaxUint32))
		ts.gen = s.gen
	}
	if len(s.topics) != len(tt) { // some were deleted
		for name, ts := range s.topics {
			if ts.gen != s.gen {
				delete(s.topics, name)
			}
		}
	}
	return in, inB, out, outB
}

// slowTopics closes the current slot of every topic's ring. Called with
// s.mu held.
func (s *Sampler) slowTopics() {
	slot := s.slow % rateSlots
	for _, ts := range s.topics {
		ts.ring[slot] = ts.acc
		ts.acc = 0
	}
}

// TopicRates is a topic's records in per second, RatePoints points, oldest
// first, each over RatePointTicks slow passes (30 s by default), the last
// ending at the latest slow pass. Zeros for a topic the sampler has not
// seen (yet) and before it started.
func (s *Sampler) TopicRates(topic string) []float64 {
	points := make([]float64, RatePoints)
	secs := float64(RatePointTicks) * s.SlowInterval().Seconds()
	s.mu.RLock()
	defer s.mu.RUnlock()
	ts := s.topics[topic]
	if ts == nil {
		return points
	}
	for j := range points {
		var sum float64
		for k := range RatePointTicks {
			if idx := s.slow - rateSlots + j*RatePointTicks + k; idx >= 0 {
				sum += float64(ts.ring[idx%rateSlots])
			}
		}
		points[j] = math.Round(sum/secs*1000) / 1000
	}
	return points
}
