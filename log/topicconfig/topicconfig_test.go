package topicconfig

import (
	"errors"
	"testing"
)

func TestValidate(t *testing.T) {
	cases := []struct {
		name, value, msg string // msg "" when accepted
	}{
		{"retention.ms", "-1", ""},
		{"retention.ms", "-2", "Invalid value -2 for configuration retention.ms: Value must be at least -1"},
		{"retention.bytes", "-1", ""},
		{"local.retention.ms", "-2", ""},
		{"local.retention.ms", "-3", "Invalid value -3 for configuration local.retention.ms: Value must be at least -2"},
		{"max.message.bytes", "x", "Invalid value x for configuration max.message.bytes: Not a number of type INT"},
		{"message.timestamp.type", "LogAppendTime", ""},
		{"message.timestamp.type", "logappendtime", "Invalid value logappendtime for configuration message.timestamp.type: String must be one of: CreateTime, LogAppendTime"},
		{"cleanup.policy", "delete", ""},
		{"cleanup.policy", "compact", "Invalid value compact for configuration cleanup.policy: Zombi does not compact topics; only cleanup.policy=delete is supported"},
		{"cleanup.policy", "delete,compact", "Invalid value delete,compact for configuration cleanup.policy: Zombi does not compact topics; only cleanup.policy=delete is supported"},
		{"min.insync.replicas", "2", ""},
		{"min.insync.replicas", "0", "Invalid value 0 for configuration min.insync.replicas: Value must be at least 1"},
		{"min.insync.replicas", "2147483648", "Invalid value 2147483648 for configuration min.insync.replicas: Not a number of type INT"},
		{"unclean.leader.election.enable", "TRUE", ""},
		{"unclean.leader.election.enable", "yes", "Invalid value yes for configuration unclean.leader.election.enable: Expected value to be either true or false"},
		{"nope", "1", "Unknown topic config name: nope"},
	}
	for _, c := range cases {
		err := Validate(c.name, c.value)
		if c.msg == "" {
			if err != nil {
				t.Errorf("%s=%s: %v", c.name, c.value, err)
			}
			continue
		}
		if err == nil || err.Error() != c.msg || !errors.Is(err, ErrInvalid) {
			t.Errorf("%s=%s: %v, want %q", c.name, c.value, err, c.msg)
		}
	}
}

func TestApply(t *testing.T) {
	b := KafkaDefaults()
	cur := map[string]string{"retention.ms": "5", "segment.ms": "10"}
	got, err := Apply(cur, []Change{{Name: "retention.ms", Op: Set, Value: "7"}, {Name: "segment.ms", Op: Delete}, {Name: "no.such", Op: Delete}}, b)
	if err != nil || len(got) != 1 || got["retention.ms"] != "7" || cur["retention.ms"] != "5" {
		t.Fatalf("set/delete: %v %v (cur %v)", got, err, cur)
	}
	for _, op := range []Op{Append, Subtract} {
		if _, err := Apply(cur, []Change{{Name: "retention.ms", Op: op, Value: "1"}}, b); !errors.Is(err, ErrInvalid) {
			t.Errorf("op %d on a non-list config: %v", op, err)
		}
	}
	_, err = Apply(nil, []Change{{Name: "retention.ms", Op: Append, Value: "1"}}, b)
	if err == nil || err.Error() != "Can't APPEND to key retention.ms because its type is not LIST." {
		t.Errorf("append message: %v", err)
	}
	// cleanup.policy is a list: APPEND starts from the default (delete).
	if got, err := Apply(nil, []Change{{Name: "cleanup.policy", Op: Append, Value: "delete"}}, b); err != nil || got["cleanup.policy"] != "delete" {
		t.Errorf("append delete: %v %v", got, err)
	}
	if _, err := Apply(nil, []Change{{Name: "cleanup.policy", Op: Append, Value: "compact"}}, b); !errors.Is(err, ErrInvalid) {
		t.Errorf("append compact: %v", err)
	}
	if got, err := Apply(nil, []Change{{Name: "cleanup.policy", Op: Subtract, Value: "delete"}}, b); err != nil || got["cleanup.policy"] != "" {
		t.Errorf("subtract delete: %v %v", got, err)
	}
	if _, err := Apply(nil, []Change{{Name: "bogus", Op: Set, Value: "1"}}, b); err == nil || err.Error() != "Unknown topic config name: bogus" {
		t.Errorf("unknown set: %v", err)
	}
}

func TestResolve(t *testing.T) {
	b := Broker{RetentionMs: 100, RetentionBytes: -1, LocalRetentionMs: 7, MaxMessageBytes: 1000}
	e := Resolve(nil, b)
	if e.RetentionMs != 100 || e.LocalRetentionMs != 7 || e.MaxMessageBytes != 1000 || e.LogAppendTime || e.RetentionMsSet || e.LocalRetentionMsSet {
		t.Fatalf("defaults: %+v", e)
	}
	e = Resolve(map[string]string{"retention.ms": "50", "local.retention.ms": "-2", "max.message.bytes": " 10 ", "message.timestamp.type": "LogAppendTime", "retention.bytes": "9"}, b)
	if e.RetentionMs != 50 || e.LocalRetentionMs != 50 || e.MaxMessageBytes != 10 || !e.LogAppendTime || e.RetentionBytes != 9 || !e.RetentionMsSet || !e.LocalRetentionMsSet {
		t.Fatalf("overrides: %+v", e)
	}
}

// TestResolveClusterConfigs: min.insync.replicas from the topic, else the
// broker (ZOMBI_MIN_INSYNC_REPLICAS), else Kafka's 1; and
// unclean.leader.election.enable, false unless the topic says true.
func TestResolveClusterConfigs(t *testing.T) {
	two := KafkaDefaults()
	two.MinInsyncReplicas = 2
	cases := []struct {
		name      string
		overrides map[string]string
		b         Broker
		minISR    int
		unclean   bool
	}{
		{"Kafka's defaults", nil, KafkaDefaults(), 1, false},
		{"a Broker without the field counts as 1", nil, Broker{RetentionMs: -1}, 1, false},
		{"the broker's value", nil, two, 2, false},
		{"the topic's override wins", map[string]string{"min.insync.replicas": "3"}, two, 3, false},
		{"an override below the broker's", map[string]string{"min.insync.replicas": " +1 "}, two, 1, false},
		{"an invalid override is ignored", map[string]string{"min.insync.replicas": "0"}, two, 2, false},
		{"an unparsable override is ignored", map[string]string{"min.insync.replicas": "x"}, two, 2, false},
		{"unclean true in any case", map[string]string{"unclean.leader.election.enable": " TRUE "}, KafkaDefaults(), 1, true},
		{"unclean false", map[string]string{"unclean.leader.election.enable": "false"}, KafkaDefaults(), 1, false},
		{"unclean invalid is false", map[string]string{"unclean.leader.election.enable": "yes"}, KafkaDefaults(), 1, false},
	}
	for _, c := range cases {
		e := Resolve(c.overrides, c.b)
		if e.MinInsyncReplicas != c.minISR || e.UncleanLeaderElection != c.unclean {
			t.Errorf("%s: MinInsyncReplicas %d UncleanLeaderElection %v, want %d %v", c.name, e.MinInsyncReplicas, e.UncleanLeaderElection, c.minISR, c.unclean)
		}
	}
	if v := defaultValue("min.insync.replicas", two); v != "2" {
		t.Errorf("described broker min.insync.replicas %q, want 2", v)
	}
	if v := defaultValue("unclean.leader.election.enable", two); v != "false" {
		t.Errorf("described broker unclean.leader.election.enable %q, want false", v)
	}
	for _, name := range []string{"min.insync.replicas", "unclean.leader.election.enable"} {
		found := false
		for _, h := range Honoured {
			found = found || h == name
		}
		if !found {
			t.Errorf("%s is not in Honoured", name)
		}
	}
}
