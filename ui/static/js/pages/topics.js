// Topics (/ui/topics): the list, searched and paged by the server
// (GET /tables?q=&offset=&limit=50&with=rates), so 10,000 topics cost one
// page of rows; and the create-topic dialog. URL state: ?q=&offset=.
import { get, enc } from '../api.js';
import { h, clear, alertBox } from '../dom.js';
import { num, bytes, rate } from '../format.js';
import { sparkline } from '../chart.js';
import { createTopic } from './topic-create.js';

const PAGE = 50;
const DEBOUNCE_MS = 250;
const SKELETON_ROWS = 8;

export default async function render(main, route, app) {
  const state = { q: route.query.get('q') || '', offset: nonNegInt(route.query.get('offset')) };
  let seq = 0;
  let timer = 0;
  let inflight = null;
  let alive = true;

  const search = h('input', {
    id: 'topic-search', class: 'search', type: 'search', placeholder: 'Search topics  ( / )',
    'aria-label': 'Search topics by name', autocomplete: 'off', spellcheck: 'false',
  });
  search.value = state.q;
  const countEl = h('div', { class: 'sub', 'aria-live': 'polite' }, '\u00a0');
  const alertEl = h('div', { class: 'alert-slot' });
  const noticeEl = h('div', { class: 'notice-slot', 'aria-live': 'polite' });
  const tbody = h('tbody', null, skeletonRows(SKELETON_ROWS, 5));
  const table = h('table', { class: 'data topics-table', 'aria-busy': 'true' },
    h('thead', null, h('tr', null,
      h('th', { scope: 'col' }, 'Name'),
      h('th', { scope: 'col', class: 'num' }, 'Partitions'),
      h('th', { scope: 'col', class: 'num' }, 'Records'),
      h('th', { scope: 'col', class: 'num' }, h('abbr', { title: 'record-batch bytes written since the server started' }, 'Bytes')),
      h('th', { scope: 'col', class: 'spark-col' }, 'Records in, 15 min'))),
    tbody);
  const rangeEl = h('span', { class: 'pager-range num' }, '\u00a0');
  const prev = h('button', {
    type: 'button', class: 'btn btn-sm', dataset: { testid: 'prev-page' },
    onclick: () => go(state.offset - PAGE),
  }, '‹ Previous');
  const next = h('button', {
    type: 'button', class: 'btn btn-sm', dataset: { testid: 'next-page' },
    onclick: () => go(state.offset + PAGE),
  }, 'Next ›');
  prev.disabled = true;
  next.disabled = true;

  const create = h('button', {
    type: 'button', class: 'btn btn-primary', dataset: { testid: 'create-topic' },
    onclick: async () => {
      const made = await createTopic();
      if (!made || !alive) return;
      clear(noticeEl);
      noticeEl.append(h('div', { class: 'notice notice-ok' }, 'Created topic ',
        h('a', { href: `/ui/topics/${enc(made.name)}` }, made.name),
        ` with ${num(made.partitions)} partition${made.partitions === 1 ? '' : 's'}.`));
      load();
    },
  }, 'Create topic');

  main.append(
    h('header', { class: 'page-head' },
      h('div', null, h('h1', null, 'Topics'), countEl),
      h('div', { class: 'actions' }, create)),
    h('div', { class: 'toolbar' }, search),
    alertEl, noticeEl,
    h('div', { class: 'table-wrap topics-wrap' }, table),
    h('footer', { class: 'table-foot' }, rangeEl, h('div', { class: 'actions' }, prev, next)),
  );

  search.addEventListener('input', () => {
    clearTimeout(timer);
    timer = setTimeout(() => setSearch(search.value), DEBOUNCE_MS);
  });
  search.addEventListener('keydown', (e) => {
    if (e.key === 'Enter') { clearTimeout(timer); setSearch(search.value); }
    if (e.key === 'Escape' && search.value) { e.preventDefault(); search.value = ''; clearTimeout(timer); setSearch(''); }
  });

  function setSearch(q) {
    q = q.trim();
    if (q === state.q) return;
    state.q = q;
    state.offset = 0;
    syncURL();
    load();
  }

  function go(offset) {
    state.offset = Math.max(0, offset);
    syncURL();
    load().then(() => table.closest('.table-wrap').scrollIntoView({ block: 'nearest' }));
  }

  function syncURL() {
    const q = {};
    if (state.q) q.q = state.q;
    if (state.offset) q.offset = String(state.offset);
    app.setQuery(q);
  }

  async function load() {
    const my = ++seq;
    if (inflight) inflight.abort();
    const ctl = new AbortController();
    inflight = ctl;
    table.setAttribute('aria-busy', 'true');
    const params = new URLSearchParams({ offset: String(state.offset), limit: String(PAGE), with: 'rates' });
    if (state.q) params.set('q', state.q);
    try {
      const res = await get(`/tables?${params}`, ctl.signal);
      if (!alive || my !== seq) return;
      const page = pageOf(res, state);
      // Past the end (topics deleted since, or an old link): show the last page.
      if (page.rows.length === 0 && state.offset > 0 && page.total > 0) {
        state.offset = Math.floor((page.total - 1) / PAGE) * PAGE;
        syncURL();
        return load();
      }
      clear(alertEl);
      show(page);
    } catch (err) {
      if (!alive || my !== seq || err.name === 'AbortError') return;
      alertBox(alertEl, `Could not list topics: ${err.message}`);
      if (tbody.querySelector('.skel-row')) {
        clear(tbody);
        tbody.append(emptyRow(5, 'Topics could not be loaded.'));
      }
    } finally {
      if (my === seq) {
        table.removeAttribute('aria-busy');
        inflight = null;
        main.dataset.ready = 'true';
      }
    }
  }

  function show({ rows, total }) {
    clear(tbody);
    if (rows.length === 0) {
      tbody.append(emptyRow(5, state.q
        ? `No topic name contains “${state.q}”.`
        : 'No topics yet. Create one, or write to one through Kafka or POST /tables/{name}.'));
    }
    for (const t of rows) tbody.append(topicRow(t));
    countEl.textContent = state.q ? `${num(total)} matching` : `${num(total)} total`;
    const first = rows.length ? state.offset + 1 : 0;
    rangeEl.textContent = `${num(first)}–${num(state.offset + rows.length)} of ${num(total)}`;
    prev.disabled = state.offset === 0;
    next.disabled = state.offset + rows.length >= total;
  }

  // "/" jumps to the search, as in most consoles (not while typing elsewhere).
  const onKey = (e) => {
    if (e.key !== '/' || e.ctrlKey || e.metaKey || e.altKey || e.defaultPrevented) return;
    const t = e.target;
    if (t instanceof HTMLInputElement || t instanceof HTMLTextAreaElement || t instanceof HTMLSelectElement || t.isContentEditable) return;
    if (document.querySelector('dialog[open]')) return;
    e.preventDefault();
    search.focus();
    search.select();
  };
  document.addEventListener('keydown', onKey);

  load();
  return () => {
    alive = false;
    document.removeEventListener('keydown', onKey);
    clearTimeout(timer);
    if (inflight) inflight.abort();
  };
}

// pageOf reads the answer of GET /tables. A server without paging (no
// "total") answers every table: filter and slice here instead.
function pageOf(res, { q, offset }) {
  let rows = res.tables || [];
  if (typeof res.total === 'number') return { rows, total: res.total };
  if (q) rows = rows.filter((t) => t.name.toLowerCase().includes(q.toLowerCase()));
  return { rows: rows.slice(offset, offset + PAGE), total: rows.length };
}

function topicRow(t) {
  const rates = Array.isArray(t.rates) ? t.rates : null;
  // No traffic at all: the sparkline's flat, quiet line instead of a blue one.
  const quiet = rates && !rates.some((v) => v > 0);
  return h('tr', { dataset: { topic: t.name } },
    h('td', { class: 'name' }, h('a', { href: `/ui/topics/${enc(t.name)}`, class: 'mono' }, t.name)),
    h('td', { class: 'num' }, num(t.partitions)),
    h('td', { class: 'num' }, num(t.records)),
    h('td', { class: 'num' }, bytes(t.bytes)),
    h('td', { class: 'spark-col' }, rates
      ? h('span', { class: 'spark-cell', title: 'records in per second, last 15 minutes' },
        sparkline(quiet ? [] : rates, { width: 96, height: 22, label: `records in per second over 15 minutes, last ${rate(rates.length ? rates[rates.length - 1] : 0)}` }), h('span', { class: 'spark-last num' }, rate(rates.length ? rates[rates.length - 1] : 0)))
      : h('span', { class: 'muted' }, '—')));
}

function skeletonRows(n, cols) {
  return Array.from({ length: n }, () => h('tr', { class: 'skel-row', 'aria-hidden': 'true' },
    Array.from({ length: cols }, () => h('td', null, h('span', { class: 'skel' })))));
}

function emptyRow(cols, text) {
  return h('tr', { class: 'empty-row' }, h('td', { colspan: String(cols) }, h('div', { class: 'empty' }, text)));
}

function nonNegInt(s) {
  const n = Number.parseInt(s || '0', 10);
  return Number.isFinite(n) && n > 0 ? n : 0;
}
