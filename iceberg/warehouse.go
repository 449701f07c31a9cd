package iceberg

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// Warehouse is ZOMBI_ICEBERG_WAREHOUSE: a local directory or
// s3://bucket/prefix under which each table lives at {namespace}/{name}.
type Warehouse struct {
	dir    string     // local: absolute directory
	c      *s3.Client // S3: client, bucket and prefix (no slashes at the ends)
	bucket string
	prefix string
}

// OpenWarehouse parses uri: "s3://bucket/prefix" (c must then be non-nil;
// build it with tiering.NewS3Client) or a local directory.
func OpenWarehouse(uri string, c *s3.Client) (*Warehouse, error) {
	if rest, ok := strings.CutPrefix(uri, "s3://"); ok {
		bucket, prefix, _ := strings.Cut(rest, "/")
		if bucket == "" {
			return nil, fmt.Errorf("iceberg warehouse %q: no bucket", uri)
		}
		if c == nil {
			return nil, fmt.Errorf("iceberg warehouse %q: an s3:// warehouse needs the S3 settings (ZOMBI_S3_ENDPOINT, credentials)", uri)
		}
		return &Warehouse{c: c, bucket: bucket, prefix: strings.Trim(prefix, "/")}, nil
	}
	if strings.Contains(uri, "://") {
		return nil, fmt.Errorf("iceberg warehouse %q: only s3:// or a local directory", uri)
	}
	if uri == "" {
		return nil, errors.New("iceberg warehouse: empty")
	}
	abs, err := filepath.Abs(uri)
	if err != nil {
		return nil, err
	}
	return &Warehouse{dir: abs}, nil
}

// Location is the warehouse as a URI (an absolute path or s3://bucket/prefix).
func (w *Warehouse) Location() string {
	if w.c == nil {
		return w.dir
	}
	return strings.TrimSuffix("s3://"+w.bucket+"/"+w.prefix, "/")
}

// S3 reports the bucket client when the warehouse is on S3.
func (w *Warehouse) S3() (*s3.Client, bool) { return w.c, w.c != nil }

// Storage is the table namespace.name's storage.
func (w *Warehouse) Storage(namespace, name string) Storage {
	if w.c == nil {
		return dirStorage{root: filepath.Join(w.dir, namespace, name)}
	}
	return S3Storage(w.c, w.bucket, path.Join(w.prefix, namespace, name))
}

// Tables lists the tables of a namespace: the names under it that hold a
// metadata/ directory (or prefix), sorted.
func (w *Warehouse) Tables(ctx context.Context, namespace string) ([]string, error) {
	var names []string
	if w.c == nil {
		ents, err := os.ReadDir(filepath.Join(w.dir, namespace))
		if errors.Is(err, fs.ErrNotExist) {
			return nil, nil
		}
		if err != nil {
			return nil, err
		}
		for _, e := range ents {
			if st, err := os.Stat(filepath.Join(w.dir, namespace, e.Name(), "metadata")); err == nil && st.IsDir() {
				names = append(names, e.Name())
			}
		}
		return names, nil
	}
	pre := path.Join(w.prefix, namespace) + "/"
	if w.prefix == "" && namespace == "" {
		pre = ""
	}
	p := s3.NewListObjectsV2Paginator(w.c, &s3.ListObjectsV2Input{Bucket: &w.bucket, Prefix: &pre, Delimiter: aws.String("/")})
	for p.HasMorePages() {
		out, err := p.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("list %s: %w", pre, err)
		}
		for _, cp := range out.CommonPrefixes {
			name := strings.TrimSuffix(strings.TrimPrefix(aws.ToString(cp.Prefix), pre), "/")
			if name != "" {
				names = append(names, name)
			}
		}
	}
	slices.Sort(names)
	return names, nil
}

// Current is the newest committed metadata of table namespace.name, found
// as Load finds it (the hint, or a later version when the hint is stale):
// its full location (what readers open) and its bytes, verbatim. A missing
// table matches both ErrNoTable and fs.ErrNotExist. It is what the REST
// catalog serves: metadata files are never overwritten, so the pair is
// consistent without a lock.
func (w *Warehouse) Current(ctx context.Context, namespace, name string) (location string, metadata []byte, err error) {
	if !safeName(namespace) || !safeName(name) {
		return "", nil, fmt.Errorf("table %q.%q: %w (%w)", namespace, name, ErrNoTable, fs.ErrNotExist)
	}
	st := w.Storage(namespace, name)
	n, err := (&Table{st: st}).currentVersion(ctx)
	if errors.Is(err, ErrNoTable) {
		return "", nil, fmt.Errorf("table %s.%s: %w (%w)", namespace, name, ErrNoTable, fs.ErrNotExist)
	}
	if err != nil {
		return "", nil, fmt.Errorf("table %s.%s: %w", namespace, name, err)
	}
	data, err := st.Read(ctx, metadataName(n))
	if err != nil {
		return "", nil, fmt.Errorf("table %s.%s v%d: %w", namespace, name, n, err)
	}
	return st.Location() + "/" + metadataName(n), data, nil
}

// safeName: one path element that cannot leave the warehouse.
func safeName(s string) bool {
	return s != "" && s != "." && s != ".." && !strings.ContainsAny(s, "/\\\x00")
}

// S3Credentials are the keys of the warehouse's S3 client (its credential
// chain, so rotating credentials stay current): what the REST catalog
// vends when told to (httpapi.IcebergCatalog.VendCredentials).
func (w *Warehouse) S3Credentials(ctx context.Context) (accessKeyID, secretAccessKey, sessionToken string, err error) {
	if w.c == nil || w.c.Options().Credentials == nil {
		return "", "", "", errors.New("iceberg warehouse: no S3 credentials (not an s3:// warehouse)")
	}
	cr, err := w.c.Options().Credentials.Retrieve(ctx)
	if err != nil {
		return "", "", "", fmt.Errorf("S3 credentials: %w", err)
	}
	return cr.AccessKeyID, cr.SecretAccessKey, cr.SessionToken, nil
}
