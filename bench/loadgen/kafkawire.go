package loadgen

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"net"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kbin"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/sasl"
)

// kafkaWire is a blocking Kafka producer, one connection per worker: an op
// writes one Produce request (one record batch of n records) and reads its
// response on the same goroutine, as a synchronous producer such as
// sarama's SyncProducer or a shell loop of kcat does. It costs its machine
// a fraction of what kgo's asynchronous producer does per request, which
// matters when the load generator shares the broker's cores. With acks=all
// each worker is an idempotent producer of its own (InitProducerId, one
// sequence per worker).
type kafkaWire struct {
	cfg     KafkaConfig
	parts   int32
	topicID [16]byte // Produce v13+ names topics by id

	mu    sync.Mutex
	conns []net.Conn
}

// NewKafkaWire returns the wire produce target. It auto-creates the topic
// through Metadata, as kgo does, and learns its partition count.
func NewKafkaWire(ctx context.Context, cfg KafkaConfig) (Target, error) {
	if len(cfg.Brokers) == 0 || cfg.Topic == "" {
		return nil, errors.New("kafka target needs brokers and a topic")
	}
	if cfg.Acks == "" {
		cfg.Acks = AcksAll
	}
	if cfg.Compression != "" && cfg.Compression != "none" {
		return nil, errors.New("the wire client sends uncompressed batches only")
	}
	t := &kafkaWire{cfg: cfg}
	c, err := t.dial(ctx)
	if err != nil {
		return nil, err
	}
	defer c.close()
	req := kmsg.NewPtrMetadataRequest()
	req.AllowAutoTopicCreation = true
	rt := kmsg.NewMetadataRequestTopic()
	rt.Topic = kmsg.StringPtr(cfg.Topic)
	req.Topics = append(req.Topics, rt)
	var resp *kmsg.MetadataResponse
	for try := 0; ; try++ {
		r, err := c.roundTrip(req)
		if err != nil {
			return nil, err
		}
		resp = r.(*kmsg.MetadataResponse)
		if len(resp.Topics) != 1 {
			return nil, fmt.Errorf("metadata for %s: %d topics in the response", cfg.Topic, len(resp.Topics))
		}
		err = kerr.ErrorForCode(resp.Topics[0].ErrorCode)
		if err == nil && len(resp.Topics[0].Partitions) > 0 {
			break
		}
		if try == 100 || (err != nil && !kerr.IsRetriable(err)) {
			return nil, fmt.Errorf("metadata for %s: %w", cfg.Topic, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if len(resp.Brokers) > 1 && !leadsAll(resp, cfg.Brokers[0]) {
		// It does not route partitions to their leaders: in a cluster,
		// point it at the broker that leads every partition of the topic.
		return nil, fmt.Errorf("the wire client drives one broker; %s lists %d brokers and does not lead every partition of %s (use --client kgo, or the leader's address)", cfg.Brokers[0], len(resp.Brokers), cfg.Topic)
	}
	t.parts = int32(len(resp.Topics[0].Partitions))
	t.topicID = resp.Topics[0].TopicID
	return t, nil
}

// leadsAll says whether the broker at addr leads every partition of the
// response's topic.
func leadsAll(resp *kmsg.MetadataResponse, addr string) bool {
	id := int32(-1)
	for _, b := range resp.Brokers {
		if net.JoinHostPort(b.Host, strconv.Itoa(int(b.Port))) == addr {
			id = b.NodeID
		}
	}
	if id < 0 {
		return false
	}
	for _, p := range resp.Topics[0].Partitions {
		if p.Leader != id {
			return false
		}
	}
	return true
}

func (t *kafkaWire) Name() string {
	return fmt.Sprintf("kafka://%s/%s (wire client, acks=%s)", strings.Join(t.cfg.Brokers, ","), t.cfg.Topic, t.cfg.Acks)
}

func (t *kafkaWire) Close() error {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, c := range t.conns {
		c.Close()
	}
	t.conns = nil
	return nil
}

// wireSetupTimeout bounds a connection's set-up (ApiVersions, Metadata,
// InitProducerId) against a broker that accepts and does not answer.
var wireSetupTimeout = 10 * time.Second

// wireConn is one connection with the versions its broker supports.
type wireConn struct {
	conn     net.Conn
	r        *bufio.Reader
	fmtr     *kmsg.RequestFormatter
	corr     int32
	versions map[int16]int16 // api key -> max version both sides know
	buf      []byte
}

func (t *kafkaWire) dial(ctx context.Context) (*wireConn, error) {
	var d net.Dialer
	dctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	conn, err := d.DialContext(dctx, "tcp", t.cfg.Brokers[0])
	if err != nil {
		return nil, fmt.Errorf("kafka broker %s: %w", t.cfg.Brokers[0], err)
	}
	if t.cfg.TLS != nil {
		tc := tls.Client(conn, tlsFor(t.cfg.TLS, t.cfg.Brokers[0]))
		if err := tc.HandshakeContext(dctx); err != nil {
			conn.Close()
			return nil, fmt.Errorf("kafka broker %s: TLS: %w", t.cfg.Brokers[0], err)
		}
		conn = tc
	}
	c := &wireConn{conn: conn, r: bufio.NewReaderSize(conn, 64<<10),
		fmtr: kmsg.NewRequestFormatter(kmsg.FormatterClientID("zombi-bench"))}
	// Bounds the set-up requests; the first op replaces it.
	conn.SetDeadline(time.Now().Add(wireSetupTimeout))
	// ApiVersions v0 is answered by every broker; it sets what we send.
	c.versions = map[int16]int16{18: 0}
	r, err := c.roundTrip(kmsg.NewPtrApiVersionsRequest())
	if err != nil {
		conn.Close()
		return nil, err
	}
	av := r.(*kmsg.ApiVersionsResponse)
	if err := kerr.ErrorForCode(av.ErrorCode); err != nil {
		conn.Close()
		return nil, fmt.Errorf("ApiVersions: %w", err)
	}
	for _, k := range av.ApiKeys {
		req := kmsg.RequestForKey(k.ApiKey)
		if req == nil || k.ApiKey == 18 {
			continue
		}
		c.versions[k.ApiKey] = min(k.MaxVersion, req.MaxVersion())
	}
	if t.cfg.SASL != nil {
		if err := c.authenticate(dctx, t.cfg.SASL, t.cfg.Brokers[0]); err != nil {
			conn.Close()
			return nil, err
		}
	}
	for _, k := range []int16{0, 3, 22} {
		if _, ok := c.versions[k]; !ok {
			conn.Close()
			return nil, fmt.Errorf("broker %s does not support api key %d", t.cfg.Brokers[0], k)
		}
	}
	return c, nil
}

// tlsFor sets the server name from the broker address when cfg has none.
func tlsFor(cfg *tls.Config, addr string) *tls.Config {
	c := cfg.Clone()
	if c.ServerName == "" {
		if h, _, err := net.SplitHostPort(addr); err == nil {
			c.ServerName = h
		}
	}
	return c
}

// authenticate runs SaslHandshake v1 and SaslAuthenticate for mechanism m.
func (c *wireConn) authenticate(ctx context.Context, m sasl.Mechanism, host string) error {
	if _, ok := c.versions[17]; !ok {
		return fmt.Errorf("broker %s does not support SaslHandshake", host)
	}
	c.versions[17] = min(c.versions[17], 1)
	hs := kmsg.NewPtrSASLHandshakeRequest()
	hs.Mechanism = m.Name()
	r, err := c.roundTrip(hs)
	if err != nil {
		return err
	}
	if err := kerr.ErrorForCode(r.(*kmsg.SASLHandshakeResponse).ErrorCode); err != nil {
		return fmt.Errorf("SaslHandshake %s: %w", m.Name(), err)
	}
	sess, msg, err := m.Authenticate(ctx, host)
	if err != nil {
		return fmt.Errorf("SASL %s: %w", m.Name(), err)
	}
	c.versions[36] = min(c.versions[36], 1)
	for {
		req := kmsg.NewPtrSASLAuthenticateRequest()
		req.SASLAuthBytes = msg
		r, err := c.roundTrip(req)
		if err != nil {
			return err
		}
		resp := r.(*kmsg.SASLAuthenticateResponse)
		if err := kerr.ErrorForCode(resp.ErrorCode); err != nil {
			return fmt.Errorf("SaslAuthenticate: %w", err)
		}
		done, next, err := sess.Challenge(resp.SASLAuthBytes)
		if err != nil {
			return fmt.Errorf("SASL %s: %w", m.Name(), err)
		}
		if done {
			return nil
		}
		msg = next
	}
}

func (c *wireConn) close() { c.conn.Close() }

// send writes req; roundTrip also reads its response.
func (c *wireConn) send(req kmsg.Request) error {
	req.SetVersion(c.versions[req.Key()])
	c.corr++
	c.buf = c.fmtr.AppendRequest(c.buf[:0], req, c.corr)
	if _, err := c.conn.Write(c.buf); err != nil {
		return fmt.Errorf("write %s: %w", kmsg.NameForKey(req.Key()), err)
	}
	return nil
}

func (c *wireConn) roundTrip(req kmsg.Request) (kmsg.Response, error) {
	if err := c.send(req); err != nil {
		return nil, err
	}
	var size [4]byte
	if _, err := io.ReadFull(c.r, size[:]); err != nil {
		return nil, fmt.Errorf("read %s response: %w", kmsg.NameForKey(req.Key()), err)
	}
	n := int(binary.BigEndian.Uint32(size[:]))
	if n < 4 || n > 64<<20 {
		return nil, fmt.Errorf("%s response of %d bytes", kmsg.NameForKey(req.Key()), n)
	}
	if cap(c.buf) < n {
		c.buf = make([]byte, n)
	}
	body := c.buf[:n]
	if _, err := io.ReadFull(c.r, body); err != nil {
		return nil, fmt.Errorf("read %s response: %w", kmsg.NameForKey(req.Key()), err)
	}
	if corr := int32(binary.BigEndian.Uint32(body)); corr != c.corr {
		return nil, fmt.Errorf("%s response has correlation id %d, want %d", kmsg.NameForKey(req.Key()), corr, c.corr)
	}
	body = body[4:]
	resp := req.ResponseKind()
	resp.SetVersion(req.GetVersion())
	// Flexible responses carry header tags, except ApiVersions' (KIP-511).
	if resp.IsFlexible() && req.Key() != 18 {
		r := kbin.Reader{Src: body}
		for range r.Uvarint() {
			r.Uvarint()
			r.Span(int(r.Uvarint()))
		}
		if !r.Ok() {
			return nil, fmt.Errorf("%s response: truncated header", kmsg.NameForKey(req.Key()))
		}
		body = r.Src
	}
	if err := resp.ReadFrom(body); err != nil {
		return nil, fmt.Errorf("decode %s response: %w", kmsg.NameForKey(req.Key()), err)
	}
	return resp, nil
}

func (t *kafkaWire) Worker(ctx context.Context, i int) (Op, error) {
	c, err := t.dial(ctx)
	if err != nil {
		return nil, err
	}
	t.mu.Lock()
	t.conns = append(t.conns, c.conn)
	t.mu.Unlock()

	pid, epoch := int64(-1), int16(-1)
	acks := int16(-1)
	switch t.cfg.Acks {
	case AcksLeader:
		acks = 1
	case AcksNone:
		acks = 0
	default:
		r, err := c.roundTrip(kmsg.NewPtrInitProducerIDRequest())
		if err != nil {
			return nil, err
		}
		ip := r.(*kmsg.InitProducerIDResponse)
		if err := kerr.ErrorForCode(ip.ErrorCode); err != nil {
			return nil, fmt.Errorf("InitProducerId: %w", err)
		}
		pid, epoch = ip.ProducerID, ip.ProducerEpoch
	}
	part := int32(i) % t.parts
	pool := payloadPool(t.cfg.PayloadSize, i)
	next, seq := 0, int32(0)
	size := t.cfg.PayloadSize

	req := kmsg.NewPtrProduceRequest()
	req.Acks = acks
	req.TimeoutMillis = 30000
	rt := kmsg.NewProduceRequestTopic()
	rt.Topic, rt.TopicID = t.cfg.Topic, t.topicID
	rp := kmsg.NewProduceRequestTopicPartition()
	rp.Partition = part
	var (
		batch    []byte
		vals     [][]byte        // reused across ops
		watched  context.Context // the ctx whose end unblocks the connection
		unwatch  = func() bool { return false }
		canceled = time.Unix(1, 0)
	)
	return func(ctx context.Context, n int) (int, int64, error) {
		if ctx != watched {
			// A blocked write or read returns once ctx ends (the run's
			// grace period is over, or it was interrupted).
			unwatch()
			watched, unwatch = ctx, context.AfterFunc(ctx, func() { c.conn.SetDeadline(canceled) })
			dl, _ := ctx.Deadline() // zero: none
			c.conn.SetDeadline(dl)
		}
		if err := ctx.Err(); err != nil {
			return 0, 0, err
		}
		vals = vals[:0]
		for range n {
			next++
			vals = append(vals, pool[next%len(pool)])
		}
		batch = appendBatch(batch[:0], pid, epoch, seq, time.Now().UnixMilli(), vals)
		rp.Records = batch
		rt.Partitions = append(rt.Partitions[:0], rp)
		req.Topics = append(req.Topics[:0], rt)
		if acks == 0 {
			if err := c.send(req); err != nil {
				return 0, 0, err
			}
			return n, int64(n * size), nil
		}
		r, err := c.roundTrip(req)
		if err != nil {
			return 0, 0, err
		}
		pr := r.(*kmsg.ProduceResponse)
		if len(pr.Topics) != 1 || len(pr.Topics[0].Partitions) != 1 {
			return 0, 0, errors.New("produce response without our partition")
		}
		if err := kerr.ErrorForCode(pr.Topics[0].Partitions[0].ErrorCode); err != nil {
			return 0, 0, fmt.Errorf("produce to %s/%d: %w", t.cfg.Topic, part, err)
		}
		if pid >= 0 {
			seq += int32(n)
		}
		return n, int64(n * size), nil
	}, nil
}

var crc32c = crc32.MakeTable(crc32.Castagnoli)

// appendBatch appends a v2 record batch (magic 2, uncompressed) of vals.
func appendBatch(dst []byte, pid int64, epoch int16, seq int32, ts int64, vals [][]byte) []byte {
	start := len(dst)
	dst = binary.BigEndian.AppendUint64(dst, 0)          // base offset
	dst = binary.BigEndian.AppendUint32(dst, 0)          // length, below
	dst = binary.BigEndian.AppendUint32(dst, ^uint32(0)) // partition leader epoch -1
	dst = append(dst, 2)                                 // magic
	dst = binary.BigEndian.AppendUint32(dst, 0)          // crc, below
	crcFrom := len(dst)
	dst = binary.BigEndian.AppendUint16(dst, 0) // attributes
	dst = binary.BigEndian.AppendUint32(dst, uint32(len(vals)-1))
	dst = binary.BigEndian.AppendUint64(dst, uint64(ts))
	dst = binary.BigEndian.AppendUint64(dst, uint64(ts))
	dst = binary.BigEndian.AppendUint64(dst, uint64(pid))
	dst = binary.BigEndian.AppendUint16(dst, uint16(epoch))
	dst = binary.BigEndian.AppendUint32(dst, uint32(seq))
	dst = binary.BigEndian.AppendUint32(dst, uint32(len(vals)))
	for i, v := range vals {
		var body [32]byte
		b := append(body[:0], 0)           // attributes
		b = kbin.AppendVarlong(b, 0)       // timestamp delta
		b = kbin.AppendVarint(b, int32(i)) // offset delta
		b = kbin.AppendVarint(b, -1)       // null key
		b = kbin.AppendVarint(b, int32(len(v)))
		dst = kbin.AppendVarint(dst, int32(len(b)+len(v)+1))
		dst = append(dst, b...)
		dst = append(dst, v...)
		dst = kbin.AppendVarint(dst, 0) // no headers
	}
	binary.BigEndian.PutUint32(dst[start+8:], uint32(len(dst)-start-12))
	binary.BigEndian.PutUint32(dst[crcFrom-4:], crc32.Checksum(dst[crcFrom:], crc32c))
	return dst
}
