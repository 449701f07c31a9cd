package tiering

import (
	"container/list"
	"context"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"sync"
	"time"

	plog "github.com/zombi-dev/zombi/log"
)

// Bounds is the cold range [start, end) of a partition (log.ColdTier).
func (t *Tier) Bounds(topic string, part int32) (int64, int64, bool) {
	ps := t.lookup(topic, part)
	if ps == nil {
		return 0, 0, false
	}
	m := ps.man.Load()
	if m == nil || len(m.Segments) == 0 {
		return 0, 0, false
	}
	return m.LogStart, m.End, true
}

// Read returns whole cold batches starting with the one that holds offset,
// up to maxBytes (at least one), within one segment (log.ColdTier). Every
// batch is checked against the segment index's checksum before it is
// served; a mismatch is ErrCorruptSegment.
func (t *Tier) Read(ctx context.Context, topic string, part int32, offset int64, maxBytes int) ([]plog.Batch, error) {
	ps := t.lookup(topic, part)
	if ps == nil {
		return nil, fmt.Errorf("%s/%d has no cold data", topic, part)
	}
	m := ps.man.Load()
	i := m.find(offset)
	if i < 0 {
		if t.clustered() {
			// A follower's copy of the manifest may lag the leader's
			// flushes: re-read it now rather than at the next interval.
			t.queue(ps)
		}
		return nil, fmt.Errorf("offset %d not in the cold range of %s/%d", offset, topic, part)
	}
	seg := m.Segments[i]
	ix, err := t.index(ctx, seg)
	if err != nil {
		return nil, err
	}
	j := ix.find(offset)
	var out []plog.Batch
	remaining := maxBytes
	for j < len(ix.entries) && (len(out) == 0 || remaining > 0) {
		ch, err := t.chunk(ctx, seg, ix, t.chunkOf(ix, j))
		if err != nil {
			return nil, err
		}
		for ; j <= ch.last; j++ {
			e := ix.entries[j]
			if len(out) > 0 && remaining < int(e.Len) {
				remaining = 0
				break
			}
			raw := make([]byte, e.Len)
			copy(raw, ch.data[e.Pos-ch.pos:])
			out = append(out, plog.Batch{BaseOffset: e.Base, LastOffset: e.Last, MaxTimestamp: e.MaxTimestamp, Raw: raw})
			remaining -= int(e.Len)
		}
	}
	t.readAhead(m, i, ix, j)
	return out, nil
}

// StartForTimestamp returns the base offset of the first cold batch whose
// records may have a timestamp >= ts (log.ColdTier).
func (t *Tier) StartForTimestamp(ctx context.Context, topic string, part int32, ts int64) (int64, bool, error) {
	ps := t.lookup(topic, part)
	if ps == nil {
		return 0, false, nil
	}
	m := ps.man.Load()
	if m == nil {
		return 0, false, nil
	}
	for _, seg := range m.Segments {
		if seg.MaxTimestamp < ts {
			continue
		}
		ix, err := t.index(ctx, seg)
		if err != nil {
			return 0, false, err
		}
		for _, e := range ix.entries[ix.find(seg.Start):] {
			if e.MaxTimestamp >= ts {
				return max(e.Base, seg.Start), true, nil
			}
		}
	}
	return 0, false, nil
}

// cacheKey names a segment in the caches. Object keys repeat when a topic is
// deleted and recreated under the same name, so the key carries the
// segment's flush time and data checksum too.
func cacheKey(seg SegmentMeta) string {
	return seg.Key + "@" + strconv.FormatInt(seg.FlushedMs, 10) + "." + strconv.FormatUint(uint64(seg.DataCRC), 10)
}

// index returns a segment's index, from the cache or with one ranged GET of
// the object's tail.
func (t *Tier) index(ctx context.Context, seg SegmentMeta) (*segIndex, error) {
	v, err := t.indexes.get(ctx, cacheKey(seg), func(ctx context.Context) (any, int64, error) {
		tail, err := t.st.Get(ctx, seg.Key, seg.IndexPos, seg.Size-seg.IndexPos)
		if err != nil {
			return nil, 0, err
		}
		ix, err := decodeIndex(tail, seg.IndexPos, seg.Size)
		if err != nil {
			return nil, 0, fmt.Errorf("%s: %w", seg.Key, err)
		}
		n := len(ix.entries)
		if n != seg.Batches || n == 0 || ix.entries[0].Base != seg.BaseOffset || ix.entries[n-1].Last+1 != seg.End || ix.dataCRC != seg.DataCRC {
			return nil, 0, fmt.Errorf("%w: %s: index does not match the manifest", ErrCorruptSegment, seg.Key)
		}
		return ix, ix.size(), nil
	})
	if err != nil {
		t.reportCorrupt(seg.Key, err)
		return nil, err
	}
	return v.(*segIndex), nil
}

// chunk is a run of whole batches of one segment, checked, as cached.
type chunk struct {
	pos         int64 // object position of data[0]
	first, last int   // index entries held
	data        []byte
}

// chunkOf is the read-ahead chunk that holds batch j: chunks are the
// batches whose positions fall in the same ReadAheadBytes-sized window.
func (t *Tier) chunkOf(ix *segIndex, j int) int64 {
	return (ix.entries[j].Pos - segHeaderSize) / t.cfg.ReadAheadBytes
}

func (t *Tier) chunk(ctx context.Context, seg SegmentMeta, ix *segIndex, c int64) (*chunk, error) {
	key := cacheKey(seg) + "#" + strconv.FormatInt(c, 10)
	v, err := t.chunks.get(ctx, key, func(ctx context.Context) (any, int64, error) {
		lo := segHeaderSize + c*t.cfg.ReadAheadBytes
		hi := lo + t.cfg.ReadAheadBytes
		first := sort.Search(len(ix.entries), func(i int) bool { return ix.entries[i].Pos >= lo })
		last := sort.Search(len(ix.entries), func(i int) bool { return ix.entries[i].Pos >= hi }) - 1
		if first > last {
			return nil, 0, fmt.Errorf("%s: empty read-ahead chunk %d", seg.Key, c)
		}
		pos := ix.entries[first].Pos
		end := ix.entries[last].Pos + int64(ix.entries[last].Len)
		data, err := t.st.Get(ctx, seg.Key, pos, end-pos)
		if err != nil {
			return nil, 0, err
		}
		for i := first; i <= last; i++ {
			e := ix.entries[i]
			if err := checkBatch(seg.Key, e, data[e.Pos-pos:e.Pos-pos+int64(e.Len)]); err != nil {
				return nil, 0, err
			}
		}
		return &chunk{pos: pos, first: first, last: last, data: data}, int64(len(data)), nil
	})
	if err != nil {
		t.reportCorrupt(seg.Key, err)
		return nil, err
	}
	return v.(*chunk), nil
}

// readAhead loads, in the background, the chunk a sequential reader needs
// next: the rest of this segment, or the start of the next one.
func (t *Tier) readAhead(m *Manifest, i int, ix *segIndex, j int) {
	var seg SegmentMeta
	var c int64
	if j < len(ix.entries) {
		seg, c = m.Segments[i], t.chunkOf(ix, j)
	} else if i+1 < len(m.Segments) {
		seg, c = m.Segments[i+1], 0
	} else {
		return
	}
	if t.chunks.has(seg.Key + "#" + strconv.FormatInt(c, 10)) {
		return
	}
	select {
	case t.ahead <- struct{}{}:
	default:
		return // enough read-ahead in flight
	}
	select {
	case <-t.stop:
		<-t.ahead
		return
	default:
	}
	t.bg.Add(1)
	go func() {
		defer func() { <-t.ahead; t.bg.Done() }()
		ctx, cancel := context.WithTimeout(t.ctx, coldTimeout)
		defer cancel()
		ix, err := t.index(ctx, seg)
		if err == nil {
			_, _ = t.chunk(ctx, seg, ix, c)
		}
	}()
}

const coldTimeout = 30 * time.Second // a read-ahead's deadline

// reportCorrupt logs a corrupt segment once (reads keep failing, loudly in
// the responses, not in the log).
func (t *Tier) reportCorrupt(key string, err error) {
	if !errors.Is(err, ErrCorruptSegment) {
		return
	}
	if _, seen := t.warned.LoadOrStore(key, struct{}{}); !seen {
		t.logger.Error("corrupt cold segment: not served", "key", key, "err", err)
	}
}

// lru is a byte-bounded LRU cache whose loads are shared by concurrent
// callers asking for the same key (failed loads are not cached).
type lru struct {
	mu      sync.Mutex
	limit   int64
	size    int64
	ll      *list.List
	items   map[string]*list.Element
	loading map[string]*load
}

type lruItem struct {
	key  string
	v    any
	size int64
}

type load struct {
	done chan struct{}
	v    any
	err  error
}

func newLRU(limit int64) *lru {
	return &lru{limit: limit, ll: list.New(), items: map[string]*list.Element{}, loading: map[string]*load{}}
}

func (c *lru) has(key string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	_, ok := c.items[key]
	_, busy := c.loading[key]
	return ok || busy
}

func (c *lru) remove(key string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if el, ok := c.items[key]; ok {
		c.size -= el.Value.(*lruItem).size
		c.ll.Remove(el)
		delete(c.items, key)
	}
}

func (c *lru) get(ctx context.Context, key string, fill func(context.Context) (any, int64, error)) (any, error) {
	c.mu.Lock()
	if el, ok := c.items[key]; ok {
		c.ll.MoveToFront(el)
		c.mu.Unlock()
		return el.Value.(*lruItem).v, nil
	}
	if ld, ok := c.loading[key]; ok {
		c.mu.Unlock()
		select {
		case <-ld.done:
			return ld.v, ld.err
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	ld := &load{done: make(chan struct{})}
	c.loading[key] = ld
	c.mu.Unlock()

	v, size, err := fill(ctx)
	ld.v, ld.err = v, err
	c.mu.Lock()
	delete(c.loading, key)
	if err == nil && size <= c.limit {
		c.items[key] = c.ll.PushFront(&lruItem{key: key, v: v, size: size})
		c.size += size
		for c.size > c.limit {
			el := c.ll.Back()
			it := el.Value.(*lruItem)
			c.ll.Remove(el)
			delete(c.items, it.key)
			c.size -= it.size
		}
	}
	c.mu.Unlock()
	close(ld.done)
	return v, err
}
