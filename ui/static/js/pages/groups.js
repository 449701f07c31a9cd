// Groups: every consumer group with its state, members and total lag
// (GET /consumers, every 10 s while the tab is visible); search by name.
import { get, enc, ApiError } from '../api.js';
import { h, clear, alertBox, empty, skeleton } from '../dom.js';
import { num } from '../format.js';

const REFRESH_MS = 10_000;

export function statePill(state) {
  const kind = { Stable: 'pill-ok', Empty: '', PreparingRebalance: 'pill-warn', CompletingRebalance: 'pill-warn', Dead: 'pill-err' }[state] ?? '';
  return h('span', { class: `pill ${kind}` }, state || 'unknown');
}

export default async function render(main, route, app) {
  const ac = new AbortController();
  const search = h('input', { id: 'group-search', type: 'search', class: 'search', placeholder: 'Search groups', 'aria-label': 'Search groups by name', value: route.query.get('q') || '', autocomplete: 'off' });
  const count = h('span', { class: 'muted' });
  const errBox = h('div');
  const body = h('tbody');
  const holder = h('div', { class: 'table-holder' }, skeleton(6));
  const table = h('div', { class: 'table-wrap' }, h('table', { class: 'data', dataset: { testid: 'groups' } },
    h('thead', {}, h('tr', {},
      h('th', { scope: 'col' }, 'Group'),
      h('th', { scope: 'col' }, 'State'),
      h('th', { scope: 'col', class: 'num' }, 'Members'),
      h('th', { scope: 'col' }, 'Protocol'),
      h('th', { scope: 'col', class: 'num' }, 'Total lag'))),
    body));
  main.append(
    h('div', { class: 'page-head' },
      h('div', {}, h('h1', {}, 'Consumer groups'), h('div', { class: 'sub' }, 'Kafka consumer groups and groups known by their committed offsets')),
      h('div', { class: 'actions' }, count)),
    h('div', { class: 'toolbar section-bar' }, search),
    errBox, holder);

  let groups = null;

  function show() {
    if (!groups) return;
    const q = search.value.trim().toLowerCase();
    const rows = q ? groups.filter((g) => g.group.toLowerCase().includes(q)) : groups;
    count.textContent = q ? `${num(rows.length)} of ${num(groups.length)}` : `${num(groups.length)} ${groups.length === 1 ? 'group' : 'groups'}`;
    // A refresh keeps the keyboard focus on the row it was on.
    const focused = body.contains(document.activeElement) ? document.activeElement.closest('tr').dataset.group : null;
    clear(body);
    for (const g of rows) {
      const lag = typeof g.total_lag === 'number' ? g.total_lag : null;
      body.append(h('tr', { dataset: { group: g.group } },
        h('td', { class: 'name' }, h('a', { href: `/ui/groups/${enc(g.group)}` }, g.group)),
        h('td', {}, statePill(g.state)),
        h('td', { class: 'num' }, num((g.members || []).length)),
        h('td', { class: 'muted' }, [g.protocol_type, g.protocol].filter(Boolean).join(' \u00b7 ') || '\u2014'),
        h('td', { class: ['num', lag > 0 && 'lag-pos'] }, lag === null ? '\u2014' : num(lag))));
    }
    const want = !groups.length
      ? [h('div', { class: 'panel' }, empty('No consumer groups yet', 'A group appears here once a consumer joins or commits an offset.'))]
      : !rows.length
        ? [table, h('div', { class: 'panel' }, empty('No group matches', `Nothing named like \u201c${search.value.trim()}\u201d.`))]
        : [table];
    // Swapped only when it changes, so a refresh does not blur the table.
    if (want.length !== holder.childNodes.length || want.length > 1 || holder.firstChild !== want[0]) clear(holder).append(...want);
    if (focused !== null) body.querySelector(`tr[data-group="${CSS.escape(focused)}"] a`)?.focus();
  }

  async function load() {
    try {
      const res = await get('/consumers', ac.signal);
      groups = (res.groups || []).slice().sort((a, b) => a.group.localeCompare(b.group));
      alertBox(errBox, null);
      show();
    } catch (e) {
      if (e.name === 'AbortError') return;
      alertBox(errBox, e instanceof ApiError ? `Consumer groups: ${e.message}` : e);
      if (!groups) { clear(holder); }
    }
  }

  search.addEventListener('input', () => {
    app.setQuery({ q: search.value.trim() });
    show();
  });

  await load();
  main.dataset.ready = 'true';
  const timer = setInterval(() => { if (document.visibilityState === 'visible') load(); }, REFRESH_MS);
  return () => { ac.abort(); clearInterval(timer); };
}
