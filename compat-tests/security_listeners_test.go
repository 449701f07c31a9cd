package compat

import (
	"fmt"
	"net"
	"strconv"
	"testing"
	"time"

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
