package compat

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/zombi-dev/zombi/internal/pyvenv"
)

// Transactions through real clients (issue 14 point 8), the same scenario
// for each, against Zombi and against Apache Kafka 4.4:
//
//  1. Produce: a transactional producer commits a transaction of 6 records,
//     aborts one of 4, commits one of 4 more, over the 2 partitions of the
//     topic "out" (record i of a transaction to partition i%2).
//  2. Consume-transform-produce: a read_committed member of a group reads the
//     6 records of "in" (written here, without a transaction) and, three at
//     a time, writes "x-" + value to "ctp" (2 partitions) in a transaction
//     that also carries the group's offset: in-0..2 committed (offset 3),
//     in-3..5 aborted, then a new member of the group resumes from offset 3
//     (the abort did not move it) and commits in-3..5 (offset 6). The script
//     reads the group's offset with its admin API (no require_stable) while
//     the first transaction is open (none yet), after its commit (3), once
//     the new member resumed (3) and at the end (6).
//  3. The client's own consumers read "out" and "ctp" with read_committed and
//     read_uncommitted.
//
// The scripts print what they saw as one JSON object (txnResult) and the
// assertions are here: read_committed sees exactly the committed records,
// read_uncommitted every data record, both at Kafka's offsets (each commit
// or abort marker takes one offset in each partition of the transaction and
// is never delivered as a record); franz-go reads the same at both levels
// and kadm sees the group at offset 6; Zombi's HTTP door (GET /tables/{t})
// shows the committed records only.
//
// Where each client runs it: confluent-kafka (python/confluent_txn.py, plus
// many small transactions and fencing) and kafka-python
// (python/kafka_python_txn.py) here, kafkajs (kafkajs/txn.js) here, sarama in
// txn_sarama_test.go. kcat cannot produce in a transaction: it reads what
// franz-go wrote (txn_kcat_test.go, also the last stable offset of an open
// transaction). The Java client's transactions are JUnit tests run by
// TestJavaClient (java/src/test/java/dev/zombi/compat/): TransactionsTest
// (the scenario's parts, fencing, timeouts, stale generations, the admin's
// view of transactions and producers) and ReadCommittedTest (the last stable
// offset, aborted transactions across fetches, a seek and DeleteRecords,
// concurrent producers, many partitions). txn_restart_test.go: a
// transaction open across a Zombi restart.

// txnParts is the partition count of the output topics.
const txnParts = 2

// txnInputs are the records of "in", consumed by the transform.
var txnInputs = []string{"in-0", "in-1", "in-2", "in-3", "in-4", "in-5"}

// txnRec is a record as a client saw it.
type txnRec struct {
	P int32  `json:"p"`
	O int64  `json:"o"`
	V string `json:"v"`
}

func (r txnRec) String() string { return fmt.Sprintf("%d@%d=%s", r.P, r.O, r.V) }

// txnResult is what a scenario script prints.
type txnResult struct {
	Client         string   `json:"client"`
	Committed      []txnRec `json:"committed"`       // "out", read_committed
	Uncommitted    []txnRec `json:"uncommitted"`     // "out", read_uncommitted
	CTPCommitted   []txnRec `json:"ctp_committed"`   // "ctp", read_committed
	CTPUncommitted []txnRec `json:"ctp_uncommitted"` // "ctp", read_uncommitted
	// confluent_txn.py only: many transactions, and fencing.
	ManyCommitted    []txnRec   `json:"many_committed"`
	ManyUncommitted  []txnRec   `json:"many_uncommitted"`
	FencedError      string     `json:"fenced_error"`
	FenceCommitted   []txnRec   `json:"fence_committed"`
	FenceUncommitted []txnRec   `json:"fence_uncommitted"`
	Inputs           [][]string `json:"inputs"` // "in" values each transform transaction read
	// The group's committed offset of in/0 (-1: none), as the client's
	// admin API reads it without require_stable.
	Offsets struct {
		Pending     int64 `json:"pending"`      // first transaction open, offsets sent
		AfterCommit int64 `json:"after_commit"` // first transaction committed
		AfterAbort  int64 `json:"after_abort"`  // second aborted, a new member resumed
		Final       int64 `json:"final"`        // third committed
	} `json:"offsets"`
}

// txnBatch is one transaction: values in order, record i to partition i%2.
type txnBatch struct {
	values []string
	commit bool
}

func txnSeq(prefix string, from, n int) []string {
	var out []string
	for i := from; i < from+n; i++ {
		out = append(out, fmt.Sprintf("%s%d", prefix, i))
	}
	return out
}

// txnProduceBatches is step 1; txnCTPBatches what step 2 writes to "ctp".
var (
	txnProduceBatches = []txnBatch{{txnSeq("c1-", 0, 6), true}, {txnSeq("a-", 0, 4), false}, {txnSeq("c2-", 0, 4), true}}
	txnCTPBatches     = []txnBatch{{txnSeq("x-in-", 0, 3), true}, {txnSeq("x-in-", 3, 3), false}, {txnSeq("x-in-", 3, 3), true}}
)

// txnPartition is where the scripts send the i-th record of a transaction;
// for "ctp", i is the input's index (in-3 is the first record of its
// transaction but goes to partition 1).
func txnPartition(v string, i int) int32 {
	var n int
	if _, err := fmt.Sscanf(v, "x-in-%d", &n); err == nil {
		return int32(n % txnParts)
	}
	return int32(i % txnParts)
}

// txnExpect is what read_committed and read_uncommitted consumers see of a
// topic written by batches, in (partition, offset) order: one offset per
// record, and one per control batch in each partition a transaction wrote.
func txnExpect(batches []txnBatch) (committed, uncommitted []txnRec) {
	next := make([]int64, txnParts)
	for _, b := range batches {
		touched := make([]bool, txnParts)
		for i, v := range b.values {
			p := txnPartition(v, i)
			r := txnRec{p, next[p], v}
			next[p]++
			touched[p] = true
			uncommitted = append(uncommitted, r)
			if b.commit {
				committed = append(committed, r)
			}
		}
		for p, ok := range touched {
			if ok {
				next[p]++ // the marker
			}
		}
	}
	sortTxnRecs(committed)
	sortTxnRecs(uncommitted)
	return committed, uncommitted
}

func sortTxnRecs(rs []txnRec) {
	sort.SliceStable(rs, func(i, j int) bool {
		if rs[i].P != rs[j].P {
			return rs[i].P < rs[j].P
		}
		return rs[i].O < rs[j].O
	})
}

// checkTxnRecs compares what a consumer saw with what it should have:
// the same records at the same offsets, each once.
func checkTxnRecs(t *testing.T, what string, got, want []txnRec) {
	t.Helper()
	got = append([]txnRec(nil), got...)
	sortTxnRecs(got)
	if fmt.Sprint(got) == fmt.Sprint(want) {
		return
	}
	wantSet := map[txnRec]bool{}
	for _, r := range want {
		wantSet[r] = true
	}
	var extra, missing []string
	gotSet := map[txnRec]bool{}
	for _, r := range got {
		if !wantSet[r] || gotSet[r] {
			extra = append(extra, r.String())
		}
		gotSet[r] = true
	}
	for _, r := range want {
		if !gotSet[r] {
			missing = append(missing, r.String())
		}
	}
	t.Errorf("%s: read %d records, want %d (partition@offset=value)\n  unexpected or repeated: %v\n  missing: %v\n  got:  %v\n  want: %v",
		what, len(got), len(want), extra, missing, got, want)
}

// txnTopics names the scenario's topics and group, creates the topics and
// writes the inputs (franz-go, no transaction).
type txnTopics struct {
	out, in, ctp, group, txnID string
}

func setupTxnTopics(t *testing.T, b broker) txnTopics {
	t.Helper()
	tt := txnTopics{out: topicName(t, "out"), in: topicName(t, "in"), ctp: topicName(t, "ctp"),
		group: topicName(t, "g"), txnID: topicName(t, "txn")}
	ctx := testCtx(t, 30*time.Second)
	cl := newClient(t, b.addr)
	adm := kadm.NewClient(cl)
	for topic, parts := range map[string]int32{tt.out: txnParts, tt.in: 1, tt.ctp: txnParts} {
		if _, err := adm.CreateTopic(ctx, parts, 1, nil, topic); err != nil {
			t.Fatalf("create %s: %v", topic, err)
		}
	}
	waitTopics(t, ctx, cl, map[string]int{tt.out: txnParts, tt.in: 1, tt.ctp: txnParts})
	for _, v := range txnInputs {
		if err := cl.ProduceSync(ctx, &kgo.Record{Topic: tt.in, Value: []byte(v)}).FirstErr(); err != nil {
			t.Fatalf("produce %s to %s: %v", v, tt.in, err)
		}
	}
	return tt
}

// runTxnScript runs a scenario script against b (its stdout is one
// txnResult) with a deadline.
func runTxnScript(t *testing.T, b broker, dir string, timeout time.Duration, name string, args ...string) txnResult {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = dir
	cmd.WaitDelay = 5 * time.Second
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	start := time.Now()
	err := cmd.Run()
	if err != nil {
		t.Fatalf("%s %s: %v after %v\nstdout: %s\nstderr: %s", name, strings.Join(args, " "), err,
			time.Since(start).Round(time.Millisecond), stdout.String(), tail(stderr.String(), 20000))
	}
	var res txnResult
	if err := json.Unmarshal(stdout.Bytes(), &res); err != nil {
		t.Fatalf("%s: output: %v\n%s\nstderr: %s", name, err, stdout.String(), tail(stderr.String(), 20000))
	}
	t.Logf("%s against %s: %v", res.Client, b.name, time.Since(start).Round(time.Millisecond))
	return res
}

// txnArgs are the scripts' arguments after the bootstrap address.
func (tt txnTopics) args() []string { return []string{tt.out, tt.in, tt.ctp, tt.group, tt.txnID} }

// TestTxnConfluentPython: confluent-kafka 2.16.1 (PyPI, the librdkafka its
// wheel bundles): transactional producer, send_offsets_to_transaction,
// read_committed and read_uncommitted consumers (python/confluent_txn.py);
// then 30 lz4 transactions, every third aborted, read with 1 KiB fetches, and
// a producer fenced by a new one with its transactional.id.
func TestTxnConfluentPython(t *testing.T) {
	venv := pyvenv.EnsureT(t, "compat-tests/python/requirements.txt")
	eachBroker(t, func(t *testing.T, b broker) {
		t.Parallel()
		tt := setupTxnTopics(t, b)
		many, fence := topicName(t, "many"), topicName(t, "fence")
		ctx := testCtx(t, 30*time.Second)
		cl := newClient(t, b.addr)
		for topic, parts := range map[string]int32{many: txnParts, fence: 1} {
			if _, err := kadm.NewClient(cl).CreateTopic(ctx, parts, 1, nil, topic); err != nil {
				t.Fatalf("create %s: %v", topic, err)
			}
		}
		waitTopics(t, ctx, cl, map[string]int{many: txnParts, fence: 1})
		script := filepath.Join(pyvenv.Root(), "compat-tests", "python", "confluent_txn.py")
		res := runTxnScript(t, b, t.TempDir(), 90*time.Second, venv.Python(), append(append([]string{script, b.addr}, tt.args()...), many, fence)...)
		checkTxnResult(t, b, tt, res)

		// 30 transactions of 5 records (m<k>-<i>, partition i%2), every
		// third aborted, read with 1 KiB partition fetches.
		var batches []txnBatch
		for k := 0; k < 30; k++ {
			batches = append(batches, txnBatch{txnSeq(fmt.Sprintf("m%d-", k), 0, 5), k%3 != 1})
		}
		committed, uncommitted := txnExpect(batches)
		checkTxnRecs(t, "many transactions, read_committed", res.ManyCommitted, committed)
		checkTxnRecs(t, "many transactions, read_uncommitted", res.ManyUncommitted, uncommitted)
		if b.isZombi() { // librdkafka's lz4 transactional batches through the HTTP door
			checkTxnHTTP(t, many, committed)
		}

		checkTxnFence(t, res)
	})
}

// checkTxnResult makes the scenario's assertions on what a script saw, then
// reads the topics with franz-go and the group's offset with kadm.
func checkTxnResult(t *testing.T, b broker, tt txnTopics, res txnResult) {
	t.Helper()
	committed, uncommitted := txnExpect(txnProduceBatches)
	checkTxnRecs(t, "out, read_committed", res.Committed, committed)
	checkTxnRecs(t, "out, read_uncommitted", res.Uncommitted, uncommitted)
	ctpCommitted, ctpUncommitted := txnExpect(txnCTPBatches)
	checkTxnRecs(t, "ctp, read_committed", res.CTPCommitted, ctpCommitted)
	checkTxnRecs(t, "ctp, read_uncommitted", res.CTPUncommitted, ctpUncommitted)
	wantInputs := [][]string{txnInputs[:3], txnInputs[3:], txnInputs[3:]}
	if fmt.Sprint(res.Inputs) != fmt.Sprint(wantInputs) {
		t.Errorf("the transform's transactions read %v, want %v (the third resumes from the offset the first committed)", res.Inputs, wantInputs)
	}
	o := res.Offsets
	if o.Pending != -1 || o.AfterCommit != 3 || o.AfterAbort != 3 || o.Final != 6 {
		t.Errorf("the group's committed offset of %s/0: %d while the first transaction was open (want -1: none), %d after its commit (want 3), %d after the abort (want 3), %d at the end (want 6)",
			tt.in, o.Pending, o.AfterCommit, o.AfterAbort, o.Final)
	}
	checkTxnFranzGo(t, b, tt.out, committed, uncommitted)
	checkTxnFranzGo(t, b, tt.ctp, ctpCommitted, ctpUncommitted)
	if b.isZombi() {
		checkTxnHTTP(t, tt.out, committed)
		checkTxnHTTP(t, tt.ctp, ctpCommitted)
	}
	ctx := testCtx(t, 20*time.Second)
	offs, err := kadm.NewClient(newClient(t, b.addr)).FetchOffsets(ctx, tt.group)
	if err != nil {
		t.Fatalf("kadm fetch offsets of %s: %v", tt.group, err)
	}
	if o, ok := offs.Lookup(tt.in, 0); !ok || o.Err != nil || o.At != 6 {
		t.Errorf("kadm: group %s at %+v on %s/0, want offset 6", tt.group, o, tt.in)
	}
}

// checkTxnHTTP reads topic through Zombi's other door, GET /tables/{t}:
// committed records only, at their offsets, never a marker.
func checkTxnHTTP(t *testing.T, topic string, committed []txnRec) {
	t.Helper()
	var got []txnRec
	for _, e := range httpGetRecords(t, topic) {
		var v string
		if err := json.Unmarshal(e.Payload, &v); err != nil {
			v = string(e.Payload)
		}
		got = append(got, txnRec{e.Partition, e.Offset, v})
	}
	checkTxnRecs(t, "GET /tables/"+topic, got, committed)
}

// checkTxnFranzGo reads topic with franz-go at both isolation levels.
func checkTxnFranzGo(t *testing.T, b broker, topic string, committed, uncommitted []txnRec) {
	t.Helper()
	for _, c := range []struct {
		what string
		iso  kgo.IsolationLevel
		want []txnRec
	}{
		{"read_committed", kgo.ReadCommitted(), committed},
		{"read_uncommitted", kgo.ReadUncommitted(), uncommitted},
	} {
		var got []txnRec
		for _, r := range consume(t, b.addr, topic, len(c.want), kgo.FetchIsolationLevel(c.iso)) {
			got = append(got, txnRec{r.Partition, r.Offset, string(r.Value)})
		}
		checkTxnRecs(t, "franz-go: "+topic+", "+c.what, got, c.want)
	}
}

// txnFranzGoProduce writes txnProduceBatches to topic with a franz-go
// transactional producer (for the consumers that cannot produce in a
// transaction themselves: kcat).
func txnFranzGoProduce(t *testing.T, b broker, topic, txnID string) {
	t.Helper()
	ctx := testCtx(t, 30*time.Second)
	cl := newClient(t, b.addr, kgo.TransactionalID(txnID), kgo.DefaultProduceTopic(topic),
		kgo.RecordPartitioner(kgo.ManualPartitioner()))
	for _, batch := range txnProduceBatches {
		if err := cl.BeginTransaction(); err != nil {
			t.Fatalf("franz-go begin transaction: %v", err)
		}
		for i, v := range batch.values {
			r := &kgo.Record{Value: []byte(v), Partition: txnPartition(v, i)}
			if err := cl.ProduceSync(ctx, r).FirstErr(); err != nil {
				t.Fatalf("franz-go produce %s in a transaction: %v", v, err)
			}
		}
		if err := cl.EndTransaction(ctx, kgo.TransactionEndTry(batch.commit)); err != nil {
			t.Fatalf("franz-go end transaction (commit %v): %v", batch.commit, err)
		}
	}
}

// checkTxnFence checks the fencing step of the scripts that run it: a
// producer whose transaction was open (fenced-0@0) when a new one with its
// transactional id initialized (the abort marker@1) cannot commit; the new
// one commits fence-ok@2 (marker@3).
func checkTxnFence(t *testing.T, res txnResult) {
	t.Helper()
	if res.FencedError == "" {
		t.Errorf("the fenced producer's commit succeeded")
	}
	t.Logf("the fenced producer's commit: %s", res.FencedError)
	checkTxnRecs(t, "after fencing, read_committed", res.FenceCommitted, []txnRec{{0, 2, "fence-ok"}})
	checkTxnRecs(t, "after fencing, read_uncommitted", res.FenceUncommitted, []txnRec{{0, 0, "fenced-0"}, {0, 2, "fence-ok"}})
}

// TestTxnKafkaPython: kafka-python 3.0.12 (PyPI, pure Python): the
// scenario with its transactional KafkaProducer, send_offsets_to_transaction
// with the consumer's group_metadata(), isolation_level read_committed and
// read_uncommitted (python/kafka_python_txn.py).
func TestTxnKafkaPython(t *testing.T) {
	venv := pyvenv.EnsureT(t, "compat-tests/python/requirements.txt")
	eachBroker(t, func(t *testing.T, b broker) {
		t.Parallel()
		tt := setupTxnTopics(t, b)
		script := filepath.Join(pyvenv.Root(), "compat-tests", "python", "kafka_python_txn.py")
		res := runTxnScript(t, b, t.TempDir(), 90*time.Second, venv.Python(), append([]string{script, b.addr}, tt.args()...)...)
		checkTxnResult(t, b, tt, res)
	})
}

// TestTxnKafkaJS: kafkajs 2.2.4 transactions with sendOffsets, consumers
// with readUncommitted false and true, and fencing (kafkajs/txn.js).
func TestTxnKafkaJS(t *testing.T) {
	node, err := exec.LookPath("node")
	if err != nil {
		t.Skip("node not installed")
	}
	dir, _ := filepath.Abs("kafkajs")
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "kafkajs")); err != nil {
		t.Fatalf("kafkajs is not installed: run `npm ci` in %s (make test does)", dir)
	}
	eachBroker(t, func(t *testing.T, b broker) {
		t.Parallel()
		tt := setupTxnTopics(t, b)
		res := runTxnScript(t, b, dir, 90*time.Second, node, append([]string{"txn.js", b.addr}, tt.args()...)...)
		checkTxnResult(t, b, tt, res)
		checkTxnFence(t, res)
	})
}
