package ui

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"io"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"path"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

func serve(t *testing.T, method, target string, hdr ...string) *httptest.ResponseRecorder {
	t.Helper()
	req := httptest.NewRequest(method, target, nil)
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	w := httptest.NewRecorder()
	Handler().ServeHTTP(w, req)
	return w
}

func checkSecurityHeaders(t *testing.T, w *httptest.ResponseRecorder, what string) {
	t.Helper()
	want := map[string]string{
		"Content-Security-Policy": "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; connect-src 'self'; frame-ancestors 'none'",
		"X-Content-Type-Options":  "nosniff",
		"Referrer-Policy":         "no-referrer",
	}
	for k, v := range want {
		if got := w.Header().Get(k); got != v {
			t.Errorf("%s: %s = %q, want %q", what, k, got, v)
		}
	}
}

// embedded returns every file under static/ but index.html.
func embedded(t *testing.T) map[string][]byte {
	t.Helper()
	out := map[string][]byte{}
	err := fs.WalkDir(static, "static", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := fs.ReadFile(static, p)
		out[strings.TrimPrefix(p, "static/")] = b
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestPagesServeIndex(t *testing.T) {
	hash := AssetsHash()
	if len(hash) != 12 {
		t.Fatalf("hash %q: want 12 hex digits", hash)
	}
	for _, p := range []string{"/ui/", "/ui/topics", "/ui/topics/orders.v1", "/ui/topics/a%2Fb", "/ui/groups", "/ui/groups/billing", "/ui/groups/billing/", "/ui/no/such/page", "/ui/?q=1"} {
		w := serve(t, "GET", p)
		if w.Code != 200 {
			t.Fatalf("GET %s: %d", p, w.Code)
		}
		body := w.Body.String()
		if ct := w.Header().Get("Content-Type"); ct != "text/html; charset=utf-8" {
			t.Errorf("GET %s: Content-Type %q", p, ct)
		}
		if cc := w.Header().Get("Cache-Control"); cc != "no-cache" {
			t.Errorf("GET %s: Cache-Control %q, want no-cache", p, cc)
		}
		if w.Header().Get("ETag") == "" {
			t.Errorf("GET %s: no ETag", p)
		}
		if !strings.Contains(body, `src="/ui/assets/`+hash+`/js/app.js"`) || strings.Contains(body, hashPlaceholder) {
			t.Fatalf("GET %s: index.html without the hashed app.js:\n%s", p, body)
		}
		checkSecurityHeaders(t, w, "GET "+p)
	}
}

func TestRedirectToSlash(t *testing.T) {
	w := serve(t, "GET", "/ui")
	if w.Code != http.StatusMovedPermanently || w.Header().Get("Location") != "/ui/" {
		t.Fatalf("GET /ui: %d Location %q, want 301 /ui/", w.Code, w.Header().Get("Location"))
	}
	w = serve(t, "GET", "/ui?x=1")
	if w.Header().Get("Location") != "/ui/?x=1" {
		t.Fatalf("GET /ui?x=1: Location %q", w.Header().Get("Location"))
	}
	checkSecurityHeaders(t, w, "GET /ui")
}

func TestAssetsImmutableWithTypes(t *testing.T) {
	types := map[string]string{".js": "text/javascript; charset=utf-8", ".css": "text/css; charset=utf-8", ".svg": "image/svg+xml"}
	files := embedded(t)
	if len(files) < 10 {
		t.Fatalf("only %d embedded files", len(files))
	}
	for name, want := range files {
		if name == "index.html" || strings.HasSuffix(name, ".md") {
			continue
		}
		p := "/ui/assets/" + AssetsHash() + "/" + name
		w := serve(t, "GET", p)
		if w.Code != 200 || !bytes.Equal(w.Body.Bytes(), want) {
			t.Fatalf("GET %s: %d, %d bytes (want %d)", p, w.Code, w.Body.Len(), len(want))
		}
		if ct, ok := types[path.Ext(name)]; ok && w.Header().Get("Content-Type") != ct {
			t.Errorf("GET %s: Content-Type %q, want %q", p, w.Header().Get("Content-Type"), ct)
		}
		if cc := w.Header().Get("Cache-Control"); cc != "public, max-age=31536000, immutable" {
			t.Errorf("GET %s: Cache-Control %q", p, cc)
		}
		if w.Header().Get("Content-Encoding") != "" {
			t.Errorf("GET %s without Accept-Encoding: Content-Encoding %q", p, w.Header().Get("Content-Encoding"))
		}
		checkSecurityHeaders(t, w, "GET "+p)
	}
}

func TestGzip(t *testing.T) {
	p := "/ui/assets/" + AssetsHash() + "/js/app.js"
	plain := serve(t, "GET", p).Body.Bytes()
	for _, ae := range []string{"gzip", "gzip, deflate, br, zstd", "br;q=1.0, gzip;q=0.8", "*"} {
		w := serve(t, "GET", p, "Accept-Encoding", ae)
		if w.Header().Get("Content-Length") != strconv.Itoa(w.Body.Len()) {
			t.Fatalf("Accept-Encoding %q: Content-Length %q of a %d-byte body", ae, w.Header().Get("Content-Length"), w.Body.Len())
		}
		if w.Header().Get("Content-Encoding") != "gzip" || w.Header().Get("Vary") != "Accept-Encoding" {
			t.Fatalf("Accept-Encoding %q: Content-Encoding %q, Vary %q", ae, w.Header().Get("Content-Encoding"), w.Header().Get("Vary"))
		}
		zr, err := gzip.NewReader(w.Body)
		if err != nil {
			t.Fatalf("Accept-Encoding %q: %v", ae, err)
		}
		got, err := io.ReadAll(zr)
		if err != nil || !bytes.Equal(got, plain) {
			t.Fatalf("Accept-Encoding %q: gunzipped %d bytes (%v), want the %d of the file", ae, len(got), err, len(plain))
		}
	}
	for _, ae := range []string{"", "identity", "gzip;q=0", "br", "gzip; q=0.000"} {
		w := serve(t, "GET", p, "Accept-Encoding", ae)
		if w.Header().Get("Content-Encoding") != "" || !bytes.Equal(w.Body.Bytes(), plain) {
			t.Fatalf("Accept-Encoding %q: Content-Encoding %q, %d bytes", ae, w.Header().Get("Content-Encoding"), w.Body.Len())
		}
	}
	// index.html is compressed too.
	if w := serve(t, "GET", "/ui/topics", "Accept-Encoding", "gzip"); w.Header().Get("Content-Encoding") != "gzip" {
		t.Fatalf("index.html not gzipped")
	}
}

func TestETagNotModified(t *testing.T) {
	for _, p := range []string{"/ui/groups", "/ui/assets/" + AssetsHash() + "/app.css"} {
		for _, ae := range []string{"", "gzip"} {
			w := serve(t, "GET", p, "Accept-Encoding", ae)
			etag := w.Header().Get("ETag")
			if w.Code != 200 || !strings.HasPrefix(etag, `"`) {
				t.Fatalf("GET %s: %d ETag %q", p, w.Code, etag)
			}
			for _, inm := range []string{etag, "W/" + etag, `"nope", ` + etag, "*"} {
				w2 := serve(t, "GET", p, "Accept-Encoding", ae, "If-None-Match", inm)
				if w2.Code != http.StatusNotModified || w2.Body.Len() != 0 {
					t.Fatalf("GET %s If-None-Match %s: %d, %d bytes; want 304, empty", p, inm, w2.Code, w2.Body.Len())
				}
				if w2.Header().Get("ETag") != etag {
					t.Fatalf("304 ETag %q, want %q", w2.Header().Get("ETag"), etag)
				}
			}
			if w3 := serve(t, "GET", p, "Accept-Encoding", ae, "If-None-Match", `"stale"`); w3.Code != 200 {
				t.Fatalf("GET %s with a stale ETag: %d", p, w3.Code)
			}
		}
	}
	// The gzip and identity forms are different representations.
	a := serve(t, "GET", "/ui/", "Accept-Encoding", "gzip").Header().Get("ETag")
	b := serve(t, "GET", "/ui/").Header().Get("ETag")
	if a == b {
		t.Fatalf("gzip and identity share ETag %s", a)
	}
}

func TestUnknownAssetsAre404(t *testing.T) {
	h := AssetsHash()
	for _, p := range []string{
		"/ui/assets/000000000000/js/app.js", // a page of an older binary
		"/ui/assets/" + h + "/js/nope.js",
		"/ui/assets/" + h + "/index.html", // only as a page, with its hash filled in
		"/ui/assets/" + h + "/../../ui.go",
		"/ui/assets/" + h + "/",
		"/ui/assets/" + h,
		"/ui/assets/",
		"/elsewhere",
	} {
		w := serve(t, "GET", p)
		if w.Code != 404 {
			t.Fatalf("GET %s: %d, want 404", p, w.Code)
		}
		var e struct{ Error string }
		if json.Unmarshal(w.Body.Bytes(), &e) != nil || e.Error == "" {
			t.Fatalf("GET %s: body %q, want {\"error\": ...}", p, w.Body.String())
		}
		if w.Header().Get("Cache-Control") != "no-store" {
			t.Errorf("GET %s: 404 is cacheable: %q", p, w.Header().Get("Cache-Control"))
		}
		checkSecurityHeaders(t, w, "GET "+p)
	}
}

func TestHeadAndMethods(t *testing.T) {
	w := serve(t, "HEAD", "/ui/assets/"+AssetsHash()+"/app.css")
	if w.Code != 200 || w.Body.Len() != 0 || w.Header().Get("Content-Length") == "" {
		t.Fatalf("HEAD: %d, %d bytes, Content-Length %q", w.Code, w.Body.Len(), w.Header().Get("Content-Length"))
	}
	for _, m := range []string{"POST", "PUT", "DELETE"} {
		w := serve(t, m, "/ui/topics")
		if w.Code != http.StatusMethodNotAllowed || w.Header().Get("Allow") != "GET, HEAD" {
			t.Fatalf("%s /ui/topics: %d Allow %q", m, w.Code, w.Header().Get("Allow"))
		}
	}
}

// The first load is everything the console embeds: the budget is 300 KB
// compressed, the aim far less.
func TestFirstLoadBudget(t *testing.T) {
	total := 0
	for name := range embedded(t) {
		if strings.HasSuffix(name, ".md") {
			continue
		}
		p := "/ui/assets/" + AssetsHash() + "/" + name
		if name == "index.html" {
			p = "/ui/"
		}
		total += serve(t, "GET", p, "Accept-Encoding", "gzip").Body.Len()
	}
	t.Logf("all assets: %d bytes compressed", total)
	if total > 300_000 {
		t.Fatalf("all assets: %d bytes compressed, over the 300 KB budget", total)
	}
}

// What a browser would refuse under the CSP, and imports that would 404,
// found without a browser.
func TestAssetsKeepToTheCSP(t *testing.T) {
	files := embedded(t)
	html := string(files["index.html"])
	for _, m := range regexp.MustCompile(`<script[^>]*>`).FindAllString(html, -1) {
		if !strings.Contains(m, " src=") {
			t.Errorf("index.html: inline script %q", m)
		}
	}
	if strings.Contains(html, " style=") || strings.Contains(html, "<style") || regexp.MustCompile(`\son[a-z]+=`).MatchString(html) {
		t.Errorf("index.html: inline style or event handler")
	}
	remote := regexp.MustCompile("(?:fetch|import|stream|get|send)\\s*\\(\\s*['\"`](?:https?:)?//|from\\s*['\"](?:https?:)?//")
	imp := regexp.MustCompile(`(?:from|import)\s*\(?\s*'(\.{1,2}/[^']+)'`)
	for name, b := range files {
		if !strings.HasSuffix(name, ".js") {
			continue
		}
		src := string(b)
		for _, bad := range []string{"setAttribute('style'", ".innerHTML", "eval(", "new Function(", "localStorage.", "document.cookie", "new EventSource("} {
			if strings.Contains(src, bad) {
				t.Errorf("%s uses %s", name, bad)
			}
		}
		if m := remote.FindString(src); m != "" {
			t.Errorf("%s loads from elsewhere: %s", name, m)
		}
		for _, m := range imp.FindAllStringSubmatch(src, -1) {
			target := path.Join(path.Dir(name), m[1])
			if _, ok := files[target]; !ok {
				t.Errorf("%s imports %s: no such file (%s)", name, m[1], target)
			}
		}
	}
	for _, p := range []string{"overview", "topics", "topic", "groups", "group"} {
		if _, ok := files["js/pages/"+p+".js"]; !ok {
			t.Errorf("page module js/pages/%s.js missing", p)
		}
	}
}

func TestAcceptsGzip(t *testing.T) {
	for ae, want := range map[string]bool{
		"gzip": true, "GZIP": true, "deflate, gzip;q=0.5": true, "*;q=0.1": true, "gzip;q=1": true,
		"": false, "deflate": false, "gzip;q=0": false, "gzip;q=0.0": false, "x-gzip": false,
	} {
		if got := acceptsGzip(ae); got != want {
			t.Errorf("acceptsGzip(%q) = %v, want %v", ae, got, want)
		}
	}
}
