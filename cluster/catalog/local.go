package catalog

import (
	"errors"
	"fmt"
	"maps"
	"slices"

	"github.com/zombi-dev/zombi/cluster/meta"
	plog "github.com/zombi-dev/zombi/log"
)

// reconcile makes the local log match want for the named topics; a topic
// the log fails to take is put in dirty (retried by Run).
func (c *Catalog) reconcile(names map[string]bool, dirty map[string]bool) {
	for _, name := range slices.Sorted(maps.Keys(names)) {
		var err error
		if t, ok := c.want[name]; ok {
			err = c.syncLocal(t.Record)
		} else {
			err = c.dropLocal(name, "deleted from the catalog")
		}
		c.failed(name, err, dirty)
	}
}

// failed records how a topic's local change went: a refusal the log will
// repeat (a name or count it cannot take, in a catalog written by another
// program) is logged and left; another failure (storage) makes the topic
// dirty, retried by Run. Each failure is logged when it starts or changes,
// not at every retry.
func (c *Catalog) failed(name string, err error, dirty map[string]bool) {
	if err == nil {
		if _, ok := c.failing[name]; ok {
			c.logger.Info("local log matches the topic catalog again", "topic", name)
			delete(c.failing, name)
		}
		return
	}
	permanent := errors.Is(err, plog.ErrInvalidTopic) || errors.Is(err, plog.ErrInvalidPartitions) ||
		errors.Is(err, plog.ErrTooManyPartitions) || errors.Is(err, plog.ErrInternalTopic)
	if !permanent {
		dirty[name] = true
	}
	if c.failing[name] == err.Error() {
		return
	}
	c.failing[name] = err.Error()
	if permanent {
		c.logger.Error("the local log cannot take a topic of the catalog; left out", "topic", name, "err", err)
	} else {
		c.logger.Error("local log does not match the topic catalog; retrying", "topic", name, "err", err)
	}
}

// syncLocal makes the local topic rec's: same id (a local topic of another
// id is an older one, deleted and recreated while this node was away: it
// goes), partitions and configs.
func (c *Catalog) syncLocal(rec meta.TopicRecord) error {
	if plog.IsInternalTopic(rec.Name) {
		// Cluster mode: a real, replicated topic (internal.go).
		if err := c.syncInternal(rec); err != nil {
			return err
		}
	}
	l := c.cfg.Log
	info, ok := l.Topic(rec.Name)
	if ok && info.UUID != rec.UUID {
		if err := c.dropLocal(rec.Name, "another topic of that name is in the catalog"); err != nil {
			return err
		}
		ok = false
	}
	if !ok {
		var err error
		if info, _, err = l.EnsureTopicWithID(rec.Name, rec.Partitions, rec.UUID); err != nil {
			return fmt.Errorf("create: %w", err)
		}
		if info.UUID != rec.UUID {
			return fmt.Errorf("created meanwhile with id %x, catalog has %x", info.UUID, rec.UUID)
		}
		c.logger.Info("topic created from the catalog", "topic", rec.Name, "partitions", rec.Partitions)
	}
	if info.Partitions < rec.Partitions {
		var err error
		if info, err = l.AddPartitions(rec.Name, rec.Partitions); err != nil {
			return fmt.Errorf("add partitions: %w", err)
		}
	} else if info.Partitions > rec.Partitions {
		// Partitions never shrink; a catalog with fewer is a topic whose
		// creation stopped half-way in steps (meta.CreateTopic): the
		// extra local partitions stay, unused.
		c.logger.Warn("local topic has more partitions than the catalog", "topic", rec.Name, "local", info.Partitions, "catalog", rec.Partitions)
	}
	if !sameConfigs(info.Configs, rec.Configs) {
		if _, err := l.SetTopicConfigs(rec.Name, rec.UUID, rec.Configs); err != nil {
			return fmt.Errorf("set configs: %w", err)
		}
	}
	return nil
}

func sameConfigs(a, b map[string]string) bool {
	return len(a) == len(b) && maps.Equal(a, b)
}

// dropLocal deletes a local topic (none: nothing to do).
func (c *Catalog) dropLocal(name, why string) error {
	if plog.IsInternalTopic(name) {
		return nil
	}
	if _, ok := c.cfg.Log.Topic(name); !ok {
		return nil
	}
	if err := c.cfg.Log.DeleteTopic(name); err != nil && !errors.Is(err, plog.ErrUnknownTopic) {
		return fmt.Errorf("delete: %w", err)
	}
	c.logger.Warn("local topic deleted", "topic", name, "why", why)
	return nil
}

// pruneLocal deletes the local topics the catalog does not have.
func (c *Catalog) pruneLocal(dirty map[string]bool) {
	for _, name := range c.cfg.Log.TopicNames() {
		if _, ok := c.want[name]; ok || dirty[name] {
			continue
		}
		c.failed(name, c.dropLocal(name, "not in the topic catalog"), dirty)
	}
}
