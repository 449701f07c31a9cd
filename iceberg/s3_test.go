package iceberg

import (
	"context"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/zombi-dev/zombi/tiering"
)

// versitygwBinary finds versitygw: $ZOMBI_VERSITYGW, .bin/versitygw at the
// repository root, or PATH (as the tiering tests do).
func versitygwBinary() string {
	if p := os.Getenv("ZOMBI_VERSITYGW"); p != "" {
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	if p, err := filepath.Abs(filepath.Join("..", ".bin", "versitygw")); err == nil {
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	if p, err := exec.LookPath("versitygw"); err == nil {
		return p
	}
	return ""
}

// s3Store starts versitygw (honours If-None-Match: * with 412 since
// v1.8.0) on a free port, makes a bucket, and returns a Storage on it
// built with the cold tier's client settings.
func s3Store(t testing.TB) Storage {
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
	cmd := exec.Command(bin, "--port", addr, "--quiet", "posix", t.TempDir())
	cmd.Env = append(os.Environ(), "ROOT_ACCESS_KEY_ID=testkey", "ROOT_SECRET_ACCESS_KEY=testsecret123")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	t.Cleanup(func() { _ = cmd.Process.Kill(); <-done })
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.Dial("tcp", addr)
		if err == nil {
			c.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("versitygw did not listen on %s", addr)
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Setenv("AWS_ACCESS_KEY_ID", "testkey")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "testsecret123")
	ctx := context.Background()
	c, err := tiering.NewS3Client(ctx, tiering.Config{Bucket: "warehouse", Endpoint: "http://" + addr, Region: "us-east-1"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("warehouse")}); err != nil {
		t.Fatal(err)
	}
	return S3Storage(c, "warehouse", "iceberg/zombi/"+strings.ToLower(t.Name()))
}

func TestS3RoundTrip(t *testing.T)             { testRoundTrip(t, s3Store(t)) }
func TestS3Concurrent(t *testing.T)            { testConcurrent(t, s3Store(t)) }
func TestS3OwnCommit(t *testing.T)             { testOwnCommit(t, s3Store(t)) }
func TestS3CreateNeverOverwrites(t *testing.T) { testCreateNeverOverwrites(t, s3Store(t)) }
