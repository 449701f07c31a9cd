package compat

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/sasl/scram"
)

// TestSecurityACLs checks Kafka's authorization model end to end on both
// brokers, as bob (no ACL but those granted here) with franz-go over
// SASL_PLAINTEXT, ACLs managed by admin with kadm: without WRITE bob cannot
// produce, READ lets him consume, a PREFIXED ACL covers a topic created
// later, DENY beats ALLOW, the super user bypasses everything, Metadata
// lists only what bob may describe, grants and revocations apply to
// connections already open, and bob cannot manage ACLs or users.
func TestSecurityACLs(t *testing.T) {
	start := time.Now()
	eachSecBroker(t, func(t *testing.T, b secBroker) {
		adm := secAdmin(t, b)
		prefix := fmt.Sprintf("acl-%d-", runs.Add(1))
		topic := func(name string) string { return prefix + name }
		mk := func(t *testing.T, names ...string) {
			t.Helper()
			ctx := testCtx(t, 30*time.Second)
			for _, n := range names {
				if err := createSecTopic(ctx, adm, topic(n)); err != nil {
					t.Fatal(err)
				}
			}
		}
		// bob's producer is not idempotent where the check is on the
		// topic: an idempotent producer first needs InitProducerId,
		// refused without WRITE on some topic (KIP-679).
		bobProducer := func(t *testing.T, opts ...kgo.Opt) *kgo.Client {
			return secKgo(t, b, "bob", append([]kgo.Opt{kgo.DisableIdempotentWrite(), kgo.RecordDeliveryTimeout(15 * time.Second)}, opts...)...)
		}

		t.Run("no-WRITE-no-produce-READ-consumes", func(t *testing.T) {
			mk(t, "read")
			ctx := testCtx(t, 60*time.Second)
			asAdmin := secKgo(t, b, "admin")
			if err := asAdmin.ProduceSync(ctx, &kgo.Record{Topic: topic("read"), Value: []byte("by admin")}).FirstErr(); err != nil {
				t.Fatalf("admin produce: %v", err)
			}
			bob := bobProducer(t)
			// Nothing granted: bob may not even see the topic.
			err := produceOne(ctx, bob, topic("read"), "by bob")
			if !errors.Is(err, kerr.TopicAuthorizationFailed) {
				t.Fatalf("bob without ACLs: produce error %v, want TOPIC_AUTHORIZATION_FAILED", err)
			}
			if _, err := consumeAs(ctx, b, "bob", topic("read"), 1); !errors.Is(err, kerr.TopicAuthorizationFailed) {
				t.Fatalf("bob without ACLs: consume error %v, want TOPIC_AUTHORIZATION_FAILED", err)
			}
			grant(t, adm, kadm.NewACLs().Allow("User:bob").AllowHosts().Topics(topic("read")).Operations(kadm.OpRead))
			// READ (DESCRIBE implied) but no WRITE: the same connection
			// is now refused by Produce itself.
			if err := produceOne(ctx, bob, topic("read"), "by bob"); !errors.Is(err, kerr.TopicAuthorizationFailed) {
				t.Fatalf("bob with READ only: produce error %v, want TOPIC_AUTHORIZATION_FAILED", err)
			}
			got, err := consumeAs(ctx, b, "bob", topic("read"), 1)
			if err != nil || !slices.Equal(got, []string{"by admin"}) {
				t.Fatalf("bob with READ: consumed %q, %v; want [by admin]", got, err)
			}
			// Committing needs READ on the group too.
			bobAdm := kadm.NewClient(secKgo(t, b, "bob"))
			_, err = bobAdm.CommitOffsets(ctx, topic("grp"), kadm.OffsetsFromRecords(kgo.Record{Topic: topic("read"), Partition: 0, Offset: 0}))
			if !errors.Is(err, kerr.GroupAuthorizationFailed) {
				t.Fatalf("bob commits to a group without READ on it: %v, want GROUP_AUTHORIZATION_FAILED", err)
			}
		})

		t.Run("idempotent-producer-needs-WRITE-somewhere", func(t *testing.T) {
			mk(t, "idem")
			ctx := testCtx(t, 60*time.Second)
			grant(t, adm, kadm.NewACLs().Allow("User:bob").AllowHosts().Topics(topic("idem")).Operations(kadm.OpDescribe))
			bob := secKgo(t, b, "bob", kgo.RecordDeliveryTimeout(15*time.Second))
			if err := produceOne(ctx, bob, topic("idem"), "x"); !errors.Is(err, kerr.ClusterAuthorizationFailed) {
				t.Fatalf("idempotent produce without any WRITE: %v, want CLUSTER_AUTHORIZATION_FAILED (InitProducerId)", err)
			}
			grant(t, adm, kadm.NewACLs().Allow("User:bob").AllowHosts().Topics(topic("idem")).Operations(kadm.OpWrite))
			bob2 := secKgo(t, b, "bob", kgo.RecordDeliveryTimeout(15*time.Second))
			if err := produceOne(ctx, bob2, topic("idem"), "x"); err != nil {
				t.Fatalf("idempotent produce with WRITE on the topic: %v", err)
			}
		})

		t.Run("PREFIXED-covers-a-later-topic", func(t *testing.T) {
			ctx := testCtx(t, 60*time.Second)
			grant(t, adm, kadm.NewACLs().Allow("User:bob").AllowHosts().Topics(topic("pre-")).
				ResourcePatternType(kadm.ACLPatternPrefixed).Operations(kadm.OpWrite, kadm.OpRead))
			mk(t, "pre-later", "prefixless") // created after the ACL
			bob := bobProducer(t)
			if err := produceOne(ctx, bob, topic("pre-later"), "later"); err != nil {
				t.Fatalf("produce to a topic under bob's prefix: %v", err)
			}
			got, err := consumeAs(ctx, b, "bob", topic("pre-later"), 1)
			if err != nil || !slices.Equal(got, []string{"later"}) {
				t.Fatalf("consume under bob's prefix: %q, %v", got, err)
			}
			if err := produceOne(ctx, bob, topic("prefixless"), "x"); !errors.Is(err, kerr.TopicAuthorizationFailed) {
				t.Fatalf("produce outside the prefix: %v, want TOPIC_AUTHORIZATION_FAILED", err)
			}
		})

		t.Run("DENY-beats-ALLOW", func(t *testing.T) {
			mk(t, "deny-x", "deny-y")
			ctx := testCtx(t, 60*time.Second)
			grant(t, adm,
				kadm.NewACLs().Allow("User:bob").AllowHosts().Topics(topic("deny-")).ResourcePatternType(kadm.ACLPatternPrefixed).Operations(kadm.OpWrite),
				kadm.NewACLs().Deny("User:*").DenyHosts().Topics(topic("deny-x")).Operations(kadm.OpWrite),
			)
			bob := bobProducer(t)
			if err := produceOne(ctx, bob, topic("deny-y"), "y"); err != nil {
				t.Fatalf("produce where only ALLOW applies: %v", err)
			}
			if err := produceOne(ctx, bob, topic("deny-x"), "x"); !errors.Is(err, kerr.TopicAuthorizationFailed) {
				t.Fatalf("produce where DENY User:* and ALLOW User:bob (prefix) apply: %v, want TOPIC_AUTHORIZATION_FAILED", err)
			}
		})

		t.Run("superuser-bypasses-all", func(t *testing.T) {
			mk(t, "su")
			ctx := testCtx(t, 60*time.Second)
			grant(t, adm, kadm.NewACLs().Deny("User:*").DenyHosts().Topics(topic("su")).Operations(kadm.OpAll))
			if err := produceOne(ctx, secKgo(t, b, "admin"), topic("su"), "su"); err != nil {
				t.Fatalf("the super user, under DENY ALL User:*: produce: %v", err)
			}
			got, err := consumeAs(ctx, b, "admin", topic("su"), 1)
			if err != nil || !slices.Equal(got, []string{"su"}) {
				t.Fatalf("the super user, under DENY ALL User:*: consume %q, %v", got, err)
			}
			if err := produceOne(ctx, secKgo(t, b, "alice", kgo.RecordDeliveryTimeout(15*time.Second)), topic("su"), "a"); !errors.Is(err, kerr.TopicAuthorizationFailed) {
				t.Fatalf("alice under DENY ALL User:*: %v, want TOPIC_AUTHORIZATION_FAILED", err)
			}
		})

		t.Run("Metadata-lists-only-describable-topics", func(t *testing.T) {
			mk(t, "vis-a", "vis-b")
			ctx := testCtx(t, 60*time.Second)
			grant(t, adm, kadm.NewACLs().Allow("User:bob").AllowHosts().Topics(topic("vis-a")).Operations(kadm.OpDescribe))
			bob := secKgo(t, b, "bob")
			all := kmsg.NewPtrMetadataRequest() // all topics
			resp, err := all.RequestWith(ctx, bob)
			if err != nil {
				t.Fatal(err)
			}
			var names []string
			for _, tp := range resp.Topics {
				if tp.Topic != nil {
					names = append(names, *tp.Topic)
				}
			}
			if !slices.Contains(names, topic("vis-a")) || slices.Contains(names, topic("vis-b")) {
				t.Fatalf("bob's Metadata of all topics: %q; want %s and not %s", names, topic("vis-a"), topic("vis-b"))
			}
			for _, n := range names {
				// Only topics of this test's earlier grants may show.
				if !strings.HasPrefix(n, prefix) || n == topic("su") {
					t.Fatalf("bob sees %s, which no ACL lets him describe (all: %q)", n, names)
				}
			}
			one := kmsg.NewPtrMetadataRequest()
			rt := kmsg.NewMetadataRequestTopic()
			rt.Topic = kmsg.StringPtr(topic("vis-b"))
			one.Topics = append(one.Topics, rt)
			resp, err = one.RequestWith(ctx, bob)
			if err != nil {
				t.Fatal(err)
			}
			if len(resp.Topics) != 1 || resp.Topics[0].ErrorCode != kerr.TopicAuthorizationFailed.Code {
				t.Fatalf("bob's Metadata of %s: %+v, want TOPIC_AUTHORIZATION_FAILED", topic("vis-b"), resp.Topics)
			}
		})

		t.Run("revoke-applies-to-open-connections", func(t *testing.T) {
			mk(t, "rev")
			ctx := testCtx(t, 60*time.Second)
			acl := kadm.NewACLs().Allow("User:bob").AllowHosts().Topics(topic("rev")).Operations(kadm.OpWrite)
			grant(t, adm, acl)
			bob := bobProducer(t)
			if err := produceOne(ctx, bob, topic("rev"), "before"); err != nil {
				t.Fatalf("produce with WRITE: %v", err)
			}
			revoke(t, adm, acl)
			if err := produceOne(ctx, bob, topic("rev"), "after"); !errors.Is(err, kerr.TopicAuthorizationFailed) {
				t.Fatalf("produce on the same connection after the revocation: %v, want TOPIC_AUTHORIZATION_FAILED", err)
			}
		})

		t.Run("bob-cannot-manage-ACLs-or-users", func(t *testing.T) {
			ctx := testCtx(t, 30*time.Second)
			bobAdm := kadm.NewClient(secKgo(t, b, "bob"))
			res, err := bobAdm.CreateACLs(ctx, kadm.NewACLs().Allow("User:bob").AllowHosts().Topics(topic("x")).Operations(kadm.OpAll))
			if err == nil {
				for _, r := range res {
					err = r.Err
				}
			}
			if !errors.Is(err, kerr.ClusterAuthorizationFailed) {
				t.Fatalf("bob creates an ACL: %v, want CLUSTER_AUTHORIZATION_FAILED", err)
			}
			described, err := bobAdm.DescribeACLs(ctx, kadm.NewACLs().AnyResource().Allow().AllowHosts().Operations(kadm.OpAny).ResourcePatternType(kadm.ACLPatternAny))
			if err == nil {
				for _, r := range described {
					err = r.Err
				}
			}
			if !errors.Is(err, kerr.ClusterAuthorizationFailed) {
				t.Fatalf("bob describes ACLs: %v, want CLUSTER_AUTHORIZATION_FAILED", err)
			}
			altered, err := bobAdm.AlterUserSCRAMs(ctx, nil, []kadm.UpsertSCRAM{{User: "bob", Mechanism: kadm.ScramSha256, Iterations: 4096, Password: "mine now"}})
			if err == nil {
				err = altered.Error()
			}
			if !errors.Is(err, kerr.ClusterAuthorizationFailed) {
				t.Fatalf("bob alters a SCRAM credential: %v, want CLUSTER_AUTHORIZATION_FAILED", err)
			}
		})

		t.Run("DescribeAcls-and-DescribeUserScramCredentials-of-the-setup", func(t *testing.T) {
			ctx := testCtx(t, 30*time.Second)
			res, err := adm.DescribeACLs(ctx, kadm.NewACLs().AnyResource().Allow("User:alice").AllowHosts().
				Operations(kadm.OpAny).ResourcePatternType(kadm.ACLPatternAny))
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, r := range res {
				if r.Err != nil {
					t.Fatal(r.Err)
				}
				for _, d := range r.Described {
					got = append(got, fmt.Sprintf("%v %s %v %s %s %v %v", d.Type, d.Name, d.Pattern, d.Principal, d.Host, d.Operation, d.Permission))
				}
			}
			slices.Sort(got)
			want := []string{
				"GROUP sec- PREFIXED User:alice * READ ALLOW",
				"TOPIC sec- PREFIXED User:alice * DESCRIBE ALLOW",
				"TOPIC sec- PREFIXED User:alice * READ ALLOW",
				"TOPIC sec- PREFIXED User:alice * WRITE ALLOW",
			}
			if !slices.Equal(got, want) {
				t.Fatalf("alice's ACLs described:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
			}
			users, err := adm.DescribeUserSCRAMs(ctx) // all users
			if err != nil {
				t.Fatal(err)
			}
			for _, u := range []string{"admin", "alice", "bob"} {
				var mechs []string
				for _, ci := range users[u].CredInfos {
					mechs = append(mechs, ci.Mechanism.String())
				}
				slices.Sort(mechs)
				if !slices.Equal(mechs, []string{"SCRAM-SHA-256", "SCRAM-SHA-512"}) {
					t.Fatalf("described credentials of %s: %v (%v), want SCRAM-SHA-256 and SCRAM-SHA-512", u, mechs, users[u].Err)
				}
			}
		})

		t.Run("SCRAM-users-via-the-admin-API", func(t *testing.T) {
			ctx := testCtx(t, 60*time.Second)
			user := fmt.Sprintf("carol%d", runs.Add(1))
			// One user at most once per request (DUPLICATE_RESOURCE otherwise).
			for _, u := range []kadm.UpsertSCRAM{
				{User: user, Mechanism: kadm.ScramSha256, Iterations: 4096, Password: "carol-secret"},
				{User: user, Mechanism: kadm.ScramSha512, Iterations: 8192, Password: "carol-secret"},
			} {
				altered, err := adm.AlterUserSCRAMs(ctx, nil, []kadm.UpsertSCRAM{u})
				if err == nil {
					err = altered.Error()
				}
				if err != nil {
					t.Fatalf("create %s %v: %v", user, u.Mechanism, err)
				}
			}
			// Apache Kafka applies a credential on its brokers a moment after
			// the controller acknowledged it (the metadata log): poll.
			want := []string{"SCRAM-SHA-256/4096", "SCRAM-SHA-512/8192"}
			var creds []string
			for deadline := time.Now().Add(15 * time.Second); ; time.Sleep(100 * time.Millisecond) {
				described, err := adm.DescribeUserSCRAMs(ctx, user)
				if err == nil {
					err = described.Error()
				}
				if err != nil && !errors.Is(err, kerr.ResourceNotFound) {
					t.Fatalf("describe %s: %v", user, err)
				}
				creds = creds[:0]
				for _, ci := range described[user].CredInfos {
					creds = append(creds, fmt.Sprintf("%v/%d", ci.Mechanism, ci.Iterations))
				}
				slices.Sort(creds)
				if slices.Equal(creds, want) || time.Now().After(deadline) {
					break
				}
			}
			if !slices.Equal(creds, want) {
				t.Fatalf("described %s: %v, want %v", user, creds, want)
			}
			ping := func(mech, pass string) error {
				m := scram.Auth{User: user, Pass: pass}
				sm := m.AsSha256Mechanism()
				if mech == "512" {
					sm = m.AsSha512Mechanism()
				}
				opts, _ := secKgoOpts(b, protoSASLPlaintext, "", "", "", false)
				cl, err := kgo.NewClient(append(opts, kgo.SASL(sm))...)
				if err != nil {
					return err
				}
				defer cl.Close()
				pctx, cancel := context.WithTimeout(ctx, 15*time.Second)
				defer cancel()
				return cl.Ping(pctx)
			}
			// Kafka applies a new credential asynchronously: wait for it.
			waitFor(t, ctx, "the new user to authenticate", func() error { return ping("512", "carol-secret") })
			if err := ping("256", "carol-secret"); err != nil {
				t.Fatalf("%s with SCRAM-SHA-256: %v", user, err)
			}
			if err := ping("256", "wrong"); !kgoAuthFailed(err) {
				t.Fatalf("%s with a wrong password: %v, want SASL_AUTHENTICATION_FAILED", user, err)
			}
			for _, m := range []kadm.ScramMechanism{kadm.ScramSha256, kadm.ScramSha512} {
				altered, err := adm.AlterUserSCRAMs(ctx, []kadm.DeleteSCRAM{{User: user, Mechanism: m}}, nil)
				if err == nil {
					err = altered.Error()
				}
				if err != nil {
					t.Fatalf("delete %s %v: %v", user, m, err)
				}
			}
			waitFor(t, ctx, "the deleted user to be refused", func() error {
				if err := ping("256", "carol-secret"); !kgoAuthFailed(err) {
					return fmt.Errorf("deleted user authenticates: %v", err)
				}
				return nil
			})
			described, err := adm.DescribeUserSCRAMs(ctx, user)
			if err == nil && described[user].Err == nil {
				t.Fatalf("describe the deleted %s: %+v, want RESOURCE_NOT_FOUND", user, described[user])
			}
			if err == nil {
				err = described[user].Err
			}
			if !errors.Is(err, kerr.ResourceNotFound) {
				t.Fatalf("describe the deleted %s: %v, want RESOURCE_NOT_FOUND", user, err)
			}
		})
	})
	t.Logf("ACL scenarios: %.1f s wall", time.Since(start).Seconds())
}

// produceOne produces one record and returns the client's error.
func produceOne(ctx context.Context, cl *kgo.Client, topic, value string) error {
	pctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	return cl.ProduceSync(pctx, &kgo.Record{Topic: topic, Value: []byte(value)}).FirstErr()
}

// consumeAs reads n records of partition 0 of topic from the start as user
// (no group) and returns their values, or the first fetch error.
func consumeAs(ctx context.Context, b secBroker, user, topic string, n int) ([]string, error) {
	opts, err := secKgoOpts(b, protoSASLPlaintext, "SCRAM-SHA-256", user, secUsers[user], false)
	if err != nil {
		return nil, err
	}
	return consumeWith(ctx, opts, topic, n)
}

// consumeWith reads n records of partition 0 of topic from the start with
// a client of opts (no group) and returns their values, or the first fetch
// error.
func consumeWith(ctx context.Context, opts []kgo.Opt, topic string, n int) ([]string, error) {
	cl, err := kgo.NewClient(append(opts, kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: {0: kgo.NewOffset().AtStart()}}))...)
	if err != nil {
		return nil, err
	}
	defer cl.Close()
	cctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	var got []string
	for len(got) < n {
		fs := cl.PollFetches(cctx)
		if err := cctx.Err(); err != nil {
			return got, fmt.Errorf("consumed %d of %d: %w", len(got), n, err)
		}
		var ferr error
		fs.EachError(func(_ string, _ int32, err error) { ferr = err })
		if ferr != nil {
			return got, ferr
		}
		fs.EachRecord(func(r *kgo.Record) { got = append(got, string(r.Value)) })
	}
	return got, nil
}

// grant creates the ACLs as admin and waits until the broker describes
// them: Kafka's authorizer learns of new ACLs asynchronously.
func grant(t *testing.T, adm *kadm.Client, bs ...*kadm.ACLBuilder) {
	t.Helper()
	ctx := testCtx(t, 30*time.Second)
	if err := createACLs(ctx, adm, bs...); err != nil {
		t.Fatal(err)
	}
	for _, b := range bs {
		waitFor(t, ctx, "the new ACLs to be described", func() error {
			res, err := adm.DescribeACLs(ctx, b)
			if err != nil {
				return err
			}
			for _, r := range res {
				if r.Err != nil {
					return r.Err
				}
				if len(r.Described) == 0 {
					return fmt.Errorf("%v on %v not described yet", r.Operation, r.Name)
				}
			}
			return nil
		})
	}
}

// revoke deletes the ACLs as admin and waits until the broker no longer
// describes them.
func revoke(t *testing.T, adm *kadm.Client, b *kadm.ACLBuilder) {
	t.Helper()
	ctx := testCtx(t, 30*time.Second)
	res, err := adm.DeleteACLs(ctx, b)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range res {
		if r.Err != nil {
			t.Fatalf("delete ACLs: %v", r.Err)
		}
	}
	waitFor(t, ctx, "the ACLs to be gone", func() error {
		res, err := adm.DescribeACLs(ctx, b)
		if err != nil {
			return err
		}
		for _, r := range res {
			if len(r.Described) > 0 {
				return fmt.Errorf("%d ACLs still described", len(r.Described))
			}
		}
		return nil
	})
}

// waitFor retries f every 100 ms until it succeeds, failing the test with
// its last error when ctx ends.
func waitFor(t *testing.T, ctx context.Context, what string, f func() error) {
	t.Helper()
	for {
		err := f()
		if err == nil {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("waiting for %s: %v", what, err)
		case <-time.After(100 * time.Millisecond):
		}
	}
}
