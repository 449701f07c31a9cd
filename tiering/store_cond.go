package tiering

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go"
)

// condStore is implemented by stores with S3's conditional writes: the
// shared cold tier of a cluster commits manifest heads with them, so that a
// leader that lost its epoch (or raced another writer) changes nothing.
type condStore interface {
	// GetTagged returns the whole object and its ETag (ErrNotFound when
	// missing).
	GetTagged(ctx context.Context, key string) ([]byte, string, error)
	// PutIf stores body under key only when the object's ETag is etag
	// (If-Match), or, with etag "", only when there is no object
	// (If-None-Match: *). It returns the new ETag; a failed condition is
	// ErrPreconditionFailed.
	PutIf(ctx context.Context, key string, body []byte, etag string) (string, error)
	// DeleteIf deletes key only when its ETag is etag; a missing key is not
	// an error, a failed condition is ErrPreconditionFailed.
	DeleteIf(ctx context.Context, key, etag string) error
}

// ErrPreconditionFailed is a conditional write whose condition did not
// hold: the object changed since it was read.
var ErrPreconditionFailed = errors.New("precondition failed: the object changed")

// errNoConditional is a store without conditional writes in cluster mode.
var errNoConditional = errors.New("the object store has no conditional writes (If-Match), which the cluster's shared cold tier needs")

func isPreconditionFailed(err error) bool {
	var re *awshttp.ResponseError
	if errors.As(err, &re) && (re.HTTPStatusCode() == http.StatusPreconditionFailed || re.HTTPStatusCode() == http.StatusConflict) {
		return true
	}
	var ae smithy.APIError
	return errors.As(err, &ae) && (ae.ErrorCode() == "PreconditionFailed" || ae.ErrorCode() == "ConditionalRequestConflict")
}

func (s *s3Store) GetTagged(ctx context.Context, key string) ([]byte, string, error) {
	ctx, cancel := context.WithTimeout(ctx, opTimeout)
	defer cancel()
	out, err := s.c.GetObject(ctx, &s3.GetObjectInput{Bucket: &s.bucket, Key: &key})
	if err != nil {
		if isNotFound(err) {
			return nil, "", fmt.Errorf("get %s: %w", key, ErrNotFound)
		}
		return nil, "", fmt.Errorf("get %s: %w", key, err)
	}
	defer out.Body.Close()
	var buf bytes.Buffer
	if _, err := io.Copy(&buf, out.Body); err != nil {
		return nil, "", fmt.Errorf("get %s: %w", key, err)
	}
	return buf.Bytes(), aws.ToString(out.ETag), nil
}

func (s *s3Store) PutIf(ctx context.Context, key string, body []byte, etag string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, opTimeout)
	defer cancel()
	in := &s3.PutObjectInput{Bucket: &s.bucket, Key: &key, Body: bytes.NewReader(body), ContentLength: aws.Int64(int64(len(body)))}
	if etag == "" {
		in.IfNoneMatch = aws.String("*")
	} else {
		in.IfMatch = aws.String(etag)
	}
	out, err := s.c.PutObject(ctx, in)
	if err != nil {
		if isPreconditionFailed(err) {
			return "", fmt.Errorf("put %s: %w", key, ErrPreconditionFailed)
		}
		return "", fmt.Errorf("put %s: %w", key, err)
	}
	return aws.ToString(out.ETag), nil
}

func (s *s3Store) DeleteIf(ctx context.Context, key, etag string) error {
	ctx, cancel := context.WithTimeout(ctx, opTimeout)
	defer cancel()
	_, err := s.c.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: &s.bucket, Key: &key, IfMatch: aws.String(etag)})
	switch {
	case err == nil || isNotFound(err):
		return nil
	case isPreconditionFailed(err):
		return fmt.Errorf("delete %s: %w", key, ErrPreconditionFailed)
	default:
		return fmt.Errorf("delete %s: %w", key, err)
	}
}

// The counting wrapper passes conditional calls through when the store it
// wraps has them.

func (c countedStore) GetTagged(ctx context.Context, key string) ([]byte, string, error) {
	cs, ok := c.st.(condStore)
	if !ok {
		return nil, "", errNoConditional
	}
	b, tag, err := cs.GetTagged(ctx, key)
	countS3("get", err)
	return b, tag, err
}

func (c countedStore) PutIf(ctx context.Context, key string, body []byte, etag string) (string, error) {
	cs, ok := c.st.(condStore)
	if !ok {
		return "", errNoConditional
	}
	tag, err := cs.PutIf(ctx, key, body, etag)
	countS3("put", err)
	return tag, err
}

func (c countedStore) DeleteIf(ctx context.Context, key, etag string) error {
	cs, ok := c.st.(condStore)
	if !ok {
		return errNoConditional
	}
	err := cs.DeleteIf(ctx, key, etag)
	countS3("delete", err)
	return err
}

// conditional reports whether st (unwrapped) has conditional writes.
func conditional(st ObjectStore) bool {
	if c, ok := st.(countedStore); ok {
		st = c.st
	}
	if c, ok := st.(countedUploadStore); ok {
		st = c.st
	}
	_, ok := st.(condStore)
	return ok
}
