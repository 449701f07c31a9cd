package topicconfig

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
)

// ErrInvalid is wrapped by every refusal of a topic config: Kafka answers
// INVALID_CONFIG, the REST API 400.
var ErrInvalid = errors.New("invalid topic config")

// InvalidError is a topic config refused: an unknown name, a value of the
// wrong type or range (Kafka's message), or a policy Zombi does not
// implement (compaction).
type InvalidError struct{ Msg string }

func (e *InvalidError) Error() string { return e.Msg }

// Is makes errors.Is(err, ErrInvalid) hold.
func (e *InvalidError) Is(target error) bool { return target == ErrInvalid }

func invalid(msg string) error { return &InvalidError{Msg: msg} }

// topicConfigRule is how Kafka 4.4 checks one topic config (LogConfig's
// ConfigDef): its type, bounds and allowed values.
type topicConfigRule struct {
	typ      string // INT, LONG, DOUBLE, BOOLEAN, STRING, LIST
	min, max float64
	oneOf    []string            // STRING: the value, LIST: each element
	check    func(string) string // why the value is refused, "" when it is not
}

func atLeast(typ string, min float64) topicConfigRule {
	return topicConfigRule{typ: typ, min: min, max: math.Inf(1)}
}

func between(typ string, min, max float64) topicConfigRule {
	return topicConfigRule{typ: typ, min: min, max: max}
}

var (
	anyLong    = atLeast("LONG", math.Inf(-1))
	boolean    = topicConfigRule{typ: "BOOLEAN"}
	throttled  = topicConfigRule{typ: "LIST", check: checkThrottledReplicas}
	kafkaLevel = topicConfigRule{typ: "INT", check: func(v string) string {
		if n, _ := strconv.Atoi(v); n != -1 && (n < 1 || n > 9) {
			return "Value must be between 1 and 9 or equal to -1"
		}
		return ""
	}}
)

// kafkaTopicConfigs are the topic configs Apache Kafka 4.4 knows, with its
// checks (what its CreateTopics answers for a bad value). Zombi acts on the
// ones in Honoured; it stores and describes the others.
var kafkaTopicConfigs = map[string]topicConfigRule{
	"cleanup.policy":                          {typ: "LIST", oneOf: []string{"compact", "delete"}},
	"compression.gzip.level":                  kafkaLevel,
	"compression.lz4.level":                   between("INT", 1, 17),
	"compression.type":                        {typ: "STRING", oneOf: []string{"uncompressed", "zstd", "lz4", "snappy", "gzip", "producer"}},
	"compression.zstd.level":                  between("INT", -131072, 22),
	"delete.retention.ms":                     atLeast("LONG", 0),
	"errors.deadletterqueue.group.enable":     boolean,
	"file.delete.delay.ms":                    atLeast("LONG", 0),
	"flush.messages":                          atLeast("LONG", 1),
	"flush.ms":                                atLeast("LONG", 0),
	"follower.replication.throttled.replicas": throttled,
	"index.interval.bytes":                    atLeast("INT", 0),
	"leader.replication.throttled.replicas":   throttled,
	"local.retention.bytes":                   atLeast("LONG", -2),
	"local.retention.ms":                      atLeast("LONG", -2),
	"max.compaction.lag.ms":                   atLeast("LONG", 1),
	"max.decompressed.message.bytes":          atLeast("INT", 1),
	"max.message.bytes":                       atLeast("INT", 0),
	"message.timestamp.after.max.ms":          atLeast("LONG", 0),
	"message.timestamp.before.max.ms":         atLeast("LONG", 0),
	"message.timestamp.type":                  {typ: "STRING", oneOf: []string{"CreateTime", "LogAppendTime"}},
	"min.cleanable.dirty.ratio":               between("DOUBLE", 0, 1),
	"min.compaction.lag.ms":                   atLeast("LONG", 0),
	"min.insync.replicas":                     atLeast("INT", 1),
	"preallocate":                             boolean,
	"remote.copy.lag.bytes":                   atLeast("LONG", -1),
	"remote.copy.lag.ms":                      anyLong,
	"remote.log.copy.disable":                 boolean,
	"remote.log.delete.on.disable":            boolean,
	"remote.storage.enable": {typ: "BOOLEAN", check: func(v string) string {
		if strings.EqualFold(v, "true") {
			return "Tiered Storage functionality is disabled in the broker. Topic cannot be configured with remote log storage."
		}
		return ""
	}},
	"retention.bytes":                anyLong,
	"retention.ms":                   atLeast("LONG", -1),
	"segment.bytes":                  atLeast("INT", 1048576),
	"segment.index.bytes":            atLeast("INT", 4),
	"segment.jitter.ms":              atLeast("LONG", 0),
	"segment.ms":                     atLeast("LONG", 1),
	"unclean.leader.election.enable": boolean,
}

// Known reports whether a topic config name is Kafka 4.4's or Zombi's own.
func Known(name string) bool {
	_, ok := rule(name)
	return ok
}

// Validate checks a topic config as Kafka does (the error's message is
// Kafka's), then refuses what Zombi cannot honour: a cleanup.policy with
// compact. Every error wraps ErrInvalid.
func Validate(name, value string) error {
	if err := ValidateKafka(name, value); err != nil {
		return err
	}
	if name == "cleanup.policy" && hasElem(value, "compact") {
		return invalid(fmt.Sprintf("Invalid value %s for configuration cleanup.policy: Zombi does not compact topics; only cleanup.policy=delete is supported", value))
	}
	return nil
}

// ValidateKafka is Kafka 4.4's check of one topic config alone: Kafka's
// CreateTopics uses it, because Kafka Connect and Kafka Streams create
// their internal topics with cleanup.policy=compact and stop when refused;
// such a topic keeps the config, stored and not honoured (nothing is
// compacted). Every other door refuses compact (Validate).
func ValidateKafka(name, value string) error {
	r, ok := rule(name)
	if !ok {
		return invalid("Unknown topic config name: " + name)
	}
	v := strings.TrimSpace(value)
	bad := func(why string) error {
		return invalid(fmt.Sprintf("Invalid value %s for configuration %s: %s", value, name, why))
	}
	var num float64
	switch r.typ {
	case "INT":
		n, err := strconv.ParseInt(v, 10, 32)
		if err != nil {
			return bad("Not a number of type INT")
		}
		num = float64(n)
	case "LONG":
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return bad("Not a number of type LONG")
		}
		num = float64(n)
	case "DOUBLE":
		n, err := strconv.ParseFloat(v, 64)
		if err != nil || math.IsNaN(n) {
			return bad("Not a number of type DOUBLE")
		}
		num = n
	case "BOOLEAN":
		if !strings.EqualFold(v, "true") && !strings.EqualFold(v, "false") {
			return bad("Expected value to be either true or false")
		}
	case "STRING":
		if r.oneOf != nil && !contains(r.oneOf, v) {
			return bad("String must be one of: " + strings.Join(r.oneOf, ", "))
		}
	case "LIST":
		if r.oneOf != nil && v != "" {
			for _, e := range strings.Split(v, ",") {
				if !contains(r.oneOf, strings.TrimSpace(e)) {
					return bad("String must be one of: " + strings.Join(r.oneOf, ", "))
				}
			}
		}
	}
	if r.typ == "INT" || r.typ == "LONG" || r.typ == "DOUBLE" {
		if r.max != 0 || r.min != 0 {
			if num < r.min {
				return bad("Value must be at least " + strconv.FormatFloat(r.min, 'f', -1, 64))
			}
			if num > r.max {
				return bad("Value must be no more than " + strconv.FormatFloat(r.max, 'f', -1, 64))
			}
		}
	}
	if r.check != nil {
		if why := r.check(v); why != "" {
			return bad(why)
		}
	}
	return nil
}

// checkThrottledReplicas accepts "*" or PARTITION:BROKER,... (or nothing).
func checkThrottledReplicas(v string) string {
	if v == "" || v == "*" {
		return ""
	}
	for _, e := range strings.Split(v, ",") {
		p, b, ok := strings.Cut(strings.TrimSpace(e), ":")
		_, perr := strconv.Atoi(p)
		_, berr := strconv.Atoi(b)
		if !ok || perr != nil || berr != nil {
			return "must be the literal '*' or a list of replicas in the following format: [partitionId]:[brokerId],[partitionId]:[brokerId],..."
		}
	}
	return ""
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// Type is the type Kafka gives a topic config: INT, LONG, DOUBLE, BOOLEAN,
// STRING or LIST (STRING for names it does not know).
func Type(name string) string {
	if r, ok := rule(name); ok {
		return r.typ
	}
	return "STRING"
}

// IsList reports whether a config is a list (what IncrementalAlterConfigs
// may APPEND to and SUBTRACT from).
func IsList(name string) bool { return Type(name) == "LIST" }

// hasElem reports whether a list value holds elem.
func hasElem(list, elem string) bool {
	for _, e := range strings.Split(list, ",") {
		if strings.TrimSpace(e) == elem {
			return true
		}
	}
	return false
}
