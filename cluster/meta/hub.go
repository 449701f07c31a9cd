package meta

import (
	"context"
	"fmt"
	"strings"
	"sync"
)

// hub fans the RocksDB store's committed changes out to its watches, and
// keeps a bounded history so a watch can start from a revision a little in
// the past (the one a List returned). Its owner serialises calls.
type hub struct {
	hist      []commit
	histBytes int
	compacted int64 // history holds every change after this revision
	watchers  map[*watcher]struct{}
}

type commit struct {
	rev    int64
	events []Event
}

// History and buffer bounds: a watch starting further back, or falling
// further behind, is broken (the caller lists again) rather than holding
// memory or blocking a writer.
const (
	histMaxCommits = 1024
	histMaxBytes   = 16 << 20
	watchMaxQueued = 1024     // batches waiting for a slow reader
	watchMaxBytes  = 32 << 20 // and their size
)

func (h *hub) init(rev int64) {
	h.compacted = rev
	h.watchers = make(map[*watcher]struct{})
}

func eventsSize(evs []Event) int {
	n := 0
	for _, e := range evs {
		n += len(e.KV.Key) + len(e.KV.Value) + 32
	}
	return n
}

func (h *hub) publish(rev int64, events []Event) {
	h.hist = append(h.hist, commit{rev, events})
	h.histBytes += eventsSize(events)
	drop := 0
	for len(h.hist)-drop > 1 && (len(h.hist)-drop > histMaxCommits || h.histBytes > histMaxBytes) {
		h.histBytes -= eventsSize(h.hist[drop].events)
		h.compacted = h.hist[drop].rev
		drop++
	}
	if drop > 0 {
		h.hist = append(h.hist[:0:0], h.hist[drop:]...)
	}
	for w := range h.watchers {
		if !w.push(rev, events) {
			delete(h.watchers, w)
		}
	}
}

func (h *hub) watch(ctx context.Context, prefix string, after int64) Watcher {
	if after < h.compacted {
		return brokenWatcher(fmt.Errorf("revision %d is before the store's history (from %d)", after, h.compacted))
	}
	w := newWatcher(ctx, prefix, after)
	for _, c := range h.hist {
		if !w.push(c.rev, c.events) {
			return w
		}
	}
	// A watch whose ctx ends leaves the map at the next publish.
	h.watchers[w] = struct{}{}
	return w
}

func (h *hub) close() {
	for w := range h.watchers {
		w.breakWith(fmt.Errorf("store closed"))
		delete(h.watchers, w)
	}
}

// watcher is one watch: publish queues batches (never blocking), a
// goroutine hands them to the reader.
type watcher struct {
	prefix string
	after  int64 // only later revisions are sent
	out    chan []Event
	wake   chan struct{}
	done   chan struct{} // closed with out

	mu     sync.Mutex
	queue  [][]Event
	queued int   // bytes in queue
	broken error // set: stop and report ErrWatchBroken
	err    error // Err's answer, set before out is closed
}

func newWatcher(ctx context.Context, prefix string, after int64) *watcher {
	w := &watcher{prefix: prefix, after: after, out: make(chan []Event), wake: make(chan struct{}, 1), done: make(chan struct{})}
	go w.run(ctx)
	return w
}

// brokenWatcher is a watch that could not start.
func brokenWatcher(cause error) Watcher {
	w := &watcher{out: make(chan []Event), done: make(chan struct{})}
	w.err = fmt.Errorf("%w: %w", ErrWatchBroken, cause)
	close(w.out)
	close(w.done)
	return w
}

func (w *watcher) Events() <-chan []Event { return w.out }

func (w *watcher) Err() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.err
}

// push queues the events of revision rev under w's prefix; false when w
// is gone (ended, or broken now because its reader is too slow).
func (w *watcher) push(rev int64, events []Event) bool {
	var mine []Event
	for _, e := range events {
		if rev <= w.after {
			break
		}
		if strings.HasPrefix(e.KV.Key, w.prefix) {
			mine = append(mine, e)
		}
	}
	select {
	case <-w.done:
		return false
	default:
	}
	if len(mine) == 0 {
		return true
	}
	w.mu.Lock()
	if w.broken != nil {
		w.mu.Unlock()
		return false
	}
	size := eventsSize(mine)
	if len(w.queue) >= watchMaxQueued || w.queued+size > watchMaxBytes {
		w.broken = fmt.Errorf("reader too slow: %d batches, %d bytes queued", len(w.queue), w.queued)
		w.queue, w.queued = nil, 0
		w.mu.Unlock()
		w.signal()
		return false
	}
	w.queue = append(w.queue, mine)
	w.queued += size
	w.mu.Unlock()
	w.signal()
	return true
}

func (w *watcher) breakWith(cause error) {
	w.mu.Lock()
	if w.broken == nil {
		w.broken = cause
	}
	w.mu.Unlock()
	w.signal()
}

func (w *watcher) signal() {
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

func (w *watcher) run(ctx context.Context) {
	defer close(w.done)
	defer close(w.out)
	for {
		w.mu.Lock()
		if w.broken != nil {
			w.err = fmt.Errorf("%w: %w", ErrWatchBroken, w.broken)
			w.queue, w.queued = nil, 0
			w.mu.Unlock()
			return
		}
		var next []Event
		if len(w.queue) > 0 {
			next = w.queue[0]
			w.queue[0] = nil
			w.queue = w.queue[1:]
			w.queued -= eventsSize(next)
		}
		w.mu.Unlock()
		if next == nil {
			select {
			case <-w.wake:
				continue
			case <-ctx.Done():
				return
			}
		}
		select {
		case w.out <- next:
		case <-ctx.Done():
			return
		}
	}
}
