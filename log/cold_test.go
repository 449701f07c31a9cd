package log

import (
	"context"
	"errors"
	"testing"

	"github.com/zombi-dev/zombi/log/batch"
)

// memCold is an in-memory ColdTier for unit tests.
type memCold struct {
	batches []Batch
	err     error
}

func (m *memCold) Bounds(string, int32) (int64, int64, bool) {
	if len(m.batches) == 0 {
		return 0, 0, false
	}
	return m.batches[0].BaseOffset, m.batches[len(m.batches)-1].LastOffset + 1, true
}

func (m *memCold) Read(_ context.Context, _ string, _ int32, offset int64, maxBytes int) ([]Batch, error) {
	if m.err != nil {
		return nil, m.err
	}
	var out []Batch
	for _, b := range m.batches {
		if b.LastOffset < offset {
			continue
		}
		if len(out) > 0 && maxBytes < len(b.Raw) {
			break
		}
		maxBytes -= len(b.Raw)
		out = append(out, b)
	}
	return out, nil
}

func (m *memCold) StartForTimestamp(_ context.Context, _ string, _ int32, ts int64) (int64, bool, error) {
	for _, b := range m.batches {
		if b.MaxTimestamp >= ts {
			return b.BaseOffset, true, nil
		}
	}
	return 0, false, nil
}

func TestReadsSpanColdTier(t *testing.T) {
	l := openTest(t, "")
	if _, err := l.CreateTopic("t", 1, nil); err != nil {
		t.Fatal(err)
	}
	cold := &memCold{}
	for i := int64(0); i < 5; i++ { // cold offsets 0-9, two records per batch, ts 100..109
		b := batch.NewBuilder()
		b.Add(100+2*i, nil, []byte("cold"), nil)
		b.Add(101+2*i, nil, []byte("cold"), nil)
		raw := append([]byte(nil), b.Bytes()...)
		batch.SetBaseOffset(raw, 2*i)
		cold.batches = append(cold.batches, Batch{BaseOffset: 2 * i, LastOffset: 2*i + 1, MaxTimestamp: 101 + 2*i, Raw: raw})
	}
	if err := l.ResetEmpty("t", 0, 10); err != nil {
		t.Fatal(err)
	}
	if err := l.ResetEmpty("t", 0, 5); err == nil {
		t.Fatal("reset backwards accepted")
	}
	if r := appendOne(t, l, "t", 0, oneRecord(200, "", "hot")); r.BaseOffset != 10 {
		t.Fatalf("first hot offset %d", r.BaseOffset)
	}
	if ls, _, _ := l.Offsets("t", 0); ls != 10 {
		t.Fatalf("without cold tier log start %d", ls)
	}
	l.SetColdTier(cold)
	if ls, hwm, _ := l.Offsets("t", 0); ls != 0 || hwm != 11 {
		t.Fatalf("with cold tier: %d %d", ls, hwm)
	}
	recs := readAll(t, l, "t", 0, 3)
	if len(recs) != 8 || recs[0].Offset != 3 || string(recs[6].Value) != "cold" || string(recs[7].Value) != "hot" || recs[7].Offset != 10 {
		t.Fatalf("read across tiers: %+v", recs)
	}
	if off, ts, err := l.OffsetForTimestamp("t", 0, 105); err != nil || off != 5 || ts != 105 {
		t.Fatalf("cold timestamp lookup: %d %d %v", off, ts, err)
	}
	if off, _, err := l.OffsetForTimestamp("t", 0, 150); err != nil || off != 10 {
		t.Fatalf("hot timestamp lookup: %d %v", off, err)
	}
	cold.err = errors.New("s3 down")
	if _, err := l.Read("t", 0, 0, 100); !errors.Is(err, ErrColdUnavailable) {
		t.Fatalf("cold failure: %v", err)
	}
	if rr, err := l.Read("t", 0, 10, 100); err != nil || len(rr.Batches) != 1 {
		t.Fatalf("hot read while cold is down: %v", err)
	}
	l.SetAppendGate(func(string, int32) error { return ErrHotTierFull })
	if r := l.Append(context.Background(), []AppendRequest{{Topic: "t", Batch: oneRecord(1, "", "x")}})[0]; !errors.Is(r.Err, ErrHotTierFull) {
		t.Fatalf("gate: %+v", r)
	}
}
