package tlsconf

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"
)

// checkInterval is how often at most a handshake looks at the files again.
const checkInterval = time.Second

// Reloader serves the configured certificate and swaps in a new one when
// the files change. Handshakes in progress and established connections keep
// the certificate they started with; a bad new pair is logged and the old
// one kept.
type Reloader struct {
	cfg        Config
	logger     *slog.Logger
	clientCAs  *x509.CertPool
	clientAuth tls.ClientAuthType

	cur       atomic.Pointer[tls.Certificate]
	lastCheck atomic.Int64 // unix nanos of the last look at the files
	every     time.Duration

	// One reload at a time. seenCert and seenKey are the file contents as
	// last loaded (or last failed to load): comparing contents, not mtimes,
	// also catches a rewrite within one mtime tick.
	mu                sync.Mutex
	seenCert, seenKey []byte
}

// New loads and validates the certificate, key and client CA. Every error
// is one line naming the setting at fault. logger may be nil.
func New(cfg Config, logger *slog.Logger) (*Reloader, error) {
	if err := cfg.Check(); err != nil {
		return nil, err
	}
	if !cfg.HasCertificate() {
		return nil, errNoCertificate
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	r := &Reloader{cfg: cfg, logger: logger.With("component", "tls"), every: checkInterval}
	r.clientAuth, _ = cfg.clientAuthType()
	if cfg.ClientCAFile != "" {
		pool, err := loadCAs(cfg.ClientCAFile)
		if err != nil {
			return nil, err
		}
		r.clientCAs = pool
	}
	certPEM, keyPEM, err := readPair(cfg.CertFile, cfg.KeyFile)
	if err != nil {
		return nil, err
	}
	cert, err := parsePair(cfg, certPEM, keyPEM)
	if err != nil {
		return nil, err
	}
	r.cur.Store(cert)
	r.seenCert, r.seenKey = certPEM, keyPEM
	r.lastCheck.Store(time.Now().UnixNano())
	if time.Now().After(cert.Leaf.NotAfter) {
		r.logger.Warn("TLS certificate has expired; clients will refuse it", "cert_file", cfg.CertFile, "not_after", cert.Leaf.NotAfter)
	}
	return r, nil
}

// ServerConfig returns a fresh server config: TLS 1.2 or newer, the current
// certificate per handshake, and the client CA and mode of the settings.
func (r *Reloader) ServerConfig() *tls.Config {
	return &tls.Config{
		MinVersion:     tls.VersionTLS12,
		GetCertificate: r.getCertificate,
		ClientCAs:      r.clientCAs,
		ClientAuth:     r.clientAuth,
	}
}

// Certificate returns the certificate new handshakes get now.
func (r *Reloader) Certificate() *tls.Certificate { return r.cur.Load() }

// RequiresClientCert reports whether every client must present a
// certificate signed by the client CA.
func (r *Reloader) RequiresClientCert() bool { return r.clientAuth == tls.RequireAndVerifyClientCert }

func (r *Reloader) getCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	r.maybeReload(time.Now())
	return r.cur.Load(), nil
}

// maybeReload looks at the files at most once per interval, from one
// handshake at a time; the others go on with the current certificate.
func (r *Reloader) maybeReload(now time.Time) {
	last := r.lastCheck.Load()
	if now.UnixNano()-last < int64(r.every) || !r.lastCheck.CompareAndSwap(last, now.UnixNano()) {
		return
	}
	if !r.mu.TryLock() {
		return
	}
	defer r.mu.Unlock()
	r.reloadLocked()
}

// Reload looks at the files now and loads them if they changed since the
// last look; the error is that of a bad new pair (the old one is kept).
func (r *Reloader) Reload() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.reloadLocked()
}

func (r *Reloader) reloadLocked() error {
	certPEM, keyPEM, err := readPair(r.cfg.CertFile, r.cfg.KeyFile)
	if err != nil {
		// Typically a file being replaced: try again at the next look.
		if r.seenCert != nil {
			r.logger.Warn("TLS certificate files cannot be read; keeping the previous certificate", "err", err)
			r.seenCert, r.seenKey = nil, nil // log once until they are back
		}
		return err
	}
	if bytes.Equal(certPEM, r.seenCert) && bytes.Equal(keyPEM, r.seenKey) {
		return nil
	}
	// Remember this version even if it fails, so a bad pair is logged once
	// and retried only when a file changes again (e.g. the second half of a
	// cert+key replacement lands).
	r.seenCert, r.seenKey = certPEM, keyPEM
	cert, err := parsePair(r.cfg, certPEM, keyPEM)
	if err != nil {
		r.logger.Warn("TLS certificate files changed but cannot be used; keeping the previous certificate", "err", err)
		return err
	}
	r.cur.Store(cert)
	r.logger.Info("TLS certificate reloaded", "cert_file", r.cfg.CertFile,
		"subject", cert.Leaf.Subject.String(), "not_after", cert.Leaf.NotAfter)
	return nil
}
