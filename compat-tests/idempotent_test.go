package compat

import (
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
// Produce request is forwarded but its connection is cut before the response
// comes back: the broker appended the batch, the client never heard so, and
// retries it. Only the idempotent producer dedupe keeps the log exact.
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

func (p *dropProxy) serve(client net.Conn) {
	defer client.Close()
	server, err := net.Dial("tcp", p.target)
	if err != nil {
		return
	}
	defer server.Close()
	go func() { _, _ = io.Copy(client, server); client.Close() }()
	var size [4]byte
	for {
		if _, err := io.ReadFull(client, size[:]); err != nil {
			return
		}
		body := make([]byte, binary.BigEndian.Uint32(size[:]))
		if _, err := io.ReadFull(client, body); err != nil {
			return
		}
		if _, err := server.Write(append(size[:], body...)); err != nil {
			return
		}
		if len(body) >= 2 && binary.BigEndian.Uint16(body) == 0 && p.drops.Add(-1) >= 0 {
			// Let the broker append, then lose the response.
			time.Sleep(100 * time.Millisecond)
			p.dropped.Add(1)
			return
		}
	}
}

func TestIdempotentProducerInjectedRetries(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	proxyPort := ln.Addr().(*net.TCPAddr).Port
	// A broker that advertises the proxy, so every client connection goes
	// through it.
	z, err := startZombi(filepath.Join(t.TempDir(), "idem"), []string{"ZOMBI_KAFKA_ADVERTISED_PORT=" + strconv.Itoa(proxyPort)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = z.Stop() })
	proxy := startDropProxy(t, ln, z.KafkaAddr, 5)

	ctx := testCtx(t, 60*time.Second)
	topic := topicName(t, "t")
	cl := newClient(t, ln.Addr().String(),
		kgo.RecordRetries(20),
		kgo.RetryBackoffFn(func(int) time.Duration { return 50 * time.Millisecond }),
		kgo.ProducerLinger(time.Millisecond),
		kgo.RequestTimeoutOverhead(2*time.Second),
	)
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
		t.Fatal("the proxy dropped no produce response")
	}
	recs := consume(t, z.KafkaAddr, topic, n)
	checkOrder(t, recs)
	for i, r := range recs {
		if string(r.Value) != strconv.Itoa(i) {
			t.Fatalf("record %d is %q: order lost", i, r.Value)
		}
	}
	t.Logf("%d produce responses dropped; %d records, no duplicates", proxy.dropped.Load(), len(recs))
}
