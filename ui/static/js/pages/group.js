// Group: members and their assignments, partitions with committed offset,
// high watermark and lag (GET /consumers/{g}), lag per partition over the
// last 15 minutes (GET /consumers/{g}/lag-history), both every 10 s while
// the tab is visible; and an offset reset with a preview before it applies
// (POST /consumers/{g}/reset, execute false then true).
import { get, send, enc, ApiError } from '../api.js';
import { h, clear, alertBox, empty, skeleton, field } from '../dom.js';
import { num, time } from '../format.js';
import { lineChart } from '../chart.js';
import { statePill } from './groups.js';

const REFRESH_MS = 10_000;
const PALETTE = ['var(--c1)', 'var(--c2)', 'var(--c3)', 'var(--c4)', 'var(--c5)', 'var(--c6)'];
const MAX_SERIES = 12;

export default async function render(main, route, app) {
  const name = route.params.name;
  const ac = new AbortController();
  const base = `/consumers/${enc(name)}`;

  const state = h('span', {});
  const sub = h('div', { class: 'sub' }, '\u00a0');
  const errBox = h('div');
  const stat = (label, testid) => {
    const v = h('div', { class: 'card-value placeholder' }, '\u2014');
    return { v, el: h('section', { class: 'card card-sm', dataset: { testid } }, h('div', { class: 'card-label' }, label), v) };
  };
  const sMembers = stat('Members', 'group-members');
  const sPartitions = stat('Partitions', 'group-partitions');
  const sLag = stat('Total lag', 'group-lag');
  const sTopics = stat('Topics', 'group-topics');

  const membersBody = h('tbody');
  const membersHolder = h('div', {}, skeleton(2));
  const membersTable = h('div', { class: 'table-wrap' }, h('table', { class: 'data', dataset: { testid: 'members' } },
    h('thead', {}, h('tr', {}, h('th', { scope: 'col' }, 'Member'), h('th', { scope: 'col' }, 'Client'), h('th', { scope: 'col' }, 'Host'), h('th', { scope: 'col' }, 'Assignment'))),
    membersBody));
  const partsBody = h('tbody');
  const partsHolder = h('div', {}, skeleton(4));
  const partsTable = h('div', { class: 'table-wrap' }, h('table', { class: 'data', dataset: { testid: 'partitions' } },
    h('thead', {}, h('tr', {},
      h('th', { scope: 'col' }, 'Topic'), h('th', { scope: 'col', class: 'num' }, 'Partition'),
      h('th', { scope: 'col', class: 'num' }, 'Committed'), h('th', { scope: 'col', class: 'num' }, 'High watermark'),
      h('th', { scope: 'col', class: 'num' }, 'Lag'), h('th', { scope: 'col' }, 'Member'))),
    partsBody));

  const chartEl = h('div', { dataset: { testid: 'chart-lag' } });
  const chartNote = h('div');

  // Reset form.
  const resetTo = h('select', { id: 'reset-to' },
    h('option', { value: 'start' }, 'Start (log start)'),
    h('option', { value: 'end' }, 'End (high watermark)'),
    h('option', { value: 'offset' }, 'Offset'),
    h('option', { value: 'time' }, 'Time'));
  const resetValue = h('input', { id: 'reset-value', type: 'text', autocomplete: 'off', spellcheck: 'false' });
  const valueField = field('Value', resetValue);
  const resetTopics = h('input', { id: 'reset-topics', type: 'text', autocomplete: 'off', spellcheck: 'false', placeholder: 'all topics the group committed' });
  const previewBtn = h('button', { type: 'button', class: 'btn', dataset: { testid: 'reset-preview' } }, 'Preview');
  const applyBtn = h('button', { type: 'button', class: 'btn btn-danger', dataset: { testid: 'reset-apply' }, disabled: true }, 'Apply reset');
  const resetErr = h('div');
  const memberNote = h('div', { class: 'note', hidden: true });
  const planBox = h('div', { class: 'plan-box' });
  let plan = null; // the previewed request, what Apply sends

  const hint = () => {
    const kind = resetTo.value;
    valueField.hidden = kind === 'start' || kind === 'end';
    resetValue.placeholder = kind === 'offset' ? 'e.g. 1200' : 'e.g. 2026-12-06T18:00, -15m or Unix ms';
    valueField.querySelector('label').textContent = kind === 'offset' ? 'Offset' : 'Time';
  };
  hint();

  main.append(
    h('div', { class: 'page-head' },
      h('div', { class: 'title-block' },
        h('div', { class: 'crumbs' }, h('a', { href: '/ui/groups' }, 'Consumer groups'), ' / '),
        h('h1', { class: 'title-line' }, h('span', { class: 'title-name' }, name), state),
        sub)),
    errBox,
    h('div', { class: 'cards cards-4 cards-compact' }, sMembers.el, sPartitions.el, sTopics.el, sLag.el),
    h('section', { class: 'section', 'aria-labelledby': 'g-lag' },
      h('div', { class: 'section-head' }, h('h2', { id: 'g-lag' }, 'Lag per partition'), h('span', { class: 'muted' }, 'last 15 minutes, every 10 s')),
      h('div', { class: 'chart-card' }, chartNote, chartEl)),
    h('section', { class: 'section', 'aria-labelledby': 'g-parts' },
      h('div', { class: 'section-head' }, h('h2', { id: 'g-parts' }, 'Partitions')), partsHolder),
    h('section', { class: 'section', 'aria-labelledby': 'g-members' },
      h('div', { class: 'section-head' }, h('h2', { id: 'g-members' }, 'Members')), membersHolder),
    h('section', { class: 'section', 'aria-labelledby': 'g-reset' },
      h('div', { class: 'section-head' }, h('h2', { id: 'g-reset' }, 'Reset offsets')),
      h('div', { class: 'panel panel-pad' },
        h('p', { class: 'muted' }, 'Moves the group\u2019s committed offsets. Kafka refuses a reset while the group has members: stop its consumers first. Preview shows the change; nothing moves until you apply it.'),
        h('div', { class: 'toolbar reset-form' }, field('Reset to', resetTo), valueField, field('Topics (comma separated)', resetTopics), h('div', { class: 'field field-buttons' }, h('span', { class: 'field-spacer', 'aria-hidden': 'true' }, '\u00a0'), h('div', { class: 'btn-row' }, previewBtn, applyBtn))),
        memberNote, resetErr, planBox)));

  const lag = lineChart(chartEl, { title: 'Lag per partition', yFormat: num, minMax: 10 });

  // --- group ---
  let group = null;
  async function loadGroup() {
    try {
      group = await get(base, ac.signal);
      alertBox(errBox, null);
      showGroup();
    } catch (e) {
      if (e.name === 'AbortError') return;
      if (e instanceof ApiError && e.status === 404) {
        alertBox(errBox, `There is no consumer group \u201c${name}\u201d: no members and no committed offsets.`);
      } else {
        alertBox(errBox, `Group: ${e.message}`);
      }
      if (!group) { clear(partsHolder); clear(membersHolder); }
    }
  }

  function showGroup() {
    const g = group;
    clear(state).append(statePill(g.state));
    sub.textContent = [g.protocol_type && `${g.protocol_type}${g.protocol ? ` \u00b7 ${g.protocol}` : ''}`, typeof g.generation === 'number' && g.generation >= 0 ? `generation ${g.generation}` : null].filter(Boolean).join(' \u00b7 ') || '\u00a0';
    const parts = (g.partitions || []).slice().sort((a, b) => a.topic.localeCompare(b.topic) || a.partition - b.partition);
    const members = g.members || [];
    setStat(sMembers, num(members.length));
    setStat(sPartitions, num(parts.length));
    setStat(sTopics, num(new Set(parts.map((p) => p.topic)).size));
    setStat(sLag, num(typeof g.total_lag === 'number' ? g.total_lag : parts.reduce((s, p) => s + (p.lag || 0), 0)));
    sLag.v.classList.toggle('lag-pos', (g.total_lag || 0) > 0);

    const focusedRow = partsBody.contains(document.activeElement) ? document.activeElement.closest('tr') : null;
    const refocus = focusedRow && `tr[data-topic="${CSS.escape(focusedRow.dataset.topic)}"][data-partition="${focusedRow.dataset.partition}"] a`;
    clear(partsBody);
    for (const p of parts) {
      partsBody.append(h('tr', { dataset: { topic: p.topic, partition: String(p.partition) } },
        h('td', { class: 'name' }, h('a', { href: `/ui/topics/${enc(p.topic)}` }, p.topic)),
        h('td', { class: 'num' }, num(p.partition)),
        h('td', { class: 'num', dataset: { testid: 'committed' } }, p.committed_offset === null || p.committed_offset === undefined ? h('span', { class: 'muted' }, 'none') : num(p.committed_offset)),
        h('td', { class: 'num' }, num(p.high_watermark)),
        h('td', { class: ['num', p.lag > 0 && 'lag-pos'] }, num(p.lag)),
        h('td', { class: 'mono muted member-cell' }, p.member_id || '\u2014')));
    }
    place(partsHolder, parts.length ? partsTable : noParts);
    if (refocus) partsBody.querySelector(refocus)?.focus();

    clear(membersBody);
    for (const m of members) {
      const asg = m.assignment ? Object.entries(m.assignment).sort(([a], [b]) => a.localeCompare(b)) : [];
      membersBody.append(h('tr', { dataset: { member: m.member_id } },
        h('td', { class: 'mono member-cell' }, m.member_id, m.instance_id ? h('div', { class: 'muted' }, `instance ${m.instance_id}`) : null),
        h('td', {}, m.client_id || '\u2014'),
        h('td', { class: 'muted' }, m.client_host || '\u2014'),
        h('td', {}, asg.length ? asg.map(([t, ps]) => h('span', { class: 'tag' }, `${t}: ${ps.slice().sort((a, b) => a - b).join(', ')}`)) : h('span', { class: 'muted' }, g.state === 'Stable' ? 'nothing assigned' : 'not assigned yet'))));
    }
    place(membersHolder, members.length ? membersTable : noMembers);
    memberNote.hidden = !members.length;
    memberNote.textContent = members.length ? `${members.length === 1 ? 'One consumer is' : `${num(members.length)} consumers are`} in the group now: a reset is refused until the group is Empty.` : '';
  }

  // place shows node in holder, moving nothing when it is there already (a
  // refresh must not blur the table or scroll the page).
  function place(holder, node) {
    if (holder.childNodes.length !== 1 || holder.firstChild !== node) clear(holder).append(node);
  }
  const noParts = h('div', { class: 'panel' }, empty('No partitions', 'The group has neither committed offsets nor assignments.'));
  const noMembers = h('div', { class: 'panel' }, empty('No members', 'No consumer is in the group now; its committed offsets stay.'));

  function setStat(s, text) {
    s.v.classList.remove('placeholder');
    s.v.textContent = text;
  }

  // --- lag history ---
  let historyMissing = false;
  async function loadLag() {
    if (historyMissing) return;
    try {
      const res = await get(`${base}/lag-history`, ac.signal);
      const series = (res.series || []).map((s) => ({ key: `${s.topic}/${s.partition}`, points: s.points || [] }));
      // The partitions with the most lag now, when there are many.
      const lastLag = (s) => (s.points.length ? s.points[s.points.length - 1][1] || 0 : 0);
      series.sort((a, b) => lastLag(b) - lastLag(a) || a.key.localeCompare(b.key));
      const shown = series.slice(0, MAX_SERIES).sort((a, b) => a.key.localeCompare(b.key, undefined, { numeric: true }));
      lag.update(shown.map((s, i) => ({ name: s.key, color: PALETTE[i % PALETTE.length], dashed: i >= PALETTE.length, points: s.points })));
      let max = 0;
      for (const s of series) for (const p of s.points) if (p[1] > max) max = p[1];
      chartEl.dataset.max = String(max);
      alertBox(chartNote, series.length > MAX_SERIES ? `Showing the ${MAX_SERIES} partitions with the most lag of ${series.length}.` : null, { kind: 'info' });
    } catch (e) {
      if (e.name === 'AbortError') return;
      if (e instanceof ApiError && e.status === 404 && !group) return; // the group's own 404 says it
      if (e instanceof ApiError && e.status === 404) {
        historyMissing = true;
        alertBox(chartNote, 'This server keeps no lag history yet (GET /consumers/{g}/lag-history).', { kind: 'info' });
        return;
      }
      alertBox(chartNote, `Lag history: ${e.message}`);
    }
  }

  // --- reset ---
  function request(execute) {
    const kind = resetTo.value;
    const v = resetValue.value.trim();
    let to = kind;
    if (kind === 'offset') {
      if (!/^\d+$/.test(v)) throw new Error('Enter an offset: a whole number, 0 or more.');
      to = v;
    } else if (kind === 'time') {
      if (/^-\d/.test(v) || v.startsWith('@')) to = v; // -15m, @-1h, @1700000000000
      else if (/^\d{10,}$/.test(v)) to = `@${v}`;
      else {
        const t = Date.parse(v);
        if (!v || Number.isNaN(t)) throw new Error('Enter a time: 2026-12-06T18:00 (local), an RFC 3339 time, -15m (ago) or Unix milliseconds.');
        to = `@${t}`;
      }
    }
    const topics = resetTopics.value.split(',').map((s) => s.trim()).filter(Boolean);
    const body = { to, execute };
    if (topics.length) body.topics = topics;
    return body;
  }

  function showPlan(res, executed) {
    const steps = (res.plan || []).slice().sort((a, b) => a.topic.localeCompare(b.topic) || a.partition - b.partition);
    const moved = steps.filter((s) => s.current !== s.target).length;
    clear(planBox).append(
      h('div', { class: `plan-head ${executed ? 'plan-done' : ''}` },
        executed
          ? h('strong', {}, `Reset applied: ${num(steps.length)} partition${steps.length === 1 ? '' : 's'} now at the offsets below.`)
          : h('strong', {}, `Preview: ${num(moved)} of ${num(steps.length)} partition${steps.length === 1 ? '' : 's'} would move.`),
        h('span', { class: 'muted' }, ` Target ${res.to}${res.to && /^@\d+$/.test(res.to) ? ` (${time(Number(res.to.slice(1)))})` : ''}.`)),
      h('div', { class: 'table-wrap' }, h('table', { class: 'data', dataset: { testid: 'reset-plan', executed: executed ? 'true' : 'false' } },
        h('thead', {}, h('tr', {}, h('th', { scope: 'col' }, 'Topic'), h('th', { scope: 'col', class: 'num' }, 'Partition'),
          h('th', { scope: 'col', class: 'num' }, executed ? 'Was' : 'Current'), h('th', { scope: 'col', class: 'arrow', 'aria-hidden': 'true' }, ''),
          h('th', { scope: 'col', class: 'num' }, executed ? 'Now' : 'Target'), h('th', { scope: 'col', class: 'num' }, 'Change'))),
        h('tbody', {}, steps.map((s) => {
          const d = s.current < 0 ? null : s.target - s.current;
          return h('tr', { dataset: { topic: s.topic, partition: String(s.partition), current: String(s.current), target: String(s.target) } },
            h('td', {}, s.topic), h('td', { class: 'num' }, num(s.partition)),
            h('td', { class: 'num' }, s.current < 0 ? h('span', { class: 'muted' }, 'none') : num(s.current)),
            h('td', { class: 'arrow', 'aria-hidden': 'true' }, '\u2192'),
            h('td', { class: 'num strong' }, num(s.target)),
            h('td', { class: ['num', d > 0 && 'delta-up', d < 0 && 'delta-down'] }, d === null ? 'new' : d === 0 ? '\u2014' : `${d > 0 ? '+' : '\u2212'}${num(Math.abs(d))}`));
        })))));
  }

  const resetError = (e) => {
    if (e instanceof ApiError && e.status === 409) {
      return 'The group has active members, so the reset was refused and nothing changed. Stop its consumers, wait until the group is Empty, then preview again.';
    }
    return e instanceof ApiError ? `Reset: ${e.message}` : e.message;
  };

  const invalidate = () => {
    plan = null;
    applyBtn.disabled = true;
    if (planBox.querySelector('[data-executed=false]')) clear(planBox);
  };
  resetTo.addEventListener('change', () => { hint(); invalidate(); });
  resetValue.addEventListener('input', invalidate);
  resetTopics.addEventListener('input', invalidate);

  const busy = (btn, on) => { btn.classList.toggle('btn-busy', on); btn.setAttribute('aria-busy', on ? 'true' : 'false'); previewBtn.disabled = on; if (on) applyBtn.disabled = true; };

  previewBtn.addEventListener('click', async () => {
    alertBox(resetErr, null);
    let body;
    try { body = request(false); } catch (e) { alertBox(resetErr, e); invalidate(); return; }
    busy(previewBtn, true);
    try {
      const res = await send('POST', `${base}/reset`, body, ac.signal);
      plan = { ...body, execute: true };
      showPlan(res, false);
      busy(previewBtn, false);
      applyBtn.disabled = false;
    } catch (e) {
      busy(previewBtn, false);
      if (e.name === 'AbortError') return;
      invalidate();
      clear(planBox);
      alertBox(resetErr, resetError(e));
    }
  });

  applyBtn.addEventListener('click', async () => {
    if (!plan) return;
    alertBox(resetErr, null);
    const body = plan;
    busy(applyBtn, true);
    try {
      const res = await send('POST', `${base}/reset`, body, ac.signal);
      plan = null;
      showPlan(res, true);
      busy(applyBtn, false);
      applyBtn.disabled = true;
      await Promise.all([loadGroup(), loadLag()]);
    } catch (e) {
      busy(applyBtn, false);
      if (e.name === 'AbortError') return;
      applyBtn.disabled = !plan;
      alertBox(resetErr, resetError(e));
    }
  });

  await Promise.all([loadGroup(), loadLag()]);
  if (group) app.setTitle(`${name} \u00b7 Group`);
  main.dataset.ready = 'true';
  const timer = setInterval(() => {
    if (document.visibilityState === 'visible') { loadGroup(); loadLag(); }
  }, REFRESH_MS);
  return () => { ac.abort(); clearInterval(timer); };
}
