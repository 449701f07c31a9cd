package httpapi

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/gin-gonic/gin"
	plog "github.com/zombi-dev/zombi/log"
	"github.com/zombi-dev/zombi/log/batch"
	"github.com/zombi-dev/zombi/stats"
)

// Benchmarks run a real listening server on 127.0.0.1:0 and a real net/http
// client in the same process (so the client's CPU counts against the
// server's on this machine), with the data dir on disk and fsync on.

const singleBody = `{"payload":"hello world, this is a typical small event of about a hundred bytes","headers":{"src":"bench"}}`

func serve(b *testing.B, h http.Handler) string {
	b.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	b.Cleanup(func() { _ = srv.Close() })
	return "http://" + ln.Addr().String()
}

func benchServer(b *testing.B, partitions int32) (string, *plog.Log) {
	b.Helper()
	return benchServerWith(b, partitions, true)
}

func benchServerWith(b *testing.B, partitions int32, coalesce bool) (string, *plog.Log) {
	b.Helper()
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	l, err := plog.Open(plog.Options{Dir: b.TempDir(), SyncWrites: true, Logger: logger})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = l.Close() })
	s := newServer(l, stats.New(), Config{DefaultPartitions: partitions}, logger, coalesce)
	if coalesce {
		b.Cleanup(func() {
			if n := s.co.appends.Load(); n > 0 {
				b.ReportMetric(float64(s.co.events.Load())/float64(n), "ev/append")
			}
		})
	}
	return serve(b, s.handler()), l
}

func newClient(conns int) *http.Client {
	return &http.Client{Transport: &http.Transport{
		MaxIdleConns:        conns,
		MaxIdleConnsPerHost: conns,
		MaxConnsPerHost:     conns,
		IdleConnTimeout:     time.Minute,
		DisableCompression:  true,
	}}
}

// cpuTime is the process's user+system CPU time so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// load runs b.N requests from clients keep-alive connections and reports
// req/s, p50 and p99 latency. body nil sends GETs.
func load(b *testing.B, clients int, method, url, contentType string, body []byte, expect int) []time.Duration {
	b.Helper()
	client := newClient(clients)
	defer client.CloseIdleConnections()
	do := func() (time.Duration, error) {
		var r io.Reader
		if body != nil {
			r = bytes.NewReader(body)
		}
		req, err := http.NewRequest(method, url, r)
		if err != nil {
			return 0, err
		}
		if contentType != "" {
			req.Header.Set("Content-Type", contentType)
		}
		t := time.Now()
		resp, err := client.Do(req)
		if err != nil {
			return 0, err
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		d := time.Since(t)
		if resp.StatusCode != expect {
			return d, fmt.Errorf("status %d", resp.StatusCode)
		}
		return d, nil
	}
	// Warm the connections up.
	var wg sync.WaitGroup
	for range clients {
		wg.Add(1)
		go func() { defer wg.Done(); _, _ = do() }()
	}
	wg.Wait()

	var next atomic.Int64
	lat := make([][]time.Duration, clients)
	var firstErr atomic.Value
	b.ResetTimer()
	cpu0 := cpuTime()
	start := time.Now()
	for i := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for next.Add(1) <= int64(b.N) {
				d, err := do()
				if err != nil {
					firstErr.CompareAndSwap(nil, err)
					return
				}
				lat[i] = append(lat[i], d)
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	cpu := cpuTime() - cpu0
	b.StopTimer()
	if err := firstErr.Load(); err != nil {
		b.Fatal(err)
	}
	all := slices.Concat(lat...)
	slices.Sort(all)
	b.ReportMetric(float64(len(all))/elapsed.Seconds(), "req/s")
	b.ReportMetric(float64(all[len(all)/2].Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(all[len(all)*99/100].Microseconds())/1000, "p99-ms")
	// Process CPU (client and server) per request: steadier than req/s on a
	// shared machine.
	b.ReportMetric(float64(cpu.Microseconds())/float64(len(all)), "cpu-us/req")
	return all
}

func BenchmarkPostSingle(b *testing.B) {
	url, _ := benchServer(b, 1)
	load(b, 64, "POST", url+"/tables/bench", "application/json", []byte(singleBody), 202)
}

// BenchmarkPostSingleDirect is BenchmarkPostSingle without the coalescer.
func BenchmarkPostSingleDirect(b *testing.B) {
	url, _ := benchServerWith(b, 1, false)
	load(b, 64, "POST", url+"/tables/bench", "application/json", []byte(singleBody), 202)
}

func BenchmarkPostSingleOneClient(b *testing.B) {
	url, _ := benchServer(b, 1)
	load(b, 1, "POST", url+"/tables/bench", "application/json", []byte(singleBody), 202)
}

// BenchmarkPostNoop is the same load against a gin handler that reads the
// body and answers a constant: the ceiling for this machine and client.
func BenchmarkPostNoop(b *testing.B) {
	gin.SetMode(gin.ReleaseMode)
	e := gin.New()
	resp := []byte(`{"offset":0,"partition":0,"table":"bench"}` + "\n")
	e.POST("/tables/:table", func(c *gin.Context) {
		_, _ = io.Copy(io.Discard, c.Request.Body)
		c.Data(202, "application/json; charset=utf-8", resp)
	})
	url := serve(b, e)
	load(b, 64, "POST", url+"/tables/bench", "application/json", []byte(singleBody), 202)
}

func bulkBody(n int) []byte {
	var sb strings.Builder
	sb.WriteString(`{"records":[`)
	for i := range n {
		if i > 0 {
			sb.WriteByte(',')
		}
		fmt.Fprintf(&sb, `{"payload":"event number %d with some typical payload text in it","key":"user-%d"}`, i, i%97)
	}
	sb.WriteString(`]}`)
	return []byte(sb.String())
}

func BenchmarkPostBulk1000(b *testing.B) {
	url, _ := benchServer(b, 4)
	load(b, 4, "POST", url+"/tables/bench/bulk", "application/json", bulkBody(1000), 202)
	b.ReportMetric(float64(b.N)*1000/b.Elapsed().Seconds(), "events/s")
}

// BenchmarkGetMerged1000x4 reads limit=1000 merged over 4 partitions of
// 5,000 single-record batches each (the shape single POSTs leave behind).
func BenchmarkGetMerged1000x4(b *testing.B) {
	url, l := benchServer(b, 4)
	if _, _, err := l.EnsureTopic("bench", 4); err != nil {
		b.Fatal(err)
	}
	ts := time.Now().UnixMilli() - 20000
	for chunk := 0; chunk < 20; chunk++ {
		var reqs []plog.AppendRequest
		for i := 0; i < 1000; i++ {
			n := chunk*1000 + i
			bb := batch.NewBuilder()
			bb.Add(ts+int64(n/4), nil, []byte(fmt.Sprintf(`{"n":%d,"text":"some typical payload text for the read benchmark"}`, n)), nil)
			reqs = append(reqs, plog.AppendRequest{Topic: "bench", Partition: int32(n % 4), Batch: bb.Bytes()})
		}
		for _, r := range l.Append(context.Background(), reqs) {
			if r.Err != nil {
				b.Fatal(r.Err)
			}
		}
	}
	load(b, 4, "GET", url+"/tables/bench?limit=1000", "", nil, 200)
}
