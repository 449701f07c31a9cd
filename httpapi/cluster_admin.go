package httpapi

import (
	"context"
	"errors"
	"fmt"

	plog "github.com/zombi-dev/zombi/log"
)

// Topic changes of the admin routes: on the local log alone, through the
// cluster's catalog in cluster mode (every node's log follows it; each call
// returns once this node's log has the change).

// createTable: PUT /tables/{t}. Cluster mode: replication factor
// ZOMBI_DEFAULT_REPLICATION_FACTOR.
func (s *server) createTable(ctx context.Context, table string, parts int32, configs map[string]string) (plog.TopicInfo, error) {
	if s.cfg.Cluster == nil {
		return s.log.CreateTopic(table, parts, configs)
	}
	if err := s.cfg.Cluster.CreateTopic(ctx, table, parts, -1, configs); err != nil {
		return plog.TopicInfo{}, err
	}
	if info, ok := s.waitTable(ctx, table); ok {
		return info, nil
	}
	return plog.TopicInfo{}, fmt.Errorf("table %s was created but has not reached this node yet: %w", table, ErrClusterUnavailable)
}

// setTableConfigs: PATCH /tables/{t}/configs (next: the whole set).
func (s *server) setTableConfigs(ctx context.Context, info plog.TopicInfo, next map[string]string) (plog.TopicInfo, error) {
	if s.cfg.Cluster == nil {
		return s.log.SetTopicConfigs(info.Name, info.UUID, next)
	}
	if err := s.cfg.Cluster.SetTopicConfigs(ctx, info.Name, next); err != nil {
		return plog.TopicInfo{}, err
	}
	got, ok := s.log.Topic(info.Name)
	if !ok {
		return plog.TopicInfo{}, fmt.Errorf("table %s: %w", info.Name, plog.ErrUnknownTopic)
	}
	return got, nil
}

// dropTable: DELETE /tables/{t}.
func (s *server) dropTable(ctx context.Context, name string) error {
	if s.cfg.Cluster == nil {
		return s.log.DeleteTopic(name)
	}
	err := s.cfg.Cluster.DeleteTopic(ctx, name)
	if errors.Is(err, plog.ErrUnknownTopic) {
		return notFound("table %s does not exist", name)
	}
	return err
}
