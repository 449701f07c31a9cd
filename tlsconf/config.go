// Package tlsconf builds the server's *tls.Config from the ZOMBI_TLS_*
// settings, shared by the Kafka listeners and the REST API: a PEM
// certificate and key picked up again when the files change (without
// dropping connections), an optional client CA and client-auth mode, TLS 1.2
// or newer. It also makes development certificates (zombi certs dev) that
// tests reuse.
package tlsconf

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"strings"
)

// Setting names, used in every error so that start-up mistakes name what to fix.
const (
	EnvCertFile     = "ZOMBI_TLS_CERT_FILE"
	EnvKeyFile      = "ZOMBI_TLS_KEY_FILE"
	EnvClientCAFile = "ZOMBI_TLS_CLIENT_CA_FILE"
	EnvClientAuth   = "ZOMBI_TLS_CLIENT_AUTH"
)

// Client-auth modes (ZOMBI_TLS_CLIENT_AUTH).
const (
	ClientAuthNone      = "none"
	ClientAuthRequested = "requested"
	ClientAuthRequired  = "required"
)

// Config is the TLS part of the server's settings.
type Config struct {
	CertFile     string // ZOMBI_TLS_CERT_FILE, PEM certificate (chain)
	KeyFile      string // ZOMBI_TLS_KEY_FILE, PEM private key
	ClientCAFile string // ZOMBI_TLS_CLIENT_CA_FILE, PEM CA certificates
	ClientAuth   string // ZOMBI_TLS_CLIENT_AUTH: none (default, also ""), requested, required
}

// HasCertificate reports whether a certificate is configured.
func (c Config) HasCertificate() bool { return c.CertFile != "" || c.KeyFile != "" }

// Check validates the settings without reading any file: the certificate
// and key come together, the client-auth mode is known, and a mode that
// verifies client certificates has a CA to verify them with. Each error is
// one line naming the setting.
func (c Config) Check() error {
	switch {
	case c.CertFile != "" && c.KeyFile == "":
		return fmt.Errorf("%s is set but %s is not: a certificate needs its private key", EnvCertFile, EnvKeyFile)
	case c.KeyFile != "" && c.CertFile == "":
		return fmt.Errorf("%s is set but %s is not: a private key needs its certificate", EnvKeyFile, EnvCertFile)
	}
	mode, err := c.clientAuthType()
	if err != nil {
		return err
	}
	if mode != tls.NoClientCert && c.ClientCAFile == "" {
		return fmt.Errorf("%s=%s needs %s (the CA that signs client certificates)", EnvClientAuth, c.ClientAuth, EnvClientCAFile)
	}
	if mode != tls.NoClientCert && !c.HasCertificate() {
		return fmt.Errorf("%s=%s needs a server certificate (%s and %s)", EnvClientAuth, c.ClientAuth, EnvCertFile, EnvKeyFile)
	}
	return nil
}

// ClientAuthType maps ZOMBI_TLS_CLIENT_AUTH to crypto/tls: none →
// NoClientCert, requested → VerifyClientCertIfGiven, required →
// RequireAndVerifyClientCert.
func (c Config) clientAuthType() (tls.ClientAuthType, error) {
	switch strings.ToLower(strings.TrimSpace(c.ClientAuth)) {
	case "", ClientAuthNone:
		return tls.NoClientCert, nil
	case ClientAuthRequested:
		return tls.VerifyClientCertIfGiven, nil
	case ClientAuthRequired:
		return tls.RequireAndVerifyClientCert, nil
	}
	return 0, fmt.Errorf("%s=%q: must be none, requested or required", EnvClientAuth, c.ClientAuth)
}

// RequiresClientCert reports whether every TLS client must present a
// certificate signed by the client CA (ZOMBI_TLS_CLIENT_AUTH=required): such
// connections are authenticated by their certificate.
func (c Config) RequiresClientCert() bool {
	t, err := c.clientAuthType()
	return err == nil && t == tls.RequireAndVerifyClientCert
}

// readPair reads the certificate and key files.
func readPair(certFile, keyFile string) (certPEM, keyPEM []byte, err error) {
	certPEM, err = os.ReadFile(certFile)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", EnvCertFile, err)
	}
	keyPEM, err = os.ReadFile(keyFile)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", EnvKeyFile, err)
	}
	return certPEM, keyPEM, nil
}

// parsePair parses the certificate and key. Errors name the setting at
// fault and never include key material.
func parsePair(c Config, certPEM, keyPEM []byte) (*tls.Certificate, error) {
	certFile, keyFile := c.CertFile, c.KeyFile
	if !hasPEMBlock(certPEM, "CERTIFICATE") {
		return nil, fmt.Errorf("%s: no PEM certificate in %s", EnvCertFile, certFile)
	}
	if !hasPEMBlock(keyPEM, "PRIVATE KEY") {
		return nil, fmt.Errorf("%s: no PEM private key in %s", EnvKeyFile, keyFile)
	}
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		// tls.X509KeyPair's messages say what is wrong (mismatch, bad key
		// encoding); they never quote the key.
		return nil, fmt.Errorf("%s %s and %s %s do not form a valid pair: %w", EnvCertFile, certFile, EnvKeyFile, keyFile, err)
	}
	leaf := cert.Leaf
	if leaf == nil {
		if leaf, err = x509.ParseCertificate(cert.Certificate[0]); err != nil {
			return nil, fmt.Errorf("%s: %w", EnvCertFile, err)
		}
		cert.Leaf = leaf
	}
	return &cert, nil
}

// hasPEMBlock reports whether data holds a PEM block whose type ends with
// suffix ("PRIVATE KEY" matches EC, RSA and PKCS#8 keys).
func hasPEMBlock(data []byte, suffix string) bool {
	for _, line := range strings.Split(string(data), "\n") {
		line = strings.TrimSpace(line)
		if strings.HasPrefix(line, "-----BEGIN ") && strings.HasSuffix(line, suffix+"-----") {
			return true
		}
	}
	return false
}

// loadCAs reads the client CA file into a pool.
func loadCAs(file string) (*x509.CertPool, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", EnvClientCAFile, err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(data) {
		return nil, fmt.Errorf("%s: no PEM certificate in %s", EnvClientCAFile, file)
	}
	return pool, nil
}

// ClientCN returns the common name of the client certificate a connection
// verified against the client CA, or "" when there is none (no certificate,
// or client auth none). Callers make the principal User:<CN> from it.
func ClientCN(cs *tls.ConnectionState) string {
	if cs == nil || len(cs.VerifiedChains) == 0 || len(cs.VerifiedChains[0]) == 0 {
		return ""
	}
	return cs.VerifiedChains[0][0].Subject.CommonName
}

// errNoCertificate: New was called without a certificate.
var errNoCertificate = errors.New(EnvCertFile + " and " + EnvKeyFile + " are not set")
