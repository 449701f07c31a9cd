package compat

import (
	"bytes"
	"context"
	"encoding/xml"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"
)

// The Java client (kafka-clients 4.4.0) and whatever else the Maven module
// compat-tests/java holds (every JUnit class in it: producer, consumer,
// AdminClient, Kafka Streams ...), against Zombi and against Apache Kafka.
// The module is compiled once (online, so a new machine resolves it from
// Maven Central into ~/.m2), then both brokers' passes run at once, offline,
// each with its own surefire reports (target/surefire-reports-BROKER).
func TestJavaClient(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: the Java client tests take about a minute")
	}
	mvn, err := exec.LookPath("mvn")
	if err != nil {
		t.Skip("mvn not on PATH: the Java client tests need Maven (Debian: apt-get install maven)")
	}
	if _, err := exec.LookPath("java"); err != nil {
		t.Skip("java not on PATH: the Java client tests need Java 17 or newer")
	}
	dir, err := filepath.Abs("java")
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	// Compile, and resolve everything a pass needs (surefire resolves its
	// JUnit provider when it first runs a test class: Broker has none).
	out, err := runMaven(t, mvn, dir, 10*time.Minute, "test-compile", "surefire:test",
		"-Dtest=Broker", "-Dsurefire.failIfNoSpecifiedTests=false", "-Dbroker=compile")
	if err != nil {
		t.Fatalf("mvn test-compile in %s: %v\n%s", dir, err, out)
	}
	t.Logf("compiled in %v", time.Since(start).Round(time.Millisecond))
	// SecurityTest runs against the secured broker of the same kind (the
	// security tests' setup: listeners, users, alice's ACLs).
	secured := map[string][]string{}
	for _, tg := range secTargets() {
		if tg.skip != "" || tg.err != nil {
			continue
		}
		secured[tg.name] = []string{"-Dsec.sasl_ssl=" + tg.listeners[protoSASLSSL],
			"-Dsec.sasl_plaintext=" + tg.listeners[protoSASLPlaintext], "-Dsec.ca=" + certs.CA}
	}
	eachBroker(t, func(t *testing.T, b broker) {
		t.Parallel()
		reports := filepath.Join(dir, "target", "surefire-reports-"+b.name)
		if err := os.RemoveAll(reports); err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		out, err := runMaven(t, mvn, dir, 10*time.Minute, append([]string{"-o", "surefire:test",
			"-Dbootstrap.servers=" + b.addr, "-Dbroker=" + b.name}, secured[b.name]...)...)
		wall := time.Since(start).Round(time.Millisecond)
		sum, rerr := readSurefire(reports)
		if err != nil {
			t.Fatalf("mvn surefire:test against %s (%s) after %v: %v\n%s\n%s", b.name, b.addr, wall, err, sum, out)
		}
		if rerr != nil {
			t.Fatalf("surefire reports of %s: %v\n%s", b.name, rerr, out)
		}
		t.Logf("%s: %v\n%s", b.name, wall, sum)
		if sum.tests == 0 {
			t.Fatalf("no Java test ran against %s\n%s", b.name, out)
		}
	})
}

// runMaven runs mvn quietly in dir with a deadline; Maven and the JVM it
// forks for the tests are one process group, killed together on timeout.
func runMaven(t *testing.T, mvn, dir string, timeout time.Duration, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, mvn, append([]string{"-B", "-q", "-Dstyle.color=never"}, args...)...)
	cmd.Dir = dir
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 10 * time.Second
	var buf bytes.Buffer
	cmd.Stdout, cmd.Stderr = &buf, &buf
	err := cmd.Run()
	if ctx.Err() != nil {
		err = fmt.Errorf("timed out after %v: %w", timeout, err)
	}
	return tail(buf.String(), 60000), err
}

func tail(s string, n int) string {
	if len(s) > n {
		return "...\n" + s[len(s)-n:]
	}
	return s
}

// surefireSummary is what the surefire XML reports of one pass say.
type surefireSummary struct {
	tests, failures, errors, skipped int
	lines                            []string // one per test class
}

func (s surefireSummary) String() string {
	return fmt.Sprintf("%s%d tests, %d failures, %d errors, %d skipped",
		strings.Join(s.lines, ""), s.tests, s.failures, s.errors, s.skipped)
}

func readSurefire(dir string) (surefireSummary, error) {
	var sum surefireSummary
	files, err := filepath.Glob(filepath.Join(dir, "TEST-*.xml"))
	if err != nil {
		return sum, err
	}
	if len(files) == 0 {
		return sum, fmt.Errorf("no surefire reports in %s", dir)
	}
	sort.Strings(files)
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			return sum, err
		}
		var suite struct {
			Name     string  `xml:"name,attr"`
			Tests    int     `xml:"tests,attr"`
			Failures int     `xml:"failures,attr"`
			Errors   int     `xml:"errors,attr"`
			Skipped  int     `xml:"skipped,attr"`
			Time     float64 `xml:"time,attr"`
			Cases    []struct {
				Name    string `xml:"name,attr"`
				Skipped *struct {
					Message string `xml:"message,attr"`
				} `xml:"skipped"`
			} `xml:"testcase"`
		}
		if err := xml.Unmarshal(data, &suite); err != nil {
			return sum, fmt.Errorf("%s: %w", f, err)
		}
		sum.tests += suite.Tests
		sum.failures += suite.Failures
		sum.errors += suite.Errors
		sum.skipped += suite.Skipped
		line := fmt.Sprintf("  %s: %d tests, %d failures, %d errors, %d skipped, %.1fs\n",
			suite.Name, suite.Tests, suite.Failures, suite.Errors, suite.Skipped, suite.Time)
		for _, c := range suite.Cases {
			if c.Skipped != nil {
				line += fmt.Sprintf("    skipped %s: %s\n", c.Name, c.Skipped.Message)
			}
		}
		sum.lines = append(sum.lines, line)
	}
	return sum, nil
}
