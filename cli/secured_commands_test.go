package cli

import (
	"encoding/json"
	"strings"
	"testing"
)

// The Kafka commands over SASL_SSL with the shared connection settings
// (ZOMBI_USER, ZOMBI_PASSWORD, ZOMBI_CLIENT_TLS_CA_FILE), and topic describe's
// REST call over HTTPS with the same user.
func TestKafkaCommandsOverSASLSSL(t *testing.T) {
	s := startSecured(t)
	s.must(t, "", "topic", "create", "sec", "-p", "2")
	s.must(t, "k1 a\nk2 b\nk3 c\n", "produce", "sec", "--format", `%k %v\n`)
	if out := s.must(t, "", "consume", "sec", "-n", "3", "--format", `%k=%v\n`); strings.Count(out, "\n") != 3 || !strings.Contains(out, "k2=b") {
		t.Fatalf("consume over SASL_SSL printed %q", out)
	}
	var desc []struct {
		Partitions []partitionInfo `json:"partitions"`
	}
	if err := json.Unmarshal([]byte(s.must(t, "", "topic", "describe", "sec", "-o", "json")), &desc); err != nil {
		t.Fatal(err)
	}
	var hwm int64
	for _, p := range desc[0].Partitions {
		hwm += p.HighWatermark
		if p.HotStart == nil {
			t.Fatalf("partition %d: no hot_start from the HTTPS API with HTTP Basic: %+v", p.Partition, p)
		}
	}
	if hwm != 3 {
		t.Fatalf("high watermarks sum to %d, want 3", hwm)
	}
	// Another user without ACLs is refused, with one line and exit 1.
	s.must(t, "eve-secret\n", "user", "create", "eve", "--new-password-stdin")
	code, _, errs := s.run(t, "", map[string]string{"ZOMBI_USER": "eve", "ZOMBI_PASSWORD": "eve-secret"}, "consume", "sec", "--timeout", "5s")
	if code != 1 || !strings.Contains(errs, "AUTHORIZATION_FAILED") || strings.Count(strings.TrimSpace(errs), "\n") != 0 {
		t.Fatalf("eve consuming: exit %d, stderr %q", code, errs)
	}
}
