package httpapi

import (
	"strings"
	"testing"
)

// TestReadCommittedOnly: both read forms show committed records only: an
// open transaction's records wait, aborted ones and markers never appear,
// and next_offset moves past them.
func TestReadCommittedOnly(t *testing.T) {
	e := newEnv(t, Config{})
	if _, err := e.log.CreateTopic("tx", 1, nil); err != nil {
		t.Fatal(err)
	}
	// Payloads are JSON strings, as the REST reads render them.
	txn := func(pid int64, seq int32, values ...string) []byte {
		quoted := make([]string, len(values))
		for i, v := range values {
			quoted[i] = `"` + v + `"`
		}
		return txnBatch(pid, seq, quoted...)
	}
	app := func(raw []byte) { e.appendRaw("tx", raw) }
	end := func(pid int64, commit bool) { e.endTxn("tx", pid, commit) }
	values := func(r readResp) []string {
		var out []string
		for _, rec := range r.Records {
			out = append(out, string(rec.Payload))
		}
		return out
	}
	app(txn(1, 0, "a1", "a2")) // 0-1
	app(txn(2, 0, "b1"))       // 2
	for _, path := range []string{"/tables/tx?offset=0&partition=0", "/tables/tx"} {
		if r := e.read(path); len(r.Records) != 0 {
			t.Fatalf("%s with both transactions open: %v", path, values(r))
		}
	}
	end(1, false) // 3: abort a
	end(2, true)  // 4: commit b
	for _, path := range []string{"/tables/tx?offset=0&partition=0", "/tables/tx"} {
		r := e.read(path)
		if got := values(r); len(got) != 1 || !strings.Contains(got[0], "b1") {
			t.Fatalf("%s after abort a, commit b: %v, want [\"b1\"]", path, got)
		}
	}
	r := e.read("/tables/tx?offset=0&partition=0")
	if r.NextOffset == nil || *r.NextOffset != 5 {
		t.Fatalf("next_offset = %v, want 5 (past the markers)", r.NextOffset)
	}
}
