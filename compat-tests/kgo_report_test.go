package compat

// The results of franz-go's pkg/kgo suite (kgo_suite_test.go): its
// test2json events read into one result per test and subtest, the
// allow-list, the verdict and the summary table. No processes here:
// kgo_report_unit_test.go feeds it recorded events.

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
)

// kgoTailLines is how much of a test's output a failure shows.
const kgoTailLines = 40

type kgoStatus string

const (
	kgoRunning kgoStatus = "running" // started, no result yet
	kgoPass    kgoStatus = "pass"
	kgoFail    kgoStatus = "fail"
	kgoSkip    kgoStatus = "skip"
	kgoHung    kgoStatus = "hung"    // still running when the pass ended (-test.timeout, a crash)
	kgoNotRun  kgoStatus = "not run" // waiting (t.Parallel) when the pass ended
)

// kgoResult is one test or subtest (Parent/Sub, as go test names them).
type kgoResult struct {
	name    string
	status  kgoStatus
	elapsed time.Duration
	tail    []string // its last kgoTailLines output lines
	skipMsg string   // why it skipped (setSkipMessages)
	paused  bool     // t.Parallel: waiting for its turn
}

// kgoRun is what one kgo.test process reported.
type kgoRun struct {
	results  map[string]*kgoResult
	order    []string // first seen first
	pkgTail  []string // output of no test (the package's own lines)
	timedOut string   // "panic: test timed out after ..." when it fired
}

// kgoEvent is one line of `go tool test2json` (cmd/test2json's TestEvent).
type kgoEvent struct {
	Action  string
	Test    string
	Elapsed float64
	Output  string
}

// readKgoEvents reads test2json events until EOF. After a -test.timeout
// panic the goroutine dump is not kept (it would push each hung test's own
// output out of its tail); the panic's "running tests:" list marks those
// tests hung.
func readKgoEvents(r io.Reader) (*kgoRun, error) {
	run := &kgoRun{results: map[string]*kgoResult{}}
	get := func(name string) *kgoResult {
		res := run.results[name]
		if res == nil {
			res = &kgoResult{name: name, status: kgoRunning}
			run.results[name] = res
			run.order = append(run.order, name)
		}
		return res
	}
	dec := json.NewDecoder(r)
	inRunningList := false
	for {
		var ev kgoEvent
		if err := dec.Decode(&ev); err != nil {
			if errors.Is(err, io.EOF) {
				// The process ended (killed, or a panic) without their
				// result. A timeout's panic named those that were running
				// (hung already); the others were waiting for their turn.
				for _, res := range run.results {
					if res.status == kgoRunning {
						if run.timedOut != "" || res.paused {
							res.status = kgoNotRun
						} else {
							res.status = kgoHung
						}
					}
				}
				return run, nil
			}
			return run, fmt.Errorf("test2json output: %w", err)
		}
		switch ev.Action {
		case "run":
			get(ev.Test)
		case "pause", "cont":
			get(ev.Test).paused = ev.Action == "pause"
		case "pass", "fail", "skip":
			if ev.Test == "" {
				continue // the package's result; the exit status says it too
			}
			res := get(ev.Test)
			res.status = kgoStatus(ev.Action)
			res.elapsed = time.Duration(ev.Elapsed * float64(time.Second))
		case "output":
			line := strings.TrimRight(ev.Output, "\n")
			switch {
			case strings.HasPrefix(line, "panic: test timed out after "):
				run.timedOut = line
				inRunningList = true
				continue
			case run.timedOut != "":
				// "\t\tTestX/sub (5m0s)" lines, up to the blank line.
				if inRunningList {
					if name, d, ok := strings.Cut(strings.TrimSpace(line), " ("); ok && strings.HasPrefix(line, "\t\t") {
						if res := get(name); res.status == kgoRunning {
							res.status = kgoHung
							res.elapsed, _ = time.ParseDuration(strings.TrimSuffix(d, ")"))
						}
					} else if line == "" {
						inRunningList = false
					}
				}
				continue
			}
			if ev.Test == "" {
				run.pkgTail = appendTail(run.pkgTail, line)
			} else {
				res := get(ev.Test)
				res.tail = appendTail(res.tail, line)
			}
		}
	}
}

func appendTail(tail []string, line string) []string {
	if len(line) > 400 {
		line = line[:400] + " …"
	}
	if len(tail) == kgoTailLines {
		copy(tail, tail[1:])
		tail = tail[:kgoTailLines-1]
	}
	return append(tail, line)
}

// kgoLogLine is a t.Log/t.Skip line of go test -v: "    file_test.go:12: msg".
var kgoLogLine = regexp.MustCompile(`^\s+(\S+\.go):(\d+): (.*)$`)

// kgoSource returns line n (from 1) of a file of the package, "" if none.
type kgoSource func(file string, n int) string

// setSkipMessages gives each skipped result the reason it skipped with: the
// log line a t.Skip call made (src shows which lines those are: the call,
// or up to two lines above it when its arguments span lines), else its last
// log line (cleanups log after the skip, so the last line is not always it).
func setSkipMessages(results map[string]*kgoResult, src kgoSource) {
	for _, r := range results {
		if r.status != kgoSkip {
			continue
		}
		r.skipMsg = ""
		for i := len(r.tail) - 1; i >= 0; i-- {
			m := kgoLogLine.FindStringSubmatch(r.tail[i])
			if m == nil {
				continue
			}
			if r.skipMsg == "" {
				r.skipMsg = m[3]
			}
			n, _ := strconv.Atoi(m[2])
			if isSkipCall(src, m[1], n) {
				r.skipMsg = m[3]
				break
			}
		}
	}
}

func isSkipCall(src kgoSource, file string, n int) bool {
	for l := n; l > 0 && l >= n-2; l-- {
		if strings.Contains(src(file, l), ".Skip") {
			return true
		}
	}
	return false
}

// readKgoAllowlist reads the allow-list: "TestName  reason" lines (a
// subtest as TestName/sub), blank lines and # comments. Every entry names
// its reason; a name twice is an error.
func readKgoAllowlist(path string) (map[string]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	allow, err := parseKgoAllowlist(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return allow, nil
}

func parseKgoAllowlist(r io.Reader) (map[string]string, error) {
	allow := map[string]string{}
	sc := bufio.NewScanner(r)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		name := strings.Fields(line)[0]
		reason := strings.TrimSpace(line[len(name):])
		switch {
		case !strings.HasPrefix(name, "Test") && !strings.HasPrefix(name, "Fuzz"):
			return nil, fmt.Errorf("line %d: %q is not a test name (want \"TestName  reason\")", n, name)
		case reason == "":
			return nil, fmt.Errorf("line %d: %s has no reason: each entry says why it may fail", n, name)
		case allow[name] != "":
			return nil, fmt.Errorf("line %d: %s is listed twice", n, name)
		}
		allow[name] = reason
	}
	return allow, sc.Err()
}

// topLevel is the test a (sub)test name belongs to.
func topLevel(name string) string {
	top, _, _ := strings.Cut(name, "/")
	return top
}

// kgoReport is the verdict on the merged results of the passes.
type kgoReport struct {
	failures []string // each fails the Go test
	notes    []string // allow-list entries to remove, and the like
	allowed  map[string]bool
}

// judgeKgo compares the results of all passes with the allow-list. listed
// are the top-level tests of the binary (-test.list): one without a result
// did not run.
func judgeKgo(results map[string]*kgoResult, listed []string, allow map[string]string) kgoReport {
	rep := kgoReport{allowed: map[string]bool{}}
	allowedBy := func(name string) string {
		for n := name; ; {
			if r, ok := allow[n]; ok {
				return r
			}
			i := strings.LastIndexByte(n, '/')
			if i < 0 {
				return ""
			}
			n = n[:i]
		}
	}
	failed := func(r *kgoResult) bool { return r.status == kgoFail || r.status == kgoHung }
	// Failing subtests by top-level test, and whether each is allowed.
	type failing struct {
		leaves    []*kgoResult // failing subtests with no failing subtest of their own
		disallow  bool         // one of them is not allowed
		anyFailed bool
	}
	byTop := map[string]*failing{}
	for _, r := range results {
		if !failed(r) || !strings.Contains(r.name, "/") {
			continue
		}
		f := byTop[topLevel(r.name)]
		if f == nil {
			f = &failing{}
			byTop[topLevel(r.name)] = f
		}
		f.anyFailed = true
		if allowedBy(r.name) != "" {
			rep.allowed[r.name] = true
			continue
		}
		leaf := true
		for _, o := range results {
			if failed(o) && strings.HasPrefix(o.name, r.name+"/") {
				leaf = false
				break
			}
		}
		if leaf {
			f.leaves = append(f.leaves, r)
		}
		f.disallow = true
	}
	var tops []string
	for _, r := range results {
		if !strings.Contains(r.name, "/") {
			tops = append(tops, r.name)
		}
	}
	sort.Strings(tops)
	for _, name := range tops {
		r := results[name]
		if !failed(r) {
			continue
		}
		f := byTop[name]
		if allowedBy(name) != "" || (f != nil && f.anyFailed && !f.disallow) {
			rep.allowed[name] = true
			continue
		}
		var b strings.Builder
		if r.status == kgoHung {
			fmt.Fprintf(&b, "%s hung: still running when the pass ended (-test.timeout or a crash)", name)
		} else {
			fmt.Fprintf(&b, "%s failed (%s)", name, r.elapsed.Round(10*time.Millisecond))
		}
		fmt.Fprintf(&b, "; not in kgo-allowlist.txt. Its output, last lines:\n%s", indent(r.tail))
		if f != nil {
			sort.Slice(f.leaves, func(i, j int) bool { return f.leaves[i].name < f.leaves[j].name })
			for _, l := range f.leaves {
				fmt.Fprintf(&b, "\n  %s %s, last lines:\n%s", l.name, l.status, indent(l.tail))
			}
		}
		rep.failures = append(rep.failures, b.String())
	}
	// Tests that never ran: the pass ended (crash, timeout) before them.
	var notRun []string
	for _, name := range listed {
		if r := results[name]; (r == nil || r.status == kgoNotRun) && allowedBy(name) == "" {
			notRun = append(notRun, name)
		}
	}
	if len(notRun) > 0 {
		rep.failures = append(rep.failures, fmt.Sprintf("%d tests did not run (the pass ended before them): %s", len(notRun), strings.Join(notRun, " ")))
	}
	// The allow-list against what happened.
	var names []string
	for n := range allow {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		r := results[n]
		switch {
		case r == nil || r.status == kgoNotRun:
			rep.notes = append(rep.notes, fmt.Sprintf("allow-listed %s did not run (%s)", n, allow[n]))
		case r.status == kgoPass:
			rep.notes = append(rep.notes, fmt.Sprintf("allow-listed %s passes now (%s): remove its line from kgo-allowlist.txt (it said: %s)", n, r.elapsed.Round(10*time.Millisecond), allow[n]))
		case r.status == kgoSkip:
			rep.notes = append(rep.notes, fmt.Sprintf("allow-listed %s skipped itself: %s", n, r.skipMsg))
		}
	}
	return rep
}

func indent(lines []string) string {
	if len(lines) == 0 {
		return "    (no output)"
	}
	return "    " + strings.Join(lines, "\n    ")
}

// kgoQuick: passing tests quicker than this are counted in the summary, not listed.
const kgoQuick = 100 * time.Millisecond

// kgoSummary is the table of the run: a line per top-level test (but the
// quick passing ones), the subtests that did not pass beneath their test,
// then the counts.
func kgoSummary(results map[string]*kgoResult, listed []string, rep kgoReport, allow map[string]string) string {
	rank := map[kgoStatus]int{kgoFail: 0, kgoHung: 0, kgoRunning: 1, kgoSkip: 3, kgoPass: 4}
	verdict := func(r *kgoResult) (string, int) {
		if rep.allowed[r.name] {
			return "allowed " + string(r.status), 2
		}
		return string(r.status), rank[r.status]
	}
	var tops []*kgoResult
	subs := map[string][]*kgoResult{}
	notRun := 0 // named in the failure, not listed here
	for _, name := range listed {
		if r := results[name]; r == nil || r.status == kgoNotRun {
			notRun++
		}
	}
	for _, r := range results {
		if r.status == kgoNotRun {
			continue
		}
		if strings.Contains(r.name, "/") {
			if r.status != kgoPass {
				subs[topLevel(r.name)] = append(subs[topLevel(r.name)], r)
			}
		} else {
			tops = append(tops, r)
		}
	}
	sort.Slice(tops, func(i, j int) bool {
		_, ri := verdict(tops[i])
		_, rj := verdict(tops[j])
		if ri != rj {
			return ri < rj
		}
		if tops[i].elapsed != tops[j].elapsed {
			return tops[i].elapsed > tops[j].elapsed
		}
		return tops[i].name < tops[j].name
	})
	note := func(r *kgoResult) string {
		switch {
		case allow[r.name] != "" && r.status == kgoPass:
			return "allow-listed, passes now: remove its line from kgo-allowlist.txt"
		case allow[r.name] != "":
			return allow[r.name]
		case r.status == kgoSkip:
			return r.skipMsg
		}
		return ""
	}
	count := map[string]int{}
	quick := 0
	var b strings.Builder
	w := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	fmt.Fprintln(w, "TEST\tRESULT\tTIME\tNOTE")
	for _, r := range tops {
		v, _ := verdict(r)
		count[v]++
		if v == string(kgoPass) && r.elapsed < kgoQuick && len(subs[r.name]) == 0 && allow[r.name] == "" {
			quick++ // the unit tests, mostly: counted, not listed
			continue
		}
		fmt.Fprintf(w, "%s\t%s\t%.2fs\t%s\n", r.name, v, r.elapsed.Seconds(), note(r))
		s := subs[r.name]
		sort.Slice(s, func(i, j int) bool { return s[i].name < s[j].name })
		for _, sr := range s {
			v, _ := verdict(sr)
			fmt.Fprintf(w, "  %s\t%s\t%.2fs\t%s\n", sr.name, v, sr.elapsed.Seconds(), note(sr))
		}
	}
	if quick > 0 {
		fmt.Fprintf(w, "(%d more)\tpass\t< %.1fs each\t\n", quick, kgoQuick.Seconds())
	}
	w.Flush()
	var keys []string
	for k := range count {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	if notRun > 0 {
		keys = append(keys, string(kgoNotRun))
		count[string(kgoNotRun)] = notRun
	}
	fmt.Fprintf(&b, "%d top-level tests:", len(tops)+notRun)
	for _, k := range keys {
		fmt.Fprintf(&b, " %s %d,", k, count[k])
	}
	return strings.TrimSuffix(b.String(), ",") + "\n"
}
