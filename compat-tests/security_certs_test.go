package compat

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"time"
)

// secCerts are the PEM files the security tests make at start (never
// committed): a CA, the server certificate both brokers serve (SAN
// 127.0.0.1 and localhost: librdkafka 2.x and kafka-python check host
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
	ca, caKey, caPEM, err := newCA("zombi security tests CA")
	if err != nil {
		return nil, err
	}
	rogueCA, rogueCAKey, _, err := newCA("rogue CA")
	if err != nil {
		return nil, err
	}
	srvPEM, srvKey, err := issue(ca, caKey, &x509.Certificate{
		Subject:     pkix.Name{CommonName: "localhost"},
		DNSNames:    []string{"localhost"},
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	})
	if err != nil {
		return nil, err
	}
	cliPEM, cliKey, err := issue(ca, caKey, &x509.Certificate{
		Subject:     pkix.Name{CommonName: "alice"},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	})
	if err != nil {
		return nil, err
	}
	roguePEM, rogueKey, err := issue(rogueCA, rogueCAKey, &x509.Certificate{
		Subject:     pkix.Name{CommonName: "admin"},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	})
	if err != nil {
		return nil, err
	}
	for _, f := range []struct {
		name string
		data []byte
	}{
		{c.CA, caPEM},
		{c.ServerCert, append(append([]byte{}, srvPEM...), caPEM...)},
		{c.ServerKey, srvKey},
		{c.Keystore, append(append(append([]byte{}, srvKey...), srvPEM...), caPEM...)},
		{c.ClientCert, cliPEM},
		{c.ClientKey, cliKey},
		{c.RogueCert, roguePEM},
		{c.RogueKey, rogueKey},
	} {
		if err := os.WriteFile(f.name, f.data, 0o600); err != nil {
			return nil, err
		}
	}
	return c, nil
}

func newCA(cn string) (*x509.Certificate, *ecdsa.PrivateKey, []byte, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serialNumber(),
		Subject:               pkix.Name{CommonName: cn},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("CA certificate: %w", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, nil, nil, err
	}
	return cert, key, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), nil
}

// issue signs tmpl with the CA and returns the certificate and its new
// key (PKCS#8, which Kafka's PEM keystore requires), both PEM.
func issue(ca *x509.Certificate, caKey *ecdsa.PrivateKey, tmpl *x509.Certificate) (certPEM, keyPEM []byte, err error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	tmpl.SerialNumber = serialNumber()
	tmpl.NotBefore = time.Now().Add(-time.Hour)
	tmpl.NotAfter = time.Now().Add(24 * time.Hour)
	tmpl.KeyUsage = x509.KeyUsageDigitalSignature
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		return nil, nil, fmt.Errorf("certificate %s: %w", tmpl.Subject.CommonName, err)
	}
	pk, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: pk}), nil
}

func serialNumber() *big.Int {
	n, _ := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 120))
	return n
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
