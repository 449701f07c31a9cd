package e2e_test

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/sasl/scram"

	"github.com/zombi-dev/zombi/internal/clustertest"
	"github.com/zombi-dev/zombi/internal/zombitest"
	"github.com/zombi-dev/zombi/tlsconf"
)

// Node-to-node security (issue 19; Kafka's inter.broker.listener.name and
// the broker's own credentials): three nodes whose only listener is
// SASL_SSL, ACLs on, the inter-node user "node" a superuser. The nodes
// replicate, send transaction markers and verify transactional produce to
// each other through that listener; clients are judged as on one node.
const (
	nodeUser, nodePW       = "node", "node-secret-pw"
	mallory, malloryPW     = "mallory", "mallory-pw"
	secureAdmin, secureAPW = "admin", "admin-secret-pw"
)

// secureCluster starts the cluster; addrs are the nodes' SASL_SSL
// addresses, tc the clients' TLS (trusting the test CA).
func secureCluster(t *testing.T) (c *clustertest.Cluster, addrs map[int32]string, tc *tls.Config) {
	t.Helper()
	ca, err := tlsconf.NewDevCA()
	if err != nil {
		t.Fatal(err)
	}
	// One certificate for every node, server and client at once: the
	// nodes present it to each other too.
	pair, err := ca.Issue(tlsconf.IssueOptions{CommonName: "zombi-node", Hosts: []string{"127.0.0.1", "localhost"}, Server: true, Client: true})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	caFile, certFile, keyFile := filepath.Join(dir, "ca.pem"), filepath.Join(dir, "node.pem"), filepath.Join(dir, "node-key.pem")
	if err := os.WriteFile(caFile, ca.CertPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := pair.Write(certFile, keyFile); err != nil {
		t.Fatal(err)
	}
	if tc, err = ca.ClientConfig(nil); err != nil {
		t.Fatal(err)
	}
	addrs = map[int32]string{}
	for id := int32(1); id <= 3; id++ {
		port, err := zombitest.FreePort()
		if err != nil {
			t.Fatal(err)
		}
		addrs[id] = fmt.Sprintf("127.0.0.1:%d", port)
	}
	c = clustertest.Start(t, clustertest.Options{
		Env: []string{
			"ZOMBI_TLS_CERT_FILE=" + certFile, "ZOMBI_TLS_KEY_FILE=" + keyFile, "ZOMBI_INTER_NODE_CA_FILE=" + caFile,
			"ZOMBI_AUTHORIZATION=on", "ZOMBI_SUPERUSERS=" + secureAdmin + "," + nodeUser,
			"ZOMBI_BOOTSTRAP_USERS=" + secureAdmin + ":" + secureAPW + "," + nodeUser + ":" + nodePW + "," + mallory + ":" + malloryPW,
			"ZOMBI_INTER_NODE_LISTENER=SASL_SSL", "ZOMBI_INTER_NODE_USER=" + nodeUser, "ZOMBI_INTER_NODE_PASSWORD=" + nodePW,
			"ZOMBI_FAILED_AUTH_DELAY_MS=1",
		},
		EnvFor:  func(id int32) []string { return []string{"ZOMBI_KAFKA_LISTENERS=SASL_SSL://" + addrs[id]} },
		KgoOpts: secureOpts(tc, secureAdmin, secureAPW),
	})
	return c, addrs, tc
}

// produceWithin produces r and waits at most d: an acks=all write that no
// follower replicates (wrong inter-node credentials) is otherwise waited
// for beyond the producer's delivery timeout.
func produceWithin(ctx context.Context, cl *kgo.Client, d time.Duration, r *kgo.Record) error {
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	done := make(chan error, 1)
	cl.Produce(ctx, r, func(_ *kgo.Record, err error) { done <- err })
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		return fmt.Errorf("not acknowledged within %s (are the followers replicating? see the nodes' logs)", d)
	}
}

func secureOpts(tc *tls.Config, user, pw string) []kgo.Opt {
	return []kgo.Opt{kgo.DialTLSConfig(tc.Clone()), kgo.SASL(scram.Auth{User: user, Pass: pw}.AsSha512Mechanism())}
}

// onNode is a client of the one node at addr as user.
func onNode(t *testing.T, tc *tls.Config, addr, user, pw string) *kgo.Client {
	t.Helper()
	cl, err := kgo.NewClient(append(secureOpts(tc, user, pw), kgo.SeedBrokers(addr), kgo.DialTimeout(2*time.Second), kgo.RequestRetries(0))...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return cl
}

func TestClusterSecureInterNode(t *testing.T) {
	const partitions = 3
	start := time.Now()
	c, addrs, tc := secureCluster(t)
	t.Logf("three SASL_SSL nodes ready in %s", time.Since(start).Round(time.Millisecond))
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	adm := c.Admin(t)
	minISR := "2"
	if resp, err := adm.CreateTopic(ctx, partitions, 3, map[string]*string{"min.insync.replicas": &minISR}, txnTopic); err != nil || resp.Err != nil {
		t.Fatalf("CreateTopic: %v %v", err, resp.Err)
	}
	leaders := map[int32]int32{}
	for p := int32(0); p < partitions; p++ {
		leaders[p] = c.WaitISR(t, txnTopic, p, 3).Leader
	}

	// acks=all with min.insync.replicas=2: the followers must fetch over
	// SASL_SSL as the inter-node user for these to succeed.
	pcl := c.Client(t, kgo.RecordPartitioner(kgo.ManualPartitioner()), kgo.DefaultProduceTopic(txnTopic), kgo.RequiredAcks(kgo.AllISRAcks()),
		kgo.RecordDeliveryTimeout(20*time.Second))
	for p := int32(0); p < partitions; p++ {
		for i := range 5 {
			if err := produceWithin(ctx, pcl, 20*time.Second, &kgo.Record{Partition: p, Value: fmt.Appendf(nil, "plain-%d-p%d", i, p)}); err != nil {
				t.Fatalf("acks=all produce to p%d (leader %d): %v\n%s", p, leaders[p], err, c.Logs())
			}
		}
	}
	ends, err := adm.ListEndOffsets(ctx, txnTopic)
	if err != nil {
		t.Fatal(err)
	}
	for p := int32(0); p < partitions; p++ {
		if o, _ := ends.Lookup(txnTopic, p); o.Offset != 5 {
			t.Errorf("p%d high watermark %d after 5 acks=all records, want 5", p, o.Offset)
		}
		c.WaitISR(t, txnTopic, p, 3)
	}

	// A transaction across partitions led by different nodes: its
	// coordinator verifies produce and sends markers to the others.
	spread := map[int32]bool{}
	for _, l := range leaders {
		spread[l] = true
	}
	if len(spread) < 2 {
		t.Logf("leaders %v: all on one node, markers stay local", leaders)
	}
	tcl := txnProducer(t, c, "secure-tx")
	if err := txnRound(ctx, t, tcl, "sc1", partitions, true); err != nil {
		t.Fatalf("commit sc1: %v\n%s", err, c.Logs())
	}
	got := readCommitted(ctx, t, c, partitions, "sentinel-sec")
	for _, w := range want(partitions, "sc1") {
		if !slices.Contains(got, w) {
			t.Fatalf("read_committed: %q missing (markers between nodes not written?); got %v", w, got)
		}
	}

	// A consumer group commits (the group coordinator's replicated
	// partition, written through the inter-node listener's followers).
	gcl := c.Client(t, kgo.ConsumerGroup("secure-g"), kgo.ConsumeTopics(txnTopic), kgo.DisableAutoCommit(),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	n := 0
	for n < partitions*5 && ctx.Err() == nil {
		gcl.PollFetches(ctx).EachRecord(func(*kgo.Record) { n++ })
	}
	if err := gcl.CommitUncommittedOffsets(ctx); err != nil {
		t.Fatalf("group commit: %v", err)
	}
	offs, err := adm.FetchOffsets(ctx, "secure-g")
	if err != nil || offs.Error() != nil {
		t.Fatalf("FetchOffsets: %v %v", err, offs.Error())
	}
	committed := int64(0)
	offs.Each(func(o kadm.OffsetResponse) { committed += o.At })
	if committed < int64(n) {
		t.Errorf("group secure-g committed %d in all after %d records read, want at least %d", committed, n, n)
	}

	// A wrong password is refused by every node.
	for id, addr := range addrs {
		cl := onNode(t, tc, addr, secureAdmin, "wrong-pw")
		req := kmsg.NewPtrMetadataRequest()
		if _, err := req.RequestWith(ctx, cl.SeedBrokers()[0]); err == nil || !errors.Is(err, kerr.SaslAuthenticationFailed) {
			t.Errorf("node %d: a wrong password: %v, want SASL_AUTHENTICATION_FAILED", id, err)
		}
	}

	// mallory may READ the topic but has no CLUSTER_ACTION: a fetch as a
	// replica and WriteTxnMarkers are refused and change nothing.
	acl := kadm.NewACLs().Allow("User:"+mallory).Topics(txnTopic).Operations(kadm.OpRead, kadm.OpDescribe).ResourcePatternType(kadm.ACLPatternLiteral)
	if res, err := adm.CreateACLs(ctx, acl); err != nil || len(res) == 0 || res[0].Err != nil {
		t.Fatalf("CreateACLs: %v %v", err, res)
	}
	ids := topicIDs(ctx, t, adm)
	leader := c.Leader(t, txnTopic, 0)
	mcl := onNode(t, tc, addrs[leader], mallory, malloryPW)
	fetch := func(replica int32) int16 {
		req := kmsg.NewPtrFetchRequest()
		req.ReplicaID, req.ReplicaState.ID, req.ReplicaState.Epoch = replica, replica, -1
		req.MaxWaitMillis, req.MinBytes, req.MaxBytes = 0, 1, 1<<20
		rt := kmsg.NewFetchRequestTopic()
		rt.Topic, rt.TopicID = txnTopic, ids[txnTopic]
		rp := kmsg.NewFetchRequestTopicPartition()
		rp.Partition, rp.FetchOffset, rp.PartitionMaxBytes, rp.CurrentLeaderEpoch = 0, 0, 1<<20, -1
		rt.Partitions = append(rt.Partitions, rp)
		req.Topics = append(req.Topics, rt)
		// The ACL reaches every node through etcd's watch: retry briefly.
		var code int16
		for range 30 {
			resp, err := req.RequestWith(ctx, mcl.SeedBrokers()[0])
			if err != nil {
				t.Fatalf("fetch as mallory (replica %d): %v", replica, err)
			}
			if code = resp.Topics[0].Partitions[0].ErrorCode; code == 0 || replica >= 0 {
				break
			}
			time.Sleep(100 * time.Millisecond)
		}
		return code
	}
	if code := fetch(-1); code != 0 {
		t.Fatalf("mallory's consumer fetch (READ granted): %v, want no error", kerr.ErrorForCode(code))
	}
	follower := int32(1)
	for follower == leader {
		follower++
	}
	// Kafka answers a follower fetch without CLUSTER_ACTION with
	// TOPIC_AUTHORIZATION_FAILED on every partition.
	if code := fetch(follower); code != kerr.TopicAuthorizationFailed.Code {
		t.Errorf("mallory's fetch as replica %d: %v, want TOPIC_AUTHORIZATION_FAILED", follower, kerr.ErrorForCode(code))
	}
	before, err := adm.ListEndOffsets(ctx, txnTopic)
	if err != nil {
		t.Fatal(err)
	}
	wm := kmsg.NewPtrWriteTxnMarkersRequest()
	m := kmsg.NewWriteTxnMarkersRequestMarker()
	m.ProducerID, m.ProducerEpoch, m.Committed, m.CoordinatorEpoch = 424242, 0, true, 0
	mt := kmsg.NewWriteTxnMarkersRequestMarkerTopic()
	mt.Topic, mt.Partitions = txnTopic, []int32{0}
	m.Topics = append(m.Topics, mt)
	wm.Markers = append(wm.Markers, m)
	wresp, err := wm.RequestWith(ctx, mcl.SeedBrokers()[0])
	if err != nil {
		t.Fatalf("WriteTxnMarkers as mallory: %v", err)
	}
	if code := wresp.Markers[0].Topics[0].Partitions[0].ErrorCode; code != kerr.ClusterAuthorizationFailed.Code {
		t.Errorf("WriteTxnMarkers as mallory: %v, want CLUSTER_AUTHORIZATION_FAILED", kerr.ErrorForCode(code))
	}
	after, err := adm.ListEndOffsets(ctx, txnTopic)
	if err != nil {
		t.Fatal(err)
	}
	b0, _ := before.Lookup(txnTopic, 0)
	a0, _ := after.Lookup(txnTopic, 0)
	if a0.Offset != b0.Offset {
		t.Errorf("p0's end moved %d -> %d after a refused WriteTxnMarkers", b0.Offset, a0.Offset)
	}

	// REST on a node that does not lead the partition forwards to the
	// leader with the user's own credentials: the admin's write is taken,
	// mallory's (no WRITE) and a wrong password's are refused, and the
	// table holds the admin's record only.
	if resp, err := adm.CreateTopic(ctx, 1, 3, nil, "sec-rest"); err != nil || resp.Err != nil {
		t.Fatalf("CreateTopic sec-rest: %v %v", err, resp.Err)
	}
	restLeader := c.WaitISR(t, "sec-rest", 0, 3).Leader
	other := int32(1)
	for other == restLeader {
		other++
	}
	url := c.Node(other).HTTPBase + "/tables/sec-rest"
	for _, tc := range []struct {
		user, pw string
		want     int
	}{{secureAdmin, secureAPW, http.StatusOK}, {mallory, malloryPW, http.StatusForbidden}, {secureAdmin, "wrong-pw", http.StatusUnauthorized}} {
		code, body := rest(t, http.MethodPost, url, tc.user, tc.pw, []byte(`{"payload":"via-`+tc.user+`"}`))
		if code/100 != tc.want/100 || code != tc.want && tc.want != http.StatusOK {
			t.Errorf("POST /tables/sec-rest on node %d (leader %d) as %s: %d %s, want %d", other, restLeader, tc.user, code, body, tc.want)
		}
	}
	rends, err := adm.ListEndOffsets(ctx, "sec-rest")
	if err != nil {
		t.Fatal(err)
	}
	if o, _ := rends.Lookup("sec-rest", 0); o.Offset != 1 {
		t.Errorf("sec-rest holds %d records after one allowed and two refused POSTs, want 1", o.Offset)
	}
	t.Logf("done in %s", time.Since(start).Round(time.Millisecond))
}

// TestClusterSecureInterNodeClientCerts: three nodes whose only listener is
// SSL with client certificates required, ACLs on. Each node presents its
// own certificate (CN zombi-node, a superuser) to the others: replication
// with acks=all works; a client without a certificate is refused by every
// node; one whose certificate another CA signed too.
func TestClusterSecureInterNodeClientCerts(t *testing.T) {
	ca, err := tlsconf.NewDevCA()
	if err != nil {
		t.Fatal(err)
	}
	pair, err := ca.Issue(tlsconf.IssueOptions{CommonName: "zombi-node", Hosts: []string{"127.0.0.1", "localhost"}, Server: true, Client: true})
	if err != nil {
		t.Fatal(err)
	}
	adminCert, err := ca.Client("admin")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	caFile, certFile, keyFile := filepath.Join(dir, "ca.pem"), filepath.Join(dir, "node.pem"), filepath.Join(dir, "node-key.pem")
	if err := os.WriteFile(caFile, ca.CertPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := pair.Write(certFile, keyFile); err != nil {
		t.Fatal(err)
	}
	adminTLS, err := ca.ClientConfig(&adminCert)
	if err != nil {
		t.Fatal(err)
	}
	addrs := map[int32]string{}
	for id := int32(1); id <= 3; id++ {
		port, err := zombitest.FreePort()
		if err != nil {
			t.Fatal(err)
		}
		addrs[id] = fmt.Sprintf("127.0.0.1:%d", port)
	}
	c := clustertest.Start(t, clustertest.Options{
		Env: []string{
			"ZOMBI_TLS_CERT_FILE=" + certFile, "ZOMBI_TLS_KEY_FILE=" + keyFile, "ZOMBI_TLS_CLIENT_CA_FILE=" + caFile,
			"ZOMBI_TLS_CLIENT_AUTH=required", "ZOMBI_AUTHORIZATION=on", "ZOMBI_SUPERUSERS=admin,zombi-node",
		},
		EnvFor:  func(id int32) []string { return []string{"ZOMBI_KAFKA_LISTENERS=SSL://" + addrs[id]} },
		KgoOpts: []kgo.Opt{kgo.DialTLSConfig(adminTLS)},
	})
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	minISR := "2"
	if resp, err := c.Admin(t).CreateTopic(ctx, 1, 3, map[string]*string{"min.insync.replicas": &minISR}, "certs"); err != nil || resp.Err != nil {
		t.Fatalf("CreateTopic: %v %v", err, resp.Err)
	}
	c.WaitISR(t, "certs", 0, 3)
	pcl := c.Client(t, kgo.DefaultProduceTopic("certs"), kgo.RequiredAcks(kgo.AllISRAcks()), kgo.RecordDeliveryTimeout(20*time.Second))
	for i := range 10 {
		if err := produceWithin(ctx, pcl, 20*time.Second, &kgo.Record{Value: fmt.Appendf(nil, "c%d", i)}); err != nil {
			t.Fatalf("acks=all produce: %v\n%s", err, c.Logs())
		}
	}
	c.WaitISR(t, "certs", 0, 3)

	otherCA, err := tlsconf.NewDevCA()
	if err != nil {
		t.Fatal(err)
	}
	strangerCert, err := otherCA.Client("admin")
	if err != nil {
		t.Fatal(err)
	}
	stranger, err := ca.ClientConfig(&strangerCert) // trusts the nodes, signed elsewhere
	if err != nil {
		t.Fatal(err)
	}
	noCert, err := ca.ClientConfig(nil)
	if err != nil {
		t.Fatal(err)
	}
	for id, addr := range addrs {
		for what, tc := range map[string]*tls.Config{"no certificate": noCert, "another CA's certificate": stranger} {
			cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.DialTLSConfig(tc), kgo.DialTimeout(2*time.Second), kgo.RequestRetries(0))
			if err != nil {
				t.Fatal(err)
			}
			req := kmsg.NewPtrMetadataRequest()
			_, err = req.RequestWith(ctx, cl.SeedBrokers()[0])
			cl.Close()
			if err == nil {
				t.Errorf("node %d: a client with %s was served", id, what)
			}
		}
	}
}
