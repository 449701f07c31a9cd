package tlsconf

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"time"
)

// DevValidity is how long development certificates are valid.
const DevValidity = 365 * 24 * time.Hour

// DefaultHosts are the names every development server certificate carries:
// librdkafka 2.x and Java check the host name, so both the loopback
// addresses and localhost are in the SAN.
var DefaultHosts = []string{"127.0.0.1", "::1", "localhost"}

// DevCA is an in-memory development certificate authority (ECDSA P-256).
// Tests of several packages issue their server and client certificates
// with it; zombi certs dev writes one to files.
type DevCA struct {
	Cert    *x509.Certificate
	CertPEM []byte
	KeyPEM  []byte
	key     *ecdsa.PrivateKey
}

// Pair is an issued certificate and its private key, PEM encoded.
type Pair struct {
	CertPEM []byte
	KeyPEM  []byte
}

// TLS returns the pair as a tls.Certificate.
func (p Pair) TLS() (tls.Certificate, error) { return tls.X509KeyPair(p.CertPEM, p.KeyPEM) }

// Write writes the certificate (0644) and the key (0600).
func (p Pair) Write(certFile, keyFile string) error {
	if err := writeFile(certFile, p.CertPEM, 0o644); err != nil {
		return err
	}
	return writeFile(keyFile, p.KeyPEM, 0o600)
}

// IssueOptions describe a certificate to issue.
type IssueOptions struct {
	CommonName string
	Hosts      []string // IP addresses and DNS names for the SAN (servers)
	Server     bool     // ExtKeyUsage server auth
	Client     bool     // ExtKeyUsage client auth
	NotBefore  time.Time
	NotAfter   time.Time // zero: NotBefore + DevValidity
}

// NewDevCA makes a fresh CA.
func NewDevCA() (*DevCA, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("generate CA key: %w", err)
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          serial(),
		Subject:               pkix.Name{CommonName: "Zombi development CA", Organization: []string{"Zombi (development only)"}},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(DevValidity),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, fmt.Errorf("create CA certificate: %w", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	keyPEM, err := encodeKey(key)
	if err != nil {
		return nil, err
	}
	return &DevCA{Cert: cert, CertPEM: pemCert(der), KeyPEM: keyPEM, key: key}, nil
}

// Pool returns a pool holding the CA, for clients (RootCAs) and servers
// (ClientCAs).
func (ca *DevCA) Pool() *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(ca.Cert)
	return p
}

// Issue signs a new certificate with a fresh ECDSA P-256 key.
func (ca *DevCA) Issue(o IssueOptions) (Pair, error) {
	if o.CommonName == "" {
		return Pair{}, errors.New("issue: empty common name")
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return Pair{}, fmt.Errorf("generate key: %w", err)
	}
	if o.NotBefore.IsZero() {
		o.NotBefore = time.Now().Add(-time.Hour)
	}
	if o.NotAfter.IsZero() {
		o.NotAfter = o.NotBefore.Add(DevValidity)
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial(),
		Subject:      pkix.Name{CommonName: o.CommonName},
		NotBefore:    o.NotBefore,
		NotAfter:     o.NotAfter,
		KeyUsage:     x509.KeyUsageDigitalSignature,
	}
	if o.Server {
		tmpl.ExtKeyUsage = append(tmpl.ExtKeyUsage, x509.ExtKeyUsageServerAuth)
	}
	if o.Client {
		tmpl.ExtKeyUsage = append(tmpl.ExtKeyUsage, x509.ExtKeyUsageClientAuth)
	}
	for _, h := range o.Hosts {
		if ip := net.ParseIP(h); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else if h != "" {
			tmpl.DNSNames = append(tmpl.DNSNames, h)
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.Cert, &key.PublicKey, ca.key)
	if err != nil {
		return Pair{}, fmt.Errorf("create certificate %q: %w", o.CommonName, err)
	}
	keyPEM, err := encodeKey(key)
	if err != nil {
		return Pair{}, err
	}
	return Pair{CertPEM: pemCert(der), KeyPEM: keyPEM}, nil
}

// Server issues a server certificate for DefaultHosts plus hosts.
func (ca *DevCA) Server(hosts ...string) (Pair, error) {
	all := append(append([]string{}, DefaultHosts...), hosts...)
	return ca.Issue(IssueOptions{CommonName: "localhost", Hosts: dedup(all), Server: true})
}

// Client issues a client certificate whose CN is cn (the principal
// User:<cn> on an SSL listener).
func (ca *DevCA) Client(cn string) (Pair, error) {
	return ca.Issue(IssueOptions{CommonName: cn, Client: true})
}

// ClientConfig is a client *tls.Config that trusts the CA, presenting
// client (if non-nil) as its certificate.
func (ca *DevCA) ClientConfig(client *Pair) (*tls.Config, error) {
	c := &tls.Config{RootCAs: ca.Pool(), MinVersion: tls.VersionTLS12}
	if client != nil {
		cert, err := client.TLS()
		if err != nil {
			return nil, err
		}
		c.Certificates = []tls.Certificate{cert}
	}
	return c, nil
}

// DevOptions configure WriteDevCerts.
type DevOptions struct {
	Hosts    []string // extra SAN entries of the server certificate
	ClientCN string   // CN of the client certificate; default "client"
}

// DevFiles are the paths WriteDevCerts wrote.
type DevFiles struct {
	CA, CAKey, Cert, Key, ClientCert, ClientKey string
}

// WriteDevCerts writes a development CA, a server certificate (SAN
// 127.0.0.1, ::1, localhost and opts.Hosts) and a client certificate to dir
// (created 0700 if missing): ca.pem, ca-key.pem, server.pem, server-key.pem,
// client.pem, client-key.pem. Keys are 0600.
func WriteDevCerts(dir string, opts DevOptions) (DevFiles, error) {
	if opts.ClientCN == "" {
		opts.ClientCN = "client"
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return DevFiles{}, err
	}
	ca, err := NewDevCA()
	if err != nil {
		return DevFiles{}, err
	}
	srv, err := ca.Server(opts.Hosts...)
	if err != nil {
		return DevFiles{}, err
	}
	cli, err := ca.Client(opts.ClientCN)
	if err != nil {
		return DevFiles{}, err
	}
	f := DevFiles{
		CA: filepath.Join(dir, "ca.pem"), CAKey: filepath.Join(dir, "ca-key.pem"),
		Cert: filepath.Join(dir, "server.pem"), Key: filepath.Join(dir, "server-key.pem"),
		ClientCert: filepath.Join(dir, "client.pem"), ClientKey: filepath.Join(dir, "client-key.pem"),
	}
	if err := (Pair{CertPEM: ca.CertPEM, KeyPEM: ca.KeyPEM}).Write(f.CA, f.CAKey); err != nil {
		return DevFiles{}, err
	}
	if err := srv.Write(f.Cert, f.Key); err != nil {
		return DevFiles{}, err
	}
	if err := cli.Write(f.ClientCert, f.ClientKey); err != nil {
		return DevFiles{}, err
	}
	return f, nil
}

// writeFile replaces name atomically (temp file + rename), so a server
// reloading the files never reads half of one.
func writeFile(name string, data []byte, perm os.FileMode) error {
	tmp, err := os.CreateTemp(filepath.Dir(name), "."+filepath.Base(name)+".tmp*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name()) // no-op after the rename
	if err := tmp.Chmod(perm); err != nil {
		tmp.Close()
		return err
	}
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), name)
}

func encodeKey(k *ecdsa.PrivateKey) ([]byte, error) {
	der, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		return nil, fmt.Errorf("encode key: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), nil
}

func pemCert(der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}

func serial() *big.Int {
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		// crypto/rand does not fail on supported platforms (Go 1.24+ panics
		// internally instead); a fixed serial is still a valid certificate.
		return big.NewInt(1)
	}
	return n
}

func dedup(in []string) []string {
	seen := map[string]bool{}
	out := in[:0]
	for _, s := range in {
		if !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	return out
}
