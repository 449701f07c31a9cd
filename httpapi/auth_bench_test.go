package httpapi

import (
	"net/http"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/zombi-dev/zombi/auth"
	plog "github.com/zombi-dev/zombi/log"
	"github.com/zombi-dev/zombi/stats"
)

// benchAuthServer is benchServer with authentication required and ACLs on:
// user "bench" may write and read table bench. Every request carries
// authorization (set by a wrapper, as load sends no headers of its own).
func benchAuthServer(b *testing.B, authorization func(svc *auth.Service) string) string {
	b.Helper()
	logger := discardLogger()
	l, err := plog.Open(plog.Options{Dir: b.TempDir(), SyncWrites: true, Logger: logger})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = l.Close() })
	svc, err := auth.Open(auth.LogStore(l), auth.Config{Authorization: true, Superusers: []string{"admin"}, FailedAuthDelay: time.Millisecond})
	if err != nil {
		b.Fatal(err)
	}
	if err := svc.SetPassword("bench", "bench-pw"); err != nil {
		b.Fatal(err)
	}
	for _, op := range []kmsg.ACLOperation{kmsg.ACLOperationWrite, kmsg.ACLOperationRead, kmsg.ACLOperationCreate} {
		if errs := svc.CreateACLs([]auth.ACL{{ResourceType: kmsg.ACLResourceTypeTopic, ResourceName: "bench", PatternType: kmsg.ACLResourcePatternTypeLiteral,
			Principal: "User:bench", Host: "*", Operation: op, Permission: kmsg.ACLPermissionTypeAllow}}); errs[0] != nil {
			b.Fatal(errs[0])
		}
	}
	s := newServer(l, stats.New(), Config{DefaultPartitions: 1, Auth: svc, RequireAuth: true, PublicPaths: []string{"/health"}}, logger, true)
	h := s.handler()
	hdr := []string{authorization(svc)}
	return serve(b, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r.Header["Authorization"] = hdr
		h.ServeHTTP(w, r)
	}))
}

// BenchmarkPostSingleAuthBasic is BenchmarkPostSingle with HTTP Basic and
// the ACL checks (the password check is cached after the first request).
func BenchmarkPostSingleAuthBasic(b *testing.B) {
	url := benchAuthServer(b, func(*auth.Service) string {
		r, _ := http.NewRequest("GET", "/", nil)
		r.SetBasicAuth("bench", "bench-pw")
		return r.Header.Get("Authorization")
	})
	load(b, 64, "POST", url+"/tables/bench", "application/json", []byte(singleBody), 202)
}

// BenchmarkPostSingleAuthBearer is BenchmarkPostSingle with a bearer token.
func BenchmarkPostSingleAuthBearer(b *testing.B) {
	url := benchAuthServer(b, func(svc *auth.Service) string {
		tok, _, err := svc.CreateToken(auth.User("bench"), "bench", 0)
		if err != nil {
			b.Fatal(err)
		}
		return "Bearer " + tok
	})
	load(b, 64, "POST", url+"/tables/bench", "application/json", []byte(singleBody), 202)
}
