package kafka

import (
	"context"
	"errors"
	"fmt"

	plog "github.com/zombi-dev/zombi/log"
)

// topicByID finds a topic by its Kafka topic id (Fetch v13+, Metadata v10+,
// DeleteTopics v6+...).
func (s *Server) topicByID(id [16]byte) (plog.TopicInfo, bool) {
	if id == ([16]byte{}) {
		return plog.TopicInfo{}, false
	}
	if it, ok := internalTopicByID(id); ok {
		return it.Info(), true
	}
	if name, ok := s.topicIDCache.Load(id); ok {
		// A deleted and re-created topic has a new id: check it still holds.
		if info, ok := s.log.Topic(name.(string)); ok && info.UUID == id {
			return info, true
		}
		s.topicIDCache.Delete(id)
	}
	for _, t := range s.log.Topics() {
		if t.UUID == id {
			s.topicIDCache.Store(id, t.Name)
			return t, true
		}
	}
	return plog.TopicInfo{}, false
}

// topicIDs maps topic names to their ids, for responses that carry ids.
func (s *Server) topicIDs() map[string][16]byte {
	m := map[string][16]byte{}
	for _, t := range s.log.Topics() {
		m[t.Name] = t.UUID
	}
	for _, it := range plog.InternalTopics() {
		m[it.Name] = it.UUID
	}
	return m
}

// autoCreate returns the topic, creating it when auto-creation is on and
// allowed by the request. In cluster mode the cluster creates it (default
// replication factor) and this node's log has it on return; a topic
// created meanwhile by another request or node is simply there.
func (s *Server) autoCreate(ctx context.Context, name string, allowed bool) (plog.TopicInfo, error) {
	if info, ok := s.lookupTopic(name); ok { // internal topics exist: never created
		return info, nil
	}
	if !plog.ValidTopicName(name) {
		return plog.TopicInfo{}, fmt.Errorf("%w: %q", plog.ErrInvalidTopic, name)
	}
	if !s.cfg.AutoCreateTopics || !allowed {
		return plog.TopicInfo{}, fmt.Errorf("%w: %s", plog.ErrUnknownTopic, name)
	}
	if c := s.cfg.Cluster; c != nil {
		cctx, cancel := context.WithTimeout(ctx, adminTimeout(0))
		defer cancel()
		err := c.CreateTopic(cctx, name, s.cfg.DefaultPartitions, -1, nil)
		if err != nil && !errors.Is(err, plog.ErrTopicExists) {
			return plog.TopicInfo{}, err
		}
		if info, ok := s.log.Topic(name); ok {
			return info, nil
		}
		// Created elsewhere, not yet in this node's log: unknown here for
		// now (retriable; clients ask again).
		return plog.TopicInfo{}, fmt.Errorf("%w: %s (being created)", plog.ErrUnknownTopic, name)
	}
	info, _, err := s.log.EnsureTopic(name, s.cfg.DefaultPartitions)
	return info, err
}

// autoCreateAs is autoCreate for the request's principal: a topic that does
// not exist is created only when the principal may CREATE it (on the
// cluster or the topic); otherwise it is unknown and createDenied is true
// (Metadata answers TOPIC_AUTHORIZATION_FAILED then, as Kafka).
func (s *Server) autoCreateAs(ctx context.Context, name string, allowed bool) (info plog.TopicInfo, createDenied bool, err error) {
	if info, ok := s.lookupTopic(name); ok {
		return info, false, nil
	}
	if allowed && s.cfg.AutoCreateTopics && plog.ValidTopicName(name) && !s.mayCreateTopic(ctx, name) {
		return plog.TopicInfo{}, true, fmt.Errorf("%w: %s", plog.ErrUnknownTopic, name)
	}
	info, err = s.autoCreate(ctx, name, allowed)
	return info, false, err
}
