package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/zombi-dev/zombi/internal/zombitest"
	"github.com/zombi-dev/zombi/tlsconf"
)

func envOf(kv map[string]string) func(string) string {
	return func(k string) string { return kv[k] }
}

func TestConfigDefaults(t *testing.T) {
	c, err := loadConfig(nil, envOf(nil), &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	if c.DataDir != "./data" || c.Host != "0.0.0.0" || c.Port != 8080 || c.KafkaPort != 9092 ||
		!c.SyncWrites || !c.AutoCreateTopics || c.DefaultPartitions != 1 || c.MaxRequestBytes != 1<<20 ||
		c.KafkaMaxRequest != 100<<20 || c.S3Region != "us-east-1" || c.FlushInterval != 5*time.Second ||
		c.FlushBatchSize != 1000 || c.FlushMaxSegment != 10000 || c.LogLevel != slog.LevelInfo ||
		c.IdempotencyWindow != 24*time.Hour || c.GroupRebalanceDelay != 0 || c.TxnMaxTimeout != 15*time.Minute {
		t.Fatalf("defaults: %+v", c)
	}
}

func TestConfigEnvAndFlags(t *testing.T) {
	env := envOf(map[string]string{"ZOMBI_PORT": "9000", "ZOMBI_LOG": "zombi=debug", "ZOMBI_SYNC_WRITES": "false", "ZOMBI_DATA_DIR": "/env", "ZOMBI_GROUP_INITIAL_REBALANCE_DELAY_MS": "3000"})
	c, err := loadConfig([]string{"--data-dir", "/flag", "--default-partitions=4"}, env, &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	if c.Port != 9000 || c.LogLevel != slog.LevelDebug || c.SyncWrites || c.DataDir != "/flag" || c.DefaultPartitions != 4 || c.GroupRebalanceDelay != 3*time.Second {
		t.Fatalf("got %+v", c)
	}
}

func TestConfigInvalidNamesVariable(t *testing.T) {
	cases := []struct{ env, val string }{
		{"ZOMBI_PORT", "http"},
		{"ZOMBI_PORT", "70000"},
		{"ZOMBI_FLUSH_INTERVAL_SECS", "0"},
		{"ZOMBI_SYNC_WRITES", "maybe"},
		{"ZOMBI_LOG", "loud"},
		{"ZOMBI_LOG_FORMAT", "xml"},
		{"ZOMBI_DEFAULT_PARTITIONS", "-1"},
		{"ZOMBI_MAX_REQUEST_BYTES", "1e6"},
		{"ZOMBI_S3_ENDPOINT", "localhost:9000"},
		{"ZOMBI_HOST", "not a host"},
	}
	for _, tc := range cases {
		_, err := loadConfig(nil, envOf(map[string]string{tc.env: tc.val}), &bytes.Buffer{})
		if err == nil || !strings.Contains(err.Error(), tc.env) || strings.Contains(err.Error(), "\n") {
			t.Errorf("%s=%s: error %v should be one line naming the variable", tc.env, tc.val, err)
		}
	}
}

func TestConfigHelpListsEveryVariable(t *testing.T) {
	var out bytes.Buffer
	_, err := loadConfig([]string{"--help"}, envOf(nil), &out)
	if !errors.Is(err, flag.ErrHelp) {
		t.Fatalf("err %v", err)
	}
	for _, s := range settings {
		if !strings.Contains(out.String(), s.env) || !strings.Contains(out.String(), "-"+s.flag) {
			t.Errorf("--help lacks %s / --%s", s.env, s.flag)
		}
	}
}

func TestConfigClusterDefaults(t *testing.T) {
	c, err := loadConfig(nil, envOf(nil), &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	cc := c.Cluster
	if cc.Enabled() || cc.Endpoints != nil || cc.Name != "zombi" || cc.NodeID != 1 || cc.Rack != "" || cc.SessionTimeout != 6*time.Second ||
		cc.DefaultReplicationFactor != 0 || cc.MinInsyncReplicas != 1 || cc.ReplicaLagTimeMax != 10*time.Second ||
		cc.CAFile != "" || cc.CertFile != "" || cc.KeyFile != "" || cc.Username != "" || cc.Password != "" {
		t.Fatalf("cluster defaults: %+v", cc)
	}
	if n := c.clusterIgnoredNote(); n != "" {
		t.Errorf("no cluster setting given, yet the note %q", n)
	}
	if a := c.clusterLogAttrs(); a != nil {
		t.Errorf("alone, cluster attributes on the start-up line: %v", a)
	}
	if b := c.topicDefaults(); b.MinInsyncReplicas != 1 || b.Static["min.insync.replicas"] != "" {
		t.Errorf("topic defaults alone: min.insync.replicas %d, static %q", b.MinInsyncReplicas, b.Static["min.insync.replicas"])
	}
}

// devCerts writes a development CA, server and client certificate to a
// temporary directory.
func devCerts(t *testing.T) tlsconf.DevFiles {
	t.Helper()
	f, err := tlsconf.WriteDevCerts(t.TempDir(), tlsconf.DevOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func TestConfigClusterValid(t *testing.T) {
	certs := devCerts(t)
	cases := []struct {
		name  string
		env   map[string]string
		args  []string
		check func(t *testing.T, c Config)
	}{
		{"endpoints trimmed and normalised", map[string]string{"ZOMBI_ETCD_ENDPOINTS": " http://127.0.0.1:2379 , http://etcd-2.example:2379/ ,HTTP://[::1]:2380,http://etcd_3:2379"}, nil, func(t *testing.T, c Config) {
			want := []string{"http://127.0.0.1:2379", "http://etcd-2.example:2379", "http://[::1]:2380", "http://etcd_3:2379"}
			if !slices.Equal(c.Cluster.Endpoints, want) || !c.Cluster.Enabled() {
				t.Errorf("endpoints %q, want %q", c.Cluster.Endpoints, want)
			}
		}},
		{"every setting from the environment", map[string]string{
			"ZOMBI_ETCD_ENDPOINTS": "http://127.0.0.1:2379", "ZOMBI_CLUSTER_NAME": " prod.eu_1-a ", "ZOMBI_NODE_ID": "0",
			"ZOMBI_NODE_RACK": " eu-west-1a ", "ZOMBI_SESSION_TIMEOUT_MS": "2000", "ZOMBI_DEFAULT_REPLICATION_FACTOR": "3",
			"ZOMBI_MIN_INSYNC_REPLICAS": "2", "ZOMBI_REPLICA_LAG_TIME_MAX_MS": "100",
		}, nil, func(t *testing.T, c Config) {
			cc := c.Cluster
			if cc.Name != "prod.eu_1-a" || cc.Prefix() != "/prod.eu_1-a/" || cc.NodeID != 0 || cc.Rack != "eu-west-1a" || cc.SessionTimeout != 2*time.Second ||
				cc.DefaultReplicationFactor != 3 || cc.MinInsyncReplicas != 2 || cc.ReplicaLagTimeMax != 100*time.Millisecond {
				t.Errorf("%+v", cc)
			}
		}},
		{"the largest values", map[string]string{
			"ZOMBI_NODE_ID": "2147483647", "ZOMBI_SESSION_TIMEOUT_MS": "300000", "ZOMBI_DEFAULT_REPLICATION_FACTOR": "32767",
			"ZOMBI_CLUSTER_NAME": strings.Repeat("n", 64), "ZOMBI_NODE_RACK": strings.Repeat("r", 255),
		}, nil, func(t *testing.T, c Config) {
			cc := c.Cluster
			if cc.NodeID != 2147483647 || cc.SessionTimeout != 5*time.Minute || cc.DefaultReplicationFactor != 32767 || len(cc.Name) != 64 || len(cc.Rack) != 255 {
				t.Errorf("%+v", cc)
			}
		}},
		{"flags win over the environment", map[string]string{"ZOMBI_NODE_ID": "2", "ZOMBI_CLUSTER_NAME": "env"},
			[]string{"--etcd-endpoints", "http://a:2379", "--node-id=7", "--cluster-name=flag", "--node-rack", "r1", "--session-timeout-ms=3000",
				"--default-replication-factor=2", "--min-insync-replicas=2", "--replica-lag-time-max-ms=5000"}, func(t *testing.T, c Config) {
				cc := c.Cluster
				if !slices.Equal(cc.Endpoints, []string{"http://a:2379"}) || cc.NodeID != 7 || cc.Name != "flag" || cc.Rack != "r1" || cc.SessionTimeout != 3*time.Second ||
					cc.DefaultReplicationFactor != 2 || cc.MinInsyncReplicas != 2 || cc.ReplicaLagTimeMax != 5*time.Second {
					t.Errorf("%+v", cc)
				}
			}},
		{"an empty replication factor is min(3, live nodes)", map[string]string{"ZOMBI_DEFAULT_REPLICATION_FACTOR": " "}, nil, func(t *testing.T, c Config) {
			if c.Cluster.DefaultReplicationFactor != 0 {
				t.Errorf("%d", c.Cluster.DefaultReplicationFactor)
			}
		}},
		{"TLS and authentication to etcd", map[string]string{
			"ZOMBI_ETCD_ENDPOINTS": "https://127.0.0.1:2379,https://127.0.0.2:2379", "ZOMBI_ETCD_CA_FILE": certs.CA,
			"ZOMBI_ETCD_CERT_FILE": certs.ClientCert, "ZOMBI_ETCD_KEY_FILE": certs.ClientKey,
			"ZOMBI_ETCD_USERNAME": " root ", "ZOMBI_ETCD_PASSWORD": " pass word ",
		}, nil, func(t *testing.T, c Config) {
			cc := c.Cluster
			if cc.CAFile != certs.CA || cc.CertFile != certs.ClientCert || cc.KeyFile != certs.ClientKey || cc.Username != "root" || cc.Password != " pass word " {
				t.Errorf("%+v (the password is kept as given)", cc)
			}
		}},
		{"a CA alone over https", map[string]string{"ZOMBI_ETCD_ENDPOINTS": "https://etcd:2379", "ZOMBI_ETCD_CA_FILE": certs.CA}, nil, func(t *testing.T, c Config) {
			if c.Cluster.CAFile != certs.CA || c.Cluster.CertFile != "" {
				t.Errorf("%+v", c.Cluster)
			}
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c, err := loadConfig(tc.args, envOf(tc.env), &bytes.Buffer{})
			if err != nil {
				t.Fatal(err)
			}
			tc.check(t, c)
		})
	}
}

// TestConfigClusterInvalidNamesSetting: every refused cluster value is one
// line naming the variable, and none quotes the etcd password.
func TestConfigClusterInvalidNamesSetting(t *testing.T) {
	certs, other := devCerts(t), devCerts(t)
	notPEM := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(notPEM, []byte("not a certificate\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	const pw = "Pa55-never-printed"
	cases := []struct {
		env  map[string]string
		name string // the variable the error must name
		says string // and a piece of its explanation
	}{
		{map[string]string{"ZOMBI_ETCD_ENDPOINTS": "127.0.0.1:2379"}, "ZOMBI_ETCD_ENDPOINTS", "no scheme"},
		{map[string]string{"ZOMBI_ETCD_ENDPOINTS": "unix:///run/etcd.sock"}, "ZOMBI_ETCD_ENDPOINTS", "http:// or https://"},
		{map[string]string{"ZOMBI_ETCD_ENDPOINTS": "ftp://a:21"}, "ZOMBI_ETCD_ENDPOINTS", "http:// or https://"},
		{map[string]string{"ZOMBI_ETCD_ENDPOINTS": "http://a:2379,,http://b:2379"}, "ZOMBI_ETCD_ENDPOINTS", "entry 2 is empty"},
		{map[string]string{"ZOMBI_ETCD_ENDPOINTS": "http://a:2379,"}, "ZOMBI_ETCD_ENDPOINTS", "entry 2 is empty"},
		{map[string]string{"ZOMBI_ETCD_ENDPOINTS": "http://etcd"}, "ZOMBI_ETCD_ENDPOINTS", "no port"},
		{map[string]string{"ZOMBI_ETCD_ENDPOINTS": "http://:2379"}, "ZOMBI_ETCD_ENDPOINTS", "no host"},
		{map[string]string{"ZOMBI_ETCD_ENDPOINTS": "http://a:0"}, "ZOMBI_ETCD_ENDPOINTS", "not 1 to 65535"},
		{map[string]string{"ZOMBI_ETCD_ENDPOINTS": "http://a:99999"}, "ZOMBI_ETCD_ENDPOINTS", "not 1 to 65535"},
		{map[string]string{"ZOMBI_ETCD_ENDPOINTS": "http://a b:2379"}, "ZOMBI_ETCD_ENDPOINTS", ""},
		{map[string]string{"ZOMBI_ETCD_ENDPOINTS": "http://a:2379/v3/kv"}, "ZOMBI_ETCD_ENDPOINTS", "without a path"},
		{map[string]string{"ZOMBI_ETCD_ENDPOINTS": "http://a:2379?x=1"}, "ZOMBI_ETCD_ENDPOINTS", "without a path or query"},
		{map[string]string{"ZOMBI_ETCD_ENDPOINTS": "http://a:2379, http://a:2379/"}, "ZOMBI_ETCD_ENDPOINTS", "given twice"},
		{map[string]string{"ZOMBI_ETCD_ENDPOINTS": "http://a:2379,https://b:2379"}, "ZOMBI_ETCD_ENDPOINTS", "mixes"},
		{map[string]string{"ZOMBI_ETCD_ENDPOINTS": "http://root:" + pw + "@a:2379"}, "ZOMBI_ETCD_ENDPOINTS", "ZOMBI_ETCD_USERNAME"},
		{map[string]string{"ZOMBI_ETCD_ENDPOINTS": "root:" + pw + "@a:2379"}, "ZOMBI_ETCD_ENDPOINTS", "credentials"},
		{map[string]string{"ZOMBI_CLUSTER_NAME": "  "}, "ZOMBI_CLUSTER_NAME", "1 to 64"},
		{map[string]string{"ZOMBI_CLUSTER_NAME": "a/b"}, "ZOMBI_CLUSTER_NAME", "1 to 64"},
		{map[string]string{"ZOMBI_CLUSTER_NAME": "two words"}, "ZOMBI_CLUSTER_NAME", "1 to 64"},
		{map[string]string{"ZOMBI_CLUSTER_NAME": "zombí"}, "ZOMBI_CLUSTER_NAME", "1 to 64"},
		{map[string]string{"ZOMBI_CLUSTER_NAME": strings.Repeat("n", 65)}, "ZOMBI_CLUSTER_NAME", "1 to 64"},
		{map[string]string{"ZOMBI_NODE_ID": "-1"}, "ZOMBI_NODE_ID", "out of range"},
		{map[string]string{"ZOMBI_NODE_ID": "2147483648"}, "ZOMBI_NODE_ID", "out of range"},
		{map[string]string{"ZOMBI_NODE_ID": "one"}, "ZOMBI_NODE_ID", "not an integer"},
		{map[string]string{"ZOMBI_NODE_RACK": "rack\n1"}, "ZOMBI_NODE_RACK", "printable"},
		{map[string]string{"ZOMBI_NODE_RACK": "\xff"}, "ZOMBI_NODE_RACK", "printable"},
		{map[string]string{"ZOMBI_NODE_RACK": strings.Repeat("r", 256)}, "ZOMBI_NODE_RACK", "at most 255"},
		{map[string]string{"ZOMBI_SESSION_TIMEOUT_MS": "999"}, "ZOMBI_SESSION_TIMEOUT_MS", "out of range"},
		{map[string]string{"ZOMBI_SESSION_TIMEOUT_MS": "300001"}, "ZOMBI_SESSION_TIMEOUT_MS", "out of range"},
		{map[string]string{"ZOMBI_SESSION_TIMEOUT_MS": "6s"}, "ZOMBI_SESSION_TIMEOUT_MS", "not an integer"},
		{map[string]string{"ZOMBI_DEFAULT_REPLICATION_FACTOR": "0"}, "ZOMBI_DEFAULT_REPLICATION_FACTOR", "out of range"},
		{map[string]string{"ZOMBI_DEFAULT_REPLICATION_FACTOR": "32768"}, "ZOMBI_DEFAULT_REPLICATION_FACTOR", "out of range"},
		{map[string]string{"ZOMBI_MIN_INSYNC_REPLICAS": "0"}, "ZOMBI_MIN_INSYNC_REPLICAS", "out of range"},
		{map[string]string{"ZOMBI_MIN_INSYNC_REPLICAS": "two"}, "ZOMBI_MIN_INSYNC_REPLICAS", "not an integer"},
		{map[string]string{"ZOMBI_REPLICA_LAG_TIME_MAX_MS": "99"}, "ZOMBI_REPLICA_LAG_TIME_MAX_MS", "out of range"},
		{map[string]string{"ZOMBI_ETCD_CA_FILE": "/nonexistent/ca.pem"}, "ZOMBI_ETCD_CA_FILE", "no such file"},
		{map[string]string{"ZOMBI_ETCD_CA_FILE": filepath.Dir(certs.CA)}, "ZOMBI_ETCD_CA_FILE", "is a directory"},
		{map[string]string{"ZOMBI_ETCD_CA_FILE": notPEM}, "ZOMBI_ETCD_CA_FILE", "no PEM certificate"},
		{map[string]string{"ZOMBI_ETCD_CERT_FILE": "/nonexistent/c.pem", "ZOMBI_ETCD_KEY_FILE": certs.ClientKey}, "ZOMBI_ETCD_CERT_FILE", "no such file"},
		{map[string]string{"ZOMBI_ETCD_CERT_FILE": certs.ClientCert}, "ZOMBI_ETCD_KEY_FILE", "needs its private key"},
		{map[string]string{"ZOMBI_ETCD_KEY_FILE": certs.ClientKey}, "ZOMBI_ETCD_CERT_FILE", "needs its certificate"},
		{map[string]string{"ZOMBI_ETCD_CERT_FILE": certs.ClientCert, "ZOMBI_ETCD_KEY_FILE": other.ClientKey}, "ZOMBI_ETCD_KEY_FILE", "does not match"},
		{map[string]string{"ZOMBI_ETCD_CERT_FILE": notPEM, "ZOMBI_ETCD_KEY_FILE": certs.ClientKey}, "ZOMBI_ETCD_CERT_FILE", ""},
		{map[string]string{"ZOMBI_ETCD_ENDPOINTS": "http://a:2379", "ZOMBI_ETCD_CA_FILE": certs.CA}, "ZOMBI_ETCD_CA_FILE", "use https://"},
		{map[string]string{"ZOMBI_ETCD_ENDPOINTS": "http://a:2379", "ZOMBI_ETCD_CERT_FILE": certs.ClientCert, "ZOMBI_ETCD_KEY_FILE": certs.ClientKey}, "ZOMBI_ETCD_CERT_FILE", "use https://"},
		{map[string]string{"ZOMBI_ETCD_USERNAME": "root"}, "ZOMBI_ETCD_PASSWORD", "needs both"},
		{map[string]string{"ZOMBI_ETCD_PASSWORD": pw}, "ZOMBI_ETCD_USERNAME", "needs both"},
		{map[string]string{"ZOMBI_ETCD_USERNAME": "ro\x01ot", "ZOMBI_ETCD_PASSWORD": pw}, "ZOMBI_ETCD_USERNAME", "control characters"},
		{map[string]string{"ZOMBI_ETCD_ENDPOINTS": "http://a", "ZOMBI_ETCD_USERNAME": "root", "ZOMBI_ETCD_PASSWORD": pw}, "ZOMBI_ETCD_ENDPOINTS", "no port"},
	}
	for _, tc := range cases {
		_, err := loadConfig(nil, envOf(tc.env), &bytes.Buffer{})
		if err == nil || !strings.Contains(err.Error(), tc.name) || !strings.Contains(err.Error(), tc.says) || strings.Contains(err.Error(), "\n") {
			t.Errorf("%v: error %v should be one line naming %s and saying %q", tc.env, err, tc.name, tc.says)
			continue
		}
		if strings.Contains(err.Error(), pw) {
			t.Errorf("%v: the error quotes the password: %v", tc.env, err)
		}
	}
}

// TestConfigClusterAloneOrJoined: alone, given cluster settings change
// nothing and one Info line names them; with ZOMBI_ETCD_ENDPOINTS the
// start-up line carries name, node id, rack and endpoints, and
// ZOMBI_MIN_INSYNC_REPLICAS is the broker's min.insync.replicas. Never the
// password.
func TestConfigClusterAloneOrJoined(t *testing.T) {
	const pw = "Pa55-never-printed"
	given := map[string]string{"ZOMBI_NODE_ID": "3", "ZOMBI_NODE_RACK": "r1", "ZOMBI_MIN_INSYNC_REPLICAS": "2",
		"ZOMBI_CLUSTER_NAME": "prod", "ZOMBI_ETCD_USERNAME": "root", "ZOMBI_ETCD_PASSWORD": pw}
	logged := func(c Config) string {
		var buf bytes.Buffer
		logger := slog.New(slog.NewTextHandler(&buf, nil))
		c.logClusterSettings(logger)
		logger.Info("zombi listening", c.clusterLogAttrs()...)
		return buf.String()
	}

	alone, err := loadConfig(nil, envOf(given), &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	out := logged(alone)
	if lines := strings.Count(out, "\n"); lines != 2 || !strings.Contains(out, "cluster settings ignored without ZOMBI_ETCD_ENDPOINTS") {
		t.Errorf("alone: want the note and the listening line, got:\n%s", out)
	}
	for _, name := range []string{"ZOMBI_NODE_ID", "ZOMBI_NODE_RACK", "ZOMBI_MIN_INSYNC_REPLICAS", "ZOMBI_CLUSTER_NAME", "ZOMBI_ETCD_PASSWORD"} {
		if !strings.Contains(out, name) {
			t.Errorf("alone: the note does not name %s:\n%s", name, out)
		}
	}
	if strings.Contains(out, "node_id=") || strings.Contains(out, "etcd=") {
		t.Errorf("alone: cluster attributes logged:\n%s", out)
	}
	if b := alone.topicDefaults(); b.MinInsyncReplicas != 1 || b.Static["min.insync.replicas"] != "" {
		t.Errorf("alone: ZOMBI_MIN_INSYNC_REPLICAS changed the topic defaults: %d %q", b.MinInsyncReplicas, b.Static["min.insync.replicas"])
	}

	joined := maps.Clone(given)
	joined["ZOMBI_ETCD_ENDPOINTS"] = "http://127.0.0.1:2379,http://127.0.0.2:2379"
	c, err := loadConfig(nil, envOf(joined), &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	out = logged(c)
	if lines := strings.Count(out, "\n"); lines != 1 || !strings.Contains(out, "cluster=prod node_id=3 rack=r1 etcd=http://127.0.0.1:2379,http://127.0.0.2:2379") {
		t.Errorf("joined: want one listening line with the cluster, got:\n%s", out)
	}
	if b := c.topicDefaults(); b.MinInsyncReplicas != 2 || b.Static["min.insync.replicas"] != "ZOMBI_MIN_INSYNC_REPLICAS" {
		t.Errorf("joined: topic defaults min.insync.replicas %d, static %q", b.MinInsyncReplicas, b.Static["min.insync.replicas"])
	}
	delete(joined, "ZOMBI_MIN_INSYNC_REPLICAS")
	c2, err := loadConfig(nil, envOf(joined), &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	if b := c2.topicDefaults(); b.MinInsyncReplicas != 1 || b.Static["min.insync.replicas"] != "" {
		t.Errorf("joined, ZOMBI_MIN_INSYNC_REPLICAS unset: %d %q (want Kafka's default, DEFAULT_CONFIG)", b.MinInsyncReplicas, b.Static["min.insync.replicas"])
	}

	for name, s := range map[string]string{"log": out, "%+v": fmt.Sprintf("%+v", c), "%v": fmt.Sprintf("%v", c), "%#v": fmt.Sprintf("%#v", c)} {
		if strings.Contains(s, pw) {
			t.Errorf("%s shows the etcd password: %s", name, s)
		}
	}
}

// TestConfigEtcdPasswordFromFlag: the flag works like the variable, and
// --help shows no password and says how the session timeout is rounded.
func TestConfigEtcdPasswordFromFlag(t *testing.T) {
	const pw = "Pa55-never-printed"
	c, err := loadConfig([]string{"--etcd-username=root", "--etcd-password", pw}, envOf(nil), &bytes.Buffer{})
	if err != nil || c.Cluster.Password != pw || c.Cluster.Username != "root" {
		t.Fatalf("flags: %v %+v", err, c.Cluster)
	}
	_, err = loadConfig([]string{"--etcd-password", pw}, envOf(nil), &bytes.Buffer{})
	if err == nil || strings.Contains(err.Error(), pw) || !strings.Contains(err.Error(), "ZOMBI_ETCD_USERNAME") {
		t.Errorf("password without user: %v", err)
	}
	var help bytes.Buffer
	if _, err := loadConfig([]string{"--help"}, envOf(map[string]string{"ZOMBI_ETCD_PASSWORD": pw}), &help); !errors.Is(err, flag.ErrHelp) {
		t.Fatalf("help: %v", err)
	}
	if strings.Contains(help.String(), pw) || !strings.Contains(help.String(), "whole seconds") || !strings.Contains(help.String(), "-etcd-password") {
		t.Errorf("help:\n%s", help.String())
	}
}

// TestBadClusterConfigStopsStartup: the real binary refuses a bad cluster
// setting with one line naming it and exit status 2, without etcd and
// without printing the etcd password.
func TestBadClusterConfigStopsStartup(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the real binary")
	}
	bin, err := zombitest.Binary()
	if err != nil {
		t.Fatal(err)
	}
	const pw = "Pa55-never-printed"
	for _, tc := range []struct{ env, names string }{
		{"ZOMBI_NODE_ID=-1", "ZOMBI_NODE_ID"},
		{"ZOMBI_ETCD_ENDPOINTS=127.0.0.1:2379", "ZOMBI_ETCD_ENDPOINTS"},
		{"ZOMBI_ETCD_PASSWORD=" + pw, "ZOMBI_ETCD_USERNAME"},
	} {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		cmd := exec.CommandContext(ctx, bin, "serve", "--data-dir", t.TempDir(), "--port", "0", "--kafka-port", "0")
		cmd.Env = append(os.Environ(), tc.env)
		out, err := cmd.CombinedOutput()
		cancel()
		if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 2 {
			t.Errorf("%s: exit %v, want status 2\n%s", tc.env, err, out)
			continue
		}
		if lines := bytes.Count(bytes.TrimSpace(out), []byte("\n")); lines != 0 || !bytes.Contains(out, []byte(tc.names)) || bytes.Contains(out, []byte(pw)) {
			t.Errorf("%s: output %q, want one line naming %s, without the password", tc.env, out, tc.names)
		}
	}
}
