package kafka

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/twmb/franz-go/pkg/kgo"
)

// Scrapes while producers, a group member and topic churn run: no race,
// no error, and the request histogram counts every Produce.
func TestCollectorUnderTraffic(t *testing.T) {
	e := startServer(t, testConfig())
	reg := prometheus.NewRegistry()
	reg.MustRegister(e.s.Collector(), e.l.Collector())
	produces := testutil.ToFloat64(requestsTotal.WithLabelValues("Produce"))
	if _, err := e.l.CreateTopic("t", 3, nil); err != nil {
		t.Fatal(err)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cl, err := kgo.NewClient(kgo.SeedBrokers(e.addr), kgo.ConsumerGroup("churn"), kgo.ConsumeTopics("t"), kgo.FetchMaxWait(50*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	const n = 200
	var wg sync.WaitGroup
	wg.Add(3)
	go func() {
		defer wg.Done()
		for i := range n {
			if err := cl.ProduceSync(ctx, &kgo.Record{Topic: "t", Value: []byte{byte(i)}}).FirstErr(); err != nil {
				t.Error(err)
				return
			}
		}
	}()
	go func() {
		defer wg.Done()
		for got := 0; got < n && ctx.Err() == nil; {
			fs := cl.PollFetches(ctx)
			got += fs.NumRecords()
			_ = cl.CommitUncommittedOffsets(ctx)
		}
	}()
	go func() {
		defer wg.Done()
		for i := 0; i < 20; i++ {
			name := "churn-" + string(rune('a'+i))
			if _, err := e.l.CreateTopic(name, 2, nil); err != nil {
				t.Error(err)
			}
			if err := e.l.DeleteTopic(name); err != nil {
				t.Error(err)
			}
		}
	}()
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	scrapes := 0
	for running := true; running; scrapes++ {
		select {
		case <-done:
			running = false
		default:
		}
		if _, err := reg.Gather(); err != nil {
			t.Fatalf("gather: %v", err)
		}
	}
	if got := testutil.ToFloat64(requestsTotal.WithLabelValues("Produce")) - produces; got < n {
		t.Fatalf("zombi_kafka_requests_total{api=Produce} grew by %v, want >= %d", got, n)
	}
	t.Logf("%d scrapes during the traffic", scrapes)
}
