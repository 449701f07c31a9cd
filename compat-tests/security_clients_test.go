package compat

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// TestSecurityClients is issue 11's client matrix: every client produces
// and consumes over SASL_PLAINTEXT (PLAIN, SCRAM-SHA-256), SASL_SSL
// (SCRAM-SHA-512, the server's certificate and host name checked) and SSL
// with a client certificate (principal User:alice), and is refused with a
// wrong password or an unknown user, reporting an authentication error in
// bounded time. Subtests: TestSecurityClients/CLIENT/CASE/zombi|kafka.
//
// The runs are independent (a topic each, created by admin; alice's ACLs
// cover them), so they all run at once, secParallel at a time, whatever
// go test's -parallel; the subtests then check what each reported.

// secCase is one row of the matrix.
type secCase struct {
	name       string
	proto      string // the listener
	mech       string // SASL mechanism; "" on SSL
	user, pass string
	cert       bool // alice's client certificate
	refused    bool // wrong credentials: the client must report an authentication failure
}

var secCases = []secCase{
	{name: "SASL_PLAINTEXT-PLAIN", proto: protoSASLPlaintext, mech: "PLAIN", user: "alice", pass: "alice-secret"},
	{name: "SASL_PLAINTEXT-SCRAM-SHA-256", proto: protoSASLPlaintext, mech: "SCRAM-SHA-256", user: "alice", pass: "alice-secret"},
	{name: "SASL_SSL-SCRAM-SHA-512", proto: protoSASLSSL, mech: "SCRAM-SHA-512", user: "alice", pass: "alice-secret"},
	{name: "SSL-client-cert", proto: protoSSL, cert: true},
	{name: "wrong-password-PLAIN", proto: protoSASLPlaintext, mech: "PLAIN", user: "alice", pass: "not-alice-secret", refused: true},
	{name: "wrong-password-SCRAM-SHA-256", proto: protoSASLPlaintext, mech: "SCRAM-SHA-256", user: "alice", pass: "not-alice-secret", refused: true},
	{name: "unknown-user-SASL_SSL-SCRAM-SHA-512", proto: protoSASLSSL, mech: "SCRAM-SHA-512", user: "mallory", pass: "alice-secret", refused: true},
}

// secRun is what one client reported for one case against one broker.
type secRun struct {
	want    []string // produced
	values  []string // consumed from the topic, in order
	err     error    // the client's failure (nil: produced and consumed)
	authErr bool     // err is an authentication failure, as the client classifies it
	skip    string   // the client cannot do this combination: why
	// refusedBecause: the client is known to be refused here by both
	// brokers (the check is then that it is, with an authentication error).
	refusedBecause string
	output         string // the client's own output, shown on failure
	elapsed        time.Duration
}

// secClient runs one case: produce values to topic (one partition) and
// consume them back, or for a refused case just connect and report the
// failure. group is a consumer group name alice may use. It must return
// within ctx.
type secClient struct {
	name    string
	missing func() string // why the client cannot run here ("" when it can)
	run     func(ctx context.Context, b secBroker, c secCase, topic, group string, values []string) secRun
}

// secParallel bounds the runs in flight (processes and JVM work on a
// 2-core machine).
const secParallel = 6

// refusedWithin bounds how long a client may take to report a refusal.
const refusedWithin = 30 * time.Second

func secClients() []secClient {
	return []secClient{
		{name: "franz-go", run: kgoSecRun},
		{name: "sarama", run: saramaSecRun},
		{name: "kcat", missing: kcatMissing, run: kcatSecRun},
		{name: "kcat-librdkafka-2.16", missing: kcatNewMissing, run: kcatNewLibrdkafka},
		{name: "confluent-kafka-python", missing: pypiMissing, run: pySecRun("confluent")},
		{name: "kafka-python-pypi", missing: pypiMissing, run: pySecRun("kafka-python-pypi")},
		{name: "kafka-python-2.0.2", missing: debianKafkaPythonMissing, run: pySecRun("kafka-python-debian")},
		{name: "kafkajs", missing: kafkajsMissing, run: kafkajsSecRun},
	}
}

func TestSecurityClients(t *testing.T) {
	start := time.Now()
	targets := secTargets()
	clients := secClients()
	missing := map[string]string{}
	only := os.Getenv("ZOMBI_SECURITY_CLIENTS") // a comma list to run only those (while debugging one)
	for _, cl := range clients {
		switch {
		case only != "" && !slices.Contains(strings.Split(only, ","), cl.name):
			missing[cl.name] = "not in ZOMBI_SECURITY_CLIENTS=" + only
		case cl.missing != nil:
			missing[cl.name] = cl.missing()
		}
	}
	type key struct{ client, cas, broker string }
	var (
		mu      sync.Mutex
		results = map[key]secRun{}
		wg      sync.WaitGroup
		sem     = make(chan struct{}, secParallel)
		perCl   = map[string]time.Duration{}
	)
	for _, tg := range targets {
		if tg.skip != "" || tg.err != nil {
			continue
		}
		adm := secAdmin(t, tg.secBroker)
		for _, cl := range clients {
			if missing[cl.name] != "" {
				continue
			}
			for _, c := range secCases {
				wg.Add(1)
				go func() {
					defer wg.Done()
					sem <- struct{}{}
					defer func() { <-sem }()
					ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
					defer cancel()
					n := runs.Add(1)
					topic := fmt.Sprintf("%s%s-%s-%d", alicePrefix, cl.name, c.name, n)
					group := fmt.Sprintf("%sg-%s-%d", alicePrefix, cl.name, n)
					values := []string{cl.name + " " + c.name, "second, with a comma", "third " + tg.name}
					var r secRun
					began := time.Now()
					if err := createSecTopic(ctx, adm, topic); err != nil {
						r.err = err
					} else {
						r = cl.run(ctx, tg.secBroker, c, topic, group, values)
					}
					r.elapsed, r.want = time.Since(began), values
					mu.Lock()
					results[key{cl.name, c.name, tg.name}] = r
					perCl[cl.name+" "+tg.name] += r.elapsed
					mu.Unlock()
				}()
			}
		}
	}
	wg.Wait()
	t.Logf("client matrix: %.1f s wall for %d runs", time.Since(start).Seconds(), len(results))
	for _, cl := range clients {
		t.Run(cl.name, func(t *testing.T) {
			if why := missing[cl.name]; why != "" {
				t.Skip(why)
			}
			for _, tg := range targets {
				if d, ok := perCl[cl.name+" "+tg.name]; ok {
					t.Logf("%s against %s: %.1f s summed over the cases", cl.name, tg.name, d.Seconds())
				}
			}
			for _, c := range secCases {
				t.Run(c.name, func(t *testing.T) {
					for _, tg := range targets {
						tg.run(t, func(t *testing.T, b secBroker) {
							r := results[key{cl.name, c.name, b.name}]
							checkSecRun(t, c, r)
						})
					}
				})
			}
		})
	}
}

// checkSecRun checks what a client reported for case c.
func checkSecRun(t *testing.T, c secCase, r secRun) {
	t.Helper()
	if r.skip != "" {
		t.Skip(r.skip)
	}
	show := func() string {
		if r.output == "" {
			return ""
		}
		return "\nclient output:\n" + r.output
	}
	if r.refusedBecause != "" {
		t.Logf("this client must be refused: %s", r.refusedBecause)
	}
	if c.refused || r.refusedBecause != "" {
		switch {
		case r.err == nil:
			t.Fatalf("%s was not refused: it produced and consumed %q%s", c.name, r.values, show())
		case !r.authErr:
			t.Fatalf("refused, but not with an authentication error: %v%s", r.err, show())
		case r.elapsed > refusedWithin:
			t.Fatalf("the refusal took %v (more than %v): %v%s", r.elapsed, refusedWithin, r.err, show())
		}
		t.Logf("refused in %v: %v", r.elapsed.Round(time.Millisecond), firstLine(r.err.Error()))
		return
	}
	if r.err != nil {
		t.Fatalf("%v%s", r.err, show())
	}
	if !slices.Equal(r.values, r.want) {
		t.Fatalf("consumed %q, want %q%s", r.values, r.want, show())
	}
	t.Logf("produced and consumed %d records in %v", len(r.want), r.elapsed.Round(time.Millisecond))
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(strings.TrimSpace(s), "\n")
	if len(s) > 300 {
		s = s[:300] + "..."
	}
	return s
}

// kgoSecRun is franz-go: one client produces (acks=all, idempotent) and
// consumes the partition directly; a refused client's Ping must fail with
// SASL_AUTHENTICATION_FAILED.
func kgoSecRun(ctx context.Context, b secBroker, c secCase, topic, _ string, values []string) secRun {
	opts, err := secKgoOpts(b, c.proto, c.mech, c.user, c.pass, c.cert)
	if err != nil {
		return secRun{err: err}
	}
	if c.refused {
		cl, err := kgo.NewClient(opts...)
		if err != nil {
			return secRun{err: err}
		}
		defer cl.Close()
		pctx, cancel := context.WithTimeout(ctx, refusedWithin)
		defer cancel()
		err = cl.Ping(pctx)
		return secRun{err: err, authErr: kgoAuthFailed(err)}
	}
	cl, err := kgo.NewClient(append(opts, kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: {0: kgo.NewOffset().AtStart()}}))...)
	if err != nil {
		return secRun{err: err}
	}
	defer cl.Close()
	var recs []*kgo.Record
	for _, v := range values {
		recs = append(recs, &kgo.Record{Topic: topic, Value: []byte(v)})
	}
	if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		return secRun{err: fmt.Errorf("produce: %w", err)}
	}
	var got []string
	for len(got) < len(values) {
		fs := cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			return secRun{values: got, err: fmt.Errorf("consumed %d of %d: %w", len(got), len(values), err)}
		}
		var ferr error
		fs.EachError(func(_ string, _ int32, err error) { ferr = err })
		if ferr != nil {
			return secRun{values: got, err: fmt.Errorf("fetch: %w", ferr)}
		}
		fs.EachRecord(func(r *kgo.Record) { got = append(got, string(r.Value)) })
	}
	return secRun{values: got}
}
