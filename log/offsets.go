package log

import (
	"encoding/json"
	"errors"
	"fmt"
	"sort"
)

// CommittedOffset is a consumer group's committed position in a partition:
// the next offset to consume (Kafka semantics). HTTP commits and Kafka
// OffsetCommit write the same entry.
type CommittedOffset struct {
	Group        string `json:"-"`
	Topic        string `json:"-"`
	Partition    int32  `json:"-"`
	Offset       int64  `json:"offset"`
	LeaderEpoch  int32  `json:"leader_epoch"`
	Metadata     string `json:"metadata,omitempty"`
	CommitTimeMs int64  `json:"commit_time_ms"`
}

// ErrInvalidGroup is returned for an empty or oversized group id.
var ErrInvalidGroup = errors.New("invalid group id")

// MaxGroupLen bounds group ids (keys hold their length in 16 bits).
const MaxGroupLen = 32767

type commitOp struct {
	offs []CommittedOffset
	del  [][]byte
	err  error
	done chan struct{}
}

func (op *commitOp) size() int        { return 64 * len(op.offs) }
func (op *commitOp) finish(err error) { op.err = err; close(op.done) }
func (op *commitOp) stage(r *round) {
	for _, o := range op.offs {
		v, _ := json.Marshal(o)
		r.wb.Put(commitKey(o.Group, o.Topic, o.Partition), v)
	}
	for _, k := range op.del {
		r.wb.Delete(k)
	}
}

// CommitOffsets stores committed offsets durably (sharing the group commit
// with appends).
func (l *Log) CommitOffsets(offs []CommittedOffset) error {
	for _, o := range offs {
		if err := validOffset(o); err != nil {
			return err
		}
	}
	return l.runCommit(&commitOp{offs: offs, done: make(chan struct{})})
}

func validOffset(o CommittedOffset) error {
	if o.Group == "" || len(o.Group) > MaxGroupLen {
		return fmt.Errorf("%w: %q", ErrInvalidGroup, o.Group)
	}
	if !ValidTopicName(o.Topic) {
		return fmt.Errorf("%w: %q", ErrInvalidTopic, o.Topic)
	}
	if o.Offset < 0 || o.Partition < 0 {
		return fmt.Errorf("%w: %s/%d offset %d", ErrInvalidOffset, o.Topic, o.Partition, o.Offset)
	}
	return nil
}

// DeleteOffsets removes committed offsets of a group (OffsetDelete); with
// no topic it removes all of the group's offsets.
func (l *Log) DeleteOffsets(group string, topic string, parts []int32) error {
	var keys [][]byte
	if topic == "" || parts == nil {
		all, err := l.GroupOffsets(group)
		if err != nil {
			return err
		}
		for _, o := range all {
			if topic == "" || o.Topic == topic {
				keys = append(keys, commitKey(group, o.Topic, o.Partition))
			}
		}
	} else {
		for _, p := range parts {
			keys = append(keys, commitKey(group, topic, p))
		}
	}
	if len(keys) == 0 {
		return nil
	}
	return l.runCommit(&commitOp{del: keys, done: make(chan struct{})})
}

func (l *Log) runCommit(op *commitOp) error {
	if err := l.w.submit(op); err != nil {
		return err
	}
	<-op.done
	if op.err != nil {
		return fmt.Errorf("commit offsets: %w", op.err)
	}
	return nil
}

// FetchOffset returns a committed offset; ok is false when there is none.
func (l *Log) FetchOffset(group, topic string, part int32) (CommittedOffset, bool, error) {
	if err := l.enter(); err != nil {
		return CommittedOffset{}, false, err
	}
	defer l.closeMu.RUnlock()
	v, err := l.db.GetBytes(l.ro, commitKey(group, topic, part))
	if err != nil {
		return CommittedOffset{}, false, fmt.Errorf("%w: %w", ErrStorage, err)
	}
	if v == nil {
		return CommittedOffset{}, false, nil
	}
	o := CommittedOffset{Group: group, Topic: topic, Partition: part}
	if err := json.Unmarshal(v, &o); err != nil {
		return o, false, fmt.Errorf("decode committed offset: %w", err)
	}
	return o, true, nil
}

// GroupOffsets returns all committed offsets of a group, by topic and partition.
func (l *Log) GroupOffsets(group string) ([]CommittedOffset, error) {
	if err := l.enter(); err != nil {
		return nil, err
	}
	defer l.closeMu.RUnlock()
	prefix := commitGroupPrefix(group)
	it := l.db.NewIterator(l.ro)
	defer it.Close()
	var out []CommittedOffset
	for it.Seek(prefix); it.ValidForPrefix(prefix); it.Next() {
		g, t, p, ok := parseCommitKey(it.Key().Data())
		if !ok || g != group {
			continue
		}
		o := CommittedOffset{Group: g, Topic: t, Partition: p}
		if err := json.Unmarshal(it.Value().Data(), &o); err != nil {
			return nil, fmt.Errorf("decode committed offset: %w", err)
		}
		out = append(out, o)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Topic != out[j].Topic {
			return out[i].Topic < out[j].Topic
		}
		return out[i].Partition < out[j].Partition
	})
	return out, it.Err()
}

// Groups lists the groups that have committed offsets.
func (l *Log) Groups() ([]string, error) {
	if err := l.enter(); err != nil {
		return nil, err
	}
	defer l.closeMu.RUnlock()
	it := l.db.NewIterator(l.ro)
	defer it.Close()
	var out []string
	for it.Seek([]byte{kindCommit}); it.ValidForPrefix([]byte{kindCommit}); {
		g, _, _, ok := parseCommitKey(it.Key().Data())
		if !ok {
			it.Next()
			continue
		}
		out = append(out, g)
		it.Seek(prefixEnd(commitGroupPrefix(g)))
	}
	return out, it.Err()
}

// AllOffsets returns every committed offset of every group, in key order
// (by group, then topic and partition): one scan, for the metrics scrape.
func (l *Log) AllOffsets() ([]CommittedOffset, error) {
	if err := l.enter(); err != nil {
		return nil, err
	}
	defer l.closeMu.RUnlock()
	it := l.db.NewIterator(l.ro)
	defer it.Close()
	var out []CommittedOffset
	prefix := []byte{kindCommit}
	for it.Seek(prefix); it.ValidForPrefix(prefix); it.Next() {
		g, t, p, ok := parseCommitKey(it.Key().Data())
		if !ok {
			continue
		}
		o := CommittedOffset{Group: g, Topic: t, Partition: p}
		if err := json.Unmarshal(it.Value().Data(), &o); err != nil {
			return nil, fmt.Errorf("decode committed offset: %w", err)
		}
		out = append(out, o)
	}
	if err := it.Err(); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrStorage, err)
	}
	return out, nil
}
