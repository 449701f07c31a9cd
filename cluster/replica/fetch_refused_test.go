package replica

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
)

// TestFetcherWarnsRefusalOnce: the leader refusing this node (credentials,
// certificate, ACL) is one warning per minute naming the settings; other
// errors stay at debug level.
func TestFetcherWarnsRefusalOnce(t *testing.T) {
	var buf bytes.Buffer
	f := &fetcher{m: &Manager{logger: slog.New(slog.NewTextHandler(&buf, nil))}, leader: 2, addr: "127.0.0.1:9094"}
	refusals := []error{
		fmt.Errorf("sasl: %w", kerr.SaslAuthenticationFailed),
		kerr.TopicAuthorizationFailed,
		&tls.CertificateVerificationError{Err: x509.UnknownAuthorityError{}},
	}
	for _, err := range refusals {
		if !isRefusal(err) {
			t.Errorf("%v: not taken for a refusal", err)
		}
		if !f.warnRefused(err) {
			t.Errorf("%v: warnRefused false", err)
		}
	}
	for _, err := range []error{kerr.NotLeaderForPartition, io.EOF, kerr.RequestTimedOut} {
		if f.warnRefused(err) {
			t.Errorf("%v: taken for a refusal", err)
		}
	}
	out := buf.String()
	if n := strings.Count(out, "level=WARN"); n != 1 || !strings.Contains(out, "ZOMBI_INTER_NODE_USER") || !strings.Contains(out, "leader=2") {
		t.Errorf("want one warning naming the settings and the leader, got %d:\n%s", n, out)
	}
}
