// Overview: the server at a glance (GET /overview, every 10 s while the
// tab is visible) and the last 15 minutes of traffic and latency
// (GET /stats/history, then GET /stats/stream).
import { get, stream, ApiError } from '../api.js';
import { h, clear, alertBox } from '../dom.js';
import { num, bytes, rate, bytesRate, ms, duration, time, plural } from '../format.js';
import { lineChart } from '../chart.js';

const REFRESH_MS = 10_000;

export default async function render(main, route, app) {
  const ac = new AbortController();
  let timer = null;
  let streamAC = null;

  const card = (testid, label) => {
    const value = h('div', { class: 'card-value placeholder' }, '\u2014');
    const sub = h('div', { class: 'card-sub' }, '\u00a0');
    const extra = h('div', { class: 'card-extra' });
    const el = h('section', { class: 'card', dataset: { testid }, 'aria-label': label },
      h('div', { class: 'card-label' }, label), value, sub, extra);
    return { el, value, sub, extra };
  };
  const c = {
    health: card('health', 'Health'),
    version: card('version', 'Version'),
    uptime: card('uptime', 'Uptime'),
    connections: card('connections', 'Connections'),
    topics: card('topics', 'Topics'),
    groups: card('groups', 'Consumer groups'),
    hot: card('hot-usage', 'Hot tier (RocksDB)'),
    cold: card('cold-status', 'Cold tier (S3)'),
  };
  const meter = h('div', { class: 'meter', role: 'meter', 'aria-label': 'hot tier use', 'aria-valuemin': '0', 'aria-valuemax': '100', 'aria-valuenow': '0' }, h('div', { class: 'meter-fill' }));
  meter.hidden = true;
  c.hot.extra.append(meter);

  const live = h('span', { class: 'live', 'aria-live': 'polite' }, 'connecting');
  const errBox = h('div', { class: 'page-errors' });
  const histBox = h('div');

  const chartCard = (testid, title) => {
    const el = h('div', { dataset: { testid } });
    return { el, wrap: h('section', { class: 'chart-card', 'aria-label': title }, h('h2', {}, title), el) };
  };
  const cr = chartCard('chart-records', 'Records per second');
  const cb = chartCard('chart-bytes', 'Bytes per second');
  const cl = chartCard('chart-latency', 'Request latency');

  main.append(
    h('div', { class: 'page-head' },
      h('div', {}, h('h1', {}, 'Overview'), h('div', { class: 'sub' }, 'Broker 1 \u00b7 the last 15 minutes, live')),
      h('div', { class: 'actions' }, live)),
    errBox,
    h('div', { class: 'cards cards-4' }, Object.values(c).map((x) => x.el)),
    histBox,
    h('div', { class: 'charts' }, cr.wrap, cb.wrap, cl.wrap),
  );

  const colors = { in: 'var(--c1)', out: 'var(--c2)', p50: 'var(--c3)', p99: 'var(--c5)' };
  const records = lineChart(cr.el, { title: 'Records per second', yFormat: rate, minMax: 10 });
  const bytesChart = lineChart(cb.el, { title: 'Bytes per second', yFormat: bytesRate, minMax: 1024, base2: true });
  const latency = lineChart(cl.el, { title: 'Latency', yFormat: ms });

  // Samples, oldest first, the last window_ms.
  let samples = [];
  let windowMs = 15 * 60 * 1000;
  let historyMissing = false;

  function draw() {
    const pts = (k) => samples.map((s) => [s.t, s[k] ?? null]);
    const max = (k) => samples.reduce((m, s) => (typeof s[k] === 'number' && s[k] > m ? s[k] : m), 0);
    records.update([
      { name: 'In', color: colors.in, points: pts('records_in') },
      { name: 'Out', color: colors.out, points: pts('records_out') },
    ]);
    cr.el.dataset.maxIn = String(max('records_in'));
    cr.el.dataset.maxOut = String(max('records_out'));
    bytesChart.update([
      { name: 'In', color: colors.in, points: pts('bytes_in') },
      { name: 'Out', color: colors.out, points: pts('bytes_out') },
    ]);
    cb.el.dataset.maxIn = String(max('bytes_in'));
    cb.el.dataset.maxOut = String(max('bytes_out'));
    latency.update([
      { name: 'Produce p50', color: colors.in, points: pts('produce_p50_ms'), dashed: true },
      { name: 'Produce p99', color: colors.in, points: pts('produce_p99_ms') },
      { name: 'Fetch p50', color: colors.out, points: pts('fetch_p50_ms'), dashed: true },
      { name: 'Fetch p99', color: colors.out, points: pts('fetch_p99_ms') },
    ]);
    // data-last: the largest latency of the newest sample that had requests.
    const lastVals = (s) => ['produce_p50_ms', 'produce_p99_ms', 'fetch_p50_ms', 'fetch_p99_ms'].map((k) => s[k]).filter((v) => typeof v === 'number');
    let last = '';
    for (let i = samples.length - 1; i >= 0; i--) {
      const v = lastVals(samples[i]);
      if (v.length) { last = String(Math.max(...v)); break; }
    }
    cl.el.dataset.last = last;
  }

  function addSample(s) {
    if (!s || typeof s.t !== 'number') return;
    // In time order; history that fills a gap may come after newer samples.
    let i = samples.length;
    while (i > 0 && samples[i - 1].t > s.t) i--;
    if (i > 0 && samples[i - 1].t === s.t) return;
    samples.splice(i, 0, s);
    const cut = s.t - windowMs;
    while (samples.length && samples[0].t < cut) samples.shift();
  }

  const newest = () => (samples.length ? samples[samples.length - 1].t : null);
  async function loadHistory(since = newest()) {
    const res = await get(`/stats/history${since ? `?since=${since}` : ''}`, ac.signal);
    if (res.window_ms) windowMs = res.window_ms;
    for (const s of res.samples || []) addSample(s);
    draw();
  }

  function setLive(state, title) {
    live.className = `live${state === 'live' ? ' live-on' : ''}`;
    live.textContent = state;
    live.title = title || '';
  }

  function startStream() {
    if (historyMissing || streamAC) return;
    streamAC = new AbortController();
    const my = streamAC;
    let gapFrom; // the newest sample before the stream dropped
    stream('/stats/stream', (type, data) => {
      if (type !== 'sample') return;
      addSample(data);
      draw();
    }, my.signal, {
      onState: (s, m) => {
        if (s === 'open') {
          setLive('live');
          // Samples made while the stream was down come from the history.
          if (gapFrom !== undefined) loadHistory(gapFrom).catch(() => {});
          gapFrom = undefined;
        } else {
          if (gapFrom === undefined) gapFrom = newest();
          setLive('reconnecting', m);
        }
      },
    }).catch((e) => {
      if (my.signal.aborted) return;
      setLive('paused', e.message);
      if (e instanceof ApiError && e.status !== 404) alertBox(histBox, `Live updates stopped: ${e.message}`);
    });
  }

  function stopStream() {
    if (streamAC) { streamAC.abort(); streamAC = null; }
    setLive('paused', 'paused while the tab is hidden');
  }

  function showOverview(o) {
    const healthy = o.health && o.health.status === 'healthy';
    setValue(c.health, h('span', { class: `pill ${healthy ? 'pill-ok' : 'pill-err'}` }, healthy ? 'Healthy' : (o.health && o.health.status) || 'unknown'));
    c.health.sub.textContent = (o.health && o.health.reason) || (o.ready ? 'Ready to serve' : 'Not ready yet');
    setValue(c.version, o.version || 'dev build');
    c.version.sub.textContent = [o.commit && `commit ${o.commit.slice(0, 12)}`, o.go_version].filter(Boolean).join(' \u00b7 ') || '\u00a0';
    setValue(c.uptime, duration((o.uptime_secs || 0) * 1000));
    c.uptime.sub.textContent = o.started_ms ? `since ${time(o.started_ms).slice(0, 19)}` : '\u00a0';
    const k = (o.connections && o.connections.kafka) || 0;
    const hc = (o.connections && o.connections.http) || 0;
    setValue(c.connections, num(k + hc));
    c.connections.sub.textContent = `Kafka ${num(k)} \u00b7 HTTP ${num(hc)}`;
    setValue(c.topics, num(o.topics));
    c.topics.sub.textContent = `${plural(o.partitions || 0, 'partition')}${o.iceberg ? ' \u00b7 Iceberg on' : ''}`;
    setValue(c.groups, num(o.groups));
    c.groups.sub.textContent = '\u00a0';
    const hot = o.hot || {};
    setValue(c.hot, bytes(hot.bytes));
    if (hot.max_bytes > 0) {
      const pct = Math.min(100, (100 * (hot.bytes || 0)) / hot.max_bytes);
      c.hot.sub.textContent = `${pct.toFixed(pct < 10 ? 1 : 0)}% of ${bytes(hot.max_bytes)} (ZOMBI_HOT_MAX_BYTES)`;
      meter.hidden = false;
      meter.className = `meter${pct >= 95 ? ' meter-err' : pct >= 80 ? ' meter-warn' : ''}`;
      meter.setAttribute('aria-valuenow', pct.toFixed(0));
      meter.firstChild.style.width = `${pct}%`;
    } else {
      c.hot.sub.textContent = 'no limit (ZOMBI_HOT_MAX_BYTES unset)';
      meter.hidden = true;
    }
    const cold = o.cold || {};
    if (cold.enabled) {
      setValue(c.cold, h('span', { class: `pill ${cold.s3_reachable ? 'pill-ok' : 'pill-err'}` }, cold.s3_reachable ? 'S3 reachable' : 'S3 unreachable'));
      c.cold.sub.textContent = `${bytes(cold.pending_bytes)} pending upload${cold.bucket ? ` \u00b7 ${cold.bucket}` : ''}`;
    } else {
      setValue(c.cold, h('span', { class: 'pill pill-plain' }, 'Off'));
      c.cold.sub.textContent = 'no bucket: everything stays in RocksDB';
    }
  }

  function setValue(cd, v) {
    clear(cd.value);
    cd.value.classList.remove('placeholder');
    cd.value.append(v);
  }

  let overviewMissing = false;
  async function loadOverview() {
    if (overviewMissing) return;
    try {
      showOverview(await get('/overview', ac.signal));
      alertBox(errBox, null);
    } catch (e) {
      if (e.name === 'AbortError') return;
      if (e instanceof ApiError && e.status === 404) {
        overviewMissing = true;
        alertBox(errBox, 'This server has no GET /overview yet: the cards stay empty.', { kind: 'info' });
        return;
      }
      alertBox(errBox, `Overview: ${e.message}`);
    }
  }

  const tick = () => { if (document.visibilityState === 'visible') loadOverview(); };
  const onVisible = async () => {
    if (document.visibilityState === 'visible') {
      loadOverview();
      if (!historyMissing) {
        try { await loadHistory(); } catch { /* the stream retries */ }
        startStream();
      }
    } else {
      stopStream();
    }
  };
  document.addEventListener('visibilitychange', onVisible);
  const cleanup = () => {
    ac.abort();
    if (streamAC) { streamAC.abort(); streamAC = null; } // the page's stream goes with it
    clearInterval(timer);
    document.removeEventListener('visibilitychange', onVisible);
  };

  const first = [loadOverview(), loadHistory().catch((e) => {
    if (e.name === 'AbortError') return;
    if (e instanceof ApiError && e.status === 404) {
      historyMissing = true;
      setLive('no history');
      alertBox(histBox, 'This server keeps no traffic history yet (GET /stats/history): the charts stay empty.', { kind: 'info' });
      return;
    }
    alertBox(histBox, `Traffic history: ${e.message}`);
  })];
  await Promise.all(first);
  if (ac.signal.aborted) return cleanup;
  timer = setInterval(tick, REFRESH_MS);
  if (document.visibilityState === 'visible') startStream();
  main.dataset.ready = 'true';
  return cleanup;
}
