package meta

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"go.etcd.io/etcd/api/v3/mvccpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// DefaultTimeout bounds an etcd call whose context has no deadline: etcd
// down is ErrUnavailable after it, never a hang.
const DefaultTimeout = 5 * time.Second

// listPage is how many keys one List request reads: a large prefix (many
// partitions) is read in pages at one revision.
const listPage = 1000

// etcdStore is the cluster's Store: every key is prefix+key in etcd, a
// version is etcd's ModRevision, a Txn is one etcd transaction.
type etcdStore struct {
	cli    *clientv3.Client
	prefix string

	mu      sync.Mutex
	closed  bool
	cancels map[*etcdWatcher]context.CancelFunc
}

// NewEtcdStore returns the Store over cli, with every key under prefix
// (cluster.Config.Prefix(), "/{name}/"). Close does not close cli.
func NewEtcdStore(cli *clientv3.Client, prefix string) Store {
	return &etcdStore{cli: cli, prefix: prefix, cancels: make(map[*etcdWatcher]context.CancelFunc)}
}

// bound gives ctx a deadline when it has none.
func bound(ctx context.Context) (context.Context, context.CancelFunc) {
	if _, ok := ctx.Deadline(); ok {
		return context.WithCancel(ctx)
	}
	return context.WithTimeout(ctx, DefaultTimeout)
}

func (s *etcdStore) isClosed() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closed
}

// wrap classifies an etcd error: the caller's own cancellation stays what
// it is, a store that cannot answer in time is ErrUnavailable (with its
// cause), anything else (a request etcd refuses) is returned wrapped.
func (s *etcdStore) wrap(caller context.Context, op string, err error) error {
	if errors.Is(err, context.Canceled) && errors.Is(caller.Err(), context.Canceled) {
		return fmt.Errorf("meta: %s: %w", op, err)
	}
	if unavailable(err) {
		// The client hides why it cannot connect: name where it tried.
		return fmt.Errorf("%w: %s (etcd %s): %w", ErrUnavailable, op, strings.Join(s.cli.Endpoints(), ","), err)
	}
	return fmt.Errorf("meta: %s: %w", op, err)
}

func unavailable(err error) bool {
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
		return true
	}
	code := codes.OK
	var ee rpctypes.EtcdError
	if errors.As(err, &ee) {
		code = ee.Code()
	} else if st, ok := status.FromError(err); ok {
		code = st.Code()
	}
	switch code {
	case codes.Unavailable, codes.DeadlineExceeded, codes.Canceled, codes.Aborted:
		return true
	}
	return false
}

func present(v []byte) []byte {
	if v == nil {
		return []byte{} // empty, not absent: absence is Version 0
	}
	return v
}

func (s *etcdStore) Get(ctx context.Context, key string) (KV, error) {
	if key == "" {
		return KV{}, fmt.Errorf("%w: empty key", errInvalid)
	}
	if s.isClosed() {
		return KV{}, errors.New("meta: store closed")
	}
	bctx, cancel := bound(ctx)
	defer cancel()
	resp, err := s.cli.Get(bctx, s.prefix+key)
	if err != nil {
		return KV{}, s.wrap(ctx, "get "+key, err)
	}
	if len(resp.Kvs) == 0 {
		return KV{Key: key}, nil
	}
	kv := resp.Kvs[0]
	return KV{Key: key, Value: present(kv.Value), Version: kv.ModRevision}, nil
}

func (s *etcdStore) List(ctx context.Context, prefix string) ([]KV, int64, error) {
	if s.isClosed() {
		return nil, 0, errors.New("meta: store closed")
	}
	bctx, cancel := bound(ctx)
	defer cancel()
	from := s.prefix + prefix
	end := clientv3.GetPrefixRangeEnd(from)
	if from == "" {
		from = "\x00" // every key: etcd refuses an empty one
	}
	var out []KV
	var rev int64
	for {
		opts := []clientv3.OpOption{clientv3.WithRange(end), clientv3.WithLimit(listPage)}
		if rev != 0 {
			opts = append(opts, clientv3.WithRev(rev)) // every page at the first one's revision
		}
		resp, err := s.cli.Get(bctx, from, opts...)
		if err != nil {
			return nil, 0, s.wrap(ctx, "list "+prefix, err)
		}
		if rev == 0 {
			rev = resp.Header.Revision
		}
		for _, kv := range resp.Kvs {
			out = append(out, KV{Key: string(kv.Key[len(s.prefix):]), Value: present(kv.Value), Version: kv.ModRevision})
		}
		if !resp.More || len(resp.Kvs) == 0 {
			return out, rev, nil
		}
		from = string(resp.Kvs[len(resp.Kvs)-1].Key) + "\x00"
	}
}

// Txn is one etcd transaction. An ErrUnavailable from it leaves the
// outcome unknown (etcd may have applied it): read again and decide on
// the versions, as every change is a CAS.
func (s *etcdStore) Txn(ctx context.Context, cmps []Cmp, ops []Op) (bool, int64, error) {
	if err := checkTxn(cmps, ops); err != nil {
		return false, 0, err
	}
	if s.isClosed() {
		return false, 0, errors.New("meta: store closed")
	}
	ifs := make([]clientv3.Cmp, len(cmps))
	for i, c := range cmps {
		if c.Version == 0 {
			ifs[i] = clientv3.Compare(clientv3.CreateRevision(s.prefix+c.Key), "=", 0)
		} else {
			ifs[i] = clientv3.Compare(clientv3.ModRevision(s.prefix+c.Key), "=", c.Version)
		}
	}
	thens := make([]clientv3.Op, len(ops))
	for i, op := range ops {
		if op.Delete {
			thens[i] = clientv3.OpDelete(s.prefix + op.Key)
		} else {
			thens[i] = clientv3.OpPut(s.prefix+op.Key, string(op.Value))
		}
	}
	bctx, cancel := bound(ctx)
	defer cancel()
	resp, err := s.cli.Txn(bctx).If(ifs...).Then(thens...).Commit()
	if err != nil {
		return false, 0, s.wrap(ctx, "txn", err)
	}
	return resp.Succeeded, resp.Header.Revision, nil
}

// etcdWatcher translates an etcd watch.
type etcdWatcher struct {
	out chan []Event
	mu  sync.Mutex
	err error
}

func (w *etcdWatcher) Events() <-chan []Event { return w.out }

func (w *etcdWatcher) Err() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.err
}

// Watch is an etcd watch of the prefix from revision after+1. It requires
// a leader (a member cut off from its cluster breaks the watch rather than
// going quiet); the client resumes a watch across a reconnection from the
// last revision it saw, so a restarted etcd misses nothing, and a
// compacted revision breaks the watch.
func (s *etcdStore) Watch(ctx context.Context, prefix string, after int64) Watcher {
	w := &etcdWatcher{out: make(chan []Event)}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		w.err = fmt.Errorf("%w: store closed", ErrWatchBroken)
		close(w.out)
		return w
	}
	wctx, cancel := context.WithCancel(clientv3.WithRequireLeader(ctx))
	s.cancels[w] = cancel
	s.mu.Unlock()
	ch := s.cli.Watch(wctx, s.prefix+prefix, clientv3.WithPrefix(), clientv3.WithRev(after+1))
	go s.relay(ctx, wctx, w, ch)
	return w
}

func (s *etcdStore) relay(caller, wctx context.Context, w *etcdWatcher, ch clientv3.WatchChan) {
	cause := errors.New("watch ended")
	defer func() {
		s.mu.Lock()
		if cancel, ok := s.cancels[w]; ok {
			cancel()
			delete(s.cancels, w)
		}
		s.mu.Unlock()
		w.mu.Lock()
		if caller.Err() == nil {
			w.err = fmt.Errorf("%w: %w", ErrWatchBroken, cause)
		}
		w.mu.Unlock()
		close(w.out)
		for range ch { // let the client's watch goroutine finish
		}
	}()
	for resp := range ch {
		if err := resp.Err(); err != nil {
			cause = err
			if resp.CompactRevision != 0 {
				cause = fmt.Errorf("compacted at revision %d: %w", resp.CompactRevision, err)
			}
			return
		}
		if resp.Canceled {
			cause = errors.New("watch canceled by etcd")
			return
		}
		if len(resp.Events) == 0 {
			continue // progress notification
		}
		batch := make([]Event, len(resp.Events))
		for i, ev := range resp.Events {
			batch[i] = Event{KV: KV{Key: string(ev.Kv.Key[len(s.prefix):]), Version: ev.Kv.ModRevision}}
			if ev.Type == mvccpb.DELETE {
				batch[i].Deleted = true
			} else {
				batch[i].KV.Value = present(ev.Kv.Value)
			}
		}
		select {
		case w.out <- batch:
		case <-wctx.Done():
			if caller.Err() == nil {
				cause = errors.New("store closed")
			}
			return
		}
	}
}

func (s *etcdStore) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
	for w, cancel := range s.cancels {
		cancel()
		delete(s.cancels, w)
	}
	return nil
}
