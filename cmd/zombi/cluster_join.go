package main

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"strconv"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kgo"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/zombi-dev/zombi/cli"
	"github.com/zombi-dev/zombi/cluster"
	"github.com/zombi-dev/zombi/cluster/meta"
	"github.com/zombi-dev/zombi/httpapi"
	"github.com/zombi-dev/zombi/kafka"
	plog "github.com/zombi-dev/zombi/log"
)

// membership is the node's place in a cluster; nil alone (no
// ZOMBI_ETCD_ENDPOINTS), and then every method is a no-op.
type membership struct {
	cli  *clientv3.Client
	node *cluster.Node
	cfg  cluster.Config
}

// joinCluster connects to etcd and registers the node before it serves.
// Its errors are one line: etcd unreachable, the id live elsewhere.
func joinCluster(ctx context.Context, cc cluster.Config, rec meta.NodeRecord) (*membership, error) {
	if !cc.Enabled() {
		return nil, nil
	}
	cli, err := cluster.Connect(ctx, cc)
	if err != nil {
		return nil, err
	}
	rec.ID = cc.NodeID
	node, err := cluster.Join(ctx, cli, cc, rec)
	if err != nil {
		cli.Close()
		return nil, err
	}
	return &membership{cli: cli, node: node, cfg: cc}, nil
}

// ready wraps GET /health/ready's check: not ready while the node is not
// registered (its session lost, re-registering).
func (m *membership) ready(next func() error) func() error {
	if m == nil {
		return next
	}
	return func() error {
		if !m.node.Ready() {
			return fmt.Errorf("not joined to the cluster (node %d: %s)", m.node.ID(), m.node.State())
		}
		if next != nil {
			return next()
		}
		return nil
	}
}

// leave revokes the registration (the id is free at once) and closes the
// etcd client.
func (m *membership) leave(logger *slog.Logger) {
	if m == nil {
		return
	}
	if err := m.node.Close(); err != nil {
		logger.Warn("leave the cluster", "err", err)
	}
	m.cli.Close()
}

// nodeRecord is the registration: the advertised Kafka listeners (as the
// Kafka door advertises them: the configured address, else the bound one
// with localhost for a wildcard, ZOMBI_KAFKA_ADVERTISED_HOST/PORT winning)
// and the REST API's base URL.
func nodeRecord(cfg Config, kafkaLns []net.Listener, httpLn net.Listener) meta.NodeRecord {
	rec := meta.NodeRecord{Version: cli.Build().Version}
	for i, ln := range kafkaLns {
		lc := cfg.KafkaListeners[i]
		adv, explicit := lc.Advertised, lc.Advertised != ""
		if !explicit {
			adv = ln.Addr().String()
		}
		host, portStr, err := net.SplitHostPort(adv)
		if err != nil {
			continue
		}
		port, _ := strconv.Atoi(portStr)
		if !explicit {
			if host = wildcardHost(host); cfg.KafkaAdvHost != "" {
				host = cfg.KafkaAdvHost
			}
			if cfg.KafkaAdvPort != 0 {
				port = cfg.KafkaAdvPort
			}
		}
		rec.Listeners = append(rec.Listeners, meta.Listener{Name: lc.Protocol, SecurityProtocol: lc.Protocol, Host: host, Port: int32(port)})
	}
	scheme := "http://"
	if cfg.HTTPTLS {
		scheme = "https://"
	}
	if host, port, err := net.SplitHostPort(httpLn.Addr().String()); err == nil {
		if h := wildcardHost(host); h != host && cfg.KafkaAdvHost != "" {
			host = cfg.KafkaAdvHost // bound to all addresses: where clients reach the node
		} else {
			host = h
		}
		rec.HTTP = scheme + net.JoinHostPort(host, port)
	}
	return rec
}

// wildcardHost is a bound host as a client names it: localhost for a
// wildcard address.
func wildcardHost(bound string) string {
	if ip := net.ParseIP(bound); bound == "" || ip != nil && ip.IsUnspecified() {
		return "localhost"
	}
	return bound
}

// interNode is how this node's clients reach the other nodes (settings in
// internode_config.go).
type interNode struct {
	listener string
	kgoOpts  []kgo.Opt
}

// runtime is the node's cluster mode at work; nil alone.
type runtime struct{ rt *cluster.Runtime }

// start runs the catalog and the replica manager: the local log follows
// the cluster's topics (a node with data on an empty cluster prefix adopts
// its topics into it: the single-node upgrade).
func (m *membership) start(ctx context.Context, l *plog.Log, in interNode, logger *slog.Logger) (*runtime, error) {
	if m == nil {
		return nil, nil
	}
	rt, err := cluster.Start(ctx, m.cli, m.node, m.cfg, cluster.RuntimeOptions{Log: l, Adopt: true, Logger: logger,
		InterNodeListener: in.listener, KgoOpts: in.kgoOpts})
	if err != nil {
		return nil, fmt.Errorf("cluster: %w", err)
	}
	return &runtime{rt: rt}, nil
}

// door is what the Kafka door asks: nil alone (a nil interface, not a
// typed nil).
func (r *runtime) door() kafka.Cluster {
	if r == nil {
		return nil
	}
	return r.rt
}

// api is what the REST API asks: nil alone (a nil interface).
func (r *runtime) api() httpapi.Cluster {
	if r == nil {
		return nil
	}
	return r.rt.HTTP()
}

// collectors are the cluster's metrics (none alone).
func (r *runtime) collectors() []prometheus.Collector {
	if r == nil {
		return nil
	}
	return []prometheus.Collector{r.rt.Collector()}
}

// controlledShutdown moves this node's leaderships away before the doors
// stop (SIGTERM), bounded by cluster.ControlledShutdownTimeout.
func (r *runtime) controlledShutdown(logger *slog.Logger) {
	if r == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), cluster.ControlledShutdownTimeout)
	defer cancel()
	if _, err := r.rt.ControlledShutdown(ctx); err != nil {
		logger.Warn("controlled shutdown incomplete; the controller moves the rest when this node's registration ends", "err", err)
	}
}

func (r *runtime) close() {
	if r != nil {
		r.rt.Close()
	}
}

// clusterListeners are a node's Kafka listeners as GET /cluster shows them
// (a node alone).
func clusterListeners(rec meta.NodeRecord) []httpapi.ClusterListener {
	out := make([]httpapi.ClusterListener, 0, len(rec.Listeners))
	for _, l := range rec.Listeners {
		out = append(out, httpapi.ClusterListener{Name: l.Name, Host: l.Host, Port: l.Port})
	}
	return out
}

// producerIDs are the cluster's producer-id blocks; nil alone.
func (r *runtime) producerIDs() func(context.Context) (int64, int64, error) {
	if r == nil {
		return nil
	}
	return r.rt.ProducerIDBlock
}
