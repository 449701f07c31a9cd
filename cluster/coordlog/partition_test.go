package coordlog

import (
	"testing"
	"unicode/utf16"
)

// The vectors were computed with Kafka's own expression in jshell (Java 17):
// Utils.abs(key.hashCode()) % 50, Utils.abs being
// (n == Integer.MIN_VALUE) ? 0 : Math.abs(n) (clients/.../utils/Utils.java),
// as GroupMetadataManager.partitionFor and TransactionStateManager do.
func TestPartitionMatchesKafka(t *testing.T) {
	for _, c := range []struct {
		key  string
		hash int32 // Java's String.hashCode, to pin the hash itself
		want int32
	}{
		{"", 0, 0},
		{"group", 98629247, 47},
		{"my-group", -1906497762, 12},          // negative: & 0x7fffffff would give 36
		{"\U0001F600-txn", 928373504, 4},       // a surrogate pair in UTF-16
		{"polygenelubricants", -2147483648, 0}, // MinInt32: Utils.abs gives 0
		{"GydZG_", -2147483648, 0},
		{"DESIGNING WORKHORSES", 2147394275, 25},
		{"console-consumer-12345", 158455506, 6},
		{"txn-7", 110810516, 16},
		{"é-groupe", -1901585622, 22}, // & 0x7fffffff would give 26
	} {
		if got := javaHash(c.key); got != c.hash {
			t.Errorf("hashCode(%q) = %d, Java says %d", c.key, got, c.hash)
		}
		if got := Partition(c.key); got != c.want {
			t.Errorf("Partition(%q) = %d, Kafka says %d", c.key, got, c.want)
		}
	}
}

// javaHash is String.hashCode, written independently of Partition.
func javaHash(s string) int32 {
	var h int32
	for _, u := range utf16.Encode([]rune(s)) {
		h = 31*h + int32(u)
	}
	return h
}

func TestTopicOf(t *testing.T) {
	if TopicOf(Group) != "__consumer_offsets" || TopicOf(Transaction) != "__transaction_state" {
		t.Fatalf("TopicOf: %s %s", TopicOf(Group), TopicOf(Transaction))
	}
}
