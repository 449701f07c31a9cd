package meta

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"strconv"
	"strings"
)

// Topics is every topic by name, with its partitions, read at one
// revision.
type Topics map[string]Topic

// Topic is a topic record with its version and its partitions.
type Topic struct {
	Record  TopicRecord
	Version int64
	// Partitions is indexed by partition number, len Record.Partitions.
	Partitions []Partition
}

// Partition is a partition's state with its version (0: the key is
// missing, which a topic made by CreateTopic never shows).
type Partition struct {
	State   PartitionState
	Version int64
}

// TopicKey and PartitionKey are the keys of a topic and of one partition.
func TopicKey(name string) string { return TopicsPrefix + name }

// PartitionKey is partitions/{name}/{p}.
func PartitionKey(name string, p int32) string {
	return PartitionsPrefix + name + "/" + strconv.FormatInt(int64(p), 10)
}

// validTopic rejects names that would make keys ambiguous ('/' would let
// partitions/a/b/0 belong to two topics); Kafka's names never have one.
func validTopic(name string) error {
	if name == "" || strings.ContainsAny(name, "/\x00") {
		return fmt.Errorf("%w: topic name %q", errInvalid, name)
	}
	return nil
}

func putJSON(key string, v any) (Op, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return Op{}, fmt.Errorf("meta: encode %s: %w", key, err)
	}
	return Op{Key: key, Value: b}, nil
}

// maxTxnOps is how many ops the helpers put in one Txn: etcd's default
// --max-txn-ops (128). A topic with more partitions is written in steps
// that readers always see whole (below).
const maxTxnOps = 128

// CreateTopic writes a topic and its partitions, if no topic of that name
// exists (ErrExists otherwise). len(parts) must be t.Partitions. Up to 127
// partitions it is one Txn; a larger topic is created with its first 127
// partitions and grown by AddPartitions steps, each a CAS on the topic, so
// a reader sees a whole topic at every revision (briefly with fewer
// partitions, as after Kafka's CreatePartitions) and a creator that dies
// half-way leaves a smaller, consistent topic.
func CreateTopic(ctx context.Context, s Store, t TopicRecord, parts []PartitionState) error {
	if err := validTopic(t.Name); err != nil {
		return err
	}
	if int(t.Partitions) != len(parts) || len(parts) == 0 {
		return fmt.Errorf("%w: topic %s has %d partitions, %d states given", errInvalid, t.Name, t.Partitions, len(parts))
	}
	first := parts[:min(len(parts), maxTxnOps-1)]
	t.Partitions = int32(len(first))
	ops, err := topicOps(t, 0, first)
	if err != nil {
		return err
	}
	ok, rev, err := s.Txn(ctx, []Cmp{{Key: TopicKey(t.Name)}}, ops)
	if err != nil {
		return fmt.Errorf("create topic %s: %w", t.Name, err)
	}
	if !ok {
		return fmt.Errorf("create topic %s: %w", t.Name, ErrExists)
	}
	if rest := parts[len(first):]; len(rest) > 0 {
		if _, err := addPartitions(ctx, s, t, rev, rest); err != nil {
			return fmt.Errorf("create topic %s: %d of %d partitions made: %w", t.Name, t.Partitions, len(parts), err)
		}
	}
	return nil
}

// topicOps puts rec and the states of partitions first, first+1, ...
func topicOps(rec TopicRecord, first int32, states []PartitionState) ([]Op, error) {
	op, err := putJSON(TopicKey(rec.Name), rec)
	if err != nil {
		return nil, err
	}
	ops := []Op{op}
	for i, st := range states {
		op, err := putJSON(PartitionKey(rec.Name, first+int32(i)), st)
		if err != nil {
			return nil, err
		}
		ops = append(ops, op)
	}
	return ops, nil
}

// LoadTopics reads every topic and partition. The two prefixes are read
// one after the other; the topics are read again until they did not change
// in between, so the result is one consistent state, valid at the returned
// revision (watch topics/ and partitions/ from it).
func LoadTopics(ctx context.Context, s Store) (Topics, int64, error) {
	topics, _, err := s.List(ctx, TopicsPrefix)
	if err != nil {
		return nil, 0, fmt.Errorf("load topics: %w", err)
	}
	for attempt := 0; ; attempt++ {
		parts, rev, err := s.List(ctx, PartitionsPrefix)
		if err != nil {
			return nil, 0, fmt.Errorf("load partitions: %w", err)
		}
		again, _, err := s.List(ctx, TopicsPrefix)
		if err != nil {
			return nil, 0, fmt.Errorf("load topics: %w", err)
		}
		if sameVersions(topics, again) {
			return assemble(topics, parts, rev)
		}
		if attempt == 20 {
			return nil, 0, fmt.Errorf("load topics: %w (topics kept changing)", ErrConflict)
		}
		topics = again
	}
}

func sameVersions(a, b []KV) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i].Key != b[i].Key || a[i].Version != b[i].Version {
			return false
		}
	}
	return true
}

func assemble(topics, parts []KV, rev int64) (Topics, int64, error) {
	out := make(Topics, len(topics))
	for _, kv := range topics {
		var rec TopicRecord
		if err := json.Unmarshal(kv.Value, &rec); err != nil {
			return nil, 0, fmt.Errorf("load topics: %s: %w", kv.Key, err)
		}
		if rec.Partitions < 0 || rec.Partitions > 1<<20 {
			return nil, 0, fmt.Errorf("load topics: %s: %d partitions", kv.Key, rec.Partitions)
		}
		out[rec.Name] = Topic{Record: rec, Version: kv.Version, Partitions: make([]Partition, rec.Partitions)}
	}
	for _, kv := range parts {
		name, num, ok := strings.Cut(strings.TrimPrefix(kv.Key, PartitionsPrefix), "/")
		p, err := strconv.ParseInt(num, 10, 32)
		t, known := out[name]
		if !ok || err != nil || !known || p < 0 || p >= int64(len(t.Partitions)) {
			continue // not a partition of a topic at this revision
		}
		var st PartitionState
		if err := json.Unmarshal(kv.Value, &st); err != nil {
			return nil, 0, fmt.Errorf("load partitions: %s: %w", kv.Key, err)
		}
		t.Partitions[p] = Partition{State: st, Version: kv.Version}
	}
	return out, rev, nil
}

// UpdatePartition writes a partition's state if its version is still
// version (ErrConflict otherwise: reload and decide again) and returns the
// new version.
func UpdatePartition(ctx context.Context, s Store, topic string, p int32, version int64, st PartitionState) (int64, error) {
	if err := validTopic(topic); err != nil {
		return 0, err
	}
	if version <= 0 || p < 0 {
		return 0, fmt.Errorf("%w: update %s-%d at version %d", errInvalid, topic, p, version)
	}
	key := PartitionKey(topic, p)
	op, err := putJSON(key, st)
	if err != nil {
		return 0, err
	}
	ok, rev, err := s.Txn(ctx, []Cmp{{Key: key, Version: version}}, []Op{op})
	if err != nil {
		return 0, fmt.Errorf("update %s-%d: %w", topic, p, err)
	}
	if !ok {
		return 0, fmt.Errorf("update %s-%d: %w", topic, p, ErrConflict)
	}
	return rev, nil
}

// readTopic reads a topic record, ErrConflict unless it is at version.
func readTopic(ctx context.Context, s Store, name string, version int64) (TopicRecord, error) {
	if err := validTopic(name); err != nil {
		return TopicRecord{}, err
	}
	kv, err := s.Get(ctx, TopicKey(name))
	if err != nil {
		return TopicRecord{}, err
	}
	if kv.Version == 0 || kv.Version != version {
		return TopicRecord{}, fmt.Errorf("topic %s at version %d, not %d: %w", name, kv.Version, version, ErrConflict)
	}
	var rec TopicRecord
	if err := json.Unmarshal(kv.Value, &rec); err != nil {
		return TopicRecord{}, fmt.Errorf("topic %s: %w", name, err)
	}
	return rec, nil
}

// DeleteTopic deletes a topic and its partitions if the topic's version
// is still version (ErrConflict otherwise, and when it is gone). The topic
// key goes first, with as many partitions as fit the Txn, so the topic
// disappears at once; the other partition keys follow, each step only
// while the name is still absent (a partition key without its topic is
// ignored by LoadTopics, and a topic created again under the name
// overwrites its own).
func DeleteTopic(ctx context.Context, s Store, name string, version int64) error {
	rec, err := readTopic(ctx, s, name, version)
	if err != nil {
		return fmt.Errorf("delete topic: %w", err)
	}
	ops := []Op{{Key: TopicKey(name), Delete: true}}
	p := rec.Partitions - 1
	for ; p >= 0 && len(ops) < maxTxnOps; p-- {
		ops = append(ops, Op{Key: PartitionKey(name, p), Delete: true})
	}
	ok, _, err := s.Txn(ctx, []Cmp{{Key: TopicKey(name), Version: version}}, ops)
	if err != nil {
		return fmt.Errorf("delete topic %s: %w", name, err)
	}
	if !ok {
		return fmt.Errorf("delete topic %s: %w", name, ErrConflict)
	}
	for p >= 0 {
		ops = ops[:0]
		for ; p >= 0 && len(ops) < maxTxnOps; p-- {
			ops = append(ops, Op{Key: PartitionKey(name, p), Delete: true})
		}
		ok, _, err := s.Txn(ctx, []Cmp{{Key: TopicKey(name)}}, ops)
		if err != nil {
			return fmt.Errorf("delete topic %s: partitions from %d on left: %w", name, p+1, err)
		}
		if !ok {
			return nil // created again: its partitions are its own
		}
	}
	return nil
}

// SetTopicConfigs replaces a topic's configs if its version is still
// version, and returns the new version.
func SetTopicConfigs(ctx context.Context, s Store, name string, version int64, configs map[string]string) (int64, error) {
	rec, err := readTopic(ctx, s, name, version)
	if err != nil {
		return 0, fmt.Errorf("set topic configs: %w", err)
	}
	rec.Configs = maps.Clone(configs)
	op, err := putJSON(TopicKey(name), rec)
	if err != nil {
		return 0, err
	}
	return casTopic(ctx, s, name, version, []Op{op})
}

// AddPartitions appends partitions to a topic (their states in order) and
// raises its count if its version is still version, and returns the
// topic's new version: one Txn, or for more than 127 partitions one CAS
// on the topic per step, each step a whole topic.
func AddPartitions(ctx context.Context, s Store, name string, version int64, newParts []PartitionState) (int64, error) {
	if len(newParts) == 0 {
		return 0, fmt.Errorf("%w: add no partitions to %s", errInvalid, name)
	}
	rec, err := readTopic(ctx, s, name, version)
	if err != nil {
		return 0, fmt.Errorf("add partitions: %w", err)
	}
	return addPartitions(ctx, s, rec, version, newParts)
}

func addPartitions(ctx context.Context, s Store, rec TopicRecord, version int64, newParts []PartitionState) (int64, error) {
	for len(newParts) > 0 {
		step := newParts[:min(len(newParts), maxTxnOps-1)]
		first := rec.Partitions
		rec.Partitions += int32(len(step))
		ops, err := topicOps(rec, first, step)
		if err != nil {
			return 0, err
		}
		if version, err = casTopic(ctx, s, rec.Name, version, ops); err != nil {
			return 0, err
		}
		newParts = newParts[len(step):]
	}
	return version, nil
}

func casTopic(ctx context.Context, s Store, name string, version int64, ops []Op) (int64, error) {
	ok, rev, err := s.Txn(ctx, []Cmp{{Key: TopicKey(name), Version: version}}, ops)
	if err != nil {
		return 0, fmt.Errorf("topic %s: %w", name, err)
	}
	if !ok {
		return 0, fmt.Errorf("topic %s: %w", name, ErrConflict)
	}
	return rev, nil
}
