package replica

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
)

// refusedEvery bounds how often a fetcher warns that its leader refuses
// it: the fetcher retries every backoff, the operator needs one line.
const refusedEvery = time.Minute

// isRefusal reports whether err is the leader refusing this node (wrong
// inter-node credentials, an untrusted certificate, no CLUSTER_ACTION):
// a setting to fix, not a transient error.
func isRefusal(err error) bool {
	for _, ke := range []*kerr.Error{kerr.SaslAuthenticationFailed, kerr.IllegalSaslState, kerr.UnsupportedSaslMechanism,
		kerr.TopicAuthorizationFailed, kerr.ClusterAuthorizationFailed} {
		if errors.Is(err, ke) {
			return true
		}
	}
	var cv *tls.CertificateVerificationError
	var ua x509.UnknownAuthorityError
	var hn x509.HostnameError
	return errors.As(err, &cv) || errors.As(err, &ua) || errors.As(err, &hn)
}

// warnRefused logs a refusal at most once per refusedEvery and reports
// whether err was one (the caller logs the others at debug level).
func (f *fetcher) warnRefused(err error) bool {
	if !isRefusal(err) {
		return false
	}
	if now := time.Now(); now.Sub(f.lastRefused) >= refusedEvery {
		f.lastRefused = now
		f.m.logger.Warn("the leader refuses this node's replication requests: check ZOMBI_INTER_NODE_LISTENER, ZOMBI_INTER_NODE_USER/PASSWORD and the CA, and that the inter-node user is a superuser or has ClusterAction on the cluster",
			"leader", f.leader, "addr", f.addr, "err", err)
	}
	return true
}
