// Package kafkatest runs Apache Kafka 4.4.0 (KRaft, one combined broker and
// controller) on free loopback ports for the end-to-end tests, through
// tools/apache-kafka/kafka.sh: the same broker a user would compare Zombi
// with, resolved from Maven Central into a cache outside git.
package kafkatest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"
)

// Script is the path of tools/apache-kafka/kafka.sh.
func Script() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..", "tools", "apache-kafka", "kafka.sh")
}

// Missing says why Apache Kafka cannot run here ("" when it can): it needs
// Java and, the first time, Maven.
func Missing() string {
	if _, err := exec.LookPath("java"); err != nil {
		return "java not on PATH: Apache Kafka 4.4 needs Java 17 or newer"
	}
	if _, err := exec.LookPath("mvn"); err != nil {
		return "mvn not on PATH: Maven resolves Apache Kafka from Maven Central"
	}
	return ""
}

// Broker is a running Apache Kafka.
type Broker struct {
	Dir  string // server.properties, data/, server.log, pid
	Addr string // 127.0.0.1:PORT, the PLAINTEXT listener
}

// Start formats dir and starts Kafka with the extra server.properties lines
// (key=value); it returns once the broker has logged that it started.
func Start(dir string, props ...string) (*Broker, error) {
	if why := Missing(); why != "" {
		return nil, errors.New(why)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	var stdout, stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, Script(), append([]string{"start", dir}, props...)...)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("kafka.sh start: %w\n%s", err, stderr.String())
	}
	return &Broker{Dir: dir, Addr: strings.TrimSpace(stdout.String())}, nil
}

// StartT is Start for one test: it skips the test when Java or Maven is
// missing, fails it on other errors, and stops Kafka when the test ends.
func StartT(t testing.TB, props ...string) *Broker {
	t.Helper()
	if why := Missing(); why != "" {
		t.Skip("Apache Kafka: " + why)
	}
	b, err := Start(t.TempDir(), props...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("kafka log (%s):\n%s", b.Dir, b.Log())
		}
		_ = b.Stop()
	})
	return b
}

// Stop stops the broker (SIGTERM, SIGKILL after 30 s).
func (b *Broker) Stop() error {
	out, err := exec.Command(Script(), "stop", b.Dir).CombinedOutput()
	if err != nil {
		return fmt.Errorf("kafka.sh stop: %w: %s", err, out)
	}
	return nil
}

// Log returns the end of the broker's log.
func (b *Broker) Log() string {
	data, _ := os.ReadFile(filepath.Join(b.Dir, "server.log"))
	if len(data) > 8000 {
		data = data[len(data)-8000:]
	}
	return string(data)
}

// Tool runs one of Kafka's command-line tools (kafka-topics,
// kafka-console-consumer, ... as kafka.sh names them) with stdin, and
// returns its stdout and stderr.
func Tool(ctx context.Context, stdin string, name string, args ...string) (stdout, stderr string, err error) {
	var o, e bytes.Buffer
	cmd := exec.CommandContext(ctx, Script(), append([]string{name}, args...)...)
	cmd.Stdin = strings.NewReader(stdin)
	cmd.Stdout, cmd.Stderr = &o, &e
	cmd.WaitDelay = 5 * time.Second
	err = cmd.Run()
	if err != nil {
		err = fmt.Errorf("%s %s: %w", name, strings.Join(args, " "), err)
	}
	return o.String(), e.String(), err
}

// PluginPath returns the directory to give a Connect worker as plugin.path:
// the file connectors (FileStreamSource, FileStreamSink) live there, not on
// the worker's classpath (kafka.sh plugin-path says why).
func PluginPath(ctx context.Context) (string, error) {
	out, err := exec.CommandContext(ctx, Script(), "plugin-path").Output()
	if err != nil {
		return "", fmt.Errorf("kafka.sh plugin-path: %w", err)
	}
	return strings.TrimSpace(string(out)), nil
}
