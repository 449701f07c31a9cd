package kafka

import (
	"context"
	"encoding/binary"
	"fmt"
	"slices"

	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/zombi-dev/zombi/cluster/coordlog"
	plog "github.com/zombi-dev/zombi/log"
	"github.com/zombi-dev/zombi/log/batch"
)

// fakeCoord is the fake Cluster's coordinators: who leads each internal
// partition (none until a test says so: COORDINATOR_NOT_AVAILABLE), what
// AppendInternal answers, the batches it was given, and the hooks the
// server installed. A successful append is applied to the server's log's
// view as the cluster's apply loop does (coordlog.Decode, Log.ApplyView):
// offsets as 'C' keys, tombstones deleted, transactional offsets pending in
// coord/pend/{p}/{pid}.
type fakeCoord struct {
	views     map[fakeCoordKey]CoordinatorView
	appendErr error         // AppendInternal's answer (nil: applied)
	release   chan struct{} // non-nil: AppendInternal blocks until closed (or ctx)
	appended  []fakeAppend
	onLoad    func(kind int8, part, epoch int32)
	onUnload  func(kind int8, part int32)
}

type fakeCoordKey struct {
	kind int8
	part int32
}

type fakeAppend struct {
	kind        int8
	part, epoch int32
	raw         []byte
}

// setCoordinator sets the view of the internal partition of key.
func (f *fakeCluster) setCoordinator(kind int8, key string, v CoordinatorView) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.coord.views == nil {
		f.coord.views = map[fakeCoordKey]CoordinatorView{}
	}
	v.Partition = coordlog.Partition(key)
	f.coord.views[fakeCoordKey{kind, v.Partition}] = v
}

// localCoordinator makes this node (2) the loaded coordinator of key at
// epoch 5.
func (f *fakeCluster) localCoordinator(kind int8, key string) {
	f.setCoordinator(kind, key, CoordinatorView{Leader: 2, Epoch: 5, Local: true, Loaded: true})
}

func (f *fakeCluster) setAppendErr(err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.coord.appendErr = err
}

func (f *fakeCluster) appendedBatches() []fakeAppend {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.coord.appended)
}

// hooks returns the coordinator hooks the server installed.
func (f *fakeCluster) hooks() (func(int8, int32, int32), func(int8, int32)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.coord.onLoad, f.coord.onUnload
}

func (f *fakeCluster) CoordinatorOf(kind int8, key string) (CoordinatorView, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	v, ok := f.coord.views[fakeCoordKey{kind, coordlog.Partition(key)}]
	if !ok {
		return CoordinatorView{}, ErrCoordinatorNotAvailable
	}
	return v, nil
}

func (f *fakeCluster) AppendInternal(ctx context.Context, kind int8, part int32, epoch int32, raw []byte) (int64, error) {
	f.mu.Lock()
	f.coord.appended = append(f.coord.appended, fakeAppend{kind, part, epoch, slices.Clone(raw)})
	v, ok := f.coord.views[fakeCoordKey{kind, part}]
	release, err, l := f.coord.release, f.coord.appendErr, f.log
	n := int64(len(f.coord.appended))
	f.mu.Unlock()
	switch {
	case !ok || !v.Local:
		return 0, ErrNotLeader
	case epoch != v.Epoch:
		return 0, ErrFencedLeaderEpoch
	}
	if release != nil {
		select {
		case <-release:
		case <-ctx.Done():
			return 0, ctx.Err()
		}
	}
	if err != nil {
		return 0, err
	}
	if err := fakeApply(l, part, n, raw); err != nil {
		return 0, err
	}
	return n - 1, nil
}

func (f *fakeCluster) SetCoordinatorHooks(onLoad func(kind int8, part, epoch int32), onUnload func(kind int8, part int32)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.coord.onLoad, f.coord.onUnload = onLoad, onUnload
}

// offsetRecord is one decoded __consumer_offsets record.
type offsetRecord struct {
	key   kmsg.OffsetCommitKey
	value *kmsg.OffsetCommitValue // nil: a tombstone
}

// decodeOffsetBatch reads a batch of OffsetCommit records with Kafka's own
// layouts (kmsg), as Kafka's tools would.
func decodeOffsetBatch(raw []byte) (batch.Header, []offsetRecord, error) {
	h, recs, err := batch.Records(raw, 0)
	if err != nil {
		return h, nil, err
	}
	var out []offsetRecord
	for _, r := range recs {
		var or offsetRecord
		if len(r.Key) >= 2 && binary.BigEndian.Uint16(r.Key) == 2 {
			var gk kmsg.GroupMetadataKey // DeleteGroups' group tombstone
			if err := gk.ReadFrom(r.Key); err != nil || r.Value != nil {
				return h, nil, fmt.Errorf("group metadata key %x value %x: %v", r.Key, r.Value, err)
			}
			continue
		}
		if err := or.key.ReadFrom(r.Key); err != nil {
			return h, nil, fmt.Errorf("key %x: %w", r.Key, err)
		}
		if or.key.Version != 0 && or.key.Version != 1 {
			return h, nil, fmt.Errorf("key version %d: not an offset commit", or.key.Version)
		}
		if r.Value != nil {
			or.value = new(kmsg.OffsetCommitValue)
			if err := or.value.ReadFrom(r.Value); err != nil {
				return h, nil, fmt.Errorf("value %x: %w", r.Value, err)
			}
		}
		out = append(out, or)
	}
	return h, out, nil
}

// fakeApply is the apply loop of the cluster (package replica) for one
// batch: coordlog's decoding into the view, written by the log's ApplyView.
func fakeApply(l *plog.Log, part int32, applied int64, raw []byte) error {
	ch, err := coordlog.DecodeFrom(coordlog.Group, part, []plog.Batch{{BaseOffset: applied - 1, Raw: raw}}, l)
	if err != nil {
		return err
	}
	return l.ApplyView(coordlog.OffsetsTopic, part, applied, ch)
}
