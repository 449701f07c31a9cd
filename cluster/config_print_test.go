package cluster

import (
	"bytes"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"
)

// TestConfigNeverPrintsPassword: fmt in every verb, inside a larger
// struct, and slog's text and JSON handlers show the settings but not
// ZOMBI_ETCD_PASSWORD.
func TestConfigNeverPrintsPassword(t *testing.T) {
	const pw = "hunter2-s3cret"
	c := Config{Endpoints: []string{"https://etcd1:2379"}, Name: "prod", NodeID: 3, Rack: "eu-1a",
		SessionTimeout: 6 * time.Second, Username: "zombi", Password: pw}
	outer := struct{ Cluster Config }{c}
	var text, js bytes.Buffer
	slog.New(slog.NewTextHandler(&text, nil)).Info("start", "cluster", c)
	slog.New(slog.NewJSONHandler(&js, nil)).Info("start", "cluster", c)
	for name, out := range map[string]string{
		"%v": fmt.Sprintf("%v", c), "%+v": fmt.Sprintf("%+v", c), "%#v": fmt.Sprintf("%#v", c),
		"%+v of a struct holding it": fmt.Sprintf("%+v", outer), "%#v of a struct holding it": fmt.Sprintf("%#v", outer),
		"slog text": text.String(), "slog JSON": js.String(),
	} {
		if strings.Contains(out, pw) {
			t.Errorf("%s prints the password: %s", name, out)
		}
		if !strings.Contains(out, "prod") || !strings.Contains(out, "https://etcd1:2379") {
			t.Errorf("%s lacks the cluster name or endpoints: %s", name, out)
		}
	}
	if s := fmt.Sprintf("%+v", c); !strings.Contains(s, "Password:[redacted]") || c.Password != pw {
		t.Errorf("%%+v: %s (the value itself must stay intact: %v)", s, c.Password == pw)
	}
	if s := fmt.Sprintf("%+v", Config{}); strings.Contains(s, "redacted") {
		t.Errorf("no password, nothing redacted: %s", s)
	}
}
