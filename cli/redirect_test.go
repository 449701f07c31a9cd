package cli

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"
)

// The password of --user goes to the API server given, never to where a
// redirect points (another host, or plain http).
func TestHTTPCredentialsNotSentOnRedirect(t *testing.T) {
	var leaked atomic.Value
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		leaked.Store(r.Header.Get("Authorization"))
		w.WriteHeader(http.StatusOK)
	}))
	defer other.Close()
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, other.URL+r.URL.Path, http.StatusTemporaryRedirect)
	}))
	defer api.Close()
	o := &options{api: api.URL, user: "admin", password: "admin-secret", timeout: 5 * time.Second}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := o.call(ctx, http.MethodGet, "/auth/tokens", nil, nil); err == nil {
		t.Error("a redirect was followed as a success")
	}
	if v, _ := leaked.Load().(string); v != "" {
		t.Fatalf("the redirect target received Authorization %q", v)
	}
}
