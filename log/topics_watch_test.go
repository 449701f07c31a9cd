package log

import (
	"testing"
	"time"
)

// TestWatchTopics: the channel closes at a create, an added partition and
// a delete, and only then.
func TestWatchTopics(t *testing.T) {
	l := openTest(t, t.TempDir())
	closed := func(ch <-chan struct{}) bool {
		select {
		case <-ch:
			return true
		case <-time.After(50 * time.Millisecond):
			return false
		}
	}
	for _, step := range []struct {
		name string
		do   func() error
	}{
		{"create", func() error { _, err := l.CreateTopic("w", 1, nil); return err }},
		{"add partitions", func() error { _, err := l.AddPartitions("w", 3); return err }},
		{"delete", func() error { return l.DeleteTopic("w") }},
	} {
		ch := l.WatchTopics()
		if closed(ch) {
			t.Fatalf("before %s: channel already closed", step.name)
		}
		if err := step.do(); err != nil {
			t.Fatalf("%s: %v", step.name, err)
		}
		if !closed(ch) {
			t.Fatalf("%s did not close the WatchTopics channel", step.name)
		}
	}
}
