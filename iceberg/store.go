package iceberg

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path"
	"path/filepath"
	"strings"
	"time"

	icebergio "github.com/apache/iceberg-go/io"
	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"
	"github.com/google/uuid"
)

// ErrExists is returned by Storage.Create when the file is already there:
// another writer (or our own earlier, unacknowledged attempt) got it first.
var ErrExists = errors.New("file exists")

// Storage is where one table lives: a local directory or an S3 prefix.
// Names are relative to Location and use forward slashes
// ("metadata/v3.metadata.json").
type Storage interface {
	// Location is the table's root as written into its metadata (an
	// absolute path, or s3://bucket/prefix).
	Location() string
	// FS is what iceberg-go reads and writes manifests and data through;
	// it takes full paths under Location.
	FS() icebergio.IO
	// Read returns a file; a missing one is fs.ErrNotExist.
	Read(ctx context.Context, name string) ([]byte, error)
	// Write stores a file, replacing any old one (readers see the old or
	// the new content, never a part).
	Write(ctx context.Context, name string, data []byte) error
	// Create stores a file only when none exists, atomically: of two
	// concurrent Creates of one name exactly one succeeds, the other gets
	// ErrExists, and an existing file is never overwritten.
	Create(ctx context.Context, name string, data []byte) error
	// List returns the names of the files directly under dir.
	List(ctx context.Context, dir string) ([]string, error)
	// Walk calls fn for every file under dir (recursively), with its name
	// relative to Location, its size and modification time; a missing dir
	// is no files. An error from fn stops the walk and is returned.
	Walk(ctx context.Context, dir string, fn func(name string, size int64, mod time.Time) error) error
	// Delete removes files; one that is already gone is not an error.
	Delete(ctx context.Context, names ...string) error
}

// dirStorage is Storage over a local directory.
type dirStorage struct{ root string }

// DirStorage is a table in the local directory root (created on demand).
func DirStorage(root string) (Storage, error) {
	abs, err := filepath.Abs(root)
	if err != nil {
		return nil, err
	}
	return dirStorage{root: abs}, nil
}

func (d dirStorage) Location() string     { return d.root }
func (d dirStorage) FS() icebergio.IO     { return icebergio.LocalFS{} }
func (d dirStorage) path(n string) string { return filepath.Join(d.root, filepath.FromSlash(n)) }

func (d dirStorage) Read(_ context.Context, name string) ([]byte, error) {
	return os.ReadFile(d.path(name))
}

// tmpFile writes data to a synced temporary file next to p.
func tmpFile(p string, data []byte) (string, error) {
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return "", err
	}
	tmp := p + "." + uuid.NewString() + ".tmp"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return "", err
	}
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(tmp)
		return "", err
	}
	return tmp, nil
}

func syncDir(dir string) {
	if f, err := os.Open(dir); err == nil {
		_ = f.Sync()
		f.Close()
	}
}

func (d dirStorage) Write(_ context.Context, name string, data []byte) error {
	p := d.path(name)
	tmp, err := tmpFile(p, data)
	if err != nil {
		return err
	}
	if err := os.Rename(tmp, p); err != nil {
		os.Remove(tmp)
		return err
	}
	syncDir(filepath.Dir(p))
	return nil
}

// Create links a complete temporary file to the name: link(2) fails with
// EEXIST rather than replacing (rename(2) would replace).
func (d dirStorage) Create(_ context.Context, name string, data []byte) error {
	p := d.path(name)
	tmp, err := tmpFile(p, data)
	if err != nil {
		return err
	}
	defer os.Remove(tmp)
	if err := os.Link(tmp, p); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return fmt.Errorf("create %s: %w", name, ErrExists)
		}
		return err
	}
	syncDir(filepath.Dir(p))
	return nil
}

func (d dirStorage) List(_ context.Context, dir string) ([]string, error) {
	ents, err := os.ReadDir(d.path(dir))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var names []string
	for _, e := range ents {
		if !e.IsDir() {
			names = append(names, e.Name())
		}
	}
	return names, nil
}

func (d dirStorage) Walk(ctx context.Context, dir string, fn func(string, int64, time.Time) error) error {
	err := filepath.WalkDir(d.path(dir), func(p string, e fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		if e.IsDir() {
			return nil
		}
		info, err := e.Info()
		if errors.Is(err, fs.ErrNotExist) {
			return nil // removed while walking
		}
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(d.root, p)
		if err != nil {
			return err
		}
		return fn(filepath.ToSlash(rel), info.Size(), info.ModTime())
	})
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	return err
}

func (d dirStorage) Delete(_ context.Context, names ...string) error {
	for _, n := range names {
		if err := os.Remove(d.path(n)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
	}
	return nil
}

// s3Storage is Storage over a prefix of an S3 bucket.
type s3Storage struct {
	c      *s3.Client
	bucket string
	prefix string // without leading or trailing slash
}

// S3Storage is a table under s3://bucket/prefix, through c (build it with
// tiering.NewS3Client so it has the cold tier's settings).
func S3Storage(c *s3.Client, bucket, prefix string) Storage {
	return &s3Storage{c: c, bucket: bucket, prefix: strings.Trim(prefix, "/")}
}

func (s *s3Storage) Location() string    { return "s3://" + s.bucket + "/" + s.prefix }
func (s *s3Storage) FS() icebergio.IO    { return &s3IO{c: s.c} }
func (s *s3Storage) key(n string) string { return path.Join(s.prefix, n) }

// s3OpTimeout bounds one request.
const s3OpTimeout = 2 * time.Minute

func (s *s3Storage) Read(ctx context.Context, name string) ([]byte, error) {
	return s3Get(ctx, s.c, s.bucket, s.key(name))
}

func (s *s3Storage) Write(ctx context.Context, name string, data []byte) error {
	ctx, cancel := context.WithTimeout(ctx, s3OpTimeout)
	defer cancel()
	_, err := s.c.PutObject(ctx, &s3.PutObjectInput{
		Bucket: &s.bucket, Key: aws.String(s.key(name)), Body: bytes.NewReader(data), ContentLength: aws.Int64(int64(len(data))),
	})
	if err != nil {
		return fmt.Errorf("put %s: %w", s.key(name), err)
	}
	return nil
}

// Create is a PutObject with If-None-Match: *, sent once: an SDK retry of
// a PUT that did succeed would come back 412 and look like a lost race.
// The caller resolves a 412 by reading the table again (Table.commit).
func (s *s3Storage) Create(ctx context.Context, name string, data []byte) error {
	ctx, cancel := context.WithTimeout(ctx, s3OpTimeout)
	defer cancel()
	_, err := s.c.PutObject(ctx, &s3.PutObjectInput{
		Bucket: &s.bucket, Key: aws.String(s.key(name)), Body: bytes.NewReader(data), ContentLength: aws.Int64(int64(len(data))),
		IfNoneMatch: aws.String("*"),
	}, func(o *s3.Options) { o.RetryMaxAttempts = 1 })
	if err != nil {
		if isPreconditionFailed(err) {
			return fmt.Errorf("create %s: %w", s.key(name), ErrExists)
		}
		return fmt.Errorf("create %s: %w", s.key(name), err)
	}
	return nil
}

func (s *s3Storage) List(ctx context.Context, dir string) ([]string, error) {
	pre := s.key(dir) + "/"
	var names []string
	p := s3.NewListObjectsV2Paginator(s.c, &s3.ListObjectsV2Input{Bucket: &s.bucket, Prefix: &pre, Delimiter: aws.String("/")})
	for p.HasMorePages() {
		out, err := p.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("list %s: %w", pre, err)
		}
		for _, o := range out.Contents {
			names = append(names, strings.TrimPrefix(aws.ToString(o.Key), pre))
		}
	}
	return names, nil
}

func (s *s3Storage) Walk(ctx context.Context, dir string, fn func(string, int64, time.Time) error) error {
	root := ""
	if s.prefix != "" {
		root = s.prefix + "/"
	}
	pre := s.key(dir) + "/"
	p := s3.NewListObjectsV2Paginator(s.c, &s3.ListObjectsV2Input{Bucket: &s.bucket, Prefix: &pre})
	for p.HasMorePages() {
		out, err := p.NextPage(ctx)
		if err != nil {
			return fmt.Errorf("list %s: %w", pre, err)
		}
		for _, o := range out.Contents {
			if err := fn(strings.TrimPrefix(aws.ToString(o.Key), root), aws.ToInt64(o.Size), aws.ToTime(o.LastModified)); err != nil {
				return err
			}
		}
	}
	return nil
}

// Delete uses DeleteObjects, 1000 keys a request (the S3 limit).
func (s *s3Storage) Delete(ctx context.Context, names ...string) error {
	for len(names) > 0 {
		n := min(len(names), 1000)
		objs := make([]types.ObjectIdentifier, n)
		for i, name := range names[:n] {
			objs[i] = types.ObjectIdentifier{Key: aws.String(s.key(name))}
		}
		names = names[n:]
		rctx, cancel := context.WithTimeout(ctx, s3OpTimeout)
		out, err := s.c.DeleteObjects(rctx, &s3.DeleteObjectsInput{Bucket: &s.bucket, Delete: &types.Delete{Objects: objs, Quiet: aws.Bool(true)}})
		cancel()
		if err != nil {
			return fmt.Errorf("delete %d objects under %s: %w", len(objs), s.prefix, err)
		}
		for _, e := range out.Errors {
			if aws.ToString(e.Code) != "NoSuchKey" {
				return fmt.Errorf("delete %s: %s: %s", aws.ToString(e.Key), aws.ToString(e.Code), aws.ToString(e.Message))
			}
		}
	}
	return nil
}

// isPreconditionFailed: 412 (the object exists), or 409
// ConditionalRequestConflict (AWS: a concurrent conditional PUT of the same
// key is in flight; treated the same way, the reload decides).
func isPreconditionFailed(err error) bool {
	var re *awshttp.ResponseError
	if errors.As(err, &re) && (re.HTTPStatusCode() == http.StatusPreconditionFailed || re.HTTPStatusCode() == http.StatusConflict) {
		return true
	}
	var ae smithy.APIError
	return errors.As(err, &ae) && (ae.ErrorCode() == "PreconditionFailed" || ae.ErrorCode() == "ConditionalRequestConflict")
}

func isNotFound(err error) bool {
	var nk *types.NoSuchKey
	var nf *types.NotFound
	if errors.As(err, &nk) || errors.As(err, &nf) {
		return true
	}
	var re *awshttp.ResponseError
	return errors.As(err, &re) && re.HTTPStatusCode() == http.StatusNotFound
}

func s3Get(ctx context.Context, c *s3.Client, bucket, key string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, s3OpTimeout)
	defer cancel()
	out, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: &bucket, Key: &key})
	if err != nil {
		if isNotFound(err) {
			return nil, fmt.Errorf("get %s: %w", key, fs.ErrNotExist)
		}
		return nil, fmt.Errorf("get %s: %w", key, err)
	}
	defer out.Body.Close()
	return io.ReadAll(out.Body)
}

// s3IO is iceberg-go's io over our S3 client, for s3:// paths. Open is a
// HeadObject; reads are ranged GETs (ReaderAt) or one GET streamed from the
// read position (Read), so scans and footer reads fetch what they use.
type s3IO struct{ c *s3.Client }

var (
	_ icebergio.ReadFileIO      = (*s3IO)(nil)
	_ icebergio.WriteFileIO     = (*s3IO)(nil)
	_ icebergio.ListableIO      = (*s3IO)(nil)
	_ icebergio.BulkRemovableIO = (*s3IO)(nil)
)

func splitS3(name string) (bucket, key string, err error) {
	rest, ok := strings.CutPrefix(name, "s3://")
	if !ok {
		return "", "", fmt.Errorf("not an s3:// path: %q", name)
	}
	bucket, key, ok = strings.Cut(rest, "/")
	if !ok || bucket == "" || key == "" {
		return "", "", fmt.Errorf("bad s3 path %q", name)
	}
	return bucket, key, nil
}

func (s *s3IO) ReadFile(name string) ([]byte, error) {
	b, k, err := splitS3(name)
	if err != nil {
		return nil, err
	}
	return s3Get(context.Background(), s.c, b, k)
}

func (s *s3IO) Open(name string) (icebergio.File, error) {
	b, k, err := splitS3(name)
	if err != nil {
		return nil, &fs.PathError{Op: "open", Path: name, Err: err}
	}
	ctx, cancel := context.WithTimeout(context.Background(), s3OpTimeout)
	defer cancel()
	out, err := s.c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: &b, Key: &k})
	if err != nil {
		if isNotFound(err) {
			err = fs.ErrNotExist
		}
		return nil, &fs.PathError{Op: "open", Path: name, Err: err}
	}
	return &s3File{c: s.c, bucket: b, key: k, name: name, size: aws.ToInt64(out.ContentLength), mod: aws.ToTime(out.LastModified)}, nil
}

func (s *s3IO) Remove(name string) error {
	b, k, err := splitS3(name)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), s3OpTimeout)
	defer cancel()
	_, err = s.c.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: &b, Key: &k})
	return err
}

// DeleteFiles is icebergio.BulkRemovableIO's: DeleteObjects, 1000 keys a
// request. A missing key counts as deleted.
func (s *s3IO) DeleteFiles(ctx context.Context, paths []string) ([]string, error) {
	var deleted []string
	var errs []error
	byBucket := map[string][]string{}
	for _, p := range paths {
		b, k, err := splitS3(p)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		byBucket[b] = append(byBucket[b], k)
	}
	for b, keys := range byBucket {
		for len(keys) > 0 {
			n := min(len(keys), 1000)
			batch := keys[:n]
			keys = keys[n:]
			ids := make([]types.ObjectIdentifier, len(batch))
			for i := range batch {
				ids[i] = types.ObjectIdentifier{Key: aws.String(batch[i])}
			}
			cctx, cancel := context.WithTimeout(ctx, s3OpTimeout)
			out, err := s.c.DeleteObjects(cctx, &s3.DeleteObjectsInput{Bucket: aws.String(b), Delete: &types.Delete{Objects: ids, Quiet: aws.Bool(true)}})
			cancel()
			if err != nil {
				errs = append(errs, fmt.Errorf("delete %d objects in %s: %w", len(batch), b, err))
				continue
			}
			failed := map[string]bool{}
			for _, e := range out.Errors {
				if aws.ToString(e.Code) == "NoSuchKey" {
					continue
				}
				failed[aws.ToString(e.Key)] = true
				errs = append(errs, fmt.Errorf("delete s3://%s/%s: %s %s", b, aws.ToString(e.Key), aws.ToString(e.Code), aws.ToString(e.Message)))
			}
			for _, k := range batch {
				if !failed[k] {
					deleted = append(deleted, "s3://"+b+"/"+k)
				}
			}
		}
	}
	return deleted, errors.Join(errs...)
}

// WalkDir is icebergio.ListableIO's: root, then every object under it
// (ListObjectsV2 without delimiter), as files with their size and time.
func (s *s3IO) WalkDir(root string, fn fs.WalkDirFunc) error {
	b, k, err := splitS3(strings.TrimSuffix(root, "/") + "/")
	if err != nil {
		return fn(root, nil, err)
	}
	if err := fn(root, s3Entry{name: path.Base(k), dir: true}, nil); err != nil {
		if errors.Is(err, fs.SkipDir) || errors.Is(err, fs.SkipAll) {
			return nil
		}
		return err
	}
	p := s3.NewListObjectsV2Paginator(s.c, &s3.ListObjectsV2Input{Bucket: &b, Prefix: &k})
	for p.HasMorePages() {
		ctx, cancel := context.WithTimeout(context.Background(), s3OpTimeout)
		out, err := p.NextPage(ctx)
		cancel()
		if err != nil {
			return fn(root, nil, fmt.Errorf("list s3://%s/%s: %w", b, k, err))
		}
		for _, o := range out.Contents {
			key := aws.ToString(o.Key)
			e := s3Entry{name: path.Base(key), size: aws.ToInt64(o.Size), mod: aws.ToTime(o.LastModified)}
			if err := fn("s3://"+b+"/"+key, e, nil); err != nil {
				if errors.Is(err, fs.SkipDir) || errors.Is(err, fs.SkipAll) {
					return nil
				}
				return err
			}
		}
	}
	return nil
}

func (s *s3IO) WriteFile(name string, p []byte) error {
	b, k, err := splitS3(name)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), s3OpTimeout)
	defer cancel()
	_, err = s.c.PutObject(ctx, &s3.PutObjectInput{Bucket: &b, Key: &k, Body: bytes.NewReader(p), ContentLength: aws.Int64(int64(len(p)))})
	return err
}

func (s *s3IO) Create(name string) (icebergio.FileWriter, error) {
	if _, _, err := splitS3(name); err != nil {
		return nil, err
	}
	return &s3Writer{io: s, name: name}, nil
}

// s3Writer buffers a file and uploads it on Close.
type s3Writer struct {
	bytes.Buffer
	io   *s3IO
	name string
}

func (w *s3Writer) Close() error { return w.io.WriteFile(w.name, w.Bytes()) }

// s3File is an object opened for reading: ReadAt is a ranged GET; Read
// streams one GET from the position and Seek drops it.
type s3File struct {
	c           *s3.Client
	bucket, key string
	name        string
	size        int64
	mod         time.Time

	pos    int64
	body   io.ReadCloser // GET from bodyAt, nil when none is open
	bodyAt int64
	cancel context.CancelFunc
}

func (f *s3File) get(ctx context.Context, off, n int64) (io.ReadCloser, error) {
	rng := fmt.Sprintf("bytes=%d-", off)
	if n > 0 {
		rng = fmt.Sprintf("bytes=%d-%d", off, off+n-1)
	}
	out, err := f.c.GetObject(ctx, &s3.GetObjectInput{Bucket: &f.bucket, Key: &f.key, Range: &rng})
	if err != nil {
		return nil, fmt.Errorf("get %s %s: %w", f.key, rng, err)
	}
	return out.Body, nil
}

func (f *s3File) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 {
		return 0, fmt.Errorf("read %s: negative offset", f.name)
	}
	if off >= f.size {
		return 0, io.EOF
	}
	n := min(int64(len(p)), f.size-off)
	if n == 0 {
		return 0, nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), s3OpTimeout)
	defer cancel()
	body, err := f.get(ctx, off, n)
	if err != nil {
		return 0, err
	}
	defer body.Close()
	got, err := io.ReadFull(body, p[:n])
	if err != nil {
		return got, fmt.Errorf("read %s at %d: %w", f.name, off, err)
	}
	if got < len(p) {
		return got, io.EOF
	}
	return got, nil
}

func (f *s3File) Read(p []byte) (int, error) {
	if f.pos >= f.size {
		return 0, io.EOF
	}
	if f.body == nil {
		// No timeout: a long sequential read; Close cancels it.
		ctx, cancel := context.WithCancel(context.Background())
		body, err := f.get(ctx, f.pos, 0)
		if err != nil {
			cancel()
			return 0, err
		}
		f.body, f.bodyAt, f.cancel = body, f.pos, cancel
	}
	n, err := f.body.Read(p)
	f.pos += int64(n)
	if err == io.EOF && f.pos < f.size {
		err = io.ErrUnexpectedEOF
	}
	return n, err
}

func (f *s3File) Seek(offset int64, whence int) (int64, error) {
	switch whence {
	case io.SeekCurrent:
		offset += f.pos
	case io.SeekEnd:
		offset += f.size
	}
	if offset < 0 {
		return 0, fmt.Errorf("seek %s: negative position", f.name)
	}
	if offset != f.pos {
		f.dropBody()
		f.pos = offset
	}
	return offset, nil
}

func (f *s3File) dropBody() {
	if f.body != nil {
		f.body.Close()
		f.cancel()
		f.body = nil
	}
}

func (f *s3File) Close() error { f.dropBody(); return nil }
func (f *s3File) Stat() (fs.FileInfo, error) {
	return s3Entry{name: path.Base(f.key), size: f.size, mod: f.mod}, nil
}

// s3Entry is the fs.FileInfo and fs.DirEntry of an object (or of the
// root of a WalkDir).
type s3Entry struct {
	name string
	size int64
	mod  time.Time
	dir  bool
}

func (e s3Entry) Name() string { return e.name }
func (e s3Entry) Size() int64  { return e.size }
func (e s3Entry) Mode() fs.FileMode {
	if e.dir {
		return fs.ModeDir | 0o555
	}
	return 0o444
}
func (e s3Entry) ModTime() time.Time         { return e.mod }
func (e s3Entry) IsDir() bool                { return e.dir }
func (e s3Entry) Sys() any                   { return nil }
func (e s3Entry) Type() fs.FileMode          { return e.Mode().Type() }
func (e s3Entry) Info() (fs.FileInfo, error) { return e, nil }
