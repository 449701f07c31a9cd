package cli

import (
	"testing"

	"github.com/zombi-dev/zombi/internal/kafkatest"
)

// The topic and group suites of kfake_test.go against Apache Kafka 4.4.0
// (the reference broker; skipped where Java or Maven is missing).
func TestCommandsOnApacheKafka(t *testing.T) {
	if testing.Short() {
		t.Skip("starts Apache Kafka")
	}
	b := kafkatest.StartT(t)
	f := useKafka(t, b.Addr, "")
	t.Run("topics", func(t *testing.T) { topicSuite(t, f) })
	t.Run("groups", func(t *testing.T) { groupSuite(t, f) })
}
