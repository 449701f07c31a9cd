package metatest

import (
	"errors"
	"maps"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/zombi-dev/zombi/auth"
	"github.com/zombi-dev/zombi/cluster/meta"
)

func state(leader int32, replicas ...int32) meta.PartitionState {
	return meta.PartitionState{Replicas: replicas, ISR: slices.Clone(replicas), Leader: leader}
}

func loadTopics(t *testing.T, s meta.Store) (meta.Topics, int64) {
	t.Helper()
	ts, rev, err := meta.LoadTopics(ctx(t), s)
	if err != nil {
		t.Fatalf("LoadTopics: %v", err)
	}
	return ts, rev
}

func testTopicsCreateLoad(t *testing.T, s meta.Store) {
	rec := meta.TopicRecord{Name: "orders", UUID: [16]byte{1, 2, 3}, Partitions: 3, Configs: map[string]string{"retention.ms": "1000"}, CreatedMs: 42}
	parts := []meta.PartitionState{state(1, 1, 2), state(2, 2, 3), state(3, 3, 1)}
	if err := meta.CreateTopic(ctx(t), s, rec, parts); err != nil {
		t.Fatalf("CreateTopic: %v", err)
	}
	// A second create of the name fails and changes nothing.
	other := rec
	other.Partitions = 1
	err := meta.CreateTopic(ctx(t), s, other, []meta.PartitionState{state(9, 9)})
	errorIs(t, "second CreateTopic", err, meta.ErrExists)
	// Bad input is refused before the store.
	for name, c := range map[string]struct {
		rec   meta.TopicRecord
		parts []meta.PartitionState
	}{
		"count mismatch": {meta.TopicRecord{Name: "x", Partitions: 2}, parts[:1]},
		"no partitions":  {meta.TopicRecord{Name: "x"}, nil},
		"slash in name":  {meta.TopicRecord{Name: "a/0", Partitions: 1}, parts[:1]},
		"empty name":     {meta.TopicRecord{Partitions: 1}, parts[:1]},
	} {
		if err := meta.CreateTopic(ctx(t), s, c.rec, c.parts); err == nil {
			t.Fatalf("CreateTopic with %s: no error", name)
		}
	}
	// A topic whose name is a prefix of another's keeps its partitions apart.
	if err := meta.CreateTopic(ctx(t), s, meta.TopicRecord{Name: "order", Partitions: 1}, []meta.PartitionState{state(5, 5)}); err != nil {
		t.Fatal(err)
	}
	ts, rev := loadTopics(t, s)
	if len(ts) != 2 {
		t.Fatalf("LoadTopics: %d topics, want 2", len(ts))
	}
	got := ts["orders"]
	if got.Version == 0 || got.Version > rev || got.Record.Name != "orders" || got.Record.UUID != rec.UUID || got.Record.CreatedMs != 42 || !maps.Equal(got.Record.Configs, rec.Configs) {
		t.Fatalf("orders read back as %+v (load revision %d)", got, rev)
	}
	if len(got.Partitions) != 3 {
		t.Fatalf("orders: %d partitions, want 3", len(got.Partitions))
	}
	for p, want := range parts {
		gp := got.Partitions[p]
		if gp.Version != got.Version || gp.State.Leader != want.Leader || !slices.Equal(gp.State.Replicas, want.Replicas) || !slices.Equal(gp.State.ISR, want.ISR) {
			t.Fatalf("orders-%d = %+v, want %+v at the topic's version %d", p, gp, want, got.Version)
		}
	}
	if o := ts["order"]; len(o.Partitions) != 1 || o.Partitions[0].State.Leader != 5 {
		t.Fatalf("order read back as %+v", o)
	}
}

func testTopicsUpdatePartition(t *testing.T, s meta.Store) {
	if err := meta.CreateTopic(ctx(t), s, meta.TopicRecord{Name: "t", Partitions: 2}, []meta.PartitionState{state(1, 1, 2, 3), state(2, 2, 3, 1)}); err != nil {
		t.Fatal(err)
	}
	ts, _ := loadTopics(t, s)
	p0 := ts["t"].Partitions[0]
	// The leader shrinks the ISR.
	st := p0.State
	st.ISR = []int32{1, 2}
	st.PartitionEpoch++
	v, err := meta.UpdatePartition(ctx(t), s, "t", 0, p0.Version, st)
	if err != nil {
		t.Fatalf("UpdatePartition: %v", err)
	}
	if v <= p0.Version {
		t.Fatalf("new version %d not after %d", v, p0.Version)
	}
	// A stale controller's change on the old version is refused.
	stale := p0.State
	stale.Leader, stale.LeaderEpoch = 3, 1
	_, err = meta.UpdatePartition(ctx(t), s, "t", 0, p0.Version, stale)
	errorIs(t, "UpdatePartition on a stale version", err, meta.ErrConflict)
	ts, _ = loadTopics(t, s)
	got := ts["t"].Partitions[0]
	if got.Version != v || got.State.Leader != 1 || !slices.Equal(got.State.ISR, []int32{1, 2}) || got.State.PartitionEpoch != 1 {
		t.Fatalf("after update: %+v (version %d), want ISR [1 2], leader 1, version %d", got.State, got.Version, v)
	}
	if p1 := ts["t"].Partitions[1]; p1.State.Leader != 2 || p1.Version != ts["t"].Version {
		t.Fatalf("partition 1 changed: %+v", p1)
	}
	if _, err := meta.UpdatePartition(ctx(t), s, "t", 0, 0, st); err == nil {
		t.Fatal("UpdatePartition at version 0: no error")
	}
}

func testTopicsConfigsAddDelete(t *testing.T, s meta.Store) {
	if err := meta.CreateTopic(ctx(t), s, meta.TopicRecord{Name: "c", Partitions: 1}, []meta.PartitionState{state(1, 1)}); err != nil {
		t.Fatal(err)
	}
	ts, _ := loadTopics(t, s)
	v0 := ts["c"].Version
	v1, err := meta.SetTopicConfigs(ctx(t), s, "c", v0, map[string]string{"min.insync.replicas": "2"})
	if err != nil {
		t.Fatalf("SetTopicConfigs: %v", err)
	}
	_, err = meta.SetTopicConfigs(ctx(t), s, "c", v0, map[string]string{"min.insync.replicas": "3"})
	errorIs(t, "SetTopicConfigs on a stale version", err, meta.ErrConflict)
	v2, err := meta.AddPartitions(ctx(t), s, "c", v1, []meta.PartitionState{state(2, 2), state(3, 3)})
	if err != nil {
		t.Fatalf("AddPartitions: %v", err)
	}
	_, err = meta.AddPartitions(ctx(t), s, "c", v1, []meta.PartitionState{state(4, 4)})
	errorIs(t, "AddPartitions on a stale version", err, meta.ErrConflict)
	ts, _ = loadTopics(t, s)
	c := ts["c"]
	if c.Version != v2 || c.Record.Partitions != 3 || len(c.Partitions) != 3 || c.Record.Configs["min.insync.replicas"] != "2" {
		t.Fatalf("after configs and add: %+v", c)
	}
	if c.Partitions[0].State.Leader != 1 || c.Partitions[1].State.Leader != 2 || c.Partitions[2].State.Leader != 3 || c.Partitions[2].Version != v2 {
		t.Fatalf("partitions after add: %+v", c.Partitions)
	}
	err = meta.DeleteTopic(ctx(t), s, "c", v1)
	errorIs(t, "DeleteTopic on a stale version", err, meta.ErrConflict)
	if err := meta.DeleteTopic(ctx(t), s, "c", v2); err != nil {
		t.Fatalf("DeleteTopic: %v", err)
	}
	ts, _ = loadTopics(t, s)
	if len(ts) != 0 {
		t.Fatalf("after delete: %v", ts)
	}
	left, _, err := s.List(ctx(t), meta.PartitionsPrefix)
	if err != nil || len(left) != 0 {
		t.Fatalf("partition keys left after delete: %q %v", keys(left), err)
	}
	err = meta.DeleteTopic(ctx(t), s, "c", v2)
	errorIs(t, "DeleteTopic of a deleted topic", err, meta.ErrConflict)
	// The name can be created again.
	if err := meta.CreateTopic(ctx(t), s, meta.TopicRecord{Name: "c", Partitions: 1}, []meta.PartitionState{state(1, 1)}); err != nil {
		t.Fatalf("re-create after delete: %v", err)
	}
}

// testTopicsCorruptRecord: a record that is not JSON is an error naming
// its key, not a topic with zero values; bad arguments change nothing.
func testTopicsCorrupt(t *testing.T, s meta.Store) {
	if err := meta.CreateTopic(ctx(t), s, meta.TopicRecord{Name: "good", Partitions: 1}, []meta.PartitionState{state(1, 1)}); err != nil {
		t.Fatal(err)
	}
	ts, _ := loadTopics(t, s)
	v := ts["good"].Partitions[0].Version
	if _, err := meta.UpdatePartition(ctx(t), s, "good", -1, v, state(2, 2)); err == nil {
		t.Fatal("UpdatePartition of partition -1: no error")
	}
	if _, err := meta.UpdatePartition(ctx(t), s, "go/od", 0, v, state(2, 2)); err == nil {
		t.Fatal("UpdatePartition of topic go/od: no error")
	}
	put(t, s, meta.PartitionKey("good", 0), "{not json")
	if _, _, err := meta.LoadTopics(ctx(t), s); err == nil || !strings.Contains(err.Error(), meta.PartitionKey("good", 0)) {
		t.Fatalf("LoadTopics over a corrupt partition: %v, want an error naming its key", err)
	}
	put(t, s, meta.TopicKey("bad"), "[1,2]")
	if _, _, err := meta.LoadTopics(ctx(t), s); err == nil || !strings.Contains(err.Error(), meta.TopicKey("bad")) {
		t.Fatalf("LoadTopics over a corrupt topic: %v, want an error naming its key", err)
	}
}

// testTopicsManyPartitions: topics beyond one etcd Txn (128 ops) are
// created, grown and deleted whole.
func testTopicsManyPartitions(t *testing.T, s meta.Store) {
	parts := make([]meta.PartitionState, 300)
	for p := range parts {
		parts[p] = state(int32(p%3+1), int32(p%3+1))
	}
	if err := meta.CreateTopic(ctx(t), s, meta.TopicRecord{Name: "big", Partitions: 300}, parts); err != nil {
		t.Fatalf("CreateTopic with 300 partitions: %v", err)
	}
	err := meta.CreateTopic(ctx(t), s, meta.TopicRecord{Name: "big", Partitions: 300}, parts)
	errorIs(t, "second CreateTopic", err, meta.ErrExists)
	ts, _ := loadTopics(t, s)
	big := ts["big"]
	if big.Record.Partitions != 300 || len(big.Partitions) != 300 {
		t.Fatalf("big: %d partitions (%d loaded), want 300", big.Record.Partitions, len(big.Partitions))
	}
	for p, bp := range big.Partitions {
		if bp.Version == 0 || bp.State.Leader != int32(p%3+1) {
			t.Fatalf("big-%d = %+v", p, bp)
		}
	}
	v, err := meta.AddPartitions(ctx(t), s, "big", big.Version, parts[:200])
	if err != nil {
		t.Fatalf("AddPartitions of 200: %v", err)
	}
	ts, _ = loadTopics(t, s)
	if big = ts["big"]; big.Version != v || len(big.Partitions) != 500 || big.Partitions[499].Version == 0 || big.Partitions[499].State.Leader != 199%3+1 {
		t.Fatalf("after adding 200: %d partitions at %d (want 500 at %d)", len(big.Partitions), big.Version, v)
	}
	if err := meta.DeleteTopic(ctx(t), s, "big", v); err != nil {
		t.Fatalf("DeleteTopic: %v", err)
	}
	left, _, err := s.List(ctx(t), meta.PartitionsPrefix)
	if err != nil || len(left) != 0 {
		t.Fatalf("%d partition keys left after delete (%v)", len(left), err)
	}
}

func testProducerIDs(t *testing.T, s meta.Store) {
	first, last, err := meta.AllocProducerIDs(ctx(t), s)
	if err != nil {
		t.Fatal(err)
	}
	if first != 0 || last != meta.ProducerIDBlock-1 {
		t.Fatalf("first block [%d, %d], want [0, %d]", first, last, meta.ProducerIDBlock-1)
	}
	first2, last2, err := meta.AllocProducerIDs(ctx(t), s)
	if err != nil {
		t.Fatal(err)
	}
	if first2 != last+1 || last2 != first2+meta.ProducerIDBlock-1 {
		t.Fatalf("second block [%d, %d] after [%d, %d]", first2, last2, first, last)
	}
	// A corrupt or exhausted counter is an error, not a reuse, and stays.
	for _, bad := range []string{"not a number", "-5", "9223372036854775000"} {
		put(t, s, meta.ProducerIDKey, bad)
		if f, l, err := meta.AllocProducerIDs(ctx(t), s); err == nil {
			t.Fatalf("AllocProducerIDs over pid/next=%q: [%d, %d], no error", bad, f, l)
		}
		wantValue(t, s, meta.ProducerIDKey, bad)
	}
}

func testProducerIDsConcurrent(t *testing.T, s meta.Store) {
	const workers, each = 6, 5
	type block struct{ first, last int64 }
	var mu sync.Mutex
	var blocks []block
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range each {
				f, l, err := meta.AllocProducerIDs(ctx(t), s)
				if err != nil {
					errs <- err
					return
				}
				mu.Lock()
				blocks = append(blocks, block{f, l})
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	slices.SortFunc(blocks, func(a, b block) int { return int(a.first - b.first) })
	if len(blocks) != workers*each {
		t.Fatalf("%d blocks, want %d", len(blocks), workers*each)
	}
	for i, b := range blocks {
		// Sorted, contiguous and disjoint: no id handed out twice.
		if b.first != int64(i)*meta.ProducerIDBlock || b.last != b.first+meta.ProducerIDBlock-1 {
			t.Fatalf("block %d is [%d, %d]: blocks overlap or leave gaps: %v", i, b.first, b.last, blocks)
		}
	}
}

// testAuthService: auth's own service keeps its users in AuthStore(s),
// under x/, and a second service on the same store sees them.
func testAuthService(t *testing.T, s meta.Store) {
	st := meta.AuthStore(s)
	svc, err := auth.Open(st, auth.Config{})
	if err != nil {
		t.Fatalf("auth.Open on an empty store: %v", err)
	}
	if err := svc.SetPassword("alice", "secret-1"); err != nil {
		t.Fatalf("SetPassword: %v", err)
	}
	if err := svc.SetPassword("bob", "secret-2"); err != nil {
		t.Fatalf("SetPassword: %v", err)
	}
	raw, _, err := s.List(ctx(t), meta.OtherPrefix)
	if err != nil {
		t.Fatal(err)
	}
	for _, kv := range raw {
		if !strings.HasPrefix(kv.Key, meta.OtherPrefix+"auth/user/") {
			t.Fatalf("auth wrote %q, want keys under x/auth/user/", kv.Key)
		}
	}
	if len(raw) != 4 { // two users, two SCRAM mechanisms each
		t.Fatalf("%d auth keys, want 4: %q", len(raw), keys(raw))
	}
	again, err := auth.Open(st, auth.Config{})
	if err != nil {
		t.Fatalf("auth.Open on the store again: %v", err)
	}
	users := again.Users()
	if len(users) != 2 || users[0].Name != "alice" || users[1].Name != "bob" || len(users[0].Credentials) != 2 {
		t.Fatalf("a second service lists %+v, want alice and bob with two credentials each", users)
	}
	if err := again.DeleteUser("alice"); err != nil {
		t.Fatalf("DeleteUser: %v", err)
	}
	third, err := auth.Open(st, auth.Config{})
	if err != nil {
		t.Fatal(err)
	}
	if users := third.Users(); len(users) != 1 || users[0].Name != "bob" {
		t.Fatalf("after DeleteUser: %+v, want bob only", users)
	}
	err = third.DeleteUser("alice")
	if !errors.Is(err, auth.ErrNoCredential) {
		t.Fatalf("DeleteUser of a deleted user: %v", err)
	}
	if v, err := st.Get("auth/user/alice/" + auth.ScramSHA256); err != nil || v != nil {
		t.Fatalf("Get of a deleted credential: %q %v, want nil, nil", v, err)
	}
}
