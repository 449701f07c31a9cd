package log

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
}
