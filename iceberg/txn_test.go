package iceberg

import (
	"context"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/apache/iceberg-go/table"
	plog "github.com/zombi-dev/zombi/log"
	"github.com/zombi-dev/zombi/log/batch"
)

// TestMaterializerCommittedOnly: the table gets committed records only: it
// stops at an open transaction's first offset (the last stable offset),
// never holds an aborted transaction's records or a marker, and takes a
// transaction's records once it commits.
func TestMaterializerCommittedOnly(t *testing.T) {
	l := openLog(t)
	if _, err := l.CreateTopic("tx", 1, map[string]string{"zombi.iceberg.enable": "true", "zombi.iceberg.commit.interval.ms": "50"}); err != nil {
		t.Fatal(err)
	}
	txn := func(pid int64, seq int32, n int) {
		t.Helper()
		b := batch.NewBuilder()
		b.SetProducer(pid, 0, seq)
		for i := 0; i < n; i++ {
			b.Add(time.Now().UnixMilli(), nil, []byte("t"), nil)
		}
		raw := append([]byte(nil), b.Bytes()...)
		batch.SetTransactional(raw)
		if res := l.Append(context.Background(), []plog.AppendRequest{{Topic: "tx", Batch: raw}}); res[0].Err != nil {
			t.Fatal(res[0].Err)
		}
	}
	end := func(pid int64, commit bool) {
		t.Helper()
		if err := l.EndTxn(context.Background(), plog.EndTxnRequest{ProducerID: pid, Commit: commit, Partitions: []plog.TopicPartition{{Topic: "tx"}}}); err != nil {
			t.Fatal(err)
		}
	}
	produce(t, l, "tx", 0, 5, 5) // 0-4
	txn(1, 0, 3)                 // 5-7, aborted below
	end(1, false)                // 8
	txn(2, 0, 2)                 // 9-10, open
	produce(t, l, "tx", 0, 2, 2) // 11-12

	w, err := OpenWarehouse(filepath.Join(t.TempDir(), "wh"), nil)
	if err != nil {
		t.Fatal(err)
	}
	m := Start(l, Config{Warehouse: w, SpillDir: t.TempDir(), Poll: 20 * time.Millisecond})
	defer m.Close()
	offsets := func() []int64 {
		tb, err := Load(context.Background(), w.Storage("zombi", "tx"), table.Identifier{"zombi", "tx"})
		if err != nil {
			return nil
		}
		var out []int64
		for k := range scanRows(t, tb) {
			out = append(out, k[1])
		}
		slices.Sort(out)
		return out
	}
	waitFor := func(what string, committed int64, want []int64) {
		t.Helper()
		deadline := time.Now().Add(20 * time.Second)
		for {
			st, err := m.Status(context.Background(), "tx")
			if err == nil && len(st.Partitions) == 1 && st.Partitions[0].Committed == committed {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: not there after 20 s: %+v %v", what, st, err)
			}
			time.Sleep(20 * time.Millisecond)
		}
		if got := offsets(); !slices.Equal(got, want) {
			t.Fatalf("%s: table offsets %v, want %v", what, got, want)
		}
	}
	// Up to the open transaction: past the aborted one and its marker.
	waitFor("open transaction", 9, []int64{0, 1, 2, 3, 4})
	end(2, true) // 13
	waitFor("committed", 14, []int64{0, 1, 2, 3, 4, 9, 10, 11, 12})
	if v, err := m.Verify(context.Background(), "tx"); err != nil || !v.OK {
		t.Fatalf("verify: %+v %v", v, err)
	}
}
