package ui_test

// The web console in a real browser (issue 15): each test is one point of
// the issue, against the real binary, with the selectors of the contract
// (/work/notes/issue15-contract.md, "Pages and the selectors").

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/zombi-dev/zombi/internal/zombitest"
)

// The data the page tour shows (and the README screenshots).
const (
	tourTopic = "orders"
	tourGroup = "billing"
)

var seedOnce sync.Once

// seedTour gives the shared server a topic with JSON records over three
// partitions and a group with a live member and some lag.
func seedTour(t *testing.T, srv *zombitest.Proc) {
	t.Helper()
	seedOnce.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		cl, err := kgo.NewClient(kgo.SeedBrokers(srv.KafkaAddr), kgo.DefaultProduceTopic(tourTopic))
		if err != nil {
			t.Fatal(err)
		}
		defer cl.Close()
		createTopic(t, ctx, kadm.NewClient(cl), tourTopic, 3)
		orders := func(from, n int) {
			var recs []*kgo.Record
			for i := from; i < from+n; i++ {
				recs = append(recs, orderRecord(i))
			}
			produce(t, ctx, cl, recs...)
		}
		orders(0, 60)
		// A member of the group reads what is there and commits, and stays
		// in the group (heartbeats in the background) until the run ends.
		member, err := kgo.NewClient(kgo.SeedBrokers(srv.KafkaAddr), kgo.ConsumerGroup(tourGroup),
			kgo.ConsumeTopics(tourTopic), kgo.DisableAutoCommit(), kgo.ClientID("billing-worker"))
		if err != nil {
			t.Fatal(err)
		}
		serverMu.Lock()
		closers = append(closers, member.Close)
		serverMu.Unlock()
		got := 0
		for got < 60 && ctx.Err() == nil {
			fs := member.PollFetches(ctx)
			if err := fs.Err0(); err != nil && ctx.Err() == nil {
				t.Fatalf("seed group %s: %v", tourGroup, err)
			}
			got += fs.NumRecords()
		}
		if err := member.CommitUncommittedOffsets(ctx); err != nil {
			t.Fatalf("seed group %s: commit: %v", tourGroup, err)
		}
		orders(60, 25) // the group's lag
		if screenshotDir() != "" {
			showcase(t, srv)
		}
	})
}

// orderRecord is the tour's i-th order: JSON, keyed by customer.
func orderRecord(i int) *kgo.Record {
	v, _ := json.Marshal(map[string]any{"order_id": i, "customer": fmt.Sprintf("c-%03d", i%17), "amount": float64(i*37%1000) / 10, "currency": "EUR"})
	return &kgo.Record{Key: []byte(fmt.Sprintf("c-%03d", i%17)), Value: v,
		Headers: []kgo.RecordHeader{{Key: "source", Value: []byte("checkout")}}}
}

// showcase, only when the README's screenshots are made (make
// ui-screenshots), gives the plots something to show: two and a half minutes
// of orders at a rate that rises and falls, read by a second group, while
// billing falls behind.
func showcase(t *testing.T, srv *zombitest.Proc) {
	t.Helper()
	reader, err := kgo.NewClient(kgo.SeedBrokers(srv.KafkaAddr), kgo.ConsumerGroup("analytics"),
		kgo.ConsumeTopics(tourTopic), kgo.ClientID("analytics"))
	if err != nil {
		t.Fatal(err)
	}
	writer, err := kgo.NewClient(kgo.SeedBrokers(srv.KafkaAddr), kgo.DefaultProduceTopic(tourTopic))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	serverMu.Lock()
	closers = append(closers, func() { cancel(); wg.Wait(); reader.Close(); writer.Close() })
	serverMu.Unlock()
	wg.Go(func() {
		for ctx.Err() == nil {
			reader.PollFetches(ctx)
		}
	})
	wg.Go(func() {
		tick := time.NewTicker(100 * time.Millisecond)
		defer tick.Stop()
		next := 85
		for i := 0; ; i++ {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
			n := 20 + int(15*math.Sin(float64(i)/160)) // 50 to 350 records/s, a period of 100 s
			recs := make([]*kgo.Record, n)
			for j := range recs {
				recs[j] = orderRecord(next + j)
			}
			next += n
			// Errors only thin the plot; the tests judge the server.
			_ = writer.ProduceSync(ctx, recs...).FirstErr()
		}
	})
	t.Logf("showcase traffic for the screenshots: 150 s")
	time.Sleep(150 * time.Second)
}

// 1. Every page loads without a console error at both viewports, and each
// survives a reload (same address, same page).
func TestConsolePagesLoad(t *testing.T) {
	needBrowser(t)
	srv := sharedServer(t)
	seedTour(t, srv)
	pages := []struct {
		path, name string
		shows      string // an element that holds the page's data
	}{
		{"/ui/", "overview", `[data-testid=chart-records]`},
		{"/ui/topics", "topics", `tr[data-topic="` + tourTopic + `"]`},
		{"/ui/topics/" + tourTopic, "topic", `tr[data-partition="2"]`},
		{"/ui/groups", "groups", `tr[data-group="` + tourGroup + `"]`},
		{"/ui/groups/" + tourGroup, "group", `[data-testid=chart-lag]`},
	}
	for _, vp := range []viewport{desktop, phone} {
		t.Run(vp.name, func(t *testing.T) {
			p := newPage(t, srv, vp)
			for _, pg := range pages {
				p.open(pg.path, pg.name)
				p.waitSel(pg.shows, 10*time.Second)
				p.checkClean("loading " + pg.path)
				p.noJunkText("loading " + pg.path)
				// Readable on a phone: wide tables scroll in their own box,
				// the page itself does not scroll sideways.
				if w := js[[]int](p, `[document.documentElement.scrollWidth, window.innerWidth]`); w[0] > w[1] {
					t.Errorf("%s (%s): the page is %d px wide in a %d px viewport", pg.path, vp.name, w[0], w[1])
				}
				switch {
				case vp == desktop:
					p.shot(pg.name)
				case pg.name == "topic":
					p.shot("topic-phone")
				}
				p.do("reload "+pg.path, chromedp.Reload())
				p.waitReady(pg.name)
				p.waitSel(pg.shows, 10*time.Second)
				if loc := p.location(); loc != p.base+pg.path {
					t.Errorf("after a reload of %s the address is %s", pg.path, loc)
				}
				p.checkClean("reloading " + pg.path)
			}
		})
	}
}

// noJunkText fails the test for text a user should never read: a value
// the page printed without formatting it (null, undefined, NaN, an object),
// outside the records of the message browser.
func (p *page) noJunkText(when string) {
	p.t.Helper()
	raw := js[string](p, `(() => { const out = []; const main = document.querySelector('main');
		const w = document.createTreeWalker(main || document.body, NodeFilter.SHOW_TEXT);
		for (let n = w.nextNode(); n; n = w.nextNode()) {
			const s = n.textContent.trim();
			// Record contents are the user's data: anything goes there.
			if (n.parentElement && n.parentElement.closest('[data-testid=messages]')) continue;
			if (/^(null|undefined|NaN|\[object Object\])$/.test(s) || /\b(undefined|NaN)\b|\[object Object\]/.test(s))
				out.push((n.parentElement ? n.parentElement.tagName.toLowerCase() + ': ' : '') + s.slice(0, 80)); }
		return JSON.stringify(out); })()`)
	var junk []string
	if err := json.Unmarshal([]byte(raw), &junk); err != nil {
		p.fatal("read the page's text: %v", err)
	}
	for _, j := range junk {
		p.t.Errorf("%s (%s): the page shows %q", when, p.vp.name, j)
	}
}

// 2. A record produced through Kafka appears in the Topic page's live tail
// within 2 s of the produce acknowledgement.
func TestConsoleLiveTail(t *testing.T) {
	needBrowser(t)
	srv := sharedServer(t)
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	topic := unique("tail")
	cl := kafka(t, srv, kgo.DefaultProduceTopic(topic))
	createTopic(t, ctx, kadm.NewClient(cl), topic, 1)
	produce(t, ctx, cl, &kgo.Record{Value: []byte("before the tail")})

	p := newPage(t, srv, desktop)
	p.startTail(topic)
	p.waitSel(`[data-testid=tail-toggle][aria-pressed="true"]`, 5*time.Second)
	// The tail starts at the end of the log when its answer begins: produce
	// only once the stream is open.
	eventually(t, "the tail stream answering", 10*time.Second, func() error {
		for _, r := range p.requests() {
			if strings.Contains(r.url, "/tables/"+topic+"/tail") && r.status == 200 {
				return nil
			}
		}
		return fmt.Errorf("no 200 answer to GET /tables/%s/tail yet", topic)
	})
	// Note the time each row enters the table, in the page itself.
	js[bool](p, `(() => { window.__seen = {};
		const mark = () => { for (const tr of document.querySelectorAll('[data-testid=messages] tr[data-offset]')) {
			const k = tr.dataset.partition + ':' + tr.dataset.offset; if (!(k in window.__seen)) window.__seen[k] = Date.now(); } };
		mark(); new MutationObserver(mark).observe(document.body, {childList: true, subtree: true}); return true; })()`)

	value := unique("tail-probe")
	rec := produce(t, ctx, cl, &kgo.Record{Key: []byte("k"), Value: []byte(value)})[0]
	acked := time.Now().UnixMilli()
	key := fmt.Sprintf("%d:%d", rec.Partition, rec.Offset)
	p.waitFor("the produced record in the live tail", `window.__seen[`+jsq(key)+`]`, 5*time.Second)
	seen := js[int64](p, `window.__seen[`+jsq(key)+`]`)
	latency := time.Duration(seen-acked) * time.Millisecond
	t.Logf("produce ack → row in the DOM: %v", latency)
	if latency > 2*time.Second {
		t.Errorf("the record appeared in the live tail %v after the produce ack, want ≤ 2s", latency)
	}
	row := fmt.Sprintf(`[data-testid=messages] tr[data-offset="%d"][data-partition="%d"]`, rec.Offset, rec.Partition)
	if txt := p.text(row); !strings.Contains(txt, value) {
		t.Errorf("the tail row %s shows %q, want the value %q", row, txt, value)
	}
	p.shot("live-tail")
}

// 3. Creating a topic in the UI (3 partitions and a config) creates it in
// the log; deleting it in the UI deletes it.
func TestConsoleCreateDeleteTopic(t *testing.T) {
	needBrowser(t)
	srv := sharedServer(t)
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	adm := kadm.NewClient(kafka(t, srv))
	topic := unique("created-in-ui")

	p := newPage(t, srv, desktop)
	p.open("/ui/topics", "topics")
	p.click(`[data-testid=create-topic]`)
	p.fill(`#new-topic-name`, topic)
	p.fill(`#new-topic-partitions`, "3")
	p.fillConfigRow("retention.ms", "3600000")
	p.shot("create-topic")
	p.click(`[data-testid=create-topic-submit]`)

	eventually(t, "the topic created in the UI in the log", 10*time.Second, func() error {
		td, err := adm.ListTopics(ctx, topic)
		if err != nil {
			return err
		}
		d, ok := td[topic]
		if !ok || d.Err != nil {
			return fmt.Errorf("topic %s not listed (%v)", topic, d.Err)
		}
		if n := len(d.Partitions); n != 3 {
			return fmt.Errorf("topic %s has %d partitions, want 3", topic, n)
		}
		return nil
	})
	rcs, err := adm.DescribeTopicConfigs(ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	rc, err := rcs.On(topic, nil)
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, c := range rc.Configs {
		if c.Key == "retention.ms" {
			found = true
			if c.MaybeValue() != "3600000" {
				t.Errorf("retention.ms of %s is %q, want 3600000 (set in the create dialog)", topic, c.MaybeValue())
			}
		}
	}
	if !found {
		t.Errorf("no retention.ms in the configs of %s", topic)
	}

	// The topics list shows it; its page deletes it after the name is typed.
	p.open("/ui/topics/"+topic, "topic")
	p.click(`[data-testid=delete-topic]`)
	p.fill(`#confirm-delete-name`, topic)
	p.click(`[data-testid=confirm-delete]`)
	p.waitFor("the Topics page after the delete", `location.pathname === "/ui/topics"`, 10*time.Second)
	p.waitReady("topics")
	eventually(t, "the topic deleted in the UI gone from the log", 10*time.Second, func() error {
		td, err := adm.ListTopics(ctx)
		if err != nil {
			return err
		}
		if td.Has(topic) {
			return fmt.Errorf("topic %s still listed", topic)
		}
		return nil
	})
	if p.exists(`tr[data-topic="` + topic + `"]`) {
		t.Errorf("the Topics page still lists %s after its delete", topic)
	}
}

// fillConfigRow fills the first config key/value row of the create dialog.
// The contract names no selector for these rows: the test looks, in the open
// dialog, for inputs whose id, name, placeholder, aria-label or data-testid
// says "key" and "value" (after clicking an "Add" button when none shows).
func (p *page) fillConfigRow(key, value string) {
	p.t.Helper()
	find := `(() => { const d = document.querySelector('dialog[open]') || document;
		const ins = [...d.querySelectorAll('input')].filter(i => !['new-topic-name', 'new-topic-partitions'].includes(i.id));
		const says = (i, w) => [i.id, i.name, i.placeholder, i.getAttribute('aria-label'), i.dataset.testid].some(s => s && s.toLowerCase().includes(w));
		const k = ins.find(i => says(i, 'key')), v = ins.find(i => says(i, 'value'));
		if (k && v) { k.setAttribute('data-btest', 'config-key'); v.setAttribute('data-btest', 'config-value'); return true; }
		return false; })()`
	if !js[bool](p, find) {
		clicked := js[bool](p, `(() => { const d = document.querySelector('dialog[open]') || document;
			const b = [...d.querySelectorAll('button')].find(b => /add|config/i.test(b.innerText + ' ' + (b.getAttribute('aria-label') || '')));
			if (b) b.click(); return !!b; })()`)
		if !clicked || !js[bool](p, find) {
			p.fatal("no config key/value inputs in the create-topic dialog (the contract names none; looked for inputs labelled key and value)")
		}
	}
	p.fill(`[data-btest=config-key]`, key)
	p.fill(`[data-btest=config-value]`, value)
}

// 4. A group reset through the UI (preview, then apply, to the start) moves
// the committed offsets, and a franz-go member that joins afterwards resumes
// from them.
func TestConsoleGroupReset(t *testing.T) {
	needBrowser(t)
	srv := sharedServer(t)
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	topic, group := unique("reset"), unique("reset-group")
	cl := kafka(t, srv, kgo.DefaultProduceTopic(topic))
	adm := kadm.NewClient(cl)
	createTopic(t, ctx, adm, topic, 1)
	const n = 10
	var recs []*kgo.Record
	for i := range n {
		recs = append(recs, &kgo.Record{Value: []byte("r" + strconv.Itoa(i))})
	}
	produce(t, ctx, cl, recs...)

	// A member reads everything, commits, and leaves the group (a reset
	// needs a group without members).
	consumeAll := func() []*kgo.Record {
		t.Helper()
		m, err := kgo.NewClient(kgo.SeedBrokers(srv.KafkaAddr), kgo.ConsumerGroup(group), kgo.ConsumeTopics(topic),
			kgo.DisableAutoCommit(), kgo.ConsumeResetOffset(kgo.NewOffset().AtEnd()))
		if err != nil {
			t.Fatal(err)
		}
		defer m.Close()
		var got []*kgo.Record
		for len(got) < n {
			fs := m.PollFetches(ctx)
			if err := fs.Err0(); err != nil {
				t.Fatalf("group %s: consume (%d of %d records so far): %v", group, len(got), n, err)
			}
			got = append(got, fs.Records()...)
		}
		if err := m.CommitUncommittedOffsets(ctx); err != nil {
			t.Fatalf("group %s: commit: %v", group, err)
		}
		return got
	}
	committed := func() int64 {
		t.Helper()
		offs, err := adm.FetchOffsets(ctx, group)
		if err != nil {
			t.Fatalf("fetch the offsets of %s: %v", group, err)
		}
		o, ok := offs.Lookup(topic, 0)
		if !ok {
			return -1
		}
		return o.At
	}
	// The member starts from the end of the log when it has no commit: the
	// records it reads first must come from the reset, so seed a commit at 0.
	offs := kadm.Offsets{}
	offs.Add(kadm.Offset{Topic: topic, Partition: 0, At: 0, LeaderEpoch: -1})
	if _, err := adm.CommitOffsets(ctx, group, offs); err != nil {
		t.Fatalf("commit the first offsets of %s: %v", group, err)
	}
	consumeAll()
	if c := committed(); c != n {
		t.Fatalf("group %s committed %d before the reset, want %d", group, c, n)
	}

	p := newPage(t, srv, desktop)
	p.open("/ui/groups/"+group, "group")
	p.fill(`#reset-to`, "start")
	if p.exists(`#reset-topics`) {
		p.fill(`#reset-topics`, topic)
	}
	p.click(`[data-testid=reset-preview]`)
	p.waitSel(`[data-testid=reset-plan]`, 10*time.Second)
	p.waitFor("the reset plan's rows", `document.querySelector('[data-testid=reset-plan]').innerText.includes(`+jsq(topic)+`)`, 10*time.Second)
	// The plan's row for the partition reads current (10), then target (0).
	cells := js[[]string](p, `(() => { const tr = [...document.querySelectorAll('[data-testid=reset-plan] tr')].find(r => r.innerText.includes(`+jsq(topic)+`));
		return tr ? [...tr.cells].map(c => c.innerText.trim()) : []; })()`)
	if i := slices.Index(cells, strconv.Itoa(n)); i < 0 || !slices.Contains(cells[i+1:], "0") {
		t.Errorf("the reset plan's row for %s reads %q, want its current offset %d then the target 0", topic, cells, n)
	}
	if c := committed(); c != n {
		t.Errorf("the preview moved the committed offset to %d (want it still %d)", c, n)
	}
	p.shot("group-reset")
	p.click(`[data-testid=reset-apply]`)
	eventually(t, "the committed offset back at 0 after the reset in the UI", 10*time.Second, func() error {
		if c := committed(); c != 0 {
			return fmt.Errorf("committed offset %d", c)
		}
		return nil
	})
	p.checkClean("after the reset")

	again := consumeAll()
	if first := again[0]; first.Offset != 0 || string(first.Value) != "r0" {
		t.Errorf("the member that joined after the reset started at offset %d (%q), want 0", first.Offset, first.Value)
	}
	if len(again) != n {
		t.Errorf("the member after the reset read %d records, want %d", len(again), n)
	}
}

// 5. The throughput plot shows the traffic the test generates, live.
func TestConsoleThroughputPlot(t *testing.T) {
	needBrowser(t)
	srv := ownServer(t) // no other test's traffic
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	topic := "traffic"
	cl := kafka(t, srv, kgo.DefaultProduceTopic(topic))
	createTopic(t, ctx, kadm.NewClient(cl), topic, 1)

	p := newPage(t, srv, desktop)
	p.open("/ui/", "overview")
	chart := `[data-testid=chart-records]`
	p.waitSel(chart+`[data-max-in]`, 10*time.Second)
	if before := p.attr(chart, "data-max-in"); before != "0" {
		t.Logf("data-max-in before any traffic: %q", before)
	}
	// A reload would lose this mark; the layout must not move (issue 15,
	// point 4: no layout jump while live data updates).
	js[bool](p, `window.__sameDocument = true`)
	before := p.layout()

	// About 200 records/s until the chart shows them (at most 30 s).
	const perSecond = 200
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		tick := time.NewTicker(50 * time.Millisecond)
		defer tick.Stop()
		for i := 0; ; i++ {
			select {
			case <-done:
				return
			case <-ctx.Done():
				return
			case <-tick.C:
			}
			recs := make([]*kgo.Record, perSecond/20)
			for j := range recs {
				recs[j] = &kgo.Record{Value: fmt.Appendf(nil, "load %d.%d", i, j)}
			}
			if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil && ctx.Err() == nil {
				t.Errorf("produce: %v", err)
				return
			}
		}
	})
	defer func() { close(done); wg.Wait() }()

	p.waitFor("the records chart showing the traffic",
		`parseFloat(document.querySelector(`+jsq(chart)+`).dataset.maxIn) > 0`, 30*time.Second)
	// The first sample may hold only the start of the traffic: a full
	// interval shows about the produced rate.
	p.waitFor(fmt.Sprintf("the records chart showing about %d records/s in", perSecond),
		fmt.Sprintf(`parseFloat(document.querySelector(%s).dataset.maxIn) >= %d`, jsq(chart), perSecond/4), 30*time.Second)
	maxIn, err := strconv.ParseFloat(p.attr(chart, "data-max-in"), 64)
	if err != nil {
		t.Fatalf("data-max-in: %v", err)
	}
	t.Logf("records chart data-max-in %.1f (the largest sample so far, the first ones partial) while producing ~%d records/s", maxIn, perSecond)
	if maxIn > perSecond*4 {
		t.Errorf("the records chart's largest value in is %.1f records/s, want about %d", maxIn, perSecond)
	}
	if !js[bool](p, `window.__sameDocument === true`) {
		t.Errorf("the chart updated through a page load, want a live update")
	}
	after := p.layout()
	for id, r := range before {
		if a, ok := after[id]; ok && a != r {
			t.Errorf("[data-testid=%s] moved during the live update: %s → %s (x,y,width,height)", id, r, a)
		}
	}
	p.shot("overview-traffic")
}

// layout is the box (x,y,width,height) of each element with a data-testid in
// <main>, by test id (the first of each).
func (p *page) layout() map[string]string {
	p.t.Helper()
	raw := js[string](p, `JSON.stringify(Object.fromEntries([...document.querySelectorAll('main [data-testid]')].reverse().map(e => {
		const r = e.getBoundingClientRect(); return [e.dataset.testid, [r.x, r.y, r.width, r.height].map(Math.round).join(',')]; })))`)
	out := map[string]string{}
	if err := json.Unmarshal([]byte(raw), &out); err != nil {
		p.fatal("read the layout: %v", err)
	}
	return out
}

// 6. The message browser: newest N, from an offset, a text filter, JSON
// pretty-printed, binary as hex, and the produce form.
func TestConsoleMessageBrowser(t *testing.T) {
	needBrowser(t)
	srv := sharedServer(t)
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	topic := unique("browse")
	cl := kafka(t, srv, kgo.DefaultProduceTopic(topic))
	createTopic(t, ctx, kadm.NewClient(cl), topic, 1)
	const n = 25
	var recs []*kgo.Record
	for i := range n {
		r := &kgo.Record{Key: []byte("k" + strconv.Itoa(i)), Value: []byte("plain text " + strconv.Itoa(i))}
		switch i {
		case 5:
			r.Value = []byte(`{"user":"ada","tags":["x","y"],"n":42}`)
		case 7:
			r.Value = []byte{0x00, 0xff, 0x10, 0x80, 0xfe}
		case 12:
			r.Value = []byte("has the needle-xyz in it")
			r.Headers = []kgo.RecordHeader{{Key: "trace", Value: []byte("t-12")}}
		}
		recs = append(recs, r)
	}
	produce(t, ctx, cl, recs...)
	row := func(o int) string {
		return fmt.Sprintf(`[data-testid=messages] tr[data-offset="%d"][data-partition="0"]`, o)
	}
	p := newPage(t, srv, desktop)

	// Newest first by default.
	p.open("/ui/topics/"+topic, "topic")
	p.waitSel(row(n-1), 10*time.Second)
	if got := p.offsets(); len(got) != n || got[0] != n-1 {
		t.Errorf("the newest records: offsets %v, want %d rows from %d down", got, n, n-1)
	}
	// The newest N, then the rest with "Load more". The contract names
	// neither control: #msg-limit and [data-testid=msg-more] are the page's.
	if p.exists(`#msg-limit`) {
		p.fill(`#msg-limit`, "20")
		p.click(`[data-testid=msg-load]`)
		p.waitFor("the newest 20", `document.querySelectorAll('[data-testid=messages] tr[data-offset]').length === 20`, 10*time.Second)
		if got := p.offsets(); got[0] != n-1 || got[19] != n-20 {
			t.Errorf("the newest 20: offsets %v, want %d down to %d", got, n-1, n-20)
		}
		if p.exists(`[data-testid=msg-more]`) {
			p.click(`[data-testid=msg-more]`)
			p.waitFor("the rest after Load more", fmt.Sprintf(`document.querySelectorAll('[data-testid=messages] tr[data-offset]').length === %d`, n), 10*time.Second)
			if got := p.offsets(); got[n-1] != 0 {
				t.Errorf("after Load more: offsets %v, want %d down to 0", got, n-1)
			}
		} else {
			t.Log("no [data-testid=msg-more]: Load more not tested")
		}
	} else {
		t.Log("no #msg-limit: the newest N tested with the default limit only")
	}

	// From an offset, and the address keeps it through a reload.
	p.fill(`#msg-from`, "offset")
	p.fill(`#msg-partition`, "0")
	p.fill(`#msg-offset`, "10")
	p.click(`[data-testid=msg-load]`)
	p.waitFor("records from offset 10", `(() => { const o = [...document.querySelectorAll('[data-testid=messages] tr[data-offset]')].map(tr => +tr.dataset.offset);
		return o.length > 0 && Math.min(...o) === 10; })()`, 10*time.Second)
	if got := p.offsets(); got[0] != 10 || len(got) != n-10 {
		t.Errorf("from offset 10: offsets %v, want 10..%d oldest first", got, n-1)
	}
	p.waitFor("the address keeping from=offset", `new URLSearchParams(location.search).get('offset') === '10'`, 5*time.Second)
	p.do("reload", chromedp.Reload())
	p.waitReady("topic")
	p.waitSel(row(10), 10*time.Second)
	if got := p.offsets(); len(got) == 0 || got[0] != 10 || p.exists(row(9)) {
		t.Errorf("after a reload of %s: offsets %v, want the same from offset 10", p.location(), got)
	}

	// A text filter finds the one record.
	p.fill(`#msg-from`, "oldest")
	p.fill(`#msg-filter`, "needle-xyz")
	p.click(`[data-testid=msg-load]`)
	p.waitFor("the filtered record", `(() => { const o = [...document.querySelectorAll('[data-testid=messages] tr[data-offset]')].map(tr => +tr.dataset.offset);
		return o.length === 1 && o[0] === 12; })()`, 10*time.Second)

	// JSON pretty-printed, binary as hex.
	p.fill(`#msg-filter`, "")
	p.click(`[data-testid=msg-load]`)
	p.waitSel(row(7), 10*time.Second)
	p.expand(row(5))
	p.waitFor("the JSON value pretty-printed (indented, one member a line)",
		`/\{\s*\n\s+"user": "ada",\s*\n/.test(document.querySelector('[data-testid=messages]').textContent)`, 5*time.Second)
	p.expand(row(7))
	hex := `/00\s?ff\s?10\s?80\s?fe/i.test(document.querySelector('[data-testid=messages]').innerText)`
	if !p.within(hex, 2*time.Second) {
		// Binary may show as base64 first: the hex/base64 toggle (unnamed in
		// the contract) is a button saying "hex".
		if !js[bool](p, `(() => { const b = [...document.querySelectorAll('[data-testid=messages] button')].find(b => /hex/i.test(b.innerText));
			if (b) b.click(); return !!b; })()`) {
			p.fatal("the binary value (00 ff 10 80 fe) shows neither as hex nor with a hex toggle")
		}
	}
	p.waitFor("the binary value as hex", hex, 5*time.Second)
	p.shot("messages")

	// The produce form writes a record that the browser then shows.
	value := unique("from-the-form")
	p.fill(`#produce-key`, "form-key")
	p.fill(`#produce-value`, value)
	if p.exists(`#produce-partition`) {
		p.fill(`#produce-partition`, "0")
	}
	p.click(`[data-testid=produce-submit]`)
	p.waitFor("the produce result (its offset)", fmt.Sprintf(`/\b%d\b/.test((document.querySelector('[data-testid=produce-result]') || {}).innerText || '')`, n), 10*time.Second)
	cons := kafka(t, srv, kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: {0: kgo.NewOffset().At(n)}}))
	fs := cons.PollRecords(ctx, 1)
	if err := fs.Err0(); err != nil {
		t.Fatalf("consume the record produced in the UI: %v", err)
	}
	if got := fs.Records(); len(got) != 1 || string(got[0].Value) != value || string(got[0].Key) != "form-key" {
		t.Fatalf("offset %d after the produce form: %v, want key form-key value %s", n, got, value)
	}
	p.fill(`#msg-from`, "newest")
	p.click(`[data-testid=msg-load]`)
	p.waitSel(row(n), 10*time.Second)
	if txt := p.text(row(n)); !strings.Contains(txt, value) {
		t.Errorf("the produced record's row shows %q, want %q", txt, value)
	}
}

// offsets are the offsets of the message browser's rows, in their order.
func (p *page) offsets() []int {
	p.t.Helper()
	var out []int
	raw := js[string](p, `JSON.stringify([...document.querySelectorAll('[data-testid=messages] tr[data-offset]')].map(tr => +tr.dataset.offset))`)
	if err := json.Unmarshal([]byte(raw), &out); err != nil {
		p.fatal("message rows: %v", err)
	}
	return out
}

// expand opens a record's details. The contract leaves the control
// unnamed: the row itself when it carries aria-expanded, else an
// aria-expanded control in it, else its first button, else the row.
func (p *page) expand(row string) {
	p.t.Helper()
	for _, sel := range []string{row + `[aria-expanded]`, row + ` [aria-expanded]`, row + ` button`} {
		if p.exists(sel) {
			p.click(sel)
			return
		}
	}
	p.click(row)
}

// The Topics page searches and pages on the server: typed text narrows the
// list (and the address keeps it), Next and Previous walk pages of 50.
func TestConsoleTopicsSearchAndPaging(t *testing.T) {
	needBrowser(t)
	srv := ownServer(t) // a known set of topics
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	adm := kadm.NewClient(kafka(t, srv))
	names := []string{"needle-a", "needle-b"}
	for i := range 120 {
		names = append(names, fmt.Sprintf("t-%03d", i))
	}
	resp, err := adm.CreateTopics(ctx, 1, 1, nil, names...)
	if err == nil {
		err = resp.Error()
	}
	if err != nil {
		t.Fatalf("create %d topics: %v", len(names), err)
	}
	rows := `JSON.stringify([...document.querySelectorAll('tr[data-topic]')].map(tr => tr.dataset.topic))`
	topics := func(p *page) []string {
		t.Helper()
		var out []string
		if err := json.Unmarshal([]byte(js[string](p, rows)), &out); err != nil {
			p.fatal("topic rows: %v", err)
		}
		return out
	}

	p := newPage(t, srv, desktop)
	p.open("/ui/topics", "topics")
	p.waitFor("a first page of 50", `document.querySelectorAll('tr[data-topic]').length === 50`, 10*time.Second)
	first := topics(p)
	if first[0] != "needle-a" || first[49] != "t-047" {
		t.Errorf("the first page: %v, want needle-a … t-047 in name order", first)
	}
	p.click(`[data-testid=next-page]`)
	p.waitFor("the second page", `(document.querySelector('tr[data-topic]') || {dataset: {}}).dataset.topic === 't-048'`, 10*time.Second)
	if second := topics(p); len(second) != 50 || second[49] != "t-097" {
		t.Errorf("the second page: %v, want t-048 … t-097", second)
	}
	p.click(`[data-testid=prev-page]`)
	p.waitFor("the first page again", `(document.querySelector('tr[data-topic]') || {dataset: {}}).dataset.topic === 'needle-a'`, 10*time.Second)

	// Typed as a user types it (the page debounces).
	p.do("focus the search", chromedp.Focus(chromedp.CSS(`#topic-search`)))
	typed := time.Now()
	p.do("type in the search", chromedp.SendKeys(chromedp.CSS(`#topic-search`), "NEEDLE"))
	p.waitFor("the search's two topics", `document.querySelectorAll('tr[data-topic]').length === 2`, 10*time.Second)
	took := time.Since(typed)
	t.Logf("typing → filtered list: %v", took)
	if got := topics(p); len(got) != 2 || got[0] != "needle-a" || got[1] != "needle-b" {
		t.Errorf("search NEEDLE: %v, want needle-a and needle-b (case-insensitive)", got)
	}
	if took > 2*time.Second {
		t.Errorf("the search took %v to show its result, want ≤ 2s", took)
	}
	p.do("reload", chromedp.Reload())
	p.waitReady("topics")
	p.waitFor("the search kept through a reload", `document.querySelectorAll('tr[data-topic]').length === 2`, 10*time.Second)
	if v := js[string](p, `document.querySelector('#topic-search').value`); !strings.EqualFold(v, "needle") {
		t.Errorf("after a reload the search box holds %q, want NEEDLE", v)
	}
	p.shot("topics-search")
}

// 7. The first load of /ui/ is at most 300 KB on the wire and asks nothing
// of another origin.
func TestConsoleFirstLoadSize(t *testing.T) {
	needBrowser(t)
	srv := sharedServer(t)
	p := newPage(t, srv, desktop)
	p.disableCache()
	p.open("/ui/", "overview")
	// Everything the load asked for, but the streams that stay open, is in.
	eventually(t, "the first load finishing", 10*time.Second, func() error {
		for _, r := range p.requests() {
			if !r.finished && r.mime != "text/event-stream" {
				return fmt.Errorf("%s still loading", r.url)
			}
		}
		return nil
	})
	var total float64
	var lines []string
	for _, r := range p.requests() {
		total += r.encoded
		lines = append(lines, fmt.Sprintf("%8.0f %3d %s", r.encoded, r.status, strings.TrimPrefix(r.url, p.origin)))
		if !p.sameOrigin(r.url) {
			t.Errorf("request to another origin: %s", r.url)
		}
	}
	t.Logf("first load of /ui/: %.0f bytes on the wire in %d requests:\n%s", total, len(lines), strings.Join(lines, "\n"))
	if total > 300_000 {
		t.Errorf("the first load of /ui/ is %.0f bytes, want ≤ 300 KB", total)
	}
	if len(lines) == 0 {
		t.Error("no request seen")
	}
}

// 8. With authentication on: the sign-in shows, a wrong password is refused
// (error shown, no data), the right one shows the principal, sign-out
// returns to the sign-in. Nothing is kept in localStorage or cookies.
func TestConsoleSignIn(t *testing.T) {
	needBrowser(t)
	port, err := zombitest.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	srv := ownServer(t,
		"ZOMBI_KAFKA_LISTENERS=SASL_PLAINTEXT://127.0.0.1:"+strconv.Itoa(port),
		"ZOMBI_BOOTSTRAP_USERS=admin:admin-pw", "ZOMBI_SUPERUSERS=admin", "ZOMBI_FAILED_AUTH_DELAY_MS=1")
	p := newPage(t, srv, desktop)
	// The console's first calls answer 401 before the sign-in: Chromium logs
	// each as "Failed to load resource".
	p.expectConsoleError(`status of 401`)
	p.do("navigate to /ui/", chromedp.Navigate(p.base+"/ui/"))
	p.waitSel(`#signin-user`, 10*time.Second)
	p.shot("sign-in")

	p.fill(`#signin-user`, "admin")
	p.fill(`#signin-password`, "wrong-pw")
	p.click(`[data-testid=signin-submit]`)
	p.waitFor("the refused sign-in's error", `[...document.querySelectorAll('[role=alert]')].some(e => e.innerText.trim() !== '')`, 10*time.Second)
	if p.exists(`main[data-ready="true"]`) || p.exists(`[data-testid=principal]`) && p.text(`[data-testid=principal]`) != "" {
		t.Errorf("a wrong password shows data: ready=%v principal=%q", p.exists(`main[data-ready="true"]`), p.text(`[data-testid=principal]`))
	}

	p.fill(`#signin-user`, "admin")
	p.fill(`#signin-password`, "admin-pw")
	p.click(`[data-testid=signin-submit]`)
	p.waitReady("overview")
	p.waitFor("the principal", `/admin/.test((document.querySelector('[data-testid=principal]') || {}).innerText || '')`, 10*time.Second)
	if got := js[string](p, `localStorage.length + ' ' + document.cookie`); got != "0 " {
		t.Errorf("credentials outside sessionStorage: localStorage length and cookies %q", got)
	}
	p.shot("signed-in")

	p.click(`[data-testid=signout]`)
	p.waitSel(`#signin-user`, 10*time.Second)
	if p.exists(`[data-testid=principal]`) && strings.Contains(p.text(`[data-testid=principal]`), "admin") {
		t.Errorf("the principal still shows after the sign-out")
	}
	if n := js[int](p, `sessionStorage.length`); n != 0 {
		t.Errorf("sessionStorage holds %d items after the sign-out", n)
	}
}

// 9. Keyboard: Tab reaches the nav links and the main actions with a visible
// focus, Enter follows a link. Dark theme: prefers-color-scheme: dark
// changes the page background.
func TestConsoleKeyboardAndTheme(t *testing.T) {
	needBrowser(t)
	srv := sharedServer(t)
	p := newPage(t, srv, desktop)
	p.emulateColorScheme("light")
	p.open("/ui/topics", "topics")

	// Tab through the page, noting what gets the focus.
	type stop struct {
		Href, Testid, Tag string
		Visible           bool
	}
	var stops []stop
	for range 60 {
		p.do("press Tab", chromedp.KeyEvent(kb.Tab))
		raw := js[string](p, `(() => { const e = document.activeElement; if (!e || e === document.body) return '{}';
			const s = getComputedStyle(e);
			return JSON.stringify({Href: e.getAttribute('href') || '', Testid: e.dataset.testid || '', Tag: e.tagName,
				Visible: (s.outlineStyle !== 'none' && parseFloat(s.outlineWidth) > 0) || s.boxShadow !== 'none'}); })()`)
		var s stop
		_ = json.Unmarshal([]byte(raw), &s)
		stops = append(stops, s)
	}
	reached := func(match func(stop) bool) (stop, bool) {
		for _, s := range stops {
			if match(s) {
				return s, true
			}
		}
		return stop{}, false
	}
	for _, want := range []string{"/ui/", "/ui/topics", "/ui/groups"} {
		s, ok := reached(func(s stop) bool { return s.Href == want })
		if !ok {
			t.Errorf("Tab never reached the nav link %s (stops: %+v)", want, stops)
		} else if !s.Visible {
			t.Errorf("the nav link %s has no visible focus (outline or box-shadow)", want)
		}
	}
	if _, ok := reached(func(s stop) bool { return s.Testid == "create-topic" }); !ok {
		t.Errorf("Tab never reached the main action [data-testid=create-topic] (stops: %+v)", stops)
	}

	// Enter on the main action opens its dialog; Tab stays inside it; Esc
	// closes it.
	p.tabTo(`[data-testid=create-topic]`)
	p.do("press Enter", chromedp.KeyEvent(kb.Enter))
	p.waitFor("the create-topic dialog with the focus inside", `(() => { const d = document.querySelector('dialog[open]');
		return d && d.contains(document.activeElement); })()`, 5*time.Second)
	for i := range 12 {
		p.do("press Tab", chromedp.KeyEvent(kb.Tab))
		if !js[bool](p, `(() => { const d = document.querySelector('dialog[open]'); return !!d && d.contains(document.activeElement); })()`) {
			t.Errorf("Tab %d left the open dialog (focus on %s)", i+1, js[string](p, `document.activeElement.outerHTML.slice(0, 120)`))
			break
		}
	}
	p.do("press Escape", chromedp.KeyEvent(kb.Escape))
	p.waitFor("Esc closing the dialog", `!document.querySelector('dialog[open]')`, 5*time.Second)

	// Enter on the Groups link follows it.
	p.tabTo(`nav a[href="/ui/groups"]`)
	p.do("press Enter", chromedp.KeyEvent(kb.Enter))
	p.waitFor("the Groups page after Enter", `location.pathname === "/ui/groups"`, 10*time.Second)
	p.waitReady("groups")

	// The background follows the system's color scheme.
	background := `(() => { for (const e of [document.body, document.documentElement]) {
		const c = getComputedStyle(e).backgroundColor; if (c && c !== 'rgba(0, 0, 0, 0)' && c !== 'transparent') return c; } return ''; })()`
	light := js[string](p, background)
	p.emulateColorScheme("dark")
	p.waitFor("a dark background", background+` !== `+jsq(light), 5*time.Second)
	dark := js[string](p, background)
	t.Logf("background light %s, dark %s", light, dark)
	if luminance(dark) >= luminance(light) {
		t.Errorf("the dark background %s is not darker than the light one %s", dark, light)
	}
	p.shot("groups-dark")
}

// tabTo presses Tab (at most 60 times) until sel has the focus.
func (p *page) tabTo(sel string) {
	p.t.Helper()
	focused := `document.activeElement && document.activeElement.matches(` + jsq(sel) + `)`
	for range 60 {
		if js[bool](p, focused) {
			return
		}
		p.do("press Tab", chromedp.KeyEvent(kb.Tab))
	}
	p.fatal("Tab never reached %s (focus on %s)", sel, js[string](p, `document.activeElement ? document.activeElement.outerHTML.slice(0, 120) : ''`))
}

var rgbRE = regexp.MustCompile(`rgba?\((\d+),\s*(\d+),\s*(\d+)`)

// luminance is a rough brightness of a CSS rgb() color (-1 when unparsable).
func luminance(c string) float64 {
	m := rgbRE.FindStringSubmatch(c)
	if m == nil {
		return -1
	}
	r, _ := strconv.Atoi(m[1])
	g, _ := strconv.Atoi(m[2])
	b, _ := strconv.Atoi(m[3])
	return 0.2126*float64(r) + 0.7152*float64(g) + 0.0722*float64(b)
}

// TestConsoleLiveTailResume: a tail whose connection drops (the server
// restarts) reconnects with where it was (after=), so a record written
// before it is back still appears, once.
func TestConsoleLiveTailResume(t *testing.T) {
	needBrowser(t)
	srv := ownServer(t)
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	topic := unique("resume")
	cl := kafka(t, srv, kgo.DefaultProduceTopic(topic))
	createTopic(t, ctx, kadm.NewClient(cl), topic, 1)
	produce(t, ctx, cl, &kgo.Record{Value: []byte("before the tail")})

	p := newPage(t, srv, desktop)
	// While the server is down the page's refreshes fail, as they should.
	p.expectConsoleError(`ERR_CONNECTION_REFUSED|ERR_EMPTY_RESPONSE|ERR_CONNECTION_RESET|ERR_INCOMPLETE_CHUNKED_ENCODING|Failed to fetch`)
	p.startTail(topic)
	p.waitSel(`[data-testid=tail-toggle][data-state="open"]`, 10*time.Second)
	produce(t, ctx, cl, &kgo.Record{Value: []byte("seen live")}) // offset 1
	p.waitSel(`[data-testid=messages] tr[data-offset="1"]`, 5*time.Second)

	// The server stops: the stream ends without an end event and the tail
	// retries every 2 s. A record is written as soon as the server is back,
	// before the tail has reconnected (or while it does).
	if err := srv.Stop(); err != nil {
		t.Fatalf("stop: %v", err)
	}
	p.waitSel(`[data-testid=tail-toggle][data-state="retrying"]`, 10*time.Second)
	again, err := srv.Restart()
	if err != nil {
		t.Fatalf("restart: %v", err)
	}
	t.Cleanup(func() { _ = again.Kill() })
	cl2 := kafka(t, again, kgo.DefaultProduceTopic(topic))
	produce(t, ctx, cl2, &kgo.Record{Value: []byte("written while away")}) // offset 2

	p.waitSel(`[data-testid=messages] tr[data-offset="2"]`, 10*time.Second)
	p.waitSel(`[data-testid=tail-toggle][data-state="open"]`, 5*time.Second)
	if n := js[int](p, `document.querySelectorAll('[data-testid=messages] tr[data-offset="1"]').length`); n != 1 {
		t.Errorf("offset 1 shows %d times after the reconnection, want once", n)
	}
	var resumed bool
	for _, r := range p.requests() {
		if strings.Contains(r.url, "/tables/"+topic+"/tail") && strings.Contains(r.url, "after=0%3A2") {
			resumed = true
		}
	}
	if !resumed {
		t.Errorf("no tail request with after=0:2 after the reconnection")
	}
	p.shot("live-tail-resumed")
}

// startTail opens topic's page once its first record shows and switches
// the live tail on.
func (p *page) startTail(topic string) {
	p.t.Helper()
	p.open("/ui/topics/"+topic, "topic")
	p.waitSel(`[data-testid=messages] tr[data-offset="0"][data-partition="0"]`, 10*time.Second)
	if !p.exists(`[data-testid=tail-toggle][aria-pressed="true"]`) {
		p.click(`[data-testid=tail-toggle]`)
	}
}
