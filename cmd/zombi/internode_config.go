package main

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net/http"
	"os"
	"strings"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl"
	"github.com/twmb/franz-go/pkg/sasl/plain"
	"github.com/twmb/franz-go/pkg/sasl/scram"

	"github.com/zombi-dev/zombi/httpapi"
	"github.com/zombi-dev/zombi/kafka"
	"github.com/zombi-dev/zombi/tlsconf"
)

// interNodeConfig is how this node reaches the other nodes (replica
// fetchers, transaction markers, produce verification, REST forwarding):
// Kafka's inter.broker.listener.name, sasl.mechanism.inter.broker.protocol
// and the broker's own credentials. DESIGN.md is silent; these follow
// Kafka's model.
type interNodeConfig struct {
	Listener  string // a protocol of ZOMBI_KAFKA_LISTENERS; resolved: never "" after resolveInterNode
	User      string
	Password  secret
	Mechanism string // SCRAM-SHA-512 (default), SCRAM-SHA-256 or PLAIN
	CAFile    string // PEM CAs that sign the other nodes' certificates
}

// interNodeSettings are part of clusterSettings (ignored alone).
var interNodeSettings = []setting{
	{"ZOMBI_INTER_NODE_LISTENER", "inter-node-listener", "", "the listener (a protocol of ZOMBI_KAFKA_LISTENERS, e.g. SASL_SSL) nodes use to reach each other, Kafka's inter.broker.listener.name; every node must have it (empty: the first PLAINTEXT listener, else the first)", func(c *Config, v string) error {
		c.InterNode.Listener = strings.ToUpper(strings.TrimSpace(v))
		return nil
	}},
	{"ZOMBI_INTER_NODE_USER", "inter-node-user", "", "SASL user this node authenticates as to the other nodes when the inter-node listener is SASL_PLAINTEXT or SASL_SSL (normally one of ZOMBI_SUPERUSERS, or granted ClusterAction on the cluster)", func(c *Config, v string) error {
		v = strings.TrimSpace(v)
		if v != "" && !validUserName(v) {
			return errors.New("control characters are not allowed")
		}
		c.InterNode.User = v
		return nil
	}},
	{"ZOMBI_INTER_NODE_PASSWORD", "inter-node-password", "", "password of ZOMBI_INTER_NODE_USER (a secret: prefer the environment to the flag; never printed)", func(c *Config, v string) error {
		c.InterNode.Password = secret(v) // as given: spaces may be part of it
		return nil
	}},
	{"ZOMBI_INTER_NODE_SASL_MECHANISM", "inter-node-sasl-mechanism", "SCRAM-SHA-512", "SASL mechanism of the inter-node clients (Kafka's sasl.mechanism.inter.broker.protocol): SCRAM-SHA-512, SCRAM-SHA-256 or PLAIN", func(c *Config, v string) error {
		v = strings.ToUpper(strings.TrimSpace(v))
		for _, k := range knownMechanisms {
			if v == k {
				c.InterNode.Mechanism = v
				return nil
			}
		}
		return fmt.Errorf("unknown mechanism %q (known: %s)", v, strings.Join(knownMechanisms, ", "))
	}},
	{"ZOMBI_INTER_NODE_CA_FILE", "inter-node-ca-file", "", "PEM CA certificates that sign the other nodes' certificates, for an SSL or SASL_SSL inter-node listener and HTTPS forwarding (default: ZOMBI_TLS_CLIENT_CA_FILE, Kafka's shared truststore, else the system's)", func(c *Config, v string) error {
		c.InterNode.CAFile = strings.TrimSpace(v)
		return nil
	}},
}

// resolveInterNode picks the inter-node listener and checks its needs; run
// after resolveSecurity (the listeners) and only in cluster mode for what a
// node alone never uses (credentials).
func (c *Config) resolveInterNode() error {
	in := &c.InterNode
	if in.Listener == "" {
		if len(c.KafkaListeners) > 0 {
			in.Listener = c.KafkaListeners[0].Protocol
		}
		for _, l := range c.KafkaListeners {
			if l.Protocol == string(kafka.PlainText) {
				in.Listener = l.Protocol
				break
			}
		}
	} else if c.interNodeListener() == nil {
		names := make([]string, len(c.KafkaListeners))
		for i, l := range c.KafkaListeners {
			names[i] = l.Protocol
		}
		return fmt.Errorf("invalid ZOMBI_INTER_NODE_LISTENER: %q is not a listener of ZOMBI_KAFKA_LISTENERS (%s)", in.Listener, strings.Join(names, ", "))
	}
	if in.CAFile != "" {
		if _, err := readCAs(in.CAFile); err != nil {
			return fmt.Errorf("invalid ZOMBI_INTER_NODE_CA_FILE: %w", err)
		}
	}
	if (in.User == "") != (in.Password == "") {
		return errors.New("ZOMBI_INTER_NODE_USER and ZOMBI_INTER_NODE_PASSWORD go together: set both or neither")
	}
	l := c.interNodeListener()
	if !c.Cluster.Enabled() || l == nil {
		return nil
	}
	if l.usesSASL() && in.User == "" {
		return fmt.Errorf("the inter-node listener %s authenticates with SASL but ZOMBI_INTER_NODE_USER and ZOMBI_INTER_NODE_PASSWORD are not set (the nodes could not replicate)", l.Protocol)
	}
	if l.Protocol == string(kafka.SSL) && c.TLS.RequiresClientCert() && !c.TLS.HasCertificate() {
		return fmt.Errorf("the inter-node listener SSL requires client certificates but %s is not set", tlsconf.EnvCertFile)
	}
	return nil
}

// interNodeListener is the configured inter-node listener, nil when none.
func (c *Config) interNodeListener() *listenerConfig {
	for i := range c.KafkaListeners {
		if c.KafkaListeners[i].Protocol == c.InterNode.Listener {
			return &c.KafkaListeners[i]
		}
	}
	return nil
}

func readCAs(file string) (*x509.CertPool, error) {
	pem, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("%s holds no PEM certificate", file)
	}
	return pool, nil
}

// interNodeTLS is the client TLS of the inter-node connections: the other
// nodes verified with the inter-node CA (else the client CA, else the
// system's), this node's certificate as the client certificate (read from
// the reloader at each handshake, so a renewed certificate counts).
func (c *Config) interNodeTLS(certs *tlsconf.Reloader) (*tls.Config, error) {
	tc := &tls.Config{MinVersion: tls.VersionTLS12}
	ca := c.InterNode.CAFile
	if ca == "" {
		ca = c.TLS.ClientCAFile
	}
	if ca != "" {
		pool, err := readCAs(ca)
		if err != nil {
			return nil, fmt.Errorf("inter-node CA: %w", err)
		}
		tc.RootCAs = pool
	}
	if certs != nil {
		tc.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
			if cert := certs.Certificate(); cert != nil {
				return cert, nil
			}
			return &tls.Certificate{}, nil // none: the server decides
		}
	}
	return tc, nil
}

// interNodeKgoOpts are the franz-go options of the inter-node Kafka
// clients: TLS and SASL as the inter-node listener needs.
func (c *Config) interNodeKgoOpts(certs *tlsconf.Reloader) ([]kgo.Opt, error) {
	l := c.interNodeListener()
	if l == nil {
		return nil, nil
	}
	var opts []kgo.Opt
	if l.usesTLS() {
		tc, err := c.interNodeTLS(certs)
		if err != nil {
			return nil, err
		}
		opts = append(opts, kgo.DialTLSConfig(tc))
	}
	if l.usesSASL() && c.InterNode.User != "" {
		opts = append(opts, kgo.SASL(c.interNodeMechanism()))
	}
	return opts, nil
}

func (c *Config) interNodeMechanism() sasl.Mechanism {
	user, pass := c.InterNode.User, string(c.InterNode.Password)
	switch c.InterNode.Mechanism {
	case "PLAIN":
		return plain.Auth{User: user, Pass: pass}.AsMechanism()
	case "SCRAM-SHA-256":
		return scram.Auth{User: user, Pass: pass}.AsSha256Mechanism()
	}
	return scram.Auth{User: user, Pass: pass}.AsSha512Mechanism()
}

// interNodeHTTPClient forwards REST requests to the other nodes over
// HTTPS (nil with plain HTTP: httpapi's default client). The user's own
// Authorization header goes along, so the ACLs judge the user.
func (c *Config) interNodeHTTPClient(certs *tlsconf.Reloader) (*http.Client, error) {
	if !c.HTTPTLS {
		return nil, nil
	}
	tc, err := c.interNodeTLS(certs)
	if err != nil {
		return nil, err
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = tc
	return &http.Client{Timeout: httpapi.ForwardTimeout, Transport: tr}, nil
}
