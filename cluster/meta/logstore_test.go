package meta_test

import (
	"testing"

	"github.com/zombi-dev/zombi/cluster/meta"
	"github.com/zombi-dev/zombi/cluster/meta/metatest"
	plog "github.com/zombi-dev/zombi/log"
)

func openLog(t *testing.T, dir string) *plog.Log {
	t.Helper()
	l, err := plog.Open(plog.Options{Dir: dir, SyncWrites: true})
	if err != nil {
		t.Fatalf("open log: %v", err)
	}
	return l
}

// TestLogStore runs the conformance suite on the RocksDB store, a fresh
// log for each case.
func TestLogStore(t *testing.T) {
	metatest.Run(t, func(t *testing.T) meta.Store {
		l := openLog(t, t.TempDir())
		t.Cleanup(func() { _ = l.Close() })
		return meta.NewLogStore(l)
	})
}
