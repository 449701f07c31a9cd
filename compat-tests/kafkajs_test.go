package compat

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// kafkajs (Node.js, its own protocol code): admin, an idempotent producer
// with keys, headers and gzip, and a consumer group that commits. The
// records it wrote are then read back with franz-go. `make test` installs
// compat-tests/kafkajs/node_modules (scripts/ensure-deps.sh).
func TestKafkaJS(t *testing.T) {
	eachBroker(t, func(t *testing.T, b broker) {
		node, err := exec.LookPath("node")
		if err != nil {
			t.Skip("node not installed")
		}
		dir, _ := filepath.Abs("kafkajs")
		if _, err := os.Stat(filepath.Join(dir, "node_modules", "kafkajs")); err != nil {
			t.Fatalf("kafkajs is not installed: run `npm ci` in %s (make test does)", dir)
		}
		topic, group := topicName(t, "t"), topicName(t, "g")
		ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
		defer cancel()
		cmd := exec.CommandContext(ctx, node, "compat.js", b.addr, topic, group)
		cmd.Dir = dir
		out, err := cmd.Output()
		if err != nil {
			msg := ""
			if ee, ok := err.(*exec.ExitError); ok {
				msg = string(ee.Stderr)
			}
			t.Fatalf("kafkajs: %v\n%s%s", err, out, msg)
		}
		var res struct {
			Partitions int
			Acks       []struct{ P, E, B int64 }
			Got        []struct {
				P, O    int64
				K, V, H string
				TS      int64
			}
			Committed []struct{ P, O int64 }
		}
		if err := json.Unmarshal(out, &res); err != nil {
			t.Fatalf("kafkajs output: %v\n%s", err, out)
		}
		const n = 300
		if res.Partitions != 3 {
			t.Fatalf("metadata: %d partitions, want 3", res.Partitions)
		}
		for _, a := range res.Acks {
			if a.E != 0 {
				t.Fatalf("produce ack with error: %+v", res.Acks)
			}
		}

		// Every record exactly once, per-partition offsets in order, one
		// partition per key, headers and timestamps as sent.
		if len(res.Got) != n {
			t.Fatalf("consumed %d records, want %d", len(res.Got), n)
		}
		seen := map[string]bool{}
		last := map[int64]int64{}
		keyPart := map[string]int64{}
		perPart := map[int64]int64{}
		for _, r := range res.Got {
			var i int64
			if _, err := fmt.Sscanf(r.V, "v%d", &i); err != nil || seen[r.V] {
				t.Fatalf("value %q unexpected or seen twice", r.V)
			}
			seen[r.V] = true
			if r.K != fmt.Sprintf("k%d", i%7) || r.H != fmt.Sprintf("x%d", i) || r.TS != 1700000000000+i {
				t.Fatalf("record %d came back as %+v", i, r)
			}
			if prev, ok := last[r.P]; ok && r.O <= prev {
				t.Fatalf("partition %d: offset %d after %d", r.P, r.O, prev)
			}
			last[r.P] = r.O
			if p, ok := keyPart[r.K]; ok && p != r.P {
				t.Fatalf("key %s in partitions %d and %d", r.K, p, r.P)
			}
			keyPart[r.K] = r.P
			perPart[r.P]++
		}
		// The group's commits cover everything it read.
		for _, c := range res.Committed {
			if c.O != perPart[c.P] {
				t.Fatalf("committed %+v, consumed per partition %v", res.Committed, perPart)
			}
		}
		if len(res.Committed) != 3 {
			t.Fatalf("committed %+v", res.Committed)
		}

		// franz-go reads the same records.
		for _, r := range consume(t, b.addr, topic, n) {
			if len(r.Headers) != 1 || r.Headers[0].Key != "h" || keyPart[string(r.Key)] != int64(r.Partition) {
				t.Fatalf("franz-go read %+v", r)
			}
		}
	})
}
