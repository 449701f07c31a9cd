package tiering

import (
	"bytes"
	"context"
	"errors"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/zombi-dev/zombi/internal/syncbuf"
)

// setUploadAge lowers abandonedUploadAge for a test (start reads it once).
func setUploadAge(t *testing.T, d time.Duration) {
	t.Helper()
	old := abandonedUploadAge
	abandonedUploadAge = d
	t.Cleanup(func() { abandonedUploadAge = old })
}

// waitSwept waits for the start-up sweep of abandoned uploads to finish.
func waitSwept(t *testing.T, tr *Tier) {
	t.Helper()
	select {
	case <-tr.swept:
	case <-time.After(20 * time.Second):
		t.Fatal("start-up sweep of abandoned uploads not over in time")
	}
}

// startUpload begins a multipart upload of key and uploads one part, as a
// process killed before CompleteMultipartUpload leaves it.
func startUpload(t *testing.T, c *s3.Client, bucket, key string) string {
	t.Helper()
	ctx := context.Background()
	up, err := c.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: &bucket, Key: &key})
	if err != nil {
		t.Fatal(err)
	}
	part := bytes.Repeat([]byte("x"), 1<<10)
	if _, err := c.UploadPart(ctx, &s3.UploadPartInput{
		Bucket: &bucket, Key: &key, UploadId: up.UploadId, PartNumber: aws.Int32(1),
		Body: bytes.NewReader(part), ContentLength: aws.Int64(int64(len(part))),
	}); err != nil {
		t.Fatal(err)
	}
	return aws.ToString(up.UploadId)
}

// uploadKeys lists the in-progress multipart uploads of the bucket under
// prefix, straight from the server.
func uploadKeys(t *testing.T, c *s3.Client, bucket, prefix string) []string {
	t.Helper()
	out, err := c.ListMultipartUploads(context.Background(), &s3.ListMultipartUploadsInput{Bucket: &bucket, Prefix: &prefix})
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	for _, u := range out.Uploads {
		keys = append(keys, aws.ToString(u.Key))
	}
	return keys
}

// TestS3AbandonedUploadsAborted: the multipart uploads a process killed
// mid-upload leaves behind are aborted at the next start once older than
// abandonedUploadAge; younger ones, and uploads outside segments/, are kept.
func TestS3AbandonedUploadsAborted(t *testing.T) {
	v := startVersity(t)

	t.Run("old upload aborted", func(t *testing.T) {
		setUploadAge(t, 0)
		cfg := v.config("sweep-old")
		c := openStore(t, cfg).(*s3Store).c
		startUpload(t, c, cfg.Bucket, segmentKey("ev", 0, 0, 5000, ""))
		startUpload(t, c, cfg.Bucket, segmentKey("ev", 0, 0, 5000, "")) // a second crash, same range
		startUpload(t, c, cfg.Bucket, segmentKey("other", 3, 100, 200, ""))
		startUpload(t, c, cfg.Bucket, "not-zombi/big.bin")
		if got := uploadKeys(t, c, cfg.Bucket, ""); len(got) != 4 {
			t.Fatalf("uploads before start: %q", got)
		}
		logBuf := startSwept(t, cfg)
		if got := uploadKeys(t, c, cfg.Bucket, "segments/"); len(got) != 0 {
			t.Fatalf("abandoned segment uploads left: %q", got)
		}
		if got := uploadKeys(t, c, cfg.Bucket, ""); len(got) != 1 || got[0] != "not-zombi/big.bin" {
			t.Fatalf("uploads outside segments/: %q", got)
		}
		logs := logBuf.String()
		if strings.Count(logs, "aborted abandoned multipart uploads") != 1 || !strings.Contains(logs, "count=3") {
			t.Fatalf("want one Info line with count=3, log:\n%s", logs)
		}
		if strings.Contains(logs, "level=WARN") {
			t.Fatalf("warning logged:\n%s", logs)
		}
	})

	t.Run("fresh upload kept", func(t *testing.T) {
		setUploadAge(t, time.Hour)
		cfg := v.config("sweep-fresh")
		c := openStore(t, cfg).(*s3Store).c
		key := segmentKey("ev", 0, 0, 5000, "")
		id := startUpload(t, c, cfg.Bucket, key)
		logBuf := startSwept(t, cfg)
		if got := uploadKeys(t, c, cfg.Bucket, "segments/"); len(got) != 1 || got[0] != key {
			t.Fatalf("a fresh upload (another process mid-way) was cut: uploads %q", got)
		}
		if logs := logBuf.String(); strings.Contains(logs, "abandoned") {
			t.Fatalf("sweep logged with nothing to abort:\n%s", logs)
		}
		// It is still a live upload: it can be completed.
		etag, err := c.UploadPart(context.Background(), &s3.UploadPartInput{
			Bucket: &cfg.Bucket, Key: &key, UploadId: &id, PartNumber: aws.Int32(2),
			Body: bytes.NewReader([]byte("y")), ContentLength: aws.Int64(1),
		})
		if err != nil || etag.ETag == nil {
			t.Fatalf("upload part to the kept upload: %v", err)
		}
	})
}

// fakeUploads is a memStore with multipart uploads, whose listing or aborts
// can be made to fail.
type fakeUploads struct {
	*memStore
	mu        sync.Mutex
	ups       []pendingUpload
	listErr   error // returned after the listing
	abortErr  error
	abortedID []string
}

func (f *fakeUploads) ListUploads(_ context.Context, prefix string, fn func(pendingUpload) bool) error {
	f.mu.Lock()
	ups := append([]pendingUpload(nil), f.ups...)
	f.mu.Unlock()
	sort.Slice(ups, func(i, j int) bool { return ups[i].Key < ups[j].Key })
	for _, u := range ups {
		if strings.HasPrefix(u.Key, prefix) && !fn(u) {
			return nil
		}
	}
	return f.listErr
}

func (f *fakeUploads) AbortUpload(_ context.Context, key, id string) error {
	if f.abortErr != nil {
		return f.abortErr
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	for i, u := range f.ups {
		if u.Key == key && u.ID == id {
			f.ups = append(f.ups[:i], f.ups[i+1:]...)
			f.abortedID = append(f.abortedID, id)
			break
		}
	}
	return nil
}

// TestUploadSweepAgeAndFailures: only uploads known to be older than the
// threshold are aborted, and a failing sweep logs a warning without failing
// or holding up the start.
func TestUploadSweepAgeAndFailures(t *testing.T) {
	setUploadAge(t, time.Hour)
	now := time.Now()
	uploads := func() []pendingUpload {
		return []pendingUpload{
			{Key: "segments/ev/0/a.zseg", ID: "old", Initiated: now.Add(-2 * time.Hour)},
			{Key: "segments/ev/0/b.zseg", ID: "young", Initiated: now.Add(-time.Minute)},
			{Key: "segments/ev/0/c.zseg", ID: "undated"},
			{Key: "elsewhere/d", ID: "old-elsewhere", Initiated: now.Add(-2 * time.Hour)},
		}
	}
	run := func(t *testing.T, f *fakeUploads) string {
		t.Helper()
		var logBuf syncbuf.Buffer
		l := openLog(t, t.TempDir())
		defer l.Close()
		tr, err := start(context.Background(), l, fastConfig(), f, slogTo(&logBuf))
		if err != nil {
			t.Fatalf("start failed because of the sweep: %v", err)
		}
		waitSwept(t, tr)
		tr.Close()
		return logBuf.String()
	}

	f := &fakeUploads{memStore: newMemStore(), ups: uploads()}
	logs := run(t, f)
	if len(f.abortedID) != 1 || f.abortedID[0] != "old" {
		t.Fatalf("aborted %q, want only the old one under segments/", f.abortedID)
	}
	if !strings.Contains(logs, "count=1") || strings.Contains(logs, "level=WARN") {
		t.Fatalf("log:\n%s", logs)
	}

	// The listing fails part-way: what it listed is still aborted, and the
	// failure is one warning.
	errList := errors.New("list: connection reset")
	f = &fakeUploads{memStore: newMemStore(), ups: uploads(), listErr: errList}
	logs = run(t, f)
	if len(f.abortedID) != 1 || strings.Count(logs, "level=WARN") != 1 || !strings.Contains(logs, errList.Error()) {
		t.Fatalf("aborted %q, log:\n%s", f.abortedID, logs)
	}

	// Aborts fail (say, no s3:AbortMultipartUpload permission).
	f = &fakeUploads{memStore: newMemStore(), ups: uploads(), abortErr: errors.New("AccessDenied")}
	logs = run(t, f)
	if strings.Count(logs, "level=WARN") != 1 || !strings.Contains(logs, "AccessDenied") || strings.Contains(logs, "level=INFO msg=\"aborted") {
		t.Fatalf("log:\n%s", logs)
	}
}

// startSwept starts a tier on cfg with its log captured and waits for the
// start-up sweep of uploads to finish.
func startSwept(t *testing.T, cfg Config) *syncbuf.Buffer {
	t.Helper()
	var logBuf syncbuf.Buffer
	l := openLog(t, t.TempDir())
	t.Cleanup(func() { l.Close() })
	tr, err := Start(context.Background(), l, cfg, slogTo(&logBuf))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tr.Close() })
	waitSwept(t, tr)
	return &logBuf
}
