package coordlog

import (
	"fmt"
	"strconv"
	"strings"

	plog "github.com/zombi-dev/zombi/log"
)

// MetaReader is the view as DecodeFrom and PendingIn read it (*log.Log).
type MetaReader interface {
	Meta(key string) ([]byte, error)
	MetaList(prefix string) ([]plog.MetaKV, error)
}

// DecodeFrom is Decode with the producers' pending offsets read from the
// view (the apply loop's call): an unreadable pending entry is an error,
// not an empty list, so a commit never drops offsets silently.
func DecodeFrom(kind Kind, p int32, batches []plog.Batch, view MetaReader) (plog.ViewChange, error) {
	var readErr error
	ch, err := Decode(kind, p, batches, func(pid int64) []plog.CommittedOffset {
		v, err := view.Meta(PendingKey(p, pid))
		if err == nil && v != nil {
			var offs []plog.CommittedOffset
			if offs, err = DecodePending(v); err == nil {
				return offs
			}
		}
		if err != nil && readErr == nil {
			readErr = fmt.Errorf("pending offsets of producer %d in %s-%d: %w", pid, OffsetsTopic, p, err)
		}
		return nil
	})
	if err != nil {
		return plog.ViewChange{}, err
	}
	if readErr != nil {
		return plog.ViewChange{}, readErr
	}
	return ch, nil
}

// PendingIn returns the transactional offsets awaiting their marker in
// __consumer_offsets-p, by producer id (OffsetFetch's require_stable: an
// offset of a group here is unstable).
func PendingIn(view MetaReader, p int32) (map[int64][]plog.CommittedOffset, error) {
	kvs, err := view.MetaList(PendingPrefix(p))
	if err != nil {
		return nil, fmt.Errorf("pending offsets of %s-%d: %w", OffsetsTopic, p, err)
	}
	out := make(map[int64][]plog.CommittedOffset, len(kvs))
	for _, kv := range kvs {
		pid, err := strconv.ParseInt(strings.TrimPrefix(kv.Key, PendingPrefix(p)), 10, 64)
		if err != nil {
			return nil, fmt.Errorf("pending offsets key %q: %w", kv.Key, err)
		}
		offs, err := DecodePending(kv.Value)
		if err != nil {
			return nil, fmt.Errorf("pending offsets of producer %d in %s-%d: %w", pid, OffsetsTopic, p, err)
		}
		out[pid] = offs
	}
	return out, nil
}
