package meta_test

import (
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"

	"github.com/zombi-dev/zombi/cluster/meta"
	"github.com/zombi-dev/zombi/cluster/meta/metatest"
	"github.com/zombi-dev/zombi/internal/etcdtest"
)

func etcdClient(t *testing.T, e *etcdtest.Etcd) *clientv3.Client {
	t.Helper()
	cli, err := clientv3.New(clientv3.Config{
		Endpoints:   []string{e.Endpoint},
		DialTimeout: 2 * time.Second,
		Logger:      zap.NewNop(),
	})
	if err != nil {
		t.Fatalf("etcd client: %v", err)
	}
	t.Cleanup(func() { _ = cli.Close() })
	return cli
}

// TestEtcdStore runs the conformance suite on the etcd store: one real
// etcd, a fresh key prefix for each case.
func TestEtcdStore(t *testing.T) {
	e := etcdtest.Start(t)
	cli := etcdClient(t, e)
	var n atomic.Int64
	metatest.Run(t, func(t *testing.T) meta.Store {
		return meta.NewEtcdStore(cli, fmt.Sprintf("/case%d/", n.Add(1)))
	})
}
