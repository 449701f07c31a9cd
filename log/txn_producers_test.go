package log

import (
	"errors"
	"testing"

	"github.com/zombi-dev/zombi/log/batch"
)

func TestProducers(t *testing.T) {
	dir := t.TempDir()
	l := openTest(t, dir)
	if _, err := l.CreateTopic("p", 1, nil); err != nil {
		t.Fatal(err)
	}
	idem := func(pid int64, epoch int16, seq int32, n int) []byte {
		b := batch.NewBuilder()
		b.SetProducer(pid, epoch, seq)
		for i := 0; i < n; i++ {
			b.Add(1000, nil, []byte("v"), nil)
		}
		return append([]byte(nil), b.Bytes()...)
	}
	appendOne(t, l, "p", 0, idem(5, 1, 0, 3))     // offsets 0-2
	appendOne(t, l, "p", 0, idem(5, 1, 3, 2))     // 3-4
	appendOne(t, l, "p", 0, txnBatch(9, 0, 0, 2)) // 5-6, opens a transaction
	check := func(when string) {
		t.Helper()
		ps, err := l.Producers("p", 0)
		if err != nil {
			t.Fatal(err)
		}
		want := []ProducerInfo{
			{ProducerID: 5, ProducerEpoch: 1, LastSequence: 4, LastOffset: 4, TxnStartOffset: -1},
			{ProducerID: 9, ProducerEpoch: 0, LastSequence: 1, LastOffset: 6, TxnStartOffset: 5},
		}
		if len(ps) != len(want) || ps[0] != want[0] || ps[1] != want[1] {
			t.Fatalf("%s: %+v, want %+v", when, ps, want)
		}
	}
	check("live")
	_ = l.Close()
	l = openTest(t, dir)
	check("after reopening")
	if _, err := l.Producers("p", 3); !errors.Is(err, ErrUnknownTopic) {
		t.Fatalf("unknown partition: %v", err)
	}
}
