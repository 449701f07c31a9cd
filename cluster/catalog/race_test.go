package catalog_test

import (
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/zombi-dev/zombi/internal/etcdtest"
	plog "github.com/zombi-dev/zombi/log"
)

// TestConcurrentCreate: both nodes create the same name at the same time,
// ten rounds: exactly one succeeds, the other gets ErrTopicExists, and both
// logs end with the winner's topic (one id, its partition count).
func TestConcurrentCreate(t *testing.T) {
	e := etcdtest.Start(t)
	ctx := testCtx(t, 60*time.Second)
	n1 := startNode(t, 1, newStore(t, e, "/race/"), openLog(t, t.TempDir()))
	n2 := startNode(t, 2, newStore(t, e, "/race/"), openLog(t, t.TempDir()))
	for round := range 10 {
		name := fmt.Sprintf("race-%d", round)
		var errs [2]error
		var wg sync.WaitGroup
		start := make(chan struct{})
		for i, n := range []*node{n1, n2} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				errs[i] = n.cat.CreateTopic(ctx, name, int32(i+1), 2, nil) // 1 or 2 partitions: who won shows
			}()
		}
		close(start)
		wg.Wait()
		winner := -1
		for i, err := range errs {
			switch {
			case err == nil && winner == -1:
				winner = i
			case err == nil:
				t.Fatalf("%s: both creates succeeded", name)
			case !errors.Is(err, plog.ErrTopicExists):
				t.Fatalf("%s: node %d: %v, want ErrTopicExists", name, i+1, err)
			}
		}
		if winner == -1 {
			t.Fatalf("%s: neither create succeeded: %v", name, errs)
		}
		want, _ := []*node{n1, n2}[winner].log.Topic(name)
		if want.Partitions != int32(winner+1) {
			t.Fatalf("%s: the winner's log has %d partitions, it asked %d", name, want.Partitions, winner+1)
		}
		for _, n := range []*node{n1, n2} {
			eventually(t, fmt.Sprintf("%s on node %d", name, n.id), func() string { return n.synced(name, want.UUID, want.Partitions) })
		}
	}
}
