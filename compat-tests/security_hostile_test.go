package compat

import (
	"context"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/zombi-dev/zombi/internal/zombitest"
)

// TestSecurityHostile sends what a hostile or broken client sends, with raw
// sockets: an unauthenticated request on a SASL listener, a request out of
// turn after SaslHandshake, an oversized frame before authentication,
// plain bytes on a TLS listener (these four against both brokers); a
// stalled TLS handshake, a connection that never authenticates and one
// past ZOMBI_MAX_CONNECTIONS_PER_IP (Zombi only: Kafka's equivalents are
// minutes long or would cap every other compat test). Each connection must
// be closed in bounded time, the connections already open must keep
// working, and the server must stay up: a produce still works after.
func TestSecurityHostile(t *testing.T) {
	start := time.Now()
	t.Run("both-brokers", func(t *testing.T) {
		eachSecBroker(t, func(t *testing.T, b secBroker) {
			sasl := b.listeners[protoSASLPlaintext]
			t.Run("unauthenticated-Metadata-closes", func(t *testing.T) {
				c := dialRaw(t, sasl)
				// ApiVersions is served before authentication...
				if _, err := roundTrip(c, 1, apiVersions()); err != nil {
					t.Fatalf("ApiVersions before authentication: %v", err)
				}
				// ... Metadata is not: the connection closes, no answer.
				writeRaw(t, c, 2, metadataFor("x"))
				expectClosed(t, c, 5*time.Second)
			})
			t.Run("request-after-SaslHandshake-gets-ILLEGAL_SASL_STATE", func(t *testing.T) {
				c := dialRaw(t, sasl)
				hs := kmsg.NewPtrSASLHandshakeRequest()
				hs.SetVersion(1)
				hs.Mechanism = "PLAIN"
				resp, err := roundTrip(c, 1, hs)
				if err != nil || resp.(*kmsg.SASLHandshakeResponse).ErrorCode != 0 {
					t.Fatalf("SaslHandshake v1 PLAIN: %+v, %v", resp, err)
				}
				// ListGroups v0 has a top-level error code.
				lg := kmsg.NewPtrListGroupsRequest()
				lg.SetVersion(0)
				resp, err = roundTrip(c, 2, lg)
				if err != nil {
					t.Fatalf("ListGroups after SaslHandshake: no answer (%v), want ILLEGAL_SASL_STATE first", err)
				}
				if code := resp.(*kmsg.ListGroupsResponse).ErrorCode; code != kerr.IllegalSaslState.Code {
					t.Fatalf("ListGroups after SaslHandshake: error %v, want ILLEGAL_SASL_STATE", kerr.ErrorForCode(code))
				}
				expectClosed(t, c, 5*time.Second)
				// Metadata has none: the code goes on each topic asked for.
				c = dialRaw(t, sasl)
				if resp, err := roundTrip(c, 1, hs); err != nil || resp.(*kmsg.SASLHandshakeResponse).ErrorCode != 0 {
					t.Fatalf("SaslHandshake v1 PLAIN: %+v, %v", resp, err)
				}
				resp, err = roundTrip(c, 2, metadataFor("x"))
				if err != nil {
					t.Fatalf("Metadata after SaslHandshake: no answer (%v), want ILLEGAL_SASL_STATE first", err)
				}
				if ts := resp.(*kmsg.MetadataResponse).Topics; len(ts) != 1 || ts[0].ErrorCode != kerr.IllegalSaslState.Code {
					t.Fatalf("Metadata after SaslHandshake: topics %+v, want x with ILLEGAL_SASL_STATE", ts)
				}
				expectClosed(t, c, 5*time.Second)
			})
			t.Run("oversized-pre-auth-frame-closes", func(t *testing.T) {
				c := dialRaw(t, sasl)
				// 600000 > 524288, the default of Kafka's
				// sasl.server.max.receive.size and ZOMBI_SASL_MAX_RECEIVE_BYTES:
				// closed on the length, the body never sent.
				var hdr [4]byte
				binary.BigEndian.PutUint32(hdr[:], 600000)
				if _, err := c.Write(append(hdr[:], make([]byte, 64)...)); err != nil {
					t.Fatal(err)
				}
				expectClosed(t, c, 5*time.Second)
			})
			t.Run("plaintext-on-a-TLS-listener-closes", func(t *testing.T) {
				c := dialRaw(t, b.listeners[protoSSL])
				writeRaw(t, c, 1, apiVersions())
				// Kafka sends a TLS alert first (7 bytes), Zombi nothing.
				if got := readUntilClosed(t, c, 5*time.Second); len(got) > 0 && got[0] != 0x15 {
					t.Fatalf("plain Kafka on the SSL listener got %x, want nothing or a TLS alert", got)
				}
			})
			t.Run("client-certificate-of-another-CA-refused", func(t *testing.T) {
				// CN=admin, the super user's name, from a CA the broker
				// does not trust: the handshake fails (with TLS 1.3 the
				// client learns it on its first read).
				cfg := secTLS(t, false)
				pair, err := tls.LoadX509KeyPair(certs.RogueCert, certs.RogueKey)
				if err != nil {
					t.Fatal(err)
				}
				cfg.Certificates = []tls.Certificate{pair}
				raw := dialRaw(t, b.listeners[protoSSL])
				c := tls.Client(raw, cfg)
				if err := c.Handshake(); err == nil {
					if _, err = roundTrip(c, 1, apiVersions()); err == nil {
						t.Fatal("a client certificate from an untrusted CA was accepted")
					}
				}
			})
			t.Run("still-serving", func(t *testing.T) { checkStillServing(t, b) })
		})
	})

	t.Run("zombi-only", func(t *testing.T) {
		// Two dedicated servers, started together: one with a short
		// authentication deadline, one with a per-IP connection cap.
		var (
			wg                sync.WaitGroup
			slow, capped      secBroker
			slowErr, capErr   error
			slowProc, capProc *zombitest.Proc
		)
		wg.Add(2)
		go func() {
			defer wg.Done()
			slow, slowProc, slowErr = startSecZombi("hostile-timeouts", "ZOMBI_AUTH_TIMEOUT_MS=2000")
		}()
		go func() {
			defer wg.Done()
			capped, capProc, capErr = startSecZombi("hostile-cap", "ZOMBI_MAX_CONNECTIONS_PER_IP=8")
		}()
		wg.Wait()
		for _, p := range []*zombitest.Proc{slowProc, capProc} {
			if p != nil {
				t.Cleanup(func() {
					if err := p.Stop(); err != nil {
						t.Errorf("stop: %v\n%s", err, p.Log())
					}
				})
			}
		}
		if slowErr != nil || capErr != nil {
			t.Fatal(errors.Join(slowErr, capErr))
		}

		t.Run("closed", func(t *testing.T) {
			t.Run("stalled-TLS-handshake-closes-at-the-deadline", func(t *testing.T) {
				t.Parallel()
				// Nothing sent, and half a ClientHello: the TLS handshake
				// deadline is ZOMBI_AUTH_TIMEOUT_MS (2 s here).
				var wg sync.WaitGroup
				for _, first := range [][]byte{nil, {0x16, 0x03, 0x01, 0x02, 0x00, 0x01}} {
					wg.Add(1)
					go func() {
						defer wg.Done()
						c := dialRaw(t, slow.listeners[protoSSL])
						if first != nil {
							_, _ = c.Write(first)
						}
						d := expectClosedWithin(t, c, 1500*time.Millisecond, 6*time.Second)
						t.Logf("stalled TLS handshake (%d bytes sent) closed after %v", len(first), d.Round(10*time.Millisecond))
					}()
				}
				wg.Wait()
			})
			t.Run("unauthenticated-connection-closes-at-ZOMBI_AUTH_TIMEOUT_MS", func(t *testing.T) {
				t.Parallel()
				c := dialRaw(t, slow.listeners[protoSASLPlaintext])
				if _, err := roundTrip(c, 1, apiVersions()); err != nil {
					t.Fatalf("ApiVersions: %v", err)
				}
				d := expectClosedWithin(t, c, 1500*time.Millisecond, 6*time.Second)
				t.Logf("closed %v after connecting (ZOMBI_AUTH_TIMEOUT_MS=2000)", d.Round(10*time.Millisecond))
			})
			t.Run("ZOMBI_MAX_CONNECTIONS_PER_IP", func(t *testing.T) {
				t.Parallel()
				addr := capped.listeners[protoSASLPlaintext]
				// The cap is 8; franz-go clients of still-serving take up
				// to 6 connections later.
				var open []net.Conn
				for i := 0; i < 8; i++ {
					c := dialRaw(t, addr)
					if _, err := roundTrip(c, 1, apiVersions()); err != nil {
						t.Fatalf("connection %d of 8: %v", i+1, err)
					}
					open = append(open, c)
				}
				// The 9th is closed (reset) at once: the reset may reach
				// the client as early as its connect, or at the write; no
				// answer either way.
				if extra, err := net.DialTimeout("tcp", addr, 5*time.Second); err == nil {
					t.Cleanup(func() { extra.Close() })
					_, _ = extra.Write(rawFormatter.AppendRequest(nil, apiVersions(), 1))
					expectClosedWithin(t, extra, 0, time.Second)
				} else if !errors.Is(err, syscall.ECONNRESET) {
					t.Fatalf("the 9th connection: %v, want a reset", err)
				}
				for i, c := range open {
					if _, err := roundTrip(c, int32(10+i), apiVersions()); err != nil {
						t.Fatalf("connection %d of 8 after the 9th was refused: %v", i+1, err)
					}
				}
				// A slot freed is a slot taken again; then all are freed
				// for still-serving.
				open[0].Close()
				waitFor(t, testCtx(t, 5*time.Second), "a freed slot", func() error {
					c, err := net.DialTimeout("tcp", addr, time.Second)
					if err != nil {
						return err
					}
					defer c.Close()
					_ = c.SetDeadline(time.Now().Add(time.Second))
					_, err = roundTrip(c, 1, apiVersions())
					return err
				})
				for _, c := range open[1:] {
					c.Close()
				}
			})
		})
		t.Run("still-serving", func(t *testing.T) {
			checkStillServing(t, slow)
			checkStillServing(t, capped)
			for _, p := range []*zombitest.Proc{slowProc, capProc} {
				select {
				case <-p.Done():
					t.Fatalf("zombi exited: %v\n%s", p.Wait(), p.Log())
				default:
				}
			}
		})
	})
	t.Logf("hostile scenarios: %.1f s wall", time.Since(start).Seconds())
}

// startSecZombi starts one more secured Zombi with extra settings, its
// data under the compat tests' temporary directory.
func startSecZombi(name string, extra ...string) (secBroker, *zombitest.Proc, error) {
	ls, err := secListeners()
	if err != nil {
		return secBroker{}, nil, err
	}
	dir, err := os.MkdirTemp(secZombi.dir, name+"-")
	if err != nil {
		return secBroker{}, nil, err
	}
	p, err := startZombi(filepath.Join(dir), zombiSecEnv(ls, extra...))
	if err != nil {
		return secBroker{}, nil, fmt.Errorf("%s zombi: %w", name, err)
	}
	b := secBroker{name: "zombi", listeners: ls, http: p.HTTPBase}
	return b, p, grantAliceOn(b)
}

// grantAliceOn grants alice's ACLs on a broker of its own (grantAlice
// does it once per broker name).
func grantAliceOn(b secBroker) error {
	adm, closeAdm, err := adminClient(b)
	if err != nil {
		return err
	}
	defer closeAdm()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	return createACLs(ctx, adm, aliceACLs()...)
}

// checkStillServing produces and consumes as alice over SASL_SSL.
func checkStillServing(t *testing.T, b secBroker) {
	t.Helper()
	ctx := testCtx(t, 30*time.Second)
	adm := secAdmin(t, b)
	topic := fmt.Sprintf("%salive-%d", alicePrefix, runs.Add(1))
	if err := createSecTopic(ctx, adm, topic); err != nil {
		t.Fatal(err)
	}
	r := kgoSecRun(ctx, b, secCases[2], topic, "", []string{"still", "here"})
	if r.err != nil || len(r.values) != 2 {
		t.Fatalf("produce and consume after the hostile clients: %q, %v", r.values, r.err)
	}
}

func dialRaw(t *testing.T, addr string) net.Conn {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	_ = c.SetDeadline(time.Now().Add(30 * time.Second))
	return c
}

var rawFormatter = kmsg.NewRequestFormatter(kmsg.FormatterClientID("zombi-hostile"))

func writeRaw(t *testing.T, c net.Conn, corr int32, req kmsg.Request) {
	t.Helper()
	if _, err := c.Write(rawFormatter.AppendRequest(nil, req, corr)); err != nil {
		t.Fatalf("write %s: %v", kmsg.NameForKey(req.Key()), err)
	}
}

// roundTrip sends req and reads its response (non-flexible versions only:
// the response header has no tagged fields).
func roundTrip(c net.Conn, corr int32, req kmsg.Request) (kmsg.Response, error) {
	if _, err := c.Write(rawFormatter.AppendRequest(nil, req, corr)); err != nil {
		return nil, err
	}
	var size [4]byte
	if _, err := io.ReadFull(c, size[:]); err != nil {
		return nil, fmt.Errorf("read %s response: %w", kmsg.NameForKey(req.Key()), err)
	}
	n := binary.BigEndian.Uint32(size[:])
	if n < 4 || n > 1<<20 {
		return nil, fmt.Errorf("response size %d", n)
	}
	body := make([]byte, n)
	if _, err := io.ReadFull(c, body); err != nil {
		return nil, err
	}
	if got := int32(binary.BigEndian.Uint32(body)); got != corr {
		return nil, fmt.Errorf("correlation id %d, want %d", got, corr)
	}
	resp := req.ResponseKind()
	resp.SetVersion(req.GetVersion())
	if err := resp.ReadFrom(body[4:]); err != nil {
		return nil, fmt.Errorf("decode %s response: %w", kmsg.NameForKey(req.Key()), err)
	}
	return resp, nil
}

func apiVersions() kmsg.Request {
	r := kmsg.NewPtrApiVersionsRequest()
	r.SetVersion(0)
	return r
}

// metadataFor is Metadata v4 (the newest non-flexible one) for one topic.
func metadataFor(topic string) kmsg.Request {
	r := kmsg.NewPtrMetadataRequest()
	r.SetVersion(4)
	rt := kmsg.NewMetadataRequestTopic()
	rt.Topic = kmsg.StringPtr(topic)
	r.Topics = append(r.Topics, rt)
	return r
}

// readUntilClosed reads until the peer closes c (failing after d) and
// returns what came.
func readUntilClosed(t *testing.T, c net.Conn, d time.Duration) []byte {
	t.Helper()
	_ = c.SetReadDeadline(time.Now().Add(d))
	got, err := io.ReadAll(c)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		t.Fatalf("still open after %v (%d bytes received)", d, len(got))
	}
	return got
}

// expectClosed fails unless the peer closes c within d without sending
// anything.
func expectClosed(t *testing.T, c net.Conn, d time.Duration) {
	t.Helper()
	expectClosedWithin(t, c, 0, d)
}

// expectClosedWithin fails unless the peer closes c, without sending
// anything, after at least min and at most max from now; it returns when
// the close came.
func expectClosedWithin(t *testing.T, c net.Conn, min, max time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	_ = c.SetReadDeadline(start.Add(max))
	buf := make([]byte, 512)
	var got int
	for {
		n, err := c.Read(buf)
		got += n
		if err == nil {
			continue
		}
		d := time.Since(start)
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			t.Fatalf("still open after %v (%d bytes received)", max, got)
		}
		if got > 0 {
			t.Fatalf("received %d bytes before the close, want none", got)
		}
		if d < min {
			t.Fatalf("closed after %v, before %v", d, min)
		}
		return d
	}
}
