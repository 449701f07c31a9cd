package httpapi

import (
	"fmt"
	"testing"

	"github.com/twmb/franz-go/pkg/kgo"
)

// Kafka's own test vectors (clients/src/test/java/org/apache/kafka/common/utils/UtilsTest.java, testMurmur2).
func TestMurmur2KafkaVectors(t *testing.T) {
	for key, want := range map[string]int32{
		"21":                         -973932308,
		"foobar":                     -790332482,
		"a-little-bit-long-string":   -985981536,
		"a-little-bit-longer-string": -1486304829,
		"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8": -58897971,
		"abc": 479470107,
	} {
		if got := int32(murmur2([]byte(key))); got != want {
			t.Errorf("murmur2(%q) = %d, want %d", key, got, want)
		}
	}
}

// The partition for a key is the one franz-go's Kafka-compatible key
// partitioner picks (and so a Java producer's default partitioner).
func TestKeyPartitionMatchesKgo(t *testing.T) {
	tp := kgo.StickyKeyPartitioner(nil).ForTopic("t")
	for _, n := range []int{1, 2, 3, 4, 7, 12, 100, 1000} {
		for i := range 500 {
			key := []byte(fmt.Sprintf("key-%d-%x", i, i*7919))
			if i%50 == 0 {
				key = key[:i%5] // short keys and the empty key
			}
			want := tp.Partition(&kgo.Record{Key: key}, n)
			if got := keyPartition(key, int32(n)); int(got) != want {
				t.Fatalf("key %q, %d partitions: %d, kgo %d", key, n, got, want)
			}
		}
	}
}

func TestRoundRobinPerTable(t *testing.T) {
	var rr roundRobin
	for i := range 10 {
		if p := rr.next("a", 3); p != int32(i%3) {
			t.Fatalf("a: %d", p)
		}
		if i < 2 {
			if p := rr.next("b", 5); p != int32(i) {
				t.Fatalf("b: %d", p)
			}
		}
	}
}
