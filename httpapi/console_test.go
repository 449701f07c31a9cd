package httpapi

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// The console is public even where everything else needs credentials:
// its assets hold no data (the pages call the API with the user's own).
func TestConsoleMountedAndPublic(t *testing.T) {
	a := secured(t)
	// Not through the validating handler: the document describes the
	// console's routes, but its validator reads no HTML.
	h := New(a.log, a.stats, Config{Auth: a.svc, RequireAuth: true}, discardLogger())
	for _, c := range []struct {
		method, path string
		code         int
		location     string
	}{
		{"GET", "/", http.StatusFound, "/ui/"},
		{"GET", "/ui", http.StatusMovedPermanently, "/ui/"},
		{"GET", "/ui/", 200, ""},
		{"GET", "/ui/groups", 200, ""},
		{"HEAD", "/ui/topics", 200, ""},
	} {
		req := httptest.NewRequest(c.method, c.path, nil)
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		if w.Code != c.code || w.Header().Get("Location") != c.location {
			t.Fatalf("%s %s without credentials: %d Location %q, want %d %q", c.method, c.path, w.Code, w.Header().Get("Location"), c.code, c.location)
		}
		if c.code == 200 {
			if !strings.HasPrefix(w.Header().Get("Content-Type"), "text/html") || w.Header().Get("Content-Security-Policy") == "" {
				t.Fatalf("%s %s: Content-Type %q, CSP %q", c.method, c.path, w.Header().Get("Content-Type"), w.Header().Get("Content-Security-Policy"))
			}
		}
	}
	// Public stops at the console: /uix and the API still ask.
	for _, p := range []string{"/uix", "/tables"} {
		if code, _ := a.do("GET", p, "", nil); code != http.StatusUnauthorized {
			t.Fatalf("GET %s without credentials: %d, want 401", p, code)
		}
	}
}
