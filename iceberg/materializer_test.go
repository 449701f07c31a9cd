package iceberg

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/iceberg-go/table"
	plog "github.com/zombi-dev/zombi/log"
	"github.com/zombi-dev/zombi/log/batch"
	"github.com/zombi-dev/zombi/log/topicconfig"
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

// offsetsOf reads a table's (partition, offset) pairs and the named string
// column, with iceberg-go's scan.
func offsetsOf(t *testing.T, w *Warehouse, name, col string) map[[2]int64]string {
	t.Helper()
	tb, err := Load(context.Background(), w.Storage("zombi", name), table.Identifier{"zombi", name})
	if err != nil {
		t.Fatal(err)
	}
	at, err := tb.Iceberg().Scan(table.WithSelectedFields("_partition", "_offset", col)).ToArrowTable(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer at.Release()
	out := map[[2]int64]string{}
	tr := array.NewTableReader(at, 0)
	defer tr.Release()
	for tr.Next() {
		r := tr.RecordBatch()
		part, off := r.Column(0).(*array.Int32), r.Column(1).(*array.Int64)
		for i := 0; i < int(r.NumRows()); i++ {
			k := [2]int64{int64(part.Value(i)), off.Value(i)}
			if _, dup := out[k]; dup {
				t.Fatalf("%s: row %v twice", name, k)
			}
			out[k] = r.Column(2).ValueStr(i)
		}
	}
	return out
}

// json mode: valid values go to the table with their typed columns,
// others to {topic}_dlq with the reason, each once, across a restart.
func TestMaterializerJSONAndDLQ(t *testing.T) {
	l := openLog(t)
	if _, err := l.CreateTopic("ev", 1, map[string]string{"zombi.iceberg.enable": "true", "zombi.iceberg.commit.interval.ms": "100",
		"zombi.iceberg.mode": "json", "zombi.iceberg.columns": "n:long"}); err != nil {
		t.Fatal(err)
	}
	put := func(vals ...string) {
		b := batch.NewBuilder()
		for _, v := range vals {
			b.Add(time.Now().UnixMilli(), nil, []byte(v), nil)
		}
		if res := l.Append(context.Background(), []plog.AppendRequest{{Topic: "ev", Batch: b.Bytes()}}); res[0].Err != nil {
			t.Fatal(res[0].Err)
		}
	}
	put(`{"n":1}`, `not json`, `{"n":2}`, `{"n":`)
	w, err := OpenWarehouse(t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	cfg := Config{Warehouse: w, SpillDir: t.TempDir(), Poll: 20 * time.Millisecond}
	m := Start(l, cfg)
	waitCaughtUp(t, m, "ev")
	m.Close()
	put(`{"n":3}`, `[1,2`)
	m = Start(l, cfg)
	defer m.Close()
	ti, _ := l.Topic("ev")
	if _, err := l.SetTopicConfigs("ev", ti.UUID, map[string]string{"zombi.iceberg.enable": "true", "zombi.iceberg.commit.interval.ms": "100",
		"zombi.iceberg.mode": "json", "zombi.iceberg.columns": "n:long,s:string"}); err != nil {
		t.Fatal(err)
	}
	// The column is added by the next cycle, with or without new records.
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		tb, err := Load(context.Background(), w.Storage("zombi", "ev"), table.Identifier{"zombi", "ev"})
		if err == nil && len(tb.Layout().Columns) == 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("column s not added within 10 s of the config change")
		}
	}
	put(`{"n":4,"s":"x"}`)
	waitCaughtUp(t, m, "ev")
	got := offsetsOf(t, w, "ev", "n")
	want := map[[2]int64]string{{0, 0}: "1", {0, 2}: "2", {0, 4}: "3", {0, 6}: "4"}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("table rows %v, want %v", got, want)
	}
	dlq := offsetsOf(t, w, "ev_dlq", "_error")
	if len(dlq) != 3 || dlq[[2]int64{0, 1}] == "" || dlq[[2]int64{0, 3}] == "" || dlq[[2]int64{0, 5}] == "" {
		t.Fatalf("dead letters %v, want offsets 1, 3 and 5 with their errors", dlq)
	}
	if s := offsetsOf(t, w, "ev", "s"); s[[2]int64{0, 6}] != "x" || s[[2]int64{0, 0}] != "(null)" {
		t.Fatalf("column s added later: %v", s)
	}
}

// A topic named {x}_dlq never takes, drops or mixes its rows into the
// dead-letter table of topic x (found by hand: it adopted it, and `zombi
// iceberg drop x_dlq` deleted x's dead letters for good).
func TestMaterializerDLQNameClash(t *testing.T) {
	l := openLog(t)
	if _, err := l.CreateTopic("ev", 1, map[string]string{"zombi.iceberg.enable": "true", "zombi.iceberg.commit.interval.ms": "100",
		"zombi.iceberg.mode": "json"}); err != nil {
		t.Fatal(err)
	}
	put := func(topic string, vals ...string) {
		b := batch.NewBuilder()
		for _, v := range vals {
			b.Add(time.Now().UnixMilli(), nil, []byte(v), nil)
		}
		if res := l.Append(context.Background(), []plog.AppendRequest{{Topic: topic, Batch: b.Bytes()}}); res[0].Err != nil {
			t.Fatal(res[0].Err)
		}
	}
	put("ev", `{"n":1}`, `not json`)
	w, err := OpenWarehouse(t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	m := Start(l, Config{Warehouse: w, SpillDir: t.TempDir(), Poll: 20 * time.Millisecond})
	defer m.Close()
	waitCaughtUp(t, m, "ev")
	if _, err := l.CreateTopic("ev_dlq", 1, map[string]string{"zombi.iceberg.enable": "true", "zombi.iceberg.commit.interval.ms": "100"}); err != nil {
		t.Fatal(err)
	}
	put("ev_dlq", "raw")
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		st, _ := m.Status(context.Background(), "ev_dlq")
		if strings.Contains(st.Error, "dead-letter table of topic ev") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("topic ev_dlq: no clear error within 10 s: %+v", st)
		}
	}
	if _, err := m.Drop(context.Background(), "ev_dlq"); !errors.Is(err, ErrTableClash) {
		t.Fatalf("drop ev_dlq: %v, want ErrTableClash", err)
	}
	put("ev", `[1,`)
	waitCaughtUp(t, m, "ev")
	if dlq := offsetsOf(t, w, "ev_dlq", "_error"); len(dlq) != 2 || dlq[[2]int64{0, 1}] == "" || dlq[[2]int64{0, 2}] == "" {
		t.Fatalf("dead letters of ev %v, want offsets 1 and 2 with their errors", dlq)
	}
}

// A header key that is not UTF-8 is stored with U+FFFD in its place
// (found by hand: DuckDB refused the whole data file, pyiceberg too).
func TestToRecordHeaderKeyUTF8(t *testing.T) {
	r := toRecord(0, &batch.Record{Headers: []batch.RecordHeader{{Key: "\xff\xfebad", Value: []byte{0xff}}, {Key: "ok", Value: nil}}})
	if r.Headers[0].Key != "\uFFFDbad" || string(r.Headers[0].Value) != "\xff" || r.Headers[1].Key != "ok" {
		t.Fatalf("headers %q", r.Headers)
	}
}

// Verify of a deleted topic's table says there is nothing to compare
// (ErrOtherTopic: the REST API answers 409, not 500 "internal error").
func TestMaterializerVerifyDeletedTopic(t *testing.T) {
	l := openLog(t)
	if _, err := l.CreateTopic("gone", 1, map[string]string{"zombi.iceberg.enable": "true", "zombi.iceberg.commit.interval.ms": "100"}); err != nil {
		t.Fatal(err)
	}
	produce(t, l, "gone", 0, 3, 3)
	w, err := OpenWarehouse(t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	m := Start(l, Config{Warehouse: w, SpillDir: t.TempDir(), Poll: 20 * time.Millisecond})
	defer m.Close()
	waitCaughtUp(t, m, "gone")
	if err := l.DeleteTopic("gone"); err != nil {
		t.Fatal(err)
	}
	if _, err := m.Verify(context.Background(), "gone"); !errors.Is(err, ErrOtherTopic) {
		t.Fatalf("verify of a deleted topic: %v, want ErrOtherTopic", err)
	}
}

// A partition with a long backlog does not hold the others back: a cycle
// cut short by the budget is followed by one that starts at the next
// partition. In the table's history partition 1 is complete before
// partition 0 is.
func TestMaterializerBudgetTakesTurns(t *testing.T) {
	l := openLog(t)
	if _, err := l.CreateTopic("busy", 2, map[string]string{"zombi.iceberg.enable": "true", "zombi.iceberg.commit.interval.ms": "100"}); err != nil {
		t.Fatal(err)
	}
	produce(t, l, "busy", 0, 600, 20)
	produce(t, l, "busy", 1, 10, 10)
	w, err := OpenWarehouse(t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	m := Start(l, Config{Warehouse: w, SpillDir: t.TempDir(), Poll: 20 * time.Millisecond, MaxCommitBytes: 2000})
	defer m.Close()
	waitCaughtUp(t, m, "busy")
	tb, err := Load(context.Background(), w.Storage("zombi", "busy"), table.Identifier{"zombi", "busy"})
	if err != nil {
		t.Fatal(err)
	}
	var history []string
	for _, s := range tb.Iceberg().Metadata().Snapshots() {
		offs, err := snapshotOffsets(&s)
		if err != nil {
			t.Fatal(err)
		}
		history = append(history, fmt.Sprint(offs))
		if offs[1] == 10 && offs[0] < 600 {
			return
		}
	}
	t.Fatalf("partition 1 waited for partition 0's backlog: %v", history)
}

// A mode change that the existing table cannot take is refused before it
// is stored; without a table, or back to the table's mode, it is not.
func TestMaterializerRefusesModeChange(t *testing.T) {
	l := openLog(t)
	json := map[string]string{"zombi.iceberg.enable": "true", "zombi.iceberg.commit.interval.ms": "100", "zombi.iceberg.mode": "json"}
	if _, err := l.CreateTopic("j", 1, json); err != nil {
		t.Fatal(err)
	}
	if _, err := l.CreateTopic("fresh", 1, nil); err != nil {
		t.Fatal(err)
	}
	produce(t, l, "j", 0, 3, 3)
	w, err := OpenWarehouse(t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	m := Start(l, Config{Warehouse: w, SpillDir: t.TempDir(), Poll: 20 * time.Millisecond})
	defer m.Close()
	l.SetConfigGuard(m.CheckConfigChange)
	waitCaughtUp(t, m, "j")
	ti, _ := l.Topic("j")
	raw := map[string]string{"zombi.iceberg.enable": "true", "zombi.iceberg.mode": "raw"}
	if _, err := l.SetTopicConfigs("j", ti.UUID, raw); !errors.Is(err, topicconfig.ErrInvalid) || !strings.Contains(err.Error(), "zombi iceberg drop j --yes") {
		t.Fatalf("mode change on a json table: %v, want an invalid config that says to drop", err)
	}
	if ti, _ = l.Topic("j"); ti.Configs["zombi.iceberg.mode"] != "json" {
		t.Fatalf("configs changed anyway: %v", ti.Configs)
	}
	if _, err := l.SetTopicConfigs("j", ti.UUID, map[string]string{"zombi.iceberg.mode": "json", "zombi.iceberg.columns": "n:long"}); err != nil {
		t.Fatalf("a change that keeps the mode: %v", err)
	}
	fi, _ := l.Topic("fresh")
	if _, err := l.SetTopicConfigs("fresh", fi.UUID, raw); err != nil {
		t.Fatalf("a topic without a table: %v", err)
	}
}

// Verify finds a table that lacks a record below its committed offset,
// and passes the table the materializer wrote.
func TestVerifyFindsMissingRecord(t *testing.T) {
	l := openLog(t)
	for _, name := range []string{"good", "holey"} {
		if _, err := l.CreateTopic(name, 1, nil); err != nil {
			t.Fatal(err)
		}
		produce(t, l, name, 0, 10, 5)
	}
	w, err := OpenWarehouse(t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	m := Start(l, Config{Warehouse: w, SpillDir: t.TempDir(), Poll: 20 * time.Millisecond})
	defer m.Close()
	ctx := context.Background()
	ti, _ := l.Topic("good")
	if _, err := l.SetTopicConfigs("good", ti.UUID, map[string]string{"zombi.iceberg.enable": "true", "zombi.iceberg.commit.interval.ms": "100"}); err != nil {
		t.Fatal(err)
	}
	waitCaughtUp(t, m, "good")
	if v, err := m.Verify(ctx, "good"); err != nil || !v.OK || v.Partitions[0].TableRows != 10 || v.Partitions[0].LogRecords != 10 {
		t.Fatalf("verify of a complete table: %+v, %v", v, err)
	}

	// A table written by hand with offset 7 missing, committed up to 10.
	hi, _ := l.Topic("holey")
	tb, err := Create(ctx, w.Storage("zombi", "holey"), table.Identifier{"zombi", "holey"}, Layout{Partitioning: PartitionDay})
	if err != nil {
		t.Fatal(err)
	}
	var recs []Record
	for o := int64(0); o < 10; o++ {
		if o != 7 {
			recs = append(recs, Record{Partition: 0, Offset: o, Timestamp: time.Now(), Value: []byte("v")})
		}
	}
	if err := tb.Append(ctx, Incarnation(hi.UUID), recs, map[int32]int64{0: 10}); err != nil {
		t.Fatal(err)
	}
	v, err := m.Verify(ctx, "holey")
	if err != nil {
		t.Fatal(err)
	}
	if v.OK || v.Partitions[0].OK || v.Partitions[0].TableDistinct != 9 || v.Partitions[0].LogRecords != 10 || len(v.Partitions[0].Problems) == 0 {
		t.Fatalf("verify of a table missing offset 7: %+v", v)
	}
}
