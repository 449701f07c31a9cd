package catalog

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/zombi-dev/zombi/cluster/coordlog"
	"github.com/zombi-dev/zombi/cluster/meta"
	plog "github.com/zombi-dev/zombi/log"
	"github.com/zombi-dev/zombi/log/batch"
)

// The upgrade of a node alone to node 1 of a cluster, for the
// coordinators (issue 19 point 7, the coordinators' design section 6): its
// committed offsets ('C' keys) and transactions (Meta "txn/{id}") become
// the records of the two internal topics, created on this node alone
// (replication factor 1, leader epoch 0; the controller raises it as nodes
// join), each partition's view marked applied up to its log end in the
// same write. The keys already are the view: only an open transaction
// changes, to PrepareAbort, so that its new coordinator aborts it with
// markers (its pending offsets dropped, as an abort drops them). Every
// step is idempotent: a crash half-way is finished at the next start.

// pidCeilingKey: every producer id a node alone handed out is below it.
const pidCeilingKey = plog.ProducerIDCeilingKey

// txnStateOngoing and txnStatePrepareAbort are the txn package's state
// names (coordlog.TxnState.State).
const (
	txnStateOngoing      = "Ongoing"
	txnStatePrepareAbort = "PrepareAbort"
)

// adoptInternal writes the coordinators' state into the internal topics
// and raises the cluster's producer ids above this node's. It returns how
// many offsets and transactions it wrote.
func (c *Catalog) adoptInternal(ctx context.Context) (int, error) {
	offs, err := c.cfg.Log.AllOffsets()
	if err != nil {
		return 0, fmt.Errorf("adopt offsets: %w", err)
	}
	txns, err := c.cfg.Log.MetaList(coordlog.TxnPrefix)
	if err != nil {
		return 0, fmt.Errorf("adopt transactions: %w", err)
	}
	n := 0
	if len(offs) > 0 {
		byPart := map[int32][]plog.CommittedOffset{}
		for _, o := range offs {
			p := coordlog.Partition(o.Group)
			byPart[p] = append(byPart[p], o)
		}
		now := time.Now().UnixMilli()
		k, err := c.adoptInternalTopic(ctx, coordlog.Group, func(p int32) ([]byte, plog.ViewChange, error) {
			return coordlog.OffsetBatch(byPart[p], nil, now), plog.ViewChange{}, nil
		})
		if err != nil {
			return n, err
		}
		if k > 0 {
			n += len(offs)
		}
	}
	if len(txns) > 0 {
		type entry struct {
			id string
			st coordlog.TxnState
		}
		byPart := map[int32][]entry{}
		for _, kv := range txns {
			id := strings.TrimPrefix(kv.Key, coordlog.TxnPrefix)
			var st coordlog.TxnState
			if err := json.Unmarshal(kv.Value, &st); err != nil {
				return n, fmt.Errorf("adopt transaction %q: %w", id, err)
			}
			byPart[coordlog.Partition(id)] = append(byPart[coordlog.Partition(id)], entry{id, st})
		}
		now := time.Now().UnixMilli()
		k, err := c.adoptInternalTopic(ctx, coordlog.Transaction, func(p int32) ([]byte, plog.ViewChange, error) {
			var ch plog.ViewChange
			b := batch.NewBuilder()
			for _, e := range byPart[p] {
				if e.st.State == txnStateOngoing {
					// Its new coordinator aborts it with markers.
					e.st.State, e.st.UpdateMs = txnStatePrepareAbort, now
					v, err := json.Marshal(e.st)
					if err != nil {
						return nil, ch, err
					}
					ch.Meta = append(ch.Meta, plog.MetaKV{Key: coordlog.TxnPrefix + e.id, Value: v})
				}
				raw := coordlog.TxnStateBatch(e.id, e.st, now)
				if raw == nil {
					return nil, ch, fmt.Errorf("adopt transaction %q: state %q has no Kafka code", e.id, e.st.State)
				}
				_, recs, err := batch.Records(raw, 0)
				if err != nil {
					return nil, ch, fmt.Errorf("adopt transaction %q: %w", e.id, err)
				}
				for _, r := range recs {
					b.Add(r.Timestamp, r.Key, r.Value, nil)
				}
			}
			if b.Len() == 0 {
				return nil, ch, nil
			}
			return append([]byte(nil), b.Bytes()...), ch, nil
		})
		if err != nil {
			return n, err
		}
		if k > 0 {
			n += len(txns)
		}
	}
	if err := c.raiseProducerIDs(ctx); err != nil {
		return n, err
	}
	return n, nil
}

// adoptInternalTopic creates kind's topic on this node alone when the
// catalog lacks it, makes it a log topic, and writes each partition's
// batch (build(p); nil: nothing) with the view change, marking the view
// applied up to the log end. A partition whose view is applied to a log
// end above 0 is done; one with records but an older applied offset
// crashed between the append and the view write and gets the view write
// only (its records are the same keys'). It returns how many partitions
// it wrote.
func (c *Catalog) adoptInternalTopic(ctx context.Context, kind coordlog.Kind, build func(p int32) ([]byte, plog.ViewChange, error)) (int, error) {
	name := coordlog.TopicOf(kind)
	it, _ := plog.LookupInternalTopic(name)
	rec := meta.TopicRecord{Name: name, UUID: it.UUID, Partitions: it.Partitions, Configs: InternalConfigs(name), CreatedMs: time.Now().UnixMilli()}
	states := make([]meta.PartitionState, it.Partitions)
	for p := range states {
		states[p] = meta.PartitionState{Replicas: []int32{c.cfg.NodeID}, ISR: []int32{c.cfg.NodeID}, Leader: c.cfg.NodeID}
	}
	if err := meta.CreateTopic(ctx, c.cfg.Store, rec, states); err != nil {
		had, _, rerr := c.readTopic(ctx, name)
		if !errors.Is(err, meta.ErrExists) || rerr != nil || had.UUID != it.UUID {
			return 0, fmt.Errorf("adopt %s: %w", name, err)
		}
	}
	if err := c.cfg.Log.MakeInternalReal(name); err != nil {
		return 0, fmt.Errorf("adopt %s: %w", name, err)
	}
	wrote := 0
	for p := range it.Partitions {
		leo, err := c.cfg.Log.LogEndOffset(name, p)
		if err != nil {
			return wrote, fmt.Errorf("adopt %s-%d: %w", name, p, err)
		}
		applied, err := c.cfg.Log.ViewApplied(name, p)
		if err != nil {
			return wrote, fmt.Errorf("adopt %s-%d: %w", name, p, err)
		}
		if leo > 0 && applied == leo {
			continue // adopted before
		}
		raw, ch, err := build(p)
		if err != nil {
			return wrote, fmt.Errorf("adopt %s-%d: %w", name, p, err)
		}
		if raw == nil {
			continue
		}
		if leo == 0 {
			// Epoch 0 is the catalog's: the replica manager's own
			// BecomeLeader at Run changes nothing.
			if err := c.cfg.Log.BecomeLeader(name, p, 0); err != nil {
				return wrote, fmt.Errorf("adopt %s-%d: %w", name, p, err)
			}
			_, last, err := c.cfg.Log.AppendInternal(ctx, name, p, raw)
			if err != nil {
				return wrote, fmt.Errorf("adopt %s-%d: %w", name, p, err)
			}
			leo = last + 1
		}
		if err := c.cfg.Log.ApplyView(name, p, leo, ch); err != nil {
			return wrote, fmt.Errorf("adopt %s-%d: %w", name, p, err)
		}
		wrote++
	}
	if wrote > 0 {
		c.logger.Info("local coordinator state adopted into an internal topic", "topic", name, "partitions", wrote, "node", c.cfg.NodeID)
	}
	return wrote, nil
}

// raiseProducerIDs raises the cluster's next producer id (etcd pid/next)
// above every id this node handed out alone, so no cluster id repeats
// one: the ceiling it kept, or the ids of its transactions.
func (c *Catalog) raiseProducerIDs(ctx context.Context) error {
	v, err := c.cfg.Log.Meta(pidCeilingKey)
	if err != nil {
		return fmt.Errorf("adopt producer ids: %w", err)
	}
	if len(v) != 8 {
		return nil // this node never handed out an id
	}
	floor := int64(binary.BigEndian.Uint64(v)) + 1
	for {
		kv, err := c.cfg.Store.Get(ctx, meta.ProducerIDKey)
		if err != nil {
			return fmt.Errorf("adopt producer ids: %w", err)
		}
		if kv.Version != 0 {
			next, err := strconv.ParseInt(string(kv.Value), 10, 64)
			if err != nil {
				return fmt.Errorf("adopt producer ids: %s holds %q", meta.ProducerIDKey, kv.Value)
			}
			if next >= floor {
				return nil
			}
		}
		ok, _, err := c.cfg.Store.Txn(ctx, []meta.Cmp{{Key: meta.ProducerIDKey, Version: kv.Version}},
			[]meta.Op{{Key: meta.ProducerIDKey, Value: strconv.AppendInt(nil, floor, 10)}})
		if err != nil {
			return fmt.Errorf("adopt producer ids: %w", err)
		}
		if ok {
			c.logger.Info("cluster producer ids raised above this node's", "next", floor)
			return nil
		}
	}
}
