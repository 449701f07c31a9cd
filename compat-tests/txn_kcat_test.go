package compat

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// TestTxnKcatReadCommitted: kcat (librdkafka 2.0.2) with -X
// isolation.level=read_committed reads only the committed records franz-go
// wrote in transactions (txn_clients_test.go's step 1); with
// read_uncommitted, every data record and never a marker.
func TestTxnKcatReadCommitted(t *testing.T) {
	eachBroker(t, func(t *testing.T, b broker) {
		t.Parallel()
		topic := topicName(t, "out")
		ctx := testCtx(t, 30*time.Second)
		cl := newClient(t, b.addr)
		if _, err := kadm.NewClient(cl).CreateTopic(ctx, txnParts, 1, nil, topic); err != nil {
			t.Fatalf("create %s: %v", topic, err)
		}
		waitTopics(t, ctx, cl, map[string]int{topic: txnParts})
		txnFranzGoProduce(t, b, topic, topicName(t, "txn"))
		committed, uncommitted := txnExpect(txnProduceBatches)
		for _, c := range []struct {
			iso  string
			want []txnRec
		}{{"read_committed", committed}, {"read_uncommitted", uncommitted}} {
			// -c N without -e: Kafka writes the last markers just after
			// EndTxn answers, and a read_committed reader at the end of a
			// partition waits for them. A leaked aborted record would be
			// among the first N.
			got := kcatTxn(t, b.addr, "-t", topic, "-o", "beginning", "-X", "isolation.level="+c.iso, "-c", fmt.Sprint(len(c.want)))
			checkTxnRecs(t, "kcat -X isolation.level="+c.iso, got, c.want)
		}
		// Starting at a marker's offset (-o -1: the last offset of each
		// partition is the last commit's marker) reads nothing, at both levels.
		for _, iso := range []string{"read_committed", "read_uncommitted"} {
			if got := kcatTxn(t, b.addr, "-t", topic, "-o", "-1", "-e", "-X", "isolation.level="+iso); len(got) != 0 {
				t.Errorf("kcat -o -1 -X isolation.level=%s (the offset of a marker): read %v, want nothing", iso, got)
			}
		}
	})
}

// TestTxnKcatLastStableOffset: an open transaction stops kcat's
// read_committed at its first offset (kcat -e ends there: librdkafka's end
// of partition is the last stable offset) while read_uncommitted reads on;
// once franz-go commits, read_committed reads everything.
func TestTxnKcatLastStableOffset(t *testing.T) {
	eachBroker(t, func(t *testing.T, b broker) {
		t.Parallel()
		topic := topicName(t, "t")
		ctx := testCtx(t, 30*time.Second)
		plain := newClient(t, b.addr, kgo.DefaultProduceTopic(topic))
		if _, err := kadm.NewClient(plain).CreateTopic(ctx, 1, 1, nil, topic); err != nil {
			t.Fatalf("create %s: %v", topic, err)
		}
		waitTopics(t, ctx, plain, map[string]int{topic: 1})
		tx := newClient(t, b.addr, kgo.TransactionalID(topicName(t, "txn")), kgo.DefaultProduceTopic(topic))
		produce := func(cl *kgo.Client, v string) {
			t.Helper()
			if err := cl.ProduceSync(ctx, &kgo.Record{Value: []byte(v)}).FirstErr(); err != nil {
				t.Fatalf("produce %s: %v", v, err)
			}
		}
		end := func(commit bool) {
			t.Helper()
			if err := tx.EndTransaction(ctx, kgo.TransactionEndTry(commit)); err != nil {
				t.Fatalf("franz-go end transaction: %v", err)
			}
		}
		if err := tx.BeginTransaction(); err != nil {
			t.Fatal(err)
		}
		produce(tx, "t0") // t0@0, commit marker@1
		end(true)
		produce(plain, "p0") // @2
		if err := tx.BeginTransaction(); err != nil {
			t.Fatal(err)
		}
		produce(tx, "open")  // @3
		produce(plain, "p1") // @4

		before := []txnRec{{0, 0, "t0"}, {0, 2, "p0"}}
		all := append(append([]txnRec(nil), before...), txnRec{0, 3, "open"}, txnRec{0, 4, "p1"})
		// Kafka writes the first transaction's marker a moment after EndTxn
		// answered: until then read_committed stops at t0. Ask again.
		var got []txnRec
		deadline := time.Now().Add(10 * time.Second)
		for {
			got = kcatTxn(t, b.addr, "-t", topic, "-o", "beginning", "-e", "-X", "isolation.level=read_committed")
			if len(got) != 1 || time.Now().After(deadline) {
				break
			}
			time.Sleep(100 * time.Millisecond)
		}
		checkTxnRecs(t, "kcat -e read_committed while a transaction is open", got, before)
		got = kcatTxn(t, b.addr, "-t", topic, "-o", "beginning", "-e", "-X", "isolation.level=read_uncommitted")
		checkTxnRecs(t, "kcat -e read_uncommitted while a transaction is open", got, all)
		end(true) // marker@5
		got = kcatTxn(t, b.addr, "-t", topic, "-o", "beginning", "-c", "4", "-X", "isolation.level=read_committed")
		checkTxnRecs(t, "kcat read_committed after the commit", got, all)
	})
}

// kcatTxn runs kcat -C -J against addr with args (under timeout 15) and
// returns the records it printed; a record without a value fails the test
// (the scenarios write none: it would be a control record surfacing).
func kcatTxn(t *testing.T, addr string, args ...string) []txnRec {
	t.Helper()
	path, err := exec.LookPath("kcat")
	if err != nil {
		t.Skip("kcat not on PATH (Debian package kcat)")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	args = append([]string{"-C", "-b", addr, "-J", "-m", "10"}, args...)
	cmd := exec.CommandContext(ctx, "timeout", append([]string{"15", path}, args...)...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("kcat %s: %v (%d lines read)\nstdout: %s\nstderr: %s", strings.Join(args, " "), err,
			strings.Count(stdout.String(), "\n"), stdout.String(), stderr.String())
	}
	var out []txnRec
	for _, line := range strings.Split(strings.TrimSpace(stdout.String()), "\n") {
		if line == "" {
			continue
		}
		var m kcatMessage
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("kcat line %q: %v", line, err)
		}
		if m.Payload == nil {
			t.Fatalf("kcat read a record without a value (a control record?): %s", line)
		}
		out = append(out, txnRec{m.Partition, m.Offset, *m.Payload})
	}
	return out
}
