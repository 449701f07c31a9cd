package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// TestTieringTransactionsEndToEnd: committed and aborted transactions of a
// franz-go transactional producer are flushed to S3 with their markers and
// aborted-transaction lists and dropped from the hot tier; a read_committed
// consumer reading from the start gets exactly the committed records, from
// S3, before and after a restart on an empty data directory. `zombi
// segments` shows the markers and the lists.
func TestTieringTransactionsEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the real binary and an S3 server")
	}
	s3 := startS3Server(t)
	env := append(s3.env("txe2e"), "ZOMBI_FLUSH_INTERVAL_SECS=1")
	p := startZombi(t, t.TempDir(), env...)
	const topic, txns, per = "txcold", 6, 5
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	adm, err := kgo.NewClient(kgo.SeedBrokers(p.KafkaAddr))
	if err != nil {
		t.Fatal(err)
	}
	defer adm.Close()
	if _, err := kadm.NewClient(adm).CreateTopic(ctx, 1, 1, nil, topic); err != nil {
		t.Fatal(err)
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(p.KafkaAddr), kgo.TransactionalID("cold-tx"), kgo.DefaultProduceTopic(topic))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	// Transaction i commits when i is even; values as readAllTxn parses them.
	for i := 0; i < txns; i++ {
		if err := cl.BeginTransaction(); err != nil {
			t.Fatal(err)
		}
		for j := 0; j < per; j++ {
			if err := cl.ProduceSync(ctx, &kgo.Record{Value: []byte(fmt.Sprintf("0-%d-%d-of-%d", i, j, per))}).FirstErr(); err != nil {
				t.Fatalf("produce %d/%d: %v", i, j, err)
			}
		}
		if err := cl.EndTransaction(ctx, kgo.TransactionEndTry(i%2 == 0)); err != nil {
			t.Fatalf("end transaction %d: %v", i, err)
		}
	}
	ends, err := kadm.NewClient(adm).ListEndOffsets(ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	end, _ := ends.Lookup(topic, 0)
	if end.Offset != txns*(per+1) {
		t.Fatalf("end offset %d, want %d (records and one marker per transaction)", end.Offset, txns*(per+1))
	}
	waitColdEnd(t, env, topic, 0, end.Offset)
	time.Sleep(300 * time.Millisecond) // hot data is dropped right after the manifest records it

	check := func(addr, stage string) {
		t.Helper()
		seen := readAllTxn(t, addr, topic, 1, true)
		for i := 0; i < txns; i++ {
			got := seen[fmt.Sprintf("0-%d", i)]
			want := 0
			if i%2 == 0 {
				want = per
			}
			if len(got) != want {
				t.Fatalf("%s: transaction %d (commit %v): %d records visible to read_committed, want %d", stage, i, i%2 == 0, len(got), want)
			}
			for j, n := range got {
				if n != 1 {
					t.Fatalf("%s: transaction %d record %d seen %d times", stage, i, j, n)
				}
			}
		}
	}
	check(p.KafkaAddr, "from S3")

	// zombi segments: the lists in ls, the markers in cat.
	aborted, markers := 0, map[string]int{}
	for _, s := range segmentsLs(t, env) {
		if s["table"] != topic {
			continue
		}
		if l, ok := s["aborted"].([]any); ok {
			aborted += len(l)
		}
		var out, errb bytes.Buffer
		if rc := segmentsCommand([]string{"cat", s["key"].(string)}, &out, &errb); rc != 0 {
			t.Fatalf("segments cat: %d %s", rc, errb.String())
		}
		for _, line := range strings.Split(strings.TrimSpace(out.String()), "\n") {
			var r struct {
				Control string `json:"control"`
			}
			if err := json.Unmarshal([]byte(line), &r); err != nil {
				t.Fatalf("segments cat: %v: %s", err, line)
			}
			if r.Control != "" {
				markers[r.Control]++
			}
		}
	}
	if aborted != txns/2 || markers["commit"] != txns/2 || markers["abort"] != txns/2 {
		t.Fatalf("segments: %d aborted transactions listed, markers %v; want %d of each", aborted, markers, txns/2)
	}

	// Empty data directory: the lists come back with the manifests.
	cl.Close()
	adm.Close()
	_ = p.Kill()
	p2 := startZombi(t, t.TempDir(), env...)
	check(p2.KafkaAddr, "after an empty-disk restart")
}
