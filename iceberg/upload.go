package iceberg

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"syscall"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/google/uuid"
)

// fileStorage is a Storage that stores a local file without reading it
// into memory (DirStorage moves it, S3Storage streams it).
type fileStorage interface {
	PutFile(ctx context.Context, name, local string) error
}

// putFile stores the local file as name (replacing any old one), through
// PutFile when the storage has it, else through Write.
func putFile(ctx context.Context, st Storage, name, local string) error {
	if fst, ok := st.(fileStorage); ok {
		return fst.PutFile(ctx, name, local)
	}
	data, err := os.ReadFile(local)
	if err != nil {
		return err
	}
	return st.Write(ctx, name, data)
}

// PutFile syncs the local file and renames it into place (the data file
// names are unique, so nothing is replaced); across file systems it copies.
func (d dirStorage) PutFile(_ context.Context, name, local string) error {
	f, err := os.Open(local)
	if err != nil {
		return err
	}
	err = f.Sync()
	f.Close()
	if err != nil {
		return fmt.Errorf("sync %s: %w", local, err)
	}
	p := d.path(name)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return err
	}
	if err := os.Rename(local, p); err != nil {
		if !errors.Is(err, syscall.EXDEV) {
			return err
		}
		if err := copyFile(local, p); err != nil {
			return err
		}
	}
	syncDir(filepath.Dir(p))
	return nil
}

// copyFile copies local to a synced temporary file next to p, then
// renames it to p (streamed: data files are up to the target size).
func copyFile(local, p string) error {
	src, err := os.Open(local)
	if err != nil {
		return err
	}
	defer src.Close()
	tmp := p + "." + uuid.NewString() + ".tmp"
	dst, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return err
	}
	_, err = io.Copy(dst, src)
	if err == nil {
		err = dst.Sync()
	}
	if cerr := dst.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, p)
	}
	if err != nil {
		os.Remove(tmp)
	}
	return err
}

// Multipart uploads: files above multipartThreshold go up in parts of
// multipartPartSize (aws-sdk-go-v2's feature/s3/manager is not in our
// module graph, so the three calls are made here). Variables for tests.
var (
	multipartThreshold int64 = 64 << 20
	multipartPartSize  int64 = 16 << 20
)

// PutFile uploads the local file: one PutObject with the file as the body,
// or a multipart upload above multipartThreshold.
func (s *s3Storage) PutFile(ctx context.Context, name, local string) error {
	f, err := os.Open(local)
	if err != nil {
		return err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	key := s.key(name)
	if fi.Size() <= multipartThreshold {
		ctx, cancel := context.WithTimeout(ctx, s3OpTimeout)
		defer cancel()
		_, err = s.c.PutObject(ctx, &s3.PutObjectInput{Bucket: &s.bucket, Key: &key, Body: f, ContentLength: aws.Int64(fi.Size())})
		if err != nil {
			return fmt.Errorf("put %s: %w", key, err)
		}
		return nil
	}
	return s.putMultipart(ctx, key, f, fi.Size())
}

func (s *s3Storage) putMultipart(ctx context.Context, key string, f io.ReaderAt, size int64) error {
	cctx, cancel := context.WithTimeout(ctx, s3OpTimeout)
	up, err := s.c.CreateMultipartUpload(cctx, &s3.CreateMultipartUploadInput{Bucket: &s.bucket, Key: &key})
	cancel()
	if err != nil {
		return fmt.Errorf("multipart %s: %w", key, err)
	}
	abort := func(err error) error {
		actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s3OpTimeout)
		defer cancel()
		if _, aerr := s.c.AbortMultipartUpload(actx, &s3.AbortMultipartUploadInput{Bucket: &s.bucket, Key: &key, UploadId: up.UploadId}); aerr != nil {
			err = errors.Join(err, fmt.Errorf("abort multipart %s: %w", key, aerr))
		}
		return err
	}
	var parts []types.CompletedPart
	for off, n := int64(0), int32(1); off < size; off, n = off+multipartPartSize, n+1 {
		l := min(multipartPartSize, size-off)
		pctx, cancel := context.WithTimeout(ctx, s3OpTimeout)
		out, err := s.c.UploadPart(pctx, &s3.UploadPartInput{
			Bucket: &s.bucket, Key: &key, UploadId: up.UploadId, PartNumber: aws.Int32(n),
			Body: io.NewSectionReader(f, off, l), ContentLength: aws.Int64(l),
		})
		cancel()
		if err != nil {
			return abort(fmt.Errorf("multipart %s part %d: %w", key, n, err))
		}
		parts = append(parts, types.CompletedPart{ETag: out.ETag, PartNumber: aws.Int32(n)})
	}
	cctx, cancel = context.WithTimeout(ctx, s3OpTimeout)
	defer cancel()
	_, err = s.c.CompleteMultipartUpload(cctx, &s3.CompleteMultipartUploadInput{
		Bucket: &s.bucket, Key: &key, UploadId: up.UploadId, MultipartUpload: &types.CompletedMultipartUpload{Parts: parts},
	})
	if err != nil {
		return abort(fmt.Errorf("complete multipart %s: %w", key, err))
	}
	return nil
}
