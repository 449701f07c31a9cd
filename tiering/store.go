package tiering

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"
	"github.com/aws/smithy-go/middleware"
)

// ObjectStore is the narrow view of S3 the cold tier needs. Keys are
// relative to the bucket.
type ObjectStore interface {
	// Put stores body under key (atomically: readers see the old or the
	// new object, never a part).
	Put(ctx context.Context, key string, body []byte) error
	// Get returns n bytes of key from off; n < 0 reads to the end.
	// A missing key is ErrNotFound.
	Get(ctx context.Context, key string, off, n int64) ([]byte, error)
	// List calls fn for the keys under prefix after startAfter, in key
	// order, until fn returns false.
	List(ctx context.Context, prefix, startAfter string, fn func(key string, size int64) bool) error
	// Delete removes keys; missing keys are not an error.
	Delete(ctx context.Context, keys ...string) error
}

// uploadStore is implemented by stores whose Put can leave an incomplete
// multipart upload behind when the process dies mid-upload (the S3 store):
// the tier lists and aborts the abandoned ones at start-up (sweepUploads).
type uploadStore interface {
	// ListUploads calls fn for the in-progress multipart uploads of keys
	// under prefix, in key order, until fn returns false.
	ListUploads(ctx context.Context, prefix string, fn func(pendingUpload) bool) error
	// AbortUpload aborts an in-progress multipart upload; one already gone
	// is not an error.
	AbortUpload(ctx context.Context, key, uploadID string) error
}

// pendingUpload is an in-progress multipart upload. Initiated is zero when
// the server did not say.
type pendingUpload struct {
	Key, ID   string
	Initiated time.Time
}

// ErrNotFound is returned by ObjectStore.Get for a missing key.
var ErrNotFound = errors.New("object not found")

// Multipart settings: objects larger than multipartThreshold go up in parts
// of multipartPartSize, multipartConcurrency at a time.
const (
	multipartThreshold   = 16 << 20
	multipartPartSize    = 8 << 20
	multipartConcurrency = 4
)

// s3Store is ObjectStore over aws-sdk-go-v2.
type s3Store struct {
	c      *s3.Client
	bucket string
}

// OpenS3 connects to the bucket of cfg, creating it when it does not exist.
// Credentials come from the standard AWS environment variables and files.
func OpenS3(ctx context.Context, cfg Config) (ObjectStore, error) {
	return openS3(ctx, cfg, true)
}

// OpenS3Existing connects to the bucket of cfg and fails when it does not
// exist (tools that only read must not create a mistyped bucket).
func OpenS3Existing(ctx context.Context, cfg Config) (ObjectStore, error) {
	return openS3(ctx, cfg, false)
}

func openS3(ctx context.Context, cfg Config, create bool) (ObjectStore, error) {
	if cfg.Bucket == "" {
		return nil, errors.New("no bucket (ZOMBI_S3_BUCKET)")
	}
	region := cfg.Region
	if region == "" {
		region = "us-east-1"
	}
	c, err := NewS3Client(ctx, cfg)
	if err != nil {
		return nil, err
	}
	st := &s3Store{c: c, bucket: cfg.Bucket}
	if err := st.ensureBucket(ctx, region, create); err != nil {
		return nil, err
	}
	return st, nil
}

// NewS3Client builds the S3 client of cfg the way the cold tier does
// (credential chain, AWS_CA_BUNDLE, path style with an endpoint, checksums
// only when required, UNSIGNED-PAYLOAD, 3 attempts), without touching the
// bucket. Other packages (iceberg/) share these settings through it.
func NewS3Client(ctx context.Context, cfg Config) (*s3.Client, error) {
	region := cfg.Region
	if region == "" {
		region = "us-east-1"
	}
	// LoadDefaultConfig only for the credential chain (env, shared files,
	// AWS_PROFILE, SSO, IMDS); the client is built by hand (TOOLCHAIN.md:
	// LoadDefaultConfig with a custom HTTP client panics with AWS_CA_BUNDLE).
	awsCfg, err := config.LoadDefaultConfig(ctx, config.WithRegion(region))
	if err != nil {
		return nil, fmt.Errorf("AWS configuration: %w", err)
	}
	hc, err := httpClient()
	if err != nil {
		return nil, err
	}
	opts := s3.Options{
		Region:                     region,
		Credentials:                awsCfg.Credentials,
		HTTPClient:                 hc,
		RequestChecksumCalculation: aws.RequestChecksumCalculationWhenRequired,
		ResponseChecksumValidation: aws.ResponseChecksumValidationWhenRequired,
		RetryMaxAttempts:           3,
		// Segments carry their own CRC-32C checksums: skip hashing every
		// uploaded byte with SHA-256 for the signature (UNSIGNED-PAYLOAD,
		// accepted by S3, MinIO and versitygw).
		APIOptions: []func(*middleware.Stack) error{v4.SwapComputePayloadSHA256ForUnsignedPayloadMiddleware},
	}
	if cfg.Endpoint != "" {
		opts.BaseEndpoint = aws.String(cfg.Endpoint)
		opts.UsePathStyle = true
	}
	return s3.New(opts), nil
}

// httpClient is a pooled client that trusts AWS_CA_BUNDLE when it is set.
func httpClient() (*awshttp.BuildableClient, error) {
	var pool *x509.CertPool
	if f := os.Getenv("AWS_CA_BUNDLE"); f != "" {
		pem, err := os.ReadFile(f)
		if err != nil {
			return nil, fmt.Errorf("AWS_CA_BUNDLE: %w", err)
		}
		pool, err = x509.SystemCertPool()
		if err != nil || pool == nil {
			pool = x509.NewCertPool()
		}
		pool.AppendCertsFromPEM(pem)
	}
	return awshttp.NewBuildableClient().WithTransportOptions(func(tr *http.Transport) {
		tr.MaxIdleConns = 128
		tr.MaxIdleConnsPerHost = 64
		tr.IdleConnTimeout = 90 * time.Second
		// A server that accepts and never answers must not hang a flush
		// or the start-up for ever.
		tr.ResponseHeaderTimeout = 30 * time.Second
		if pool != nil {
			if tr.TLSClientConfig == nil {
				tr.TLSClientConfig = &tls.Config{MinVersion: tls.VersionTLS12}
			}
			tr.TLSClientConfig.RootCAs = pool
		}
	}), nil
}

// Bounds on single S3 requests (a multipart upload's parts each get
// opTimeout: see putMultipart).
const (
	startTimeout = 15 * time.Second
	opTimeout    = 2 * time.Minute
)

func (s *s3Store) ensureBucket(ctx context.Context, region string, create bool) error {
	ctx, cancel := context.WithTimeout(ctx, startTimeout)
	defer cancel()
	_, err := s.c.HeadBucket(ctx, &s3.HeadBucketInput{Bucket: &s.bucket})
	if err == nil {
		return nil
	}
	if !isNotFound(err) {
		return fmt.Errorf("S3 bucket %q: %w", s.bucket, err)
	}
	if !create {
		return fmt.Errorf("S3 bucket %q does not exist", s.bucket)
	}
	in := &s3.CreateBucketInput{Bucket: &s.bucket}
	if region != "us-east-1" {
		in.CreateBucketConfiguration = &types.CreateBucketConfiguration{LocationConstraint: types.BucketLocationConstraint(region)}
	}
	if _, err := s.c.CreateBucket(ctx, in); err != nil {
		var owned *types.BucketAlreadyOwnedByYou
		if errors.As(err, &owned) {
			return nil
		}
		return fmt.Errorf("S3 bucket %q does not exist and could not be created: %w", s.bucket, err)
	}
	return nil
}

func isNotFound(err error) bool {
	var nk *types.NoSuchKey
	var nf *types.NotFound
	var nb *types.NoSuchBucket
	if errors.As(err, &nk) || errors.As(err, &nf) || errors.As(err, &nb) {
		return true
	}
	var re *awshttp.ResponseError
	if errors.As(err, &re) && re.HTTPStatusCode() == http.StatusNotFound {
		return true
	}
	var ae smithy.APIError
	return errors.As(err, &ae) && (ae.ErrorCode() == "NoSuchKey" || ae.ErrorCode() == "NotFound")
}

func (s *s3Store) Put(ctx context.Context, key string, body []byte) error {
	if len(body) > multipartThreshold {
		return s.putMultipart(ctx, key, body)
	}
	ctx, cancel := context.WithTimeout(ctx, opTimeout)
	defer cancel()
	_, err := s.c.PutObject(ctx, &s3.PutObjectInput{
		Bucket: &s.bucket, Key: &key, Body: bytes.NewReader(body), ContentLength: aws.Int64(int64(len(body))),
	})
	if err != nil {
		return fmt.Errorf("put %s: %w", key, err)
	}
	return nil
}

// putMultipart uploads body in parts; each request (start, every part,
// completion) gets opTimeout of its own, so a large segment on a slow link
// is bounded per part, not as a whole.
func (s *s3Store) putMultipart(ctx context.Context, key string, body []byte) error {
	cctx, cancel := context.WithTimeout(ctx, opTimeout)
	up, err := s.c.CreateMultipartUpload(cctx, &s3.CreateMultipartUploadInput{Bucket: &s.bucket, Key: &key})
	cancel()
	if err != nil {
		return fmt.Errorf("start multipart upload of %s: %w", key, err)
	}
	nParts := (len(body) + multipartPartSize - 1) / multipartPartSize
	parts := make([]types.CompletedPart, nParts)
	errs := make([]error, nParts)
	sem := make(chan struct{}, multipartConcurrency)
	var wg sync.WaitGroup
	for i := 0; i < nParts; i++ {
		lo, hi := i*multipartPartSize, min((i+1)*multipartPartSize, len(body))
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			pctx, cancel := context.WithTimeout(ctx, opTimeout)
			defer cancel()
			out, err := s.c.UploadPart(pctx, &s3.UploadPartInput{
				Bucket: &s.bucket, Key: &key, UploadId: up.UploadId, PartNumber: aws.Int32(int32(i + 1)),
				Body: bytes.NewReader(body[lo:hi]), ContentLength: aws.Int64(int64(hi - lo)),
			})
			if err != nil {
				errs[i] = err
				return
			}
			parts[i] = types.CompletedPart{ETag: out.ETag, PartNumber: aws.Int32(int32(i + 1))}
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		s.abort(key, up.UploadId)
		return fmt.Errorf("multipart upload of %s: %w", key, err)
	}
	cctx, cancel = context.WithTimeout(ctx, opTimeout)
	_, err = s.c.CompleteMultipartUpload(cctx, &s3.CompleteMultipartUploadInput{
		Bucket: &s.bucket, Key: &key, UploadId: up.UploadId,
		MultipartUpload: &types.CompletedMultipartUpload{Parts: parts},
	})
	cancel()
	if err != nil {
		s.abort(key, up.UploadId)
		return fmt.Errorf("complete multipart upload of %s: %w", key, err)
	}
	return nil
}

// abort gives up a multipart upload (best effort, with its own deadline so
// it runs even when the upload's context was cancelled).
func (s *s3Store) abort(key string, id *string) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, _ = s.c.AbortMultipartUpload(ctx, &s3.AbortMultipartUploadInput{Bucket: &s.bucket, Key: &key, UploadId: id})
}

// ListUploads pages with the key and upload-id markers. versitygw v1.8.0
// (posix) rejects every page after the first (InvalidArgument: upload-id
// marker): there only the first 1000 uploads are listed, and the error is
// returned after them.
func (s *s3Store) ListUploads(ctx context.Context, prefix string, fn func(pendingUpload) bool) error {
	ctx, cancel := context.WithTimeout(ctx, opTimeout)
	defer cancel()
	in := &s3.ListMultipartUploadsInput{Bucket: &s.bucket, Prefix: &prefix}
	for {
		page, err := s.c.ListMultipartUploads(ctx, in)
		if err != nil {
			return fmt.Errorf("list multipart uploads under %s: %w", prefix, err)
		}
		for _, u := range page.Uploads {
			if !fn(pendingUpload{Key: aws.ToString(u.Key), ID: aws.ToString(u.UploadId), Initiated: aws.ToTime(u.Initiated)}) {
				return nil
			}
		}
		if !aws.ToBool(page.IsTruncated) {
			return nil
		}
		next, nextID := aws.ToString(page.NextKeyMarker), aws.ToString(page.NextUploadIdMarker)
		if next == "" || (next == aws.ToString(in.KeyMarker) && nextID == aws.ToString(in.UploadIdMarker)) {
			return fmt.Errorf("list multipart uploads under %s: truncated page without a new marker", prefix)
		}
		in.KeyMarker, in.UploadIdMarker = &next, nil
		if nextID != "" {
			in.UploadIdMarker = &nextID
		}
	}
}

func (s *s3Store) AbortUpload(ctx context.Context, key, uploadID string) error {
	ctx, cancel := context.WithTimeout(ctx, opTimeout)
	defer cancel()
	_, err := s.c.AbortMultipartUpload(ctx, &s3.AbortMultipartUploadInput{Bucket: &s.bucket, Key: &key, UploadId: &uploadID})
	var gone *types.NoSuchUpload
	if err != nil && !errors.As(err, &gone) && !isNotFound(err) {
		return fmt.Errorf("abort multipart upload %s of %s: %w", uploadID, key, err)
	}
	return nil
}

func (s *s3Store) Get(ctx context.Context, key string, off, n int64) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, opTimeout)
	defer cancel()
	in := &s3.GetObjectInput{Bucket: &s.bucket, Key: &key}
	if n >= 0 {
		if n == 0 {
			return nil, nil
		}
		in.Range = aws.String(fmt.Sprintf("bytes=%d-%d", off, off+n-1))
	} else if off > 0 {
		in.Range = aws.String(fmt.Sprintf("bytes=%d-", off))
	}
	out, err := s.c.GetObject(ctx, in)
	if err != nil {
		if isNotFound(err) {
			return nil, fmt.Errorf("get %s: %w", key, ErrNotFound)
		}
		return nil, fmt.Errorf("get %s: %w", key, err)
	}
	defer out.Body.Close()
	size := 0
	if out.ContentLength != nil {
		size = int(*out.ContentLength)
	}
	buf := bytes.NewBuffer(make([]byte, 0, size))
	if _, err := io.Copy(buf, out.Body); err != nil {
		return nil, fmt.Errorf("get %s: %w", key, err)
	}
	if n >= 0 && int64(buf.Len()) != n {
		return nil, fmt.Errorf("get %s: %d bytes at %d, wanted %d", key, buf.Len(), off, n)
	}
	return buf.Bytes(), nil
}

func (s *s3Store) List(ctx context.Context, prefix, startAfter string, fn func(string, int64) bool) error {
	ctx, cancel := context.WithTimeout(ctx, opTimeout)
	defer cancel()
	in := &s3.ListObjectsV2Input{Bucket: &s.bucket, Prefix: &prefix}
	if startAfter != "" {
		in.StartAfter = &startAfter
	}
	p := s3.NewListObjectsV2Paginator(s.c, in)
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return fmt.Errorf("list %s: %w", prefix, err)
		}
		for _, o := range page.Contents {
			if !fn(aws.ToString(o.Key), aws.ToInt64(o.Size)) {
				return nil
			}
		}
	}
	return nil
}

func (s *s3Store) Delete(ctx context.Context, keys ...string) error {
	ctx, cancel := context.WithTimeout(ctx, opTimeout)
	defer cancel()
	for len(keys) > 0 {
		n := min(len(keys), 1000)
		objs := make([]types.ObjectIdentifier, n)
		for i, k := range keys[:n] {
			objs[i] = types.ObjectIdentifier{Key: aws.String(k)}
		}
		out, err := s.c.DeleteObjects(ctx, &s3.DeleteObjectsInput{Bucket: &s.bucket, Delete: &types.Delete{Objects: objs, Quiet: aws.Bool(true)}})
		if err != nil {
			// Some S3-compatible servers lack DeleteObjects: one by one.
			for _, k := range keys[:n] {
				if _, err := s.c.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: &s.bucket, Key: aws.String(k)}); err != nil && !isNotFound(err) {
					return fmt.Errorf("delete %s: %w", k, err)
				}
			}
		} else if len(out.Errors) > 0 {
			var msgs []string
			for _, e := range out.Errors {
				if aws.ToString(e.Code) != "NoSuchKey" {
					msgs = append(msgs, aws.ToString(e.Key)+": "+aws.ToString(e.Message))
				}
			}
			if len(msgs) > 0 {
				return fmt.Errorf("delete: %s", strings.Join(msgs, "; "))
			}
		}
		keys = keys[n:]
	}
	return nil
}
