package cli

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// zombi consume on a transactional topic: it prints committed records only
// (as GET /tables/{t} does) and returns once past the end, even when the
// partition ends with a transaction marker, which no client ever hands out.
func TestConsumeTransactionalTopicOnKfake(t *testing.T) {
	f := startKfake(t)
	f.ok(t, "", "topic", "create", "tx", "-p", "1")
	cl, err := kgo.NewClient(kgo.SeedBrokers(f.addr), kgo.TransactionalID("cli-consume"), kgo.DefaultProduceTopic("tx"))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx := context.Background()
	for _, txn := range []struct {
		values []string
		commit kgo.TransactionEndTry
	}{{[]string{"a", "b"}, kgo.TryCommit}, {[]string{"x"}, kgo.TryAbort}} {
		if err := cl.BeginTransaction(); err != nil {
			t.Fatal(err)
		}
		for _, v := range txn.values {
			if err := cl.ProduceSync(ctx, kgo.StringRecord(v)).FirstErr(); err != nil {
				t.Fatal(err)
			}
		}
		if err := cl.EndTransaction(ctx, txn.commit); err != nil {
			t.Fatal(err)
		}
	}
	// A group kfake knows (it answers GROUP_ID_NOT_FOUND for a new one).
	var offs kadm.Offsets
	offs.Add(kadm.Offset{Topic: "tx", Partition: 0, At: 0, LeaderEpoch: -1})
	if _, err := f.admin(t).CommitOffsets(ctx, "cli-g", offs); err != nil {
		t.Fatal(err)
	}
	type result struct {
		code      int
		out, errs string
	}
	for _, args := range [][]string{{"consume", "tx", "--format", `%v,`}, {"consume", "tx", "-g", "cli-g", "--format", `%v,`}} {
		done := make(chan result, 1)
		go func() {
			var out, errb bytes.Buffer
			code := Execute(args, strings.NewReader(""), &out, &errb)
			done <- result{code, out.String(), errb.String()}
		}()
		select {
		case r := <-done:
			if r.code != 0 || r.out != "a,b," {
				t.Fatalf("zombi %s: exit %d, printed %q (want \"a,b,\"), stderr %q", strings.Join(args, " "), r.code, r.out, r.errs)
			}
		case <-time.After(20 * time.Second):
			t.Fatalf("zombi %s did not return in 20 s: stuck before the transaction markers", strings.Join(args, " "))
		}
	}
	// The group's commit covers the markers: no lag left.
	got, err := f.admin(t).FetchOffsets(ctx, "cli-g")
	if o, _ := got.Lookup("tx", 0); err != nil || o.At != 5 {
		t.Fatalf("group cli-g committed %+v (%v), want 5 (a, b, commit, x, abort)", o, err)
	}
}
