package compat

// Unit tests of kgo_report_test.go: recorded events, no processes.

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
)

// The real allow-list parses, and a bad one says which line is wrong.
func TestKgoAllowlistParse(t *testing.T) {
	if _, err := readKgoAllowlist("kgo-allowlist.txt"); err != nil {
		t.Fatal(err)
	}
	good := "# comment\n\nTestA  why a\nTestB/sub\tthe\treason of b  \n"
	allow, err := parseKgoAllowlist(strings.NewReader(good))
	if err != nil {
		t.Fatal(err)
	}
	if len(allow) != 2 || allow["TestA"] != "why a" || allow["TestB/sub"] != "the\treason of b" {
		t.Fatalf("parsed %q", allow)
	}
	for in, want := range map[string]string{
		"TestA\n":                   "line 1: TestA has no reason",
		"# c\nTestA x\nTestA y\n":   "line 3: TestA is listed twice",
		"TestA x\nBenchmarkB why\n": `line 2: "BenchmarkB" is not a test name`,
	} {
		if _, err := parseKgoAllowlist(strings.NewReader(in)); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: got %v, want %q", in, err, want)
		}
	}
}

// Recorded test2json events (shapes taken from kgo.test runs against Zombi)
// through readKgoEvents and judgeKgo: what fails the suite, what is allowed,
// what is noted.
func TestKgoEventsAndVerdict(t *testing.T) {
	ev := func(action, test, out string, secs float64) string {
		b, _ := json.Marshal(map[string]any{"Action": action, "Test": test, "Output": out, "Elapsed": secs})
		return string(b) + "\n"
	}
	var in strings.Builder
	for _, e := range []string{
		ev("start", "", "", 0),
		ev("run", "TestPing", "", 0),
		ev("pass", "TestPing", "", 0.01),
		ev("run", "TestShareGroup", "", 0),
		ev("output", "TestShareGroup", "    share_test.go:10: looking at the broker\n", 0),
		ev("output", "TestShareGroup", "    share_test.go:20: broker does not support share groups\n", 0),
		ev("output", "TestShareGroup", "    helpers_test.go:99: cleanup: deleted\n", 0),
		ev("skip", "TestShareGroup", "", 0),
		// A parent failing only through an allowed subtest.
		ev("run", "TestGroupETL", "", 0),
		ev("run", "TestGroupETL/range", "", 0),
		ev("pass", "TestGroupETL/range", "", 3),
		ev("run", "TestGroupETL/range/848", "", 0),
		ev("output", "TestGroupETL/range/848", "    helpers_test.go:900: boom 848\n", 0),
		ev("fail", "TestGroupETL/range/848", "", 1),
		ev("fail", "TestGroupETL", "", 5),
		// A failure nobody allowed.
		ev("run", "TestIssue337", "", 0),
		ev("run", "TestIssue337/sub", "", 0),
		ev("output", "TestIssue337/sub", "    consumer_test.go:77: expected 10 records, got 9\n", 0),
		ev("fail", "TestIssue337/sub", "", 2),
		ev("fail", "TestIssue337", "", 2.5),
		// An allowed test that passes now.
		ev("run", "TestConsumeRegex", "", 0),
		ev("pass", "TestConsumeRegex", "", 0.05), // quick, and listed all the same
		// Hung: the timeout panic names it; the goroutine dump is not kept.
		ev("run", "TestTxnEtl", "", 0),
		ev("run", "TestDirectPartitionPurge", "", 0),
		ev("output", "TestDirectPartitionPurge", "    consumer_test.go:1: waiting\n", 0),
		ev("run", "TestWaiting", "", 0),
		ev("pause", "TestWaiting", "", 0),
		ev("output", "TestTxnEtl", "panic: test timed out after 15s\n", 0),
		ev("output", "TestTxnEtl", "\trunning tests:\n", 0),
		ev("output", "TestTxnEtl", "\t\tTestTxnEtl (15s)\n", 0),
		ev("output", "TestTxnEtl", "\t\tTestDirectPartitionPurge (14s)\n", 0),
		ev("output", "TestTxnEtl", "\n", 0),
		ev("output", "TestTxnEtl", "goroutine 1 [running]:\n", 0),
	} {
		in.WriteString(e)
	}
	run, err := readKgoEvents(strings.NewReader(in.String()))
	if err != nil {
		t.Fatal(err)
	}
	if run.timedOut != "panic: test timed out after 15s" {
		t.Errorf("timedOut = %q", run.timedOut)
	}
	for name, want := range map[string]kgoStatus{
		"TestPing": kgoPass, "TestShareGroup": kgoSkip, "TestGroupETL/range/848": kgoFail,
		"TestTxnEtl": kgoHung, "TestDirectPartitionPurge": kgoHung, "TestConsumeRegex": kgoPass,
		"TestWaiting": kgoNotRun,
	} {
		if got := run.results[name]; got == nil || got.status != want {
			t.Errorf("%s: got %+v, want %s", name, got, want)
		}
	}
	src := func(file string, n int) string {
		if file == "share_test.go" && n == 19 {
			return "\t\tt.Skip("
		}
		return ""
	}
	setSkipMessages(run.results, src)
	if got := run.results["TestShareGroup"].skipMsg; got != "broker does not support share groups" {
		t.Errorf("skip message %q", got)
	}
	if got := run.results["TestTxnEtl"].elapsed; got != 15*time.Second {
		t.Errorf("TestTxnEtl hung for %s, want the 15s of the panic", got)
	}
	if tail := run.results["TestTxnEtl"].tail; len(tail) != 0 {
		t.Errorf("TestTxnEtl kept the panic's lines: %q", tail)
	}
	allow := map[string]string{"TestTxnEtl": "no coordinator", "TestConsumeRegex": "no internal topics", "TestGroupETL/range/848": "no 848"}
	listed := []string{"TestPing", "TestShareGroup", "TestGroupETL", "TestIssue337", "TestConsumeRegex", "TestTxnEtl", "TestDirectPartitionPurge", "TestWaiting", "TestNeverRan"}
	rep := judgeKgo(run.results, listed, allow)
	if len(rep.failures) != 3 {
		t.Fatalf("failures %d, want 3 (TestDirectPartitionPurge hung, TestIssue337, TestWaiting and TestNeverRan not run):\n%s", len(rep.failures), strings.Join(rep.failures, "\n"))
	}
	for i, want := range []string{"TestDirectPartitionPurge hung", "TestIssue337 failed (2.5s)", "2 tests did not run (the pass ended before them): TestWaiting TestNeverRan"} {
		if !strings.Contains(rep.failures[i], want) {
			t.Errorf("failure %d = %q, want %q in it", i, rep.failures[i], want)
		}
	}
	if !strings.Contains(rep.failures[1], "TestIssue337/sub fail, last lines:\n    ") || !strings.Contains(rep.failures[1], "expected 10 records, got 9") {
		t.Errorf("the failure does not show the failing subtest's output:\n%s", rep.failures[1])
	}
	for _, n := range []string{"TestTxnEtl", "TestGroupETL", "TestGroupETL/range/848"} {
		if !rep.allowed[n] {
			t.Errorf("%s not allowed: %v", n, rep.allowed)
		}
	}
	if len(rep.notes) != 1 || !strings.Contains(rep.notes[0], "allow-listed TestConsumeRegex passes now") {
		t.Errorf("notes %q", rep.notes)
	}
	sum := kgoSummary(run.results, listed, rep, allow)
	for _, want := range []string{"TestShareGroup", "broker does not support share groups", "allowed hung", "allowed fail", "TestConsumeRegex", "(1 more)                  pass", "TestConsumeRegex          pass          0.05s        allow-listed, passes now", "9 top-level tests: allowed fail 1, allowed hung 1, fail 1, hung 1, pass 2, skip 1, not run 2"} {
		if !strings.Contains(sum, want) {
			t.Errorf("summary lacks %q:\n%s", want, sum)
		}
	}
}
