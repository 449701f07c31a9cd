package ui_test

// The harness of the browser tests: one Chromium per test binary run (Debian's
// /usr/bin/chromium driven through chromedp), one fresh browser context (tab,
// cache, sessionStorage) per test, one shared Zombi for the tests that need no
// server of their own. Every tab records console errors, uncaught exceptions
// and every request; a test fails on any error it did not expect and on any
// request that leaves the server's origin.

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/emulation"
	cdplog "github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/zombi-dev/zombi/internal/zombitest"
)

// chromiumPath is Debian's package `chromium` (make test-deps installs it).
const chromiumPath = "/usr/bin/chromium"

// testTimeout bounds each test's browser work (the tab's context deadline).
const testTimeout = 60 * time.Second

// Viewports the console must be readable at.
var (
	desktop = viewport{"desktop", 1280, 800, false}
	phone   = viewport{"phone", 390, 844, true}
)

type viewport struct {
	name          string
	width, height int64
	mobile        bool
}

var (
	tmpRoot string // temp dirs of this run (server data), removed by TestMain

	browserOnce sync.Once
	browserCtx  context.Context
	browserErr  error
	stopBrowser = func() {}

	serverMu   sync.Mutex
	servers    []*zombitest.Proc // every Zombi started, killed by TestMain
	closers    []func()          // run before the servers stop (group members leaving)
	built      bool              // zombitest.Binary was asked for
	sharedOnce sync.Once
	shared     *zombitest.Proc
	sharedErr  error
)

func TestMain(m *testing.M) {
	code := run(m)
	os.Exit(code)
}

func run(m *testing.M) int {
	var err error
	if tmpRoot, err = os.MkdirTemp("", "zombi-ui-test-"); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(tmpRoot)
	code := m.Run()
	stopBrowser()
	serverMu.Lock()
	for _, c := range closers {
		c()
	}
	for _, p := range servers {
		_ = p.Kill()
	}
	serverMu.Unlock()
	// zombitest builds the binary into a zombi-bin-* temp dir of its own
	// (about 116 MB) and leaves it: remove it unless ZOMBI_BIN named one.
	if built && os.Getenv("ZOMBI_BIN") == "" {
		if bin, err := zombitest.Binary(); err == nil && strings.HasPrefix(filepath.Base(filepath.Dir(bin)), "zombi-bin-") {
			_ = os.RemoveAll(filepath.Dir(bin))
		}
	}
	return code
}

// needBrowser skips the test where it cannot run: -short, or no Chromium.
func needBrowser(t *testing.T) {
	t.Helper()
	if testing.Short() {
		t.Skip("browser test: starts the real binary and Chromium (not with -short)")
	}
	if _, err := os.Stat(chromiumPath); err != nil {
		t.Skipf("browser test: no Chromium at %s (Debian package chromium; `make test-deps` installs it): %v", chromiumPath, err)
	}
}

// browser starts the one Chromium of this run, with the flags of
// /work/shared/TOOLCHAIN.md and a fresh profile directory (chromedp makes one
// and removes it when the browser stops).
func browser(t *testing.T) context.Context {
	t.Helper()
	browserOnce.Do(func() {
		opts := append(chromedp.DefaultExecAllocatorOptions[:],
			chromedp.ExecPath(chromiumPath),
			chromedp.Headless,
			chromedp.NoSandbox,
			chromedp.DisableGPU,
			chromedp.NoFirstRun,
			chromedp.Flag("disable-quic", true),
			chromedp.Flag("disable-background-networking", true),
			chromedp.Flag("disable-component-update", true),
			chromedp.Flag("disable-sync", true),
			chromedp.WindowSize(int(desktop.width), int(desktop.height)),
		)
		allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
		ctx, cancel := chromedp.NewContext(allocCtx)
		stopBrowser = func() { cancel(); cancelAlloc() }
		// The first Do binds the browser's life to its context, so it gets
		// ctx itself; the wait for it is bounded here instead.
		started := make(chan error, 1)
		go func() { started <- chromedp.Do(ctx) }()
		select {
		case browserErr = <-started:
		case <-time.After(30 * time.Second):
			cancel()
			browserErr = fmt.Errorf("not started after 30s: %w", <-started)
		}
		browserCtx = ctx
	})
	if browserErr != nil {
		t.Fatalf("start %s: %v", chromiumPath, browserErr)
	}
	return browserCtx
}

// sharedServer is the Zombi most tests use (each with its own topic and
// group names), started once.
func sharedServer(t *testing.T) *zombitest.Proc {
	t.Helper()
	sharedOnce.Do(func() {
		shared, sharedErr = startServer("shared")
	})
	if sharedErr != nil {
		t.Fatal(sharedErr)
	}
	return shared
}

// ownServer starts a Zombi for one test (auth on, or no other test's
// traffic), killed when the test ends.
func ownServer(t *testing.T, env ...string) *zombitest.Proc {
	t.Helper()
	p, err := startServer(t.Name(), env...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = p.Kill()
		if t.Failed() {
			t.Logf("zombi log (%s):\n%s", p.LogPath, tail(p.Log(), 40))
		}
	})
	return p
}

func startServer(name string, env ...string) (*zombitest.Proc, error) {
	dir, err := os.MkdirTemp(tmpRoot, strings.NewReplacer("/", "-").Replace(name)+"-")
	if err != nil {
		return nil, err
	}
	serverMu.Lock()
	built = true
	serverMu.Unlock()
	p, err := zombitest.Start(filepath.Join(dir, "data"), env...)
	if err != nil {
		return nil, fmt.Errorf("start zombi: %w", err)
	}
	serverMu.Lock()
	servers = append(servers, p)
	serverMu.Unlock()
	return p, nil
}

// tail is the last n lines of s.
func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// page is one browser tab of one test, in a browser context of its own.
type page struct {
	t      *testing.T
	origin string          // scheme://host:port of the server
	base   string          // HTTPBase of the server
	tab    context.Context // the tab, without deadline (final screenshot)
	ctx    context.Context // the tab with the test's deadline
	vp     viewport

	mu       sync.Mutex
	problems []string         // console errors, exceptions, foreign requests
	allow    []*regexp.Regexp // console errors this test expects
	reqs     map[network.RequestID]*request
	order    []network.RequestID
}

// request is what the tab saw of one network request.
type request struct {
	url      string
	mime     string
	status   int64
	encoded  float64 // bytes on the wire (headers + compressed body)
	finished bool
	failed   bool
}

// newPage opens a tab at the viewport. Its cleanup saves the final
// screenshot, fails the test on unexpected console errors or foreign
// requests, and closes the tab and its browser context.
func newPage(t *testing.T, srv *zombitest.Proc, vp viewport) *page {
	t.Helper()
	u, err := url.Parse(srv.HTTPBase)
	if err != nil {
		t.Fatal(err)
	}
	// Without -artifacts the directory is temporary: make it now, so that it
	// is removed after the final screenshot below, not before.
	t.ArtifactDir()
	p := &page{t: t, origin: u.Scheme + "://" + u.Host, base: srv.HTTPBase, vp: vp, reqs: map[network.RequestID]*request{}}
	tab, cancelTab := chromedp.NewContext(browser(t), chromedp.WithNewBrowserContext(), chromedp.WithListener(p.onEvent))
	if err := chromedp.Do(tab); err != nil {
		cancelTab()
		t.Fatalf("open a tab: %v", err)
	}
	ctx, cancel := context.WithTimeout(tab, testTimeout)
	p.tab, p.ctx = tab, ctx
	t.Cleanup(func() {
		p.shot(finalShot)
		p.checkClean("at the end of the test")
		if t.Failed() {
			t.Logf("screenshots in %s (kept with go test -artifacts -outputdir DIR)", t.ArtifactDir())
			if srv == shared { // ownServer logs its own
				t.Logf("zombi log (%s), its end:\n%s", srv.LogPath, tail(srv.Log(), 40))
			}
		}
		cancel()
		cancelTab()
	})
	p.do("set the viewport", p.viewportAction(vp))
	return p
}

func (p *page) viewportAction(vp viewport) chromedp.Action[chromedp.Void] {
	if vp.mobile {
		return chromedp.EmulateViewport(vp.width, vp.height, chromedp.EmulateMobile, chromedp.EmulatePortrait)
	}
	return chromedp.EmulateViewport(vp.width, vp.height)
}

// onEvent runs in the tab's event loop: it only records.
func (p *page) onEvent(ev any) {
	p.mu.Lock()
	defer p.mu.Unlock()
	switch ev := ev.(type) {
	case *runtime.EventConsoleAPICalled:
		if ev.Type == runtime.ConsoleAPICalledTypeError || ev.Type == runtime.ConsoleAPICalledTypeAssert {
			p.problemLocked("console.%s: %s", ev.Type, argsText(ev.Args))
		}
	case *runtime.EventExceptionThrown:
		p.problemLocked("uncaught exception: %s", exceptionText(ev.ExceptionDetails))
	case *cdplog.EventEntryAdded:
		if ev.Entry != nil && ev.Entry.Level == cdplog.EntryLevelError {
			p.problemLocked("browser log (%s): %s %s", ev.Entry.Source, ev.Entry.Text, ev.Entry.URL)
		}
	case *network.EventRequestWillBeSent:
		if ev.Request == nil {
			return
		}
		r := p.reqs[ev.RequestID]
		if r == nil {
			r = &request{}
			p.reqs[ev.RequestID] = r
			p.order = append(p.order, ev.RequestID)
		}
		r.url = ev.Request.URL
		if !p.sameOrigin(ev.Request.URL) {
			p.problems = append(p.problems, "request to another origin: "+ev.Request.URL)
		}
	case *network.EventResponseReceived:
		if r := p.reqs[ev.RequestID]; r != nil && ev.Response != nil {
			r.mime, r.status = ev.Response.MimeType, ev.Response.Status
		}
	case *network.EventDataReceived:
		if r := p.reqs[ev.RequestID]; r != nil && !r.finished {
			r.encoded += float64(ev.EncodedDataLength)
		}
	case *network.EventLoadingFinished:
		if r := p.reqs[ev.RequestID]; r != nil {
			// The total of the request (headers included) replaces the
			// chunks counted so far.
			r.encoded, r.finished = ev.EncodedDataLength, true
		}
	case *network.EventLoadingFailed:
		if r := p.reqs[ev.RequestID]; r != nil {
			r.finished, r.failed = true, true
		}
	}
}

// sameOrigin: the server's origin, or a URL that does not leave the page.
func (p *page) sameOrigin(raw string) bool {
	u, err := url.Parse(raw)
	if err != nil {
		return false
	}
	switch u.Scheme {
	case "data", "blob", "about":
		return true
	}
	return u.Scheme+"://"+u.Host == p.origin
}

func (p *page) problemLocked(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	for _, re := range p.allow {
		if re.MatchString(msg) {
			return
		}
	}
	p.problems = append(p.problems, msg)
}

// expectConsoleError lets console errors matching re pass (for example the
// 401s of a sign-in).
func (p *page) expectConsoleError(re string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.allow = append(p.allow, regexp.MustCompile(re))
}

// checkClean fails the test for each problem recorded since the last check.
func (p *page) checkClean(when string) {
	p.t.Helper()
	p.mu.Lock()
	probs := p.problems
	p.problems = nil
	p.mu.Unlock()
	for _, pr := range probs {
		p.t.Errorf("%s (%s): %s", when, p.vp.name, pr)
	}
}

func argsText(args []*runtime.RemoteObject) string {
	var parts []string
	for _, a := range args {
		switch {
		case a == nil:
		case len(a.Value) > 0:
			var s string
			if json.Unmarshal(a.Value, &s) == nil {
				parts = append(parts, s)
			} else {
				parts = append(parts, string(a.Value))
			}
		default:
			parts = append(parts, a.Description)
		}
	}
	return strings.Join(parts, " ")
}

func exceptionText(d *runtime.ExceptionDetails) string {
	if d == nil {
		return "?"
	}
	s := d.Text
	if d.Exception != nil && d.Exception.Description != "" {
		s += " " + d.Exception.Description
	}
	return fmt.Sprintf("%s (%s:%d:%d)", s, d.URL, d.LineNumber+1, d.ColumnNumber+1)
}

// do runs actions in the tab and fails the test with what on error.
func (p *page) do(what string, actions ...chromedp.Action[chromedp.Void]) {
	p.t.Helper()
	if err := chromedp.Do(p.ctx, actions...); err != nil {
		p.fatal("%s: %v", what, err)
	}
}

// fatal ends the test with a message and what the page shows.
func (p *page) fatal(format string, args ...any) {
	p.t.Helper()
	p.t.Fatalf("%s\n  at %s\n  page text: %q", fmt.Sprintf(format, args...), p.location(), p.pageText())
}

func (p *page) location() string {
	ctx, cancel := context.WithTimeout(p.tab, 2*time.Second)
	defer cancel()
	loc, _ := chromedp.Run(ctx, chromedp.Location())
	return loc
}

func (p *page) pageText() string {
	ctx, cancel := context.WithTimeout(p.tab, 2*time.Second)
	defer cancel()
	s, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.body ? document.body.innerText.slice(0, 600) : ""`))
	return s
}

// js evaluates an expression and decodes its value.
func js[T any](p *page, expr string) T {
	p.t.Helper()
	v, err := chromedp.Run(p.ctx, chromedp.Evaluate[T](expr))
	if err != nil {
		p.fatal("evaluate %s: %v", expr, err)
	}
	return v
}

// jsq is s as a JavaScript string literal.
func jsq(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// waitFor polls a JavaScript condition (every 50 ms, no animation frames
// needed) until it is truthy, for at most d.
func (p *page) waitFor(what, cond string, d time.Duration) {
	p.t.Helper()
	_, err := chromedp.Run(p.ctx, chromedp.Poll[chromedp.Void](`!!(`+cond+`)`,
		chromedp.WithPollingInterval(50*time.Millisecond), chromedp.WithPollingTimeout(d)))
	if err != nil {
		p.fatal("waiting for %s (%s, %v): %v", what, cond, d, err)
	}
}

// within reports whether a JavaScript condition becomes truthy within d.
func (p *page) within(cond string, d time.Duration) bool {
	p.t.Helper()
	_, err := chromedp.Run(p.ctx, chromedp.Poll[chromedp.Void](`!!(`+cond+`)`,
		chromedp.WithPollingInterval(50*time.Millisecond), chromedp.WithPollingTimeout(d)))
	return err == nil
}

// open loads path and waits for the page's first data.
func (p *page) open(path, pageName string) {
	p.t.Helper()
	p.do("navigate to "+path, chromedp.Navigate(p.base+path))
	p.waitReady(pageName)
}

// waitReady waits for <main data-page=pageName data-ready=true>.
func (p *page) waitReady(pageName string) {
	p.t.Helper()
	p.waitFor("the "+pageName+" page's first data",
		`document.querySelector('main[data-page=`+jsq(pageName)+`][data-ready="true"]')`, 15*time.Second)
}

// exists reports whether sel matches now.
func (p *page) exists(sel string) bool {
	p.t.Helper()
	return js[bool](p, `!!document.querySelector(`+jsq(sel)+`)`)
}

// waitSel waits until sel matches an element.
func (p *page) waitSel(sel string, d time.Duration) {
	p.t.Helper()
	p.waitFor(sel, `document.querySelector(`+jsq(sel)+`)`, d)
}

// click clicks the first element matching sel, once it is visible.
func (p *page) click(sel string) {
	p.t.Helper()
	p.waitSel(sel, 10*time.Second)
	p.do("click "+sel, chromedp.Click(chromedp.CSS(sel)))
}

// fill sets an input, select or textarea as a user would leave it (input
// and change events fire).
func (p *page) fill(sel, value string) {
	p.t.Helper()
	p.waitSel(sel, 10*time.Second)
	ok := js[bool](p, `(() => { const el = document.querySelector(`+jsq(sel)+`);
		if (el.tagName === 'SELECT' && ![...el.options].some(o => o.value === `+jsq(value)+`)) return false;
		el.focus(); el.value = `+jsq(value)+`;
		el.dispatchEvent(new Event('input', {bubbles: true}));
		el.dispatchEvent(new Event('change', {bubbles: true}));
		return true; })()`)
	if !ok {
		p.fatal("%s has no option %q (options: %s)", sel, value,
			js[string](p, `[...document.querySelector(`+jsq(sel)+`).options].map(o => o.value).join(',')`))
	}
}

// text is the visible text of the first match of sel ("" when none).
func (p *page) text(sel string) string {
	p.t.Helper()
	return js[string](p, `(document.querySelector(`+jsq(sel)+`) || {}).innerText || ""`)
}

// attr is an attribute of the first match of sel ("" when none).
func (p *page) attr(sel, name string) string {
	p.t.Helper()
	return js[string](p, `(document.querySelector(`+jsq(sel)+`) || {getAttribute(){return ""}}).getAttribute(`+jsq(name)+`) || ""`)
}

// finalShot names the screenshot of a test's last state.
const finalShot = "final"

// shot saves a PNG of the viewport into the test's artifact directory and,
// when ZOMBI_UI_SCREENSHOTS names a directory, as console-<name>.png there
// (how `make ui-screenshots` refreshes docs/img for the README).
func (p *page) shot(name string) {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(p.tab, 10*time.Second)
	defer cancel()
	buf, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
	if err != nil {
		p.t.Errorf("screenshot %s: %v", name, err)
		return
	}
	file := name
	if name == finalShot {
		// Artifact directories have opaque names: say whose state it is.
		file = "final-" + strings.NewReplacer("/", "-").Replace(p.t.Name())
	}
	if err := os.WriteFile(filepath.Join(p.t.ArtifactDir(), file+".png"), buf, 0o644); err != nil {
		p.t.Errorf("screenshot %s: %v", name, err)
	}
	if dir := screenshotDir(); dir != "" && readmeShots[name] {
		err := os.MkdirAll(dir, 0o755)
		if err == nil {
			err = os.WriteFile(filepath.Join(dir, "console-"+name+".png"), buf, 0o644)
		}
		if err != nil {
			p.t.Errorf("screenshot %s into ZOMBI_UI_SCREENSHOTS: %v", name, err)
		}
	}
}

// readmeShots are the screenshots the README shows (docs/img/console-*.png).
var readmeShots = map[string]bool{"overview": true, "topics": true, "topic": true, "topic-phone": true,
	"group": true, "group-reset": true, "groups-dark": true}

// screenshotDir is $ZOMBI_UI_SCREENSHOTS, a relative path taken from the
// module root (go test runs in ui/).
func screenshotDir() string {
	dir := os.Getenv("ZOMBI_UI_SCREENSHOTS")
	if dir == "" || filepath.IsAbs(dir) {
		return dir
	}
	return filepath.Join("..", dir)
}

// emulateColorScheme makes prefers-color-scheme light or dark.
func (p *page) emulateColorScheme(scheme string) {
	p.t.Helper()
	_, err := chromedp.Call(p.ctx, emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{
		Features: []*emulation.MediaFeature{{Name: "prefers-color-scheme", Value: scheme}},
	})
	if err != nil {
		p.fatal("emulate prefers-color-scheme %s: %v", scheme, err)
	}
}

// disableCache makes every load go to the server.
func (p *page) disableCache() {
	p.t.Helper()
	if _, err := chromedp.Call(p.ctx, network.SetCacheDisabled, network.SetCacheDisabledParams{CacheDisabled: true}); err != nil {
		p.fatal("disable the cache: %v", err)
	}
}

// requests is a copy of what the tab requested so far, in order.
func (p *page) requests() []request {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make([]request, 0, len(p.order))
	for _, id := range p.order {
		out = append(out, *p.reqs[id])
	}
	return out
}

// kafka is a franz-go client of srv, closed when the test ends.
func kafka(t *testing.T, srv *zombitest.Proc, opts ...kgo.Opt) *kgo.Client {
	t.Helper()
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(srv.KafkaAddr), kgo.RetryTimeout(10 * time.Second)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return cl
}

// createTopic creates topic with partitions through Kafka.
func createTopic(t *testing.T, ctx context.Context, adm *kadm.Client, topic string, partitions int32) {
	t.Helper()
	resp, err := adm.CreateTopic(ctx, partitions, 1, nil, topic)
	if err == nil {
		err = resp.Err
	}
	if err != nil {
		t.Fatalf("create topic %s: %v", topic, err)
	}
}

// produce writes records synchronously and fails the test on error.
func produce(t *testing.T, ctx context.Context, cl *kgo.Client, recs ...*kgo.Record) []*kgo.Record {
	t.Helper()
	res := cl.ProduceSync(ctx, recs...)
	if err := res.FirstErr(); err != nil {
		t.Fatalf("produce: %v", err)
	}
	out := make([]*kgo.Record, 0, len(res))
	for _, r := range res {
		out = append(out, r.Record)
	}
	return out
}

// eventually retries f every 100 ms until it returns nil or d passes.
func eventually(t *testing.T, what string, d time.Duration, f func() error) {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		err := f()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: still not so after %v: %v", what, d, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// unique makes names that no other test (or run) on the shared server uses.
func unique(prefix string) string {
	return fmt.Sprintf("%s-%d", prefix, time.Now().UnixNano()%1e9)
}
