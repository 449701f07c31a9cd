package chaos

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"
)

// TestDriversRefuseBadConfig: a workload without seeds, topic, group or
// interpreter is refused at once with a clear error, dialling nothing and
// recording nothing.
func TestDriversRefuseBadConfig(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	l := NewLedger()
	seeds := []string{"127.0.0.1:1"}
	cases := []struct {
		name, want string
		run        func() error
	}{
		{"franz no seeds", "no seed brokers", func() error { return RunFranzProducers(ctx, ProducerConfig{Topic: "t"}, l) }},
		{"franz empty seed", "empty seed", func() error { return RunFranzProducers(ctx, ProducerConfig{Seeds: []string{" "}, Topic: "t"}, l) }},
		{"franz no topic", "no topic", func() error { return RunFranzProducers(ctx, ProducerConfig{Seeds: seeds}, l) }},
		{"librdkafka no python", "no Python", func() error {
			return RunLibrdkafkaProducer(ctx, LibrdkafkaConfig{Seeds: seeds, Topic: "t"}, l)
		}},
		{"group no id", "no group id", func() error { return RunGroup(ctx, GroupConfig{Seeds: seeds, Topic: "t"}, l) }},
		{"final no seeds", "no seed brokers", func() error { return ReadAll(ctx, nil, "t", l) }},
		{"topic no name", "no topic", func() error { return EnsureTopic(ctx, seeds, "", 1, 1, nil) }},
	}
	for _, c := range cases {
		err := c.run()
		if !errors.Is(err, errConfig) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want a configuration error saying %q", c.name, err, c.want)
		}
	}
	if h := l.History(); len(h.Acks)+len(h.Failures)+len(h.Reads) != 0 || h.FinalEnds != nil {
		t.Fatalf("refused drivers recorded something: %+v", h)
	}
	r := Report{Faults: []FaultGap{{Fault: Fault{Name: "a"}}}}
	if _, ok := r.Fault("a"); !ok {
		t.Fatal("Report.Fault does not find a")
	}
	if _, ok := r.Fault("b"); ok {
		t.Fatal("Report.Fault finds b")
	}
}
