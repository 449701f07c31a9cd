package compat

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// kcat runs kcat under timeout(1) with stdin, and returns stdout.
func kcat(t *testing.T, stdin string, args ...string) string {
	t.Helper()
	path, err := exec.LookPath("kcat")
	if err != nil {
		t.Skip("kcat not on PATH (Debian package kcat)")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 40*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "timeout", append([]string{"30", path}, args...)...)
	cmd.Stdin = strings.NewReader(stdin)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("kcat %s: %v\nstderr: %s", strings.Join(args, " "), err, stderr.String())
	}
	return stdout.String()
}

// kcatMessage is one line of kcat -C -J.
type kcatMessage struct {
	Topic     string   `json:"topic"`
	Partition int32    `json:"partition"`
	Offset    int64    `json:"offset"`
	TsType    string   `json:"tstype"`
	Ts        int64    `json:"ts"`
	Headers   []string `json:"headers"`
	Key       *string  `json:"key"`
	Payload   *string  `json:"payload"`
}

// kcatConsume reads n messages of topic from the start with kcat -C -J.
func kcatConsume(t *testing.T, addr, topic string, n int) []kcatMessage {
	t.Helper()
	out := kcat(t, "", "-C", "-b", addr, "-t", topic, "-o", "beginning", "-e", "-J", "-c", fmt.Sprint(n), "-m", "10")
	var msgs []kcatMessage
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		if line == "" {
			continue
		}
		var m kcatMessage
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("kcat line %q: %v", line, err)
		}
		msgs = append(msgs, m)
	}
	if len(msgs) != n {
		t.Fatalf("kcat consumed %d messages, want %d:\n%s", len(msgs), n, out)
	}
	return msgs
}

func TestKcatMetadata(t *testing.T) {
	eachBroker(t, func(t *testing.T, b broker) {
		topic := topicName(t, "t")
		cl := newClient(t, b.addr)
		if err := cl.ProduceSync(testCtx(t, 20*time.Second), &kgo.Record{Topic: topic, Value: []byte("x")}).FirstErr(); err != nil {
			t.Fatal(err)
		}
		out := kcat(t, "", "-L", "-b", b.addr, "-J", "-m", "10")
		var md struct {
			Brokers []struct {
				ID   int32  `json:"id"`
				Name string `json:"name"`
			} `json:"brokers"`
			Topics []struct {
				Topic      string `json:"topic"`
				Partitions []struct {
					Partition int32 `json:"partition"`
					Leader    int32 `json:"leader"`
				} `json:"partitions"`
			} `json:"topics"`
		}
		if err := json.Unmarshal([]byte(out), &md); err != nil {
			t.Fatalf("%v\n%s", err, out)
		}
		if len(md.Brokers) != 1 || md.Brokers[0].ID != 1 || md.Brokers[0].Name != b.addr {
			t.Fatalf("brokers %+v", md.Brokers)
		}
		found := false
		for _, tp := range md.Topics {
			if tp.Topic == topic {
				found = len(tp.Partitions) == 1 && tp.Partitions[0].Leader == 1
			}
		}
		if !found {
			t.Fatalf("topic %s missing from kcat -L:\n%s", topic, out)
		}
		// Plain text too.
		if out := kcat(t, "", "-L", "-b", b.addr, "-t", topic, "-m", "10"); !strings.Contains(out, "broker 1 at "+b.addr) {
			t.Fatalf("kcat -L:\n%s", out)
		}
	})
}

func TestKcatProduceConsumeCodecs(t *testing.T) {
	eachBroker(t, func(t *testing.T, b broker) {
		for _, codec := range []string{"none", "gzip", "snappy", "lz4", "zstd"} {
			t.Run(codec, func(t *testing.T) {
				t.Parallel() // one topic each
				topic := topicName(t, "t")
				var in strings.Builder
				for i := 0; i < 50; i++ {
					fmt.Fprintf(&in, "k%d:%s value %d\n", i%3, codec, i)
				}
				// librdkafka's idempotent producer (InitProducerId, sequences).
				kcat(t, in.String(), "-P", "-b", b.addr, "-t", topic, "-p", "0", "-K:", "-H", "h1=v1", "-H", "codec="+codec, "-z", codec, "-X", "enable.idempotence=true")
				if got, want := storedCodecs(t, b.addr, topic), map[string]int8{"none": 0, "gzip": 1, "snappy": 2, "lz4": 3, "zstd": 4}[codec]; len(got) != 1 || !got[want] {
					t.Fatalf("stored batches use codecs %v, want only %d (%s)", got, want, codec)
				}
				// kcat reads back.
				msgs := kcatConsume(t, b.addr, topic, 50)
				for i, m := range msgs {
					if m.Offset != int64(i) || *m.Payload != fmt.Sprintf("%s value %d", codec, i) || *m.Key != fmt.Sprintf("k%d", i%3) {
						t.Fatalf("kcat message %d: %+v", i, m)
					}
					if strings.Join(m.Headers, ",") != "h1,v1,codec,"+codec {
						t.Fatalf("headers %v", m.Headers)
					}
				}
				// franz-go reads the same.
				recs := consume(t, b.addr, topic, 50)
				for i, r := range recs {
					if string(r.Value) != fmt.Sprintf("%s value %d", codec, i) || len(r.Headers) != 2 || string(r.Headers[1].Value) != codec {
						t.Fatalf("franz-go record %d: %+v", i, r)
					}
				}
			})
		}
	})
}

func TestKcatConsumesFranzGo(t *testing.T) {
	eachBroker(t, func(t *testing.T, b broker) {
		ctx := testCtx(t, 30*time.Second)
		topic := topicName(t, "t")
		cl := newClient(t, b.addr, kgo.ProducerBatchCompression(kgo.ZstdCompression()))
		ts := time.UnixMilli(1700000000123)
		for i := 0; i < 20; i++ {
			r := &kgo.Record{Topic: topic, Key: []byte(fmt.Sprintf("key%d", i)), Value: []byte(fmt.Sprintf("val%d", i)), Timestamp: ts.Add(time.Duration(i) * time.Millisecond), Headers: []kgo.RecordHeader{{Key: "n", Value: []byte(fmt.Sprint(i))}}}
			cl.Produce(ctx, r, func(_ *kgo.Record, err error) {
				if err != nil {
					t.Error(err)
				}
			})
		}
		if err := cl.Flush(ctx); err != nil {
			t.Fatal(err)
		}
		msgs := kcatConsume(t, b.addr, topic, 20)
		for i, m := range msgs {
			if *m.Key != fmt.Sprintf("key%d", i) || *m.Payload != fmt.Sprintf("val%d", i) || m.Ts != ts.UnixMilli()+int64(i) || strings.Join(m.Headers, "=") != fmt.Sprintf("n=%d", i) {
				t.Fatalf("message %d: %+v", i, m)
			}
		}
		// Offsets by time through kcat -Q.
		out := kcat(t, "", "-Q", "-b", b.addr, "-t", fmt.Sprintf("%s:0:%d", topic, ts.UnixMilli()+5))
		if !strings.Contains(out, "offset 5") {
			t.Fatalf("kcat -Q: %s", out)
		}
	})
}

// storedCodecs fetches partition 0 of topic raw from the broker at addr and
// returns the compression codecs of its stored batches (attributes bits 0-2).
func storedCodecs(t *testing.T, addr, topic string) map[int8]bool {
	t.Helper()
	ctx := testCtx(t, 20*time.Second)
	cl := newClient(t, addr)
	td, err := kadm.NewClient(cl).ListTopics(ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	req := kmsg.NewPtrFetchRequest()
	req.MaxBytes = 10 << 20
	rt := kmsg.NewFetchRequestTopic()
	rt.Topic, rt.TopicID = topic, td[topic].ID
	rp := kmsg.NewFetchRequestTopicPartition()
	rp.PartitionMaxBytes = 10 << 20
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		t.Fatal(err)
	}
	raw := resp.Topics[0].Partitions[0].RecordBatches
	out := map[int8]bool{}
	for len(raw) >= 61 {
		var b kmsg.RecordBatch
		if err := b.ReadFrom(raw); err != nil {
			t.Fatal(err)
		}
		out[int8(b.Attributes&7)] = true
		raw = raw[12+int(b.Length):]
	}
	return out
}
