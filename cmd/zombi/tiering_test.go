package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io/fs"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// End-to-end tests of the S3 cold tier: the real binary against a real
// S3-protocol server (versitygw), written and read over HTTP and Kafka.

type s3Server struct {
	dir, addr string
	cmd       *exec.Cmd
	done      chan struct{}
}

func versitygwPath() string {
	if p := os.Getenv("ZOMBI_VERSITYGW"); p != "" {
		return p
	}
	if p, err := filepath.Abs("../../.bin/versitygw"); err == nil {
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	p, _ := exec.LookPath("versitygw")
	return p
}

func startS3Server(t *testing.T) *s3Server {
	t.Helper()
	bin := versitygwPath()
	if bin == "" {
		t.Skip("versitygw not found: `GOBIN=$PWD/.bin go install github.com/versity/versitygw/cmd/versitygw@v1.8.0` or set ZOMBI_VERSITYGW")
	}
	s := &s3Server{dir: t.TempDir(), addr: "127.0.0.1:" + strconv.Itoa(freePort(t))}
	s.cmd = exec.Command(bin, "--port", s.addr, "--quiet", "posix", s.dir)
	s.cmd.Env = append(os.Environ(), "ROOT_ACCESS_KEY_ID=testkey", "ROOT_SECRET_ACCESS_KEY=testsecret123")
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	s.done = make(chan struct{})
	go func() { _ = s.cmd.Wait(); close(s.done) }()
	t.Cleanup(func() { _ = s.cmd.Process.Kill(); <-s.done })
	for i := 0; i < 500; i++ {
		if c, err := net.Dial("tcp", s.addr); err == nil {
			c.Close()
			return s
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatal("versitygw not listening")
	return nil
}

// s3Env is the environment that points zombi (and zombi segments) at s.
func (s *s3Server) env(bucket string) []string {
	return []string{
		"ZOMBI_S3_BUCKET=" + bucket,
		"ZOMBI_S3_ENDPOINT=http://" + s.addr,
		"ZOMBI_S3_REGION=us-east-1",
		"AWS_ACCESS_KEY_ID=testkey",
		"AWS_SECRET_ACCESS_KEY=testsecret123",
	}
}

// segmentsLs runs `zombi segments ls` in-process and returns its lines.
func segmentsLs(t *testing.T, env []string) []map[string]any {
	t.Helper()
	for _, kv := range env {
		k, v, _ := strings.Cut(kv, "=")
		t.Setenv(k, v)
	}
	var out, errb bytes.Buffer
	if rc := segmentsCommand([]string{"ls"}, &out, &errb); rc != 0 {
		t.Fatalf("segments ls: %d %s", rc, errb.String())
	}
	var segs []map[string]any
	sc := bufio.NewScanner(&out)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var m map[string]any
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatal(err)
		}
		segs = append(segs, m)
	}
	return segs
}

// segmentsCat checks that `zombi segments cat` prints each record of the
// table's first segment as the REST API renders it, one JSON line each
// (payloads as postEvent wrote them: event-<offset>).
func segmentsCat(t *testing.T, env []string, table string) {
	t.Helper()
	var key string
	var start int64
	for _, s := range segmentsLs(t, env) {
		if s["table"] == table {
			key, start = s["key"].(string), int64(s["start"].(float64))
			break
		}
	}
	var out, errb bytes.Buffer
	if rc := segmentsCommand([]string{"cat", key}, &out, &errb); rc != 0 {
		t.Fatalf("segments cat %s: %d %s", key, rc, errb.String())
	}
	lines := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n")
	for i, line := range lines {
		var r struct {
			Payload   string  `json:"payload"`
			Offset    int64   `json:"offset"`
			Partition int32   `json:"partition"`
			Timestamp int64   `json:"timestamp_ms"`
			Key       *string `json:"key"`
		}
		if err := json.Unmarshal([]byte(line), &r); err != nil {
			t.Fatalf("segments cat line %d: %v: %s", i, err, line)
		}
		if want := start + int64(i); r.Offset != want || r.Payload != fmt.Sprintf("event-%d", want) || r.Partition != 0 || r.Timestamp <= 0 || r.Key != nil {
			t.Fatalf("segments cat line %d: %s", i, line)
		}
	}
	if len(lines) == 0 || !strings.Contains(lines[0], `"key":null`) {
		t.Fatalf("segments cat printed %q", out.String())
	}
}

// waitColdEnd waits until the segments of table/part reach end, checking
// that they tile the range without gap or overlap.
func waitColdEnd(t *testing.T, env []string, table string, part int32, end int64) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		next := int64(-1)
		for _, s := range segmentsLs(t, env) {
			if s["table"] != table || int32(s["partition"].(float64)) != part {
				continue
			}
			st, en := int64(s["start"].(float64)), int64(s["end"].(float64))
			if next >= 0 && st != next {
				t.Fatalf("%s/%d: segment %v does not continue at %d", table, part, s["key"], next)
			}
			next = en
		}
		if next >= end {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s/%d: cold end %d, want %d", table, part, next, end)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

var e2eClient = &http.Client{Timeout: 10 * time.Second}

func postEvent(t *testing.T, c *http.Client, base, table, payload string) (ack, bool) {
	return postJSON(c, base, table, fmt.Sprintf(`{"payload": %q}`, payload), payload)
}

// TestTieringEndToEnd: events written over HTTP are flushed to S3 and
// dropped from the hot tier; both doors read them back from S3; a node
// restarted on an empty data directory serves them and continues the
// offsets.
func TestTieringEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the real binary and an S3 server")
	}
	s3 := startS3Server(t)
	env := append(s3.env("e2e"), "ZOMBI_FLUSH_INTERVAL_SECS=1")
	p := startZombi(t, t.TempDir(), env...)
	const n = 300
	for i := 0; i < n; i++ {
		if a, ok := postEvent(t, e2eClient, p.HTTPBase, "e2e", fmt.Sprintf("event-%d", i)); !ok || a.offset != int64(i) {
			t.Fatalf("write %d: %+v %v", i, a, ok)
		}
	}
	waitColdEnd(t, env, "e2e", 0, n)
	time.Sleep(300 * time.Millisecond) // hot data is dropped right after the manifest records it
	segmentsCat(t, env, "e2e")

	check := func(base string) {
		t.Helper()
		recs := readPartition(t, base, "e2e", 0)
		if len(recs) != n {
			t.Fatalf("HTTP read: %d records, want %d", len(recs), n)
		}
		for i, r := range recs {
			if r.Offset != int64(i) || r.Payload != fmt.Sprintf("event-%d", i) {
				t.Fatalf("HTTP read: record %d is %+v", i, r)
			}
		}
	}
	check(p.HTTPBase)

	// The Kafka door reads the same data from S3.
	cl, err := kgo.NewClient(kgo.SeedBrokers(p.KafkaAddr),
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{"e2e": {0: kgo.NewOffset().AtStart()}}))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	got := 0
	for got < n {
		fs := cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			t.Fatalf("Kafka fetch: %d of %d records: %v", got, n, fs.Errors())
		}
		fs.EachRecord(func(r *kgo.Record) {
			if r.Offset != int64(got) || string(r.Value) != fmt.Sprintf("event-%d", got) {
				t.Fatalf("Kafka fetch: record %d is %d %q", got, r.Offset, r.Value)
			}
			got++
		})
	}

	// Empty data directory: the topic and its offsets come back from S3.
	_ = p.Kill()
	p2 := startZombi(t, t.TempDir(), env...)
	check(p2.HTTPBase)
	if a, ok := postEvent(t, e2eClient, p2.HTTPBase, "e2e", "after"); !ok || a.offset != n {
		t.Fatalf("write after an empty-disk restart: %+v %v", a, ok)
	}
}

// TestTieringKill9MidUpload: zombi is killed with SIGKILL while uploads are
// in flight; after a restart every acknowledged event is readable exactly
// once, the segments tile the partition, and no orphan object is left.
func TestTieringKill9MidUpload(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the real binary and an S3 server")
	}
	s3 := startS3Server(t)
	env := append(s3.env("kill"), "ZOMBI_FLUSH_INTERVAL_SECS=1", "ZOMBI_FLUSH_BATCH_SIZE=50", "ZOMBI_DEFAULT_PARTITIONS=2")
	dir := t.TempDir()
	p := startZombi(t, dir, env...)

	pad := strings.Repeat("z", 2000)
	acks := writeUntilKilled(t, p, 8, 2500*time.Millisecond, func(w, i int) (string, string) {
		payload := fmt.Sprintf("w%d-%d-%s", w, i, pad)
		return fmt.Sprintf(`{"payload": %q}`, payload), payload
	}, "kill")
	if len(acks) < 200 {
		t.Fatalf("only %d writes before the kill", len(acks))
	}

	p2 := startZombi(t, dir, env...)
	stored := map[[2]int64]string{}
	for part := int32(0); part < 2; part++ {
		recs := readPartition(t, p2.HTTPBase, "kill", part)
		for i, r := range recs {
			if r.Offset != int64(i) {
				t.Fatalf("partition %d: record %d has offset %d", part, i, r.Offset)
			}
			stored[[2]int64{int64(part), r.Offset}] = r.Payload
		}
		waitColdEnd(t, env, "kill", part, int64(len(recs)))
	}
	for _, a := range acks {
		if stored[[2]int64{int64(a.partition), a.offset}] != a.payload {
			t.Fatalf("acknowledged %d/%d lost or changed", a.partition, a.offset)
		}
	}
	// Every segment object is one the manifests list (orphans are cleaned
	// before a partition's first upload after the restart).
	listed := map[string]bool{}
	for _, s := range segmentsLs(t, env) {
		listed[s["key"].(string)] = true
	}
	root := filepath.Join(s3.dir, "kill")
	_ = filepath.WalkDir(filepath.Join(root, "segments"), func(path string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			key, _ := filepath.Rel(root, path)
			if !listed[key] {
				t.Errorf("orphan object %s after restart", key)
			}
		}
		return nil
	})
	t.Logf("%d acknowledged writes before SIGKILL, all found once after restart; %d segments", len(acks), len(listed))
}

// `zombi segments` only reads: a mistyped bucket is an error, not created.
func TestSegmentsDoesNotCreateBuckets(t *testing.T) {
	if testing.Short() {
		t.Skip("starts an S3 server")
	}
	s3 := startS3Server(t)
	for _, kv := range s3.env("no-such-bucket") {
		k, v, _ := strings.Cut(kv, "=")
		t.Setenv(k, v)
	}
	var out, errb bytes.Buffer
	if rc := segmentsCommand([]string{"ls"}, &out, &errb); rc == 0 || !strings.Contains(errb.String(), "does not exist") {
		t.Fatalf("segments ls on a missing bucket: exit %d, %q", rc, errb.String())
	}
	if _, err := os.Stat(filepath.Join(s3.dir, "no-such-bucket")); !os.IsNotExist(err) {
		t.Fatalf("bucket created: %v", err)
	}
}
