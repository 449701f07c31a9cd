package tiering

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"sort"
	"strconv"
	"strings"
	"sync"
)

// Manifest is what the cold tier holds for one partition. It is the only
// source of truth for cold reads: a segment object that no manifest lists is
// an orphan and never read. End is the flush watermark.
//
// In memory it holds the partition's whole segment list. In S3 (version 2,
// 3 when it lists aborted transactions; docs/SEGMENT_FORMAT.md) it is a
// small head object under manifests/{table}/{partition}.json that lists the
// unsealed tail of the segments and refers to immutable chunk objects
// holding the older ones in runs of manifestChunkSegments, so that the
// object rewritten per segment stays small however long the partition is
// kept.
type Manifest struct {
	Version    int    `json:"version"`
	Topic      string `json:"topic"`
	TopicUUID  string `json:"topic_uuid"`
	Partition  int32  `json:"partition"`
	Partitions int32  `json:"partitions"` // the topic's partition count when written
	// LogStart is the first cold offset; End the next offset after the cold
	// range. LogStart == End when no segment is held (all expired).
	LogStart   int64 `json:"log_start"`
	End        int64 `json:"end"`
	Generation int64 `json:"generation"`
	UpdatedMs  int64 `json:"updated_ms"`
	// LeaderEpoch is the leader epoch of the partition's leader that wrote
	// the head (cluster mode; 0 alone).
	LeaderEpoch int32         `json:"leader_epoch,omitempty"`
	Segments    []SegmentMeta `json:"segments"`

	// fenced (cluster mode): the head is saved only over the object whose
	// ETag is etag ("": only when there is none), and keys written carry
	// keySuffix(TopicUUID, LeaderEpoch), so that two writers never
	// overwrite each other's objects.
	fenced bool
	etag   string

	// chunks are the sealed chunk objects the head refers to, in offset
	// order: they hold Segments up to chunks[len-1].End (the first one may
	// also hold segments below LogStart, expired since it was sealed).
	chunks []chunkRef
}

// SegmentMeta describes one segment object.
type SegmentMeta struct {
	Key          string `json:"key"`
	Start        int64  `json:"start"`       // first offset served from this segment
	End          int64  `json:"end"`         // last offset + 1
	BaseOffset   int64  `json:"base_offset"` // base offset of the first batch (<= Start)
	MinTimestamp int64  `json:"min_ts"`      // smallest batch first-timestamp (a hint)
	MaxTimestamp int64  `json:"max_ts"`
	Batches      int    `json:"batches"`
	Bytes        int64  `json:"bytes"` // record batch bytes
	Size         int64  `json:"size"`  // object size
	IndexPos     int64  `json:"index_pos"`
	DataCRC      uint32 `json:"data_crc32c"`
	FlushedMs    int64  `json:"flushed_ms"`
	// Aborted: the transactions whose abort markers are in [Start, End)
	// (omitted when none; manifests before version 3 have none).
	Aborted AbortedList `json:"aborted,omitempty"`
}

// manifestVersion is the version written. Version 1 (everything in one
// object, no chunks) is still read and is rewritten as version 2 by the next
// save. A manifest whose segments list aborted transactions is written as
// abortedManifestVersion, so that a Zombi that does not know them refuses it
// rather than dropping them with its next save.
const (
	manifestVersion        = 2
	abortedManifestVersion = 3
)

// chunkVersion is the version of manifest chunk objects; abortedChunkVersion
// that of a chunk whose segments list aborted transactions.
const (
	chunkVersion        = 1
	abortedChunkVersion = 2
)

// manifestChunkSegments is how many segments one chunk object holds: the
// head's tail is sealed into a chunk once it holds this many. A variable so
// that tests can lower it.
var manifestChunkSegments = 256

// sealAbortedEntries: a head tail whose segments list this many aborted
// transactions is sealed whole into a chunk, so that the head stays small
// (a few hundred KiB) under a workload that aborts often. A variable so that
// tests can lower it.
var sealAbortedEntries = 10000

// loadConcurrency bounds the GETs of heads and chunks loadManifests runs at
// once.
const loadConcurrency = 8

func manifestKey(topic string, part int32) string {
	return "manifests/" + topic + "/" + strconv.Itoa(int(part)) + ".json"
}

// chunkPrefix is where a partition's manifest chunks live: outside
// manifests/, so that listing the heads does not see them.
func chunkPrefix(topic string, part int32) string {
	return "manifest-chunks/" + topic + "/" + strconv.Itoa(int(part)) + "/"
}

// chunkKey names the chunk holding the segments of [start, end); suffix is
// keySuffix's (cluster mode) or "".
func chunkKey(topic string, part int32, start, end int64, suffix string) string {
	return fmt.Sprintf("%s%016x-%016x%s.json", chunkPrefix(topic, part), start, end, suffix)
}

// validChunkKey reports whether a head's chunk reference names the chunk of
// its range, with or without a cluster-mode suffix.
func validChunkKey(topic string, part int32, c chunkRef) bool {
	plain := chunkKey(topic, part, c.Start, c.End, "")
	if c.Key == plain {
		return true
	}
	rest, ok := strings.CutPrefix(c.Key, strings.TrimSuffix(plain, ".json"))
	if !ok {
		return false
	}
	suffix, ok := strings.CutSuffix(rest, ".json")
	return ok && validSuffix(suffix)
}

// chunkRef is the head's reference to a sealed chunk object.
type chunkRef struct {
	Key          string `json:"key"`
	Start        int64  `json:"start"`    // first segment's start
	End          int64  `json:"end"`      // last segment's end
	Segments     int    `json:"segments"` // how many segments it lists
	MinTimestamp int64  `json:"min_ts"`   // smallest min_ts of its segments
	MaxTimestamp int64  `json:"max_ts"`   // largest max_ts of its segments
	Size         int64  `json:"size"`     // object size
	CRC          uint32 `json:"crc32c"`   // CRC-32C (Castagnoli) of the object
}

// manifestHead is the persisted head: the manifest's header fields, the
// sealed chunks and the segments after them.
type manifestHead struct {
	Version    int    `json:"version"`
	Topic      string `json:"topic"`
	TopicUUID  string `json:"topic_uuid"`
	Partition  int32  `json:"partition"`
	Partitions int32  `json:"partitions"`
	LogStart   int64  `json:"log_start"`
	End        int64  `json:"end"`
	Generation int64  `json:"generation"`
	UpdatedMs  int64  `json:"updated_ms"`
	// LeaderEpoch: cluster mode, omitted alone.
	LeaderEpoch int32         `json:"leader_epoch,omitempty"`
	Chunks      []chunkRef    `json:"chunks,omitempty"`
	Segments    []SegmentMeta `json:"segments"`
}

// manifestChunk is a chunk object: an immutable run of consecutive segments.
type manifestChunk struct {
	Version   int           `json:"version"`
	Topic     string        `json:"topic"`
	Partition int32         `json:"partition"`
	Start     int64         `json:"start"`
	End       int64         `json:"end"`
	Segments  []SegmentMeta `json:"segments"`
}

// find returns the index of the segment holding offset, or -1.
func (m *Manifest) find(offset int64) int {
	if m == nil || offset < m.LogStart || offset >= m.End {
		return -1
	}
	i := sort.Search(len(m.Segments), func(i int) bool { return m.Segments[i].End > offset })
	if i == len(m.Segments) || m.Segments[i].Start > offset {
		return -1
	}
	return i
}

// clone returns a copy to change and save in place of m. The copy shares
// m's segment array, so that a flush does not copy a long partition's whole
// list per segment: what follows a clone only appends to Segments or
// replaces the slice, and a manifest is only derived from the partition's
// latest one by the one job working on the partition (flushMu), so an
// append writes past the length of every manifest anyone reads. A clone
// whose save fails is dropped, and the next one appends over its slot.
func (m *Manifest) clone() *Manifest {
	c := *m
	c.chunks = append([]chunkRef(nil), m.chunks...)
	return &c
}

// check verifies the invariants of a loaded manifest: segments contiguous,
// in order, inside [LogStart, End), their aborted lists inside them.
func (m *Manifest) check() error {
	next := m.LogStart
	for _, s := range m.Segments {
		if s.Start != next || s.End <= s.Start || s.BaseOffset > s.Start {
			return fmt.Errorf("segment %s does not continue at %d", s.Key, next)
		}
		if err := checkAborted(s); err != nil {
			return err
		}
		next = s.End
	}
	if next != m.End {
		return fmt.Errorf("segments end at %d, manifest at %d", next, m.End)
	}
	return nil
}

// sealedEnd is where the sealed chunks end and the head's tail begins.
func sealedEnd(chunks []chunkRef) (int64, bool) {
	if len(chunks) == 0 {
		return 0, false
	}
	return chunks[len(chunks)-1].End, true
}

// tail is the part of segs the head lists itself: those after the chunks.
func tail(segs []SegmentMeta, chunks []chunkRef) []SegmentMeta {
	end, ok := sealedEnd(chunks)
	if !ok {
		return segs
	}
	return segs[sort.Search(len(segs), func(i int) bool { return segs[i].Start >= end }):]
}

// saveManifest writes m: first a chunk object for every full run of
// manifestChunkSegments segments in the tail (never rewriting a chunk that
// exists), then the head. Chunks that hold only segments below LogStart
// (expired or moved past) leave the head; they are returned, for the caller
// to delete once it is done with the new manifest. m's chunk references
// change only when the head is written.
//
// A crash or an error between a chunk PUT and the head PUT leaves an orphan
// chunk no head refers to: never read, deleted by cleanOrphans, and the
// retry writes the same key.
func saveManifest(ctx context.Context, st ObjectStore, m *Manifest) ([]chunkRef, error) {
	var chunks, dropped []chunkRef
	for _, c := range m.chunks {
		if c.End <= m.LogStart {
			dropped = append(dropped, c)
		} else {
			chunks = append(chunks, c)
		}
	}
	rest := tail(m.Segments, chunks)
	for n := manifestChunkSegments; n > 0 && len(rest) >= n; rest = rest[n:] {
		ref, err := putChunk(ctx, st, m.Topic, m.Partition, rest[:n], m.suffix())
		if err != nil {
			return nil, err
		}
		chunks = append(chunks, ref)
	}
	if len(rest) > 0 && countAborted(rest) >= sealAbortedEntries {
		ref, err := putChunk(ctx, st, m.Topic, m.Partition, rest, m.suffix())
		if err != nil {
			return nil, err
		}
		chunks, rest = append(chunks, ref), nil
	}
	version := manifestVersion
	if hasAborted(m.Segments) {
		version = abortedManifestVersion
	}
	h := manifestHead{
		Version: version, Topic: m.Topic, TopicUUID: m.TopicUUID,
		Partition: m.Partition, Partitions: m.Partitions,
		LogStart: m.LogStart, End: m.End, Generation: m.Generation, UpdatedMs: m.UpdatedMs,
		LeaderEpoch: m.LeaderEpoch, Chunks: chunks, Segments: rest,
	}
	body, err := json.Marshal(&h)
	if err != nil {
		return nil, err
	}
	if m.fenced {
		cs, ok := st.(condStore)
		if !ok {
			return nil, errNoConditional
		}
		tag, err := cs.PutIf(ctx, manifestKey(m.Topic, m.Partition), body, m.etag)
		if err != nil {
			return nil, err
		}
		m.etag = tag
	} else if err := st.Put(ctx, manifestKey(m.Topic, m.Partition), body); err != nil {
		return nil, err
	}
	m.Version, m.chunks = version, chunks
	return dropped, nil
}

// putChunk writes the chunk object holding segs and returns its reference.
func putChunk(ctx context.Context, st ObjectStore, topic string, part int32, segs []SegmentMeta, suffix string) (chunkRef, error) {
	first, last := segs[0], segs[len(segs)-1]
	version := chunkVersion
	if hasAborted(segs) {
		version = abortedChunkVersion
	}
	body, err := json.Marshal(&manifestChunk{Version: version, Topic: topic, Partition: part, Start: first.Start, End: last.End, Segments: segs})
	if err != nil {
		return chunkRef{}, err
	}
	ref := chunkRef{
		Key: chunkKey(topic, part, first.Start, last.End, suffix), Start: first.Start, End: last.End, Segments: len(segs),
		MinTimestamp: first.MinTimestamp, MaxTimestamp: first.MaxTimestamp,
		Size: int64(len(body)), CRC: crc32.Checksum(body, castagnoli),
	}
	for _, s := range segs[1:] {
		ref.MinTimestamp = min(ref.MinTimestamp, s.MinTimestamp)
		ref.MaxTimestamp = max(ref.MaxTimestamp, s.MaxTimestamp)
	}
	if err := st.Put(ctx, ref.Key, body); err != nil {
		return chunkRef{}, err
	}
	return ref, nil
}

// loadManifests reads every partition manifest in the bucket, in key order.
func loadManifests(ctx context.Context, st ObjectStore) ([]*Manifest, error) {
	var keys []string
	if err := st.List(ctx, "manifests/", "", func(k string, _ int64) bool {
		if strings.HasSuffix(k, ".json") {
			keys = append(keys, k)
		}
		return true
	}); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	sem := make(chan struct{}, loadConcurrency)
	ms := make([]*Manifest, len(keys))
	errs := make([]error, len(keys))
	var wg sync.WaitGroup
	for i, k := range keys {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ms[i], errs[i] = loadManifest(ctx, st, k, sem)
			if errs[i] != nil {
				cancel()
			}
		}()
	}
	wg.Wait()
	var out []*Manifest
	for i := range keys {
		if errs[i] != nil && !errors.Is(errs[i], context.Canceled) {
			return nil, errs[i]
		}
	}
	for i := range keys {
		if errs[i] != nil {
			return nil, errs[i]
		}
		if ms[i] != nil {
			out = append(out, ms[i])
		}
	}
	return out, nil
}

// errChunkMissing is a chunk the head refers to that is not in the bucket.
var errChunkMissing = errors.New("manifest chunk missing")

// loadManifest reads the manifest whose head is key, with its chunks; nil
// when the head does not exist. A chunk that is missing while the head
// changed meanwhile (a writer expired it) is retried with the new head.
func loadManifest(ctx context.Context, st ObjectStore, key string, sem chan struct{}) (*Manifest, error) {
	get := func(key string) ([]byte, error) {
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		defer func() { <-sem }()
		return st.Get(ctx, key, 0, -1)
	}
	body, err := get(key)
	for attempt := 0; ; attempt++ {
		if errors.Is(err, ErrNotFound) {
			return nil, nil
		}
		if err != nil {
			return nil, err
		}
		m, lerr := decodeManifest(key, body, get)
		if lerr == nil || !errors.Is(lerr, errChunkMissing) || attempt == 2 {
			if lerr != nil {
				return nil, fmt.Errorf("manifest %s: %w", key, lerr)
			}
			return m, nil
		}
		again, err2 := get(key)
		if err2 == nil && bytes.Equal(again, body) {
			return nil, fmt.Errorf("manifest %s: %w", key, lerr)
		}
		body, err = again, err2
	}
}

// decodeManifest parses a head (version 1 or 2), fetches and verifies its
// chunks, and assembles the whole segment list.
func decodeManifest(key string, body []byte, get func(string) ([]byte, error)) (*Manifest, error) {
	h := &manifestHead{}
	if err := json.Unmarshal(body, h); err != nil {
		return nil, err
	}
	if (h.Version != 1 && h.Version != manifestVersion && h.Version != abortedManifestVersion) || manifestKey(h.Topic, h.Partition) != key || (h.Version == 1 && len(h.Chunks) > 0) {
		return nil, fmt.Errorf("version %d for %s/%d not understood", h.Version, h.Topic, h.Partition)
	}
	m := &Manifest{
		Version: h.Version, Topic: h.Topic, TopicUUID: h.TopicUUID,
		Partition: h.Partition, Partitions: h.Partitions,
		LogStart: h.LogStart, End: h.End, Generation: h.Generation, UpdatedMs: h.UpdatedMs,
		LeaderEpoch: h.LeaderEpoch, chunks: h.Chunks,
	}
	for i, c := range h.Chunks {
		if !validChunkKey(h.Topic, h.Partition, c) || c.Segments <= 0 || c.End <= c.Start {
			return nil, fmt.Errorf("chunk reference %q [%d, %d) not understood", c.Key, c.Start, c.End)
		}
		if i > 0 && c.Start != h.Chunks[i-1].End {
			return nil, fmt.Errorf("chunk %s does not continue at %d", c.Key, h.Chunks[i-1].End)
		}
	}
	if end, ok := sealedEnd(h.Chunks); ok && len(h.Segments) > 0 && h.Segments[0].Start != end {
		return nil, fmt.Errorf("segments after the chunks start at %d, not at %d", h.Segments[0].Start, end)
	}
	segs := make([][]SegmentMeta, len(h.Chunks))
	errs := make([]error, len(h.Chunks))
	var wg sync.WaitGroup
	for i, c := range h.Chunks {
		wg.Add(1)
		go func() {
			defer wg.Done()
			segs[i], errs[i] = loadChunk(h.Topic, h.Partition, c, get)
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return nil, err
		}
	}
	n := len(h.Segments)
	for _, s := range segs {
		n += len(s)
	}
	m.Segments = make([]SegmentMeta, 0, n)
	for _, s := range append(segs, h.Segments) {
		for _, seg := range s {
			// A partly expired chunk still lists segments below LogStart.
			if seg.End > m.LogStart {
				m.Segments = append(m.Segments, seg)
			}
		}
	}
	if err := m.check(); err != nil {
		return nil, err
	}
	return m, nil
}

// loadChunk fetches one chunk object and checks it against its reference.
func loadChunk(topic string, part int32, ref chunkRef, get func(string) ([]byte, error)) ([]SegmentMeta, error) {
	body, err := get(ref.Key)
	if errors.Is(err, ErrNotFound) {
		return nil, fmt.Errorf("%w: %s", errChunkMissing, ref.Key)
	}
	if err != nil {
		return nil, err
	}
	if int64(len(body)) != ref.Size || crc32.Checksum(body, castagnoli) != ref.CRC {
		return nil, fmt.Errorf("chunk %s: size %d or checksum %08x differs from the head's (%d, %08x)", ref.Key, len(body), crc32.Checksum(body, castagnoli), ref.Size, ref.CRC)
	}
	c := &manifestChunk{}
	if err := json.Unmarshal(body, c); err != nil {
		return nil, fmt.Errorf("chunk %s: %w", ref.Key, err)
	}
	if (c.Version != chunkVersion && c.Version != abortedChunkVersion) || c.Topic != topic || c.Partition != part || c.Start != ref.Start || c.End != ref.End || len(c.Segments) != ref.Segments {
		return nil, fmt.Errorf("chunk %s: version %d, %s/%d [%d, %d) with %d segments does not match its reference", ref.Key, c.Version, c.Topic, c.Partition, c.Start, c.End, len(c.Segments))
	}
	next := c.Start
	for _, s := range c.Segments {
		if s.Start != next || s.End <= s.Start {
			return nil, fmt.Errorf("chunk %s: segment %s does not continue at %d", ref.Key, s.Key, next)
		}
		next = s.End
	}
	if next != c.End {
		return nil, fmt.Errorf("chunk %s: segments end at %d, not %d", ref.Key, next, c.End)
	}
	return c.Segments, nil
}
