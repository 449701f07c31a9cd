package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/zombi-dev/zombi/internal/icebergread"
	"github.com/zombi-dev/zombi/internal/zombitest"
	eventpb "github.com/zombi-dev/zombi/proto"
	"google.golang.org/protobuf/proto"
)

// logRecord is a record as a Kafka consumer reads it.
type logRecord struct {
	key, value []byte
	headers    []kgo.RecordHeader
	tsMs       int64
}

// consumeAll reads every record of topic from the start with franz-go.
func consumeAll(t *testing.T, brokers, topic string, want int) map[icebergread.PO]logRecord {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers), kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	out := map[icebergread.PO]logRecord{}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for len(out) < want {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("consumed %d of %d records", len(out), want)
		}
		fs.EachRecord(func(r *kgo.Record) {
			out[icebergread.PO{Partition: r.Partition, Offset: r.Offset}] = logRecord{r.Key, r.Value, r.Headers, r.Timestamp.UnixMilli()}
		})
	}
	return out
}

// sameRows wants rows to hold every log record once, with its key, value,
// headers and timestamp, and nothing else.
func sameRows(t *testing.T, reader string, rows []icebergread.Row, log map[icebergread.PO]logRecord) {
	t.Helper()
	byOff, err := icebergread.ByOffset(rows)
	if err != nil {
		t.Fatalf("%s: %v", reader, err)
	}
	if len(byOff) != len(log) {
		t.Fatalf("%s: %d rows, the log has %d records", reader, len(byOff), len(log))
	}
	for po, want := range log {
		got, ok := byOff[po]
		if !ok {
			t.Fatalf("%s: partition %d offset %d missing", reader, po.Partition, po.Offset)
		}
		if !bytes.Equal(got.Key, want.key) || (got.Key == nil) != (want.key == nil) || !bytes.Equal(got.Value, want.value) || got.TimestampMs != want.tsMs {
			t.Fatalf("%s: %d/%d: key %q value %q ts %d, log has key %q value %q ts %d", reader, po.Partition, po.Offset, got.Key, got.Value, got.TimestampMs, want.key, want.value, want.tsMs)
		}
		if len(got.Headers) != len(want.headers) {
			t.Fatalf("%s: %d/%d: %d headers, log has %d", reader, po.Partition, po.Offset, len(got.Headers), len(want.headers))
		}
		for i, h := range want.headers {
			if got.Headers[i].Key != h.Key || !bytes.Equal(got.Headers[i].Value, h.Value) {
				t.Fatalf("%s: %d/%d: header %d is %q=%q, log has %q=%q", reader, po.Partition, po.Offset, i, got.Headers[i].Key, got.Headers[i].Value, h.Key, h.Value)
			}
		}
	}
}

// Records written through both doors (JSON and Protobuf over HTTP, Kafka
// with binary headers and null keys), flushed to the cold tier and dropped
// from the hot one, then more in the hot tier; enabling Iceberg on the
// topic materializes all of it from the log start (backfill over both
// tiers). Three readers that share no code with iceberg-go (hyparquet,
// DuckDB, pyiceberg) read the table from S3, and pyiceberg once more
// through Zombi's REST catalog: each log record exactly once, with its key,
// value, headers and timestamp. `zombi iceberg verify` agrees.
func TestIcebergBothDoorsBackfill(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the real binary, an S3 server and the readers")
	}
	if _, err := icebergread.Python(); err != nil {
		if errors.Is(err, icebergread.ErrUnavailable) {
			t.Skipf("readers not installed (make test-deps): %v", err)
		}
		t.Fatal(err)
	}
	s3 := startS3Server(t)
	env := append(s3.env("both"), "ZOMBI_FLUSH_INTERVAL_SECS=1", "ZOMBI_HOT_RETENTION_SECS=1")
	p := startZombi(t, t.TempDir(), env...)
	base := p.HTTPBase
	resp, err := http.DefaultClient.Do(mustReq(t, http.MethodPut, base+"/tables/orders", `{"partitions":2}`))
	if err != nil || resp.StatusCode != 201 {
		t.Fatalf("create: %v %v", err, resp)
	}
	resp.Body.Close()

	// HTTP, JSON and Protobuf.
	for i := 0; i < 20; i++ {
		body := fmt.Sprintf(`{"payload":{"order":%d,"item":"böök"},"key":"c%d","headers":{"source":"rest","trace":"t%d"}}`, i, i%3, i)
		r, err := http.DefaultClient.Do(mustReq(t, http.MethodPost, base+"/tables/orders", body))
		if err != nil || r.StatusCode/100 != 2 {
			t.Fatalf("POST json: %v %v", err, r)
		}
		r.Body.Close()
	}
	for i := 0; i < 10; i++ {
		msg, err := proto.Marshal(&eventpb.Event{Payload: []byte{0xff, 0x00, byte(i)}, Headers: map[string]string{"source": "protobuf"}, TimestampMs: 1764979200000 + int64(i)})
		if err != nil {
			t.Fatal(err)
		}
		req, _ := http.NewRequest(http.MethodPost, base+"/tables/orders", bytes.NewReader(msg))
		req.Header.Set("Content-Type", "application/x-protobuf")
		r, err := http.DefaultClient.Do(req)
		if err != nil || r.StatusCode/100 != 2 {
			t.Fatalf("POST protobuf: %v %v", err, r)
		}
		r.Body.Close()
	}
	// Kafka: binary headers, null keys, an empty value, explicit times.
	cl, err := kgo.NewClient(kgo.SeedBrokers(p.KafkaAddr), kgo.DefaultProduceTopic("orders"), kgo.RecordPartitioner(kgo.RoundRobinPartitioner()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	produce := func(from, n int) {
		for i := from; i < from+n; i++ {
			r := &kgo.Record{Value: []byte(fmt.Sprintf("kafka-%d", i)), Timestamp: time.UnixMilli(1765065600000 + int64(i)*1000),
				Headers: []kgo.RecordHeader{{Key: "bin", Value: []byte{0xff, 0, byte(i)}}, {Key: "empty", Value: []byte{}}}}
			if i%2 == 0 {
				r.Key = []byte(fmt.Sprintf("k%d", i))
			}
			if i%7 == 0 {
				r.Value = []byte{}
			}
			if err := cl.ProduceSync(context.Background(), r).FirstErr(); err != nil {
				t.Fatal(err)
			}
		}
	}
	produce(0, 30)

	// Flushed to S3 and dropped from the hot tier.
	deadline := time.Now().Add(60 * time.Second)
	for {
		var info struct {
			Offsets []struct {
				HotStart      int64 `json:"hot_start"`
				HighWatermark int64 `json:"high_watermark"`
			} `json:"partition_offsets"`
		}
		r, err := http.Get(base + "/tables/orders/info")
		if err == nil {
			_ = json.NewDecoder(r.Body).Decode(&info)
			r.Body.Close()
		}
		if len(info.Offsets) == 2 && info.Offsets[0].HotStart == info.Offsets[0].HighWatermark && info.Offsets[1].HotStart == info.Offsets[1].HighWatermark {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("hot tier not emptied into the cold one within 60 s: %+v", info)
		}
		time.Sleep(200 * time.Millisecond)
	}
	produce(30, 10) // and some in the hot tier only

	r, err := http.DefaultClient.Do(mustReq(t, http.MethodPatch, base+"/tables/orders/configs", `{"set":{"zombi.iceberg.enable":"true","zombi.iceberg.commit.interval.ms":"300"}}`))
	if err != nil || r.StatusCode != 200 {
		t.Fatalf("enable: %v %v", err, r)
	}
	r.Body.Close()
	st := waitIcebergCaughtUp(t, base, "orders", 70)
	if !strings.HasPrefix(st.Location, "s3://both/iceberg/zombi/orders") {
		t.Fatalf("table location %s", st.Location)
	}

	log := consumeAll(t, p.KafkaAddr, "orders", 70)
	s3cfg := &icebergread.S3Config{Endpoint: "http://" + s3.addr, Region: "us-east-1", AccessKey: "testkey", SecretKey: "testsecret123"}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	all, err := icebergread.ReadAll(ctx, st.Location, s3cfg)
	if errors.Is(err, icebergread.ErrUnavailable) {
		t.Skipf("a reader is not installed (make test-deps): %v", err)
	}
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range slices.Sorted(maps.Keys(all)) {
		sameRows(t, name, all[name], log)
	}
	rest, err := icebergread.ReadPyIcebergREST(ctx, base+"/iceberg", "zombi.orders", s3cfg)
	if err != nil {
		t.Fatal(err)
	}
	sameRows(t, "pyiceberg through the REST catalog", rest, log)

	bin, err := zombitest.Binary()
	if err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(bin, "iceberg", "verify", "orders", "--api", base).CombinedOutput()
	if err != nil || strings.Count(string(out), " ok\n") != 2 {
		t.Fatalf("zombi iceberg verify: %v\n%s", err, out)
	}
	t.Logf("%d records (%d readers and the REST catalog) exactly once; %d files, %d bytes", len(log), len(all), st.Files, st.Bytes)
}
