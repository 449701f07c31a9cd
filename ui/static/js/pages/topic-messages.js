// The Topic page's message browser and live tail. Browse:
// GET /tables/{t}/messages (from newest N, oldest, an offset or a time; one
// or all partitions; a text filter in key, value and/or headers; "Load
// more" follows next_cursor). Tail: GET /tables/{t}/tail through
// api.stream, new records prepended into the same table, at most
// TAIL_CAP rows kept. The browse settings are the page's URL query, with
// the API's parameter names, so a reload or a shared link shows the same.
import { get, stream, enc } from '../api.js';
import { h, clear, alertBox } from '../dom.js';
import { num } from '../format.js';
import { recordRow, recordDetail } from './topic-record.js';

const LIMITS = [20, 50, 100, 200, 500];
const DEFAULT_LIMIT = 50;
const TAIL_CAP = 500;
const COLS = 7;
const IN_ALL = ['key', 'value', 'headers'];

// messageBrowser({topic, partitions, query, setQuery}) -> {el, load,
// stop, setPartitions, showOffset}. query is the page's URLSearchParams.
export function messageBrowser({ topic, partitions, query, setQuery }) {
  const base = `/tables/${enc(topic)}`;
  const st = readQuery(query);

  // --- controls
  const from = h('select', { id: 'msg-from' },
    h('option', { value: 'newest' }, 'Newest'),
    h('option', { value: 'oldest' }, 'Oldest'),
    h('option', { value: 'offset' }, 'Offset'),
    h('option', { value: 'time' }, 'Time'));
  from.value = st.from;
  const offset = h('input', {
    id: 'msg-offset', class: 'mono', type: 'number', min: '0', step: '1', inputmode: 'numeric',
    placeholder: 'offset', 'aria-label': 'Start offset (per partition)',
  });
  offset.value = st.offset;
  const when = h('input', { id: 'msg-time', type: 'datetime-local', step: '1', 'aria-label': 'Start time (local)' });
  if (st.timeMs !== '') when.value = toLocalInput(Number(st.timeMs));
  const partition = h('select', { id: 'msg-partition', 'aria-label': 'Partition' });
  const limit = h('select', { id: 'msg-limit', 'aria-label': 'Records per load' },
    LIMITS.map((n) => h('option', { value: String(n) }, String(n))));
  limit.value = String(st.limit);
  const filter = h('input', {
    id: 'msg-filter', class: 'search', type: 'search', autocomplete: 'off', spellcheck: 'false',
    placeholder: 'Filter: text in key, value or headers', 'aria-label': 'Filter text',
  });
  filter.value = st.q;
  const inBoxes = Object.fromEntries(IN_ALL.map((k) => {
    const box = h('input', { type: 'checkbox', id: `msg-in-${k}`, checked: st.in.includes(k) });
    return [k, box];
  }));
  const load = h('button', { type: 'button', class: 'btn btn-primary', dataset: { testid: 'msg-load' } }, 'Load');
  const tailBtn = h('button', {
    type: 'button', class: 'btn tail-toggle', 'aria-pressed': 'false', dataset: { testid: 'tail-toggle', state: 'off' },
    title: 'Follow new records as they arrive',
  }, h('span', { class: 'live-dot', 'aria-hidden': 'true' }), h('span', { class: 'tail-label' }, 'Live tail'));

  // --- results
  const statusEl = h('div', { class: 'msg-status', 'aria-live': 'polite' }, '\u00a0');
  const noticeEl = h('div', { class: 'msg-notice', 'aria-live': 'polite' });
  const alertEl = h('div', { class: 'alert-slot' });
  const tbody = h('tbody');
  const table = h('table', { class: 'data msg-table' },
    h('thead', null, h('tr', null,
      h('th', { scope: 'col', class: 'expand-col' }, h('span', { class: 'sr-only' }, 'Details')),
      h('th', { scope: 'col', class: 'num' }, 'Partition'),
      h('th', { scope: 'col', class: 'num' }, 'Offset'),
      h('th', { scope: 'col' }, 'Timestamp'),
      h('th', { scope: 'col' }, 'Key'),
      h('th', { scope: 'col' }, 'Value'),
      h('th', { scope: 'col', class: 'num' }, 'Size'))),
    tbody);
  const wrap = h('div', { class: 'table-wrap msg-wrap', dataset: { testid: 'messages' }, tabindex: '-1' }, table);
  const more = h('button', { type: 'button', class: 'btn', dataset: { testid: 'msg-more' } }, 'Load more');
  more.hidden = true;

  const el = h('section', { class: 'section messages', 'aria-labelledby': 'msg-title' },
    h('div', { class: 'section-head' },
      h('h2', { id: 'msg-title' }, 'Messages'),
      h('div', { class: 'actions' }, tailBtn)),
    h('div', { class: 'msg-controls' },
      h('label', { class: 'ctl' }, h('span', null, 'Start'), from),
      h('label', { class: 'ctl ctl-offset' }, h('span', null, 'Offset'), offset),
      h('label', { class: 'ctl ctl-time' }, h('span', null, 'Time'), when),
      h('label', { class: 'ctl' }, h('span', null, 'Partition'), partition),
      h('label', { class: 'ctl' }, h('span', null, 'Max'), limit),
      h('label', { class: 'ctl ctl-filter' }, h('span', null, 'Filter'), filter),
      h('fieldset', { class: 'ctl ctl-in' }, h('legend', null, 'In'),
        IN_ALL.map((k) => h('label', { class: 'check', for: `msg-in-${k}` }, inBoxes[k], ` ${k}`))),
      h('div', { class: 'ctl ctl-go' }, load)),
    alertEl,
    h('div', { class: 'msg-bar' }, statusEl, noticeEl),
    wrap,
    h('div', { class: 'msg-more' }, more));

  setPartitions(partitions);
  partition.value = st.partition;
  markInactive();

  // --- state
  let seq = 0;
  let browseCtl = null;
  let cursor = null;
  let lastParams = null;
  const seen = new Set(); // "p:o" of the rows shown, so the tail never doubles one
  let tail = null; // {ctl, skipped}
  let rows = 0;
  let scanned = 0;
  let partial = false; // the last read stopped at its scan budget

  from.addEventListener('change', () => {
    markInactive();
    if (from.value === 'offset') offset.focus();
    if (from.value === 'time') when.focus();
  });
  offset.addEventListener('input', () => { if (offset.value !== '' && from.value !== 'offset') { from.value = 'offset'; markInactive(); } });
  when.addEventListener('input', () => { if (when.value && from.value !== 'time') { from.value = 'time'; markInactive(); } });
  for (const input of [offset, when, filter]) {
    input.addEventListener('keydown', (e) => { if (e.key === 'Enter') { e.preventDefault(); run(); } });
  }
  load.addEventListener('click', () => run());
  more.addEventListener('click', () => fetchPage(true));
  tailBtn.addEventListener('click', () => (tail ? stopTail() : startTail()));
  tbody.addEventListener('click', onRowClick);

  function markInactive() {
    el.querySelector('.ctl-offset').classList.toggle('inactive', from.value !== 'offset');
    el.querySelector('.ctl-time').classList.toggle('inactive', from.value !== 'time');
  }

  // setPartitions fills the partition choice; it runs at each refresh of
  // the page's figures, so it leaves an unchanged list (maybe open) alone.
  function setPartitions(n) {
    if (partition.options.length === n + 1) return;
    const keep = partition.value;
    clear(partition);
    partition.append(h('option', { value: '' }, 'All'));
    for (let p = 0; p < n; p++) partition.append(h('option', { value: String(p) }, String(p)));
    partition.value = keep !== '' && Number(keep) < n ? keep : '';
  }

  // settings reads the controls; an error message when they do not add up.
  function settings() {
    const s = { from: from.value, partition: partition.value, limit: Number(limit.value) || DEFAULT_LIMIT, q: filter.value.trim() };
    s.in = IN_ALL.filter((k) => inBoxes[k].checked);
    if (s.q && s.in.length === 0) return { error: 'Choose where the filter applies: key, value or headers.' };
    if (s.from === 'offset') {
      if (!/^\d+$/.test(offset.value.trim())) return { error: 'Give a start offset (a whole number, 0 or more).' };
      s.offset = offset.value.trim();
    }
    if (s.from === 'time') {
      const t = when.value ? new Date(when.value).getTime() : NaN;
      if (!Number.isFinite(t)) return { error: 'Give a start time.' };
      s.timeMs = String(t);
    }
    return s;
  }

  function apiParams(s) {
    const p = new URLSearchParams({ from: s.from, limit: String(s.limit) });
    if (s.partition !== '') p.set('partition', s.partition);
    if (s.offset !== undefined) p.set('offset', s.offset);
    if (s.timeMs !== undefined) p.set('time_ms', s.timeMs);
    if (s.q) {
      p.set('q', s.q);
      if (s.in.length < IN_ALL.length) p.set('in', s.in.join(','));
    }
    return p;
  }

  function urlState(s) {
    const q = {};
    if (s.from !== 'newest') q.from = s.from;
    if (s.offset !== undefined) q.offset = s.offset;
    if (s.timeMs !== undefined) q.time_ms = s.timeMs;
    if (s.partition !== '') q.partition = s.partition;
    if (s.limit !== DEFAULT_LIMIT) q.limit = String(s.limit);
    if (s.q) q.q = s.q;
    if (s.q && s.in.length < IN_ALL.length) q.in = s.in.join(',');
    return q;
  }

  // run: a new browse with the controls' settings (Load, Enter).
  function run() {
    const s = settings();
    if (s.error) { alertBox(alertEl, s.error); return Promise.resolve(); }
    setQuery(urlState(s));
    lastParams = apiParams(s);
    if (tail) startTail(); // the tail follows the same partition and filter
    return fetchPage(false);
  }

  async function fetchPage(append) {
    const my = ++seq;
    if (browseCtl) browseCtl.abort();
    const ctl = new AbortController();
    browseCtl = ctl;
    const p = new URLSearchParams(lastParams);
    if (append && cursor) p.set('cursor', cursor);
    wrap.setAttribute('aria-busy', 'true');
    load.classList.add('btn-busy');
    more.disabled = true;
    if (!append && rows === 0) showEmpty('Loading…', true);
    try {
      const res = await get(`${base}/messages?${p}`, ctl.signal);
      if (my !== seq) return;
      // The cold tier (S3) down: the answer holds what the hot tier has.
      alertBox(alertEl, res.warning ? `Some records may be missing: ${res.warning}` : null, { kind: 'warn' });
      if (!append) resetRows();
      for (const r of res.records || []) addRow(r, false);
      cursor = res.next_cursor || null;
      more.hidden = !cursor;
      scanned = (append ? scanned : 0) + (Number(res.scanned) || 0);
      partial = !!res.partial && !!cursor;
      showStatus();
      if (rows === 0) {
        showEmpty(lastParams.get('q')
          ? (cursor ? 'No match in the records scanned so far: “Load more” scans further.' : 'No record matches the filter.')
          : 'No records here.');
      }
    } catch (err) {
      if (my !== seq || err.name === 'AbortError') return;
      alertBox(alertEl, `Could not read messages: ${err.message}`);
      if (rows === 0) showEmpty('No records to show.');
    } finally {
      if (my === seq) {
        wrap.removeAttribute('aria-busy');
        load.classList.remove('btn-busy');
        more.disabled = false;
        browseCtl = null;
      }
    }
  }

  function showStatus() {
    if (!lastParams) return;
    const newest = lastParams.get('from') === 'newest';
    statusEl.textContent = `${num(rows)} record${rows === 1 ? '' : 's'}` +
      (newest ? ', newest first' : ', oldest first') +
      (lastParams.get('q') ? ` · ${num(scanned)} scanned` : '') +
      (partial ? ' · the scan stopped at its budget: “Load more” goes on' : '') +
      (tail ? ' · new ones on top' : '');
  }

  function resetRows() {
    clear(tbody);
    seen.clear();
    rows = 0;
  }

  function showEmpty(text, loading = false) {
    clear(tbody);
    tbody.append(h('tr', { class: 'empty-row' }, h('td', { colspan: String(COLS) },
      h('div', { class: ['empty', loading && 'loading'] }, text))));
  }

  function addRow(r, prepend) {
    const id = `${r.partition}:${r.offset}`;
    if (seen.has(id)) return false;
    seen.add(id);
    const empty = tbody.querySelector('.empty-row');
    if (empty) empty.remove();
    const row = recordRow(r);
    if (prepend) {
      row.classList.add('fresh');
      // Someone reading further down keeps their place: the new row
      // pushes the content down by its height, the scroll follows it.
      const reading = wrap.scrollTop > 0;
      const before = wrap.scrollHeight;
      tbody.prepend(row);
      if (reading) wrap.scrollTop += wrap.scrollHeight - before;
    } else {
      tbody.append(row);
    }
    rows++;
    return true;
  }

  // --- live tail
  function startTail() {
    if (tail) tail.ctl.abort();
    const s = settings();
    const p = new URLSearchParams();
    if (!s.error) {
      if (s.partition !== '') p.set('partition', s.partition);
      if (s.q) {
        p.set('q', s.q);
        if (s.in.length < IN_ALL.length) p.set('in', s.in.join(','));
      }
    }
    const ctl = new AbortController();
    // last: per partition, the offset after the newest record the tail
    // showed; a reconnection asks from there (after=), so that records
    // written while it was away are not lost.
    const t = { ctl, skipped: 0, count: 0, last: new Map() };
    tail = t;
    setTailState('connecting');
    clear(noticeEl);
    const path = () => {
      const q = new URLSearchParams(p);
      if (t.last.size) q.set('after', [...t.last].map(([part, off]) => `${part}:${off}`).join(','));
      return `${base}/tail${q.size ? `?${q}` : ''}`;
    };
    stream(path, (type, data) => onTail(t, type, data), ctl.signal, {
      onState: (state, msg) => {
        if (tail !== t) return;
        if (state === 'open') { setTailState('open'); noticeText(t); }
        if (state === 'retry') { setTailState('retrying'); noticeEl.textContent = `Live tail interrupted (${msg}); reconnecting…`; }
      },
    }).catch((err) => {
      if (tail !== t) return;
      alertBox(alertEl, `Live tail stopped: ${err.message}`);
      stopTail();
    });
    if (rows === 0) showEmpty('Waiting for new records…', true);
  }

  function onTail(t, type, data) {
    if (tail !== t) return;
    if (type === 'record' && data && typeof data === 'object') {
      if (Number.isInteger(data.partition) && Number.isInteger(data.offset)) {
        t.last.set(data.partition, Math.max(t.last.get(data.partition) || 0, data.offset + 1));
      }
      if (!addRow(data, true)) return;
      t.count++;
      trim();
      noticeText(t);
      showStatus();
    } else if (type === 'skipped') {
      t.skipped += Number(data && data.count) || 0;
      noticeText(t);
    } else if (type === 'end') {
      stopTail();
      const why = data && typeof data.reason === 'string' && data.reason ? data.reason : 'the stream ended';
      alertBox(alertEl, `The live tail stopped: ${why}.`, { kind: 'info' });
    }
  }

  function noticeText(t) {
    let s = t.count ? `${num(t.count)} new record${t.count === 1 ? '' : 's'} since the tail started.` : 'Following new records.';
    if (t.skipped) s += ` Skipped ${num(t.skipped)} (the tail sends at most 500 records per second).`;
    noticeEl.textContent = s;
  }

  // trim keeps at most TAIL_CAP rows (and their open details).
  function trim() {
    while (rows > TAIL_CAP) {
      let last = tbody.lastElementChild;
      if (last && last.classList.contains('msg-detail')) { last.remove(); last = tbody.lastElementChild; }
      if (!last) break;
      seen.delete(`${last.dataset.partition}:${last.dataset.offset}`);
      last.remove();
      rows--;
      cursor = null; // the rows below are gone: "Load more" would leave a gap
      more.hidden = true;
    }
  }

  function stopTail() {
    if (!tail) return;
    const t = tail;
    t.ctl.abort();
    tail = null;
    setTailState('off');
    noticeEl.textContent = t.count ? `Live tail paused after ${num(t.count)} new record${t.count === 1 ? '' : 's'}.` : '';
    showStatus();
    if (tbody.querySelector('.empty-row')) showEmpty('No records here.');
  }

  function setTailState(state) {
    tailBtn.dataset.state = state;
    tailBtn.setAttribute('aria-pressed', state === 'off' ? 'false' : 'true');
    tailBtn.classList.toggle('on', state !== 'off');
    // The label stays "Live tail" (a toggle's name does not change);
    // aria-pressed and the dot say whether it runs.
    tailBtn.title = state === 'off' ? 'Follow new records as they arrive' : 'Pause the live tail';
    if (state === 'connecting') noticeEl.textContent = 'Connecting the live tail…';
  }

  // --- record details: a click on a row (or Enter/Space on its button)
  function onRowClick(e) {
    const row = e.target.closest('tr.msg-row');
    if (!row || e.target.closest('.msg-detail')) return;
    if (window.getSelection && String(window.getSelection()).length > 0 && !e.target.closest('button')) return; // selecting text
    toggleRow(row);
  }

  function toggleRow(row) {
    const btn = row.querySelector('.expand');
    const open = btn.getAttribute('aria-expanded') === 'true';
    const next = row.nextElementSibling;
    if (open) {
      if (next && next.classList.contains('msg-detail')) next.remove();
      btn.setAttribute('aria-expanded', 'false');
      row.classList.remove('open');
      return;
    }
    const detail = h('tr', { class: 'msg-detail', id: btn.getAttribute('aria-controls') },
      h('td', { colspan: String(COLS) }, recordDetail(row.record)));
    row.after(detail);
    btn.setAttribute('aria-expanded', 'true');
    row.classList.add('open');
  }

  // showOffset: browse from one record (the produce form's "show").
  function showOffset(p, o) {
    from.value = 'offset';
    offset.value = String(o);
    partition.value = String(p);
    markInactive();
    return run().then(() => {
      const row = tbody.querySelector(`tr.msg-row[data-partition="${p}"][data-offset="${o}"]`);
      if (row) {
        if (row.querySelector('.expand').getAttribute('aria-expanded') !== 'true') toggleRow(row);
        row.querySelector('.expand').focus();
      }
    });
  }

  return {
    el,
    load: run,
    stop() { stopTail(); if (browseCtl) browseCtl.abort(); seq++; },
    setPartitions,
    showOffset,
  };
}

// readQuery: the browse settings in the page's URL, checked.
function readQuery(q) {
  const from = ['newest', 'oldest', 'offset', 'time'].includes(q.get('from')) ? q.get('from') : 'newest';
  const lim = Number(q.get('limit'));
  const ins = (q.get('in') || '').split(',').filter((k) => IN_ALL.includes(k));
  return {
    from,
    offset: /^\d+$/.test(q.get('offset') || '') ? q.get('offset') : '',
    timeMs: /^\d+$/.test(q.get('time_ms') || '') ? q.get('time_ms') : '',
    partition: /^\d+$/.test(q.get('partition') || '') ? q.get('partition') : '',
    limit: LIMITS.includes(lim) ? lim : DEFAULT_LIMIT,
    q: q.get('q') || '',
    in: ins.length ? ins : IN_ALL,
  };
}

// toLocalInput: Unix ms as a datetime-local value in local time.
function toLocalInput(ms) {
  if (!Number.isFinite(ms)) return '';
  const d = new Date(ms);
  const pad = (n, w = 2) => String(n).padStart(w, '0');
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
}
