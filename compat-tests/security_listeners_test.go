package compat

import (
	"errors"
	"fmt"
	"net"
	"strconv"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// TestSecurityListenersAdvertise: Metadata answers with the address of the
// listener the client is connected to, on each of the four listeners of
// both brokers (as admin over SASL, alice by certificate over SSL,
// anonymously over PLAINTEXT).
func TestSecurityListenersAdvertise(t *testing.T) {
	eachSecBroker(t, func(t *testing.T, b secBroker) {
		for _, c := range []struct {
			proto, mech, user string
			cert              bool
		}{
			{protoPlaintext, "", "", false},
			{protoSASLPlaintext, "SCRAM-SHA-256", "admin", false},
			{protoSASLSSL, "SCRAM-SHA-512", "admin", false},
			{protoSSL, "", "", true},
		} {
			t.Run(c.proto, func(t *testing.T) {
				opts, err := secKgoOpts(b, c.proto, c.mech, c.user, secUsers[c.user], c.cert)
				if err != nil {
					t.Fatal(err)
				}
				cl, err := kgo.NewClient(opts...)
				if err != nil {
					t.Fatal(err)
				}
				defer cl.Close()
				req := kmsg.NewPtrMetadataRequest()
				req.Topics = []kmsg.MetadataRequestTopic{} // no topic: just the brokers
				resp, err := req.RequestWith(testCtx(t, 20*time.Second), cl)
				if err != nil {
					t.Fatal(err)
				}
				var got []string
				for _, br := range resp.Brokers {
					got = append(got, net.JoinHostPort(br.Host, strconv.Itoa(int(br.Port))))
				}
				if want := b.listeners[c.proto]; fmt.Sprint(got) != fmt.Sprint([]string{want}) {
					t.Fatalf("Metadata over %s lists brokers %v, want [%s]", c.proto, got, want)
				}
			})
		}
	})
}

// TestSecurityPrincipalOnSASLSSL: on a SASL_SSL listener the principal is
// the SASL user, whatever client certificate comes with it: bob presenting
// alice's certificate is still bob (refused on alice's topics), and alice
// by certificate alone on SSL is alice (allowed).
func TestSecurityPrincipalOnSASLSSL(t *testing.T) {
	eachSecBroker(t, func(t *testing.T, b secBroker) {
		ctx := testCtx(t, 60*time.Second)
		topic := fmt.Sprintf("%sprincipal-%d", alicePrefix, runs.Add(1))
		if err := createSecTopic(ctx, secAdmin(t, b), topic); err != nil {
			t.Fatal(err)
		}
		opts, err := secKgoOpts(b, protoSASLSSL, "SCRAM-SHA-512", "bob", secUsers["bob"], true)
		if err != nil {
			t.Fatal(err)
		}
		bob, err := kgo.NewClient(append(opts, kgo.DisableIdempotentWrite(), kgo.RecordDeliveryTimeout(15*time.Second))...)
		if err != nil {
			t.Fatal(err)
		}
		defer bob.Close()
		if err := produceOne(ctx, bob, topic, "bob"); !errors.Is(err, kerr.TopicAuthorizationFailed) {
			t.Fatalf("bob over SASL_SSL with alice's certificate produces to alice's topic: %v, want TOPIC_AUTHORIZATION_FAILED", err)
		}
		opts, err = secKgoOpts(b, protoSSL, "", "", "", true)
		if err != nil {
			t.Fatal(err)
		}
		alice, err := kgo.NewClient(opts...)
		if err != nil {
			t.Fatal(err)
		}
		defer alice.Close()
		if err := produceOne(ctx, alice, topic, "alice"); err != nil {
			t.Fatalf("alice by certificate over SSL: %v", err)
		}
	})
}
