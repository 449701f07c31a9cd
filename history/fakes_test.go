package history

import (
	"fmt"
	"sync"

	"github.com/zombi-dev/zombi/kafka/groups"
	plog "github.com/zombi-dev/zombi/log"
)

// fakeLog is the log's counters and offsets, set by the test.
type fakeLog struct {
	mu     sync.Mutex
	topics map[string]*plog.TopicTraffic
	offs   []plog.CommittedOffset
	bounds map[string][2]int64 // "topic/part" -> log start, hwm
}

func newFakeLog() *fakeLog {
	return &fakeLog{topics: map[string]*plog.TopicTraffic{}, bounds: map[string][2]int64{}}
}

func (f *fakeLog) Traffic(dst []plog.TopicTraffic) []plog.TopicTraffic {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, t := range f.topics {
		dst = append(dst, *t)
	}
	return dst
}

func (f *fakeLog) add(topic string, records, bytes int64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	t := f.topics[topic]
	if t == nil {
		t = &plog.TopicTraffic{Name: topic, Partitions: 1}
		f.topics[topic] = t
	}
	t.RecordsIn += records
	t.BytesIn += bytes
}

func (f *fakeLog) served(topic string, records, bytes int64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.topics[topic].RecordsOut += records
	f.topics[topic].BytesOut += bytes
}

func (f *fakeLog) AllOffsets() ([]plog.CommittedOffset, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]plog.CommittedOffset(nil), f.offs...), nil
}

func (f *fakeLog) Offsets(topic string, part int32) (int64, int64, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	b, ok := f.bounds[fmt.Sprintf("%s/%d", topic, part)]
	if !ok {
		return 0, 0, plog.ErrUnknownTopic
	}
	return b[0], b[1], nil
}

func (f *fakeLog) setBounds(topic string, part int32, start, hwm int64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.bounds[fmt.Sprintf("%s/%d", topic, part)] = [2]int64{start, hwm}
}

type fakeGroups []groups.GroupInfo

func (g fakeGroups) List() []groups.GroupInfo { return g }

// fakeLatency returns the histograms the test set.
type fakeLatency struct{ produce, fetch Hist }

func (f *fakeLatency) Latency() (Hist, Hist) { return f.produce, f.fetch }
