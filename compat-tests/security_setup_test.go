package compat

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl"
	"github.com/twmb/franz-go/pkg/sasl/plain"
	"github.com/twmb/franz-go/pkg/sasl/scram"

	"github.com/zombi-dev/zombi/internal/kafkatest"
	"github.com/zombi-dev/zombi/internal/zombitest"
)

// The security tests (security_*_test.go, issue 11 point 8) run against a
// Zombi and an Apache Kafka configured the same way: four listeners
// (PLAINTEXT, SASL_PLAINTEXT, SASL_SSL, SSL), the test CA's server
// certificate, client certificates requested and checked against that CA
// (the SSL principal is User:<CN>), SASL PLAIN, SCRAM-SHA-256 and
// SCRAM-SHA-512 with the users below, ACLs enforced with admin as the super
// user. The Kafka is the compat tests' shared reference (main_test.go);
// the Zombi is started by the first security test and stopped by TestMain.
// The one difference: Kafka's PLAINTEXT listener is a super user too
// (kafkatest.Security says why), so no test relies on it being refused.

// Protocols of the listeners.
const (
	protoPlaintext     = "PLAINTEXT"
	protoSASLPlaintext = "SASL_PLAINTEXT"
	protoSASLSSL       = "SASL_SSL"
	protoSSL           = "SSL"
)

// secUsers are the users both brokers know, with their passwords; admin is
// the super user, alice has the ACLs of grantAlice, bob none but those a
// test grants.
var secUsers = map[string]string{"admin": "admin-secret", "alice": "alice-secret", "bob": "bob-secret"}

// alicePrefix prefixes the topics and groups alice may use.
const alicePrefix = "sec-"

var (
	certs *secCerts // made by TestMain
	// refSec are the reference Kafka's listeners by protocol.
	refSec map[string]string
	// secZombi is the secured Zombi, started once by the first test that
	// needs it (zombiSec), stopped by TestMain.
	secZombi struct {
		once      sync.Once
		dir       string // set by TestMain
		p         *zombitest.Proc
		listeners map[string]string
		err       error
	}
	// granted: alice's ACLs, once per broker.
	granted sync.Map // broker name -> *grantOnce
)

type grantOnce struct {
	once sync.Once
	err  error
}

// secListeners picks a free port for each protocol.
func secListeners() (map[string]string, error) {
	ls := map[string]string{}
	for _, p := range []string{protoPlaintext, protoSASLPlaintext, protoSASLSSL, protoSSL} {
		port, err := zombitest.FreePort()
		if err != nil {
			return nil, err
		}
		ls[p] = fmt.Sprintf("127.0.0.1:%d", port)
	}
	return ls, nil
}

// refSecurity is the reference Kafka's share of the security setup.
func refSecurity() ([]string, error) {
	ls, err := secListeners()
	if err != nil {
		return nil, err
	}
	delete(ls, protoPlaintext) // kafka.sh's own, added once started
	refSec = ls
	return kafkatest.Security{
		Listeners:  ls,
		Keystore:   certs.Keystore,
		Truststore: certs.CA,
		ClientAuth: "requested",
		Users:      secUsers,
		SuperUsers: []string{"admin"},
	}.Args(), nil
}

// zombiSecEnv is the secured Zombi's environment for listeners ls.
func zombiSecEnv(ls map[string]string, extra ...string) []string {
	var l []string
	for _, p := range []string{protoPlaintext, protoSASLPlaintext, protoSASLSSL, protoSSL} {
		l = append(l, p+"://"+ls[p])
	}
	var users []string
	for _, u := range []string{"admin", "alice", "bob"} {
		users = append(users, u+":"+secUsers[u])
	}
	return append([]string{
		"ZOMBI_KAFKA_LISTENERS=" + strings.Join(l, ","),
		"ZOMBI_TLS_CERT_FILE=" + certs.ServerCert,
		"ZOMBI_TLS_KEY_FILE=" + certs.ServerKey,
		"ZOMBI_TLS_CLIENT_CA_FILE=" + certs.CA,
		"ZOMBI_TLS_CLIENT_AUTH=requested",
		"ZOMBI_HTTP_TLS=true",
		"ZOMBI_BOOTSTRAP_USERS=" + strings.Join(users, ","),
		"ZOMBI_SUPERUSERS=admin",
	}, extra...)
}

// secBroker is one secured broker.
type secBroker struct {
	name      string            // "zombi" or "kafka"
	listeners map[string]string // protocol -> HOST:PORT
	http      string            // Zombi's REST API, https://...
}

// zombiSec returns the secured Zombi, starting it the first time.
func zombiSec() (secBroker, error) {
	z := &secZombi
	z.once.Do(func() {
		ls, err := secListeners()
		if err != nil {
			z.err = err
			return
		}
		z.listeners = ls
		z.p, z.err = startZombi(filepath.Join(z.dir, "secure"), zombiSecEnv(ls))
	})
	if z.err != nil {
		return secBroker{}, fmt.Errorf("secured zombi: %w", z.err)
	}
	return secBroker{name: "zombi", listeners: z.listeners, http: z.p.HTTPBase}, nil
}

// stopSecZombi stops the secured Zombi if a test started it.
func stopSecZombi() (log string, err error) {
	if secZombi.p == nil {
		return "", nil
	}
	return secZombi.p.Log(), secZombi.p.Stop()
}

// secTarget is a secured broker for a scenario: ready (alice's ACLs
// granted), or err says why it is not (the subtest fails), or skip why it
// cannot run here (the subtest skips).
type secTarget struct {
	secBroker
	err  error
	skip string
}

// secTargets are Zombi and Apache Kafka, made ready.
func secTargets() []secTarget {
	z, err := zombiSec()
	if err == nil {
		err = grantAlice(z)
	}
	targets := []secTarget{{secBroker: z, err: err}}
	targets[0].name = "zombi"
	k := secTarget{secBroker: secBroker{name: "kafka", listeners: refSec}}
	if ref == nil {
		k.skip = "Apache Kafka not running: " + refMissing
	} else {
		k.err = grantAlice(k.secBroker)
	}
	return append(targets, k)
}

// run runs f as the target's subtest.
func (tg secTarget) run(t *testing.T, f func(t *testing.T, b secBroker)) {
	t.Run(tg.name, func(t *testing.T) {
		if tg.skip != "" {
			t.Skip(tg.skip)
		}
		if tg.err != nil {
			t.Fatal(tg.err)
		}
		f(t, tg.secBroker)
	})
}

// eachSecBroker runs f as subtests "zombi" and "kafka" (Apache Kafka 4.4,
// skipped with the reason where it cannot run here).
func eachSecBroker(t *testing.T, f func(t *testing.T, b secBroker)) {
	for _, tg := range secTargets() {
		tg.run(t, f)
	}
}

// grantAlice gives alice, once per broker, what the client matrix needs:
// READ, WRITE, DESCRIBE on topics and READ on groups named alicePrefix*.
func grantAlice(b secBroker) error {
	g, _ := granted.LoadOrStore(b.name, &grantOnce{})
	o := g.(*grantOnce)
	o.once.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		adm, closeAdm, err := adminClient(b)
		if err != nil {
			o.err = err
			return
		}
		defer closeAdm()
		o.err = createACLs(ctx, adm, aliceACLs()...)
	})
	if o.err != nil {
		return fmt.Errorf("%s: grant alice's ACLs as admin: %w", b.name, o.err)
	}
	return nil
}

// aliceACLs are alice's: READ, WRITE, DESCRIBE on topics and READ on
// groups named alicePrefix*.
func aliceACLs() []*kadm.ACLBuilder {
	return []*kadm.ACLBuilder{
		kadm.NewACLs().Allow("User:alice").AllowHosts().Topics(alicePrefix).ResourcePatternType(kadm.ACLPatternPrefixed).
			Operations(kadm.OpRead, kadm.OpWrite, kadm.OpDescribe),
		kadm.NewACLs().Allow("User:alice").AllowHosts().Groups(alicePrefix).ResourcePatternType(kadm.ACLPatternPrefixed).
			Operations(kadm.OpRead),
	}
}

// createACLs creates the ACLs and fails on any per-ACL error.
func createACLs(ctx context.Context, adm *kadm.Client, bs ...*kadm.ACLBuilder) error {
	for _, b := range bs {
		res, err := adm.CreateACLs(ctx, b)
		if err != nil {
			return fmt.Errorf("create ACLs: %w", err)
		}
		for _, r := range res {
			if r.Err != nil {
				return fmt.Errorf("create ACL %s %s %v %v: %w (%s)", r.Principal, r.Name, r.Operation, r.Permission, r.Err, r.ErrMessage)
			}
		}
	}
	return nil
}

// saslMechanism is franz-go's mechanism for name.
func saslMechanism(name, user, pass string) sasl.Mechanism {
	switch name {
	case "PLAIN":
		return plain.Auth{User: user, Pass: pass}.AsMechanism()
	case "SCRAM-SHA-256":
		return scram.Auth{User: user, Pass: pass}.AsSha256Mechanism()
	case "SCRAM-SHA-512":
		return scram.Auth{User: user, Pass: pass}.AsSha512Mechanism()
	}
	panic("unknown SASL mechanism " + name)
}

// secKgoOpts are franz-go options to connect to b's listener of protocol
// proto: with mechanism mech as user when mech is set, over TLS verifying
// the server when the protocol says so (with alice's certificate when
// cert).
func secKgoOpts(b secBroker, proto, mech, user, pass string, cert bool) ([]kgo.Opt, error) {
	addr, ok := b.listeners[proto]
	if !ok {
		return nil, fmt.Errorf("%s has no %s listener", b.name, proto)
	}
	opts := []kgo.Opt{kgo.SeedBrokers(addr), kgo.MetadataMinAge(200 * time.Millisecond)}
	if mech != "" {
		opts = append(opts, kgo.SASL(saslMechanism(mech, user, pass)))
	}
	if proto == protoSSL || proto == protoSASLSSL {
		cfg, err := certs.tlsConfig(cert)
		if err != nil {
			return nil, err
		}
		opts = append(opts, kgo.DialTLSConfig(cfg))
	}
	return opts, nil
}

// secKgo is a franz-go client of b as user (SCRAM-SHA-256 on the
// SASL_PLAINTEXT listener), closed when the test ends.
func secKgo(t testing.TB, b secBroker, user string, opts ...kgo.Opt) *kgo.Client {
	t.Helper()
	base, err := secKgoOpts(b, protoSASLPlaintext, "SCRAM-SHA-256", user, secUsers[user], false)
	if err != nil {
		t.Fatal(err)
	}
	cl, err := kgo.NewClient(append(base, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return cl
}

// adminClient is a kadm client of b as admin (the super user).
func adminClient(b secBroker) (*kadm.Client, func(), error) {
	opts, err := secKgoOpts(b, protoSASLPlaintext, "SCRAM-SHA-256", "admin", secUsers["admin"], false)
	if err != nil {
		return nil, nil, err
	}
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return nil, nil, err
	}
	return kadm.NewClient(cl), cl.Close, nil
}

// secAdmin is adminClient for a test.
func secAdmin(t testing.TB, b secBroker) *kadm.Client {
	t.Helper()
	adm, closeAdm, err := adminClient(b)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(closeAdm)
	return adm
}

// createSecTopic creates topic (one partition) as admin and waits until
// the broker's metadata has it: Kafka answers CreateTopics before its
// metadata cache knows the topic, and a client without CREATE asking for
// an unknown topic meanwhile gets TOPIC_AUTHORIZATION_FAILED (auto-creation
// refused), which librdkafka's producer takes as final.
func createSecTopic(ctx context.Context, adm *kadm.Client, topic string) error {
	res, err := adm.CreateTopic(ctx, 1, 1, nil, topic)
	if err == nil {
		err = res.Err
	}
	if err != nil {
		return fmt.Errorf("create topic %s as admin: %w", topic, err)
	}
	for {
		md, err := adm.ListTopics(ctx, topic)
		if err == nil {
			if d, ok := md[topic]; ok && d.Err == nil && len(d.Partitions) == 1 && d.Partitions[0].Leader >= 0 {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("topic %s created but not in the metadata: %w", topic, ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// secTLS is the client TLS configuration for the test CA (alice's
// certificate when cert), failing the test on error.
func secTLS(t testing.TB, cert bool) *tls.Config {
	t.Helper()
	cfg, err := certs.tlsConfig(cert)
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// kgoAuthFailed reports whether franz-go's err is the broker's
// SASL_AUTHENTICATION_FAILED.
func kgoAuthFailed(err error) bool { return errors.Is(err, kerr.SaslAuthenticationFailed) }
