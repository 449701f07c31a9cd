package main

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/zombi-dev/zombi/cluster"
)

// clusterSettings are DESIGN.md's "Cluster" settings. Without
// ZOMBI_ETCD_ENDPOINTS they are still checked (a typo fails start the same
// way in both modes) but change nothing.
var clusterSettings = append([]setting{
	{"ZOMBI_ETCD_ENDPOINTS", "etcd-endpoints", "", "comma list of etcd client URLs (http://host:port or https://host:port); set, the node joins the cluster ZOMBI_CLUSTER_NAME whose metadata lives in that etcd (empty: one node alone, and the other cluster settings are checked but ignored)", setEtcdEndpoints},
	{"ZOMBI_CLUSTER_NAME", "cluster-name", cluster.DefaultName, "the cluster's etcd key prefix /{name}/ (1 to 64 of A-Z a-z 0-9 . _ -); several clusters may share one etcd", setClusterName},
	{"ZOMBI_NODE_ID", "node-id", strconv.Itoa(cluster.DefaultNodeID), "this node's Kafka node id, unique in the cluster and stable across restarts (0 to 2147483647); a node whose id is already live refuses to start", intSetter(0, math.MaxInt32, func(c *Config, n int64) { c.Cluster.NodeID = int32(n) })},
	{"ZOMBI_NODE_RACK", "node-rack", "", "Kafka's broker.rack: replicas of a partition go to distinct racks, consumers with client.rack read from their rack (printable, at most 255 bytes)", setNodeRack},
	{"ZOMBI_SESSION_TIMEOUT_MS", "session-timeout-ms", strconv.FormatInt(cluster.DefaultSessionTimeout.Milliseconds(), 10), "the etcd lease of this node's registration: a node silent this long is dead to the cluster and its partitions move (1000 to 300000; etcd leases are whole seconds: rounded up to the next second)", intSetter(1000, 300000, func(c *Config, n int64) { c.Cluster.SessionTimeout = time.Duration(n) * time.Millisecond })},
	{"ZOMBI_DEFAULT_REPLICATION_FACTOR", "default-replication-factor", "", "replicas of a topic when CreateTopics or a first write gives none (1 to 32767; empty: min(3, live nodes))", setDefaultReplicationFactor},
	{"ZOMBI_MIN_INSYNC_REPLICAS", "min-insync-replicas", strconv.Itoa(cluster.DefaultMinInsyncReplicas), "broker default of the topic config min.insync.replicas in cluster mode: with acks=all, fewer in-sync replicas refuse the write (at least 1)", intSetter(1, math.MaxInt32, func(c *Config, n int64) { c.Cluster.MinInsyncReplicas = int(n) })},
	{"ZOMBI_REPLICA_LAG_TIME_MAX_MS", "replica-lag-time-max-ms", strconv.FormatInt(cluster.DefaultReplicaLagTimeMax.Milliseconds(), 10), "a follower not caught up with the leader for this long leaves the ISR (Kafka's replica.lag.time.max.ms; at least 100)", intSetter(100, math.MaxInt32, func(c *Config, n int64) { c.Cluster.ReplicaLagTimeMax = time.Duration(n) * time.Millisecond })},
	{"ZOMBI_ETCD_CA_FILE", "etcd-ca-file", "", "PEM CA certificates that sign the etcd servers' certificates (default: the system's)", etcdFileSetter(func(c *Config) *string { return &c.Cluster.CAFile })},
	{"ZOMBI_ETCD_CERT_FILE", "etcd-cert-file", "", "PEM client certificate presented to etcd (with ZOMBI_ETCD_KEY_FILE)", etcdFileSetter(func(c *Config) *string { return &c.Cluster.CertFile })},
	{"ZOMBI_ETCD_KEY_FILE", "etcd-key-file", "", "PEM private key of ZOMBI_ETCD_CERT_FILE", etcdFileSetter(func(c *Config) *string { return &c.Cluster.KeyFile })},
	{"ZOMBI_ETCD_USERNAME", "etcd-username", "", "etcd user (with ZOMBI_ETCD_PASSWORD) when etcd has authentication on", setEtcdUsername},
	{"ZOMBI_ETCD_PASSWORD", "etcd-password", "", "password of ZOMBI_ETCD_USERNAME (a secret: prefer the environment to the flag; never printed)", func(c *Config, v string) error {
		c.Cluster.Password = v // as given: spaces may be part of it
		return nil
	}},
}, interNodeSettings...)

// isClusterSetting reports whether a variable is one of clusterSettings.
func isClusterSetting(env string) bool {
	return slices.ContainsFunc(clusterSettings, func(s setting) bool { return s.env == env })
}

// setEtcdEndpoints parses the comma list of etcd client URLs into
// scheme://host:port, each at most once. Errors never quote an entry that
// holds credentials.
func setEtcdEndpoints(c *Config, v string) error {
	c.Cluster.Endpoints = nil
	if strings.TrimSpace(v) == "" {
		return nil
	}
	seen := map[string]bool{}
	for i, e := range strings.Split(v, ",") {
		e = strings.TrimSpace(e)
		if e == "" {
			return fmt.Errorf("entry %d is empty (want http://host:port or https://host:port, comma-separated)", i+1)
		}
		ep, err := parseEtcdEndpoint(e)
		if err != nil {
			return fmt.Errorf("entry %d: %w", i+1, err)
		}
		if seen[ep] {
			return fmt.Errorf("%s given twice", ep)
		}
		seen[ep] = true
		c.Cluster.Endpoints = append(c.Cluster.Endpoints, ep)
	}
	https := strings.HasPrefix(c.Cluster.Endpoints[0], "https://")
	for _, ep := range c.Cluster.Endpoints[1:] {
		// etcd's client dials every endpoint with the first one's
		// credentials: a mixed list would half fail.
		if strings.HasPrefix(ep, "https://") != https {
			return errors.New("mixes http:// and https:// endpoints: use one scheme for all")
		}
	}
	return nil
}

// parseEtcdEndpoint checks one etcd client URL and returns it as
// scheme://host:port.
func parseEtcdEndpoint(e string) (string, error) {
	scheme, rest, ok := strings.Cut(e, "://")
	if !ok {
		rest = e
	}
	if host, _, _ := strings.Cut(rest, "/"); strings.Contains(host, "@") {
		// Not quoted: it holds a user and perhaps a password.
		return "", errors.New("holds credentials (user@host): use ZOMBI_ETCD_USERNAME and ZOMBI_ETCD_PASSWORD")
	}
	if !ok {
		return "", fmt.Errorf("%q has no scheme: write http://%s or https://%s", e, e, e)
	}
	scheme = strings.ToLower(scheme)
	if scheme != "http" && scheme != "https" {
		return "", fmt.Errorf("%q: the scheme must be http:// or https://", e)
	}
	u, err := url.Parse(scheme + "://" + rest)
	if err != nil {
		return "", fmt.Errorf("%q is not a URL", e)
	}
	if (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" {
		return "", fmt.Errorf("%q: only scheme://host:port, without a path or query", e)
	}
	host, port := u.Hostname(), u.Port()
	if host == "" {
		return "", fmt.Errorf("%q names no host", e)
	}
	// '_' too: Docker's DNS resolves service names such as etcd_1.
	if net.ParseIP(host) == nil && !validHostname(strings.ReplaceAll(host, "_", "-")) {
		return "", fmt.Errorf("%q: %q is not an IP address or host name", e, host)
	}
	if port == "" {
		return "", fmt.Errorf("%q has no port (etcd clients use 2379)", e)
	}
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
		return "", fmt.Errorf("%q: port %s is not 1 to 65535", e, port)
	}
	return scheme + "://" + u.Host, nil
}

func setClusterName(c *Config, v string) error {
	v = strings.TrimSpace(v)
	ok := len(v) >= 1 && len(v) <= 64
	for _, r := range v {
		ok = ok && (r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '_' || r == '-')
	}
	if !ok {
		return fmt.Errorf("%q is not 1 to 64 of A-Z a-z 0-9 . _ - (the etcd key prefix is /{name}/)", v)
	}
	c.Cluster.Name = v
	return nil
}

func setNodeRack(c *Config, v string) error {
	v = strings.TrimSpace(v)
	if len(v) > 255 {
		return fmt.Errorf("%d bytes: at most 255", len(v))
	}
	if !utf8.ValidString(v) || strings.IndexFunc(v, func(r rune) bool { return !unicode.IsPrint(r) }) >= 0 {
		return fmt.Errorf("%q: only printable characters", v)
	}
	c.Cluster.Rack = v
	return nil
}

func setDefaultReplicationFactor(c *Config, v string) error {
	if strings.TrimSpace(v) == "" {
		c.Cluster.DefaultReplicationFactor = 0 // min(3, live nodes)
		return nil
	}
	return intSetter(1, math.MaxInt16, func(c *Config, n int64) { c.Cluster.DefaultReplicationFactor = int16(n) })(c, v)
}

// etcdFileSetter takes a file that must be readable now: a missing CA or
// key is found at start, not at the first reconnection to etcd.
func etcdFileSetter(field func(*Config) *string) func(*Config, string) error {
	return func(c *Config, v string) error {
		v = strings.TrimSpace(v)
		*field(c) = v
		if v == "" {
			return nil
		}
		if fi, err := os.Stat(v); err == nil && fi.IsDir() {
			return fmt.Errorf("%s is a directory, not a PEM file", v)
		}
		f, err := os.Open(v)
		if err != nil {
			return fmt.Errorf("cannot read it: %w", err)
		}
		return f.Close()
	}
}

func setEtcdUsername(c *Config, v string) error {
	v = strings.TrimSpace(v)
	if v != "" && !validUserName(v) {
		return fmt.Errorf("%q: control characters are not allowed", v)
	}
	c.Cluster.Username = v
	return nil
}

// resolveCluster checks the cluster settings against each other, in both
// modes. Each error is one line naming the settings; none holds the
// password.
func (c *Config) resolveCluster() error {
	cc := &c.Cluster
	switch {
	case cc.CertFile != "" && cc.KeyFile == "":
		return errors.New("ZOMBI_ETCD_CERT_FILE is set but ZOMBI_ETCD_KEY_FILE is not: a client certificate needs its private key")
	case cc.KeyFile != "" && cc.CertFile == "":
		return errors.New("ZOMBI_ETCD_KEY_FILE is set but ZOMBI_ETCD_CERT_FILE is not: a private key needs its certificate")
	case cc.Username != "" && cc.Password == "":
		return errors.New("ZOMBI_ETCD_USERNAME is set but ZOMBI_ETCD_PASSWORD is not: etcd authentication needs both")
	case cc.Password != "" && cc.Username == "":
		return errors.New("ZOMBI_ETCD_PASSWORD is set but ZOMBI_ETCD_USERNAME is not: etcd authentication needs both")
	}
	if cc.CertFile != "" {
		if _, err := tls.LoadX509KeyPair(cc.CertFile, cc.KeyFile); err != nil {
			return fmt.Errorf("invalid ZOMBI_ETCD_CERT_FILE / ZOMBI_ETCD_KEY_FILE (%s, %s): %w", cc.CertFile, cc.KeyFile, err)
		}
	}
	if cc.CAFile != "" {
		pem, err := os.ReadFile(cc.CAFile)
		if err != nil {
			return fmt.Errorf("invalid ZOMBI_ETCD_CA_FILE: %w", err)
		}
		if !x509.NewCertPool().AppendCertsFromPEM(pem) {
			return fmt.Errorf("invalid ZOMBI_ETCD_CA_FILE: %s holds no PEM certificate", cc.CAFile)
		}
	}
	if cc.Enabled() && !strings.HasPrefix(cc.Endpoints[0], "https://") {
		// etcd's client would dial these in clear text and drop the TLS
		// files without a word.
		for _, s := range []struct{ env, v string }{{"ZOMBI_ETCD_CA_FILE", cc.CAFile}, {"ZOMBI_ETCD_CERT_FILE", cc.CertFile}} {
			if s.v != "" {
				return fmt.Errorf("%s is set but ZOMBI_ETCD_ENDPOINTS are http://: use https:// endpoints for TLS to etcd", s.env)
			}
		}
	}
	return nil
}

// clusterIgnoredNote is the one Info line of a node started alone (no
// ZOMBI_ETCD_ENDPOINTS) with cluster settings given; "" otherwise.
func (c Config) clusterIgnoredNote() string {
	if c.Cluster.Enabled() || len(c.clusterGiven) == 0 {
		return ""
	}
	return "cluster settings ignored without ZOMBI_ETCD_ENDPOINTS (one node alone): " + strings.Join(c.clusterGiven, ", ")
}

// clusterLogAttrs are the start-up line's cluster attributes in cluster
// mode (none alone): name, node id, rack and endpoints, never the password.
func (c Config) clusterLogAttrs() []any {
	if !c.Cluster.Enabled() {
		return nil
	}
	return []any{"cluster", c.Cluster.Name, "node_id", c.Cluster.NodeID, "rack", c.Cluster.Rack,
		"etcd", strings.Join(c.Cluster.Endpoints, ","), "inter_node_listener", c.InterNode.Listener, "inter_node_user", c.InterNode.User}
}

// logClusterSettings logs at start what the cluster settings do: the
// ignored-settings line of a node alone (the cluster attributes go on the
// listening line, clusterLogAttrs).
func (c Config) logClusterSettings(logger *slog.Logger) {
	if note := c.clusterIgnoredNote(); note != "" {
		logger.Info(note)
	}
}
