package kafka

import (
	"context"
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"
	plog "github.com/zombi-dev/zombi/log"
)

// coldBelow is a cold tier that claims [0, end) (its reads are not asked).
type coldBelow struct{ end int64 }

func (c coldBelow) Bounds(string, int32) (int64, int64, bool) { return 0, c.end, true }
func (coldBelow) Read(context.Context, string, int32, int64, int) ([]plog.Batch, error) {
	return nil, plog.ErrColdUnavailable
}
func (coldBelow) StartForTimestamp(context.Context, string, int32, int64) (int64, bool, error) {
	return 0, false, nil
}

// TestListOffsetsEarliestLocal: with part of a partition in the cold tier,
// -2 (earliest) is the cold start and -4 (earliest local, KIP-405) the hot
// log start: where a new follower starts copying.
func TestListOffsetsEarliestLocal(t *testing.T) {
	e := startServer(t, testConfig())
	c := e.dial(t)
	for range 4 {
		c.produce("tiered", 0, 9, mkBatch("a", "b")) // offsets 0-7
	}
	e.l.SetColdTier(coldBelow{end: 4})
	if _, err := e.l.TrimBefore(context.Background(), "tiered", 0, 4); err != nil {
		t.Fatal(err)
	}
	q := func(ts int64) kmsg.ListOffsetsResponseTopicPartition {
		req := kmsg.NewPtrListOffsetsRequest()
		rt := kmsg.NewListOffsetsRequestTopic()
		rt.Topic = "tiered"
		rp := kmsg.NewListOffsetsRequestTopicPartition()
		rp.Timestamp = ts
		rt.Partitions = append(rt.Partitions, rp)
		req.Topics = append(req.Topics, rt)
		return c.do(req, 8).(*kmsg.ListOffsetsResponse).Topics[0].Partitions[0]
	}
	if p := q(-2); p.ErrorCode != 0 || p.Offset != 0 {
		t.Errorf("earliest: %+v, want offset 0 (the cold start)", p)
	}
	if p := q(-4); p.ErrorCode != 0 || p.Offset != 4 {
		t.Errorf("earliest local: %+v, want offset 4 (the hot log start)", p)
	}
	if p := q(-1); p.ErrorCode != 0 || p.Offset != 8 {
		t.Errorf("latest: %+v, want 8", p)
	}
}
