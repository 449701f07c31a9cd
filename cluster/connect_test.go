package cluster

import (
	"context"
	"net"
	"strings"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/zombi-dev/zombi/internal/etcdtest"
)

func testConfig(e *etcdtest.Etcd, name string, id int32) Config {
	return Config{Endpoints: []string{e.Endpoint}, Name: name, NodeID: id, SessionTimeout: 2 * time.Second}
}

func connect(t *testing.T, cfg Config) *clientv3.Client {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	cli, err := Connect(ctx, cfg)
	if err != nil {
		t.Fatalf("Connect: %v", err)
	}
	t.Cleanup(func() { cli.Close() })
	return cli
}

// TestConnectUnreachable: a port nobody listens on is one clear error,
// naming the endpoint and the setting, well within 10 s.
func TestConnectUnreachable(t *testing.T) {
	t.Parallel() // waits out the 5 s connect bound
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ep := "http://" + ln.Addr().String()
	ln.Close()
	start := time.Now()
	cli, err := Connect(context.Background(), Config{Endpoints: []string{ep}, Name: "zombi", Password: "s3cret-pw", Username: "u"})
	took := time.Since(start)
	if err == nil {
		cli.Close()
		t.Fatal("Connect to a closed port succeeded")
	}
	if took > 10*time.Second {
		t.Fatalf("Connect took %s, want < 10 s", took)
	}
	msg := err.Error()
	for _, want := range []string{ep, "ZOMBI_ETCD_ENDPOINTS", "connection refused"} {
		if !strings.Contains(msg, want) {
			t.Errorf("error %q does not name %q", msg, want)
		}
	}
	if strings.Contains(msg, "s3cret-pw") || strings.Contains(msg, "\n") {
		t.Errorf("error %q holds the password or several lines", msg)
	}
}

// TestConnectAuth: with authentication on in etcd, a wrong password is a
// clear error naming the user (not the password); the right one connects.
func TestConnectAuth(t *testing.T) {
	e := etcdtest.Start(t)
	admin := connect(t, testConfig(e, "zombi", 1))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, step := range []func() error{
		func() error { _, err := admin.RoleAdd(ctx, "root"); return err },
		func() error { _, err := admin.UserAdd(ctx, "root", "right-pw"); return err },
		func() error { _, err := admin.UserGrantRole(ctx, "root", "root"); return err },
		func() error { _, err := admin.AuthEnable(ctx); return err },
	} {
		if err := step(); err != nil {
			t.Fatalf("set up etcd auth: %v", err)
		}
	}
	cfg := testConfig(e, "zombi", 1)
	cfg.Username, cfg.Password = "root", "wrong-pw"
	if cli, err := Connect(ctx, cfg); err == nil {
		cli.Close()
		t.Fatal("Connect with a wrong password succeeded")
	} else if msg := err.Error(); !strings.Contains(msg, `"root"`) || !strings.Contains(msg, "ZOMBI_ETCD_PASSWORD") || strings.Contains(msg, "wrong-pw") {
		t.Fatalf("error %q: want the user and the setting named, not the password", msg)
	}
	cfg.Password = "right-pw"
	connect(t, cfg)
}
