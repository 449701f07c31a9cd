package kafka

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"log/slog"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/zombi-dev/zombi/auth"
	plog "github.com/zombi-dev/zombi/log"
	"github.com/zombi-dev/zombi/stats"
)

// errorCounter is a slog handler that counts error records: a panic
// recovered while handling a request is logged at error level.
type errorCounter struct{ n atomic.Int64 }

func (h *errorCounter) Enabled(_ context.Context, l slog.Level) bool { return l >= slog.LevelError }
func (h *errorCounter) Handle(context.Context, slog.Record) error {
	h.n.Add(1)
	return nil
}
func (h *errorCounter) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h *errorCounter) WithGroup(string) slog.Handler      { return h }

// bytesConn is a connection whose client sent data and then closed its
// side; what the server writes is discarded.
type bytesConn struct {
	r       *bytes.Reader
	written int
}

func (c *bytesConn) Read(p []byte) (int, error)       { return c.r.Read(p) }
func (c *bytesConn) Write(p []byte) (int, error)      { c.written += len(p); return len(p), nil }
func (c *bytesConn) Close() error                     { return nil }
func (c *bytesConn) LocalAddr() net.Addr              { return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 9092} }
func (c *bytesConn) RemoteAddr() net.Addr             { return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 1} }
func (c *bytesConn) SetDeadline(time.Time) error      { return nil }
func (c *bytesConn) SetReadDeadline(time.Time) error  { return nil }
func (c *bytesConn) SetWriteDeadline(time.Time) error { return nil }

// saslSeeds are byte streams a client could send to a SASL listener
// before authentication: Kafka frames, raw tokens, oversized sizes.
func saslSeeds() [][]byte {
	req := func(r kmsg.Request, v int16) []byte {
		r.SetVersion(v)
		return frame(r, 1)
	}
	hs := func(v int16, mech string) []byte {
		h := kmsg.NewPtrSASLHandshakeRequest()
		h.Mechanism = mech
		return req(h, v)
	}
	sa := func(v int16, tok string) []byte {
		a := kmsg.NewPtrSASLAuthenticateRequest()
		a.SASLAuthBytes = []byte(tok)
		return req(a, v)
	}
	raw := func(tok string) []byte { return append(binary.BigEndian.AppendUint32(nil, uint32(len(tok))), tok...) }
	cat := func(parts ...[]byte) []byte {
		var out []byte
		for _, p := range parts {
			out = append(out, p...)
		}
		return out
	}
	const scramFirst = "n,,n=alice,r=fyko+d2lbbFgONRv9qkxdawL"
	return [][]byte{
		cat(req(kmsg.NewPtrApiVersionsRequest(), 3), hs(1, auth.Plain), sa(2, "\x00alice\x00alice-secret"), req(kmsg.NewPtrMetadataRequest(), 12)),
		cat(hs(1, auth.Plain), sa(0, "\x00alice\x00wrong")),
		cat(hs(0, auth.Plain), raw("\x00bob\x00bob-secret")),
		cat(hs(0, auth.Plain), raw("alice\x00alice\x00alice-secret\x00")),
		cat(hs(1, auth.ScramSHA256), sa(1, scramFirst), sa(1, "c=biws,r=fyko+d2lbbFgONRv9qkxdawL,p=AAAA")),
		cat(hs(0, auth.ScramSHA512), raw(scramFirst), raw("c=biws,r=x,p=AAAA")),
		cat(hs(1, "GSSAPI")),
		cat(hs(1, auth.Plain), req(kmsg.NewPtrApiVersionsRequest(), 3)),
		cat(sa(2, "\x00alice\x00alice-secret")),
		req(kmsg.NewPtrMetadataRequest(), 12),
		binary.BigEndian.AppendUint32(nil, 1<<20),
		binary.BigEndian.AppendUint32(nil, 0xffffffff),
		cat(hs(0, auth.Plain), raw("")),
	}
}

// FuzzSASLFrames feeds arbitrary bytes to an unauthenticated SASL
// connection (the pre-authentication framing, the state machine, raw
// tokens and auth's mechanisms). Nothing may panic, the handler must end
// when the client does, and an exchange may only succeed as a real user.
func FuzzSASLFrames(f *testing.F) {
	for _, s := range saslSeeds() {
		f.Add(s)
	}
	l, err := plog.Open(plog.Options{Dir: f.TempDir(), Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		f.Fatal(err)
	}
	defer l.Close()
	errs := &errorCounter{}
	a, err := auth.Open(auth.NewMemStore(), auth.Config{})
	if err != nil {
		f.Fatal(err)
	}
	for u, p := range map[string]string{"alice": "alice-secret", "bob": "bob-secret"} {
		if err := a.SetPassword(u, p); err != nil {
			f.Fatal(err)
		}
	}
	cfg := testConfig()
	cfg.Auth = a
	cfg.AuthTimeout = 2 * time.Second
	cfg.SASLMaxReceiveBytes = 64 << 10
	s := NewServer(l, stats.New(), cfg, slog.New(errs))
	defer s.Close()
	li := &listenerInfo{protocol: SASLPlainText, host: "localhost", port: 9092}

	f.Fuzz(func(t *testing.T, data []byte) {
		nc := &bytesConn{r: bytes.NewReader(data)}
		ci := newConnInfo("127.0.0.1:1", li)
		ci.sasl = newSASLConn(s, ci)
		ctx, cancel := context.WithCancel(withConnInfo(s.ctx, ci))
		defer cancel()
		done := make(chan error, 1)
		go func() { done <- s.authenticate(ctx, nc, bufio.NewReader(nc), ci.sasl) }()
		var err error
		select {
		case err = <-done:
		case <-time.After(5 * time.Second):
			t.Fatalf("pre-auth handler still running 5 s after the input ended: %q", data)
		}
		if n := errs.n.Load(); n != 0 {
			t.Fatalf("%d error logs (a recovered panic?) for %q", n, data)
		}
		if err == nil {
			if p := ci.principal; p != auth.User("alice") && p != auth.User("bob") {
				t.Fatalf("authenticated as %v from %q", p, data)
			}
		}
	})
}
