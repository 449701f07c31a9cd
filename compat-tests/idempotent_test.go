package compat

import (
	"context"
	"encoding/binary"
	"io"
	"net"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// dropProxy forwards Kafka connections to a broker. While drops > 0, each
// Produce request is forwarded but its response is not: the proxy cuts the
// connection when the response arrives. The broker appended the batch, the
// client never heard so, and retries it. Only the idempotent producer dedupe
// keeps the log exact.
type dropProxy struct {
	ln      net.Listener
	target  string
	drops   atomic.Int32
	dropped atomic.Int32
	wg      sync.WaitGroup
}

func startDropProxy(t *testing.T, ln net.Listener, target string, drops int32) *dropProxy {
	p := &dropProxy{ln: ln, target: target}
	p.drops.Store(drops)
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			p.wg.Add(1)
			go func() { defer p.wg.Done(); p.serve(c) }()
		}
	}()
	t.Cleanup(func() { ln.Close(); p.wg.Wait() })
	return p
}

// readFrame reads one size-prefixed Kafka frame (request or response) and
// returns it whole, size included.
func readFrame(r io.Reader) ([]byte, error) {
	var size [4]byte
	if _, err := io.ReadFull(r, size[:]); err != nil {
		return nil, err
	}
	frame := make([]byte, 4+binary.BigEndian.Uint32(size[:]))
	copy(frame, size[:])
	if _, err := io.ReadFull(r, frame[4:]); err != nil {
		return nil, err
	}
	return frame, nil
}

func (p *dropProxy) serve(client net.Conn) {
	defer client.Close()
	server, err := net.Dial("tcp", p.target)
	if err != nil {
		return
	}
	defer server.Close()
	// lose is the correlation id of the produce request whose response
	// is lost (-1: none yet). Responses carry their request's id first.
	var lose atomic.Int64
	lose.Store(-1)
	responses := make(chan struct{})
	go func() {
		defer close(responses)
		defer client.Close()
		for {
			frame, err := readFrame(server)
			if err != nil || len(frame) < 8 {
				return
			}
			if int64(int32(binary.BigEndian.Uint32(frame[4:]))) == lose.Load() {
				p.dropped.Add(1) // appended by the broker, never acknowledged
				return
			}
			if _, err := client.Write(frame); err != nil {
				return
			}
		}
	}()
	for {
		frame, err := readFrame(client)
		if err != nil || len(frame) < 12 {
			return
		}
		// Request header: api key (Produce is 0), version, correlation id.
		drop := binary.BigEndian.Uint16(frame[4:]) == 0 && p.drops.Add(-1) >= 0
		if drop {
			lose.Store(int64(int32(binary.BigEndian.Uint32(frame[8:]))))
		}
		if _, err := server.Write(frame); err != nil {
			return
		}
		if drop {
			<-responses // the response came and was lost: cut the connection
			return
		}
	}
}

// TestIdempotentProducerInjectedRetries: every connection of an idempotent
// franz-go producer goes through dropProxy, which loses five produce
// responses; the retries must leave each record exactly once, in order.
func TestIdempotentProducerInjectedRetries(t *testing.T) {
	eachBroker(t, func(t *testing.T, b broker) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		var opts []kgo.Opt
		target := b.addr
		if b.isZombi() {
			// A Zombi of its own that advertises the proxy
			// (ZOMBI_KAFKA_ADVERTISED_PORT), so every client connection
			// goes through it.
			proxyPort := ln.Addr().(*net.TCPAddr).Port
			z, err := startZombi(filepath.Join(t.TempDir(), "idem"), []string{"ZOMBI_KAFKA_ADVERTISED_PORT=" + strconv.Itoa(proxyPort)})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = z.Stop() })
			target = z.KafkaAddr
		} else {
			// The shared Kafka advertises itself (a second Kafka that
			// advertises the proxy would cost a JVM start): the client's
			// dialer sends every connection to the proxy instead.
			opts = append(opts, kgo.Dialer(func(ctx context.Context, network, _ string) (net.Conn, error) {
				return (&net.Dialer{}).DialContext(ctx, network, ln.Addr().String())
			}))
		}
		proxy := startDropProxy(t, ln, target, 5)

		ctx := testCtx(t, 60*time.Second)
		topic := topicName(t, "t")
		cl := newClient(t, ln.Addr().String(), append(opts,
			kgo.RecordRetries(20), // each retry waits for a metadata refresh (newClient: MetadataMinAge)
			kgo.RetryBackoffFn(func(int) time.Duration { return 50 * time.Millisecond }),
			kgo.ProducerLinger(time.Millisecond),
			kgo.RequestTimeoutOverhead(2*time.Second),
		)...)
		const n = 200
		var wg sync.WaitGroup
		for i := 0; i < n; i++ {
			wg.Add(1)
			cl.Produce(ctx, &kgo.Record{Topic: topic, Value: []byte(strconv.Itoa(i))}, func(_ *kgo.Record, err error) {
				defer wg.Done()
				if err != nil {
					t.Errorf("produce: %v", err)
				}
			})
			if i%20 == 0 {
				time.Sleep(20 * time.Millisecond) // several produce requests, several drops
			}
		}
		wg.Wait()
		if proxy.dropped.Load() == 0 {
			t.Fatal("the proxy lost no produce response")
		}
		recs := consume(t, target, topic, n)
		checkOrder(t, recs)
		for i, r := range recs {
			if string(r.Value) != strconv.Itoa(i) {
				t.Fatalf("record %d is %q: order lost", i, r.Value)
			}
		}
		t.Logf("%d produce responses lost; %d records, no duplicates", proxy.dropped.Load(), len(recs))
	})
}
