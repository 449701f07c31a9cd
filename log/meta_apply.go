package log

import (
	"errors"
	"fmt"
)

// ApplyMeta writes several metadata entries at once: a nil Value deletes
// its key, any other Value (empty included) is stored. All of them or none
// land, in one RocksDB write through the writer (so it orders with appends
// and other meta writes), and it is fsynced before ApplyMeta returns even
// when SyncWrites is off: the cluster's metadata store (cluster/meta) hands
// out versions for compare-and-swap on these keys, and a version must
// never go back after a crash.
func (l *Log) ApplyMeta(kvs []MetaKV) error {
	if len(kvs) == 0 {
		return nil
	}
	for _, kv := range kvs {
		if kv.Key == "" {
			return errors.New("log: ApplyMeta: empty key")
		}
	}
	if err := l.writeMeta(kvs); err != nil {
		return err
	}
	if l.opts.SyncWrites {
		return nil // the writer's round was synced already
	}
	if err := l.enter(); err != nil {
		return err
	}
	defer l.closeMu.RUnlock()
	if err := l.db.FlushWAL(true); err != nil {
		return fmt.Errorf("%w: sync meta: %w", ErrStorage, err)
	}
	return nil
}
