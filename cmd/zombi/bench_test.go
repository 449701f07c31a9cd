package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/zombi-dev/zombi/bench/loadgen"
)

func TestParseBenchArgs(t *testing.T) {
	var stderr bytes.Buffer
	o, err := parseBenchArgs(nil, &stderr)
	if err != nil {
		t.Fatal(err)
	}
	if o.mode != "http" || o.profile != loadgen.Stress || o.duration != 10*time.Second || o.concurrency != 10 ||
		o.payloadSize != 100 || o.batch != 1 || o.acks != loadgen.AcksAll || len(o.brokers) != 1 || o.topic != "bench" {
		t.Errorf("defaults: %+v", o)
	}

	o, err = parseBenchArgs([]string{"http-bulk", "--records", "5000", "--profile", "Spike", "--rate", "200", "--table", "t1"}, &stderr)
	if err != nil {
		t.Fatal(err)
	}
	if o.mode != "http-bulk" || o.batch != 100 || o.records != 5000 || o.duration != 0 || o.profile != loadgen.Spike || o.rate != 200 || o.topic != "t1" {
		t.Errorf("http-bulk: %+v", o)
	}

	o, err = parseBenchArgs([]string{"--mode", "kafka-produce", "--acks", "none", "--linger", "5ms", "--brokers", "a:1, b:2", "--batch", "50"}, &stderr)
	if err != nil {
		t.Fatal(err)
	}
	if o.mode != "kafka-produce" || o.acks != loadgen.AcksNone || o.linger != 5*time.Millisecond || len(o.brokers) != 2 || o.brokers[1] != "b:2" || o.batch != 50 {
		t.Errorf("kafka-produce: %+v", o)
	}

	o, _ = parseBenchArgs([]string{"kafka-consume", "--concurrency", "8"}, &stderr)
	if o.concurrency != 1 {
		t.Errorf("kafka-consume runs one reader, got %d", o.concurrency)
	}

	for _, args := range [][]string{
		{"fly"},
		{"http", "extra"},
		{"--profile", "flat"},
		{"--acks", "2"},
		{"--format", "xml"},
		{"http-bulk", "--format", "protobuf"},
		{"--concurrency", "0"},
		{"--payload-size", "-1"},
		{"--duration", "-1s"},
		{"--batch-bytes", "-5"},
		{"kafka-produce", "--compression", "brotli"},
		{"kafka-produce", "--client", "sarama"},
		{"http", "--client", "wire"},
		{"kafka-produce", "--client", "wire", "--compression", "lz4"},
	} {
		if _, err := parseBenchArgs(args, &stderr); err == nil {
			t.Errorf("parseBenchArgs(%q) accepted", args)
		}
	}
}

func TestBenchCommandUsage(t *testing.T) {
	var out, errOut bytes.Buffer
	if code := benchCommand([]string{"-h"}, &out, &errOut); code != 0 {
		t.Errorf("-h exits %d", code)
	}
	if !strings.Contains(errOut.String(), "kafka-produce") || !strings.Contains(errOut.String(), "-payload-size") {
		t.Errorf("usage:\n%s", errOut.String())
	}
	errOut.Reset()
	if code := benchCommand([]string{"nope"}, &out, &errOut); code != 2 {
		t.Errorf("bad mode exits %d", code)
	}
	if !strings.Contains(errOut.String(), `unknown mode "nope"`) {
		t.Errorf("stderr: %s", errOut.String())
	}
	// Nothing listening: a clear failure, exit 1.
	errOut.Reset()
	port := freePort(t)
	code := benchCommand([]string{"http", "--url", fmt.Sprintf("http://127.0.0.1:%d", port), "--records", "3", "--quiet"}, &out, &errOut)
	if code != 1 || !strings.Contains(out.String(), "connection refused") {
		t.Errorf("no server: exit %d\n%s%s", code, out.String(), errOut.String())
	}
}

// TestBenchAgainstServer runs every mode of `zombi bench` against the real
// binary and checks the records it reports against the server's.
func TestBenchAgainstServer(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the real binary")
	}
	p := startZombi(t, t.TempDir())
	brokers := p.KafkaAddr

	run := func(args ...string) loadgen.Result {
		t.Helper()
		var out, errOut bytes.Buffer
		code := benchCommand(append(args, "--json"), &out, &errOut)
		var res loadgen.Result
		if err := json.Unmarshal(out.Bytes(), &res); err != nil {
			t.Fatalf("bench %q: exit %d, %v\n%s\n%s", args, code, err, out.String(), errOut.String())
		}
		if code != 0 || res.Errors != 0 {
			t.Fatalf("bench %q: exit %d\n%s\n%s", args, code, out.String(), errOut.String())
		}
		if !strings.Contains(errOut.String(), "rec/s") && res.ElapsedSecs >= 1.5 {
			t.Errorf("bench %q: no progress line on stderr:\n%s", args, errOut.String())
		}
		return res
	}

	single := run("http", "--url", p.HTTPBase, "--table", "h", "--records", "300", "--concurrency", "4")
	proto := run("http", "--url", p.HTTPBase, "--table", "h", "--format", "protobuf", "--duration", "2s", "--profile", "steady", "--rate", "50", "--concurrency", "2")
	bulk := run("http-bulk", "--url", p.HTTPBase, "--table", "h", "--records", "2050", "--concurrency", "3", "--payload-size", "1000")
	if single.Records != 300 || bulk.Records != 2050 || bulk.Ops != 21 || bulk.Bytes != 2050*1000 {
		t.Errorf("http: single %d records, bulk %d records in %d ops", single.Records, bulk.Records, bulk.Ops)
	}
	if proto.Records < 90 || proto.Records > 101 {
		t.Errorf("steady 50/s for 2 s sent %d records", proto.Records)
	}
	httpRecords := single.Records + proto.Records + bulk.Records
	if got := countRecords(t, p.HTTPBase, "h"); got != httpRecords {
		t.Errorf("table h holds %d records, bench acknowledged %d", got, httpRecords)
	}

	prod := run("kafka-produce", "--brokers", brokers, "--topic", "k", "--records", "1000", "--concurrency", "4", "--batch", "10", "--compression", "zstd")
	one := run("kafka-produce", "--brokers", brokers, "--topic", "k", "--records", "200", "--concurrency", "8", "--clients", "0", "--acks", "leader")
	wire := run("kafka-produce", "--client", "wire", "--brokers", brokers, "--topic", "k", "--records", "300", "--concurrency", "4", "--batch", "3")
	wire1 := run("kafka-produce", "--client", "wire", "--brokers", brokers, "--topic", "k", "--records", "50", "--concurrency", "2", "--acks", "leader")
	cons := run("kafka-consume", "--brokers", brokers, "--topic", "k")
	if prod.Records != 1000 || one.Records != 200 || wire.Records != 300 || wire.Ops != 100 || wire1.Records != 50 ||
		cons.Records != 1550 || cons.Bytes != 1550*100 {
		t.Errorf("kafka: produced %d+%d+%d+%d, consumed %d records (%d bytes)", prod.Records, one.Records, wire.Records, wire1.Records, cons.Records, cons.Bytes)
	}
	pre := run("kafka-consume", "--brokers", brokers, "--topic", "k2", "--prefill", "500", "--payload-size", "10")
	if pre.Records != 500 {
		t.Errorf("prefilled consume read %d records", pre.Records)
	}

	// group-consume needs the group coordinator: it either works or says
	// clearly that the broker lacks it.
	var out, errOut bytes.Buffer
	code := benchCommand([]string{"group-consume", "--brokers", brokers, "--topic", "k", "--concurrency", "2", "--quiet", "--json", "--duration", "20s"}, &out, &errOut)
	if code != 0 && !strings.Contains(errOut.String(), "does not implement consumer groups") {
		t.Errorf("group-consume: exit %d\n%s%s", code, out.String(), errOut.String())
	}
	if code == 0 {
		var res loadgen.Result
		if err := json.Unmarshal(out.Bytes(), &res); err != nil || res.Records != 1550 {
			t.Errorf("group-consume read %d records (%v)", res.Records, err)
		}
	}
}

// countRecords sums the records of every partition of a table.
func countRecords(t *testing.T, base, table string) int64 {
	t.Helper()
	var n int64
	for part := int32(0); ; part++ {
		resp, err := http.Get(fmt.Sprintf("%s/tables/%s?partition=%d&offset=0&limit=1", base, table, part))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			break
		}
		recs := readPartition(t, base, table, part)
		if len(recs) == 0 {
			break
		}
		n += int64(len(recs))
	}
	return n
}

// bench takes its connection defaults from ZOMBI_BROKERS and ZOMBI_API, the
// root's --brokers/--api before the mode, and reports a bad flag in one line.
func TestBenchSharedConnectionFlags(t *testing.T) {
	t.Setenv("ZOMBI_BROKERS", "env:1,env:2")
	t.Setenv("ZOMBI_API", "http://env:8080")
	var stderr bytes.Buffer
	o, err := parseBenchArgs([]string{"kafka-produce"}, &stderr)
	if err != nil || len(o.brokers) != 2 || o.brokers[0] != "env:1" || o.url != "http://env:8080" {
		t.Fatalf("env defaults: %+v %v", o, err)
	}
	// As cobra hands it over for zombi --brokers B --api A bench MODE ...
	o, err = parseBenchArgs([]string{"--brokers", "flag:1", "--api", "http://flag:1", "kafka-produce", "--acks", "none"}, &stderr)
	if err != nil || o.mode != "kafka-produce" || len(o.brokers) != 1 || o.brokers[0] != "flag:1" || o.url != "http://flag:1" || o.acks != loadgen.AcksNone {
		t.Fatalf("root flags before the mode: %+v %v", o, err)
	}
	if _, err := parseBenchArgs([]string{"--brokers", "b:1", "kafka-produce", "extra"}, &stderr); err == nil {
		t.Error("an argument after the mode was accepted")
	}
	var out, errOut bytes.Buffer
	code := benchCommand([]string{"kafka-produce", "--bogus"}, &out, &errOut)
	if code != 2 || errOut.String() != "zombi bench: unknown flag --bogus (zombi bench --help lists the flags)\n" {
		t.Errorf("bad flag: exit %d, stderr %q", code, errOut.String())
	}
	errOut.Reset()
	if code := benchCommand([]string{"--records", "x"}, &out, &errOut); code != 2 || strings.Count(errOut.String(), "\n") != 1 {
		t.Errorf("bad value: exit %d, stderr %q", code, errOut.String())
	}
}

// serve and segments: an unknown flag is one line, exit 2, before anything
// else is looked at.
func TestUnknownFlagIsOneLine(t *testing.T) {
	var out, errOut bytes.Buffer
	if code := serveCommand([]string{"--bogus"}, &out, &errOut); code != 2 || errOut.String() != "zombi: unknown flag --bogus (zombi serve --help lists the settings)\n" {
		t.Errorf("serve --bogus: exit %d, stderr %q", code, errOut.String())
	}
	t.Setenv("ZOMBI_S3_BUCKET", "")
	errOut.Reset()
	if code := segmentsCommand([]string{"ls", "--bogus"}, &out, &errOut); code != 2 || !strings.Contains(errOut.String(), "unknown flag --bogus") || strings.Contains(errOut.String(), "BUCKET") {
		t.Errorf("segments ls --bogus: exit %d, stderr %q", code, errOut.String())
	}
	errOut.Reset()
	if code := segmentsCommand([]string{"ls"}, &out, &errOut); code != 2 || !strings.Contains(errOut.String(), "ZOMBI_S3_BUCKET is not set") {
		t.Errorf("segments ls without a bucket: exit %d, stderr %q", code, errOut.String())
	}
}
