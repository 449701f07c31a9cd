package log

import "slices"

// WatchTopics returns a channel closed at the next change of the topic set:
// a topic created or deleted, or given more partitions. A reader that
// follows partitions (the REST API's live tail) waits on it beside the
// partitions' Watch channels to notice a deleted topic or new partitions
// without polling.
func (l *Log) WatchTopics() <-chan struct{} {
	l.topicsMu.Lock()
	defer l.topicsMu.Unlock()
	if l.topicsCh == nil {
		l.topicsCh = make(chan struct{})
	}
	return l.topicsCh
}

// topicsChanged wakes the WatchTopics waiters. Callers call it after the
// change is visible through Topic.
func (l *Log) topicsChanged() {
	l.topicsMu.Lock()
	defer l.topicsMu.Unlock()
	if l.topicsCh != nil {
		close(l.topicsCh)
		l.topicsCh = nil
	}
	l.names = nil
	l.namesGen++
}

// TopicNames returns the topic names, sorted: a copy of a list kept until
// the topic set changes, so that listing a page of many thousand topics
// neither copies every TopicInfo nor sorts at each call.
func (l *Log) TopicNames() []string {
	l.topicsMu.Lock()
	names := l.names
	l.topicsMu.Unlock()
	if names == nil {
		// Read the set before publishing: a change after this read clears
		// l.names again (topicsChanged), so a stale list never stays.
		l.topicsMu.Lock()
		gen := l.namesGen
		l.topicsMu.Unlock()
		l.mu.RLock()
		names = make([]string, 0, len(l.topics))
		for name := range l.topics {
			names = append(names, name)
		}
		l.mu.RUnlock()
		slices.Sort(names)
		l.topicsMu.Lock()
		if l.namesGen == gen {
			l.names = names
		}
		l.topicsMu.Unlock()
	}
	return slices.Clone(names)
}
