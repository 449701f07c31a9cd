package compat

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"
)

// TestFranzGoOwnSCRAMTests runs franz-go's own SCRAM tests, TestSCRAMAuth
// and TestSCRAMAuthBadCredentials of pkg/kgo (client_test.go), against the
// SASL_PLAINTEXT listener of both brokers, with SCRAM-SHA-256 and
// SCRAM-SHA-512 (KGO_TEST_SCRAM=user:pass:256|512, KGO_TEST_SCRAM_SEEDS).
// They run with `go test` in franz-go's directory of the module cache (the
// version go.mod requires; read-only, so GOFLAGS=-mod=mod and nothing is
// written there), resolving its test dependencies through the module proxy
// like any build: no copy, no replace. Running franz-go's whole suite
// against Zombi (issue 14) works the same way with KGO_SEEDS.
func TestFranzGoOwnSCRAMTests(t *testing.T) {
	start := time.Now()
	dir, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", "github.com/twmb/franz-go").Output()
	if err != nil || len(bytes.TrimSpace(dir)) == 0 {
		t.Fatalf("go list -m github.com/twmb/franz-go: %v (is the module downloaded? go mod download)", err)
	}
	modDir := string(bytes.TrimSpace(dir))
	eachSecBroker(t, func(t *testing.T, b secBroker) {
		for _, bits := range []string{"256", "512"} {
			t.Run("SCRAM-SHA-"+bits, func(t *testing.T) {
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
				defer cancel()
				cmd := exec.CommandContext(ctx, "go", "test", "-count=1", "-v", "-run", "^(TestSCRAMAuth|TestSCRAMAuthBadCredentials)$", "./pkg/kgo")
				cmd.Dir = modDir
				cmd.Env = append(os.Environ(),
					"GOFLAGS=-mod=mod", "GOWORK=off",
					"KGO_TEST_SCRAM=alice:alice-secret:"+bits,
					"KGO_TEST_SCRAM_SEEDS="+b.listeners[protoSASLPlaintext],
				)
				out, err := cmd.CombinedOutput()
				if err != nil {
					t.Fatalf("franz-go's SCRAM tests: %v\n%s", err, out)
				}
				// Both must have run (not skipped) and passed.
				for _, name := range []string{"TestSCRAMAuth", "TestSCRAMAuthBadCredentials"} {
					if !regexp.MustCompile(`(?m)^--- PASS: ` + name + ` `).Match(out) {
						t.Fatalf("%s did not pass:\n%s", name, out)
					}
				}
				for _, l := range strings.Split(string(out), "\n") {
					if strings.Contains(l, "got expected error") {
						t.Log(strings.TrimSpace(l))
					}
				}
			})
		}
	})
	t.Logf("franz-go's SCRAM tests: %.1f s wall", time.Since(start).Seconds())
}
