package cluster

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/zombi-dev/zombi/internal/etcdtest"
)

// TestMirrorDirty: a tracking mirror reports all after its first list,
// then the keys changed since (a deleted key is not reported), each once.
func TestMirrorDirty(t *testing.T) {
	e := etcdtest.Start(t)
	cfg := testConfig(e, "zombi", 1)
	cli := connect(t, cfg)
	pfx := cfg.Prefix() + partitionsPrefix
	putJSON(t, cli, pfx+"a/0", 1)
	m := newTrackingMirror(cli, pfx, slog.Default())
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go m.run(ctx)
	eventually(t, 5*time.Second, "loaded", m.isLoaded)
	if _, all := m.takeDirty(); !all {
		t.Fatal("first takeDirty: want all after the list")
	}
	putJSON(t, cli, pfx+"a/1", 1)
	putJSON(t, cli, pfx+"a/2", 1)
	dctx, dcancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer dcancel()
	if _, err := cli.Delete(dctx, pfx+"a/2"); err != nil {
		t.Fatal(err)
	}
	putJSON(t, cli, pfx+"a/3", 1) // the last change: seen means the others are
	eventually(t, 5*time.Second, "a/3 mirrored", func() bool {
		kvs, _ := m.snapshot()
		return len(kvs) == 3
	})
	kvs, all := m.takeDirty()
	var keys []string
	for _, kv := range kvs {
		keys = append(keys, string(kv.Key))
	}
	if all || len(keys) != 2 || keys[0] != pfx+"a/1" || keys[1] != pfx+"a/3" {
		t.Fatalf("takeDirty = %v, all %v; want [a/1 a/3], false", keys, all)
	}
	if kvs, all := m.takeDirty(); len(kvs) != 0 || all {
		t.Fatalf("second takeDirty = %d keys, all %v; want none", len(kvs), all)
	}
}
