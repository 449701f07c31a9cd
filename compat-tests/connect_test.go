package compat

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/zombi-dev/zombi/internal/kafkatest"
	"github.com/zombi-dev/zombi/internal/zombitest"
)

// Kafka Connect 4.4 (connect-runtime 4.4.0; the file connectors are
// connect-file 4.3.1, the newest on Maven Central here, loaded as a plugin
// beside the kafka-clients 4.3.1 it was built against: kafka.sh
// plugin-path) moves the lines of a
// file through a topic into another file: FileStreamSource -> topic ->
// FileStreamSink, against Zombi and against Apache Kafka.
//
// Where Connect keeps its offsets:
//   - standalone (ConnectStandalone) keeps the source connector's offsets in a
//     local file (offset.storage.file.filename: FileOffsetBackingStore is the
//     only store it builds); the sink connector's offsets are its consumer
//     group's (connect-<name>) committed offsets, in the broker.
//   - distributed (ConnectDistributed) keeps everything in the broker: the
//     connector configs, the source offsets and the statuses in three
//     compacted topics, and the workers form a group (protocol type
//     "connect") through the broker's group coordinator.
//
// Both tests stop the worker after the first lines, append more lines,
// start it again, and check that the sink file then holds every line exactly
// once, in order: the offsets were kept. Zombi stores cleanup.policy=compact
// on the internal topics but does not compact them; nothing here depends on
// compaction.

// connectWorker is a running Connect worker (a JVM started by kafka.sh).
type connectWorker struct {
	cmd  *exec.Cmd
	log  string
	done chan struct{}
}

func startConnect(t *testing.T, mode string, dir string, args ...string) *connectWorker {
	t.Helper()
	if why := kafkatest.Missing(); why != "" {
		t.Skip("Kafka Connect: " + why)
	}
	logPath := filepath.Join(dir, fmt.Sprintf("%s-%d.log", mode, time.Now().UnixNano()))
	logf, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(kafkatest.Script(), append([]string{mode}, args...)...)
	cmd.Env = append(os.Environ(), "KAFKA_LOG_LEVEL=INFO")
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		logf.Close()
		t.Fatalf("start %s: %v", mode, err)
	}
	w := &connectWorker{cmd: cmd, log: logPath, done: make(chan struct{})}
	go func() {
		_ = cmd.Wait()
		logf.Close()
		close(w.done)
	}()
	t.Cleanup(func() {
		w.stop(t)
		if t.Failed() {
			t.Logf("%s log (%s):\n%s", mode, logPath, w.tail())
		}
	})
	return w
}

// stop shuts the worker down as a user does (SIGTERM: it leaves its group),
// SIGKILL after 60 s (a worker busy stopping its REST server on a loaded
// machine was seen to take longer; the tests wait for the offsets to be
// stored before they stop it, so nothing depends on a clean shutdown).
func (w *connectWorker) stop(t *testing.T) {
	t.Helper()
	select {
	case <-w.done:
		return
	default:
	}
	_ = w.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-w.done:
	case <-time.After(60 * time.Second):
		_ = w.cmd.Process.Kill()
		<-w.done
		t.Logf("Connect worker did not stop within 60 s of SIGTERM: killed")
	}
}

func (w *connectWorker) tail() string {
	data, _ := os.ReadFile(w.log)
	if len(data) > 12000 {
		data = data[len(data)-12000:]
	}
	return string(data)
}

// pluginPath is kafkatest.PluginPath for a test.
func pluginPath(t *testing.T) string {
	t.Helper()
	if why := kafkatest.Missing(); why != "" {
		t.Skip("Kafka Connect: " + why)
	}
	dir, err := kafkatest.PluginPath(testCtx(t, 5*time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	return dir
}

func writeProps(t *testing.T, path string, kv ...string) string {
	t.Helper()
	if err := os.WriteFile(path, []byte(strings.Join(kv, "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func appendLines(t *testing.T, path string, from, to int) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for i := from; i < to; i++ {
		// ASCII only: FileStreamSource counts its position in characters
		// but skips bytes when it resumes (connect-file 4.3.1, on either
		// broker): with "\u00e9t\u00e9" in each line, the restarted source
		// began 40 bytes early, inside line 18.
		if _, err := fmt.Fprintf(f, "line %d: summer %s\n", i, strings.Repeat("x", i%7)); err != nil {
			t.Fatal(err)
		}
	}
}

// waitSink waits until the sink file holds exactly the first n lines of the
// source file, in order; more lines, or other ones, fail at once.
func waitSink(t *testing.T, ctx context.Context, w *connectWorker, src, sink string, n int) {
	t.Helper()
	srcData, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	want := strings.SplitAfter(string(srcData), "\n")[:n]
	for {
		data, _ := os.ReadFile(sink)
		got := strings.SplitAfter(string(data), "\n")
		if got[len(got)-1] == "" {
			got = got[:len(got)-1]
		}
		if len(got) > n {
			t.Fatalf("sink file has %d lines, want %d (duplicates?):\n%s", len(got), n, data)
		}
		for i, l := range got {
			if strings.HasSuffix(l, "\n") && l != want[i] {
				t.Fatalf("sink line %d is %q, want %q", i, l, want[i])
			}
		}
		if strings.Join(got, "") == strings.Join(want, "") {
			return
		}
		select {
		case <-w.done:
			t.Fatalf("Connect worker exited; sink has %d of %d lines", len(got), n)
		case <-ctx.Done():
			t.Fatalf("sink file has %d of %d lines after the deadline:\n%s", len(got), n, data)
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// settle checks that the sink file stays at its n lines for a moment (a
// duplicate written late would show).
func settle(t *testing.T, sink string, n int, d time.Duration) {
	t.Helper()
	time.Sleep(d)
	data, _ := os.ReadFile(sink)
	if got := strings.Count(string(data), "\n"); got != n {
		t.Fatalf("sink file grew to %d lines, want %d:\n%s", got, n, data)
	}
}

func TestConnectStandaloneFileStream(t *testing.T) {
	t.Parallel() // JVMs wait on offset flushes and group joins: overlap them
	eachBroker(t, func(t *testing.T, b broker) {
		ctx := testCtx(t, 8*time.Minute)
		dir := t.TempDir()
		topic := topicName(t, "lines")
		src, sink := filepath.Join(dir, "in.txt"), filepath.Join(dir, "out.txt")
		port, err := zombitest.FreePort()
		if err != nil {
			t.Fatal(err)
		}
		worker := writeProps(t, filepath.Join(dir, "worker.properties"),
			"bootstrap.servers="+b.addr,
			"key.converter=org.apache.kafka.connect.storage.StringConverter",
			"value.converter=org.apache.kafka.connect.storage.StringConverter",
			"offset.storage.file.filename="+filepath.Join(dir, "source.offsets"),
			"plugin.path="+pluginPath(t),
			"offset.flush.interval.ms=500",
			fmt.Sprintf("listeners=http://127.0.0.1:%d", port))
		srcProps := writeProps(t, filepath.Join(dir, "source.properties"),
			"name=src-"+topic,
			"connector.class=org.apache.kafka.connect.file.FileStreamSourceConnector",
			"tasks.max=1", "file="+src, "topic="+topic)
		sinkName := "sink-" + topic
		sinkProps := writeProps(t, filepath.Join(dir, "sink.properties"),
			"name="+sinkName,
			"connector.class=org.apache.kafka.connect.file.FileStreamSinkConnector",
			"tasks.max=1", "file="+sink, "topics="+topic)
		// The topic exists first (Connect's producer would auto-create it).
		adm := kadm.NewClient(newClient(t, b.addr))
		createTopic(t, ctx, adm, topic, 1, nil)

		appendLines(t, src, 0, 20)
		w := startConnect(t, "connect-standalone", dir, worker, srcProps, sinkProps)
		waitSink(t, ctx, w, src, sink, 20)
		// Connect is at least once: it stores offsets every
		// offset.flush.interval.ms, and a worker stopped in between sends
		// (source) or writes (sink) the last lines again. Wait for both
		// offsets to be stored: the sink's in the broker (its group's
		// committed offset), the source's in the standalone offsets file.
		waitCommitted(t, ctx, w, adm, "connect-"+sinkName, topic, 20)
		waitOffsetsFile(t, ctx, w, filepath.Join(dir, "source.offsets"), src)
		w.stop(t)

		appendLines(t, src, 20, 35)
		w = startConnect(t, "connect-standalone", dir, worker, srcProps, sinkProps)
		waitSink(t, ctx, w, src, sink, 35)
		settle(t, sink, 35, 2*time.Second)
		w.stop(t)
		checkTopicLines(t, ctx, b, topic, src, 35)
	})
}

// waitCommitted waits until group has committed offset want on topic/0.
func waitCommitted(t *testing.T, ctx context.Context, w *connectWorker, adm *kadm.Client, group, topic string, want int64) {
	t.Helper()
	for {
		offs, err := adm.FetchOffsets(ctx, group)
		o, ok := offs.Lookup(topic, 0)
		if err == nil && ok && o.At == want {
			return
		}
		select {
		case <-w.done:
			t.Fatalf("Connect worker exited; group %s committed %+v (%v) on %s/0, want %d", group, o, err, topic, want)
		case <-ctx.Done():
			t.Fatalf("group %s committed %+v (%v) on %s/0, want %d", group, o, err, topic, want)
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// waitOffsetsFile waits until the standalone worker's offsets file holds the
// source position at the end of src (FileOffsetBackingStore writes the
// JSON of keys and values as raw bytes of a serialized Java map).
// FileStreamSource counts its position in characters, not bytes.
func waitOffsetsFile(t *testing.T, ctx context.Context, w *connectWorker, path, src string) {
	t.Helper()
	data, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	want := fmt.Sprintf(`{"position":%d}`, utf8.RuneCount(data))
	for {
		got, _ := os.ReadFile(path)
		if bytes.Contains(got, []byte(want)) {
			return
		}
		select {
		case <-w.done:
			t.Fatalf("Connect worker exited before %s held %s", path, want)
		case <-ctx.Done():
			t.Fatalf("%s never held %s", path, want)
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// checkTopicLines checks that the topic holds the n lines of the file, once
// each, in order: the source connector did not send any twice.
func checkTopicLines(t *testing.T, ctx context.Context, b broker, topic, src string, n int) {
	t.Helper()
	data, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	want := strings.Split(strings.TrimSuffix(string(data), "\n"), "\n")
	recs := consume(t, b.addr, topic, n)
	for i, r := range recs {
		if string(r.Value) != want[i] || r.Offset != int64(i) {
			t.Fatalf("record %d of %s: offset %d value %q, want %q", i, topic, r.Offset, r.Value, want[i])
		}
	}
}

func TestConnectDistributedFileStream(t *testing.T) {
	t.Parallel()
	eachBroker(t, func(t *testing.T, b broker) {
		ctx := testCtx(t, 10*time.Minute)
		dir := t.TempDir()
		topic := topicName(t, "lines")
		src, sink := filepath.Join(dir, "in.txt"), filepath.Join(dir, "out.txt")
		port, err := zombitest.FreePort()
		if err != nil {
			t.Fatal(err)
		}
		offsetsTopic := topic + "-offsets"
		worker := writeProps(t, filepath.Join(dir, "worker.properties"),
			"bootstrap.servers="+b.addr,
			"group.id=connect-"+topic,
			"key.converter=org.apache.kafka.connect.storage.StringConverter",
			"value.converter=org.apache.kafka.connect.storage.StringConverter",
			"config.storage.topic="+topic+"-configs",
			"offset.storage.topic="+offsetsTopic,
			"status.storage.topic="+topic+"-status",
			"config.storage.replication.factor=1",
			"offset.storage.replication.factor=1",
			"status.storage.replication.factor=1",
			"offset.storage.partitions=1",
			"plugin.path="+pluginPath(t),
			"status.storage.partitions=1",
			"offset.flush.interval.ms=500",
			"scheduled.rebalance.max.delay.ms=0",
			fmt.Sprintf("listeners=http://127.0.0.1:%d", port),
			"rest.advertised.host.name=127.0.0.1")
		adm := kadm.NewClient(newClient(t, b.addr))
		createTopic(t, ctx, adm, topic, 1, nil)
		appendLines(t, src, 0, 20)

		w := startConnect(t, "connect-distributed", dir, worker)
		base := fmt.Sprintf("http://127.0.0.1:%d", port)
		srcName, sinkName := "src-"+topic, "sink-"+topic
		createConnector(t, ctx, w, base, srcName, map[string]string{
			"connector.class": "org.apache.kafka.connect.file.FileStreamSourceConnector",
			"tasks.max":       "1", "file": src, "topic": topic,
		})
		createConnector(t, ctx, w, base, sinkName, map[string]string{
			"connector.class": "org.apache.kafka.connect.file.FileStreamSinkConnector",
			"tasks.max":       "1", "file": sink, "topics": topic,
		})
		waitSink(t, ctx, w, src, sink, 20)
		// Both offsets are in the broker: the sink's as its group's
		// committed offset, the source's in the offsets topic (key
		// [connector, {"filename": file}], value {"position": bytes read}).
		// Connect stores them every offset.flush.interval.ms (at least
		// once): wait for them before stopping the worker.
		waitCommitted(t, ctx, w, adm, "connect-"+sinkName, topic, 20)
		srcData, _ := os.ReadFile(src)
		end := int64(utf8.RuneCount(srcData)) // FileStreamSource counts characters
		for {
			pos := lastSourcePosition(t, ctx, b, offsetsTopic, srcName)
			if pos == end {
				break
			}
			select {
			case <-w.done:
				t.Fatalf("Connect worker exited; source offset in %s: position %d, want %d", offsetsTopic, pos, end)
			case <-ctx.Done():
				t.Fatalf("source offset in %s: position %d, want %d (the whole file)", offsetsTopic, pos, end)
			case <-time.After(300 * time.Millisecond):
			}
		}
		w.stop(t)

		// The restarted worker reads its connectors and offsets back from
		// the broker: only the new lines reach the sink.
		appendLines(t, src, 20, 35)
		w = startConnect(t, "connect-distributed", dir, worker)
		waitSink(t, ctx, w, src, sink, 35)
		settle(t, sink, 35, 2*time.Second)
		w.stop(t)
		checkTopicLines(t, ctx, b, topic, src, 35)
	})
}

// createConnector posts a connector to the worker's REST API, retrying while
// the worker starts (connection refused, or 409/503 while it joins its group).
func createConnector(t *testing.T, ctx context.Context, w *connectWorker, base, name string, config map[string]string) {
	t.Helper()
	body, _ := json.Marshal(map[string]any{"name": name, "config": config})
	var last string
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, base+"/connectors", bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			var msg bytes.Buffer
			_, _ = msg.ReadFrom(resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusCreated {
				return
			}
			last = fmt.Sprintf("HTTP %d: %s", resp.StatusCode, msg.String())
			if resp.StatusCode != http.StatusConflict && resp.StatusCode < 500 && resp.StatusCode != http.StatusNotFound {
				t.Fatalf("create connector %s: %s", name, last)
			}
		} else {
			last = err.Error()
		}
		select {
		case <-w.done:
			t.Fatalf("Connect worker exited before connector %s was created (%s)", name, last)
		case <-ctx.Done():
			t.Fatalf("create connector %s: %s", name, last)
		case <-time.After(500 * time.Millisecond):
		}
	}
}

// lastSourcePosition reads the offsets topic and returns the last position
// stored for connector's file, -1 when there is none.
func lastSourcePosition(t *testing.T, ctx context.Context, b broker, topic, connector string) int64 {
	t.Helper()
	adm := kadm.NewClient(newClient(t, b.addr))
	ends, err := adm.ListEndOffsets(ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	var n int64
	ends.Each(func(o kadm.ListedOffset) { n += o.Offset })
	if n == 0 {
		return -1 // nothing stored yet
	}
	pos := int64(-1)
	for _, r := range consume(t, b.addr, topic, int(n), kgo.FetchMaxWait(200*time.Millisecond)) {
		var key []any
		if err := json.Unmarshal(r.Key, &key); err != nil || len(key) != 2 || key[0] != connector {
			continue
		}
		var v struct {
			Position int64 `json:"position"`
		}
		if err := json.Unmarshal(r.Value, &v); err != nil {
			t.Fatalf("offset record %s: %v", r.Value, err)
		}
		pos = v.Position
	}
	return pos
}
