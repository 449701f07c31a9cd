package kafka

import (
	"context"
	"fmt"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/sasl/scram"

	"github.com/zombi-dev/zombi/bench/loadgen"
)

// Benchmarks of the Kafka door with franz-go over loopback, durable writes
// (fsync before acknowledgement), 100-byte records, acks=all. Run:
//
//	go test -run '^$' -bench . -benchtime 2000000x ./kafka/
//
// Figures and the comparison live in docs/BENCHMARKS-kafka.md.

const benchValueSize = 100

func benchTopic(b *testing.B, e *testEnv, name string, parts int32) {
	b.Helper()
	if _, err := e.l.CreateTopic(name, parts, nil); err != nil {
		b.Fatal(err)
	}
}

func produceN(b *testing.B, addr, topic string, clients, n int, opts ...kgo.Opt) time.Duration {
	b.Helper()
	ctx := context.Background()
	value := make([]byte, benchValueSize)
	cls := make([]*kgo.Client, clients)
	for i := range cls {
		cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(addr), kgo.ProducerLinger(5 * time.Millisecond), kgo.MaxBufferedRecords(1 << 20)}, opts...)...)
		if err != nil {
			b.Fatal(err)
		}
		defer cl.Close()
		// Warm up: metadata and producer id.
		if err := cl.ProduceSync(ctx, &kgo.Record{Topic: topic, Value: value}).FirstErr(); err != nil {
			b.Fatal(err)
		}
		cls[i] = cl
	}
	start := time.Now()
	var wg sync.WaitGroup
	for i, cl := range cls {
		wg.Add(1)
		go func() {
			defer wg.Done()
			per := n / clients
			if i == 0 {
				per += n % clients
			}
			for j := 0; j < per; j++ {
				cl.Produce(ctx, &kgo.Record{Topic: topic, Value: value}, func(_ *kgo.Record, err error) {
					if err != nil {
						b.Error(err)
					}
				})
			}
			if err := cl.Flush(ctx); err != nil {
				b.Error(err)
			}
		}()
	}
	wg.Wait()
	return time.Since(start)
}

func reportRate(b *testing.B, n int, d time.Duration) {
	b.ReportMetric(float64(n)/d.Seconds(), "records/s")
	b.ReportMetric(float64(n)*benchValueSize/d.Seconds()/1e6, "MB/s")
	b.ReportMetric(0, "ns/op")
}

// BenchmarkProduce4Clients: 4 async franz-go producers, linger 5 ms.
func BenchmarkProduce4Clients(b *testing.B) {
	for _, parts := range []int32{1, 8} {
		b.Run(fmt.Sprintf("partitions=%d", parts), func(b *testing.B) {
			e := startServerSync(b, testConfig(), true)
			benchTopic(b, e, "bench", parts)
			b.ResetTimer()
			d := produceN(b, e.addr, "bench", 4, b.N)
			reportRate(b, b.N, d)
		})
	}
}

// BenchmarkProduceSyncLatency: one client, one record per ProduceSync.
func BenchmarkProduceSyncLatency(b *testing.B) {
	e := startServerSync(b, testConfig(), true)
	benchTopic(b, e, "lat", 1)
	cl, err := kgo.NewClient(kgo.SeedBrokers(e.addr), kgo.ProducerLinger(0))
	if err != nil {
		b.Fatal(err)
	}
	defer cl.Close()
	ctx := context.Background()
	value := make([]byte, benchValueSize)
	_ = cl.ProduceSync(ctx, &kgo.Record{Topic: "lat", Value: value})
	lats := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		s := time.Now()
		if err := cl.ProduceSync(ctx, &kgo.Record{Topic: "lat", Value: value}).FirstErr(); err != nil {
			b.Fatal(err)
		}
		lats = append(lats, time.Since(s))
	}
	b.StopTimer()
	reportLatency(b, lats)
}

func reportLatency(b *testing.B, lats []time.Duration) {
	sort.Slice(lats, func(i, j int) bool { return lats[i] < lats[j] })
	q := func(p float64) float64 { return float64(lats[int(p*float64(len(lats)-1))].Microseconds()) }
	b.ReportMetric(q(0.50), "p50-µs")
	b.ReportMetric(q(0.99), "p99-µs")
}

// BenchmarkProduce64Concurrent: 64 producers, each producing one record at
// a time synchronously, 8 partitions. client=kgo: a franz-go client per
// producer (ProduceSync); client=sarama: a sarama SyncProducer per producer
// (idempotent, Kafka 2.1 protocol); client=wire: the load generator's
// blocking producer, one connection per producer with one request in
// flight, the client shape of the NATS and Redis peers (bench/peers).
func BenchmarkProduce64Concurrent(b *testing.B) {
	const producers = 64
	ctx := context.Background()
	b.Run("client=kgo", func(b *testing.B) {
		e := startServerSync(b, testConfig(), true)
		benchTopic(b, e, "c64", 8)
		value := make([]byte, benchValueSize)
		ops := make([]func() error, producers)
		for i := range ops {
			cl, err := kgo.NewClient(kgo.SeedBrokers(e.addr), kgo.ProducerLinger(0))
			if err != nil {
				b.Fatal(err)
			}
			defer cl.Close()
			_ = cl.ProduceSync(ctx, &kgo.Record{Topic: "c64", Value: value})
			ops[i] = func() error { return cl.ProduceSync(ctx, &kgo.Record{Topic: "c64", Value: value}).FirstErr() }
		}
		runProducers(b, ops)
	})
	b.Run("client=sarama", func(b *testing.B) {
		e := startServerSync(b, testConfig(), true)
		benchTopic(b, e, "c64", 8)
		cfg := sarama.NewConfig()
		cfg.Version = sarama.V2_1_0_0
		cfg.Producer.RequiredAcks = sarama.WaitForAll
		cfg.Producer.Idempotent = true
		cfg.Net.MaxOpenRequests = 1
		cfg.Producer.Return.Successes = true
		cfg.Producer.Partitioner = sarama.NewManualPartitioner
		value := sarama.ByteEncoder(make([]byte, benchValueSize))
		ops := make([]func() error, producers)
		for i := range ops {
			p, err := sarama.NewSyncProducer([]string{e.addr}, cfg)
			if err != nil {
				b.Fatal(err)
			}
			defer p.Close()
			msg := func() *sarama.ProducerMessage {
				return &sarama.ProducerMessage{Topic: "c64", Partition: int32(i % 8), Value: value}
			}
			if _, _, err := p.SendMessage(msg()); err != nil {
				b.Fatal(err)
			}
			ops[i] = func() error { _, _, err := p.SendMessage(msg()); return err }
		}
		runProducers(b, ops)
	})
	b.Run("client=wire", func(b *testing.B) {
		e := startServerSync(b, testConfig(), true)
		benchTopic(b, e, "c64", 8)
		target, err := loadgen.NewKafkaWire(ctx, loadgen.KafkaConfig{Brokers: []string{e.addr}, Topic: "c64",
			PayloadSize: benchValueSize, Acks: loadgen.AcksAll})
		if err != nil {
			b.Fatal(err)
		}
		defer target.Close()
		ops := make([]func() error, producers)
		for i := range ops {
			op, err := target.Worker(ctx, i)
			if err != nil {
				b.Fatal(err)
			}
			ops[i] = func() error { _, _, err := op(ctx, 1); return err }
		}
		runProducers(b, ops)
	})
}

// runProducers shares b.N calls among the ops, each on its own goroutine,
// and reports the rate and the per-call latency.
func runProducers(b *testing.B, ops []func() error) {
	var mu sync.Mutex
	var lats []time.Duration
	b.ResetTimer()
	start := time.Now()
	var wg sync.WaitGroup
	for i, op := range ops {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var mine []time.Duration
			for j := i; j < b.N; j += len(ops) {
				s := time.Now()
				if err := op(); err != nil {
					b.Error(err)
					return
				}
				mine = append(mine, time.Since(s))
			}
			mu.Lock()
			lats = append(lats, mine...)
			mu.Unlock()
		}()
	}
	wg.Wait()
	d := time.Since(start)
	b.StopTimer()
	reportRate(b, b.N, d)
	reportLatency(b, lats)
}

// BenchmarkConsume: one franz-go consumer reading b.N records from the hot
// tier (8 partitions).
func BenchmarkConsume(b *testing.B) {
	e := startServerSync(b, testConfig(), false)
	benchTopic(b, e, "cons", 8)
	produceN(b, e.addr, "cons", 4, b.N, kgo.ProducerBatchMaxBytes(1<<20))
	ctx := context.Background()
	cl, err := kgo.NewClient(kgo.SeedBrokers(e.addr), kgo.ConsumeTopics("cons"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.FetchMaxBytes(64<<20), kgo.FetchMaxPartitionBytes(8<<20))
	if err != nil {
		b.Fatal(err)
	}
	defer cl.Close()
	want := b.N + 4 // plus the warm-up records
	b.ResetTimer()
	start := time.Now()
	got := 0
	for got < want {
		fs := cl.PollFetches(ctx)
		fs.EachError(func(_ string, _ int32, err error) { b.Fatal(err) })
		got += fs.NumRecords()
	}
	d := time.Since(start)
	b.StopTimer()
	reportRate(b, got, d)
}

// BenchmarkProduceSecurity: the same producers over PLAINTEXT,
// SASL_PLAINTEXT (SCRAM-SHA-256) and SASL_SSL (SCRAM-SHA-512) listeners of
// one server: what authentication and TLS cost on the write path.
// clients=4: async producers, linger 5 ms; clients=1: one record per
// ProduceSync (latency).
func BenchmarkProduceSecurity(b *testing.B) {
	pki := newPKI(b, "bench")
	cfg := testConfig()
	cfg.Auth = newAuth(b)
	e := startSecureSync(b, cfg, true,
		Listener{Protocol: PlainText}, Listener{Protocol: SASLPlainText}, Listener{Protocol: SASLSSL, TLS: pki.serverTLS()})
	if _, err := e.l.CreateTopic("sec", 8, nil); err != nil {
		b.Fatal(err)
	}
	opts := map[SecurityProtocol][]kgo.Opt{
		PlainText:     nil,
		SASLPlainText: {kgo.SASL(scram.Auth{User: "alice", Pass: "alice-secret"}.AsSha256Mechanism())},
		SASLSSL: {kgo.SASL(scram.Auth{User: "alice", Pass: "alice-secret"}.AsSha512Mechanism()),
			kgo.DialTLSConfig(pki.clientTLS(false))},
	}
	for _, p := range []SecurityProtocol{PlainText, SASLPlainText, SASLSSL} {
		b.Run("listener="+string(p)+"/clients=4", func(b *testing.B) {
			d := produceN(b, e.addrs[p], "sec", 4, b.N, opts[p]...)
			reportRate(b, b.N, d)
		})
	}
	for _, p := range []SecurityProtocol{PlainText, SASLPlainText, SASLSSL} {
		b.Run("listener="+string(p)+"/clients=1", func(b *testing.B) {
			cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(e.addrs[p]), kgo.ProducerLinger(0)}, opts[p]...)...)
			if err != nil {
				b.Fatal(err)
			}
			defer cl.Close()
			ctx := context.Background()
			value := make([]byte, benchValueSize)
			if err := cl.ProduceSync(ctx, &kgo.Record{Topic: "sec", Value: value}).FirstErr(); err != nil {
				b.Fatal(err)
			}
			lats := make([]time.Duration, 0, b.N)
			b.ResetTimer()
			for range b.N {
				s := time.Now()
				if err := cl.ProduceSync(ctx, &kgo.Record{Topic: "sec", Value: value}).FirstErr(); err != nil {
					b.Fatal(err)
				}
				lats = append(lats, time.Since(s))
			}
			b.StopTimer()
			reportLatency(b, lats)
		})
	}
}

// BenchmarkProcessFindCoordinator: the CPU cost of one small request through
// process (header, SASL gate, decode, handler, encode) on a PLAINTEXT
// connection and an authenticated SASL one, without the log or the network.
func BenchmarkProcessFindCoordinator(b *testing.B) {
	e := startServer(b, testConfig())
	for _, name := range []string{"plaintext", "sasl"} {
		b.Run(name, func(b *testing.B) {
			ci := newConnInfo("127.0.0.1:5555", e.s.defaultListener.Load())
			if name == "sasl" {
				ci.sasl = newSASLConn(e.s, ci)
				ci.sasl.sess = noSession{}
				ci.sasl.succeeded()
			}
			ctx := withConnInfo(context.Background(), ci)
			fc := kmsg.NewPtrFindCoordinatorRequest()
			fc.CoordinatorKey = "g"
			fc.SetVersion(3)
			buf := frame(fc, 1)[4:]
			b.ReportAllocs()
			for b.Loop() {
				if _, err := e.s.process(ctx, buf); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
