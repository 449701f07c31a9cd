package log

import (
	"encoding/json"
	"fmt"

	"github.com/linxGnu/grocksdb"
	"github.com/zombi-dev/zombi/log/topicconfig"
)

// TopicDefaults are the broker-level values of the topic configs Zombi
// honours (what a topic without an override gets).
func (l *Log) TopicDefaults() topicconfig.Broker { return l.broker }

// SetConfigGuard installs a check of every config change of an existing
// topic (old and next overrides) before it is stored; its error refuses the
// change and is returned as it is (a *topicconfig.InvalidError for
// INVALID_CONFIG and 400). The Iceberg materializer refuses a mode its
// existing table cannot take.
func (l *Log) SetConfigGuard(f func(name string, old, next map[string]string) error) {
	l.guard.Store(&f)
}

// SetTopicConfigs replaces a topic's config overrides with configs (nil or
// empty: none), durably: one fsynced RocksDB write of the topic's metadata.
// The change applies only to the incarnation of the topic whose id is uuid:
// if the topic was deleted (and perhaps recreated) since the caller read
// it, ErrUnknownTopic and nothing changes. Appends and readers of
// TopicInfo see the new values as soon as it returns. The caller validates
// (topicconfig.Validate); the log stores what it is given.
func (l *Log) SetTopicConfigs(name string, uuid [16]byte, configs map[string]string) (TopicInfo, error) {
	if err := l.enter(); err != nil {
		return TopicInfo{}, err
	}
	defer l.closeMu.RUnlock()
	if g := l.guard.Load(); g != nil {
		// Before metaMu: the guard may read the object store.
		l.mu.RLock()
		t, ok := l.topics[name]
		l.mu.RUnlock()
		if ok && t.info.UUID == uuid {
			if err := (*g)(name, t.info.Configs, configs); err != nil {
				return TopicInfo{}, err
			}
		}
	}
	l.metaMu.Lock()
	defer l.metaMu.Unlock()
	l.mu.RLock()
	t, ok := l.topics[name]
	l.mu.RUnlock()
	if !ok || t.info.UUID != uuid {
		return TopicInfo{}, fmt.Errorf("%w: %s", ErrUnknownTopic, name)
	}
	info := t.info
	info.Configs = nil
	if len(configs) > 0 {
		info.Configs = make(map[string]string, len(configs))
		for k, v := range configs {
			info.Configs[k] = v
		}
	}
	meta, err := json.Marshal(info)
	if err != nil {
		return t.info, err
	}
	wb := grocksdb.NewWriteBatch()
	defer wb.Destroy()
	wb.Put(append([]byte{kindTopic}, name...), meta)
	wo := grocksdb.NewDefaultWriteOptions()
	defer wo.Destroy()
	wo.SetSync(true) // rare, and an operator expects it to stick
	if err := l.db.Write(wo, wb); err != nil {
		return t.info, fmt.Errorf("set configs of %s: %w: %w", name, ErrStorage, err)
	}
	info.eff = topicconfig.Resolve(info.Configs, l.broker)
	l.mu.Lock()
	// metaMu kept every other change of this topic out: t is still current.
	l.topics[name] = &topic{info: info, parts: t.parts, out: t.out}
	l.mu.Unlock()
	l.logger.Info("topic configs changed", "topic", name, "configs", info.Configs)
	return info, nil
}
