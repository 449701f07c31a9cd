package main

import (
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/zombi-dev/zombi/cluster"
	plog "github.com/zombi-dev/zombi/log"
)

// icebergOwnership is who materializes which topic in a cluster: one owner
// per topic, elected through etcd (cluster.IcebergOwners); nil alone, where
// the node materializes every enabled topic.
type icebergOwnership struct {
	owners atomic.Pointer[cluster.IcebergOwners] // set once the node has joined
	// shared: the warehouse is one every node writes (s3://, or a
	// directory set explicitly, which the operator says is shared). The
	// default {data dir}/iceberg is each node's own: a table there would
	// start again from the log's start on every handover.
	shared bool
}

func newIcebergOwnership(cfg Config) *icebergOwnership {
	if !cfg.Cluster.Enabled() {
		return nil
	}
	return &icebergOwnership{shared: cfg.IcebergWarehouse != "" || cfg.S3Bucket != ""}
}

// owns is the materializer's Config.Owns: nil alone; in a cluster, false
// until the node has joined and for the topics another node owns.
func (o *icebergOwnership) owns() func(topic string) bool {
	if o == nil {
		return nil
	}
	return func(topic string) bool {
		owners := o.owners.Load()
		return owners != nil && owners.Owns(topic)
	}
}

// start campaigns for the enabled topics this node can materialize; the
// returned stop steps down from them (before the runtime closes).
func (o *icebergOwnership) start(rt *runtime, l *plog.Log, logger *slog.Logger) (stop func()) {
	if o == nil || rt == nil {
		return func() {}
	}
	enabled := func() []string {
		var out []string
		for _, ti := range l.Topics() {
			if !plog.IsInternalTopic(ti.Name) && ti.Effective().Iceberg.Enable {
				out = append(out, ti.Name)
			}
		}
		return out
	}
	if !o.shared {
		return warnUnshared(enabled, logger)
	}
	owners := rt.rt.IcebergOwners(enabled)
	o.owners.Store(owners)
	return func() {
		o.owners.Store(nil)
		owners.Close()
	}
}

// warnUnshared says once per topic, while it runs, that a topic with
// zombi.iceberg.enable is not materialized for want of a shared warehouse.
func warnUnshared(enabled func() []string, logger *slog.Logger) (stop func()) {
	done := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		warned := map[string]bool{}
		t := time.NewTicker(5 * time.Second)
		defer t.Stop()
		for {
			for _, topic := range enabled() {
				if !warned[topic] {
					warned[topic] = true
					logger.Warn("topic not materialized to Iceberg: in a cluster the warehouse must be one every node shares; set ZOMBI_ICEBERG_WAREHOUSE=s3://bucket/prefix (or a directory every node mounts) or ZOMBI_S3_BUCKET", "topic", topic)
				}
			}
			select {
			case <-done:
				return
			case <-t.C:
			}
		}
	}()
	return func() { close(done); <-finished }
}
