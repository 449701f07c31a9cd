package tiering

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	plog "github.com/zombi-dev/zombi/log"
)

// Leadership says which partitions this node leads, and in which leader
// epoch (cluster mode: the replica manager's view). With it the tier is the
// cluster's shared cold tier (issue 19 point 4): only a partition's leader
// flushes it, its manifest commits are conditional writes fenced by the
// leader epoch, and every other replica follows the manifest the leader
// writes. Nil: one node, every partition flushed here.
type Leadership interface {
	LeaderEpoch(topic string, p int32) (epoch int32, leader bool)
}

// clustered reports whether the tier is one of a cluster's.
func (t *Tier) clustered() bool { return t.cfg.Leadership != nil }

// leads reports whether this node leads the partition now, in epoch.
func (t *Tier) leads(ps *partState, epoch int32) bool {
	e, ok := t.cfg.Leadership.LeaderEpoch(ps.topic, ps.part)
	return ok && e == epoch
}

// keySuffix ends the keys of the segments and manifest chunks a cluster
// leader writes: the writer's topic id (its first 8 hex digits) and leader
// epoch. Two leaders (a stale one and its successor) or two incarnations of
// a topic name never write the same key, so no writer overwrites an object
// another one's manifest lists, and an orphan's epoch says whether its
// writer can still commit it.
func keySuffix(uuid string, epoch int32) string {
	return fmt.Sprintf("-%.8s-e%08x", uuid, uint32(epoch))
}

// suffixLen is len(keySuffix(...)).
const suffixLen = 19

func validSuffix(s string) bool {
	if len(s) != suffixLen || s[0] != '-' || s[9:11] != "-e" {
		return false
	}
	_, err1 := hex.DecodeString(s[1:9])
	_, err2 := strconv.ParseUint(s[11:], 16, 32)
	return err1 == nil && err2 == nil
}

// keyEpoch is the leader epoch in a cluster-mode key (its name before the
// extension ends with keySuffix), or -1 for a key written alone.
func keyEpoch(key string) int64 {
	dot := len(key) - 1
	for dot >= 0 && key[dot] != '.' {
		dot--
	}
	if dot < suffixLen || !validSuffix(key[dot-suffixLen:dot]) {
		return -1
	}
	e, _ := strconv.ParseUint(key[dot-8:dot], 16, 32)
	return int64(e)
}

// suffix is the key suffix of the objects saving m writes.
func (m *Manifest) suffix() string {
	if !m.fenced {
		return ""
	}
	return keySuffix(m.TopicUUID, m.LeaderEpoch)
}

// errFenced is a leader whose epoch a newer leader's manifest passed.
var errFenced = errors.New("a newer leader epoch wrote the manifest")

// readHead reads a partition's manifest head with its ETag and its chunks;
// nil and "" when there is none.
func (t *Tier) readHead(ctx context.Context, topic string, part int32) (*Manifest, string, error) {
	cs, ok := t.st.(condStore)
	if !ok {
		return nil, "", errNoConditional
	}
	key := manifestKey(topic, part)
	body, tag, err := cs.GetTagged(ctx, key)
	if errors.Is(err, ErrNotFound) {
		return nil, "", nil
	}
	if err != nil {
		return nil, "", err
	}
	m, err := decodeManifest(key, body, func(k string) ([]byte, error) { return t.st.Get(ctx, k, 0, -1) })
	if err != nil {
		return nil, "", fmt.Errorf("manifest %s: %w", key, err)
	}
	return m, tag, nil
}

// claim makes this node, leader in epoch, the writer of the partition's
// manifest (Kafka's leader taking over its log): it reads the head and
// writes it back at its epoch, conditional on the ETag read. From then on
// a commit of an older leader fails (its If-Match no longer holds), and the
// orphans of older epochs can be deleted (their writers can no longer
// commit them). A head from a newer epoch: this node is a stale leader and
// stops (errFenced). A head of another topic id left alone for
// foreignHeadAge (an earlier incarnation of the name no node deleted) is
// replaced by an empty one and its objects deleted. Under flushMu.
func (t *Tier) claim(ps *partState, epoch int32) error {
	uuid := hex.EncodeToString(ps.uuid[:])
	cur, tag, err := t.readHead(t.ctx, ps.topic, ps.part)
	if err != nil {
		return err
	}
	var old *Manifest
	if cur != nil && cur.TopicUUID == uuid && cur.LeaderEpoch > epoch {
		ps.man.Store(cur)
		return fmt.Errorf("%w: %s/%d at epoch %d, ours %d", errFenced, ps.topic, ps.part, cur.LeaderEpoch, epoch)
	}
	if cur != nil && cur.TopicUUID != uuid {
		// Another topic id's head: normally a deleted topic's, which the
		// nodes that held it delete (deleteIncarnation) in moments. It may
		// also be a newer topic of the name that this node, its catalog
		// lagging, does not know yet: only a head left alone for a while
		// (no node deleted it) is replaced.
		if age := time.Since(time.UnixMilli(cur.UpdatedMs)); age < t.foreignHeadAge() {
			return fmt.Errorf("%w: %s/%d: the head belongs to topic id %s, written %s ago", errFenced, ps.topic, ps.part, cur.TopicUUID, age.Round(time.Second))
		}
		old, cur = cur, nil
	}
	if cur != nil {
		// A clean leader holds everything below the cold end (the old
		// leader flushed below its high watermark, which every in-sync
		// replica had). One that does not was elected uncleanly: the
		// cold tier and its log disagree, and it does not flush (Kafka
		// does not support unclean elections with tiered storage either).
		if leo, err := t.l.LogEndOffset(ps.topic, ps.part); err == nil && leo < cur.End {
			ps.man.Store(cur)
			return fmt.Errorf("%w: %s/%d: this leader's log ends at %d, below the cold end %d (an unclean election?)", errFenced, ps.topic, ps.part, leo, cur.End)
		}
	}
	if cur == nil {
		cur = &Manifest{Version: manifestVersion, Topic: ps.topic, Partition: ps.part, TopicUUID: uuid}
	}
	m := cur.clone()
	m.fenced, m.etag, m.LeaderEpoch = true, tag, epoch
	if info, ok := t.l.Topic(ps.topic); ok {
		m.Partitions = info.Partitions
	}
	m.Generation++
	m.UpdatedMs = time.Now().UnixMilli()
	dropped, err := saveManifest(t.ctx, t.st, m)
	if err != nil {
		return err
	}
	ps.man.Store(m)
	ps.claimed, ps.headTag, ps.cleaned = epoch, m.etag, false
	t.deleteChunks(dropped)
	if old != nil {
		t.logger.Info("manifest of an earlier topic of the same name replaced; deleting its objects", "topic", ps.topic, "partition", ps.part, "old_uuid", old.TopicUUID, "uuid", uuid)
		t.deleteSegments(old.Segments)
		t.deleteChunks(old.chunks)
	}
	t.logger.Debug("cold tier: manifest claimed", "topic", ps.topic, "partition", ps.part, "epoch", epoch, "end", m.End)
	return nil
}

// runShared is a job in a cluster: a follower follows; the leader claims
// the manifest at its epoch if it has not yet, then flushes and applies
// cold retention as alone, every head write conditional. Under flushMu.
func (t *Tier) runShared(ps *partState) error {
	epoch, leader := t.cfg.Leadership.LeaderEpoch(ps.topic, ps.part)
	if !leader {
		return t.follow(ps)
	}
	if ps.claimed != epoch {
		if err := t.claim(ps, epoch); err != nil {
			if errors.Is(err, errFenced) || errors.Is(err, ErrPreconditionFailed) {
				// Not ours (yet): the catalog will say so, or the next
				// turn claims again.
				t.logger.Info("cold tier: not the manifest's writer", "topic", ps.topic, "partition", ps.part, "epoch", epoch, "err", err)
				ps.lastFlush = time.Now()
				return nil
			}
			return err
		}
	}
	err := t.flushAndRetain(ps)
	if errors.Is(err, ErrPreconditionFailed) {
		// Another writer committed the head since this leader claimed it:
		// a newer leader, or this one's own write whose answer was lost.
		// Nothing was committed (nor trimmed, nor deleted); the next turn
		// re-reads the head.
		t.logger.Info("cold tier: manifest changed by another writer; re-reading it", "topic", ps.topic, "partition", ps.part, "epoch", ps.claimed)
		ps.claimed = -1
		return nil
	}
	return err
}

// foreignHeadAge is how long a head of another topic id must have been
// left alone before a leader replaces it (claim).
func (t *Tier) foreignHeadAge() time.Duration {
	return max(time.Minute, 10*t.cfg.FlushInterval)
}

// follow is a follower's job (a replica that does not lead): re-read the
// leader's manifest head when it changed (one GET per flush interval) so
// that reads below the local log start are served from the segments the
// leader flushed, and drop the hot copy below the cold end (never above
// this node's high watermark), as the leader does.
func (t *Tier) follow(ps *partState) error {
	ps.claimed = -1
	ps.lastFlush = time.Now()
	cs, ok := t.st.(condStore)
	if !ok {
		return errNoConditional
	}
	key := manifestKey(ps.topic, ps.part)
	body, tag, err := cs.GetTagged(t.ctx, key)
	if errors.Is(err, ErrNotFound) {
		t.succeeded()
		return nil
	}
	if err != nil {
		return err
	}
	t.succeeded() // S3 answers (a node that only follows ends its outage here)
	if tag != ps.headTag || ps.man.Load() == nil {
		m, err := decodeManifest(key, body, func(k string) ([]byte, error) { return t.st.Get(t.ctx, k, 0, -1) })
		if err != nil {
			return fmt.Errorf("manifest %s: %w", key, err)
		}
		if m.TopicUUID != hex.EncodeToString(ps.uuid[:]) {
			return nil // another incarnation's: not this partition's data
		}
		ps.man.Store(m)
		ps.headTag = tag
	}
	if m := ps.man.Load(); m != nil && t.hotRetentionFor(ps) == 0 {
		t.trimHot(ps, m.End)
	}
	return nil
}

// orphanable reports whether an object the head does not list may be
// deleted: alone always; in a cluster only when its writer's epoch is not
// newer than the epoch this leader claimed (a newer leader's upload may be
// about to be committed).
func (t *Tier) orphanable(ps *partState, key string) bool {
	return !t.clustered() || keyEpoch(key) <= int64(ps.claimed)
}

// loadShared installs the manifests read at start in a cluster. The
// catalog (etcd), not the bucket, says which topics exist: nothing is
// rebuilt, moved or deleted here, and no manifest is written (only a
// leader writes, after its claim). A manifest is kept for the incarnation
// it names; refreshShared drops it if the log's topic turns out to be
// another one.
func (t *Tier) loadShared(ms []*Manifest) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, m := range ms {
		var id [16]byte
		if b, err := hex.DecodeString(m.TopicUUID); err == nil && len(b) == 16 {
			copy(id[:], b)
		}
		ps := t.newPart(m.Topic, m.Partition, id)
		ps.man.Store(m)
		ps.scanned = m.End
		t.parts[tpKey{m.Topic, m.Partition}] = ps
	}
	if len(ms) > 0 {
		t.logger.Info("shared cold tier loaded", "partitions", len(ms))
	}
}

// refreshShared is refreshTopics in a cluster: it tracks the log's topics
// and partitions and gives a partition whose topic id changed (deleted and
// created again) a fresh state. It deletes nothing: a node dropping a topic
// from its log does not mean the cluster did (cold data of topics deleted
// from the catalog is deleted by DeleteTopicData, by topic id).
//
// The local log follows the catalog (every node holds every topic), so a
// topic id it held and no longer holds was deleted from the catalog (or
// replaced by a new topic of the name): that incarnation's cold data is
// deleted, by topic id (deleteIncarnation), on every node that saw it —
// idempotent, and it never touches another incarnation's objects.
func (t *Tier) refreshShared() {
	// The internal topics (__consumer_offsets, __transaction_state) stay
	// hot: compacted state, not history to tier (Kafka tiers none).
	infos := slices.DeleteFunc(t.l.Topics(), func(info plog.TopicInfo) bool { return plog.IsInternalTopic(info.Name) })
	t.mu.Lock()
	defer t.mu.Unlock()
	live := make(map[string]string, len(infos))
	for _, info := range infos {
		live[info.Name] = hex.EncodeToString(info.UUID[:])
	}
	for name, old := range t.uuids {
		if live[name] == old {
			continue
		}
		delete(t.uuids, name)
		for k, ps := range t.parts {
			if k.topic == name && hex.EncodeToString(ps.uuid[:]) == old {
				ps.dead.Store(true)
				t.dropPendingLocked(ps)
				delete(t.parts, k)
			}
		}
		t.logger.Info("topic deleted from the catalog; deleting its cold data", "topic", name, "uuid", old)
		t.bg.Add(1)
		go t.deleteIncarnation(name, old)
	}
	for _, info := range infos {
		t.uuids[info.Name] = live[info.Name]
		eff := info.Effective()
		for p := int32(0); p < info.Partitions; p++ {
			k := tpKey{info.Name, p}
			if ps := t.parts[k]; ps == nil || ps.uuid != info.UUID {
				if ps != nil {
					ps.dead.Store(true)
					t.dropPendingLocked(ps)
				}
				t.parts[k] = t.newPart(info.Name, p, info.UUID)
			}
			t.parts[k].eff.Store(eff)
		}
	}
}

// dropPendingLocked takes a partition's unflushed bytes out of the append
// gate's total (it is not flushed here).
func (t *Tier) dropPendingLocked(ps *partState) {
	ps.acct.Lock()
	t.pending.Add(-ps.pendB)
	ps.pendB, ps.counting = 0, false
	ps.acct.Unlock()
}

// deleteIncarnation deletes the cold data of topic id uuid under name:
// for every partition whose head names that id, the segments and chunks it
// lists, then the head (conditional on the ETag read: a head a new
// incarnation's leader claimed meanwhile stays); and every object whose key
// carries that id (keySuffix: uploads no head listed). Objects of another
// id are never touched, so a topic created again under the name loses
// nothing. Every node that held the topic runs it; deletes of what is gone
// are no-ops. Retried with backoff until done or the tier closes.
func (t *Tier) deleteIncarnation(name, uuid string) {
	defer t.bg.Done()
	for attempt := 0; ; attempt++ {
		err := t.deleteIncarnationOnce(name, uuid)
		if err == nil {
			return
		}
		if attempt == 0 {
			t.logger.Warn("deleting cold data of a deleted topic failed; retrying", "topic", name, "uuid", uuid, "err", err)
		}
		select {
		case <-t.ctx.Done():
			return
		case <-time.After(backoff(attempt + 1)):
		}
	}
}

func (t *Tier) deleteIncarnationOnce(name, uuid string) error {
	cs, ok := t.st.(condStore)
	if !ok {
		return errNoConditional
	}
	var heads []int32
	err := t.st.List(t.ctx, "manifests/"+name+"/", "", func(k string, _ int64) bool {
		rest, ok := strings.CutSuffix(strings.TrimPrefix(k, "manifests/"+name+"/"), ".json")
		if p, err := strconv.ParseInt(rest, 10, 32); ok && err == nil {
			heads = append(heads, int32(p))
		}
		return true
	})
	if err != nil {
		return err
	}
	for _, part := range heads {
		m, tag, err := t.readHead(t.ctx, name, part)
		if err != nil {
			return err
		}
		if m == nil || m.TopicUUID != uuid {
			continue
		}
		keys := make([]string, 0, len(m.Segments)+len(m.chunks))
		for _, s := range m.Segments {
			keys = append(keys, s.Key)
			t.indexes.remove(s.Key)
		}
		for _, c := range m.chunks {
			keys = append(keys, c.Key)
		}
		if err := t.st.Delete(t.ctx, keys...); err != nil {
			return err
		}
		if err := cs.DeleteIf(t.ctx, manifestKey(name, part), tag); err != nil && !errors.Is(err, ErrPreconditionFailed) {
			return err
		}
	}
	// Uploads of that incarnation no head listed (a leader's crash between
	// a segment PUT and its commit, a stale leader's upload).
	id8 := uuid
	if len(id8) > 8 {
		id8 = id8[:8]
	}
	for _, prefix := range []string{"segments/" + name + "/", "manifest-chunks/" + name + "/"} {
		var keys []string
		if err := t.st.List(t.ctx, prefix, "", func(k string, _ int64) bool {
			if keyUUID(k) == id8 {
				keys = append(keys, k)
			}
			return true
		}); err != nil {
			return err
		}
		if err := t.st.Delete(t.ctx, keys...); err != nil {
			return err
		}
	}
	t.logger.Info("cold data of a deleted topic deleted", "topic", name, "uuid", uuid)
	return nil
}

// keyUUID is the topic id prefix in a cluster-mode key, "" for a key
// written alone.
func keyUUID(key string) string {
	if keyEpoch(key) < 0 {
		return ""
	}
	dot := strings.LastIndexByte(key, '.')
	return key[dot-suffixLen+1 : dot-suffixLen+9]
}
