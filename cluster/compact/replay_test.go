package compact

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/zombi-dev/zombi/cluster/coordlog"
	plog "github.com/zombi-dev/zombi/log"
)

// TestPlanReplaysToTheSameView: commits and deletions of a few groups'
// offsets, appended to a real __consumer_offsets partition; replaying the
// log without the planned batches gives the same committed offsets as
// replaying all of it (what a new replica fetching a compacted log gets).
func TestPlanReplaysToTheSameView(t *testing.T) {
	l, err := plog.Open(plog.Options{Dir: t.TempDir(), Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	l.SetClusterMode()
	topic := coordlog.OffsetsTopic
	if err := l.MakeInternalReal(topic); err != nil {
		t.Fatal(err)
	}
	if err := l.BecomeLeader(topic, 0, 0); err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	ctx := context.Background()
	for i := range 300 {
		var offs []plog.CommittedOffset
		var dels []plog.OffsetKey
		for range 1 + rng.IntN(4) {
			k := plog.OffsetKey{Group: fmt.Sprintf("g%d", rng.IntN(5)), Topic: "t", Partition: int32(rng.IntN(4))}
			if rng.IntN(10) == 0 {
				dels = append(dels, k)
			} else {
				offs = append(offs, plog.CommittedOffset{Group: k.Group, Topic: k.Topic, Partition: k.Partition, Offset: int64(i), LeaderEpoch: -1, CommitTimeMs: 1})
			}
		}
		if _, _, err := l.AppendInternal(ctx, topic, 0, coordlog.OffsetBatch(offs, dels, 1)); err != nil {
			t.Fatal(err)
		}
	}
	r, err := l.Read(topic, 0, 0, 64<<20)
	if err != nil {
		t.Fatal(err)
	}
	p, err := Make(r.Batches, r.Batches[len(r.Batches)-1].LastOffset+1, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Delete) < len(r.Batches)/2 {
		t.Fatalf("only %d of %d batches planned for deletion over 20 live keys", len(p.Delete), len(r.Batches))
	}
	var kept []plog.Batch
	for _, b := range r.Batches {
		if !slices.Contains(p.Delete, b.BaseOffset) {
			kept = append(kept, b)
		}
	}
	full, compacted := replay(t, r.Batches), replay(t, kept)
	if fmt.Sprint(full) != fmt.Sprint(compacted) {
		t.Fatalf("replays differ:\nfull      %v\ncompacted %v", full, compacted)
	}
	t.Logf("%d of %d batches deletable, dirty ratio %.2f, %d live keys", len(p.Delete), len(r.Batches), p.DirtyRatio(), len(full))
}

// replay applies batches in order to a map of committed offsets, as the
// apply loop does to the 'C' keys.
func replay(t *testing.T, bs []plog.Batch) map[plog.OffsetKey]int64 {
	t.Helper()
	out := map[plog.OffsetKey]int64{}
	for _, b := range bs {
		ch, err := coordlog.Decode(coordlog.Group, 0, []plog.Batch{b}, nil)
		if err != nil {
			t.Fatal(err)
		}
		for _, o := range ch.Offsets {
			out[plog.OffsetKey{Group: o.Group, Topic: o.Topic, Partition: o.Partition}] = o.Offset
		}
		for _, k := range ch.Deleted {
			delete(out, k)
		}
	}
	return out
}
