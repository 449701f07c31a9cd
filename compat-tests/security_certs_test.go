package compat

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"os"
	"path/filepath"
	"slices"

	"github.com/zombi-dev/zombi/tlsconf"
)

// secCerts are the PEM files the security tests make at start with
// tlsconf's development CA, the one `zombi certs dev` writes (never
// committed): the CA, the server certificate both brokers serve (SAN
// 127.0.0.1, ::1 and localhost: librdkafka 2.x and kafka-python check host
// names), a client certificate CN=alice from the same CA, and a rogue
// client certificate CN=admin from a CA neither broker trusts.
type secCerts struct {
	CA                    string // the CA certificate
	ServerCert, ServerKey string
	Keystore              string // key then chain, for Kafka's ssl.keystore.type=PEM
	ClientCert, ClientKey string // CN=alice
	RogueCert, RogueKey   string // CN=admin, signed by another CA
}

// writeSecCerts writes the certificates into dir.
func writeSecCerts(dir string) (*secCerts, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	c := &secCerts{
		CA:         filepath.Join(dir, "ca.pem"),
		ServerCert: filepath.Join(dir, "server.pem"),
		ServerKey:  filepath.Join(dir, "server-key.pem"),
		Keystore:   filepath.Join(dir, "server-keystore.pem"),
		ClientCert: filepath.Join(dir, "alice.pem"),
		ClientKey:  filepath.Join(dir, "alice-key.pem"),
		RogueCert:  filepath.Join(dir, "rogue.pem"),
		RogueKey:   filepath.Join(dir, "rogue-key.pem"),
	}
	ca, err := tlsconf.NewDevCA()
	if err != nil {
		return nil, err
	}
	rogueCA, err := tlsconf.NewDevCA()
	if err != nil {
		return nil, err
	}
	srv, err := ca.Server()
	if err != nil {
		return nil, err
	}
	alice, err := ca.Client("alice")
	if err != nil {
		return nil, err
	}
	rogue, err := rogueCA.Client("admin")
	if err != nil {
		return nil, err
	}
	for _, f := range []struct {
		name string
		data []byte
	}{
		{c.CA, ca.CertPEM},
		{c.ServerCert, srv.CertPEM},
		{c.ServerKey, srv.KeyPEM},
		{c.Keystore, slices.Concat(srv.KeyPEM, srv.CertPEM, ca.CertPEM)},
		{c.ClientCert, alice.CertPEM},
		{c.ClientKey, alice.KeyPEM},
		{c.RogueCert, rogue.CertPEM},
		{c.RogueKey, rogue.KeyPEM},
	} {
		if err := os.WriteFile(f.name, f.data, 0o600); err != nil {
			return nil, err
		}
	}
	return c, nil
}

// tlsConfig is a client configuration that verifies the server against the
// test CA (and its name: 127.0.0.1 from the address), with alice's
// certificate when withCert.
func (c *secCerts) tlsConfig(withCert bool) (*tls.Config, error) {
	caPEM, err := os.ReadFile(c.CA)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(caPEM) {
		return nil, fmt.Errorf("no certificate in %s", c.CA)
	}
	cfg := &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	if withCert {
		pair, err := tls.LoadX509KeyPair(c.ClientCert, c.ClientKey)
		if err != nil {
			return nil, err
		}
		cfg.Certificates = []tls.Certificate{pair}
	}
	return cfg, nil
}
