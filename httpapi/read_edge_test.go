package httpapi

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	plog "github.com/zombi-dev/zombi/log"
)

// downCold is a cold tier that holds offsets [0, 5) of every partition but
// cannot be read (S3 down).
type downCold struct{}

func (downCold) Bounds(string, int32) (int64, int64, bool) { return 0, 5, true }
func (downCold) Read(context.Context, string, int32, int64, int) ([]plog.Batch, error) {
	return nil, errors.New("connection refused")
}
func (downCold) StartForTimestamp(context.Context, string, int32, int64) (int64, bool, error) {
	return 0, false, errors.New("connection refused")
}

// With the cold tier down, the merged read returns the hot records and says
// so; a read that needs cold data answers 503; a full hot tier refuses writes
// with 503.
func TestColdTierDown(t *testing.T) {
	e := newEnv(t, Config{DefaultPartitions: 1})
	if _, _, err := e.log.EnsureTopic("t", 1); err != nil {
		t.Fatal(err)
	}
	if err := e.log.ResetEmpty("t", 0, 5); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"a", "b"} {
		if code, body := e.doJSON("POST", "/tables/t", `{"payload":"`+p+`"}`); code != http.StatusAccepted {
			t.Fatalf("write: %d %v", code, body)
		}
	}
	e.log.SetColdTier(downCold{})
	code, body := e.doJSON("GET", "/tables/t", "")
	if code != 200 || body["partial"] != true || body["count"].(interface{ String() string }).String() != "2" ||
		!strings.Contains(body["warning"].(string), "cold tier unavailable") {
		t.Fatalf("merged read with the cold tier down: %d %v", code, body)
	}
	if code, body := e.doJSON("GET", "/tables/t?partition=0&offset=0", ""); code != http.StatusServiceUnavailable {
		t.Fatalf("partition read of cold offsets: %d %v", code, body)
	}
	if code, body := e.doJSON("GET", "/tables/t?partition=0&offset=5", ""); code != 200 || body["count"].(interface{ String() string }).String() != "2" {
		t.Fatalf("partition read of hot offsets: %d %v", code, body)
	}
	e.log.SetAppendGate(func(string, int32) error { return plog.ErrHotTierFull })
	if code, body := e.doJSON("POST", "/tables/t", `{"payload":"c"}`); code != http.StatusServiceUnavailable || !strings.Contains(body["error"].(string), "hot tier full") {
		t.Fatalf("write with the hot tier full: %d %v", code, body)
	}
	if got := e.hwms("t"); got[0] != 7 {
		t.Fatalf("hwm %v", got)
	}
}

// has_more says a record matching since was left out, not that records
// older than since follow; a partition read with both offset and since
// starts where the time index says since begins.
func TestHasMoreCountsOnlyMatchingRecords(t *testing.T) {
	e := newEnv(t, Config{DefaultPartitions: 1})
	for _, ts := range []int{100, 200, 50} {
		if code, body := e.doJSON("POST", "/tables/t", fmt.Sprintf(`{"payload":"x","timestamp_ms":%d}`, ts)); code != http.StatusAccepted {
			t.Fatalf("write: %d %v", code, body)
		}
	}
	for _, q := range []string{"/tables/t?since=100&limit=2", "/tables/t?partition=0&since=100&limit=2", "/tables/t?partition=0&offset=0&since=100&limit=2"} {
		code, body := e.doJSON("GET", q, "")
		if code != 200 || body["has_more"] != false || body["count"].(interface{ String() string }).String() != "2" {
			t.Errorf("%s: %d %v", q, code, body)
		}
	}
	for _, ts := range []int{300, 400} {
		e.doJSON("POST", "/tables/t", fmt.Sprintf(`{"payload":"x","timestamp_ms":%d}`, ts))
	}
	code, body := e.doJSON("GET", "/tables/t?partition=0&offset=0&since=250&limit=1", "")
	recs, _ := body["records"].([]any)
	if code != 200 || len(recs) != 1 || body["has_more"] != true || recs[0].(map[string]any)["offset"].(interface{ String() string }).String() != "3" {
		t.Fatalf("offset+since: %d %v", code, body)
	}
}

// A read stops at its byte budget with has_more, whatever the limit.
func TestReadStopsAtByteBudget(t *testing.T) {
	e := newEnv(t, Config{DefaultPartitions: 1})
	old := maxReadBytes
	maxReadBytes = 2500
	defer func() { maxReadBytes = old }()
	big := strings.Repeat("x", 1000)
	for i := 0; i < 10; i++ {
		e.doJSON("POST", "/tables/t", `{"payload":"`+big+`"}`)
	}
	for _, q := range []string{"/tables/t?limit=100", "/tables/t?partition=0&offset=0&limit=100"} {
		code, body := e.doJSON("GET", q, "")
		if code != 200 || body["has_more"] != true || body["count"].(interface{ String() string }).String() != "3" {
			t.Errorf("%s: %d count %v has_more %v", q, code, body["count"], body["has_more"])
		}
	}
}

// A table whose topic has message.timestamp.type=LogAppendTime (set through
// the Kafka door) gets the append time on HTTP writes too, single and bulk, as
// on Kafka produce: reads show it, not the timestamp_ms sent.
func TestWritesTakeLogAppendTime(t *testing.T) {
	e := newEnv(t, Config{DefaultPartitions: 1})
	if _, err := e.log.CreateTopic("lat", 1, map[string]string{"message.timestamp.type": "LogAppendTime"}); err != nil {
		t.Fatal(err)
	}
	before := time.Now().UnixMilli()
	if code, body := e.doJSON("POST", "/tables/lat", `{"payload":"a","timestamp_ms":5}`); code != http.StatusAccepted {
		t.Fatalf("write: %d %v", code, body)
	}
	if code, body := e.doJSON("POST", "/tables/lat/bulk", `{"records":[{"payload":"b","timestamp_ms":6},{"payload":"c"}]}`); code != http.StatusAccepted {
		t.Fatalf("bulk: %d %v", code, body)
	}
	after := time.Now().UnixMilli()
	code, body := e.doJSON("GET", "/tables/lat?partition=0&offset=0", "")
	recs, _ := body["records"].([]any)
	if code != 200 || len(recs) != 3 {
		t.Fatalf("read: %d %v", code, body)
	}
	for _, r := range recs {
		ts, err := strconv.ParseInt(r.(map[string]any)["timestamp_ms"].(interface{ String() string }).String(), 10, 64)
		if err != nil || ts < before || ts > after {
			t.Fatalf("timestamp_ms %v, want the append time in [%d, %d]: %v", r, before, after, body)
		}
	}
}
