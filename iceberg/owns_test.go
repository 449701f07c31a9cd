package iceberg

import (
	"context"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"
)

// statusOf is m's status of topic (the test fails on an error).
func statusOf(t *testing.T, m *Materializer, topic string) Status {
	t.Helper()
	st, err := m.Status(context.Background(), topic)
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// TestMaterializerOwns: two nodes' materializers over the same records
// and warehouse (a cluster's replicas): only the owner commits; when
// ownership moves, the other resumes from the table, and every record is
// in it once.
func TestMaterializerOwns(t *testing.T) {
	l := openLog(t)
	if _, err := l.CreateTopic("owned", 2, map[string]string{"zombi.iceberg.enable": "true", "zombi.iceberg.commit.interval.ms": "50"}); err != nil {
		t.Fatal(err)
	}
	produce(t, l, "owned", 0, 40, 5)
	produce(t, l, "owned", 1, 30, 5)
	w, err := OpenWarehouse(filepath.Join(t.TempDir(), "wh"), nil)
	if err != nil {
		t.Fatal(err)
	}
	var owner atomic.Int32 // 1 or 2
	owner.Store(1)
	start := func(id int32) *Materializer {
		m := Start(l, Config{Warehouse: w, SpillDir: t.TempDir(), Poll: 20 * time.Millisecond,
			Owns: func(topic string) bool { return topic == "owned" && owner.Load() == id }})
		t.Cleanup(m.Close)
		return m
	}
	m1, m2 := start(1), start(2)
	st := waitCaughtUp(t, m1, "owned")
	if st.Records != 70 {
		t.Fatalf("node 1: %d records, want 70", st.Records)
	}
	time.Sleep(200 * time.Millisecond) // node 2 polls ten times meanwhile
	if st2 := statusOf(t, m2, "owned"); st2.Commits != 0 || st2.Enabled {
		t.Fatalf("node 2, not the owner: %d commits, enabled %v; want none", st2.Commits, st2.Enabled)
	}

	owner.Store(2)
	// A commit node 1 began before the switch may still finish (ownership
	// is checked before each step; the table's own versions order the
	// writers): count from once node 1 is quiet.
	commits1 := statusOf(t, m1, "owned").Commits
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); {
		time.Sleep(300 * time.Millisecond)
		c := statusOf(t, m1, "owned").Commits
		if c == commits1 {
			break
		}
		commits1 = c
	}
	produce(t, l, "owned", 0, 25, 5)
	produce(t, l, "owned", 1, 5, 5)
	st = waitCaughtUp(t, m2, "owned")
	if st.Records != 100 || st.Commits == 0 {
		t.Fatalf("node 2, the owner now: %d records, %d commits; want 100 and some", st.Records, st.Commits)
	}
	if c := statusOf(t, m1, "owned").Commits; c != commits1 {
		t.Fatalf("node 1 committed %d times after it stopped owning the topic", c-commits1)
	}
	checkRows(t, w, "owned", l, 2)
}
