package iceberg

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/apache/iceberg-go/table"
	plog "github.com/zombi-dev/zombi/log"
	"github.com/zombi-dev/zombi/log/batch"
)

// produce appends n records to topic/p in batches of per, with keys,
// headers and values that name their offset.
func produce(t *testing.T, l *plog.Log, topic string, p int32, n, per int) {
	t.Helper()
	for done := 0; done < n; {
		b := batch.NewBuilder()
		for i := 0; i < per && done < n; i++ {
			_, hwm, _ := l.Offsets(topic, p)
			o := hwm + int64(i)
			b.Add(time.Now().UnixMilli(), []byte(fmt.Sprintf("k%d", o)), []byte(fmt.Sprintf("v%d-%d", p, o)),
				[]batch.RecordHeader{{Key: "h", Value: []byte{0xff, byte(o)}}})
			done++
		}
		res := l.Append(context.Background(), []plog.AppendRequest{{Topic: topic, Partition: p, Batch: b.Bytes()}})
		if res[0].Err != nil {
			t.Fatal(res[0].Err)
		}
	}
}

func openLog(t *testing.T) *plog.Log {
	t.Helper()
	l, err := plog.Open(plog.Options{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

// waitCaughtUp waits until the table holds every record of the topic.
func waitCaughtUp(t *testing.T, m *Materializer, topic string) Status {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		st, err := m.Status(context.Background(), topic)
		if err == nil && st.SnapshotID != nil && st.LagRecords == 0 {
			return st
		}
		if time.Now().After(deadline) {
			t.Fatalf("not caught up after 30 s: %+v, %v", st, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// checkRows reads the table with iceberg-go and wants exactly the log's
// records: every (partition, offset) once, with its value and key.
func checkRows(t *testing.T, w *Warehouse, topic string, l *plog.Log, parts int32) {
	t.Helper()
	tb, err := Load(context.Background(), w.Storage("zombi", topic), table.Identifier{"zombi", topic})
	if err != nil {
		t.Fatal(err)
	}
	rows := scanRows(t, tb)
	want := 0
	for p := int32(0); p < parts; p++ {
		_, hwm, _ := l.Offsets(topic, p)
		for o := int64(0); o < hwm; o++ {
			got, ok := rows[[2]int64{int64(p), o}]
			if w := fmt.Sprintf("v%d-%d/k%d/1", p, o, o); !ok || got != w {
				t.Fatalf("%s/%d offset %d: got %q, want %q", topic, p, o, got, w)
			}
			want++
		}
	}
	if len(rows) != want {
		t.Fatalf("table has %d rows, log %d", len(rows), want)
	}
}

func TestMaterializerFollowsAndResumes(t *testing.T) {
	l := openLog(t)
	if _, err := l.CreateTopic("orders", 3, map[string]string{"zombi.iceberg.enable": "true", "zombi.iceberg.commit.interval.ms": "100"}); err != nil {
		t.Fatal(err)
	}
	for p := int32(0); p < 3; p++ {
		produce(t, l, "orders", p, 50+int(p)*10, 7)
	}
	w, err := OpenWarehouse(filepath.Join(t.TempDir(), "wh"), nil)
	if err != nil {
		t.Fatal(err)
	}
	cfg := Config{Warehouse: w, SpillDir: t.TempDir(), Poll: 20 * time.Millisecond}
	m := Start(l, cfg)
	st := waitCaughtUp(t, m, "orders")
	if st.Records != 180 || !st.Enabled || st.Incarnation == "" {
		t.Fatalf("status %+v", st)
	}
	checkRows(t, w, "orders", l, 3)

	// More records while it runs, then a restart from the table alone.
	produce(t, l, "orders", 1, 25, 5)
	waitCaughtUp(t, m, "orders")
	m.Close()
	produce(t, l, "orders", 2, 13, 4)
	m = Start(l, cfg)
	defer m.Close()
	st = waitCaughtUp(t, m, "orders")
	if st.Records != 218 {
		t.Fatalf("records %d, want 218", st.Records)
	}
	checkRows(t, w, "orders", l, 3)
}

func TestMaterializerBackfillsInSteps(t *testing.T) {
	l := openLog(t)
	if _, err := l.CreateTopic("old", 2, nil); err != nil {
		t.Fatal(err)
	}
	for p := int32(0); p < 2; p++ {
		produce(t, l, "old", p, 400, 50)
	}
	w, err := OpenWarehouse(t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	m := Start(l, Config{Warehouse: w, SpillDir: t.TempDir(), Poll: 20 * time.Millisecond, MaxCommitBytes: 4000})
	defer m.Close()
	time.Sleep(100 * time.Millisecond)
	if _, err := m.Status(context.Background(), "old"); err != ErrNotMaterialized {
		t.Fatalf("a topic without zombi.iceberg.enable: %v", err)
	}
	ti, _ := l.Topic("old")
	if _, err := l.SetTopicConfigs("old", ti.UUID, map[string]string{"zombi.iceberg.enable": "true", "zombi.iceberg.commit.interval.ms": "100"}); err != nil {
		t.Fatal(err)
	}
	m.Kick()
	st := waitCaughtUp(t, m, "old")
	if st.Commits < 5 {
		t.Fatalf("a budget of 4000 bytes should take several commits, took %d", st.Commits)
	}
	checkRows(t, w, "old", l, 2)
}
