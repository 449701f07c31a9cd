package loadgen

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl"
)

// Acks is a producer's acknowledgement level.
type Acks string

// The acks levels of --acks.
const (
	AcksAll    Acks = "all"    // -1: durable on the broker (Zombi: fsynced)
	AcksLeader Acks = "leader" // 1
	AcksNone   Acks = "none"   // 0: no response at all
)

// ParseAcks accepts all/-1, leader/1 and none/0.
func ParseAcks(s string) (Acks, error) {
	switch strings.ToLower(s) {
	case "all", "-1":
		return AcksAll, nil
	case "leader", "1":
		return AcksLeader, nil
	case "none", "0":
		return AcksNone, nil
	}
	return "", fmt.Errorf("unknown acks %q (want all, leader or none)", s)
}

// KafkaConfig is a Kafka target.
type KafkaConfig struct {
	Brokers     []string
	Topic       string
	PayloadSize int
	Acks        Acks
	Linger      time.Duration
	// BatchBytes caps one partition's record batch (kgo ProducerBatchMaxBytes); 0 = kgo's default.
	BatchBytes int32
	// Clients is how many kgo clients (connections) the workers share,
	// round robin; 0 means one per worker.
	Clients int
	// Compression of produced batches: none (default), gzip, snappy, lz4
	// or zstd.
	Compression string
	// Group is the consumer group of group-consume.
	Group string
	// ReadToEnd makes consumers stop at the end offsets seen when they
	// start.
	ReadToEnd bool
	// TLS, when set, connects with TLS (SSL and SASL_SSL listeners).
	TLS *tls.Config
	// SASL, when set, authenticates every connection (SASL_PLAINTEXT and
	// SASL_SSL listeners).
	SASL sasl.Mechanism
}

func (c KafkaConfig) baseOpts() []kgo.Opt {
	opts := []kgo.Opt{
		kgo.SeedBrokers(c.Brokers...),
		kgo.ClientID("zombi-bench"),
		kgo.RequestTimeoutOverhead(10 * time.Second),
		kgo.MetadataMinAge(time.Second),
	}
	if c.TLS != nil {
		opts = append(opts, kgo.DialTLSConfig(c.TLS.Clone()))
	}
	if c.SASL != nil {
		opts = append(opts, kgo.SASL(c.SASL))
	}
	return opts
}

func (c KafkaConfig) producerOpts() []kgo.Opt {
	opts := append(c.baseOpts(), kgo.DefaultProduceTopic(c.Topic), kgo.ProducerLinger(c.Linger),
		kgo.AllowAutoTopicCreation(), kgo.RecordPartitioner(kgo.RoundRobinPartitioner()))
	switch c.Acks {
	case AcksLeader:
		opts = append(opts, kgo.RequiredAcks(kgo.LeaderAck()), kgo.DisableIdempotentWrite())
	case AcksNone:
		opts = append(opts, kgo.RequiredAcks(kgo.NoAck()), kgo.DisableIdempotentWrite())
	default:
		opts = append(opts, kgo.RequiredAcks(kgo.AllISRAcks()))
	}
	if c.BatchBytes > 0 {
		opts = append(opts, kgo.ProducerBatchMaxBytes(c.BatchBytes))
	}
	codec, _ := ParseCompression(c.Compression)
	return append(opts, kgo.ProducerBatchCompression(codec))
}

// pingedProducer is a producer client of the config whose brokers answered
// a ping: a run fails at its start, not in its middle, when the broker is
// not there.
func (c KafkaConfig) pingedProducer(ctx context.Context) (*kgo.Client, error) {
	cl, err := kgo.NewClient(c.producerOpts()...)
	if err != nil {
		return nil, err
	}
	pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := cl.Ping(pctx); err != nil {
		cl.Close()
		return nil, fmt.Errorf("kafka brokers %s: %w", strings.Join(c.Brokers, ","), err)
	}
	return cl, nil
}

// ParseCompression maps a codec name to franz-go's; "" is none (franz-go's
// own default would be snappy).
func ParseCompression(s string) (kgo.CompressionCodec, error) {
	switch strings.ToLower(s) {
	case "", "none":
		return kgo.NoCompression(), nil
	case "gzip":
		return kgo.GzipCompression(), nil
	case "snappy":
		return kgo.SnappyCompression(), nil
	case "lz4":
		return kgo.Lz4Compression(), nil
	case "zstd":
		return kgo.ZstdCompression(), nil
	}
	return kgo.NoCompression(), fmt.Errorf("unknown compression %q (want none, gzip, snappy, lz4 or zstd)", s)
}

// payloadPool is distinct payloads for one worker, so that a batch of
// records is not one value repeated (which compresses to nothing).
func payloadPool(size, worker int) [][]byte {
	pool := make([][]byte, 16)
	for i := range pool {
		pool[i] = Payload(size, worker*len(pool)+i)
	}
	return pool
}

type kafkaProduce struct {
	cfg     KafkaConfig
	mu      sync.Mutex
	clients []*kgo.Client
}

// NewKafkaProduce returns a Kafka produce target: an op produces its n
// records asynchronously on its worker's client and waits for all their
// acknowledgements, so a batch of n leaves as one record batch when linger
// allows.
func NewKafkaProduce(cfg KafkaConfig) (Target, error) {
	if len(cfg.Brokers) == 0 || cfg.Topic == "" {
		return nil, errors.New("kafka target needs brokers and a topic")
	}
	if cfg.Acks == "" {
		cfg.Acks = AcksAll
	}
	return &kafkaProduce{cfg: cfg}, nil
}

func (t *kafkaProduce) Name() string {
	return fmt.Sprintf("kafka://%s/%s (acks=%s, linger=%s)", strings.Join(t.cfg.Brokers, ","), t.cfg.Topic, t.cfg.Acks, t.cfg.Linger)
}

func (t *kafkaProduce) Close() error {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, c := range t.clients {
		c.Close()
	}
	t.clients = nil
	return nil
}

func (t *kafkaProduce) client(ctx context.Context, i int) (*kgo.Client, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.cfg.Clients > 0 && len(t.clients) >= t.cfg.Clients {
		return t.clients[i%len(t.clients)], nil
	}
	cl, err := t.cfg.pingedProducer(ctx)
	if err != nil {
		return nil, err
	}
	t.clients = append(t.clients, cl)
	return cl, nil
}

func (t *kafkaProduce) Worker(ctx context.Context, i int) (Op, error) {
	cl, err := t.client(ctx, i)
	if err != nil {
		return nil, err
	}
	pool := payloadPool(t.cfg.PayloadSize, i)
	size := t.cfg.PayloadSize
	next := 0
	return func(ctx context.Context, n int) (int, int64, error) {
		var (
			wg    sync.WaitGroup
			ok    atomic.Int64
			first atomic.Value
		)
		wg.Add(n)
		for range n {
			next++
			cl.Produce(ctx, &kgo.Record{Value: pool[next%len(pool)]}, func(_ *kgo.Record, err error) {
				if err != nil {
					first.CompareAndSwap(nil, err)
				} else {
					ok.Add(1)
				}
				wg.Done()
			})
		}
		wg.Wait()
		got := int(ok.Load())
		if e, _ := first.Load().(error); e != nil {
			return got, int64(got * size), e
		}
		return got, int64(got * size), nil
	}, nil
}

// Prefill produces n records of the config's payload size to its topic
// (acks=all, lingering 5 ms), so that a consume run has something to read.
func Prefill(ctx context.Context, cfg KafkaConfig, n int64) error {
	cfg.Acks, cfg.Linger = AcksAll, 5*time.Millisecond
	cl, err := kgo.NewClient(cfg.producerOpts()...)
	if err != nil {
		return err
	}
	defer cl.Close()
	pool := payloadPool(cfg.PayloadSize, 0)
	var first atomic.Value
	for i := int64(0); i < n; i++ {
		cl.Produce(ctx, &kgo.Record{Value: pool[i%int64(len(pool))]}, func(_ *kgo.Record, err error) {
			if err != nil {
				first.CompareAndSwap(nil, err)
			}
		})
	}
	if err := cl.Flush(ctx); err != nil {
		return err
	}
	if e, _ := first.Load().(error); e != nil {
		return fmt.Errorf("prefill: %w", e)
	}
	return nil
}

// kafkaConsume reads the topic from the start: one client per worker; with
// a group the workers are members of one consumer group and share the
// partitions, without one each reads every partition (use one worker).
type kafkaConsume struct {
	cfg     KafkaConfig
	mu      sync.Mutex
	clients []*kgo.Client
	// want is how many records make the end offsets seen at the start (0
	// = no end); got counts what all workers received.
	want int64
	got  atomic.Int64
}

// NewKafkaConsume returns a consume target (kafka-consume, or
// group-consume when cfg.Group is set). It checks that the broker answers
// and, for a group, that it implements the group APIs.
func NewKafkaConsume(ctx context.Context, cfg KafkaConfig) (Target, error) {
	if len(cfg.Brokers) == 0 || cfg.Topic == "" {
		return nil, errors.New("kafka target needs brokers and a topic")
	}
	t := &kafkaConsume{cfg: cfg}
	cl, err := kgo.NewClient(cfg.baseOpts()...)
	if err != nil {
		return nil, err
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if cfg.Group != "" {
		vs, err := adm.ApiVersions(cctx)
		if err != nil {
			return nil, fmt.Errorf("kafka brokers %s: %w", strings.Join(cfg.Brokers, ","), err)
		}
		if err := checkGroupAPIs(vs); err != nil {
			return nil, err
		}
	}
	if cfg.ReadToEnd {
		starts, err := adm.ListStartOffsets(cctx, cfg.Topic)
		if err != nil {
			return nil, fmt.Errorf("list start offsets of %s: %w", cfg.Topic, err)
		}
		ends, err := adm.ListEndOffsets(cctx, cfg.Topic)
		if err != nil {
			return nil, fmt.Errorf("list end offsets of %s: %w", cfg.Topic, err)
		}
		var firstErr error
		ends.Each(func(o kadm.ListedOffset) {
			if o.Err != nil {
				firstErr = o.Err
				return
			}
			s, _ := starts.Lookup(o.Topic, o.Partition)
			t.want += o.Offset - max(s.Offset, 0)
		})
		if firstErr != nil {
			return nil, fmt.Errorf("end offsets of %s: %w", cfg.Topic, firstErr)
		}
		if t.want == 0 {
			return nil, fmt.Errorf("topic %s is empty: produce first (or use --prefill N)", cfg.Topic)
		}
	}
	return t, nil
}

// groupAPIs are the keys a consumer group needs: FindCoordinator, JoinGroup,
// Heartbeat, LeaveGroup, SyncGroup, OffsetCommit, OffsetFetch.
var groupAPIs = []struct {
	key  int16
	name string
}{{10, "FindCoordinator"}, {11, "JoinGroup"}, {12, "Heartbeat"}, {13, "LeaveGroup"}, {14, "SyncGroup"}, {8, "OffsetCommit"}, {9, "OffsetFetch"}}

func checkGroupAPIs(vs kadm.BrokersApiVersions) error {
	var missing []string
	for _, v := range vs.Sorted() {
		if v.Err != nil {
			return fmt.Errorf("ApiVersions of broker %d: %w", v.NodeID, v.Err)
		}
		for _, a := range groupAPIs {
			if _, ok := v.KeyMaxVersion(a.key); !ok {
				missing = append(missing, a.name)
			}
		}
		if len(missing) > 0 {
			return fmt.Errorf("broker %d does not implement consumer groups (no %s in its ApiVersions): group-consume needs the group coordinator",
				v.NodeID, strings.Join(missing, ", "))
		}
	}
	return nil
}

func (t *kafkaConsume) Name() string {
	s := fmt.Sprintf("kafka://%s/%s", strings.Join(t.cfg.Brokers, ","), t.cfg.Topic)
	if t.cfg.Group != "" {
		s += " (group " + t.cfg.Group + ")"
	}
	return s
}

func (t *kafkaConsume) Close() error {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, c := range t.clients {
		c.Close()
	}
	t.clients = nil
	return nil
}

func (t *kafkaConsume) Worker(_ context.Context, _ int) (Op, error) {
	opts := append(t.cfg.baseOpts(), kgo.ConsumeTopics(t.cfg.Topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.FetchMaxWait(500*time.Millisecond))
	if t.cfg.Group != "" {
		opts = append(opts, kgo.ConsumerGroup(t.cfg.Group))
	}
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return nil, err
	}
	t.mu.Lock()
	t.clients = append(t.clients, cl)
	t.mu.Unlock()
	return func(ctx context.Context, _ int) (int, int64, error) {
		if t.want > 0 && t.got.Load() >= t.want {
			return 0, 0, ErrDone
		}
		pctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		defer cancel()
		fs := cl.PollFetches(pctx)
		var n int
		var b int64
		fs.EachRecord(func(r *kgo.Record) {
			n++
			b += int64(len(r.Value))
		})
		t.got.Add(int64(n))
		var ferr error
		fs.EachError(func(_ string, _ int32, err error) {
			if ferr == nil && !errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, context.Canceled) {
				ferr = err
			}
		})
		if ferr == nil && n == 0 && ctx.Err() == nil {
			// An empty poll is no operation: try again (the caller's
			// deadline or record limit ends the run).
			return 0, 0, nil
		}
		return n, b, ferr
	}, nil
}
