package cli

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl"
	"github.com/twmb/franz-go/pkg/sasl/plain"
	"github.com/twmb/franz-go/pkg/sasl/scram"
)

// options are the connection settings shared by every command. Client-side
// TLS settings have their own variables (ZOMBI_CLIENT_TLS_*) so that they
// never pick up the server's ZOMBI_TLS_* certificate by accident.
type options struct {
	stdin          io.Reader
	stdout, stderr io.Writer

	brokers   string
	api       string
	output    string
	user      string
	password  string
	mechanism string
	tls       bool
	tlsCA     string
	tlsCert   string
	tlsKey    string
	timeout   time.Duration
}

// minTimeout is the shortest --timeout: shorter, no request could finish
// (and franz-go rejects a zero retry timeout with its own message).
const minTimeout = 100 * time.Millisecond

// envFlags maps flags to the environment variables that set them when the
// flag is not given.
var envFlags = map[string]string{
	"brokers":        "ZOMBI_BROKERS",
	"api":            "ZOMBI_API",
	"user":           "ZOMBI_USER",
	"password":       "ZOMBI_PASSWORD",
	"sasl-mechanism": "ZOMBI_SASL_MECHANISM",
	"tls":            "ZOMBI_CLIENT_TLS",
	"tls-ca":         "ZOMBI_CLIENT_TLS_CA_FILE",
	"tls-cert":       "ZOMBI_CLIENT_TLS_CERT_FILE",
	"tls-key":        "ZOMBI_CLIENT_TLS_KEY_FILE",
}

func (o *options) addFlags(root *cobra.Command) {
	f := root.PersistentFlags()
	f.StringVar(&o.brokers, "brokers", "localhost:9092", "Kafka bootstrap servers, comma separated (env ZOMBI_BROKERS)")
	f.StringVar(&o.api, "api", "http://localhost:8080", "REST API base URL (env ZOMBI_API)")
	f.StringVarP(&o.output, "output", "o", "text", "output format: text, json or yaml")
	f.StringVar(&o.user, "user", "", "user to authenticate as: SASL on the Kafka port, HTTP Basic on the API (env ZOMBI_USER)")
	f.StringVar(&o.password, "password", "", "password of --user (env ZOMBI_PASSWORD; prefer the variable: flags show in ps)")
	f.StringVar(&o.mechanism, "sasl-mechanism", "SCRAM-SHA-256", "SASL mechanism with --user: SCRAM-SHA-256, SCRAM-SHA-512 or PLAIN (env ZOMBI_SASL_MECHANISM)")
	f.BoolVar(&o.tls, "tls", false, "connect to the Kafka port with TLS (implied by --tls-ca and --tls-cert) (env ZOMBI_CLIENT_TLS)")
	f.StringVar(&o.tlsCA, "tls-ca", "", "PEM CA certificate to verify the server with (default: the system's) (env ZOMBI_CLIENT_TLS_CA_FILE)")
	f.StringVar(&o.tlsCert, "tls-cert", "", "PEM client certificate, for mTLS (env ZOMBI_CLIENT_TLS_CERT_FILE)")
	f.StringVar(&o.tlsKey, "tls-key", "", "PEM key of --tls-cert (env ZOMBI_CLIENT_TLS_KEY_FILE)")
	f.DurationVar(&o.timeout, "timeout", 30*time.Second, "give up on a request after this long")
	root.PersistentPreRunE = func(cmd *cobra.Command, _ []string) error { return o.resolve(cmd.Flags()) }
}

// resolve fills flags that were not given from their environment variables
// and checks the values.
func (o *options) resolve(fs *pflag.FlagSet) error {
	for name, env := range envFlags {
		fl := fs.Lookup(name)
		if fl == nil || fl.Changed {
			continue
		}
		if v, ok := os.LookupEnv(env); ok && v != "" {
			if err := fl.Value.Set(v); err != nil {
				return usagef("invalid %s: %w", env, err)
			}
		}
	}
	switch o.output {
	case "text", "json", "yaml":
	default:
		return usagef("--output must be text, json or yaml, not %q", o.output)
	}
	switch strings.ToUpper(o.mechanism) {
	case "SCRAM-SHA-256", "SCRAM-SHA-512", "PLAIN":
		o.mechanism = strings.ToUpper(o.mechanism)
	default:
		return usagef("--sasl-mechanism must be SCRAM-SHA-256, SCRAM-SHA-512 or PLAIN, not %q", o.mechanism)
	}
	if (o.tlsCert == "") != (o.tlsKey == "") {
		return usagef("--tls-cert and --tls-key go together")
	}
	if o.timeout < minTimeout {
		return usagef("--timeout %v is too short: give at least %v (like --timeout 5s)", o.timeout, minTimeout)
	}
	if o.password != "" && o.user == "" {
		return usagef("--password needs --user")
	}
	return nil
}

// tlsConfig returns the client TLS configuration, nil when TLS is off.
func (o *options) tlsConfig(force bool) (*tls.Config, error) {
	if !o.tls && !force && o.tlsCA == "" && o.tlsCert == "" {
		return nil, nil
	}
	return ClientTLS(o.tlsCA, o.tlsCert, o.tlsKey)
}

// ClientTLS is a client's TLS configuration (TLS 1.2+): the server is
// verified with the PEM CA in caFile (the system's roots when ""), and
// certFile/keyFile, when given, are the client certificate for mTLS.
func ClientTLS(caFile, certFile, keyFile string) (*tls.Config, error) {
	cfg := &tls.Config{MinVersion: tls.VersionTLS12}
	if caFile != "" {
		pem, err := os.ReadFile(caFile)
		if err != nil {
			return nil, fmt.Errorf("--tls-ca: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("--tls-ca %s: no PEM certificate in it", caFile)
		}
		cfg.RootCAs = pool
	}
	if certFile != "" {
		cert, err := tls.LoadX509KeyPair(certFile, keyFile)
		if err != nil {
			return nil, fmt.Errorf("--tls-cert/--tls-key: %w", err)
		}
		cfg.Certificates = []tls.Certificate{cert}
	}
	return cfg, nil
}

// SASL is franz-go's mechanism for name (PLAIN, SCRAM-SHA-256 or
// SCRAM-SHA-512; callers check the name).
func SASL(name, user, password string) sasl.Mechanism {
	switch name {
	case "PLAIN":
		return plain.Auth{User: user, Pass: password}.AsMechanism()
	case "SCRAM-SHA-512":
		return scram.Auth{User: user, Pass: password}.AsSha512Mechanism()
	}
	return scram.Auth{User: user, Pass: password}.AsSha256Mechanism()
}

// kafka returns a Kafka client (with the command's extra options) and its
// admin view.
func (o *options) kafka(extra ...kgo.Opt) (*kgo.Client, *kadm.Client, error) {
	opts := []kgo.Opt{
		kgo.SeedBrokers(strings.Split(o.brokers, ",")...),
		kgo.RequestTimeoutOverhead(o.timeout),
		kgo.RetryTimeout(o.timeout),
		kgo.DialTimeout(10 * time.Second),
	}
	tc, err := o.tlsConfig(false)
	if err != nil {
		return nil, nil, err
	}
	if tc != nil {
		opts = append(opts, kgo.DialTLSConfig(tc))
	}
	if o.user != "" {
		opts = append(opts, kgo.SASL(SASL(o.mechanism, o.user, o.password)))
	}
	cl, err := kgo.NewClient(append(opts, extra...)...)
	if err != nil {
		return nil, nil, fmt.Errorf("kafka client: %w", err)
	}
	return cl, kadm.NewClient(cl), nil
}

// httpClient returns a client for the REST API that sends --user's
// credentials (HTTP Basic) and trusts --tls-ca.
func (o *options) httpClient() (*http.Client, error) {
	tc, err := o.tlsConfig(strings.HasPrefix(o.api, "https://"))
	if err != nil {
		return nil, err
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = tc
	var rt http.RoundTripper = tr
	if o.user != "" {
		rt = basicAuth{user: o.user, password: o.password, next: tr}
	}
	// No redirect is followed: the transport would send the password
	// wherever it points (the REST API never redirects these calls).
	noRedirect := func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return &http.Client{Transport: rt, Timeout: o.timeout, CheckRedirect: noRedirect}, nil
}

type basicAuth struct {
	user, password string
	next           http.RoundTripper
}

func (b basicAuth) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.SetBasicAuth(b.user, b.password)
	return b.next.RoundTrip(r)
}
