package kafka

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	plog "github.com/zombi-dev/zombi/log"
	"github.com/zombi-dev/zombi/log/batch"
	"github.com/zombi-dev/zombi/metrics"
	"github.com/zombi-dev/zombi/stats"
)

// Transactions end to end: real listening Zombi, real RocksDB log, raw wire
// requests for exact versions and codes, franz-go's transactional producer
// and read_committed consumer.

func initTxn(t *testing.T, c *rawConn, id string, v int16, timeoutMs int32, pid int64, epoch int16) *kmsg.InitProducerIDResponse {
	t.Helper()
	req := kmsg.NewPtrInitProducerIDRequest()
	req.TransactionalID, req.TransactionTimeoutMillis, req.ProducerID, req.ProducerEpoch = &id, timeoutMs, pid, epoch
	return c.do(req, v).(*kmsg.InitProducerIDResponse)
}

func addParts(t *testing.T, c *rawConn, v int16, id string, pid int64, epoch int16, topic string, parts ...int32) []int16 {
	t.Helper()
	req := kmsg.NewPtrAddPartitionsToTxnRequest()
	req.TransactionalID, req.ProducerID, req.ProducerEpoch = id, pid, epoch
	req.Topics = []kmsg.AddPartitionsToTxnRequestTopic{{Topic: topic, Partitions: parts}}
	resp := c.do(req, v).(*kmsg.AddPartitionsToTxnResponse)
	var codes []int16
	for _, rt := range resp.Topics {
		for _, rp := range rt.Partitions {
			codes = append(codes, rp.ErrorCode)
		}
	}
	return codes
}

func endTxn(t *testing.T, c *rawConn, v int16, id string, pid int64, epoch int16, commit bool) int16 {
	t.Helper()
	req := kmsg.NewPtrEndTxnRequest()
	req.TransactionalID, req.ProducerID, req.ProducerEpoch, req.Commit = id, pid, epoch, commit
	return c.do(req, v).(*kmsg.EndTxnResponse).ErrorCode
}

func txnProduce(t *testing.T, c *rawConn, id, topic string, part int32, pid int64, epoch int16, seq int32, values ...string) int16 {
	t.Helper()
	b := mkIdemBatch(pid, epoch, seq, values...)
	batch.SetTransactional(b)
	req := produceReq(topic, part, -1, b)
	req.TransactionID = &id
	return c.do(req, 9).(*kmsg.ProduceResponse).Topics[0].Partitions[0].ErrorCode
}

func TestTxnProtocolRaw(t *testing.T) {
	e := startServer(t, Config{AutoCreateTopics: true, DefaultPartitions: 2, TransactionMaxTimeout: time.Minute})
	c := e.dial(t)
	if _, err := e.l.CreateTopic("rt", 2, nil); err != nil {
		t.Fatal(err)
	}
	fc := kmsg.NewPtrFindCoordinatorRequest()
	fc.CoordinatorKey, fc.CoordinatorType = "tx", 1
	if r := c.do(fc, 3).(*kmsg.FindCoordinatorResponse); r.ErrorCode != 0 || r.NodeID != 1 {
		t.Fatalf("find coordinator: %+v", r)
	}
	wantCode(t, "timeout above the maximum", initTxn(t, c, "tx", 4, 60_001, -1, -1).ErrorCode, kerr.InvalidTransactionTimeout)
	wantCode(t, "empty transactional id", initTxn(t, c, "", 4, 10_000, -1, -1).ErrorCode, kerr.InvalidRequest)
	ip := initTxn(t, c, "tx", 4, 10_000, -1, -1)
	wantCode(t, "init", ip.ErrorCode, nil)
	pid, ep := ip.ProducerID, ip.ProducerEpoch
	if ep != 0 {
		t.Fatalf("first epoch %d", ep)
	}
	wantCode(t, "produce before add", txnProduce(t, c, "tx", "rt", 0, pid, ep, 0, "a"), kerr.InvalidTxnState)
	codes := addParts(t, c, 3, "tx", pid, ep, "nope", 0)
	wantCode(t, "add unknown topic", codes[0], kerr.UnknownTopicOrPartition)
	codes = addParts(t, c, 3, "tx", pid, ep, "rt", 0, 7)
	wantCode(t, "valid partition beside an unknown one", codes[0], kerr.OperationNotAttempted)
	wantCode(t, "unknown partition", codes[1], kerr.UnknownTopicOrPartition)
	wantCode(t, "add", addParts(t, c, 3, "tx", pid, ep, "rt", 0)[0], nil)
	wantCode(t, "produce in the transaction", txnProduce(t, c, "tx", "rt", 0, pid, ep, 0, "a", "b"), nil)
	wantCode(t, "produce to a partition not added", txnProduce(t, c, "tx", "rt", 1, pid, ep, 0, "c"), kerr.InvalidTxnState)
	if lso, _ := e.l.LastStable("rt", 0); lso != 0 {
		t.Fatalf("LSO with an open transaction: %d", lso)
	}

	// v4+: the broker form, CLUSTER_ACTION (no ACLs here: allowed), VerifyOnly.
	ver := kmsg.NewPtrAddPartitionsToTxnRequest()
	ver.Transactions = []kmsg.AddPartitionsToTxnRequestTransaction{{TransactionalID: "tx", ProducerID: pid, ProducerEpoch: ep, VerifyOnly: true,
		Topics: []kmsg.AddPartitionsToTxnRequestTransactionTopic{{Topic: "rt", Partitions: []int32{0, 1}}}}}
	vr := c.do(ver, 5).(*kmsg.AddPartitionsToTxnResponse)
	if len(vr.Transactions) != 1 || vr.Transactions[0].Topics[0].Partitions[0].ErrorCode != 0 ||
		vr.Transactions[0].Topics[0].Partitions[1].ErrorCode != kerr.InvalidTxnState.Code {
		t.Fatalf("verify only: %+v", vr)
	}
	if info, _ := e.s.txn.Describe("tx"); len(info.Partitions) != 1 {
		t.Fatalf("VerifyOnly changed the transaction: %+v", info)
	}
	// The broker form without VerifyOnly adds, as v3 does.
	ver.Transactions[0].VerifyOnly = false
	ver.Transactions[0].Topics[0].Partitions = []int32{1}
	if vr := c.do(ver, 4).(*kmsg.AddPartitionsToTxnResponse); vr.ErrorCode != 0 || vr.Transactions[0].Topics[0].Partitions[0].ErrorCode != 0 {
		t.Fatalf("batched add: %+v", vr)
	}
	if info, _ := e.s.txn.Describe("tx"); len(info.Partitions) != 2 {
		t.Fatalf("after the batched add: %+v", info)
	}
	wantCode(t, "produce to the partition added by the broker form", txnProduce(t, c, "tx", "rt", 1, pid, ep, 0, "c"), nil)

	// DescribeTransactions, ListTransactions, DescribeProducers.
	dt := kmsg.NewPtrDescribeTransactionsRequest()
	dt.TransactionalIDs = []string{"tx", "unknown"}
	dr := c.do(dt, 0).(*kmsg.DescribeTransactionsResponse)
	if s := dr.TransactionStates[0]; s.ErrorCode != 0 || s.State != "Ongoing" || s.ProducerID != pid || s.TimeoutMillis != 10_000 ||
		s.StartTimestamp <= 0 || len(s.Topics) != 1 || s.Topics[0].Topic != "rt" {
		t.Fatalf("describe: %+v", s)
	}
	wantCode(t, "describe unknown", dr.TransactionStates[1].ErrorCode, kerr.TransactionalIDNotFound)
	lt := kmsg.NewPtrListTransactionsRequest()
	lt.StateFilters = []string{"Ongoing", "Bogus"}
	lr := c.do(lt, 2).(*kmsg.ListTransactionsResponse)
	if len(lr.TransactionStates) != 1 || lr.TransactionStates[0].TransactionalID != "tx" || len(lr.UnknownStateFilters) != 1 {
		t.Fatalf("list: %+v", lr)
	}
	lt.StateFilters, lt.DurationFilterMillis = nil, 3_600_000
	if lr := c.do(lt, 1).(*kmsg.ListTransactionsResponse); len(lr.TransactionStates) != 0 {
		t.Fatalf("list older than an hour: %+v", lr)
	}
	lt.DurationFilterMillis = -1
	pat := "t["
	lt.TransactionalIDPattern = &pat
	wantCode(t, "bad pattern", c.do(lt, 2).(*kmsg.ListTransactionsResponse).ErrorCode, kerr.InvalidRegularExpression)
	dp := kmsg.NewPtrDescribeProducersRequest()
	dp.Topics = []kmsg.DescribeProducersRequestTopic{{Topic: "rt", Partitions: []int32{0, 9}}}
	dpr := c.do(dp, 0).(*kmsg.DescribeProducersResponse)
	p0 := dpr.Topics[0].Partitions[0]
	if p0.ErrorCode != 0 || len(p0.ActiveProducers) != 1 || p0.ActiveProducers[0].ProducerID != pid ||
		p0.ActiveProducers[0].LastSequence != 1 || p0.ActiveProducers[0].CurrentTxnStartOffset != 0 || p0.ActiveProducers[0].LastTimestamp <= 0 {
		t.Fatalf("describe producers: %+v", p0)
	}
	wantCode(t, "describe producers of an unknown partition", dpr.Topics[0].Partitions[1].ErrorCode, kerr.UnknownTopicOrPartition)

	// Commit; a retried commit succeeds; an abort after it does not.
	wantCode(t, "commit", endTxn(t, c, 3, "tx", pid, ep, true), nil)
	wantCode(t, "retried commit", endTxn(t, c, 3, "tx", pid, ep, true), nil)
	wantCode(t, "abort after commit", endTxn(t, c, 3, "tx", pid, ep, false), kerr.InvalidTxnState)
	if lso, _ := e.l.LastStable("rt", 0); lso != 3 {
		t.Fatalf("LSO after commit: %d, want 3 (two records and the marker)", lso)
	}

	// A second producer instance fences the first.
	ip2 := initTxn(t, c, "tx", 4, 10_000, -1, -1)
	if ip2.ErrorCode != 0 || ip2.ProducerID != pid || ip2.ProducerEpoch != ep+1 {
		t.Fatalf("re-init: %+v", ip2)
	}
	wantCode(t, "fenced add v3", addParts(t, c, 3, "tx", pid, ep, "rt", 1)[0], kerr.ProducerFenced)
	wantCode(t, "fenced add v1", addParts(t, c, 1, "tx", pid, ep, "rt", 1)[0], kerr.InvalidProducerEpoch)
	wantCode(t, "fenced end v1", endTxn(t, c, 1, "tx", pid, ep, true), kerr.InvalidProducerEpoch)
	wantCode(t, "fenced init v4", initTxn(t, c, "tx", 4, 10_000, pid, ep).ErrorCode, kerr.ProducerFenced)
	wantCode(t, "fenced init v3", initTxn(t, c, "tx", 3, 10_000, pid, ep).ErrorCode, kerr.InvalidProducerEpoch)
	wantCode(t, "fenced produce", txnProduce(t, c, "tx", "rt", 0, pid, ep, 2, "z"), kerr.InvalidProducerEpoch)
	wantCode(t, "end without transaction", endTxn(t, c, 3, "tx", pid, ep+1, true), kerr.InvalidTxnState)

	// An ongoing transaction is aborted by the next InitProducerId.
	ep = ip2.ProducerEpoch
	wantCode(t, "add 1", addParts(t, c, 3, "tx", pid, ep, "rt", 1)[0], nil)
	wantCode(t, "produce 1", txnProduce(t, c, "tx", "rt", 1, pid, ep, 0, "x"), nil)
	ip3 := initTxn(t, c, "tx", 4, 10_000, -1, -1)
	if ip3.ErrorCode != 0 || ip3.ProducerEpoch != ep+2 {
		t.Fatalf("init over an ongoing transaction: %+v", ip3)
	}
	rr, err := e.l.ReadIsolated("rt", 1, 0, 1<<20, plog.ReadCommitted)
	// Partition 1: "c" (committed) and its marker, then "x" and the abort
	// marker of the fencing.
	if err != nil || rr.LastStableOffset != 4 || len(rr.Aborted) != 1 || rr.Aborted[0].ProducerID != pid ||
		rr.Aborted[0].FirstOffset != 2 || len(plog.Committed(rr)) != 1 {
		t.Fatalf("partition 1 after the fencing abort: %+v, %v", rr, err)
	}
}

func TestTxnOffsetsRequireStable(t *testing.T) {
	e := startServer(t, testConfig())
	c := e.dial(t)
	if _, err := e.l.CreateTopic("in", 1, nil); err != nil {
		t.Fatal(err)
	}
	ip := initTxn(t, c, "off", 4, 10_000, -1, -1)
	pid, ep := ip.ProducerID, ip.ProducerEpoch
	commit := func(v int16, off int64) int16 {
		req := kmsg.NewPtrTxnOffsetCommitRequest()
		req.TransactionalID, req.Group, req.ProducerID, req.ProducerEpoch, req.Generation = "off", "g", pid, ep, -1
		req.Topics = []kmsg.TxnOffsetCommitRequestTopic{{Topic: "in", Partitions: []kmsg.TxnOffsetCommitRequestTopicPartition{{Partition: 0, Offset: off, LeaderEpoch: -1}}}}
		return c.do(req, v).(*kmsg.TxnOffsetCommitResponse).Topics[0].Partitions[0].ErrorCode
	}
	wantCode(t, "txn offset commit before AddOffsetsToTxn", commit(3, 5), kerr.InvalidTxnState)
	ao := kmsg.NewPtrAddOffsetsToTxnRequest()
	ao.TransactionalID, ao.ProducerID, ao.ProducerEpoch, ao.Group = "off", pid, ep, "g"
	wantCode(t, "add offsets", c.do(ao, 3).(*kmsg.AddOffsetsToTxnResponse).ErrorCode, nil)
	wantCode(t, "txn offset commit", commit(3, 5), nil)
	fetch := func(stable bool) kmsg.OffsetFetchResponseGroupTopicPartition {
		req := kmsg.NewPtrOffsetFetchRequest()
		req.RequireStable = stable
		req.Groups = []kmsg.OffsetFetchRequestGroup{{Group: "g", Topics: []kmsg.OffsetFetchRequestGroupTopic{{Topic: "in", Partitions: []int32{0}}}}}
		return c.do(req, 8).(*kmsg.OffsetFetchResponse).Groups[0].Topics[0].Partitions[0]
	}
	wantCode(t, "require_stable with a pending commit", fetch(true).ErrorCode, kerr.UnstableOffsetCommit)
	if p := fetch(false); p.ErrorCode != 0 || p.Offset != -1 {
		t.Fatalf("pending offset visible: %+v", p)
	}
	wantCode(t, "commit", endTxn(t, c, 3, "off", pid, ep, true), nil)
	if p := fetch(true); p.ErrorCode != 0 || p.Offset != 5 {
		t.Fatalf("after commit: %+v", p)
	}
	// Aborted offsets never show.
	wantCode(t, "add offsets 2", c.do(ao, 3).(*kmsg.AddOffsetsToTxnResponse).ErrorCode, nil)
	wantCode(t, "txn offset commit 2", commit(2, 9), nil)
	wantCode(t, "abort", endTxn(t, c, 3, "off", pid, ep, false), nil)
	if p := fetch(true); p.ErrorCode != 0 || p.Offset != 5 {
		t.Fatalf("after abort: %+v", p)
	}
	wantCode(t, "fenced txn offset commit v2", func() int16 { ep++; defer func() { ep-- }(); return commit(2, 1) }(), kerr.InvalidProducerEpoch)
}

func kgoTxnClient(t *testing.T, addr, id string, opts ...kgo.Opt) *kgo.Client {
	t.Helper()
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(addr), kgo.TransactionalID(id), kgo.TransactionTimeout(30 * time.Second)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return cl
}

// consumeAll reads topic from the start with the given isolation until n
// records came or 10 s passed.
func consumeAll(t *testing.T, addr, topic string, iso kgo.IsolationLevel, n int) []string {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.ConsumeTopics(topic), kgo.FetchIsolationLevel(iso),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchMaxWait(100*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	var got []string
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for len(got) < n && ctx.Err() == nil {
		fs := cl.PollFetches(ctx)
		fs.EachRecord(func(r *kgo.Record) { got = append(got, string(r.Value)) })
	}
	return got
}

func TestTxnKgoCommitAbort(t *testing.T) {
	e := startServer(t, testConfig())
	if _, err := e.l.CreateTopic("kt", 1, nil); err != nil {
		t.Fatal(err)
	}
	cl := kgoTxnClient(t, e.addr, "kgo-tx", kgo.DefaultProduceTopic("kt"))
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	run := func(prefix string, commit kgo.TransactionEndTry) {
		if err := cl.BeginTransaction(); err != nil {
			t.Fatal(err)
		}
		for i := 0; i < 5; i++ {
			if err := cl.ProduceSync(ctx, kgo.StringRecord(fmt.Sprintf("%s%d", prefix, i))).FirstErr(); err != nil {
				t.Fatalf("produce %s%d: %v", prefix, i, err)
			}
		}
		if err := cl.EndTransaction(ctx, commit); err != nil {
			t.Fatalf("end %s: %v", prefix, err)
		}
	}
	commits, aborts := txnEnded(t, "commit"), txnEnded(t, "abort")
	run("c", kgo.TryCommit)
	run("a", kgo.TryAbort)
	run("d", kgo.TryCommit)
	if c, a := txnEnded(t, "commit")-commits, txnEnded(t, "abort")-aborts; c != 2 || a != 1 {
		t.Fatalf("zombi_transactions_ended_total grew by commit %v, abort %v; want 2 and 1", c, a)
	}
	if err := testutil.CollectAndCompare(e.s.Collector(), strings.NewReader(`
# HELP zombi_transactions Transactional ids by the state of their transaction (Kafka's names: Ongoing is open; Empty, CompleteCommit and CompleteAbort have none open).
# TYPE zombi_transactions gauge
zombi_transactions{state="CompleteAbort"} 0
zombi_transactions{state="CompleteCommit"} 1
zombi_transactions{state="Empty"} 0
zombi_transactions{state="Ongoing"} 0
zombi_transactions{state="PrepareAbort"} 0
zombi_transactions{state="PrepareCommit"} 0
`), "zombi_transactions"); err != nil {
		t.Fatal(err)
	}
	committed := consumeAll(t, e.addr, "kt", kgo.ReadCommitted(), 10)
	if fmt.Sprint(committed) != "[c0 c1 c2 c3 c4 d0 d1 d2 d3 d4]" {
		t.Fatalf("read_committed: %v", committed)
	}
	all := consumeAll(t, e.addr, "kt", kgo.ReadUncommitted(), 15)
	if len(all) != 15 {
		t.Fatalf("read_uncommitted: %v", all)
	}

	adm := kadm.NewClient(cl)
	dts, err := adm.DescribeTransactions(ctx, "kgo-tx")
	if err != nil {
		t.Fatal(err)
	}
	if d, ok := dts["kgo-tx"]; !ok || d.Err != nil || d.State != "CompleteCommit" || d.TimeoutMillis != 30_000 {
		t.Fatalf("kadm describe: %+v", dts)
	}
	lts, err := adm.ListTransactions(ctx, nil, nil)
	if err != nil || len(lts) != 1 {
		t.Fatalf("kadm list: %+v, %v", lts, err)
	}
	dps, err := adm.DescribeProducers(ctx, kadm.TopicsSet{"kt": {0: {}}})
	if err != nil {
		t.Fatal(err)
	}
	var found bool
	dps.EachPartition(func(p kadm.DescribedProducersPartition) {
		for _, ap := range p.ActiveProducers {
			found = found || ap.CurrentTxnStartOffset == -1 && ap.LastSequence == 14
		}
	})
	if !found {
		t.Fatalf("kadm describe producers: %+v", dps)
	}
}

func TestTxnKgoGroupTransactSession(t *testing.T) {
	e := startServer(t, testConfig())
	for _, name := range []string{"etl-in", "etl-out"} {
		if _, err := e.l.CreateTopic(name, 2, nil); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 40*time.Second)
	defer cancel()
	const n = 200
	pr, err := kgo.NewClient(kgo.SeedBrokers(e.addr), kgo.DefaultProduceTopic("etl-in"))
	if err != nil {
		t.Fatal(err)
	}
	defer pr.Close()
	for i := 0; i < n; i++ {
		pr.Produce(ctx, kgo.StringRecord(fmt.Sprint(i)), nil)
	}
	if err := pr.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	sess, err := kgo.NewGroupTransactSession(kgo.SeedBrokers(e.addr), kgo.TransactionalID("etl"), kgo.TransactionTimeout(30*time.Second),
		kgo.ConsumerGroup("etl-g"), kgo.ConsumeTopics("etl-in"), kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.DefaultProduceTopic("etl-out"), kgo.FetchMaxWait(100*time.Millisecond),
	)
	if err != nil {
		t.Fatal(err)
	}
	defer sess.Close()
	seen := 0
	for seen < n && ctx.Err() == nil {
		fs := sess.PollFetches(ctx)
		if err := sess.Begin(); err != nil {
			t.Fatal(err)
		}
		fs.EachRecord(func(r *kgo.Record) {
			seen++
			sess.Produce(ctx, kgo.StringRecord("out-"+string(r.Value)), nil)
		})
		committed, err := sess.End(ctx, kgo.TryCommit)
		if err != nil || !committed {
			t.Fatalf("end: committed %v, %v", committed, err)
		}
	}
	if seen != n {
		t.Fatalf("consumed %d of %d", seen, n)
	}
	out := consumeAll(t, e.addr, "etl-out", kgo.ReadCommitted(), n)
	if len(out) != n {
		t.Fatalf("read_committed output: %d records, want %d", len(out), n)
	}
	// The group's offsets were committed with the transactions: each
	// partition's is its end (a partition the producer left empty has none).
	for p := int32(0); p < 2; p++ {
		_, hwm, err := e.l.Offsets("etl-in", p)
		if err != nil {
			t.Fatal(err)
		}
		o, ok, err := e.l.FetchOffset("etl-g", "etl-in", p)
		if err != nil || (hwm > 0 && (!ok || o.Offset != hwm)) {
			t.Fatalf("committed offset of partition %d: %+v %v %v, want %d", p, o, ok, err, hwm)
		}
	}
}

// TestTxnRestart: an ongoing transaction survives a restart of the server
// (its state was durable before each answer) and is aborted at its
// deadline; a transaction the log holds open that no ongoing transaction
// covers is aborted at start.
func TestTxnRestart(t *testing.T) {
	dir := t.TempDir()
	open := func() (*plog.Log, *Server, string, func()) {
		l, err := plog.Open(plog.Options{Dir: dir, Logger: slog.New(slog.DiscardHandler)})
		if err != nil {
			t.Fatal(err)
		}
		s := NewServer(l, stats.New(), testConfig(), slog.New(slog.DiscardHandler))
		if err := s.StartTransactions(); err != nil {
			t.Fatal(err)
		}
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() { done <- s.Serve(ln) }()
		return l, s, ln.Addr().String(), func() { _ = s.Close(); <-done; _ = l.Close() }
	}
	l, _, addr, stop := open()
	if _, err := l.CreateTopic("rs", 2, nil); err != nil {
		t.Fatal(err)
	}
	e := &testEnv{l: l, addr: addr}
	c := e.dial(t)
	ip := initTxn(t, c, "rs", 4, 2_000, -1, -1)
	pid, ep := ip.ProducerID, ip.ProducerEpoch
	wantCode(t, "add", addParts(t, c, 3, "rs", pid, ep, "rs", 0)[0], nil)
	wantCode(t, "produce", txnProduce(t, c, "rs", "rs", 0, pid, ep, 0, "a"), nil)
	// A transactional batch the coordinator never saw (written with the
	// verifier out of the way): recovery must abort it.
	l.SetTxnVerifier(nil)
	b := mkIdemBatch(777, 0, 0, "orphan")
	batch.SetTransactional(b)
	if res := l.Append(context.Background(), []plog.AppendRequest{{Topic: "rs", Partition: 1, Batch: b}}); res[0].Err != nil {
		t.Fatal(res[0].Err)
	}
	_ = c.c.Close()
	stop()

	var s *Server
	l, s, addr, stop = open()
	defer stop()
	if lso, _ := l.LastStable("rs", 1); lso != 2 {
		t.Fatalf("orphan not aborted at start: LSO %d", lso)
	}
	if lso, _ := l.LastStable("rs", 0); lso != 0 {
		t.Fatalf("ongoing transaction lost over the restart: LSO %d", lso)
	}
	if info, ok := s.txn.Describe("rs"); !ok || info.State != "Ongoing" {
		t.Fatalf("after restart: %+v", info)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		if lso, _ := l.LastStable("rs", 0); lso == 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the ongoing transaction was not aborted at its deadline")
		}
		time.Sleep(50 * time.Millisecond)
	}
	rr, err := l.ReadIsolated("rs", 0, 0, 1<<20, plog.ReadCommitted)
	if err != nil || len(plog.Committed(rr)) != 0 || len(rr.Aborted) != 1 {
		t.Fatalf("after the timeout abort: %+v %v", rr, err)
	}
	c = (&testEnv{l: l, addr: addr}).dial(t)
	wantCode(t, "the timed-out producer commits", endTxn(t, c, 3, "rs", pid, ep, true), kerr.ProducerFenced)
}

// TestTxnACL: the transactional id is a resource (DESCRIBE to find its
// coordinator and describe it, WRITE to use it), topics need WRITE to be
// added, groups READ, and the batched broker form of AddPartitionsToTxn
// CLUSTER_ACTION.
func TestTxnACL(t *testing.T) {
	e := startAuthServer(t)
	e.createTopics(t, "orders")
	c := e.dial(t)
	txnR := kmsg.ACLResourceTypeTransactionalId
	fc := kmsg.NewPtrFindCoordinatorRequest()
	fc.CoordinatorKey, fc.CoordinatorType = "tx", 1
	wantCode(t, "find coordinator without DESCRIBE", c.doAs("bob", fc, 3).(*kmsg.FindCoordinatorResponse).ErrorCode, kerr.TransactionalIDAuthorizationFailed)
	id := "tx"
	ireq := kmsg.NewPtrInitProducerIDRequest()
	ireq.TransactionalID, ireq.TransactionTimeoutMillis, ireq.ProducerID, ireq.ProducerEpoch = &id, 10_000, -1, -1
	wantCode(t, "init without WRITE", c.doAs("bob", ireq, 4).(*kmsg.InitProducerIDResponse).ErrorCode, kerr.TransactionalIDAuthorizationFailed)
	e.grant(t, "bob", txnR, "tx", litACL, kmsg.ACLOperationWrite)
	wantCode(t, "find coordinator with WRITE (implies DESCRIBE)", c.doAs("bob", fc, 3).(*kmsg.FindCoordinatorResponse).ErrorCode, nil)
	ip := c.doAs("bob", ireq, 4).(*kmsg.InitProducerIDResponse)
	wantCode(t, "init", ip.ErrorCode, nil)
	ap := kmsg.NewPtrAddPartitionsToTxnRequest()
	ap.TransactionalID, ap.ProducerID, ap.ProducerEpoch = "tx", ip.ProducerID, ip.ProducerEpoch
	ap.Topics = []kmsg.AddPartitionsToTxnRequestTopic{{Topic: "orders", Partitions: []int32{0}}}
	wantCode(t, "add a topic without WRITE", c.doAs("bob", ap, 3).(*kmsg.AddPartitionsToTxnResponse).Topics[0].Partitions[0].ErrorCode, kerr.TopicAuthorizationFailed)
	e.grant(t, "bob", topicR, "orders", litACL, kmsg.ACLOperationWrite)
	wantCode(t, "add", c.doAs("bob", ap, 3).(*kmsg.AddPartitionsToTxnResponse).Topics[0].Partitions[0].ErrorCode, nil)
	ao := kmsg.NewPtrAddOffsetsToTxnRequest()
	ao.TransactionalID, ao.ProducerID, ao.ProducerEpoch, ao.Group = "tx", ip.ProducerID, ip.ProducerEpoch, "g"
	wantCode(t, "add offsets without READ on the group", c.doAs("bob", ao, 3).(*kmsg.AddOffsetsToTxnResponse).ErrorCode, kerr.GroupAuthorizationFailed)
	pr := produceReq("orders", 0, -1, mkBatch("x"))
	other := "other"
	pr.TransactionID = &other
	wantCode(t, "produce with a transactional id not WRITE-able", c.doAs("bob", pr, 9).(*kmsg.ProduceResponse).Topics[0].Partitions[0].ErrorCode, kerr.TransactionalIDAuthorizationFailed)
	v4 := kmsg.NewPtrAddPartitionsToTxnRequest()
	v4.Transactions = []kmsg.AddPartitionsToTxnRequestTransaction{{TransactionalID: "tx", ProducerID: ip.ProducerID, ProducerEpoch: ip.ProducerEpoch, VerifyOnly: true}}
	wantCode(t, "broker form without CLUSTER_ACTION", c.doAs("bob", v4, 4).(*kmsg.AddPartitionsToTxnResponse).ErrorCode, kerr.ClusterAuthorizationFailed)
	end := kmsg.NewPtrEndTxnRequest()
	end.TransactionalID, end.ProducerID, end.ProducerEpoch, end.Commit = "tx", ip.ProducerID, ip.ProducerEpoch, true
	wantCode(t, "end as another user", c.doAs("eve", end, 3).(*kmsg.EndTxnResponse).ErrorCode, kerr.TransactionalIDAuthorizationFailed)
	wantCode(t, "end", c.doAs("bob", end, 3).(*kmsg.EndTxnResponse).ErrorCode, nil)
	dt := kmsg.NewPtrDescribeTransactionsRequest()
	dt.TransactionalIDs = []string{"tx"}
	wantCode(t, "describe without DESCRIBE", c.doAs("eve", dt, 0).(*kmsg.DescribeTransactionsResponse).TransactionStates[0].ErrorCode, kerr.TransactionalIDAuthorizationFailed)
	wantCode(t, "describe", c.doAs("bob", dt, 0).(*kmsg.DescribeTransactionsResponse).TransactionStates[0].ErrorCode, nil)
	lt := kmsg.NewPtrListTransactionsRequest()
	lt.DurationFilterMillis = -1
	if n := len(c.doAs("eve", lt, 1).(*kmsg.ListTransactionsResponse).TransactionStates); n != 0 {
		t.Fatalf("eve lists %d transactions", n)
	}
	if n := len(c.doAs("bob", lt, 1).(*kmsg.ListTransactionsResponse).TransactionStates); n != 1 {
		t.Fatalf("bob lists %d transactions", n)
	}
	dp := kmsg.NewPtrDescribeProducersRequest()
	dp.Topics = []kmsg.DescribeProducersRequestTopic{{Topic: "orders", Partitions: []int32{0}}}
	wantCode(t, "describe producers without READ", c.doAs("eve", dp, 0).(*kmsg.DescribeProducersResponse).Topics[0].Partitions[0].ErrorCode, kerr.TopicAuthorizationFailed)
}

// TestTxnKgoFencing: a second producer with the same transactional id fences
// the first: the first's open transaction is aborted (its records never
// reach read_committed consumers) and its next requests fail.
func TestTxnKgoFencing(t *testing.T) {
	e := startServer(t, testConfig())
	if _, err := e.l.CreateTopic("fence", 1, nil); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	old := kgoTxnClient(t, e.addr, "fence-tx", kgo.DefaultProduceTopic("fence"))
	if err := old.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	if err := old.ProduceSync(ctx, kgo.StringRecord("zombie")).FirstErr(); err != nil {
		t.Fatal(err)
	}
	// The new instance: its InitProducerId aborts the old transaction.
	cur := kgoTxnClient(t, e.addr, "fence-tx", kgo.DefaultProduceTopic("fence"))
	if err := cur.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	if err := cur.ProduceSync(ctx, kgo.StringRecord("live")).FirstErr(); err != nil {
		t.Fatalf("new instance produce: %v", err)
	}
	if err := cur.EndTransaction(ctx, kgo.TryCommit); err != nil {
		t.Fatalf("new instance commit: %v", err)
	}
	err := old.EndTransaction(ctx, kgo.TryCommit)
	if err == nil {
		t.Fatal("the fenced producer committed")
	}
	if !errors.Is(err, kerr.ProducerFenced) && !errors.Is(err, kerr.InvalidProducerEpoch) {
		t.Fatalf("fenced producer's commit: %v, want PRODUCER_FENCED or INVALID_PRODUCER_EPOCH", err)
	}
	// The zombie's record comes first in the log: a read_committed reader
	// must skip it.
	got := consumeAll(t, e.addr, "fence", kgo.ReadCommitted(), 1)
	if fmt.Sprint(got) != "[live]" {
		t.Fatalf("read_committed: %v", got)
	}
}

// TestTxnHostileInput: requests naming what does not exist, or out of
// range, get a clear error code and change nothing.
func TestTxnHostileInput(t *testing.T) {
	e := startServer(t, testConfig())
	c := e.dial(t)
	if _, err := e.l.CreateTopic("h", 1, nil); err != nil {
		t.Fatal(err)
	}
	wantCode(t, "end of an unknown transactional id", endTxn(t, c, 3, "ghost", 1, 0, true), kerr.InvalidProducerIDMapping)
	wantCode(t, "end of an empty transactional id", endTxn(t, c, 3, "", 1, 0, true), kerr.InvalidRequest)
	wantCode(t, "add for an empty transactional id", addParts(t, c, 3, "", 1, 0, "h", 0)[0], kerr.InvalidRequest)
	wantCode(t, "add for an unknown transactional id", addParts(t, c, 3, "ghost", 1, 0, "h", 0)[0], kerr.InvalidProducerIDMapping)
	ip := initTxn(t, c, "h", 5, 10_000, -1, -1)
	wantCode(t, "init", ip.ErrorCode, nil)
	pid, ep := ip.ProducerID, ip.ProducerEpoch
	wantCode(t, "negative partition", addParts(t, c, 3, "h", pid, ep, "h", -1)[0], kerr.UnknownTopicOrPartition)
	wantCode(t, "invalid topic name", addParts(t, c, 3, "h", pid, ep, "a b", 0)[0], kerr.UnknownTopicOrPartition)
	wantCode(t, "another producer's id", addParts(t, c, 3, "h", pid+1, ep, "h", 0)[0], kerr.InvalidProducerIDMapping)
	wantCode(t, "a future epoch", addParts(t, c, 3, "h", pid, ep+5, "h", 0)[0], kerr.ProducerFenced)
	wantCode(t, "half a producer (v3+)", initTxn(t, c, "h", 4, 10_000, pid, -1).ErrorCode, kerr.InvalidRequest)
	wantCode(t, "negative timeout", initTxn(t, c, "h", 4, -1, -1, -1).ErrorCode, kerr.InvalidTransactionTimeout)
	tc := kmsg.NewPtrTxnOffsetCommitRequest()
	tc.TransactionalID, tc.Group, tc.ProducerID, tc.ProducerEpoch, tc.Generation = "h", "g", pid, ep, -1
	long := string(make([]byte, maxOffsetMetadata+1))
	tc.Topics = []kmsg.TxnOffsetCommitRequestTopic{
		{Topic: "h", Partitions: []kmsg.TxnOffsetCommitRequestTopicPartition{{Partition: 0, Offset: -3}, {Partition: 5, Offset: 1}, {Partition: 0, Offset: 1, Metadata: &long}}},
		{Topic: "nope", Partitions: []kmsg.TxnOffsetCommitRequestTopicPartition{{Partition: 0, Offset: 1}}},
	}
	tr := c.do(tc, 3).(*kmsg.TxnOffsetCommitResponse)
	wantCode(t, "negative offset", tr.Topics[0].Partitions[0].ErrorCode, kerr.OffsetOutOfRange)
	wantCode(t, "unknown partition", tr.Topics[0].Partitions[1].ErrorCode, kerr.UnknownTopicOrPartition)
	wantCode(t, "metadata too large", tr.Topics[0].Partitions[2].ErrorCode, kerr.OffsetMetadataTooLarge)
	wantCode(t, "unknown topic", tr.Topics[1].Partitions[0].ErrorCode, kerr.UnknownTopicOrPartition)
	tc.Group = ""
	wantCode(t, "empty group", c.do(tc, 3).(*kmsg.TxnOffsetCommitResponse).Topics[0].Partitions[0].ErrorCode, kerr.InvalidGroupID)
	// Nothing of that changed the transactional id.
	if info, ok := e.s.txn.Describe("h"); !ok || info.State != "Empty" || len(info.Partitions) != 0 || len(info.Groups) != 0 {
		t.Fatalf("after hostile requests: %+v", info)
	}
	if _, ok := e.s.txn.Describe("ghost"); ok {
		t.Fatal("a hostile request created a transactional id")
	}
	// The server still serves.
	wantCode(t, "add", addParts(t, c, 3, "h", pid, ep, "h", 0)[0], nil)
	wantCode(t, "abort", endTxn(t, c, 3, "h", pid, ep, false), nil)
}

// txnEnded reads zombi_transactions_ended_total{result} from the process's
// registry.
func txnEnded(t *testing.T, result string) float64 {
	t.Helper()
	mfs, err := metrics.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != "zombi_transactions_ended_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "result" && l.GetValue() == result {
					return m.GetCounter().GetValue()
				}
			}
		}
	}
	return 0
}
