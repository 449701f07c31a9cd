package e2e_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/zombi-dev/zombi/internal/clustertest"
)

// icebergStatus is the part of GET /tables/{t}/iceberg the test reads.
type icebergStatus struct {
	Enabled          bool             `json:"enabled"`
	CommittedOffsets map[string]int64 `json:"committed_offsets"`
	Commits          int64            `json:"commits"`
	Records          int64            `json:"records"`
}

func getJSON(t *testing.T, url string, v any) int {
	t.Helper()
	resp, err := restClient.Get(url)
	if err != nil {
		return 0
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusOK {
		if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
			t.Fatalf("GET %s: %v", url, err)
		}
	}
	return resp.StatusCode
}

// committers are the running nodes that committed to topic's table since
// they started, and the table's committed offsets summed (as node id's
// status reads them from the shared warehouse).
func committers(t *testing.T, c *clustertest.Cluster, topic string, ids []int32) (who []int32, committed int64) {
	t.Helper()
	for _, id := range ids {
		var st icebergStatus
		if getJSON(t, c.Node(id).HTTPBase+"/tables/"+topic+"/iceberg", &st) != http.StatusOK {
			continue
		}
		if st.Commits > 0 {
			who = append(who, id)
		}
		var sum int64
		for _, o := range st.CommittedOffsets {
			sum += o
		}
		committed = max(committed, sum)
	}
	return who, committed
}

// TestClusterIcebergOneOwner (issue 19 point 2): a topic materialized to
// Iceberg on a three-node cluster (one warehouse every node shares) is
// committed by one node only; killed with -9, another node takes over and
// the table holds every record exactly once.
func TestClusterIcebergOneOwner(t *testing.T) {
	wh := filepath.Join(t.TempDir(), "warehouse")
	c := clustertest.Start(t, clustertest.Options{Env: []string{"ZOMBI_ICEBERG_WAREHOUSE=" + wh}})
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	const topic = "ice"
	cfg := map[string]*string{"zombi.iceberg.enable": ptr("true"), "zombi.iceberg.commit.interval.ms": ptr("300")}
	if r, err := c.Admin(t).CreateTopic(ctx, 2, 3, cfg, topic); err != nil || r.Err != nil {
		t.Fatalf("create %s: %v %v", topic, err, r.Err)
	}
	for p := range int32(2) {
		c.WaitISR(t, topic, p, 3)
	}
	cl := c.Client(t, kgo.DefaultProduceTopic(topic), kgo.RequiredAcks(kgo.AllISRAcks()))
	produce := func(from, n int) {
		t.Helper()
		recs := make([]*kgo.Record, n)
		for i := range recs {
			recs[i] = &kgo.Record{Key: fmt.Appendf(nil, "k%d", from+i), Value: fmt.Appendf(nil, "v%d", from+i)}
		}
		if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
			t.Fatalf("produce: %v", err)
		}
	}
	produce(0, 200)
	var owner int32
	within(t, 30*time.Second, "the 200 records committed to the table", func() bool {
		who, committed := committers(t, c, topic, c.IDs())
		if len(who) > 1 {
			t.Fatalf("nodes %v all committed to %s's table: more than one owner", who, topic)
		}
		if len(who) == 1 {
			owner = who[0]
		}
		return committed == 200 && owner != 0
	})
	t.Logf("node %d owns %s's table", owner, topic)

	// A topic whose partitions no node holds all of (RF 1, spread) has no
	// owner, and every node says why.
	const spread = "ice-spread"
	if r, err := c.Admin(t).CreateTopic(ctx, 3, 1, cfg, spread); err != nil || r.Err != nil {
		t.Fatalf("create %s: %v %v", spread, err, r.Err)
	}
	for _, id := range c.IDs() {
		within(t, 10*time.Second, fmt.Sprintf("node %d says %s has no node with every partition", id, spread), func() bool {
			log := c.Node(id).Log()
			return strings.Contains(log, "no node holds a replica of every partition") && strings.Contains(log, "topic="+spread)
		})
	}

	// The owner dies: another node takes the table over.
	start := time.Now()
	c.Kill(owner)
	var live []int32
	for _, id := range c.IDs() {
		if id != owner {
			live = append(live, id)
		}
	}
	produce(200, 200)
	var next int32
	within(t, 60*time.Second, "the 400 records committed after the owner's death", func() bool {
		who, committed := committers(t, c, topic, live)
		if len(who) > 1 {
			t.Fatalf("nodes %v all committed to %s's table after the kill: more than one owner", who, topic)
		}
		if len(who) == 1 {
			next = who[0]
		}
		return committed == 400
	})
	t.Logf("node %d took %s's table over; all 400 records committed %s after the kill", next, topic, time.Since(start).Round(time.Millisecond))

	var v struct {
		OK         bool `json:"ok"`
		Partitions []struct {
			Partition     int32    `json:"partition"`
			TableRows     int64    `json:"table_rows"`
			TableDistinct int64    `json:"table_distinct"`
			LogRecords    int64    `json:"log_records"`
			Problems      []string `json:"problems"`
		} `json:"partitions"`
	}
	if code := getJSON(t, c.Node(next).HTTPBase+"/tables/"+topic+"/iceberg/verify", &v); code != http.StatusOK {
		t.Fatalf("verify on node %d: HTTP %d", next, code)
	}
	var rows int64
	for _, p := range v.Partitions {
		if p.TableRows != p.TableDistinct || p.TableRows != p.LogRecords {
			t.Errorf("%s/%d: %d rows, %d distinct offsets, %d log records: %v", topic, p.Partition, p.TableRows, p.TableDistinct, p.LogRecords, p.Problems)
		}
		rows += p.TableRows
	}
	if !v.OK || rows != 400 {
		t.Fatalf("verify: ok %v, %d rows, want ok and 400 (each record once)", v.OK, rows)
	}
}

func ptr(s string) *string { return &s }

// TestClusterIcebergNeedsSharedWarehouse: without a warehouse every node
// shares (no ZOMBI_ICEBERG_WAREHOUSE, no bucket) a cluster materializes
// nothing, and each node says why in its log, naming the topic.
func TestClusterIcebergNeedsSharedWarehouse(t *testing.T) {
	c := clustertest.Start(t, clustertest.Options{Nodes: 2})
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	const topic = "ice-local"
	cfg := map[string]*string{"zombi.iceberg.enable": ptr("true"), "zombi.iceberg.commit.interval.ms": ptr("100")}
	if r, err := c.Admin(t).CreateTopic(ctx, 1, 2, cfg, topic); err != nil || r.Err != nil {
		t.Fatalf("create %s: %v %v", topic, err, r.Err)
	}
	produced := c.Client(t, kgo.DefaultProduceTopic(topic)).ProduceSync(ctx, &kgo.Record{Value: []byte("v")})
	if err := produced.FirstErr(); err != nil {
		t.Fatalf("produce: %v", err)
	}
	for _, id := range c.IDs() {
		within(t, 15*time.Second, fmt.Sprintf("node %d says %s is not materialized", id, topic), func() bool {
			log := c.Node(id).Log()
			return strings.Contains(log, "topic not materialized to Iceberg") && strings.Contains(log, "topic="+topic) &&
				strings.Contains(log, "ZOMBI_ICEBERG_WAREHOUSE")
		})
	}
	for _, id := range c.IDs() {
		var st icebergStatus
		if code := getJSON(t, c.Node(id).HTTPBase+"/tables/"+topic+"/iceberg", &st); code == http.StatusOK && (st.Commits != 0 || st.Records != 0) {
			t.Fatalf("node %d materialized %s into its own directory: %+v", id, topic, st)
		}
	}
}

// commitsOf is node id's commits to topic's table since it started.
func commitsOf(t *testing.T, c *clustertest.Cluster, topic string, id int32) int64 {
	t.Helper()
	var st icebergStatus
	getJSON(t, c.Node(id).HTTPBase+"/tables/"+topic+"/iceberg", &st)
	return st.Commits
}

// TestClusterIcebergPausedOwner: the owner frozen (SIGSTOP) past its lease
// loses the table to another node; resumed, it commits nothing more (it
// lost its lease and waits in line), and every record is in the table
// once.
func TestClusterIcebergPausedOwner(t *testing.T) {
	wh := filepath.Join(t.TempDir(), "warehouse")
	c := clustertest.Start(t, clustertest.Options{Env: []string{"ZOMBI_ICEBERG_WAREHOUSE=" + wh}})
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	const topic = "ice-paused"
	cfg := map[string]*string{"zombi.iceberg.enable": ptr("true"), "zombi.iceberg.commit.interval.ms": ptr("200")}
	if r, err := c.Admin(t).CreateTopic(ctx, 2, 3, cfg, topic); err != nil || r.Err != nil {
		t.Fatalf("create %s: %v %v", topic, err, r.Err)
	}
	for p := range int32(2) {
		c.WaitISR(t, topic, p, 3)
	}
	cl := c.Client(t, kgo.DefaultProduceTopic(topic), kgo.RequiredAcks(kgo.AllISRAcks()))
	produce := func(from, n int) {
		t.Helper()
		recs := make([]*kgo.Record, n)
		for i := range recs {
			recs[i] = &kgo.Record{Value: fmt.Appendf(nil, "v%d", from+i)}
		}
		if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
			t.Fatalf("produce: %v", err)
		}
	}
	produce(0, 100)
	var owner int32
	within(t, 30*time.Second, "the first 100 records committed", func() bool {
		who, committed := committers(t, c, topic, c.IDs())
		if len(who) == 1 {
			owner = who[0]
		}
		return committed == 100 && len(who) == 1
	})
	var others []int32
	for _, id := range c.IDs() {
		if id != owner {
			others = append(others, id)
		}
	}

	c.Pause(owner)
	time.Sleep(3 * 2 * time.Second) // three session timeouts: its leases are gone
	produce(100, 100)
	var next int32
	within(t, 30*time.Second, "200 records committed by another node while the owner is frozen", func() bool {
		who, committed := committers(t, c, topic, others)
		if len(who) == 1 {
			next = who[0]
		}
		return committed == 200 && len(who) == 1
	})
	c.Resume(owner)
	before := commitsOf(t, c, topic, owner)
	produce(200, 100)
	within(t, 30*time.Second, "300 records committed after the resume", func() bool {
		_, committed := committers(t, c, topic, c.IDs())
		return committed == 300
	})
	time.Sleep(time.Second) // a few commit intervals more
	if after := commitsOf(t, c, topic, owner); after != before {
		t.Fatalf("node %d, resumed after losing its lease, committed %d more times (node %d owns the table)", owner, after-before, next)
	}
	var v struct {
		OK         bool `json:"ok"`
		Partitions []struct {
			TableRows     int64 `json:"table_rows"`
			TableDistinct int64 `json:"table_distinct"`
		} `json:"partitions"`
	}
	if code := getJSON(t, c.Node(next).HTTPBase+"/tables/"+topic+"/iceberg/verify", &v); code != http.StatusOK {
		t.Fatalf("verify: HTTP %d", code)
	}
	var rows, distinct int64
	for _, p := range v.Partitions {
		rows += p.TableRows
		distinct += p.TableDistinct
	}
	if !v.OK || rows != 300 || distinct != 300 {
		t.Fatalf("verify: ok %v, %d rows, %d distinct offsets; want ok, 300 and 300", v.OK, rows, distinct)
	}
	t.Logf("node %d frozen, node %d took over; resumed, node %d committed nothing more", owner, next, owner)
}
