package history

import (
	"context"
	"encoding/json"
	"log/slog"
	"math"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/zombi-dev/zombi/kafka/groups"
	plog "github.com/zombi-dev/zombi/log"
)

var t0 = time.UnixMilli(1_800_000_000_000)

func TestSamplerRates(t *testing.T) {
	fl := newFakeLog()
	fl.add("a", 1000, 1e6) // before start: the baseline, not a rate
	s := New(Config{Traffic: fl, Connections: func() (int, int) { return 2, 1 },
		HotBytes: func() int64 { return 123 }, Cold: func() (int64, bool) { return 45, true }})
	s.tick(t0)
	if got := s.Samples(0); len(got) != 0 {
		t.Fatalf("first tick (baselines) made %d samples, want 0", len(got))
	}
	fl.add("a", 100, 2000)
	fl.add("b", 20, 400) // created since: counts from 0
	fl.served("a", 50, 1000)
	s.tick(t0.Add(2 * time.Second))
	got := s.Samples(0)
	if len(got) != 1 {
		t.Fatalf("samples = %d, want 1", len(got))
	}
	smp := got[0]
	if smp.RecordsIn != 60 || smp.BytesIn != 1200 || smp.RecordsOut != 25 || smp.BytesOut != 500 {
		t.Fatalf("rates = in %v r/s %v B/s, out %v r/s %v B/s; want 60, 1200, 25, 500", smp.RecordsIn, smp.BytesIn, smp.RecordsOut, smp.BytesOut)
	}
	if smp.Connections != 3 || smp.HotBytes != 123 || smp.ColdPendingBytes != 45 || smp.T != t0.Add(2*time.Second).UnixMilli() {
		t.Fatalf("gauges = %+v", smp)
	}
	if !math.IsNaN(smp.ProduceP50) || !math.IsNaN(smp.FetchP99) {
		t.Fatalf("latency without a source = %v/%v, want NaN", smp.ProduceP50, smp.FetchP99)
	}
}

func TestSamplerDeletedAndRecreatedTopics(t *testing.T) {
	fl := newFakeLog()
	fl.add("a", 10, 10)
	s := New(Config{Traffic: fl})
	s.tick(t0)
	fl.mu.Lock()
	delete(fl.topics, "a")
	fl.mu.Unlock()
	s.tick(t0.Add(2 * time.Second))
	s.mu.RLock()
	n := len(s.topics)
	s.mu.RUnlock()
	if n != 0 {
		t.Fatalf("a deleted topic is still tracked (%d series)", n)
	}
	// Re-created with another UUID and fewer records than before: counted
	// from 0, never negative.
	fl.add("a", 4, 40)
	fl.topics["a"].UUID = [16]byte{1}
	s.tick(t0.Add(4 * time.Second))
	if smp := s.Samples(0); smp[len(smp)-1].RecordsIn != 2 {
		t.Fatalf("re-created topic: records_in = %v, want 2", smp[len(smp)-1].RecordsIn)
	}
}

func TestSamplerWindowAndSince(t *testing.T) {
	s := New(Config{Traffic: newFakeLog()})
	total := s.size + 10
	for i := 0; i <= total; i++ {
		s.tick(t0.Add(time.Duration(i) * DefaultInterval))
	}
	got := s.Samples(0)
	if len(got) != s.size || s.size != 450 {
		t.Fatalf("window holds %d samples (size %d), want 450", len(got), s.size)
	}
	if got[0].T != t0.Add(11*DefaultInterval).UnixMilli() || got[len(got)-1].T != t0.Add(time.Duration(total)*DefaultInterval).UnixMilli() {
		t.Fatalf("window is %d..%d, want the last 450 samples oldest first", got[0].T, got[len(got)-1].T)
	}
	since := got[len(got)-3].T
	if recent := s.Samples(since); len(recent) != 2 || recent[0].T <= since {
		t.Fatalf("Samples(since) = %d samples, want the 2 newer ones", len(recent))
	}
}

func TestSamplerLatency(t *testing.T) {
	bounds := []float64{0.001, 0.01, 0.1}
	fl := &fakeLatency{produce: Hist{Bounds: bounds, Cum: []uint64{0, 0, 0}}}
	s := New(Config{Latency: fl})
	s.tick(t0)
	// 100 produce requests in the interval: 50 <= 1 ms, 50 in (1, 10] ms.
	fl.produce = Hist{Bounds: bounds, Cum: []uint64{50, 100, 100}, Count: 100}
	s.tick(t0.Add(2 * time.Second))
	smp := s.Samples(0)[0]
	if smp.ProduceP50 != 1 {
		t.Fatalf("produce p50 = %v ms, want 1 (the 50th of 100 is the first bucket's top)", smp.ProduceP50)
	}
	if want := 1 + 9*0.98; math.Abs(smp.ProduceP99-want) > 1e-9 {
		t.Fatalf("produce p99 = %v ms, want %v", smp.ProduceP99, want)
	}
	if !math.IsNaN(smp.FetchP50) {
		t.Fatalf("fetch p50 with no fetch = %v, want NaN", smp.FetchP50)
	}
	// Nothing new: null, not the previous interval's figure.
	s.tick(t0.Add(4 * time.Second))
	var m map[string]any
	if err := json.Unmarshal(s.Samples(0)[1].AppendJSON(nil), &m); err != nil {
		t.Fatal(err)
	}
	if v, ok := m["produce_p99_ms"]; !ok || v != nil {
		t.Fatalf("produce_p99_ms of an idle interval = %v (present %v), want null", v, ok)
	}
}

func TestQuantileAsPrometheus(t *testing.T) {
	h := Hist{Bounds: []float64{1, 2, 4}, Cum: []uint64{10, 30, 40}, Count: 50}
	for _, c := range []struct{ q, want float64 }{
		{0.1, 0.5},  // rank 5 in [0,1]: half way
		{0.5, 1.75}, // rank 25: 15 of 20 into (1,2]
		{0.7, 3},    // rank 35: half of (2,4]
		{0.99, 4},   // rank 49.5 in +Inf: the highest finite bound
	} {
		if got := h.quantile(c.q); math.Abs(got-c.want) > 1e-9 {
			t.Errorf("quantile(%v) = %v, want %v", c.q, got, c.want)
		}
	}
	if !math.IsNaN((Hist{}).quantile(0.5)) {
		t.Error("quantile of an empty histogram is not NaN")
	}
}

func TestTopicRates(t *testing.T) {
	fl := newFakeLog()
	fl.add("a", 0, 0)
	s := New(Config{Traffic: fl})
	s.tick(t0)
	// 40 slow passes (200 samples) at 30 records per sample = 15 r/s.
	for i := 1; i <= 200; i++ {
		fl.add("a", 30, 300)
		s.tick(t0.Add(time.Duration(i) * DefaultInterval))
	}
	r := s.TopicRates("a")
	if len(r) != RatePoints {
		t.Fatalf("rates has %d points, want %d", len(r), RatePoints)
	}
	// 40 passes cover the last 40/3 = 13 full points and one partial.
	for j := RatePoints - 13; j < RatePoints; j++ {
		if r[j] != 15 {
			t.Fatalf("point %d = %v, want 15 r/s (rates %v)", j, r[j], r)
		}
	}
	if r[0] != 0 {
		t.Fatalf("point 0 (before start) = %v, want 0", r[0])
	}
	if unk := s.TopicRates("nope"); len(unk) != RatePoints || unk[29] != 0 {
		t.Fatalf("unknown topic rates = %v", unk)
	}
}

func TestLagHistory(t *testing.T) {
	fl := newFakeLog()
	fl.setBounds("t", 0, 0, 100)
	fl.setBounds("t", 1, 10, 50)
	fl.offs = []plog.CommittedOffset{{Group: "g", Topic: "t", Partition: 0, Offset: 70}, {Group: "gone", Topic: "deleted", Partition: 0, Offset: 1}}
	// A live member assigned t/1, nothing committed there: lag from log start.
	asg := kmsg.NewConsumerMemberAssignment()
	asg.Topics = []kmsg.ConsumerMemberAssignmentTopic{{Topic: "t", Partitions: []int32{1}}}
	s := New(Config{Offsets: fl, Groups: fakeGroups{{Group: "g", ProtocolType: "consumer",
		Members: []groups.MemberInfo{{MemberID: "m", Assignment: asg.AppendTo(nil)}}}}})
	for i := 0; i <= 2*SlowEvery; i++ {
		if i == SlowEvery+1 {
			fl.setBounds("t", 0, 0, 120)
		}
		s.tick(t0.Add(time.Duration(i) * DefaultInterval))
	}
	h := s.LagHistory("g")
	if len(h) != 2 || h[0].Partition != 0 || h[1].Partition != 1 {
		t.Fatalf("lag history = %+v, want t/0 and t/1", h)
	}
	p0 := h[0].Points
	if len(p0) != 2 || p0[0][1] != 30 || p0[1][1] != 50 || p0[1][0]-p0[0][0] != (SlowEvery*DefaultInterval).Milliseconds() {
		t.Fatalf("t/0 points = %v, want lag 30 then 50, 10 s apart", p0)
	}
	if p1 := h[1].Points; len(p1) != 2 || p1[1][1] != 40 {
		t.Fatalf("t/1 points = %v, want lag 40 (hwm 50 - log start 10)", p1)
	}
	if g := s.LagHistory("gone"); len(g) != 0 {
		t.Fatalf("a group whose topic is deleted has series %+v", g)
	}
}

func TestSubscribeNeverBlocks(t *testing.T) {
	s := New(Config{Traffic: newFakeLog()})
	slow, cancelSlow := s.Subscribe()
	fast, cancelFast := s.Subscribe()
	done := make(chan struct{})
	got := 0
	go func() {
		defer close(done)
		for range fast {
			got++
		}
	}()
	start := time.Now()
	for i := 0; i <= 3*watcherBuffer; i++ {
		s.tick(t0.Add(time.Duration(i) * DefaultInterval))
	}
	if el := time.Since(start); el > 5*time.Second {
		t.Fatalf("ticks with a watcher that never reads took %v", el)
	}
	if n := len(slow); n != watcherBuffer {
		t.Fatalf("slow watcher holds %d samples, want its buffer (%d) and the rest dropped", n, watcherBuffer)
	}
	cancelFast()
	<-done
	if got == 0 {
		t.Fatal("the reading watcher got no sample")
	}
	cancelSlow()
	cancelSlow() // twice is harmless
	if s.Watchers() != 0 {
		t.Fatalf("watchers after cancel = %d", s.Watchers())
	}
}

func TestRunStopsWithContext(t *testing.T) {
	fl := newFakeLog()
	s := New(Config{Traffic: fl, Interval: 10 * time.Millisecond})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); s.Run(ctx) }()
	ch, stop := s.Subscribe()
	defer stop()
	fl.add("a", 5, 5)
	select {
	case <-ch:
	case <-time.After(5 * time.Second):
		t.Fatal("no sample within 5 s at a 10 ms interval")
	}
	cancel()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return after its context ended")
	}
}

type panicTraffic struct{}

func (panicTraffic) Traffic([]plog.TopicTraffic) []plog.TopicTraffic { panic("source bug") }

func TestRunSurvivesAPanickingSource(t *testing.T) {
	var logged strings.Builder
	var mu sync.Mutex
	s := New(Config{Traffic: panicTraffic{}, Interval: 5 * time.Millisecond,
		Logger: slog.New(slog.NewTextHandler(lockedWriter{&mu, &logged}, nil))})
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	s.Run(ctx) // returns at the deadline: the panics were recovered
	mu.Lock()
	defer mu.Unlock()
	if !strings.Contains(logged.String(), "source bug") {
		t.Fatalf("the panic was not logged: %q", logged.String())
	}
}

type lockedWriter struct {
	mu *sync.Mutex
	w  *strings.Builder
}

func (l lockedWriter) Write(b []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(b)
}
