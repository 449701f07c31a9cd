package main

import (
	"bytes"
	"errors"
	"flag"
	"log/slog"
	"strings"
	"testing"
	"time"
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
