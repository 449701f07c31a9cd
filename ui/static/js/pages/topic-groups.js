// The Topic page's consumer groups: the groups with committed offsets on
// (or an assignment of) this topic, with their lag on it. The REST API
// has no "groups of a topic" route, so this reads GET /consumers and then
// GET /consumers/{g} per group: automatically for up to AUTO_MAX groups,
// on request beyond (a server with thousands of groups would otherwise pay
// thousands of calls per page view).
import { get, enc } from '../api.js';
import { h, clear, alertBox } from '../dom.js';
import { num } from '../format.js';

const AUTO_MAX = 50;
const PARALLEL = 6;

// groupsSection(topic) -> {el, load(), refresh()}
export function groupsSection(topic) {
  const body = h('div', { class: 'groups-body' }, h('div', { class: 'skeleton', 'aria-hidden': 'true' },
    h('div', { class: 'skeleton-row' }), h('div', { class: 'skeleton-row' })));
  const alertEl = h('div', { class: 'alert-slot' });
  const el = h('section', { class: 'section topic-groups', 'aria-labelledby': 'groups-title', dataset: { testid: 'topic-groups' } },
    h('div', { class: 'section-head' }, h('h2', { id: 'groups-title' }, 'Consumer groups')),
    alertEl, body);
  let found = null; // names of the groups that read the topic, once known

  async function load(all = false) {
    try {
      const list = await get('/consumers');
      const names = (list.groups || []).map((g) => g.group);
      if (!all && names.length > AUTO_MAX) {
        clear(body);
        body.append(h('div', { class: 'empty empty-small' },
          h('div', { class: 'empty-text' }, `${num(names.length)} groups on this server: finding those that read ${topic} asks each of them.`),
          h('p', null, h('button', { type: 'button', class: 'btn btn-sm', dataset: { testid: 'find-groups' }, onclick: () => load(true) }, 'Find them'))));
        return;
      }
      const groups = (await describeAll(names)).filter((g) => g && reads(g, topic));
      found = groups.map((g) => g.group);
      show(groups);
    } catch (err) {
      alertBox(alertEl, `Could not list consumer groups: ${err.message}`);
      clear(body);
    }
  }

  // refresh reads the groups found again (their lag moves); new groups
  // show up on the next page load.
  async function refresh() {
    if (!found || !found.length) return;
    const groups = (await describeAll(found)).filter((g) => g && reads(g, topic));
    show(groups);
  }

  function show(groups) {
    alertBox(alertEl, null);
    clear(body);
    if (!groups.length) {
      body.append(h('div', { class: 'empty empty-small' },
        h('div', { class: 'empty-title' }, 'No consumer group'),
        h('div', { class: 'empty-text' }, 'No group has committed offsets on this topic or is assigned its partitions.')));
      return;
    }
    const rows = groups.map((g) => {
      const parts = (g.partitions || []).filter((p) => p.topic === topic);
      const lag = parts.reduce((s, p) => s + (Number(p.lag) || 0), 0);
      return { g, parts, lag };
    }).sort((a, b) => b.lag - a.lag || a.g.group.localeCompare(b.g.group));
    body.append(h('div', { class: 'table-wrap' }, h('table', { class: 'data compact' },
      h('thead', null, h('tr', null,
        h('th', { scope: 'col' }, 'Group'),
        h('th', { scope: 'col' }, 'State'),
        h('th', { scope: 'col', class: 'num' }, 'Members'),
        h('th', { scope: 'col', class: 'num' }, 'Partitions'),
        h('th', { scope: 'col', class: 'num' }, 'Lag on this topic'))),
      h('tbody', null, rows.map(({ g, parts, lag }) => h('tr', { dataset: { group: g.group } },
        h('td', { class: 'name' }, h('a', { href: `/ui/groups/${enc(g.group)}`, class: 'mono' }, g.group)),
        h('td', null, h('span', { class: ['pill', stateClass(g.state)] }, g.state || '—')),
        h('td', { class: 'num' }, num((g.members || []).length)),
        h('td', { class: 'num' }, num(parts.length)),
        h('td', { class: ['num', lag > 0 && 'lag-pos'] }, num(lag))))))));
  }

  return { el, load: () => load(false), refresh };
}

// describeAll reads GET /consumers/{g} for each name, PARALLEL at a time;
// a group gone meanwhile (404) or refused (403) is left out.
async function describeAll(names) {
  const out = new Array(names.length).fill(null);
  let next = 0;
  async function worker() {
    while (next < names.length) {
      const i = next++;
      try {
        out[i] = await get(`/consumers/${enc(names[i])}`);
      } catch (err) {
        if (err.status !== 404 && err.status !== 403) throw err;
      }
    }
  }
  await Promise.all(Array.from({ length: Math.min(PARALLEL, names.length) }, worker));
  return out;
}

function reads(g, topic) {
  if ((g.partitions || []).some((p) => p.topic === topic)) return true;
  return (g.members || []).some((m) => m.assignment && Object.hasOwn(m.assignment, topic));
}

function stateClass(state) {
  if (state === 'Stable') return 'pill-ok';
  if (state === 'PreparingRebalance' || state === 'CompletingRebalance') return 'pill-warn';
  return '';
}
