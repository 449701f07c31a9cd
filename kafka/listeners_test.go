package kafka

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/zombi-dev/zombi/auth"
	"github.com/zombi-dev/zombi/tlsconf"
)

func TestParseListeners(t *testing.T) {
	got, err := ParseListeners("PLAINTEXT://127.0.0.1:9092, sasl_ssl://:9094,SSL://[::1]:9093,SASL_PLAINTEXT://0.0.0.0:0")
	if err != nil {
		t.Fatal(err)
	}
	want := []ListenerSpec{{PlainText, "127.0.0.1:9092"}, {SASLSSL, ":9094"}, {SSL, "[::1]:9093"}, {SASLPlainText, "0.0.0.0:0"}}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	for in, wantErr := range map[string]string{
		"":                                     "empty entry",
		"PLAINTEXT://a:1,":                     "empty entry",
		"127.0.0.1:9092":                       "want PROTOCOL://host:port",
		"TLS://a:1":                            `unknown protocol "TLS"`,
		"PLAINTEXT://a":                        "missing port",
		"PLAINTEXT://a:x":                      `bad port "x"`,
		"PLAINTEXT://a:70000":                  `bad port "70000"`,
		"PLAINTEXT://a:1,SSL://b:1":            "port 1 already used by PLAINTEXT://a:1",
		"PLAINTEXT://a:1,PLAINTEXT://a:2":      "protocol PLAINTEXT given twice",
		"SASL_SSL://a:-1":                      `bad port "-1"`,
		"PLAINTEXT://a:1,SSL://b:2,SSL://c:3":  "protocol SSL given twice",
		"PLAINTEXT://a:1,SASL_SSL//b:2":        "want PROTOCOL://host:port",
		"PLAINTEXT://a:1:2":                    "too many colons",
		"PLAINTEXT://[::1]:1,SASL_SSL://[::1]": "missing port",
	} {
		_, err := ParseListeners(in)
		if err == nil || !strings.Contains(err.Error(), wantErr) {
			t.Errorf("ParseListeners(%q): %v, want an error with %q", in, err, wantErr)
		}
	}
}

func TestParseAdvertisedListeners(t *testing.T) {
	ls, err := ParseListeners("PLAINTEXT://127.0.0.1:9092,SASL_SSL://0.0.0.0:9094")
	if err != nil {
		t.Fatal(err)
	}
	adv, err := ParseAdvertisedListeners("SASL_SSL://kafka.example:9092, PLAINTEXT://localhost:9092")
	if err != nil {
		t.Fatalf("the same port on two advertised listeners: %v", err)
	}
	m, err := MatchAdvertised(ls, adv[:1])
	if err != nil || len(m) != 2 || m[SASLSSL] != "kafka.example:9092" || m[PlainText] != "" {
		t.Fatalf("MatchAdvertised: %v, %v", m, err)
	}
	for _, in := range []string{"SASL_SSL://:9092", "PLAINTEXT://h:0", "SSL://h:1,SSL://g:2"} {
		if _, err := ParseAdvertisedListeners(in); err == nil {
			t.Errorf("ParseAdvertisedListeners(%q) accepted", in)
		}
	}
	ssl, _ := ParseAdvertisedListeners("SSL://h:1")
	if _, err := MatchAdvertised(ls, ssl); err == nil || !strings.Contains(err.Error(), "no SSL listener") {
		t.Errorf("advertised SSL without an SSL listener: %v", err)
	}
}

func TestServeListenerRefusesUnusable(t *testing.T) {
	e := startServer(t, testConfig())
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	for _, c := range []struct {
		l    Listener
		want string
	}{
		{Listener{Protocol: "TLS"}, "unknown security protocol"},
		{Listener{Protocol: SSL}, "needs a TLS configuration"},
		{Listener{Protocol: SASLPlainText}, "needs the auth service"},
		{Listener{Protocol: PlainText, Advertised: "nohost"}, "advertised address"},
		{Listener{Protocol: PlainText, Advertised: "h:0"}, "bad port"},
	} {
		if err := e.s.ServeListener(ln, c.l); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: %v, want %q", c.l, err, c.want)
		}
	}
}

// TestAdvertisedPerListener: Metadata, FindCoordinator and DescribeCluster
// answer with the address of the listener the client is connected to.
func TestAdvertisedPerListener(t *testing.T) {
	pki := newPKI(t, "client")
	e := startSecure(t, testConfig(),
		Listener{Protocol: PlainText, Advertised: "inside.example:1111"},
		Listener{Protocol: SSL, Advertised: "outside.example:2222", TLS: pki.serverTLS()})
	check := func(c *rawConn, host string, port int32) {
		t.Helper()
		for _, v := range []int16{0, 9, 13} {
			md := c.do(kmsg.NewPtrMetadataRequest(), v).(*kmsg.MetadataResponse)
			if len(md.Brokers) != 1 || md.Brokers[0].Host != host || md.Brokers[0].Port != port {
				t.Errorf("Metadata v%d: %+v, want %s:%d", v, md.Brokers, host, port)
			}
		}
		fc := kmsg.NewPtrFindCoordinatorRequest()
		fc.CoordinatorKey, fc.CoordinatorKeys = "g", []string{"g"}
		for _, v := range []int16{0, 6} {
			r := c.do(fc, v).(*kmsg.FindCoordinatorResponse)
			h, p := r.Host, r.Port
			if v >= 4 {
				h, p = r.Coordinators[0].Host, r.Coordinators[0].Port
			}
			if h != host || p != port {
				t.Errorf("FindCoordinator v%d: %s:%d, want %s:%d", v, h, p, host, port)
			}
		}
		dc := c.do(kmsg.NewPtrDescribeClusterRequest(), 2).(*kmsg.DescribeClusterResponse)
		if len(dc.Brokers) != 1 || dc.Brokers[0].Host != host || dc.Brokers[0].Port != port {
			t.Errorf("DescribeCluster: %+v, want %s:%d", dc.Brokers, host, port)
		}
	}
	check(dialRaw(t, e.addrs[PlainText], nil), "inside.example", 1111)
	check(dialRaw(t, e.addrs[SSL], pki.clientTLS(false)), "outside.example", 2222)

	// The broker's advertised.listeners lists both, as Kafka's does.
	dcr := kmsg.NewPtrDescribeConfigsRequest()
	res := kmsg.NewDescribeConfigsRequestResource()
	res.ResourceType, res.ResourceName, res.ConfigNames = kmsg.ConfigResourceTypeBroker, "1", []string{"advertised.listeners"}
	dcr.Resources = append(dcr.Resources, res)
	r := dialRaw(t, e.addrs[PlainText], nil).do(dcr, 4).(*kmsg.DescribeConfigsResponse)
	if len(r.Resources) != 1 || len(r.Resources[0].Configs) != 1 ||
		deref(r.Resources[0].Configs[0].Value) != "PLAINTEXT://inside.example:1111,SSL://outside.example:2222" {
		t.Errorf("advertised.listeners: %+v", r.Resources)
	}
}

// TestAdvertisedDefaults: without Advertised, a listener advertises its
// bound address, with Config.AdvertisedHost/Port overriding (today's
// single-listener settings).
func TestAdvertisedDefaults(t *testing.T) {
	e := startSecure(t, testConfig(), Listener{Protocol: PlainText})
	md := dialRaw(t, e.addrs[PlainText], nil).do(kmsg.NewPtrMetadataRequest(), 12).(*kmsg.MetadataResponse)
	if got := net.JoinHostPort(md.Brokers[0].Host, fmt.Sprint(md.Brokers[0].Port)); got != e.addrs[PlainText] {
		t.Fatalf("advertised %s, want the bound %s", got, e.addrs[PlainText])
	}
	cfg := testConfig()
	cfg.AdvertisedHost = "zombi.example"
	e = startSecure(t, cfg, Listener{Protocol: PlainText})
	md = dialRaw(t, e.addrs[PlainText], nil).do(kmsg.NewPtrMetadataRequest(), 12).(*kmsg.MetadataResponse)
	_, port, _ := net.SplitHostPort(e.addrs[PlainText])
	if b := md.Brokers[0]; b.Host != "zombi.example" || fmt.Sprint(b.Port) != port {
		t.Fatalf("advertised %+v, want zombi.example:%s", b, port)
	}
}

// TestSSLClientCertificate: produce and consume over SSL; a verified client
// certificate makes the principal User:<CN>, no certificate ANONYMOUS.
func TestSSLClientCertificate(t *testing.T) {
	seen := principalProbe(t)
	pki := newPKI(t, "alice-cert")
	e := startSecure(t, testConfig(), Listener{Protocol: SSL, TLS: pki.serverTLS()})
	produceConsume(t, e.addrs[SSL], "ssl-topic", kgo.DialTLSConfig(pki.clientTLS(true)))
	if p := seen(); len(p) == 0 || p[len(p)-1] != auth.User("alice-cert") {
		t.Fatalf("principals %v, want User:alice-cert", p)
	}

	c := dialRaw(t, e.addrs[SSL], pki.clientTLS(false))
	c.do(kmsg.NewPtrMetadataRequest(), 12)
	if p := seen(); p[len(p)-1] != auth.Anonymous {
		t.Fatalf("without a client certificate: %v, want User:ANONYMOUS", p[len(p)-1])
	}

	// A client that does not trust the server's CA gets nowhere; one
	// speaking plain Kafka to the TLS port is closed.
	nc, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", e.addrs[SSL], &tls.Config{ServerName: "127.0.0.1"})
	if err == nil {
		_ = nc.Close()
		t.Fatal("TLS handshake succeeded without trusting the CA")
	}
	raw := dialRaw(t, e.addrs[SSL], nil)
	raw.send(kmsg.NewPtrApiVersionsRequest(), 3)
	raw.expectClosed()
	waitFor(t, "TLS failure counted", func() bool { return e.s.SecurityCounters().TLSHandshakeFailures >= 1 })
}

// produceConsume produces 20 records to topic through a kgo client with
// opts and reads them back with another.
func produceConsume(t *testing.T, addr, topic string, opts ...kgo.Opt) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(addr), kgo.AllowAutoTopicCreation()}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	const n = 20
	for i := range n {
		if err := cl.ProduceSync(ctx, &kgo.Record{Topic: topic, Value: fmt.Appendf(nil, "v%d", i)}).FirstErr(); err != nil {
			t.Fatalf("produce %d: %v", i, err)
		}
	}
	cons, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(addr), kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchMaxWait(100 * time.Millisecond)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	defer cons.Close()
	got := 0
	for got < n {
		fs := cons.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("consumed %d of %d: %v", got, n, ctx.Err())
		}
		fs.EachError(func(_ string, _ int32, err error) { t.Fatalf("fetch: %v", err) })
		fs.EachRecord(func(r *kgo.Record) {
			if string(r.Value) != fmt.Sprintf("v%d", got) {
				t.Fatalf("record %d: %q", got, r.Value)
			}
			got++
		})
	}
}

// TestTLSHandshakeTimeout: a client that connects to a TLS listener and
// sends nothing is closed at the handshake deadline, and counted; others
// are served meanwhile.
func TestTLSHandshakeTimeout(t *testing.T) {
	pki := newPKI(t, "client")
	cfg := testConfig()
	cfg.TLSHandshakeTimeout = 300 * time.Millisecond
	e := startSecure(t, cfg, Listener{Protocol: SSL, TLS: pki.serverTLS()})
	stalled, err := net.Dial("tcp", e.addrs[SSL])
	if err != nil {
		t.Fatal(err)
	}
	defer stalled.Close()
	dialRaw(t, e.addrs[SSL], pki.clientTLS(true)).do(kmsg.NewPtrApiVersionsRequest(), 3)
	start := time.Now()
	_ = stalled.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := stalled.Read(make([]byte, 1)); !errors.Is(err, io.EOF) {
		t.Fatalf("stalled client: %v, want EOF", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("stalled client closed after %v", d)
	}
	waitFor(t, "handshake timeout counted", func() bool { return e.s.SecurityCounters().TLSHandshakeTimeouts == 1 })
}

// TestConnectionCaps: past MaxConnections, and past MaxConnectionsPerIP for
// one address, new connections are closed at once and counted; existing
// ones keep working, and a freed slot is usable again.
func TestConnectionCaps(t *testing.T) {
	cfg := testConfig()
	cfg.MaxConnections = 3
	e := startServer(t, cfg)
	var open []*rawConn
	for range 3 {
		c := e.dial(t)
		c.do(kmsg.NewPtrApiVersionsRequest(), 3)
		open = append(open, c)
	}
	expectRefused(t, &net.Dialer{}, e.addr)
	if n := e.s.SecurityCounters().RefusedMaxConnections; n != 1 {
		t.Fatalf("refused %d, want 1", n)
	}
	for _, c := range open {
		c.do(kmsg.NewPtrMetadataRequest(), 12)
	}
	_ = open[0].c.Close()
	waitFor(t, "a free slot", func() bool {
		e.s.mu.Lock()
		defer e.s.mu.Unlock()
		return len(e.s.conns) == 2
	})
	e.dial(t).do(kmsg.NewPtrApiVersionsRequest(), 3)

	cfg = testConfig()
	cfg.MaxConnectionsPerIP = 2
	e = startServer(t, cfg)
	_, port, _ := net.SplitHostPort(e.addr)
	dialFrom := func(src string) *rawConn {
		d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}, Timeout: 5 * time.Second}
		nc, err := d.Dial("tcp", net.JoinHostPort("127.0.0.1", port))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = nc.Close() })
		return &rawConn{t: t, c: nc, br: bufio.NewReader(nc)}
	}
	a1, a2 := dialFrom("127.0.0.1"), dialFrom("127.0.0.1")
	a1.do(kmsg.NewPtrApiVersionsRequest(), 3)
	a2.do(kmsg.NewPtrApiVersionsRequest(), 3)
	expectRefused(t, &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP("127.0.0.1")}}, e.addr)
	if n := e.s.SecurityCounters().RefusedPerIP; n != 1 {
		t.Fatalf("refused per IP %d, want 1", n)
	}
	// Another address is not affected (Linux routes all of 127/8 to lo).
	dialFrom("127.0.0.2").do(kmsg.NewPtrApiVersionsRequest(), 3)
	a1.do(kmsg.NewPtrMetadataRequest(), 12)
	_ = a2.c.Close()
	waitFor(t, "the per-IP slot freed", func() bool {
		e.s.mu.Lock()
		defer e.s.mu.Unlock()
		return e.s.perIP[netip.MustParseAddr("127.0.0.1")] == 1
	})
	dialFrom("127.0.0.1").do(kmsg.NewPtrApiVersionsRequest(), 3)
}

// expectRefused checks that a connection to addr is closed by the server
// without an answer. The server resets it right after accept, so the reset
// may already fail the dial, or the request's write.
func expectRefused(t *testing.T, d *net.Dialer, addr string) {
	t.Helper()
	d.Timeout = 5 * time.Second
	nc, err := d.Dial("tcp", addr)
	if errors.Is(err, syscall.ECONNRESET) {
		return
	}
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	_ = nc.SetDeadline(time.Now().Add(5 * time.Second))
	req := kmsg.NewPtrApiVersionsRequest()
	req.SetVersion(3)
	_, _ = nc.Write(frame(req, 1))
	n, err := nc.Read(make([]byte, 1))
	var ne net.Error
	if err == nil || errors.As(err, &ne) && ne.Timeout() {
		t.Fatalf("refused connection: read %d bytes, %v; want it closed", n, err)
	}
}

// TestSSLCertificateReload: with tlsconf's reloading configuration
// (ZOMBI_TLS_CLIENT_AUTH=required), a new certificate on disk is served to
// new connections while established ones keep working; the client
// certificate's CN is the principal, and a client without one is refused.
func TestSSLCertificateReload(t *testing.T) {
	seen := principalProbe(t)
	ca, err := tlsconf.NewDevCA()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	files := tlsconf.Config{CertFile: dir + "/server.pem", KeyFile: dir + "/server-key.pem", ClientCAFile: dir + "/ca.pem", ClientAuth: tlsconf.ClientAuthRequired}
	if err := (tlsconf.Pair{CertPEM: ca.CertPEM, KeyPEM: ca.KeyPEM}).Write(files.ClientCAFile, dir+"/ca-key.pem"); err != nil {
		t.Fatal(err)
	}
	issueServer := func() {
		p, err := ca.Server()
		if err != nil {
			t.Fatal(err)
		}
		if err := p.Write(files.CertFile, files.KeyFile); err != nil {
			t.Fatal(err)
		}
	}
	issueServer()
	r, err := tlsconf.New(files, nil)
	if err != nil {
		t.Fatal(err)
	}
	e := startSecure(t, testConfig(), Listener{Protocol: SSL, TLS: r.ServerConfig()})
	cli, err := ca.Client("carol")
	if err != nil {
		t.Fatal(err)
	}
	clientTLS, err := ca.ClientConfig(&cli)
	if err != nil {
		t.Fatal(err)
	}
	clientTLS.ServerName = "127.0.0.1"
	serial := func(c *rawConn) string {
		return c.c.(*tls.Conn).ConnectionState().PeerCertificates[0].SerialNumber.String()
	}

	c1 := dialRaw(t, e.addrs[SSL], clientTLS)
	c1.do(kmsg.NewPtrMetadataRequest(), 12)
	if p := seen(); p[len(p)-1] != auth.User("carol") {
		t.Fatalf("principal %v, want User:carol", p[len(p)-1])
	}
	issueServer()
	if err := r.Reload(); err != nil {
		t.Fatal(err)
	}
	c2 := dialRaw(t, e.addrs[SSL], clientTLS)
	if serial(c1) == serial(c2) {
		t.Fatal("a new connection still gets the old certificate after the reload")
	}
	c2.do(kmsg.NewPtrMetadataRequest(), 12)
	c1.do(kmsg.NewPtrMetadataRequest(), 12) // the old connection is still up

	// No client certificate: refused (TLS 1.3 clients learn it at their
	// first read).
	noCert := clientTLS.Clone()
	noCert.Certificates = nil
	nc, err := net.DialTimeout("tcp", e.addrs[SSL], 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	tc := tls.Client(nc, noCert)
	_ = tc.SetDeadline(time.Now().Add(5 * time.Second))
	if err := tc.Handshake(); err == nil {
		req := kmsg.NewPtrApiVersionsRequest()
		req.SetVersion(3)
		_, _ = tc.Write(frame(req, 1))
		if _, err := tc.Read(make([]byte, 1)); err == nil {
			t.Fatal("a client without a certificate was answered")
		}
	}
	waitFor(t, "the refused handshake counted", func() bool { return e.s.SecurityCounters().TLSHandshakeFailures == 1 })
}
