package compat

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// TestSecurityKafkaTools: Kafka's own command-line tools manage users and
// ACLs over SASL_PLAINTEXT as admin, on both brokers: kafka-configs adds a
// SCRAM credential (one mechanism per run: Kafka refuses a user named
// twice in one request) that then logs in, kafka-acls adds, lists and
// removes an ACL that then allows and stops a produce.
func TestSecurityKafkaTools(t *testing.T) {
	eachSecBroker(t, func(t *testing.T, b secBroker) {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		props := filepath.Join(t.TempDir(), "admin.properties")
		if err := os.WriteFile(props, []byte("security.protocol=SASL_PLAINTEXT\nsasl.mechanism=SCRAM-SHA-256\n"+
			`sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required username="admin" password="admin-secret";`+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		addr := b.listeners[protoSASLPlaintext]
		base := []string{"--bootstrap-server", addr, "--command-config", props}
		user := "tool-" + b.name

		kafkaTool(t, "", "kafka-configs", append(base, "--alter", "--entity-type", "users", "--entity-name", user,
			"--add-config", "SCRAM-SHA-256=[iterations=8192,password=tool-secret]")...)
		out := kafkaTool(t, "", "kafka-configs", append(base, "--describe", "--entity-type", "users", "--entity-name", user)...)
		if !strings.Contains(out, "SCRAM-SHA-256=iterations=8192") {
			t.Fatalf("kafka-configs --describe:\n%s", out)
		}
		topic := alicePrefix + "tools-" + b.name
		produce := func() error {
			cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.SASL(saslMechanism("SCRAM-SHA-256", user, "tool-secret")),
				kgo.DefaultProduceTopic(topic), kgo.RetryTimeout(5*time.Second))
			if err != nil {
				return err
			}
			defer cl.Close()
			pctx, pcancel := context.WithTimeout(ctx, 15*time.Second) // a client that cannot log in retries
			defer pcancel()
			return cl.ProduceSync(pctx, &kgo.Record{Value: []byte("v")}).FirstErr()
		}
		adm := secAdmin(t, b)
		if err := createSecTopic(ctx, adm, topic); err != nil {
			t.Fatal(err)
		}
		// Logged in (the credential works), refused by the ACLs.
		waitFor(t, ctx, user+" logged in and refused by the ACLs", func() error {
			if err := produce(); !errors.Is(err, kerr.TopicAuthorizationFailed) {
				return fmt.Errorf("produce: %v, want TOPIC_AUTHORIZATION_FAILED", err)
			}
			return nil
		})
		kafkaTool(t, "", "kafka-acls", append(base, "--add", "--allow-principal", "User:"+user,
			"--operation", "Write", "--operation", "Describe", "--topic", topic)...)
		out = kafkaTool(t, "", "kafka-acls", append(base, "--list", "--topic", topic)...)
		if !strings.Contains(out, "principal=User:"+user) || !strings.Contains(out, "operation=WRITE") {
			t.Fatalf("kafka-acls --list:\n%s", out)
		}
		// Apache Kafka applies ACLs and credentials on its brokers a moment
		// after the controller took them: every effect below is waited for.
		waitFor(t, ctx, user+" allowed by kafka-acls --add", func() error { return produce() })
		kafkaTool(t, "", "kafka-acls", append(base, "--remove", "--force", "--allow-principal", "User:"+user,
			"--operation", "Write", "--operation", "Describe", "--topic", topic)...)
		waitFor(t, ctx, user+" refused after kafka-acls --remove", func() error {
			if err := produce(); !errors.Is(err, kerr.TopicAuthorizationFailed) {
				return fmt.Errorf("produce: %v, want TOPIC_AUTHORIZATION_FAILED", err)
			}
			return nil
		})
		kafkaTool(t, "", "kafka-configs", append(base, "--alter", "--entity-type", "users", "--entity-name", user,
			"--delete-config", "SCRAM-SHA-256")...)
		waitFor(t, ctx, user+" refused after kafka-configs --delete-config", func() error {
			cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.SASL(saslMechanism("SCRAM-SHA-256", user, "tool-secret")))
			if err != nil {
				return err
			}
			defer cl.Close()
			pctx, pcancel := context.WithTimeout(ctx, 10*time.Second)
			defer pcancel()
			if err := cl.Ping(pctx); !kgoAuthFailed(err) {
				return fmt.Errorf("ping: %v, want SASL_AUTHENTICATION_FAILED", err)
			}
			return nil
		})
	})
}
