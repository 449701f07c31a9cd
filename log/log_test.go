package log

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/zombi-dev/zombi/log/batch"
)

func openTest(t testing.TB, dir string) *Log {
	t.Helper()
	if dir == "" {
		dir = t.TempDir()
	}
	l, err := Open(Options{Dir: dir, SyncWrites: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = l.Close() })
	return l
}

func oneRecord(ts int64, key, value string) []byte {
	b := batch.NewBuilder()
	var k []byte
	if key != "" {
		k = []byte(key)
	}
	b.Add(ts, k, []byte(value), []batch.RecordHeader{{Key: "h", Value: []byte("v")}})
	return append([]byte(nil), b.Bytes()...)
}

func appendOne(t testing.TB, l *Log, topic string, part int32, b []byte) AppendResult {
	t.Helper()
	res := l.Append(context.Background(), []AppendRequest{{Topic: topic, Partition: part, Batch: b}})
	if res[0].Err != nil {
		t.Fatal(res[0].Err)
	}
	return res[0]
}

func readAll(t testing.TB, l *Log, topic string, part int32, from int64) []batch.Record {
	t.Helper()
	var out []batch.Record
	for {
		rr, err := l.Read(topic, part, from, 1<<20)
		if err != nil {
			t.Fatal(err)
		}
		if len(rr.Batches) == 0 {
			return out
		}
		for _, b := range rr.Batches {
			_, recs, err := batch.Records(b.Raw, 0)
			if err != nil {
				t.Fatal(err)
			}
			for _, r := range recs {
				if r.Offset >= from {
					out = append(out, r)
				}
			}
			from = b.LastOffset + 1
		}
	}
}

func TestAppendReadRoundTrip(t *testing.T) {
	l := openTest(t, "")
	if _, err := l.CreateTopic("t", 2, nil); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 10; i++ {
		r := appendOne(t, l, "t", int32(i%2), oneRecord(int64(1000+i), "k", fmt.Sprint("v", i)))
		if want := int64(i / 2); r.BaseOffset != want || r.LastOffset != want {
			t.Fatalf("append %d: offsets %d-%d, want %d", i, r.BaseOffset, r.LastOffset, want)
		}
	}
	recs := readAll(t, l, "t", 1, 0)
	if len(recs) != 5 {
		t.Fatalf("got %d records", len(recs))
	}
	for i, r := range recs {
		if r.Offset != int64(i) || string(r.Value) != fmt.Sprint("v", 2*i+1) || string(r.Key) != "k" || r.Timestamp != int64(1001+2*i) {
			t.Fatalf("record %d: %+v", i, r)
		}
		if len(r.Headers) != 1 || r.Headers[0].Key != "h" || string(r.Headers[0].Value) != "v" {
			t.Fatalf("headers %+v", r.Headers)
		}
	}
	if _, err := l.Read("t", 0, 6, 100); !errors.Is(err, ErrOffsetOutOfRange) {
		t.Fatalf("read past hwm: %v", err)
	}
	if rr, err := l.Read("t", 0, 5, 100); err != nil || len(rr.Batches) != 0 || rr.HighWatermark != 5 {
		t.Fatalf("read at hwm: %+v %v", rr, err)
	}
	if _, err := l.Read("nope", 0, 0, 100); !errors.Is(err, ErrUnknownTopic) {
		t.Fatalf("unknown topic: %v", err)
	}
}

// A producer sends partition leader epoch -1; the stored batch carries the
// log's LeaderEpoch, as a Kafka leader stamps its epoch (the Java consumer
// otherwise sees records without an epoch and commits none), and stays valid.
func TestAppendStampsLeaderEpoch(t *testing.T) {
	l := openTest(t, "")
	if _, err := l.CreateTopic("t", 1, nil); err != nil {
		t.Fatal(err)
	}
	b := oneRecord(1000, "k", "v")
	binary.BigEndian.PutUint32(b[12:], 0xffffffff) // -1, as producers send
	if h, err := batch.Validate(b); err != nil || h.LeaderEpoch != -1 {
		t.Fatalf("produced batch: %+v %v", h, err)
	}
	appendOne(t, l, "t", 0, b)
	rr, err := l.Read("t", 0, 0, 1<<20)
	if err != nil || len(rr.Batches) != 1 {
		t.Fatalf("read: %+v %v", rr, err)
	}
	h, err := batch.Validate(rr.Batches[0].Raw)
	if err != nil || h.LeaderEpoch != LeaderEpoch {
		t.Fatalf("stored batch: leader epoch %d, want %d (%v)", h.LeaderEpoch, LeaderEpoch, err)
	}
}

// A topic with message.timestamp.type=LogAppendTime gets the broker's time
// on every batch, whichever door wrote it; the batch stays valid (new CRC)
// and a CreateTime topic keeps the producer's timestamps.
func TestAppendLogAppendTime(t *testing.T) {
	l := openTest(t, "")
	if _, err := l.CreateTopic("lat", 1, map[string]string{"message.timestamp.type": " LogAppendTime "}); err != nil {
		t.Fatal(err)
	}
	if _, err := l.CreateTopic("ct", 1, nil); err != nil {
		t.Fatal(err)
	}
	before := time.Now().UnixMilli()
	res := l.Append(context.Background(), []AppendRequest{
		{Topic: "lat", Partition: 0, Batch: oneRecord(1000, "k", "v"), Group: 1},
		{Topic: "lat", Partition: 0, Batch: oneRecord(1001, "k", "w"), Group: 1},
		{Topic: "ct", Partition: 0, Batch: oneRecord(1002, "k", "x")},
	})
	after := time.Now().UnixMilli()
	for i, r := range res {
		if r.Err != nil {
			t.Fatalf("append %d: %v", i, r.Err)
		}
	}
	stamp := res[0].LogAppendTime
	if stamp < before || stamp > after || res[1].LogAppendTime != stamp || res[2].LogAppendTime != 0 {
		t.Fatalf("append times %d %d %d, want one time in [%d, %d], then 0", stamp, res[1].LogAppendTime, res[2].LogAppendTime, before, after)
	}
	for topic, want := range map[string][]int64{"lat": {stamp, stamp}, "ct": {1002}} {
		rr, err := l.Read(topic, 0, 0, 1<<20)
		if err != nil {
			t.Fatal(err)
		}
		var got []int64
		for _, b := range rr.Batches {
			h, err := batch.Validate(b.Raw)
			if err != nil {
				t.Fatalf("%s: stored batch: %v", topic, err)
			}
			if logAppend := h.Attributes&batch.TimestampTypeMask != 0; logAppend != (topic == "lat") {
				t.Fatalf("%s: timestamp type bit %v", topic, logAppend)
			}
			_, recs, err := batch.Records(b.Raw, 0)
			if err != nil {
				t.Fatal(err)
			}
			for _, r := range recs {
				got = append(got, r.Timestamp)
			}
		}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("%s: record times %v, want %v", topic, got, want)
		}
	}
}

// INV-1: offsets only grow, are contiguous, and survive a restart.
func TestOffsetsContiguousAcrossRestart(t *testing.T) {
	dir := t.TempDir()
	l, err := Open(Options{Dir: dir, SyncWrites: true})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := l.CreateTopic("t", 1, nil); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	seen := map[int64]bool{}
	for g := 0; g < 16; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 50; i++ {
				r := l.Append(context.Background(), []AppendRequest{{Topic: "t", Batch: oneRecord(1, "", "x")}})[0]
				if r.Err != nil {
					t.Error(r.Err)
					return
				}
				mu.Lock()
				if seen[r.BaseOffset] {
					t.Errorf("offset %d assigned twice", r.BaseOffset)
				}
				seen[r.BaseOffset] = true
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	for i := int64(0); i < 800; i++ {
		if !seen[i] {
			t.Fatalf("offset %d missing", i)
		}
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	l = openTest(t, dir)
	if _, hwm, _ := l.Offsets("t", 0); hwm != 800 {
		t.Fatalf("hwm after restart %d", hwm)
	}
	if r := appendOne(t, l, "t", 0, oneRecord(1, "", "y")); r.BaseOffset != 800 {
		t.Fatalf("offset after restart %d", r.BaseOffset)
	}
}
