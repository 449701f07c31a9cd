// Package ui is Zombi's web console: plain ES modules and CSS embedded in
// the binary and served under /ui/ by Handler. No build step: the files in
// static/ are what the browser gets. See README.md.
package ui

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io/fs"
	"net/http"
	"path"
	"sort"
	"strings"
	"sync"
)

//go:embed static
var static embed.FS

// Prefix is where the console is mounted; Handler expects full paths.
const Prefix = "/ui"

// hashPlaceholder in index.html is replaced by the assets' directory
// (/ui/assets/{hash}) when the handler is built.
const hashPlaceholder = "{{ASSETS}}"

// The response headers of every answer: nothing is loaded or sent
// anywhere but this origin, and the console cannot be framed.
var securityHeaders = map[string]string{
	"Content-Security-Policy": "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; connect-src 'self'; frame-ancestors 'none'",
	"X-Content-Type-Options":  "nosniff",
	"Referrer-Policy":         "no-referrer",
}

// contentTypes by extension: set here rather than by mime.TypeByExtension,
// whose answer depends on the host's /etc/mime.types.
var contentTypes = map[string]string{
	".html": "text/html; charset=utf-8",
	".js":   "text/javascript; charset=utf-8",
	".css":  "text/css; charset=utf-8",
	".svg":  "image/svg+xml",
	".json": "application/json",
	".png":  "image/png",
	".ico":  "image/x-icon",
	".txt":  "text/plain; charset=utf-8",
	".md":   "text/markdown; charset=utf-8",
}

// file is one asset, compressed once at start.
type file struct {
	body  []byte
	gz    []byte // nil when gzip does not make it smaller
	ctype string
	etag  string // strong, of body; the gzip variant's ends in "-gz"
}

type handler struct {
	hash   string           // of every embedded file, names and contents
	assets map[string]*file // by path under static/
	index  *file            // index.html with the hash filled in
}

// build reads the embedded files once: the handler never changes.
var build = sync.OnceValues(func() (*handler, error) { return newHandler(static) })

// Handler serves the console: GET/HEAD /ui (301 to /ui/), the assets at
// /ui/assets/{hash}/{path} (immutable), and index.html for every other path
// under /ui/ (the pages route in the browser). It expects the full request
// path (mount it at /ui and /ui/, without stripping the prefix).
func Handler() http.Handler {
	h, err := build()
	if err != nil {
		// Only a broken embed (a build problem) gets here.
		return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			http.Error(w, "console assets: "+err.Error(), http.StatusInternalServerError)
		})
	}
	return h
}

// AssetsHash is the short hash in the asset paths (for tests and docs).
func AssetsHash() string {
	h, err := build()
	if err != nil {
		return ""
	}
	return h.hash
}

func newHandler(fsys fs.FS) (*handler, error) {
	sub, err := fs.Sub(fsys, "static")
	if err != nil {
		return nil, fmt.Errorf("ui assets: %w", err)
	}
	var names []string
	err = fs.WalkDir(sub, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() {
			names = append(names, p)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("ui assets: %w", err)
	}
	sort.Strings(names)
	sum := sha256.New()
	h := &handler{assets: make(map[string]*file, len(names))}
	raw := map[string][]byte{}
	for _, n := range names {
		b, err := fs.ReadFile(sub, n)
		if err != nil {
			return nil, fmt.Errorf("ui asset %s: %w", n, err)
		}
		raw[n] = b
		fmt.Fprintf(sum, "%s\x00%d\x00", n, len(b))
		sum.Write(b)
	}
	h.hash = hex.EncodeToString(sum.Sum(nil))[:12]
	for n, b := range raw {
		if n == "index.html" {
			continue
		}
		if h.assets[n], err = newFile(n, b); err != nil {
			return nil, err
		}
	}
	idx, ok := raw["index.html"]
	if !ok {
		return nil, fmt.Errorf("ui assets: no index.html")
	}
	idx = bytes.ReplaceAll(idx, []byte(hashPlaceholder), []byte(Prefix+"/assets/"+h.hash))
	if h.index, err = newFile("index.html", idx); err != nil {
		return nil, err
	}
	return h, nil
}

func newFile(name string, b []byte) (*file, error) {
	sum := sha256.Sum256(b)
	f := &file{body: b, etag: `"` + hex.EncodeToString(sum[:8]) + `"`, ctype: contentTypes[path.Ext(name)]}
	if f.ctype == "" {
		f.ctype = "application/octet-stream"
	}
	var buf bytes.Buffer
	zw, err := gzip.NewWriterLevel(&buf, gzip.BestCompression)
	if err != nil {
		return nil, fmt.Errorf("gzip %s: %w", name, err)
	}
	if _, err := zw.Write(b); err != nil {
		return nil, fmt.Errorf("gzip %s: %w", name, err)
	}
	if err := zw.Close(); err != nil {
		return nil, fmt.Errorf("gzip %s: %w", name, err)
	}
	if buf.Len() < len(b) {
		f.gz = buf.Bytes()
	}
	return f, nil
}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	hd := w.Header()
	for k, v := range securityHeaders {
		hd.Set(k, v)
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		hd.Set("Allow", "GET, HEAD")
		writeError(w, http.StatusMethodNotAllowed, "method "+r.Method+" not allowed on "+r.URL.Path)
		return
	}
	p := r.URL.Path
	switch {
	case p == Prefix:
		u := Prefix + "/"
		if r.URL.RawQuery != "" {
			u += "?" + r.URL.RawQuery
		}
		http.Redirect(w, r, u, http.StatusMovedPermanently)
	case strings.HasPrefix(p, Prefix+"/assets/"):
		hash, name, _ := strings.Cut(strings.TrimPrefix(p, Prefix+"/assets/"), "/")
		f := h.assets[name]
		if hash != h.hash || f == nil {
			// A stale hash is a page from an older binary: reload it.
			writeError(w, http.StatusNotFound, "no such asset: "+p)
			return
		}
		hd.Set("Cache-Control", "public, max-age=31536000, immutable")
		h.serve(w, r, f)
	case strings.HasPrefix(p, Prefix+"/"):
		hd.Set("Cache-Control", "no-cache")
		h.serve(w, r, h.index)
	default:
		writeError(w, http.StatusNotFound, "no such page: "+p)
	}
}

// serve writes f, gzipped when the client takes it, or 304 when the
// client's copy is current.
func (h *handler) serve(w http.ResponseWriter, r *http.Request, f *file) {
	hd := w.Header()
	hd.Set("Content-Type", f.ctype)
	body, etag := f.body, f.etag
	if f.gz != nil {
		hd.Set("Vary", "Accept-Encoding")
		if acceptsGzip(r.Header.Get("Accept-Encoding")) {
			body, etag = f.gz, strings.TrimSuffix(f.etag, `"`)+`-gz"`
			hd.Set("Content-Encoding", "gzip")
		}
	}
	hd.Set("ETag", etag)
	if inm := r.Header.Get("If-None-Match"); inm != "" && etagMatch(inm, etag) {
		hd.Del("Content-Encoding")
		w.WriteHeader(http.StatusNotModified)
		return
	}
	hd.Set("Content-Length", fmt.Sprint(len(body)))
	w.WriteHeader(http.StatusOK)
	if r.Method != http.MethodHead {
		_, _ = w.Write(body)
	}
}

// acceptsGzip reads Accept-Encoding: gzip (or *) with a q above 0.
func acceptsGzip(ae string) bool {
	for _, part := range strings.Split(ae, ",") {
		coding, params, _ := strings.Cut(strings.TrimSpace(part), ";")
		coding = strings.ToLower(strings.TrimSpace(coding))
		if coding != "gzip" && coding != "*" {
			continue
		}
		params = strings.ReplaceAll(strings.ToLower(params), " ", "")
		if q, ok := strings.CutPrefix(params, "q="); ok && strings.Trim(q, "0.") == "" {
			return false // q=0, q=0.0, q=0.000: refused
		}
		return true
	}
	return false
}

// etagMatch is If-None-Match's weak comparison against a list or "*".
func etagMatch(inm, etag string) bool {
	for _, t := range strings.Split(inm, ",") {
		t = strings.TrimPrefix(strings.TrimSpace(t), "W/")
		if t == "*" || t == etag {
			return true
		}
	}
	return false
}

// writeError answers an error as the REST API does: {"error": "..."}.
func writeError(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	b, _ := json.Marshal(msg)
	fmt.Fprintf(w, "{\"error\":%s}\n", b)
}
