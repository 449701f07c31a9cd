package kafka

import (
	"bufio"
	"context"
	"encoding/binary"
	"io"
	"log/slog"
	"net"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"
	plog "github.com/zombi-dev/zombi/log"
	"github.com/zombi-dev/zombi/log/batch"
	"github.com/zombi-dev/zombi/stats"
)

type testEnv struct {
	l    *plog.Log
	s    *Server
	addr string
}

func testConfig() Config {
	return Config{AutoCreateTopics: true, DefaultPartitions: 1}
}

// startServer runs a server on a real log in a temp dir, on 127.0.0.1:0.
func startServer(t testing.TB, cfg Config) *testEnv {
	t.Helper()
	return startServerSync(t, cfg, false)
}

// startServerSync is startServer with durable (fsynced) writes on request.
func startServerSync(t testing.TB, cfg Config, sync bool) *testEnv {
	t.Helper()
	l, err := plog.Open(plog.Options{Dir: t.TempDir(), SyncWrites: sync, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	s := NewServer(l, stats.New(), cfg, slog.New(slog.DiscardHandler))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- s.Serve(ln) }()
	t.Cleanup(func() {
		_ = s.Close()
		if err := <-done; err != nil {
			t.Errorf("Serve returned %v after Close", err)
		}
		_ = l.Close()
	})
	return &testEnv{l: l, s: s, addr: ln.Addr().String()}
}

// rawConn speaks the wire protocol by hand, for exact versions.
type rawConn struct {
	t    testing.TB
	c    net.Conn
	br   *bufio.Reader
	corr int32
}

func (e *testEnv) dial(t testing.TB) *rawConn {
	t.Helper()
	c, err := net.Dial("tcp", e.addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return &rawConn{t: t, c: c, br: bufio.NewReader(c)}
}

// frame encodes a request frame with header v1 or v2.
func frame(req kmsg.Request, corr int32) []byte {
	buf := make([]byte, 4, 64)
	buf = binary.BigEndian.AppendUint16(buf, uint16(req.Key()))
	buf = binary.BigEndian.AppendUint16(buf, uint16(req.GetVersion()))
	buf = binary.BigEndian.AppendUint32(buf, uint32(corr))
	buf = binary.BigEndian.AppendUint16(buf, 4)
	buf = append(buf, "test"...)
	if req.IsFlexible() {
		buf = append(buf, 0)
	}
	buf = req.AppendTo(buf)
	binary.BigEndian.PutUint32(buf, uint32(len(buf)-4))
	return buf
}

func (r *rawConn) send(req kmsg.Request, version int16) int32 {
	r.t.Helper()
	req.SetVersion(version)
	r.corr++
	_ = r.c.SetWriteDeadline(time.Now().Add(10 * time.Second))
	if _, err := r.c.Write(frame(req, r.corr)); err != nil {
		r.t.Fatal(err)
	}
	return r.corr
}

// readFrame returns the next response frame's correlation id and the rest.
func (r *rawConn) readFrame() (int32, []byte, error) {
	_ = r.c.SetReadDeadline(time.Now().Add(10 * time.Second))
	var sz [4]byte
	if _, err := io.ReadFull(r.br, sz[:]); err != nil {
		return 0, nil, err
	}
	buf := make([]byte, binary.BigEndian.Uint32(sz[:]))
	if _, err := io.ReadFull(r.br, buf); err != nil {
		return 0, nil, err
	}
	return int32(binary.BigEndian.Uint32(buf)), buf[4:], nil
}

func (r *rawConn) recv(req kmsg.Request, corr int32) kmsg.Response {
	r.t.Helper()
	got, body, err := r.readFrame()
	if err != nil {
		r.t.Fatalf("read response to %s v%d: %v", kmsg.NameForKey(req.Key()), req.GetVersion(), err)
	}
	if got != corr {
		r.t.Fatalf("correlation id %d, want %d", got, corr)
	}
	if req.IsFlexible() && req.Key() != kmsg.ApiVersions.Int16() {
		if body, err = skipTags(body); err != nil {
			r.t.Fatal(err)
		}
	}
	resp := req.ResponseKind()
	if err := resp.ReadFrom(body); err != nil {
		r.t.Fatalf("decode %s v%d response: %v", kmsg.NameForKey(req.Key()), req.GetVersion(), err)
	}
	return resp
}

func (r *rawConn) do(req kmsg.Request, version int16) kmsg.Response {
	r.t.Helper()
	return r.recv(req, r.send(req, version))
}

// expectClosed checks that the server closed the connection.
func (r *rawConn) expectClosed() {
	r.t.Helper()
	_, _, err := r.readFrame()
	if err == nil {
		r.t.Fatal("expected the connection to be closed, got a response")
	}
	if ne, ok := err.(net.Error); ok && ne.Timeout() {
		r.t.Fatal("expected the connection to be closed, it hangs")
	}
}

// mkBatch builds an uncompressed batch of values.
func mkBatch(values ...string) []byte {
	b := batch.NewBuilder()
	ts := time.Now().UnixMilli()
	for _, v := range values {
		b.Add(ts, []byte("k-"+v), []byte(v), []batch.RecordHeader{{Key: "h", Value: []byte("hv")}})
	}
	return append([]byte(nil), b.Bytes()...)
}

func mkBatchTs(ts int64, values ...string) []byte {
	b := batch.NewBuilder()
	for i, v := range values {
		b.Add(ts+int64(i), nil, []byte(v), nil)
	}
	return append([]byte(nil), b.Bytes()...)
}

func mkIdemBatch(pid int64, epoch int16, seq int32, values ...string) []byte {
	b := batch.NewBuilder()
	b.SetProducer(pid, epoch, seq)
	for _, v := range values {
		b.Add(time.Now().UnixMilli(), nil, []byte(v), nil)
	}
	return append([]byte(nil), b.Bytes()...)
}

func produceReq(topic string, part int32, acks int16, records []byte) *kmsg.ProduceRequest {
	req := kmsg.NewPtrProduceRequest()
	req.Acks = acks
	rt := kmsg.NewProduceRequestTopic()
	rt.Topic = topic
	rp := kmsg.NewProduceRequestTopicPartition()
	rp.Partition, rp.Records = part, records
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	return req
}

func (r *rawConn) produce(topic string, part int32, version int16, records []byte) kmsg.ProduceResponseTopicPartition {
	r.t.Helper()
	resp := r.do(produceReq(topic, part, -1, records), version).(*kmsg.ProduceResponse)
	return resp.Topics[0].Partitions[0]
}

func fetchReq(topic string, part int32, offset int64, minBytes, maxWaitMs int32) *kmsg.FetchRequest {
	req := kmsg.NewPtrFetchRequest()
	req.MinBytes, req.MaxWaitMillis = minBytes, maxWaitMs
	rt := kmsg.NewFetchRequestTopic()
	rt.Topic = topic
	rp := kmsg.NewFetchRequestTopicPartition()
	rp.Partition, rp.FetchOffset, rp.PartitionMaxBytes = part, offset, 1<<20
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	return req
}

// decodeAll decodes the records of a fetch response partition.
func decodeAll(t testing.TB, raw []byte) []batch.Record {
	t.Helper()
	var out []batch.Record
	for len(raw) > 0 {
		h, err := batch.ReadHeader(raw)
		if err != nil {
			t.Fatal(err)
		}
		_, recs, err := batch.Records(raw[:h.Size()], 0)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, recs...)
		raw = raw[h.Size():]
	}
	return out
}

func ctxT(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}
