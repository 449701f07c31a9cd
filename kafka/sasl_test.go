package kafka

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"runtime"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/sasl"
	"github.com/twmb/franz-go/pkg/sasl/plain"
	"github.com/twmb/franz-go/pkg/sasl/scram"
	xscram "github.com/xdg-go/scram"
	"github.com/zombi-dev/zombi/auth"
)

// newAuth is a real auth service with users alice and bob (a short
// failed-auth delay keeps the tests quick).
func newAuth(t testing.TB) *auth.Service {
	t.Helper()
	a, err := auth.Open(auth.NewMemStore(), auth.Config{FailedAuthDelay: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	for u, p := range map[string]string{"alice": "alice-secret", "bob": "bob-secret"} {
		if err := a.SetPassword(u, p); err != nil {
			t.Fatal(err)
		}
	}
	return a
}

func saslConfig(t testing.TB) Config {
	cfg := testConfig()
	cfg.Auth = newAuth(t)
	return cfg
}

// countRequests counts the requests with key the server handles. Call it
// before starting the server (the registry is global).
func countRequests(t testing.TB, key kmsg.Key) func() int {
	var mu sync.Mutex
	n := 0
	orig := apis[key.Int16()]
	wrapped := orig
	wrapped.fn = func(s *Server, ctx context.Context, req kmsg.Request) (kmsg.Response, error) {
		mu.Lock()
		n++
		mu.Unlock()
		return orig.fn(s, ctx, req)
	}
	apis[key.Int16()] = wrapped
	t.Cleanup(func() { apis[key.Int16()] = orig })
	return func() int {
		mu.Lock()
		defer mu.Unlock()
		return n
	}
}

// TestSASLClients: kgo produces and consumes over SASL_PLAINTEXT (PLAIN,
// SCRAM-SHA-256) and SASL_SSL (SCRAM-SHA-512, PLAIN); the connection acts
// as User:alice.
func TestSASLClients(t *testing.T) {
	seen := principalProbe(t)
	pki := newPKI(t, "client")
	e := startSecure(t, saslConfig(t),
		Listener{Protocol: SASLPlainText},
		Listener{Protocol: SASLSSL, TLS: pki.serverTLS()})
	tlsOpt := kgo.DialTLSConfig(pki.clientTLS(false))
	for _, c := range []struct {
		name  string
		proto SecurityProtocol
		mech  sasl.Mechanism
		extra []kgo.Opt
	}{
		{"plain", SASLPlainText, plain.Auth{User: "alice", Pass: "alice-secret"}.AsMechanism(), nil},
		{"scram-sha-256", SASLPlainText, scram.Auth{User: "alice", Pass: "alice-secret"}.AsSha256Mechanism(), nil},
		{"scram-sha-512-tls", SASLSSL, scram.Auth{User: "alice", Pass: "alice-secret"}.AsSha512Mechanism(), []kgo.Opt{tlsOpt}},
		{"plain-tls", SASLSSL, plain.Auth{User: "alice", Pass: "alice-secret"}.AsMechanism(), []kgo.Opt{tlsOpt}},
	} {
		t.Run(c.name, func(t *testing.T) {
			produceConsume(t, e.addrs[c.proto], "sasl-"+c.name, append(c.extra, kgo.SASL(c.mech))...)
			p := seen()
			if len(p) == 0 || p[len(p)-1] != auth.User("alice") {
				t.Fatalf("principals %v, want User:alice", p)
			}
		})
	}
	if c := e.s.SecurityCounters(); c != (SecurityCounters{}) {
		t.Fatalf("counters %+v after good clients", c)
	}
}

// TestSASLWrongPassword: a wrong password or an unknown user is refused
// with SASL_AUTHENTICATION_FAILED, for PLAIN and SCRAM, and counted.
func TestSASLWrongPassword(t *testing.T) {
	e := startSecure(t, saslConfig(t), Listener{Protocol: SASLPlainText})
	for name, mech := range map[string]sasl.Mechanism{
		"plain":         plain.Auth{User: "alice", Pass: "wrong"}.AsMechanism(),
		"scram-sha-256": scram.Auth{User: "alice", Pass: "wrong"}.AsSha256Mechanism(),
		"scram-sha-512": scram.Auth{User: "nobody", Pass: "alice-secret"}.AsSha512Mechanism(),
	} {
		t.Run(name, func(t *testing.T) {
			cl, err := kgo.NewClient(kgo.SeedBrokers(e.addrs[SASLPlainText]), kgo.SASL(mech), kgo.RequestRetries(0))
			if err != nil {
				t.Fatal(err)
			}
			defer cl.Close()
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			_, err = cl.Request(ctx, kmsg.NewPtrMetadataRequest())
			if !errors.Is(err, kerr.SaslAuthenticationFailed) {
				t.Fatalf("got %v, want SASL_AUTHENTICATION_FAILED", err)
			}
		})
	}
	if n := e.s.SecurityCounters().AuthFailures; n < 3 {
		t.Fatalf("auth failures counted %d, want >= 3", n)
	}

	// By hand: the failure response, with the generic message, then close.
	c := dialRaw(t, e.addrs[SASLPlainText], nil)
	handshake(t, c, 1, auth.Plain)
	a := kmsg.NewPtrSASLAuthenticateRequest()
	a.SASLAuthBytes = []byte("\x00alice\x00wrong")
	r := c.do(a, 2).(*kmsg.SASLAuthenticateResponse)
	if r.ErrorCode != kerr.SaslAuthenticationFailed.Code || r.ErrorMessage == nil || *r.ErrorMessage != saslFailedMessage {
		t.Fatalf("failure response %+v", r)
	}
	c.expectClosed()
}

func handshake(t testing.TB, c *rawConn, version int16, mech string) *kmsg.SASLHandshakeResponse {
	t.Helper()
	h := kmsg.NewPtrSASLHandshakeRequest()
	h.Mechanism = mech
	r := c.do(h, version).(*kmsg.SASLHandshakeResponse)
	if r.ErrorCode != 0 {
		t.Fatalf("SaslHandshake v%d %s: error %d", version, mech, r.ErrorCode)
	}
	return r
}

// plainAuth authenticates c as user with SaslHandshake v1 and
// SaslAuthenticate v2.
func plainAuth(t testing.TB, c *rawConn, user, pass string) *kmsg.SASLAuthenticateResponse {
	t.Helper()
	handshake(t, c, 1, auth.Plain)
	a := kmsg.NewPtrSASLAuthenticateRequest()
	a.SASLAuthBytes = []byte("\x00" + user + "\x00" + pass)
	return c.do(a, 2).(*kmsg.SASLAuthenticateResponse)
}

// rawToken writes a raw length-prefixed SASL token and reads the reply.
func rawToken(t testing.TB, c *rawConn, tok []byte) ([]byte, error) {
	t.Helper()
	_ = c.c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.c.Write(binary.BigEndian.AppendUint32(nil, uint32(len(tok)))); err != nil {
		t.Fatal(err)
	}
	if _, err := c.c.Write(tok); err != nil {
		t.Fatal(err)
	}
	var sz [4]byte
	if _, err := io.ReadFull(c.br, sz[:]); err != nil {
		return nil, err
	}
	out := make([]byte, binary.BigEndian.Uint32(sz[:]))
	_, err := io.ReadFull(c.br, out)
	return out, err
}

// TestSASLHandshakeV0RawTokens: the kafka-python 2.0.2 flow, driven by
// hand: SaslHandshake v0, then raw tokens (PLAIN, SCRAM-SHA-256), then
// Kafka requests.
func TestSASLHandshakeV0RawTokens(t *testing.T) {
	seen := principalProbe(t)
	e := startSecure(t, saslConfig(t), Listener{Protocol: SASLPlainText})

	c := dialRaw(t, e.addrs[SASLPlainText], nil)
	c.do(kmsg.NewPtrApiVersionsRequest(), 0)
	r := handshake(t, c, 0, auth.Plain)
	if !slices.Equal(r.SupportedMechanisms, []string{auth.ScramSHA256, auth.ScramSHA512, auth.Plain}) {
		t.Fatalf("mechanisms %v", r.SupportedMechanisms)
	}
	if out, err := rawToken(t, c, []byte("\x00bob\x00bob-secret")); err != nil || len(out) != 0 {
		t.Fatalf("raw PLAIN reply %q, %v; want an empty token", out, err)
	}
	md := c.do(kmsg.NewPtrMetadataRequest(), 1).(*kmsg.MetadataResponse)
	if len(md.Brokers) != 1 {
		t.Fatalf("metadata after raw PLAIN: %+v", md)
	}
	if p := seen(); p[len(p)-1] != auth.User("bob") {
		t.Fatalf("principal %v, want User:bob", p[len(p)-1])
	}

	// SCRAM over raw tokens: two round trips.
	c = dialRaw(t, e.addrs[SASLPlainText], nil)
	handshake(t, c, 0, auth.ScramSHA256)
	cl, err := xscram.SHA256.NewClient("alice", "alice-secret", "")
	if err != nil {
		t.Fatal(err)
	}
	conv := cl.NewConversation()
	msg, err := conv.Step("")
	for err == nil && !conv.Done() {
		var reply []byte
		if reply, err = rawToken(t, c, []byte(msg)); err != nil {
			t.Fatalf("raw SCRAM: %v", err)
		}
		msg, err = conv.Step(string(reply))
	}
	if err != nil || !conv.Valid() {
		t.Fatalf("SCRAM conversation: %v (valid %v)", err, conv.Valid())
	}
	c.do(kmsg.NewPtrMetadataRequest(), 12)
	if p := seen(); p[len(p)-1] != auth.User("alice") {
		t.Fatalf("principal %v, want User:alice", p[len(p)-1])
	}

	// A wrong raw PLAIN token: closed without a reply.
	c = dialRaw(t, e.addrs[SASLPlainText], nil)
	handshake(t, c, 0, auth.Plain)
	if out, err := rawToken(t, c, []byte("\x00bob\x00nope")); err == nil {
		t.Fatalf("wrong raw PLAIN answered %q", out)
	}
}

// TestSASLRefusals: the requests a SASL listener refuses before
// authentication, and how.
func TestSASLRefusals(t *testing.T) {
	cfg := saslConfig(t)
	cfg.SASLMaxReceiveBytes = 1024
	e := startSecure(t, cfg, Listener{Protocol: SASLPlainText}, Listener{Protocol: PlainText})
	addr := e.addrs[SASLPlainText]

	t.Run("unauthenticated metadata closes", func(t *testing.T) {
		c := dialRaw(t, addr, nil)
		c.send(kmsg.NewPtrMetadataRequest(), 12)
		c.expectClosed()
	})
	t.Run("authenticate without handshake closes", func(t *testing.T) {
		c := dialRaw(t, addr, nil)
		a := kmsg.NewPtrSASLAuthenticateRequest()
		a.SASLAuthBytes = []byte("\x00alice\x00alice-secret")
		c.send(a, 1)
		c.expectClosed()
	})
	t.Run("illegal state with an error code", func(t *testing.T) {
		c := dialRaw(t, addr, nil)
		handshake(t, c, 1, auth.Plain)
		r := c.do(kmsg.NewPtrApiVersionsRequest(), 3).(*kmsg.ApiVersionsResponse)
		if r.ErrorCode != kerr.IllegalSaslState.Code {
			t.Fatalf("ApiVersions after handshake: error %d, want ILLEGAL_SASL_STATE", r.ErrorCode)
		}
		c.expectClosed()
		c = dialRaw(t, addr, nil)
		handshake(t, c, 1, auth.Plain)
		ip := kmsg.NewPtrInitProducerIDRequest()
		if r := c.do(ip, 4).(*kmsg.InitProducerIDResponse); r.ErrorCode != kerr.IllegalSaslState.Code {
			t.Fatalf("InitProducerID after handshake: error %d, want ILLEGAL_SASL_STATE", r.ErrorCode)
		}
		c.expectClosed()
	})
	t.Run("illegal state without an error code closes", func(t *testing.T) {
		c := dialRaw(t, addr, nil)
		handshake(t, c, 1, auth.Plain)
		c.send(kmsg.NewPtrMetadataRequest(), 12) // all topics: nowhere to put the code
		c.expectClosed()
	})
	t.Run("illegal state on each metadata topic", func(t *testing.T) {
		// As Kafka 4.4: the error on every topic asked for, then closed.
		for _, v := range []int16{4, 12} {
			c := dialRaw(t, addr, nil)
			handshake(t, c, 1, auth.Plain)
			m := kmsg.NewPtrMetadataRequest()
			rt := kmsg.NewMetadataRequestTopic()
			rt.Topic = kmsg.StringPtr("orders")
			m.Topics = append(m.Topics, rt)
			r := c.do(m, v).(*kmsg.MetadataResponse)
			if len(r.Topics) != 1 || r.Topics[0].ErrorCode != kerr.IllegalSaslState.Code || r.Topics[0].Topic == nil || *r.Topics[0].Topic != "orders" {
				t.Fatalf("Metadata v%d after handshake: %+v, want orders with ILLEGAL_SASL_STATE", v, r.Topics)
			}
			c.expectClosed()
		}
	})
	t.Run("second handshake", func(t *testing.T) {
		c := dialRaw(t, addr, nil)
		handshake(t, c, 1, auth.Plain)
		h := kmsg.NewPtrSASLHandshakeRequest()
		h.Mechanism = auth.Plain
		if r := c.do(h, 1).(*kmsg.SASLHandshakeResponse); r.ErrorCode != kerr.IllegalSaslState.Code {
			t.Fatalf("second handshake: error %d", r.ErrorCode)
		}
		c.expectClosed()
	})
	t.Run("unsupported mechanism", func(t *testing.T) {
		c := dialRaw(t, addr, nil)
		h := kmsg.NewPtrSASLHandshakeRequest()
		h.Mechanism = "GSSAPI"
		r := c.do(h, 1).(*kmsg.SASLHandshakeResponse)
		if r.ErrorCode != kerr.UnsupportedSaslMechanism.Code || len(r.SupportedMechanisms) != 3 {
			t.Fatalf("GSSAPI: %+v", r)
		}
		c.expectClosed()
	})
	t.Run("oversized pre-auth frame", func(t *testing.T) {
		c := dialRaw(t, addr, nil)
		_, _ = c.c.Write(binary.BigEndian.AppendUint32(nil, 4096))
		_, _ = c.c.Write(make([]byte, 100))
		c.expectClosed()
		c = dialRaw(t, addr, nil)
		handshake(t, c, 0, auth.Plain)
		if _, err := rawToken(t, c, make([]byte, 2000)); err == nil {
			t.Fatal("oversized raw token answered")
		}
	})
	t.Run("plaintext listener", func(t *testing.T) {
		// No SASL here: Kafka answers ILLEGAL_SASL_STATE and serves on.
		c := dialRaw(t, e.addrs[PlainText], nil)
		h := kmsg.NewPtrSASLHandshakeRequest()
		h.Mechanism = auth.Plain
		if r := c.do(h, 1).(*kmsg.SASLHandshakeResponse); r.ErrorCode != kerr.IllegalSaslState.Code {
			t.Fatalf("handshake on PLAINTEXT: error %d", r.ErrorCode)
		}
		c.do(kmsg.NewPtrMetadataRequest(), 12)
	})
	got := e.s.SecurityCounters()
	if got.UnauthenticatedReqs < 5 || got.OversizedPreAuthFrames != 2 {
		t.Fatalf("counters %+v", got)
	}
	// The server is still fine.
	c := dialRaw(t, addr, nil)
	if r := plainAuth(t, c, "alice", "alice-secret"); r.ErrorCode != 0 {
		t.Fatalf("good login after refusals: %+v", r)
	}
}

// TestSASLAuthTimeout: a connection that does not authenticate within
// AuthTimeout is closed and counted.
func TestSASLAuthTimeout(t *testing.T) {
	cfg := saslConfig(t)
	cfg.AuthTimeout = time.Second
	e := startSecure(t, cfg, Listener{Protocol: SASLPlainText})
	start := time.Now()
	c := dialRaw(t, e.addrs[SASLPlainText], nil)
	c.do(kmsg.NewPtrApiVersionsRequest(), 3)
	handshake(t, c, 1, auth.ScramSHA256)
	c.expectClosed()
	if d := time.Since(start); d < 900*time.Millisecond || d > 3*time.Second {
		t.Fatalf("closed after %v", d)
	}
	waitFor(t, "auth timeout counted", func() bool { return e.s.SecurityCounters().AuthTimeouts == 1 })
}

// TestSASLReauthKgo: with ReauthMax, kgo re-authenticates on its own
// (session_lifetime_ms) and keeps producing across several sessions.
func TestSASLReauthKgo(t *testing.T) {
	handshakes := countRequests(t, kmsg.SASLHandshake)
	cfg := saslConfig(t)
	cfg.ReauthMax = 1500 * time.Millisecond
	e := startSecure(t, cfg, Listener{Protocol: SASLPlainText})
	cl, err := kgo.NewClient(kgo.SeedBrokers(e.addrs[SASLPlainText]), kgo.AllowAutoTopicCreation(),
		kgo.SASL(scram.Auth{User: "alice", Pass: "alice-secret"}.AsSha256Mechanism()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	start := time.Now()
	n := 0
	for time.Since(start) < 3*time.Second {
		if err := cl.ProduceSync(ctx, &kgo.Record{Topic: "reauth", Value: []byte("x")}).FirstErr(); err != nil {
			t.Fatalf("produce %d after %v: %v", n, time.Since(start), err)
		}
		n++
		time.Sleep(20 * time.Millisecond)
	}
	sc := e.s.SecurityCounters()
	if sc.ReauthExpired != 0 || sc.AuthFailures != 0 {
		t.Fatalf("counters %+v", sc)
	}
	// Two connections (metadata, produce) each authenticate once, then
	// the producing one at least once per 1.5 s session.
	if h := handshakes(); h < 3 {
		t.Fatalf("%d handshakes in 3 s of producing, want re-authentications", h)
	}
}

// TestSASLReauthRaw: a client that ignores session_lifetime_ms is closed at
// its next request after expiry; re-authentication as the same principal
// extends the session; as another principal it fails and closes.
func TestSASLReauthRaw(t *testing.T) {
	cfg := saslConfig(t)
	cfg.ReauthMax = time.Second
	e := startSecure(t, cfg, Listener{Protocol: SASLPlainText})
	addr := e.addrs[SASLPlainText]

	c := dialRaw(t, addr, nil)
	if r := plainAuth(t, c, "alice", "alice-secret"); r.ErrorCode != 0 || r.SessionLifetimeMillis != 1000 {
		t.Fatalf("authenticate: %+v, want session_lifetime_ms 1000", r)
	}
	c.do(kmsg.NewPtrMetadataRequest(), 12)
	time.Sleep(1100 * time.Millisecond)
	c.send(kmsg.NewPtrMetadataRequest(), 12)
	c.expectClosed()
	if n := e.s.SecurityCounters().ReauthExpired; n != 1 {
		t.Fatalf("expired sessions counted %d", n)
	}

	c = dialRaw(t, addr, nil)
	plainAuth(t, c, "alice", "alice-secret")
	time.Sleep(1100 * time.Millisecond)
	if r := plainAuth(t, c, "alice", "alice-secret"); r.ErrorCode != 0 {
		t.Fatalf("re-authentication after expiry: %+v", r)
	}
	c.do(kmsg.NewPtrMetadataRequest(), 12)

	if r := plainAuth(t, c, "bob", "bob-secret"); r.ErrorCode != kerr.SaslAuthenticationFailed.Code {
		t.Fatalf("re-authentication as another user: %+v", r)
	}
	c.expectClosed()

	// v0 handshake on an authenticated connection: ILLEGAL_SASL_STATE.
	c = dialRaw(t, addr, nil)
	plainAuth(t, c, "alice", "alice-secret")
	h := kmsg.NewPtrSASLHandshakeRequest()
	h.Mechanism = auth.Plain
	if r := c.do(h, 0).(*kmsg.SASLHandshakeResponse); r.ErrorCode != kerr.IllegalSaslState.Code {
		t.Fatalf("v0 re-handshake: %+v", r)
	}
	c.expectClosed()
}

// TestSASLGateAllocates nothing: the per-request check of an authenticated
// connection stays off the allocator, with and without session expiry.
func TestSASLGateAllocatesNothing(t *testing.T) {
	s := &Server{cfg: Config{ReauthMax: time.Hour}}
	c := newSASLConn(s, &connInfo{})
	c.succeeded0()
	if n := testing.AllocsPerRun(1000, func() {
		if err := c.gate(kmsg.Produce.Int16()); err != nil {
			t.Fatal(err)
		}
	}); n != 0 {
		t.Fatalf("gate allocates %v times per request", n)
	}
}

// BenchmarkSASLGate: the cost per request of an authenticated SASL
// connection (with session expiry: an atomic load and a clock read).
func BenchmarkSASLGate(b *testing.B) {
	for _, reauth := range []time.Duration{0, time.Hour} {
		b.Run("reauth="+reauth.String(), func(b *testing.B) {
			s := &Server{cfg: Config{ReauthMax: reauth}}
			c := newSASLConn(s, &connInfo{})
			c.succeeded0()
			b.ReportAllocs()
			for b.Loop() {
				if err := c.gate(kmsg.Produce.Int16()); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// succeeded0 marks c authenticated without an exchange (tests only).
func (c *saslConn) succeeded0() {
	c.sess = noSession{}
	c.succeeded()
	c.stop()
}

type noSession struct{}

func (noSession) Step(context.Context, []byte) ([]byte, bool, error) { return nil, true, nil }
func (noSession) Principal() auth.Principal                          { return auth.User("test") }

// TestApiVersionsAdvertisesSASL: SaslHandshake v0-1 and SaslAuthenticate
// v0-2 are advertised on every listener (librdkafka uses SaslAuthenticate
// only when both are), before authentication too.
func TestApiVersionsAdvertisesSASL(t *testing.T) {
	e := startSecure(t, saslConfig(t), Listener{Protocol: PlainText}, Listener{Protocol: SASLPlainText})
	for _, p := range []SecurityProtocol{PlainText, SASLPlainText} {
		r := dialRaw(t, e.addrs[p], nil).do(kmsg.NewPtrApiVersionsRequest(), 3).(*kmsg.ApiVersionsResponse)
		want := map[int16][2]int16{kmsg.SASLHandshake.Int16(): {0, 1}, kmsg.SASLAuthenticate.Int16(): {0, 2}}
		for _, k := range r.ApiKeys {
			if w, ok := want[k.ApiKey]; ok && (k.MinVersion != w[0] || k.MaxVersion != w[1]) {
				t.Errorf("%s: key %d v%d-v%d, want v%d-v%d", p, k.ApiKey, k.MinVersion, k.MaxVersion, w[0], w[1])
			}
			delete(want, k.ApiKey)
		}
		if len(want) != 0 {
			t.Errorf("%s: not advertised: %v", p, want)
		}
	}
}

// TestSASLPreAuthFrameMemory: clients that announce a frame of
// SASLMaxReceiveBytes before authenticating and then send nothing must not
// each make the server allocate the whole frame (65536 such connections
// would hold 32 GiB).
func TestSASLPreAuthFrameMemory(t *testing.T) {
	cfg := saslConfig(t)
	cfg.AuthTimeout = 500 * time.Millisecond
	e := startSecure(t, cfg, Listener{Protocol: SASLPlainText})
	const conns = 16
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	for range conns {
		c := dialRaw(t, e.addrs[SASLPlainText], nil)
		_, _ = c.c.Write(binary.BigEndian.AppendUint32(nil, DefaultSASLMaxReceiveBytes))
	}
	waitFor(t, "every connection timed out", func() bool { return e.s.SecurityCounters().AuthTimeouts == conns })
	runtime.ReadMemStats(&after)
	t.Logf("allocated %d bytes", after.TotalAlloc-before.TotalAlloc)
	// The connection buffers (4 KiB each before authentication) are
	// expected; whole frames (512 KiB each) or full-size read buffers
	// (64 KiB each) are not.
	if got := after.TotalAlloc - before.TotalAlloc; got > conns*connReadBuffer {
		t.Fatalf("%d silent connections that announced %d-byte frames allocated %d bytes", conns, DefaultSASLMaxReceiveBytes, got)
	}
}

// afterAuthReader keeps what the small pre-authentication reader had
// buffered (a client that pipelines its first request behind its last SASL
// message) in front of the connection's later bytes.
func TestAfterAuthReaderKeepsBufferedBytes(t *testing.T) {
	client, server := net.Pipe()
	defer client.Close()
	defer server.Close()
	go func() {
		_, _ = client.Write([]byte("token|first-request"))
		_, _ = client.Write([]byte("|second"))
	}()
	pre := bufio.NewReaderSize(server, preAuthReadBuffer)
	tok := make([]byte, len("token|"))
	if _, err := io.ReadFull(pre, tok); err != nil {
		t.Fatal(err)
	}
	br := afterAuthReader(pre, server)
	if br.Size() != connReadBuffer {
		t.Fatalf("pipeline reader of %d bytes, want %d", br.Size(), connReadBuffer)
	}
	got := make([]byte, len("first-request|second"))
	if _, err := io.ReadFull(br, got); err != nil {
		t.Fatal(err)
	}
	if string(got) != "first-request|second" {
		t.Fatalf("after authentication the pipeline read %q", got)
	}
}
