package iceberg

import (
	"context"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/zombi-dev/zombi/internal/s3test"
	"github.com/zombi-dev/zombi/tiering"
)

// s3Store starts versitygw (honours If-None-Match: * with 412 since
// v1.8.0) on a free port, makes a bucket, and returns a Storage on it
// built with the cold tier's client settings.
func s3Store(t testing.TB) Storage {
	t.Helper()
	addr := s3test.Start(t).Addr
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
