package loadgen

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"hash/crc32"
	"io"
	"net"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"
)

func TestParseProfile(t *testing.T) {
	for _, s := range []string{"steady", "Bursty", " SPIKE ", "stress"} {
		if _, err := ParseProfile(s); err != nil {
			t.Errorf("ParseProfile(%q): %v", s, err)
		}
	}
	if _, err := ParseProfile("flat"); err == nil {
		t.Error("ParseProfile(flat) succeeded")
	}
}

func TestSteadySchedule(t *testing.T) {
	s, err := NewSchedule(Steady, 0, 1)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		n    int64
		want time.Duration
	}{{0, 0}, {1, 100 * time.Millisecond}, {10, time.Second}, {600, time.Minute}} {
		if got := s.At(c.n); got != c.want {
			t.Errorf("steady 10/s At(%d) = %v, want %v", c.n, got, c.want)
		}
	}
	s, _ = NewSchedule(Steady, 1000, 1)
	if got := s.At(2500); got != 2500*time.Millisecond {
		t.Errorf("steady 1000/s At(2500) = %v", got)
	}
	if s.Unpaced() {
		t.Error("steady is unpaced")
	}
}

func TestSpikeSchedule(t *testing.T) {
	s, _ := NewSchedule(Spike, 10, 1)
	// A 5 s cycle at 10/s: 20 records in [0,2s), 100 in the spike [2s,3s),
	// 20 in [3s,5s): 140 per cycle.
	for _, c := range []struct {
		n    int64
		want time.Duration
	}{
		{0, 0},
		{19, 1900 * time.Millisecond},
		{20, 2 * time.Second},
		{70, 2500 * time.Millisecond},
		{120, 3 * time.Second},
		{139, 4900 * time.Millisecond},
		{140, 5 * time.Second},
		{140 + 70, 7500 * time.Millisecond},
	} {
		got := s.At(c.n)
		if d := got - c.want; d < -time.Microsecond || d > time.Microsecond {
			t.Errorf("spike At(%d) = %v, want %v", c.n, got, c.want)
		}
	}
	// The rate within the spike is 10x the base rate.
	base := s.At(11) - s.At(10)
	peak := s.At(51) - s.At(50)
	if r := float64(base) / float64(peak); r < 9.99 || r > 10.01 {
		t.Errorf("spike factor %v, want 10", r)
	}
}

func TestBurstySchedule(t *testing.T) {
	s, _ := NewSchedule(Bursty, 0, 42)
	// Walk 100 bursts: sizes 50-200, gaps 0.5-2 s, records of a burst all
	// start together.
	var n int64
	prev := time.Duration(-1)
	for range 100 {
		start := s.At(n)
		if prev >= 0 {
			if gap := start - prev; gap < BurstGapMin || gap > BurstGapMax {
				t.Fatalf("gap %v outside [%v, %v]", gap, BurstGapMin, BurstGapMax)
			}
		}
		size := int64(0)
		for s.At(n+size) == start {
			size++
		}
		if size < BurstMin || size > BurstMax {
			t.Fatalf("burst of %d records", size)
		}
		prev, n = start, n+size
	}
	// Same seed, same schedule; concurrent callers agree.
	s2, _ := NewSchedule(Bursty, 0, 42)
	done := make(chan bool)
	for range 4 {
		go func() {
			ok := true
			for i := int64(0); i < n; i += 7 {
				ok = ok && s2.At(i) == s.At(i)
			}
			done <- ok
		}()
	}
	for range 4 {
		if !<-done {
			t.Fatal("bursty schedules with one seed differ")
		}
	}
	// A rate scales the bursts: mean about that rate.
	fast, _ := NewSchedule(Bursty, 1000, 7)
	end := fast.At(100_000)
	if r := 100_000 / end.Seconds(); r < 700 || r > 1400 {
		t.Errorf("bursty at 1000/s averages %.0f/s", r)
	}
}

func TestStressUnpaced(t *testing.T) {
	s, _ := NewSchedule(Stress, 0, 0)
	if !s.Unpaced() || s.At(1e9) != 0 {
		t.Error("stress is paced")
	}
	if _, err := NewSchedule(Steady, -1, 0); err == nil {
		t.Error("negative rate accepted")
	}
}

func TestClaimer(t *testing.T) {
	c := claimer{limit: 250, batch: 100}
	var sizes []int
	for {
		_, n, ok := c.claim()
		if !ok {
			break
		}
		sizes = append(sizes, n)
	}
	if len(sizes) != 3 || sizes[0] != 100 || sizes[2] != 50 {
		t.Errorf("claims %v, want [100 100 50]", sizes)
	}
}

func TestFormat(t *testing.T) {
	for us, want := range map[int64]string{0: "0µs", 850: "850µs", 1250: "1.25ms", 12_340: "12.3ms", 1_500_000: "1.50s"} {
		if got := FormatMicros(us); got != want {
			t.Errorf("FormatMicros(%d) = %q, want %q", us, got, want)
		}
	}
	for v, want := range map[float64]string{0: "0", 999: "999", 1000: "1,000", 1234567.4: "1,234,567", -4500: "-4,500"} {
		if got := FormatCount(v); got != want {
			t.Errorf("FormatCount(%v) = %q, want %q", v, got, want)
		}
	}
}

func TestLatencyOf(t *testing.T) {
	r := newRecorder()
	for i := 1; i <= 1000; i++ {
		r.record(time.Duration(i) * time.Microsecond)
	}
	r.record(2 * time.Minute) // clamped to the histogram's top
	l := LatencyOf(r.total)
	if l.Count != 1001 || l.P50US < 495 || l.P50US > 505 || l.P99US < 985 || l.P99US > 1000 {
		t.Errorf("latency %+v", l)
	}
	if l.MaxUS < histMax*999/1000 {
		t.Errorf("max %d, want about %d", l.MaxUS, histMax)
	}
	into := newHist()
	r.drainInterval(into)
	if into.TotalCount() != 1001 || r.interval.TotalCount() != 0 {
		t.Error("drainInterval did not move the interval")
	}
}

// fakeTarget acknowledges every op after a short sleep; fail makes op
// number fail (counted from 1) fail.
type fakeTarget struct {
	ops     atomic.Int64
	records atomic.Int64
	fail    int64
	delay   time.Duration
}

func (f *fakeTarget) Name() string { return "fake" }
func (f *fakeTarget) Close() error { return nil }
func (f *fakeTarget) Worker(context.Context, int) (Op, error) {
	return func(ctx context.Context, n int) (int, int64, error) {
		k := f.ops.Add(1)
		if f.delay > 0 {
			time.Sleep(f.delay)
		}
		if k == f.fail {
			return 0, 0, errors.New("boom")
		}
		f.records.Add(int64(n))
		return n, int64(n * 10), nil
	}, nil
}

func TestRunRecords(t *testing.T) {
	f := &fakeTarget{fail: 3}
	res, err := Run(context.Background(), Config{Mode: "fake", Profile: Stress, Records: 1005, Concurrency: 4, Batch: 10, PayloadSize: 10}, f)
	if err != nil {
		t.Fatal(err)
	}
	// 101 ops (100 of 10, one of 5); one failed op of 10 or 5 records.
	if res.Ops != 101 || res.Errors+res.Records != 1005 || res.Records != f.records.Load() || res.FirstError != "boom" {
		t.Errorf("result %+v", res)
	}
	if res.Bytes != res.Records*10 || res.Latency.Count != 100 {
		t.Errorf("bytes %d latency samples %d", res.Bytes, res.Latency.Count)
	}
}

func TestRunDurationPaced(t *testing.T) {
	f := &fakeTarget{}
	var progress bytes.Buffer
	start := time.Now()
	res, err := Run(context.Background(), Config{
		Mode: "fake", Profile: Steady, Rate: 200, Duration: 1200 * time.Millisecond, Concurrency: 3,
		Progress: &progress, ProgressEvery: 500 * time.Millisecond,
	}, f)
	if err != nil {
		t.Fatal(err)
	}
	if el := time.Since(start); el > 2*time.Second {
		t.Errorf("run took %v", el)
	}
	// 200/s for 1.2 s: records 0..240 are due by the end; on a loaded
	// machine the run may end late, and then the records due by then.
	due := max(241, int64(200*res.ElapsedSecs)+1)
	if res.Records < 200 || res.Records > due || res.Errors != 0 {
		t.Errorf("paced run sent %d records (at most %d due after %.2f s), %d errors", res.Records, due, res.ElapsedSecs, res.Errors)
	}
	lines := strings.Split(strings.TrimSpace(progress.String()), "\n")
	if len(lines) < 2 || !strings.Contains(lines[0], "rec/s") {
		t.Errorf("progress:\n%s", progress.String())
	}
}

func TestRunCancel(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	res, err := Run(ctx, Config{Profile: Stress, Duration: time.Hour, Concurrency: 2}, &fakeTarget{delay: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if res.Elapsed > time.Second || res.Records == 0 {
		t.Errorf("cancelled run: %+v", res)
	}
}

func TestConfigValidate(t *testing.T) {
	for _, c := range []Config{
		{Concurrency: 0, Records: 1},
		{Concurrency: 1},
		{Concurrency: 1, Records: 1, Profile: "flat"},
		{Concurrency: 1, Records: -1},
		{Concurrency: 1, Records: 1, PayloadSize: -1},
	} {
		if err := c.Validate(); err == nil {
			t.Errorf("Validate(%+v) accepted", c)
		}
	}
}

func TestResultOutput(t *testing.T) {
	res := Result{Mode: "http", Profile: Stress, Target: "http://x/tables/t", Concurrency: 16, Batch: 1, PayloadSize: 100,
		Records: 50_000, Bytes: 5_000_000, Ops: 50_000, Elapsed: 5 * time.Second,
		Latency: Latency{Count: 50_000, MeanUS: 1500, P50US: 1200, P99US: 4100, P999US: 9000, MaxUS: 21_000}}
	res.finish()
	var tbl bytes.Buffer
	if err := res.WriteTable(&tbl); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"10,000 records/s", "1.00 MB/s", "p50 1.20ms", "p99 4.10ms", "p99.9 9.00ms", "max 21.0ms"} {
		if !strings.Contains(tbl.String(), want) {
			t.Errorf("table lacks %q:\n%s", want, tbl.String())
		}
	}
	var js bytes.Buffer
	if err := res.WriteJSON(&js); err != nil {
		t.Fatal(err)
	}
	var back map[string]any
	if err := json.Unmarshal(js.Bytes(), &back); err != nil {
		t.Fatal(err)
	}
	if back["records_per_sec"].(float64) != 10_000 || back["latency"].(map[string]any)["p999_us"].(float64) != 9000 {
		t.Errorf("json: %s", js.String())
	}
}

func TestPayload(t *testing.T) {
	a, b := Payload(100, 1), Payload(100, 2)
	if len(a) != 100 || bytes.Equal(a, b) || !bytes.Equal(a, Payload(100, 1)) {
		t.Error("Payload is not sized, seeded and repeatable")
	}
	for _, c := range a {
		if c < '0' || c > 'z' {
			t.Fatalf("payload byte %q", c)
		}
	}
}

func TestParseAcks(t *testing.T) {
	for in, want := range map[string]Acks{"all": AcksAll, "-1": AcksAll, "leader": AcksLeader, "1": AcksLeader, "NONE": AcksNone, "0": AcksNone} {
		if got, err := ParseAcks(in); err != nil || got != want {
			t.Errorf("ParseAcks(%q) = %v, %v", in, got, err)
		}
	}
	if _, err := ParseAcks("2"); err == nil {
		t.Error("acks 2 accepted")
	}
}

// TestAppendBatch decodes the wire client's record batch with kmsg and
// checks every field a broker validates.
func TestAppendBatch(t *testing.T) {
	vals := [][]byte{[]byte("a"), bytes.Repeat([]byte("b"), 300), {}}
	raw := appendBatch([]byte("junk"), 42, 3, 7, 1700000000123, vals)[4:]
	var b kmsg.RecordBatch
	if err := b.ReadFrom(raw); err != nil {
		t.Fatal(err)
	}
	if int(b.Length) != len(raw)-12 || b.Magic != 2 || b.PartitionLeaderEpoch != -1 || b.Attributes != 0 {
		t.Errorf("header: %+v", b)
	}
	if b.ProducerID != 42 || b.ProducerEpoch != 3 || b.FirstSequence != 7 || b.NumRecords != 3 || b.LastOffsetDelta != 2 ||
		b.FirstTimestamp != 1700000000123 || b.MaxTimestamp != 1700000000123 {
		t.Errorf("batch fields: %+v", b)
	}
	if want := crc32.Checksum(raw[21:], crc32.MakeTable(crc32.Castagnoli)); uint32(b.CRC) != want {
		t.Errorf("crc %x, want %x", uint32(b.CRC), want)
	}
	rest := b.Records
	for i, v := range vals {
		var r kmsg.Record
		n, used := binary.Varint(rest)
		if used <= 0 {
			t.Fatalf("record %d: bad length", i)
		}
		if err := r.ReadFrom(rest[:used+int(n)]); err != nil {
			t.Fatalf("record %d: %v", i, err)
		}
		rest = rest[used+int(n):]
		if r.OffsetDelta != int32(i) || r.Key != nil || !bytes.Equal(r.Value, v) || len(r.Headers) != 0 {
			t.Errorf("record %d: %+v", i, r)
		}
	}
	if len(rest) != 0 {
		t.Errorf("%d bytes after the records", len(rest))
	}
}

// fakeBroker answers ApiVersions, Metadata (one partition) and
// InitProducerId, and never answers Produce.
func fakeBroker(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	serve := func(c net.Conn) {
		defer c.Close()
		for {
			var size [4]byte
			if _, err := io.ReadFull(c, size[:]); err != nil {
				return
			}
			req := make([]byte, binary.BigEndian.Uint32(size[:]))
			if _, err := io.ReadFull(c, req); err != nil {
				return
			}
			key, version := int16(binary.BigEndian.Uint16(req)), int16(binary.BigEndian.Uint16(req[2:]))
			var resp kmsg.Response
			switch key {
			case 18:
				r := kmsg.NewPtrApiVersionsResponse()
				for _, k := range []int16{0, 3, 22} {
					r.ApiKeys = append(r.ApiKeys, kmsg.ApiVersionsResponseApiKey{ApiKey: k, MaxVersion: 4})
				}
				resp = r
			case 3:
				r := kmsg.NewPtrMetadataResponse()
				mt := kmsg.NewMetadataResponseTopic()
				mt.Topic = kmsg.StringPtr("t")
				mt.Partitions = append(mt.Partitions, kmsg.NewMetadataResponseTopicPartition())
				r.Topics = append(r.Topics, mt)
				resp = r
			case 22:
				r := kmsg.NewPtrInitProducerIDResponse()
				r.ProducerID = 7
				resp = r
			default:
				continue // Produce: no answer
			}
			resp.SetVersion(version)
			out := binary.BigEndian.AppendUint32(make([]byte, 4), binary.BigEndian.Uint32(req[4:]))
			if resp.IsFlexible() && key != 18 {
				out = append(out, 0)
			}
			out = resp.AppendTo(out)
			binary.BigEndian.PutUint32(out, uint32(len(out)-4))
			if _, err := c.Write(out); err != nil {
				return
			}
		}
	}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go serve(c)
		}
	}()
	return ln.Addr().String()
}

// TestWireClientCancel: an op blocked on a broker that does not answer
// returns once its context ends, and set-up against a silent broker fails
// after wireSetupTimeout.
func TestWireClientCancel(t *testing.T) {
	target, err := NewKafkaWire(context.Background(), KafkaConfig{Brokers: []string{fakeBroker(t)}, Topic: "t", PayloadSize: 10})
	if err != nil {
		t.Fatal(err)
	}
	defer target.Close()
	op, err := target.Worker(context.Background(), 0)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background()) // no deadline: as Run's op context
	defer cancel()
	time.AfterFunc(200*time.Millisecond, cancel)
	start := time.Now()
	if got, _, err := op(ctx, 1); err == nil || got != 0 {
		t.Fatalf("op against a silent Produce: %d records, err %v", got, err)
	}
	if el := time.Since(start); el > 5*time.Second {
		t.Fatalf("op returned after %v", el)
	}

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		c, err := ln.Accept()
		if err == nil {
			defer c.Close()
			io.Copy(io.Discard, c)
		}
	}()
	old := wireSetupTimeout
	wireSetupTimeout = 100 * time.Millisecond
	defer func() { wireSetupTimeout = old }()
	if _, err := NewKafkaWire(context.Background(), KafkaConfig{Brokers: []string{ln.Addr().String()}, Topic: "t"}); err == nil {
		t.Fatal("set-up against a silent broker succeeded")
	}
}
