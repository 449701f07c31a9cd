package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/zombi-dev/zombi/tlsconf"
)

func TestCertsDevWritesFilesAndSettings(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "certs")
	var out, errOut bytes.Buffer
	if rc := certsCommand([]string{"dev", "--out", dir, "--host", "zombi.local", "--client-cn", "alice"}, &out, &errOut); rc != 0 {
		t.Fatalf("rc %d: %s", rc, errOut.String())
	}
	for _, want := range []string{"ZOMBI_TLS_CERT_FILE=" + filepath.Join(dir, "server.pem"), "ZOMBI_TLS_KEY_FILE=", "ZOMBI_TLS_CLIENT_CA_FILE=", "CN alice", "zombi.local"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
	if _, err := tlsconf.New(tlsconf.Config{CertFile: filepath.Join(dir, "server.pem"), KeyFile: filepath.Join(dir, "server-key.pem"),
		ClientCAFile: filepath.Join(dir, "ca.pem"), ClientAuth: "required"}, nil); err != nil {
		t.Fatalf("written files do not load: %v", err)
	}
	// A second run does not overwrite without --force.
	before, _ := os.ReadFile(filepath.Join(dir, "ca.pem"))
	errOut.Reset()
	if rc := certsCommand([]string{"dev", "--out", dir}, &out, &errOut); rc == 0 || !strings.Contains(errOut.String(), "--force") {
		t.Fatalf("second run: rc %d, %q", rc, errOut.String())
	}
	if after, _ := os.ReadFile(filepath.Join(dir, "ca.pem")); !bytes.Equal(before, after) {
		t.Fatal("a refused run changed ca.pem")
	}
	if rc := certsCommand([]string{"dev", "--out", dir, "--force"}, &out, &errOut); rc != 0 {
		t.Fatalf("--force: rc %d", rc)
	}
	if rc := certsCommand([]string{"dev"}, &out, &errOut); rc != 2 {
		t.Fatalf("without --out: rc %d, want 2", rc)
	}
}
