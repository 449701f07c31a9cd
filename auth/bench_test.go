package auth

import (
	"context"
	"fmt"
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// authzService has n literal ACLs for other users and np prefixed ones of
// varied lengths, plus the ones the benchmarks hit.
func authzService(tb testing.TB, n, np int) *Service {
	s := newTestService(tb, Config{Authorization: true, Superusers: []string{"admin"}})
	acls := []ACL{
		acl(topic, "orders", literal, "User:alice", "*", opWrite, allow),
		acl(topic, "app-", prefix, "User:alice", "*", opRead, allow),
	}
	for i := range n {
		acls = append(acls, acl(topic, fmt.Sprintf("topic-%d", i), literal, fmt.Sprintf("User:u%d", i), "*", opRead, allow))
	}
	for i := range np {
		acls = append(acls, acl(topic, fmt.Sprintf("team%d-%s", i, "xxxxxxxxxxxxxxxx"[:i%16]), prefix, fmt.Sprintf("User:u%d", i), "*", opRead, allow))
	}
	mustCreate(tb, s, acls...)
	return s
}

func TestAuthorizeAllocationFree(t *testing.T) {
	s := authzService(t, 100, 100)
	p := User("alice")
	for _, name := range []string{"orders", "app-events", "nothing", "team5-xxxxx-more"} {
		if n := testing.AllocsPerRun(100, func() { s.Authorize(p, "10.1.2.3", opWrite, topic, name) }); n != 0 {
			t.Errorf("Authorize %q: %v allocations", name, n)
		}
	}
}

func BenchmarkAuthorize(b *testing.B) {
	for _, bc := range []struct {
		name   string
		n, np  int
		user   string
		op     kmsg.ACLOperation
		target string
		want   bool
	}{
		{"hit-literal", 0, 0, "alice", opWrite, "orders", true},
		{"hit-prefixed", 0, 0, "alice", opRead, "app-clicks", true},
		{"miss", 0, 0, "alice", opRead, "orders", false},
		{"superuser", 0, 0, "admin", opRead, "orders", true},
		{"1000-acls-hit", 1000, 0, "alice", opWrite, "orders", true},
		{"1000-acls-miss", 1000, 0, "bob", opWrite, "topic-500", false},
		{"10k-prefixed-hit", 0, 10000, "alice", opRead, "app-clicks", true},
		{"10k-prefixed-miss", 0, 10000, "bob", opRead, "team500-xxxx-topic", false},
	} {
		b.Run(bc.name, func(b *testing.B) {
			s := authzService(b, bc.n, bc.np)
			p := User(bc.user)
			if got := s.Authorize(p, "10.1.2.3", bc.op, topic, bc.target); got != bc.want {
				b.Fatalf("Authorize = %v, want %v", got, bc.want)
			}
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				s.Authorize(p, "10.1.2.3", bc.op, topic, bc.target)
			}
		})
	}
	b.Run("parallel-hit", func(b *testing.B) {
		s := authzService(b, 1000, 1000)
		p := User("alice")
		b.ReportAllocs()
		b.ResetTimer()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				s.Authorize(p, "10.1.2.3", opWrite, topic, "orders")
			}
		})
	})
}

func BenchmarkVerifyPassword(b *testing.B) {
	s := newTestService(b, Config{})
	if err := s.SetPassword("alice", "correct horse"); err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	b.Run("cached", func(b *testing.B) {
		if _, err := s.VerifyPassword(ctx, "alice", "correct horse"); err != nil {
			b.Fatal(err)
		}
		b.ReportAllocs()
		for b.Loop() {
			if _, err := s.VerifyPassword(ctx, "alice", "correct horse"); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("uncached", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			s.pwCache.init()
			if _, err := s.VerifyPassword(ctx, "alice", "correct horse"); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("unknown-user", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			s.VerifyPassword(ctx, "nobody", "correct horse")
		}
	})
}

func BenchmarkSCRAMExchange(b *testing.B) {
	s := newTestService(b, Config{})
	if err := s.SetPassword("alice", "pw"); err != nil {
		b.Fatal(err)
	}
	for _, mech := range []string{ScramSHA256, ScramSHA512} {
		b.Run(mech, func(b *testing.B) {
			for b.Loop() {
				if _, err := runSCRAM(b, s, mech, "alice", "pw", ""); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
