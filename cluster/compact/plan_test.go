package compact

import (
	"slices"
	"testing"

	plog "github.com/zombi-dev/zombi/log"
	"github.com/zombi-dev/zombi/log/batch"
)

// testLog builds a partition's batches at consecutive offsets.
type testLog struct{ bs []plog.Batch }

func (l *testLog) next() int64 {
	if len(l.bs) == 0 {
		return 0
	}
	return l.bs[len(l.bs)-1].LastOffset + 1
}

func (l *testLog) add(raw []byte) int64 {
	base := l.next()
	batch.SetBaseOffset(raw, base)
	h, err := batch.Validate(raw)
	if err != nil {
		panic(err)
	}
	l.bs = append(l.bs, plog.Batch{BaseOffset: base, LastOffset: h.LastOffset(), Raw: raw})
	return base
}

// data adds a batch of records key=value ("" value: a tombstone); pid >= 0
// makes it transactional.
func (l *testLog) data(pid int64, kv ...string) int64 {
	b := batch.NewBuilder()
	if pid >= 0 {
		b.SetProducer(pid, 0, 0)
	}
	for i := 0; i+1 < len(kv); i += 2 {
		var v []byte
		if kv[i+1] != "" {
			v = []byte(kv[i+1])
		}
		b.Add(1, []byte(kv[i]), v, nil)
	}
	raw := append([]byte(nil), b.Bytes()...)
	if pid >= 0 {
		batch.SetTransactional(raw)
	}
	return l.add(raw)
}

func (l *testLog) marker(pid int64, commit bool) int64 {
	return l.add(batch.Marker(pid, 0, commit, 0, 1))
}

func TestPlanKeepsLatestPerKey(t *testing.T) {
	var l testLog
	a1 := l.data(-1, "a", "1", "b", "1") // a and b superseded later: goes
	b1 := l.data(-1, "c", "1", "a", "2") // c is never superseded: stays
	l.data(-1, "b", "2")                 // latest b
	t1 := l.data(-1, "a", "")            // a tombstone, superseded by a=3: goes
	l.data(-1, "a", "3")                 // the last batch: stays
	p, err := Make(l.bs, l.next(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if want := []int64{a1, t1}; !slices.Equal(p.Delete, want) {
		t.Fatalf("delete %v, want %v (batch at %d keeps c)", p.Delete, want, b1)
	}
	if p.DeletableBytes <= 0 || p.DeletableBytes >= p.TotalBytes || p.DirtyRatio() <= 0 {
		t.Fatalf("bytes %d of %d", p.DeletableBytes, p.TotalBytes)
	}
}

func TestPlanStopsAtCleanableEnd(t *testing.T) {
	var l testLog
	first := l.data(-1, "a", "1")
	second := l.data(-1, "a", "2")
	l.data(-1, "a", "3")
	// Applied (or the HWM) only past the first batch: only it may go.
	p, _ := Make(l.bs, second, nil)
	if !slices.Equal(p.Delete, []int64{first}) {
		t.Fatalf("delete %v, want [%d]", p.Delete, first)
	}
	p, _ = Make(l.bs, first, nil)
	if len(p.Delete) != 0 {
		t.Fatalf("nothing cleanable, deleted %v", p.Delete)
	}
	// A tombstone that is the newest record of its key stays.
	var m testLog
	m.data(-1, "a", "1")
	tomb := m.data(-1, "a", "")
	m.data(-1, "z", "1")
	p, _ = Make(m.bs, m.next(), nil)
	if slices.Contains(p.Delete, tomb) || len(p.Delete) != 1 {
		t.Fatalf("delete %v: the latest tombstone must stay, the record it deletes go", p.Delete)
	}
}

func TestPlanTransactions(t *testing.T) {
	var l testLog
	old := l.data(-1, "g", "1")
	ab := l.data(7, "g", "2") // aborted: goes, and supersedes nothing
	abm := l.marker(7, false) // its marker goes once the batch does
	cm := l.data(8, "h", "1") // committed, later superseded
	cmm := l.marker(8, true)
	l.data(-1, "h", "2")
	op := l.data(9, "g", "3") // open: no marker
	l.data(-1, "z", "1")
	p, err := Make(l.bs, l.next(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if want := []int64{ab, abm, cm, cmm}; !slices.Equal(p.Delete, want) {
		t.Fatalf("delete %v, want %v (old g=1 at %d stays: the aborted g=2 and the open g=3 do not supersede it; open at %d stays)", p.Delete, want, old, op)
	}
	// A producer with pending offsets keeps its batches and markers.
	p, _ = Make(l.bs, l.next(), map[int64]bool{7: true})
	if slices.Contains(p.Delete, ab) || slices.Contains(p.Delete, abm) {
		t.Fatalf("delete %v: producer 7 has pending offsets", p.Delete)
	}
}

func TestPlanHashCollisionKeeps(t *testing.T) {
	var l testLog
	first := l.data(-1, "a", "1")
	l.data(-1, "a", "2")
	l.data(-1, "z", "1")
	// Two keys on one hash cannot be forged through Make with FNV-1a:
	// the rule is checked on the key state it builds.
	ks := map[uint64]*keyState{hashKey([]byte("a")): {last: 99, key: []byte("a"), collided: true}}
	bi := &batchInfo{keys: []uint64{hashKey([]byte("a"))}}
	if superseded(bi, l.bs[0].Raw, ks) {
		t.Fatal("a batch holding a collided hash was planned for deletion")
	}
	p, _ := Make(l.bs, l.next(), nil)
	if !slices.Equal(p.Delete, []int64{first}) {
		t.Fatalf("delete %v, want [%d]", p.Delete, first)
	}
}

func TestPlanRefusesCorruptBatch(t *testing.T) {
	var l testLog
	l.data(-1, "a", "1")
	bad := slices.Clone(l.bs[0].Raw)
	bad = bad[:len(bad)-3]
	_, err := Make([]plog.Batch{{BaseOffset: 0, Raw: bad}}, 10, nil)
	if err == nil {
		t.Fatal("a truncated batch planned without error")
	}
}
