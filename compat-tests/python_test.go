package compat

import (
	"context"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// kafka-python (Debian python3-kafka 2.0.2) pinned to old protocol versions:
// 0.11 (ApiVersions v0, Metadata v1-v4, Produce v3, Fetch v4-v5, ListOffsets
// v1-v2), 1.0, 2.0 and autodetected. Apache Kafka 4.4 serves all four as
// well: KIP-896 removed only older versions (Produce v0-v2, Fetch v0-v3,
// ListOffsets v0, ...).
const kafkaPythonScript = `
import sys
from kafka import KafkaProducer, KafkaConsumer, TopicPartition
b, topic, av = sys.argv[1], sys.argv[2], sys.argv[3]
kw = {} if av == "auto" else {"api_version": tuple(int(x) for x in av.split("."))}
p = KafkaProducer(bootstrap_servers=b, compression_type="gzip", acks="all", **kw)
for i in range(5):
    p.send(topic, key=b"k%d" % i, value=b"v%d" % i, headers=[("h", b"x")] if av != "0.11.0" else None, partition=0)
p.flush(); p.close()
c = KafkaConsumer(bootstrap_servers=b, group_id=None, consumer_timeout_ms=1500, auto_offset_reset="earliest", **kw)
tp = TopicPartition(topic, 0)
c.assign([tp]); c.seek_to_beginning()
vals = [m.value.decode() for m in c]
print(",".join(vals), c.beginning_offsets([tp])[tp], c.end_offsets([tp])[tp])
`

func TestKafkaPythonOldVersions(t *testing.T) {
	eachBroker(t, func(t *testing.T, b broker) {
		if err := exec.Command("/usr/bin/python3", "-c", "import kafka").Run(); err != nil {
			t.Skip("kafka-python not installed (Debian python3-kafka)")
		}
		for _, av := range []string{"0.11.0", "1.0.0", "2.0.0", "auto"} {
			t.Run(av, func(t *testing.T) {
				t.Parallel()
				topic := topicName(t, "t")
				ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
				defer cancel()
				cmd := exec.CommandContext(ctx, "timeout", "50", "/usr/bin/python3", "-c", kafkaPythonScript, b.addr, topic, av)
				cmd.Dir = t.TempDir() // keep ./kafka (this repo's package) off sys.path
				out, err := cmd.CombinedOutput()
				if err != nil {
					t.Fatalf("kafka-python %s: %v\n%s", av, err, out)
				}
				if got := strings.TrimSpace(string(out)); got != "v0,v1,v2,v3,v4 0 5" {
					t.Fatalf("kafka-python %s: %q", av, got)
				}
			})
		}
	})
}
