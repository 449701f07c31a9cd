package log

import (
	"fmt"
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

// TestTopicNames: sorted, current after each change, and a copy.
func TestTopicNames(t *testing.T) {
	l := openTest(t, t.TempDir())
	for _, n := range []string{"b", "a", "c"} {
		if _, err := l.CreateTopic(n, 1, nil); err != nil {
			t.Fatal(err)
		}
	}
	if got := l.TopicNames(); len(got) != 3 || got[0] != "a" || got[1] != "b" || got[2] != "c" {
		t.Fatalf("TopicNames = %v", got)
	}
	l.TopicNames()[0] = "mutated"
	if err := l.DeleteTopic("b"); err != nil {
		t.Fatal(err)
	}
	if got := l.TopicNames(); len(got) != 2 || got[0] != "a" || got[1] != "c" {
		t.Fatalf("after deleting b: %v", got)
	}
}

// TestTopicNamesConcurrent: the cached list never outlives a change made
// while it was being built.
func TestTopicNamesConcurrent(t *testing.T) {
	l := openTest(t, t.TempDir())
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := range 50 {
			name := fmt.Sprintf("t%02d", i)
			if _, err := l.CreateTopic(name, 1, nil); err != nil {
				t.Error(err)
				return
			}
			if i%3 == 0 {
				if err := l.DeleteTopic(name); err != nil {
					t.Error(err)
					return
				}
			}
		}
	}()
	for running := true; running; {
		select {
		case <-done:
			running = false
		default:
		}
		_ = l.TopicNames()
	}
	var want []string
	for _, info := range l.Topics() {
		want = append(want, info.Name)
	}
	if got := l.TopicNames(); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("TopicNames %v, Topics %v", got, want)
	}
}
