package tiering

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	plog "github.com/zombi-dev/zombi/log"
	"github.com/zombi-dev/zombi/log/batch"
)

// memStore is an in-memory ObjectStore for unit tests, with a switch that
// makes every call fail (S3 down).
type memStore struct {
	mu   sync.Mutex
	objs map[string][]byte
	down atomic.Bool
	puts atomic.Int64
}

var errDown = errors.New("memstore: connection refused")

func newMemStore() *memStore { return &memStore{objs: map[string][]byte{}} }

func (m *memStore) Put(_ context.Context, key string, body []byte) error {
	if m.down.Load() {
		return errDown
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.objs[key] = append([]byte(nil), body...)
	m.puts.Add(1)
	return nil
}

func (m *memStore) Get(_ context.Context, key string, off, n int64) ([]byte, error) {
	if m.down.Load() {
		return nil, errDown
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	b, ok := m.objs[key]
	if !ok {
		return nil, ErrNotFound
	}
	if n < 0 {
		n = int64(len(b)) - off
	}
	if off+n > int64(len(b)) {
		return nil, fmt.Errorf("range %d+%d past %d", off, n, len(b))
	}
	return append([]byte(nil), b[off:off+n]...), nil
}

func (m *memStore) List(_ context.Context, prefix, after string, fn func(string, int64) bool) error {
	if m.down.Load() {
		return errDown
	}
	m.mu.Lock()
	var keys []string
	for k := range m.objs {
		if strings.HasPrefix(k, prefix) && k > after {
			keys = append(keys, k)
		}
	}
	sizes := map[string]int64{}
	for _, k := range keys {
		sizes[k] = int64(len(m.objs[k]))
	}
	m.mu.Unlock()
	sort.Strings(keys)
	for _, k := range keys {
		if !fn(k, sizes[k]) {
			break
		}
	}
	return nil
}

func (m *memStore) Delete(_ context.Context, keys ...string) error {
	if m.down.Load() {
		return errDown
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, k := range keys {
		delete(m.objs, k)
	}
	return nil
}

func (m *memStore) keys(prefix string) []string {
	var out []string
	_ = m.List(context.Background(), prefix, "", func(k string, _ int64) bool { out = append(out, k); return true })
	return out
}

func (m *memStore) corrupt(key string, at int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.objs[key][at] ^= 0xff
}

func testLogger(t testing.TB) *slog.Logger {
	if testing.Verbose() {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

func openLog(t testing.TB, dir string) *plog.Log {
	t.Helper()
	l, err := plog.Open(plog.Options{Dir: dir, Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// fastConfig flushes quickly, for tests.
func fastConfig() Config {
	return Config{FlushInterval: 50 * time.Millisecond, FlushBatchSize: 1000, FlushMaxSegment: 100, FlushMaxBytes: 1 << 20}
}

// appendN appends n records in batches of per, payload "p{part}-{i}", with
// timestamps ts0+i, and returns the next offset.
func appendN(t testing.TB, l *plog.Log, topic string, part int32, from, n, per int, ts0 int64) {
	t.Helper()
	appendPad(t, l, topic, part, from, n, per, ts0, "")
}

// appendPad is appendN with pad appended to every payload.
func appendPad(t testing.TB, l *plog.Log, topic string, part int32, from, n, per int, ts0 int64, pad string) {
	t.Helper()
	for i := from; i < from+n; i += per {
		b := batch.NewBuilder()
		for k := i; k < min(i+per, from+n); k++ {
			b.Add(ts0+int64(k), []byte("k"+strconv.Itoa(k)), []byte(fmt.Sprintf("p%d-%d", part, k)+pad), nil)
		}
		res := l.Append(context.Background(), []plog.AppendRequest{{Topic: topic, Partition: part, Batch: append([]byte(nil), b.Bytes()...)}})
		if res[0].Err != nil {
			t.Fatalf("append %s/%d: %v", topic, part, res[0].Err)
		}
	}
}

// readAll reads a partition from offset 0 through the log (both tiers) and
// checks every record is there exactly once, in order, with its payload.
func readAll(t testing.TB, l *plog.Log, topic string, part int32, want int) {
	t.Helper()
	readPad(t, l, topic, part, want, "")
}

// readPad is readAll for records written by appendPad.
func readPad(t testing.TB, l *plog.Log, topic string, part int32, want int, pad string) {
	t.Helper()
	readRange(t, l, topic, part, 0, int64(want), pad)
	if _, hwm, _ := l.Offsets(topic, part); hwm != int64(want) {
		t.Fatalf("%s/%d: high watermark %d, want %d", topic, part, hwm, want)
	}
}

// readFrom reads a partition from offset from up to want through the log
// and checks every record (payloads as appendN writes them).
func readFrom(t testing.TB, l *plog.Log, topic string, part int32, from, want int64) {
	t.Helper()
	readRange(t, l, topic, part, from, want, "")
}

func readRange(t testing.TB, l *plog.Log, topic string, part int32, from, want int64, pad string) {
	t.Helper()
	next := from
	for next < want {
		rr, err := l.Read(topic, part, next, 64<<10)
		if err != nil {
			t.Fatalf("read %s/%d at %d: %v", topic, part, next, err)
		}
		if len(rr.Batches) == 0 {
			t.Fatalf("read %s/%d at %d: no batches (hwm %d)", topic, part, next, rr.HighWatermark)
		}
		next = checkRecords(t, topic, part, next, rr.Batches, pad)
	}
}

// checkRecords checks that the records of bs from offset next on continue
// it without a gap or repeat, with appendN's (or appendPad's) payloads, and
// returns the offset after them.
func checkRecords(t testing.TB, topic string, part int32, next int64, bs []plog.Batch, pad string) int64 {
	t.Helper()
	for _, b := range bs {
		_, recs, err := batch.Records(b.Raw, 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range recs {
			if r.Offset < next {
				continue
			}
			if r.Offset != next {
				t.Fatalf("%s/%d: got offset %d, want %d", topic, part, r.Offset, next)
			}
			if w := fmt.Sprintf("p%d-%d", part, next) + pad; string(r.Value) != w {
				t.Fatalf("%s/%d@%d: payload %.40q, want %.40q", topic, part, next, r.Value, w)
			}
			next++
		}
	}
	return next
}

// eventually polls cond every 10 ms until it holds or d has passed, and says
// whether it held.
func eventually(d time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(10 * time.Millisecond)
	}
	return true
}

// waitFlushed waits until the cold tier holds every offset below end.
func waitFlushed(t testing.TB, tr *Tier, topic string, part int32, end int64) {
	t.Helper()
	if !eventually(20*time.Second, func() bool { _, e, ok := tr.Bounds(topic, part); return ok && e >= end }) {
		s, e, ok := tr.Bounds(topic, part)
		t.Fatalf("%s/%d not flushed to %d in time: cold [%d, %d) %v", topic, part, end, s, e, ok)
	}
}

// hotStart is the hot log start (read below it is a cold read).
func waitHotStart(t testing.TB, l *plog.Log, tr *Tier, topic string, part int32, want int64) {
	t.Helper()
	ps := tr.lookup(topic, part)
	if !eventually(10*time.Second, func() bool { return ps.trimmedTo.Load() >= want }) {
		t.Fatalf("%s/%d: hot data below %d not dropped (trimmed to %d)", topic, part, want, ps.trimmedTo.Load())
	}
}

// versity is a versitygw S3 server over a directory, started by a test.
type versity struct {
	bin, dir, addr string
	cmd            *exec.Cmd
	done           chan struct{}
}

// versitygwBinary finds versitygw: $ZOMBI_VERSITYGW, .bin/versitygw at the
// repository root, or PATH.
func versitygwBinary() string {
	if p := os.Getenv("ZOMBI_VERSITYGW"); p != "" {
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	if wd, err := os.Getwd(); err == nil {
		for d := wd; ; d = filepath.Dir(d) {
			if _, err := os.Stat(filepath.Join(d, "go.mod")); err == nil {
				p := filepath.Join(d, ".bin", "versitygw")
				if _, err := os.Stat(p); err == nil {
					return p
				}
				break
			}
			if filepath.Dir(d) == d {
				break
			}
		}
	}
	if p, err := exec.LookPath("versitygw"); err == nil {
		return p
	}
	return ""
}

// startVersity starts versitygw on a free port with a temporary directory,
// sets the AWS credentials for it, and returns the endpoint.
func startVersity(t testing.TB) *versity {
	t.Helper()
	bin := versitygwBinary()
	if bin == "" {
		t.Skip("versitygw not found: run `GOBIN=$PWD/.bin go install github.com/versity/versitygw/cmd/versitygw@v1.8.0` or set ZOMBI_VERSITYGW")
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	v := &versity{bin: bin, dir: t.TempDir(), addr: addr}
	t.Setenv("AWS_ACCESS_KEY_ID", "testkey")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "testsecret123")
	t.Setenv("AWS_REGION", "us-east-1")
	v.start(t)
	t.Cleanup(v.stop)
	return v
}

func (v *versity) endpoint() string { return "http://" + v.addr }

func (v *versity) start(t testing.TB) {
	t.Helper()
	cmd := exec.Command(v.bin, "--port", v.addr, "--quiet", "posix", v.dir)
	cmd.Env = append(os.Environ(), "ROOT_ACCESS_KEY_ID=testkey", "ROOT_SECRET_ACCESS_KEY=testsecret123")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	v.cmd, v.done = cmd, make(chan struct{})
	go func() { _ = cmd.Wait(); close(v.done) }()
	if !eventually(10*time.Second, func() bool {
		c, err := net.Dial("tcp", v.addr)
		if err == nil {
			c.Close()
		}
		return err == nil
	}) {
		t.Fatalf("versitygw not listening on %s", v.addr)
	}
}

func (v *versity) stop() {
	if v.cmd == nil {
		return
	}
	_ = v.cmd.Process.Kill()
	<-v.done
	v.cmd = nil
}

func (v *versity) config(bucket string) Config {
	c := fastConfig()
	c.Bucket, c.Endpoint, c.Region = bucket, v.endpoint(), "us-east-1"
	return c
}

func slogTo(w io.Writer) *slog.Logger {
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelInfo}))
}
