package compat

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/zombi-dev/zombi/internal/zombitest"
)

// TestFranzGoKgoSuite runs franz-go's own pkg/kgo tests, of the version
// go.mod requires, against a fresh Zombi, the way Tansu runs them against its
// broker (issue 14): KGO_SEEDS, KGO_TEST_RF=1, KGO_TEST_RECORDS (10000 unless
// set: `make test-kgo KGO_TEST_RECORDS=100000` soaks). Every test must pass
// or skip itself, except those of kgo-allowlist.txt, each with its reason.
//
// How: `go test -c` in franz-go's directory of the module cache (read-only;
// -o writes the binary to a temp dir, Go's build cache makes it about 1 s
// warm), then one pass of the whole package minus the allow-listed tests, and
// beside it one pass per allow-listed test with a -test.timeout of 75 s (an
// allowed test may hang; one that passes gets a note asking to remove its
// line). Each pass has its -test.timeout, whose panic names the tests still
// running, and the whole runner a deadline, ZOMBI_KGO_TIMEOUT (6 minutes
// unless set), so nothing hangs CI. A failing or hung test that is not
// allowed fails this test with the tail of its output. About a minute on 2
// cores.
func TestFranzGoKgoSuite(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: franz-go's suite takes about a minute")
	}
	runKgoSuite(t, 1, func(work string) (string, <-chan struct{}, func() error) {
		p := zombitest.StartT(t, filepath.Join(work, "zombi", "data"))
		return p.KafkaAddr, p.Done(), p.Wait
	})
}

// runKgoSuite builds and runs the suite (see TestFranzGoKgoSuite) with
// KGO_TEST_RF=rf against what start starts: it returns the seeds, a channel
// closed if the broker exits and what the exit was.
func runKgoSuite(t *testing.T, rf int, start func(work string) (seeds string, done <-chan struct{}, exit func() error)) {
	t.Helper()
	start0 := time.Now()
	budget := 6 * time.Minute
	if v := os.Getenv("ZOMBI_KGO_TIMEOUT"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d < time.Minute {
			t.Fatalf("ZOMBI_KGO_TIMEOUT=%s: want a duration of a minute or more (6m by default)", v)
		}
		budget = d
	}
	records := 10000
	if v := os.Getenv("KGO_TEST_RECORDS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			t.Fatalf("KGO_TEST_RECORDS=%s: want a positive number", v)
		}
		records = n
	}
	ctx, cancel := context.WithTimeout(context.Background(), budget)
	defer cancel()

	allow, err := readKgoAllowlist("kgo-allowlist.txt")
	if err != nil {
		t.Fatal(err)
	}
	modDir, version := franzGoModule(ctx, t)
	work := t.TempDir()
	bin := filepath.Join(work, "kgo.test")
	build := exec.CommandContext(ctx, "go", "test", "-c", "-o", bin, "./pkg/kgo")
	build.Dir = modDir
	build.Env = append(os.Environ(), "GOFLAGS=-mod=mod", "GOWORK=off")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go test -c ./pkg/kgo in %s: %v\n%s", modDir, err, out)
	}
	built := time.Since(start0)
	// Some tests read the package's sources (client_sweep_test.go reads
	// config.go): they run in its directory, read-only.
	pkgDir := filepath.Join(modDir, "pkg", "kgo")
	listed := listKgoTests(ctx, t, bin, pkgDir)
	var own []string // allow-listed top-level tests: a pass each
	for name := range allow {
		if !slices.Contains(listed, topLevel(name)) {
			t.Fatalf("kgo-allowlist.txt names %s, which franz-go %s does not have: remove its line", name, version)
		}
		if !strings.Contains(name, "/") {
			own = append(own, name)
		}
	}
	sort.Strings(own)

	seeds, brokerDone, brokerExit := start(work)
	env := kgoEnv(seeds, rf, records)
	deadline, _ := ctx.Deadline()
	// Room after the pass's own timeout for its panic to name the hung tests.
	passTimeout := time.Until(deadline) - 30*time.Second
	if passTimeout < 10*time.Second { // -test.timeout=0 would mean none
		t.Fatalf("ZOMBI_KGO_TIMEOUT=%s leaves %s for the suite after the build: too little", budget, passTimeout)
	}
	ownTimeout := min(75*time.Second, passTimeout)

	type pass struct {
		name string
		args []string
		run  *kgoRun
		err  error
		wall time.Duration
	}
	mainArgs := []string{"-test.timeout=" + passTimeout.Round(time.Second).String()}
	if len(own) > 0 {
		q := make([]string, len(own))
		for i, n := range own {
			q[i] = regexp.QuoteMeta(n)
		}
		mainArgs = append(mainArgs, "-test.skip=^("+strings.Join(q, "|")+")$")
	}
	passes := []*pass{{name: "package", args: mainArgs}}
	for _, n := range own {
		passes = append(passes, &pass{name: n, args: []string{"-test.run=^" + regexp.QuoteMeta(n) + "$", "-test.timeout=" + ownTimeout.Round(time.Second).String()}})
	}
	var wg sync.WaitGroup
	for _, ps := range passes {
		wg.Go(func() {
			began := time.Now()
			ps.run, ps.err = runKgoPass(ctx, bin, pkgDir, env, ps.args)
			ps.wall = time.Since(began)
		})
	}
	wg.Wait()

	select {
	case <-brokerDone:
		t.Errorf("zombi exited during franz-go's suite: %v", brokerExit())
	default:
	}
	results := map[string]*kgoResult{}
	for _, ps := range passes {
		if ps.run == nil {
			t.Fatalf("pass %s: %v", ps.name, ps.err)
		}
		for name, r := range ps.run.results {
			results[name] = r
		}
		if ps.run.timedOut != "" {
			t.Logf("pass %s: %s", ps.name, ps.run.timedOut)
		}
		// A pass that failed with no failing test: the package's own output says why.
		if ps.err != nil && ps.name == "package" && ps.run.timedOut == "" && !anyFailed(ps.run) {
			t.Errorf("franz-go's suite ended with %v and no failing test; its output, last lines:\n%s", ps.err, indent(ps.run.pkgTail))
		}
	}
	setSkipMessages(results, sourceLines(pkgDir))
	rep := judgeKgo(results, listed, allow)
	t.Logf("franz-go %s pkg/kgo against Zombi, KGO_TEST_RF=%d, KGO_TEST_RECORDS=%d: built in %.1f s, package pass %.1f s, runner %.1f s wall\n%s",
		version, rf, records, built.Seconds(), passes[0].wall.Seconds(), time.Since(start0).Seconds(), kgoSummary(results, listed, rep, allow))
	for _, n := range rep.notes {
		t.Log(n)
	}
	for _, f := range rep.failures {
		t.Error(f)
	}
}

// franzGoModule is franz-go's directory in the module cache and its version,
// the one go.mod requires (a franz-go upgrade is followed by itself).
func franzGoModule(ctx context.Context, t *testing.T) (dir, version string) {
	t.Helper()
	out, err := exec.CommandContext(ctx, "go", "list", "-m", "-f", "{{.Dir}} {{.Version}}", "github.com/twmb/franz-go").Output()
	dir, version, _ = strings.Cut(string(bytes.TrimSpace(out)), " ")
	if err != nil || dir == "" {
		t.Fatalf("go list -m github.com/twmb/franz-go: %v %q (is the module downloaded? go mod download)", err, out)
	}
	return dir, version
}

// listKgoTests is the binary's top-level tests (fuzz targets run their seeds
// as tests; benchmarks and examples are left out).
func listKgoTests(ctx context.Context, t *testing.T, bin, dir string) []string {
	t.Helper()
	cmd := exec.CommandContext(ctx, bin, "-test.list=.*")
	cmd.Dir = dir
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%s -test.list: %v", bin, err)
	}
	var names []string
	for _, l := range strings.Fields(string(out)) {
		if strings.HasPrefix(l, "Test") || strings.HasPrefix(l, "Fuzz") {
			names = append(names, l)
		}
	}
	if len(names) == 0 {
		t.Fatalf("%s -test.list: no tests:\n%s", bin, out)
	}
	return names
}

// kgoEnv is the environment of the suite: this one without KGO_* variables
// (a KGO_TEST_TLS here must not change the run) but KGO_LOG_LEVEL, and the
// suite's settings.
func kgoEnv(seeds string, rf, records int) []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "KGO_") || strings.HasPrefix(kv, "KGO_LOG_LEVEL=") {
			env = append(env, kv)
		}
	}
	return append(env, "KGO_SEEDS="+seeds, "KGO_TEST_RF="+strconv.Itoa(rf), "KGO_TEST_RECORDS="+strconv.Itoa(records))
}

// runKgoPass runs the test binary once with -test.v=test2json, its output
// through `go tool test2json`, and returns what it reported with its exit
// status. ctx's end kills it; what it reported until then is returned.
func runKgoPass(ctx context.Context, bin, dir string, env, args []string) (*kgoRun, error) {
	pr, pw, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	cmd := exec.CommandContext(ctx, bin, append([]string{"-test.v=test2json", "-test.count=1"}, args...)...)
	cmd.Dir, cmd.Env = dir, env
	cmd.Stdout, cmd.Stderr = pw, pw
	cmd.WaitDelay = 5 * time.Second
	conv := exec.CommandContext(ctx, "go", "tool", "test2json", "-t", "-p", "kgo")
	conv.Stdin = pr
	var convErr bytes.Buffer
	conv.Stderr = &convErr
	events, err := conv.StdoutPipe()
	if err != nil {
		pr.Close()
		pw.Close()
		return nil, err
	}
	if err := conv.Start(); err != nil {
		pr.Close()
		pw.Close()
		return nil, fmt.Errorf("go tool test2json: %w", err)
	}
	pr.Close() // test2json has it
	if err := cmd.Start(); err != nil {
		pw.Close()
		_ = conv.Wait()
		return nil, err
	}
	pw.Close() // the test binary has it: test2json sees EOF when it exits
	run, readErr := readKgoEvents(events)
	runErr := cmd.Wait()
	if err := conv.Wait(); err != nil && readErr == nil {
		readErr = fmt.Errorf("go tool test2json: %w\n%s", err, convErr.Bytes())
	}
	if ctx.Err() != nil {
		runErr = fmt.Errorf("the runner's deadline (ZOMBI_KGO_TIMEOUT) killed it: %w", errors.Join(ctx.Err(), runErr))
	}
	if readErr != nil {
		return run, errors.Join(readErr, runErr)
	}
	return run, runErr
}

func anyFailed(run *kgoRun) bool {
	for _, r := range run.results {
		if r.status == kgoFail || r.status == kgoHung {
			return true
		}
	}
	return false
}

// sourceLines reads the package's files (once each) for setSkipMessages.
func sourceLines(dir string) kgoSource {
	files := map[string][]string{}
	return func(file string, n int) string {
		lines, ok := files[file]
		if !ok {
			b, _ := os.ReadFile(filepath.Join(dir, filepath.Base(file)))
			lines = strings.Split(string(b), "\n")
			files[file] = lines
		}
		if n < 1 || n > len(lines) {
			return ""
		}
		return lines[n-1]
	}
}
