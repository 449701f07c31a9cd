package compat

import (
	"strings"
	"sync"
	"testing"

	"github.com/zombi-dev/zombi/internal/clustertest"
)

// TestFranzGoKgoSuiteCluster is franz-go's pkg/kgo suite against three
// Zombi nodes on one etcd (issue 19, point 9): KGO_TEST_RF=3, the same
// allow-list as the single node. The suite's clients get every node as a
// seed; topics are created with RF 3, groups and transactions go to the
// coordinators of the replicated internal partitions.
func TestFranzGoKgoSuiteCluster(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: franz-go's suite against three nodes takes minutes")
	}
	runKgoSuite(t, 3, func(string) (string, <-chan struct{}, func() error) {
		c := clustertest.Start(t, clustertest.Options{Nodes: 3})
		var (
			once sync.Once
			done = make(chan struct{})
			err  error
		)
		for _, id := range c.IDs() {
			p := c.Node(id)
			go func() {
				select {
				case <-p.Done():
					once.Do(func() { err = p.Wait(); close(done) })
				case <-t.Context().Done():
				}
			}()
		}
		return strings.Join(c.Seeds(), ","), done, func() error { return err }
	})
}
