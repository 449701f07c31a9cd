package kafka

import (
	"context"
	"errors"
	"sync"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// TestClusterProducerIDsUniqueOverNodes: in cluster mode every node takes
// its producer ids in blocks from one shared counter (etcd's pid/next), so
// two nodes never hand out the same id, through InitProducerId or the
// transaction coordinator; a failed block is an error, not a reused id.
func TestClusterProducerIDsUniqueOverNodes(t *testing.T) {
	var mu sync.Mutex
	next, blocks := int64(0), 0
	fail := false
	source := func(ctx context.Context) (int64, int64, error) {
		mu.Lock()
		defer mu.Unlock()
		if fail {
			return 0, 0, errors.New("etcd unavailable")
		}
		first := next
		next += 7 // small blocks: many refills
		blocks++
		return first, next - 1, nil
	}
	cfg := testConfig()
	cfg.ProducerIDBlock = source
	nodes := []*testEnv{startServer(t, cfg), startServer(t, cfg)}

	seen := map[int64]bool{}
	var seenMu sync.Mutex
	var wg sync.WaitGroup
	for _, e := range nodes {
		for g := 0; g < 4; g++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := 0; i < 25; i++ {
					id, err := e.s.newProducerID()
					if err != nil {
						t.Error(err)
						return
					}
					seenMu.Lock()
					if seen[id] {
						t.Errorf("producer id %d handed out twice", id)
					}
					seen[id] = true
					seenMu.Unlock()
				}
			}()
		}
	}
	wg.Wait()
	if len(seen) != 200 || blocks < 200/7 {
		t.Fatalf("%d ids from %d blocks", len(seen), blocks)
	}
	// Each node uses a block whole before it takes another: only the
	// unused tails of the two blocks in hand are missing.
	missing := 0
	for id := int64(0); id < next; id++ {
		if !seen[id] {
			missing++
		}
	}
	if missing > 2*6 {
		t.Fatalf("%d ids below %d never handed out: blocks are not used whole", missing, next)
	}

	// InitProducerId on the wire draws from the same blocks.
	c := nodes[1].dial(t)
	resp := c.do(&kmsg.InitProducerIDRequest{TransactionTimeoutMillis: -1, ProducerID: -1, ProducerEpoch: -1}, 4).(*kmsg.InitProducerIDResponse)
	if resp.ErrorCode != 0 || seen[resp.ProducerID] || resp.ProducerID < 0 || resp.ProducerID >= next {
		t.Fatalf("InitProducerId: code %d id %d (next block starts at %d)", resp.ErrorCode, resp.ProducerID, next)
	}

	// The store down with the block used up: an error, never a guessed id.
	mu.Lock()
	fail = true
	mu.Unlock()
	var failed bool
	for i := 0; i < 8; i++ {
		resp := c.do(&kmsg.InitProducerIDRequest{TransactionTimeoutMillis: -1, ProducerID: -1, ProducerEpoch: -1}, 4).(*kmsg.InitProducerIDResponse)
		if resp.ErrorCode != 0 {
			if err := kerr.ErrorForCode(resp.ErrorCode); !kerr.IsRetriable(err) {
				t.Fatalf("InitProducerId without a block: %v, want a retriable error", err)
			}
			failed = true
			break
		}
	}
	if !failed {
		t.Fatal("InitProducerId kept answering with the block source down past a block")
	}
}
