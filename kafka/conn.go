package kafka

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/zombi-dev/zombi/metrics"
)

// Framing (Kafka's): every request is int32 size, then the request header
// (api_key int16, api_version int16, correlation_id int32, client_id
// nullable string, and tagged fields when the version is flexible), then the
// body. A response is int32 size, correlation_id, an empty tagged-field
// section when flexible (never for ApiVersions), then the body.
//
// Each connection has two goroutines: a reader that frames requests and
// queues up to maxInFlight of them, and the connection's main goroutine that
// processes them one at a time, in order, and writes each response. Requests
// of one connection are processed sequentially, as Kafka does: an idempotent
// producer's pipelined Produce requests are appended in the order sent. A
// Produce that arrives when nothing else of its connection is queued or in
// progress is answered by the reader itself, which saves a hand-off per
// request for producers that wait for each acknowledgement.

// errProtocol marks a request that closes the connection.
var errProtocol = errors.New("kafka protocol violation")

// errCloseAfterResponse, returned with a response, closes the connection
// once the response is written (a failed SASL authentication, a request out
// of SASL order: Kafka answers, then closes).
var errCloseAfterResponse = errors.New("connection closed after the response")

// serveConn runs one client connection of listener li until it ends or the
// server closes: the TLS handshake and SASL authentication when li asks for
// them (sasl.go), then the request pipeline.
func (s *Server) serveConn(nc net.Conn, li *listenerInfo) {
	raw := nc // the key of s.conns and s.pipes
	remote := nc.RemoteAddr().String()
	defer func() {
		if r := recover(); r != nil {
			s.logger.Error("panic serving connection", "remote", remote, "panic", r, "stack", string(debug.Stack()))
		}
		_ = nc.Close()
	}()
	ci := newConnInfo(remote, li) // client id and host for group members, principal, listener
	if li.protocol.UsesTLS() {
		tc, err := s.tlsHandshake(nc, li)
		if err != nil {
			s.logger.Debug("closing connection", "remote", remote, "err", err)
			return
		}
		nc = tc
		if li.protocol == SSL {
			ci.principal = certPrincipal(tc.ConnectionState())
		}
	}
	ctx, cancel := context.WithCancel(withConnInfo(s.ctx, ci))
	defer cancel()
	var br *bufio.Reader
	if li.protocol.UsesSASL() {
		ci.sasl = newSASLConn(s, ci)
		defer ci.sasl.stop()
		// A small buffer until the client proves who it is: unauthenticated
		// connections up to the caps must not each hold 64 KiB.
		pre := bufio.NewReaderSize(nc, preAuthReadBuffer)
		if err := s.authenticate(ctx, nc, pre, ci.sasl); err != nil {
			if ctx.Err() == nil && !errors.Is(err, io.EOF) && !errors.Is(err, net.ErrClosed) {
				s.logger.Debug("closing connection before authentication", "remote", remote, "err", err)
			}
			return
		}
		br = afterAuthReader(pre, nc)
	} else {
		br = bufio.NewReaderSize(nc, connReadBuffer)
	}
	q := &queued{freed: make(chan struct{}, 1)}
	q.last.Store(time.Now().UnixNano())
	s.mu.Lock()
	s.pipes[raw] = q
	s.mu.Unlock()
	s.pipeline(ctx, cancel, nc, br, q)
}

// Read buffers: connReadBuffer for the request pipeline, preAuthReadBuffer
// while a SASL connection authenticates (its frames are small).
const (
	connReadBuffer    = 64 << 10
	preAuthReadBuffer = 4 << 10
)

// afterAuthReader returns the pipeline's reader once a SASL connection is
// authenticated: a full-size one, starting with whatever the small one
// still buffers (clients wait for the SaslAuthenticate answer, so normally
// nothing).
func afterAuthReader(pre *bufio.Reader, nc net.Conn) *bufio.Reader {
	n := pre.Buffered()
	if n == 0 {
		return bufio.NewReaderSize(nc, connReadBuffer)
	}
	rest, _ := pre.Peek(n) // buffered: cannot fail
	return bufio.NewReaderSize(io.MultiReader(bytes.NewReader(bytes.Clone(rest)), nc), connReadBuffer)
}

// pipeline reads, processes and answers requests until the connection ends.
func (s *Server) pipeline(ctx context.Context, cancel context.CancelFunc, nc net.Conn, br *bufio.Reader, q *queued) {
	frames := make(chan []byte, maxInFlight)
	readerDone := make(chan struct{})
	remote := nc.RemoteAddr().String()
	go func() {
		defer close(readerDone)
		defer close(frames)
		err := s.readFrames(ctx, nc, br, frames, q)
		if err != nil && ctx.Err() == nil && !errors.Is(err, io.EOF) && !errors.Is(err, net.ErrClosed) {
			s.logger.Debug("closing connection", "remote", remote, "err", err)
		}
		// The client is gone or broken: stop long polls of this connection.
		cancel()
	}()
	defer func() {
		cancel()
		_ = nc.Close()
		for range frames { // drain so the reader can exit
		}
		<-readerDone
	}()

	for buf := range frames {
		if err := s.answer(ctx, nc, buf, q); err != nil {
			if ctx.Err() == nil {
				s.logger.Debug("closing connection", "remote", remote, "err", err)
			}
			return
		}
	}
}

// answer processes one frame and writes its response. The frame counts as
// queued until its response is written, so the reader answers a Produce
// itself only when no earlier response can still be on its way.
func (s *Server) answer(ctx context.Context, nc net.Conn, buf []byte, q *queued) error {
	resp, err := s.handleFrame(ctx, buf)
	if resp != nil { // with errCloseAfterResponse, too
		_ = nc.SetWriteDeadline(time.Now().Add(writeTimeout))
		if _, werr := nc.Write(resp); werr != nil {
			err = werr
		}
	}
	q.release(len(buf))
	if err != nil || resp == nil {
		return err
	}
	if s.drainingNow() && binary.BigEndian.Uint16(buf) == uint16(kmsg.Fetch.Int16()) && q.closeIfIdle(time.Now(), 0) {
		// A fetcher whose long poll Drain cut short would ask again at
		// once: with nothing else of its connection pending, the
		// connection closes and the fetcher looks for another node.
		return errDrained
	}
	q.armIdle(nc, s.cfg.IdleTimeout, false)
	return nil
}

// queued tracks the bytes of requests read but not yet processed on one
// connection, so that read-ahead cannot pile up maxInFlight huge frames.
type queued struct {
	bytes atomic.Int64
	last  atomic.Int64  // unix nanos of the last response written
	freed chan struct{} // signalled when bytes drop
	armMu sync.Mutex    // serialises armIdle
}

// armIdle starts the idle timeout when no request is queued or in progress:
// a JoinGroup or a long-polling Fetch may wait far longer than the idle
// timeout, and the connection is not idle meanwhile. The reader calls it
// before waiting for the next frame (clearing the deadline while requests are
// in progress); the processor after each response, once the queue is empty.
func (q *queued) armIdle(nc net.Conn, idle time.Duration, reader bool) {
	q.armMu.Lock()
	defer q.armMu.Unlock()
	if q.bytes.Load() == 0 {
		_ = nc.SetReadDeadline(time.Now().Add(idle))
	} else if reader {
		_ = nc.SetReadDeadline(time.Time{})
	}
}

// readAheadBytes bounds the request bytes queued per connection; a single
// frame (up to MaxRequestBytes) is always let in when nothing is queued.
const readAheadBytes = 32 << 20

// drainedMark in bytes: the connection is closing (Server.Drain); no
// request is admitted any more.
const drainedMark = math.MinInt64 / 2

// errDrained: a request begun after Drain closed the connection.
var errDrained = errors.New("kafka: connection closed by a graceful stop")

// closeIfIdle marks the queue closed when no request is queued or in
// progress and none was for quiet; true when it did (the caller closes the
// connection). The quiet time spares a request already sent but not yet
// read, which a close would cut off: a client that sends one request
// after another is told NOT_LEADER_OR_FOLLOWER and moves on first.
func (q *queued) closeIfIdle(now time.Time, quiet time.Duration) bool {
	if q.bytes.Load() < 0 {
		return true
	}
	if now.UnixNano()-q.last.Load() < int64(quiet) {
		return false
	}
	return q.bytes.CompareAndSwap(0, drainedMark)
}

func (q *queued) release(n int) {
	q.last.Store(time.Now().UnixNano())
	q.bytes.Add(-int64(n))
	select {
	case q.freed <- struct{}{}:
	default:
	}
}

// wait blocks until a frame of n bytes may be read.
func (q *queued) wait(ctx context.Context, n int) error {
	for {
		cur := q.bytes.Load()
		if cur < 0 {
			return errDrained
		}
		if cur == 0 || cur+int64(n) <= readAheadBytes {
			if q.bytes.CompareAndSwap(cur, cur+int64(n)) {
				return nil
			}
			continue
		}
		select {
		case <-q.freed:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// readFrames reads size-prefixed frames into out until an error.
func (s *Server) readFrames(ctx context.Context, nc net.Conn, br *bufio.Reader, out chan<- []byte, q *queued) error {
	var sizeBuf [4]byte
	for {
		q.armIdle(nc, s.cfg.IdleTimeout, true)
		if _, err := io.ReadFull(br, sizeBuf[:]); err != nil {
			return err
		}
		size := int32(binary.BigEndian.Uint32(sizeBuf[:]))
		if size < 8 || size > s.cfg.MaxRequestBytes {
			return fmt.Errorf("%w: request size %d outside [8, %d]", errProtocol, size, s.cfg.MaxRequestBytes)
		}
		if err := q.wait(ctx, int(size)); err != nil {
			return err
		}
		_ = nc.SetReadDeadline(time.Now().Add(bodyTimeout))
		buf, err := readN(br, int(size))
		if err != nil {
			return err
		}
		// A Produce arriving while nothing else of the connection is queued
		// or in progress (only its own bytes are) is answered here: it
		// cannot block for long, and nothing else can be written meanwhile.
		// This saves a goroutine hand-off per request for single-record
		// producers.
		if q.bytes.Load() == int64(len(buf)) && binary.BigEndian.Uint16(buf) == uint16(kmsg.Produce.Int16()) {
			if err := s.answer(ctx, nc, buf, q); err != nil {
				return err
			}
			continue
		}
		select {
		case out <- buf:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// readN reads exactly n bytes, growing the buffer as data arrives so that a
// client announcing a huge frame and sending nothing costs little memory.
func readN(r io.Reader, n int) ([]byte, error) { return readNFrom(r, n, 1<<20) }

// readNFrom is readN with the buffer allocated at once only for frames of
// at most direct bytes.
func readNFrom(r io.Reader, n, direct int) ([]byte, error) {
	if n <= direct {
		buf := make([]byte, n)
		_, err := io.ReadFull(r, buf)
		return buf, err
	}
	var b bytes.Buffer
	b.Grow(direct)
	m, err := b.ReadFrom(io.LimitReader(r, int64(n)))
	if err != nil {
		return nil, err
	}
	if m != int64(n) {
		return nil, io.ErrUnexpectedEOF
	}
	return b.Bytes(), nil
}

// requestHeader is a parsed request header.
type requestHeader struct {
	key           int16
	version       int16
	correlationID int32
	clientID      []byte // aliases the frame; nil when the client sent none
}

// parseHeader parses the request header and returns the body. The tagged
// fields of a flexible header are skipped.
func parseHeader(buf []byte) (requestHeader, kmsg.Request, []byte, error) {
	var h requestHeader
	if len(buf) < 8 {
		return h, nil, nil, fmt.Errorf("%w: short request header", errProtocol)
	}
	h.key = int16(binary.BigEndian.Uint16(buf))
	h.version = int16(binary.BigEndian.Uint16(buf[2:]))
	h.correlationID = int32(binary.BigEndian.Uint32(buf[4:]))
	buf = buf[8:]
	if len(buf) < 2 {
		return h, nil, nil, fmt.Errorf("%w: missing client id", errProtocol)
	}
	n := int16(binary.BigEndian.Uint16(buf))
	buf = buf[2:]
	if n >= 0 {
		if int(n) > len(buf) {
			return h, nil, nil, fmt.Errorf("%w: client id past end of request", errProtocol)
		}
		h.clientID = buf[:n:n]
		buf = buf[n:]
	} else if n != -1 {
		return h, nil, nil, fmt.Errorf("%w: client id length %d", errProtocol, n)
	}
	// An API key kmsg knows is decoded even when no handler implements it:
	// it is answered with UNSUPPORTED_VERSION (unsupported.go).
	req := kmsg.RequestForKey(h.key)
	if req == nil {
		return h, nil, nil, fmt.Errorf("%w: unknown api key %d", errProtocol, h.key)
	}
	req.SetVersion(h.version)
	if h.version < 0 {
		return h, req, nil, fmt.Errorf("%w: negative version %d", errProtocol, h.version)
	}
	if req.IsFlexible() {
		rest, err := skipTags(buf)
		if err != nil {
			return h, req, nil, err
		}
		buf = rest
	}
	return h, req, buf, nil
}

// skipTags skips a tagged-field section.
func skipTags(b []byte) ([]byte, error) {
	n, w := binary.Uvarint(b)
	if w <= 0 || n > uint64(len(b)) {
		return nil, fmt.Errorf("%w: bad tagged fields in header", errProtocol)
	}
	b = b[w:]
	for range n {
		_, w := binary.Uvarint(b) // tag
		if w <= 0 {
			return nil, fmt.Errorf("%w: bad tag in header", errProtocol)
		}
		b = b[w:]
		size, w := binary.Uvarint(b)
		if w <= 0 || size > uint64(len(b)-w) {
			return nil, fmt.Errorf("%w: bad tag size in header", errProtocol)
		}
		b = b[w+int(size):]
	}
	return b, nil
}

// handleFrame decodes one request frame, runs its handler and returns the
// encoded response (nil when none is due, as for acks=0 produce). An error
// means the connection must be closed; with errCloseAfterResponse, after
// the response is written.
func (s *Server) handleFrame(ctx context.Context, buf []byte) (out []byte, err error) {
	defer func() {
		if r := recover(); r != nil {
			s.logger.Error("panic handling request", "panic", r, "stack", string(debug.Stack()))
			out, err = nil, fmt.Errorf("panic: %v", r)
		}
	}()
	return s.process(ctx, buf)
}

// process is handleFrame without the recover (the fuzz target calls it so
// that a panic is a failure, not a closed connection).
func (s *Server) process(ctx context.Context, buf []byte) ([]byte, error) {
	h, req, body, err := parseHeader(buf)
	if err != nil {
		return nil, err
	}
	ci := connInfoFrom(ctx)
	if ci != nil && ci.sasl != nil {
		// SASL listener: before authentication, during a SASL exchange
		// and once the session expired, only some requests may pass.
		if err := ci.sasl.gate(h.key); err != nil {
			return refuseRequest(h, req, body, err)
		}
	}
	api, implemented := apis[h.key]
	if h.key == kmsg.ApiVersions.Int16() && (h.version > api.max || h.version > req.MaxVersion()) {
		// Kafka answers an ApiVersions it cannot parse with a v0 body that
		// carries UNSUPPORTED_VERSION and the versions it does support, so
		// the client can retry with one of them.
		resp := apiVersionsResponse(0, s.cfg.Cluster != nil)
		resp.ErrorCode = errUnsupportedVersion
		return encodeResponse(h, resp, false), nil
	}
	if h.version > req.MaxVersion() {
		// A version we cannot even decode, nor answer in a format the
		// client expects: Kafka closes the connection.
		return nil, fmt.Errorf("%w: %s v%d not supported (v%d-v%d)", errProtocol, kmsg.NameForKey(h.key), h.version, api.min, api.max)
	}
	if !implemented || h.version > api.max {
		// Decodable but not implemented (an API no handler serves, or a
		// version above the handler's): UNSUPPORTED_VERSION at once
		// (unsupported.go; Kafka would close the connection).
		if err := req.ReadFrom(body); err != nil {
			return nil, fmt.Errorf("%w: decode %s v%d: %w", errProtocol, kmsg.NameForKey(h.key), h.version, err)
		}
		s.logger.Debug("unsupported request", "api", kmsg.NameForKey(h.key), "version", h.version)
		resp := unsupportedResponse(req, implemented, api.min, api.max)
		return encodeResponse(h, resp, req.IsFlexible() && h.key != kmsg.ApiVersions.Int16()), nil
	}
	// Versions below api.min are decoded and handed to the handler, which
	// answers them with UNSUPPORTED_VERSION error codes (Produce v0-v2,
	// Fetch v0-v3).
	if err := req.ReadFrom(body); err != nil {
		return nil, fmt.Errorf("%w: decode %s v%d: %w", errProtocol, kmsg.NameForKey(h.key), h.version, err)
	}
	ci.setClientID(h.clientID)
	start := metrics.Now()
	resp, err := api.fn(s, ctx, req)
	api.m.observe(start)
	if resp == nil || err != nil && !errors.Is(err, errCloseAfterResponse) {
		return nil, err
	}
	resp.SetVersion(h.version)
	return encodeResponse(h, resp, req.IsFlexible() && h.key != kmsg.ApiVersions.Int16()), err
}

// encodeResponse frames resp for the request with header h.
func encodeResponse(h requestHeader, resp kmsg.Response, flexibleHeader bool) []byte {
	out := make([]byte, 8, 256) // one allocation for a typical response
	binary.BigEndian.PutUint32(out[4:], uint32(h.correlationID))
	if flexibleHeader {
		out = append(out, 0)
	}
	out = resp.AppendTo(out)
	binary.BigEndian.PutUint32(out, uint32(len(out)-4))
	return out
}
