package replica

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/kversion"

	plog "github.com/zombi-dev/zombi/log"
	"github.com/zombi-dev/zombi/log/batch"
)

// Fetcher settings (Kafka's replica.fetch.* defaults, backoff shorter).
const (
	fetchMaxWait        = 500 * time.Millisecond
	fetchMaxBytes       = 16 << 20
	fetchPartitionBytes = 1 << 20
	fetchBackoff        = 200 * time.Millisecond
	requestTimeout      = 10 * time.Second
	// fetchVersion: v12 carries ReplicaID and topics by name (v13+ moves
	// to topic ids, v15+ to ReplicaState); the door serves v4-v18.
	fetchVersion = 12
)

// fetchState is one partition in a fetcher (Kafka's PartitionFetchState):
// truncating first (KIP-279), then fetching from the log end.
type fetchState struct {
	p     *partition
	epoch int32 // the leader's epoch we follow

	// Owned by the fetcher's goroutine.
	truncating bool
	retryAt    time.Time
	// logEnd is the log end offset this fetcher left (after its
	// truncations, appends and resets), -1 before the first: a log that
	// ends elsewhere took a write that is not the leader's (a produce
	// whose leader check raced the leader change).
	logEnd int64

	parked atomic.Bool // fenced: wait for the next state of the partition
}

// fetcher fetches every partition this node follows from one leader node,
// in one request (Kafka's ReplicaFetcherThread), over its own kgo client.
type fetcher struct {
	m      *Manager
	leader int32

	mu    sync.Mutex
	parts map[*partition]*fetchState
	kick  chan struct{}

	ctx    context.Context
	cancel context.CancelFunc
	done   chan struct{}

	// Owned by the goroutine.
	cl   *kgo.Client
	addr string
}

// startFetching makes p fetched from leader in epoch (the partition's log
// is ready: no fetcher owns it).
func (m *Manager) startFetching(p *partition, leader, epoch int32) {
	fs := &fetchState{p: p, epoch: epoch, truncating: true, logEnd: -1}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return
	}
	p.mu.Lock()
	p.fetch = fs
	p.mu.Unlock()
	f := m.fetchers[leader]
	if f == nil {
		ctx, cancel := context.WithCancel(m.ctx)
		f = &fetcher{m: m, leader: leader, parts: map[*partition]*fetchState{}, kick: make(chan struct{}, 1),
			ctx: ctx, cancel: cancel, done: make(chan struct{})}
		m.fetchers[leader] = f
		m.wg.Add(1) // Close waits for every fetcher, stopped ones too
		go func() {
			defer m.wg.Done()
			f.run()
		}()
	}
	f.mu.Lock()
	f.parts[p] = fs
	f.mu.Unlock()
	f.wake()
}

// stopFetching takes p out of its fetcher; once it returns no fetcher
// changes p's log (an append in progress finishes first).
func (m *Manager) stopFetching(p *partition) {
	p.mu.Lock()
	fs := p.fetch
	p.fetch = nil
	p.mu.Unlock()
	if fs == nil {
		return
	}
	m.mu.Lock()
	for id, f := range m.fetchers {
		f.mu.Lock()
		if f.parts[p] == fs {
			delete(f.parts, p)
		}
		empty := len(f.parts) == 0
		f.mu.Unlock()
		if empty {
			delete(m.fetchers, id)
			f.cancel() // its goroutine ends on its own (Close waits for it)
		}
	}
	m.mu.Unlock()
	// Wait for an append or truncation in progress; later ones see that
	// p.fetch is no longer theirs.
	p.logMu.Lock()
	//lint:ignore SA2001 the lock is the barrier
	p.logMu.Unlock()
}

func (f *fetcher) wake() {
	select {
	case f.kick <- struct{}{}:
	default:
	}
}

func (f *fetcher) stop() {
	f.cancel()
	<-f.done
}

func (f *fetcher) run() {
	defer close(f.done)
	defer func() {
		if f.cl != nil {
			f.cl.Close()
		}
	}()
	log := f.m.logger.With("leader", f.leader)
	for f.ctx.Err() == nil {
		ready, next := f.ready()
		if len(ready) == 0 {
			wait := time.Hour
			if !next.IsZero() {
				wait = max(time.Until(next), time.Millisecond)
			}
			t := time.NewTimer(wait)
			select {
			case <-f.ctx.Done():
			case <-f.kick:
			case <-t.C:
			}
			t.Stop()
			continue
		}
		b, err := f.broker()
		if err != nil {
			log.Debug("no leader connection", "err", err)
			f.backoff(ready)
			continue
		}
		var trunc, fetch []*fetchState
		for _, fs := range ready {
			if fs.truncating {
				trunc = append(trunc, fs)
			} else {
				fetch = append(fetch, fs)
			}
		}
		if len(trunc) > 0 {
			f.truncate(b, trunc)
			continue
		}
		f.fetch(b, fetch)
	}
}

// ready returns the partitions to work on now, and the earliest time a
// backing-off one is due.
func (f *fetcher) ready() ([]*fetchState, time.Time) {
	now := time.Now()
	var next time.Time
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make([]*fetchState, 0, len(f.parts))
	for _, fs := range f.parts {
		switch {
		case fs.parked.Load():
		case fs.retryAt.After(now):
			if next.IsZero() || fs.retryAt.Before(next) {
				next = fs.retryAt
			}
		default:
			out = append(out, fs)
		}
	}
	return out, next
}

func (f *fetcher) backoff(fss []*fetchState) {
	at := time.Now().Add(fetchBackoff)
	for _, fs := range fss {
		fs.retryAt = at
	}
}

// broker is the leader's connection, through a client made again when the
// leader's address changed.
func (f *fetcher) broker() (*kgo.Broker, error) {
	addr, ok := f.m.cfg.Addr(f.leader)
	if !ok {
		return nil, fmt.Errorf("node %d has no known address", f.leader)
	}
	if f.cl == nil || f.addr != addr {
		if f.cl != nil {
			f.cl.Close()
			f.cl = nil
		}
		vs := kversion.Stable()
		vs.SetMaxKeyVersion(kmsg.Fetch.Int16(), fetchVersion)
		opts := append([]kgo.Opt{
			kgo.SeedBrokers(addr),
			kgo.MaxVersions(vs),
			kgo.ClientID(fmt.Sprintf("zombi-replica-fetcher-%d", f.m.cfg.NodeID)),
			kgo.DialTimeout(5 * time.Second),
		}, f.m.cfg.KgoOpts...)
		cl, err := kgo.NewClient(opts...)
		if err != nil {
			return nil, fmt.Errorf("client for node %d at %s: %w", f.leader, addr, err)
		}
		f.cl, f.addr = cl, addr
	}
	bs := f.cl.SeedBrokers()
	if len(bs) == 0 {
		return nil, errors.New("no seed broker")
	}
	return bs[0], nil
}

// owns says whether fs is still p's fetch entry (p.logMu held).
func owns(fs *fetchState) bool {
	fs.p.mu.Lock()
	defer fs.p.mu.Unlock()
	return fs.p.fetch == fs
}

// latestEpoch is the epoch cache's latest entry (0 for an empty cache: the
// implicit epoch of a partition that never changed leader).
func latestEpoch(l *plog.Log, topic string, part int32) (int32, error) {
	es, err := l.LeaderEpochs(topic, part)
	if err != nil || len(es) == 0 {
		return 0, err
	}
	return int32(es[len(es)-1][0]), nil
}

// truncate asks the leader where the local latest epoch ends and cuts the
// local log there (KIP-279, Kafka's truncateToEpochEndOffsets).
func (f *fetcher) truncate(b *kgo.Broker, fss []*fetchState) {
	l := f.m.cfg.Log
	req := kmsg.NewPtrOffsetForLeaderEpochRequest()
	req.ReplicaID = f.m.cfg.NodeID
	byKey := map[tp]*fetchState{}
	asked := map[tp]int32{}
	topics := map[string]int{}
	for _, fs := range fss {
		p := fs.p
		e, err := latestEpoch(l, p.topic, p.part)
		if err != nil {
			f.backoff([]*fetchState{fs})
			continue
		}
		i, ok := topics[p.topic]
		if !ok {
			i = len(req.Topics)
			topics[p.topic] = i
			t := kmsg.NewOffsetForLeaderEpochRequestTopic()
			t.Topic = p.topic
			req.Topics = append(req.Topics, t)
		}
		rp := kmsg.NewOffsetForLeaderEpochRequestTopicPartition()
		rp.Partition, rp.CurrentLeaderEpoch, rp.LeaderEpoch = p.part, fs.epoch, e
		req.Topics[i].Partitions = append(req.Topics[i].Partitions, rp)
		byKey[tp{p.topic, p.part}], asked[tp{p.topic, p.part}] = fs, e
	}
	if len(byKey) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(f.ctx, requestTimeout)
	defer cancel()
	kresp, err := b.Request(ctx, req)
	if err != nil {
		f.m.logger.Debug("OffsetForLeaderEpoch", "leader", f.leader, "err", err)
		f.backoff(fss)
		return
	}
	resp := kresp.(*kmsg.OffsetForLeaderEpochResponse)
	for _, t := range resp.Topics {
		for _, rp := range t.Partitions {
			key := tp{t.Topic, rp.Partition}
			fs := byKey[key]
			if fs == nil {
				continue
			}
			delete(byKey, key)
			if err := kerr.ErrorForCode(rp.ErrorCode); err != nil {
				f.partitionError(fs, err)
				continue
			}
			f.truncateTo(fs, asked[key], rp.LeaderEpoch, rp.EndOffset)
		}
	}
	for _, fs := range byKey { // not answered
		f.backoff([]*fetchState{fs})
	}
}

// truncateTo cuts the log by the leader's answer for the epoch asked, as
// Kafka's getOffsetTruncationState: an undefined answer cuts to the high
// watermark; an epoch the follower does not have cuts to where its own
// largest lower epoch ends and asks again; else to the smaller of the two
// ends of that epoch.
func (f *fetcher) truncateTo(fs *fetchState, asked, leaderEpoch int32, leaderEnd int64) {
	l := f.m.cfg.Log
	p := fs.p
	p.logMu.Lock()
	defer p.logMu.Unlock()
	if !owns(fs) {
		return
	}
	leo, err := l.LogEndOffset(p.topic, p.part)
	if err != nil {
		f.backoff([]*fetchState{fs})
		return
	}
	target, done := leo, true
	switch {
	case leaderEnd < 0:
		_, hwm, err := l.Offsets(p.topic, p.part)
		if err != nil {
			f.backoff([]*fetchState{fs})
			return
		}
		target = hwm
	case leaderEpoch < 0:
		target = min(leaderEnd, leo)
	default:
		fe, fEnd, err := l.EndOffsetForEpoch(p.topic, p.part, leaderEpoch)
		switch {
		case err != nil:
			f.backoff([]*fetchState{fs})
			return
		case fEnd < 0:
			_, hwm, _ := l.Offsets(p.topic, p.part)
			target = hwm
		case fe != leaderEpoch:
			target, done = min(fEnd, leo), false
		default:
			target = min(leaderEnd, fEnd, leo)
		}
	}
	newLEO, err := l.TruncateTo(f.ctx, p.topic, p.part, target)
	if err != nil {
		f.m.logger.Warn("truncate", "topic", p.topic, "partition", p.part, "to", target, "err", err)
		f.backoff([]*fetchState{fs})
		return
	}
	if newLEO < leo {
		f.m.truncated(p, newLEO)
		f.m.logger.Info("truncated", "topic", p.topic, "partition", p.part, "from", leo, "to", newLEO,
			"asked_epoch", asked, "leader_epoch", leaderEpoch, "leader_end", leaderEnd)
	}
	fs.truncating, fs.logEnd = !done, newLEO
}

// partitionError handles a partition's error from the leader: fenced
// (our epoch is older than the leader's): wait for the new state; the
// others (the leader has not caught up with the state we follow, or is
// not the leader any more): try again after a backoff.
func (f *fetcher) partitionError(fs *fetchState, err error) {
	if errors.Is(err, kerr.FencedLeaderEpoch) {
		f.m.logger.Info("fenced by the leader; waiting for the partition's new state", "topic", fs.p.topic, "partition", fs.p.part, "epoch", fs.epoch)
		fs.parked.Store(true)
		return
	}
	f.m.logger.Debug("fetch error", "topic", fs.p.topic, "partition", fs.p.part, "err", err)
	f.backoff([]*fetchState{fs})
}

// fetch fetches every ready partition from its log end, in one request.
func (f *fetcher) fetch(b *kgo.Broker, fss []*fetchState) {
	l := f.m.cfg.Log
	req := kmsg.NewPtrFetchRequest()
	req.ReplicaID = f.m.cfg.NodeID
	req.ReplicaState.ID, req.ReplicaState.Epoch = f.m.cfg.NodeID, -1
	req.MaxWaitMillis, req.MinBytes, req.MaxBytes = int32(fetchMaxWait/time.Millisecond), 1, fetchMaxBytes
	req.SessionEpoch = -1
	byKey := map[tp]*fetchState{}
	offsets := map[tp]int64{}
	topics := map[string]int{}
	for _, fs := range fss {
		p := fs.p
		leo, err := l.LogEndOffset(p.topic, p.part)
		if err != nil {
			f.backoff([]*fetchState{fs})
			continue
		}
		if fs.logEnd >= 0 && leo != fs.logEnd {
			f.dropForeign(fs)
			continue // next round, from the log end it left
		}
		logStart, _, err := l.Offsets(p.topic, p.part)
		if err != nil {
			f.backoff([]*fetchState{fs})
			continue
		}
		i, ok := topics[p.topic]
		if !ok {
			i = len(req.Topics)
			topics[p.topic] = i
			t := kmsg.NewFetchRequestTopic()
			t.Topic = p.topic
			req.Topics = append(req.Topics, t)
		}
		rp := kmsg.NewFetchRequestTopicPartition()
		rp.Partition, rp.CurrentLeaderEpoch, rp.FetchOffset = p.part, fs.epoch, leo
		rp.LastFetchedEpoch, rp.LogStartOffset, rp.PartitionMaxBytes = -1, logStart, fetchPartitionBytes
		req.Topics[i].Partitions = append(req.Topics[i].Partitions, rp)
		byKey[tp{p.topic, p.part}], offsets[tp{p.topic, p.part}] = fs, leo
	}
	if len(byKey) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(f.ctx, requestTimeout)
	defer cancel()
	kresp, err := b.Request(ctx, req)
	if err != nil {
		if f.ctx.Err() == nil {
			f.m.logger.Debug("fetch", "leader", f.leader, "err", err)
		}
		f.backoff(fss)
		return
	}
	resp := kresp.(*kmsg.FetchResponse)
	if err := kerr.ErrorForCode(resp.ErrorCode); err != nil {
		f.m.logger.Debug("fetch", "leader", f.leader, "err", err)
		f.backoff(fss)
		return
	}
	for _, t := range resp.Topics {
		for i := range t.Partitions {
			sp := &t.Partitions[i]
			key := tp{t.Topic, sp.Partition}
			fs := byKey[key]
			if fs == nil {
				continue
			}
			delete(byKey, key)
			if sp.ErrorCode == kerr.OffsetMovedToTieredStorage.Code {
				f.movedToTiered(b, fs, offsets[key]) // tiered.go
				continue
			}
			f.fetched(fs, offsets[key], sp)
		}
	}
	for _, fs := range byKey {
		f.backoff([]*fetchState{fs})
	}
}

// fetched stores one partition's answer: its batches at the log end, then
// the leader's high watermark (as far as the local log goes).
func (f *fetcher) fetched(fs *fetchState, offset int64, sp *kmsg.FetchResponseTopicPartition) {
	l := f.m.cfg.Log
	p := fs.p
	switch err := kerr.ErrorForCode(sp.ErrorCode); {
	case errors.Is(err, kerr.OffsetOutOfRange):
		f.outOfRange(fs, offset, sp.LogStartOffset)
		return
	case err != nil:
		f.partitionError(fs, err)
		return
	}
	batches, err := splitFrom(sp.RecordBatches, offset)
	if err != nil {
		f.m.logger.Warn("fetched batches", "topic", p.topic, "partition", p.part, "err", err)
		f.backoff([]*fetchState{fs})
		return
	}
	p.logMu.Lock()
	defer p.logMu.Unlock()
	if !owns(fs) {
		return
	}
	leo, err := l.LogEndOffset(p.topic, p.part)
	if err != nil || leo != offset {
		return // the log moved under the request (a reset): fetch again
	}
	if len(batches) > 0 {
		leo, err = l.AppendReplica(f.ctx, p.topic, p.part, batches)
		switch {
		case errors.Is(err, plog.ErrInvalidOffset), errors.Is(err, plog.ErrFencedEpoch):
			// Our log does not line up with the leader's: truncate again.
			f.m.logger.Info("fetched batches do not follow the log; truncating again", "topic", p.topic, "partition", p.part, "err", err)
			fs.truncating = true
			return
		case err != nil:
			f.m.logger.Warn("append replica", "topic", p.topic, "partition", p.part, "err", err)
			f.backoff([]*fetchState{fs})
			return
		}
		fs.logEnd = leo
	}
	if hwm := min(sp.HighWatermark, leo); hwm >= 0 {
		if err := l.AdvanceHighWatermark(p.topic, p.part, hwm); err != nil {
			f.m.logger.Debug("advance high watermark", "topic", p.topic, "partition", p.part, "hwm", hwm, "err", err)
		}
		if p.leaderHWM.Swap(hwm) != hwm {
			if v := p.viewerOf(); v != nil {
				v.wake() // an internal partition's view may apply further
			}
		}
	}
}

// outOfRange: below the leader's log start the follower starts over
// empty at it; above its log end, the logs diverged: truncate again.
func (f *fetcher) outOfRange(fs *fetchState, offset, leaderStart int64) {
	l := f.m.cfg.Log
	p := fs.p
	if leaderStart < 0 || offset >= leaderStart {
		fs.truncating = true
		return
	}
	p.logMu.Lock()
	defer p.logMu.Unlock()
	if !owns(fs) {
		return
	}
	logStart, _, err := l.Offsets(p.topic, p.part)
	if err == nil {
		_, err = l.TruncateTo(f.ctx, p.topic, p.part, logStart) // empties it
	}
	if err == nil {
		err = l.ResetEmpty(p.topic, p.part, leaderStart)
	}
	if err != nil {
		f.m.logger.Warn("reset to the leader's log start", "topic", p.topic, "partition", p.part, "offset", leaderStart, "err", err)
		f.backoff([]*fetchState{fs})
		return
	}
	fs.logEnd = leaderStart
	f.m.resetView(p, "the log starts over at the leader's log start")
	f.m.logger.Info("behind the leader's log start: starting over empty", "topic", p.topic, "partition", p.part, "from", offset, "to", leaderStart)
}

// dropForeign removes what was appended to a followed partition by anyone
// but its fetcher: a produce that passed the door's leader check just
// before this node stopped leading, and landed after the truncation. It
// is not the leader's; everything below the fetcher's log end is.
func (f *fetcher) dropForeign(fs *fetchState) {
	l := f.m.cfg.Log
	p := fs.p
	p.logMu.Lock()
	defer p.logMu.Unlock()
	if !owns(fs) {
		return
	}
	leo, err := l.LogEndOffset(p.topic, p.part)
	switch {
	case err != nil:
		f.backoff([]*fetchState{fs})
		return
	case leo < fs.logEnd:
		fs.truncating = true // shorter than we left it: ask the leader again
		return
	case leo == fs.logEnd:
		return
	}
	newLEO, err := l.TruncateTo(f.ctx, p.topic, p.part, fs.logEnd)
	if err != nil {
		f.m.logger.Warn("truncate a write that is not the leader's", "topic", p.topic, "partition", p.part, "err", err)
		f.backoff([]*fetchState{fs})
		return
	}
	f.m.truncated(p, newLEO)
	f.m.logger.Warn("removed a write that landed after leadership moved", "topic", p.topic, "partition", p.part,
		"from", fs.logEnd, "to", leo)
	fs.logEnd = newLEO
}

// splitFrom splits fetched record batches and drops those wholly below
// offset (a leader answers from the batch holding the offset).
func splitFrom(raw []byte, offset int64) ([][]byte, error) {
	if len(raw) == 0 {
		return nil, nil
	}
	bs, err := batch.Split(raw)
	if err != nil {
		return nil, err
	}
	out := bs[:0]
	for _, b := range bs {
		h, err := batch.ReadHeader(b)
		if err != nil {
			return nil, err
		}
		if h.LastOffset() >= offset {
			out = append(out, b)
		}
	}
	return out, nil
}
