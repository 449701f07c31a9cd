// Topic (/ui/topics/NAME): partitions (GET /tables/{t}/info, refreshed
// every 10 s while the tab is visible), configs and their edit, the Iceberg
// status when the server materializes the topic (GET /tables/{t}/iceberg;
// 404 = off: nothing shown), the message browser and live tail
// (topic-messages.js), the produce form (topic-produce.js) and delete with
// a typed confirmation.
import { get, send, enc } from '../api.js';
import { h, clear, alertBox, dialog, field } from '../dom.js';
import { num, bytes, time, duration } from '../format.js';
import { messageBrowser } from './topic-messages.js';
import { produceForm } from './topic-produce.js';
import { configsTable, editConfigs } from './topic-configs.js';
import { groupsSection } from './topic-groups.js';

const REFRESH_MS = 10000;

export default async function render(main, route, app) {
  const name = route.params.name || '';
  const base = `/tables/${enc(name)}`;
  let alive = true;
  let timer = 0;
  let browser = null;

  const crumbs = h('nav', { class: 'crumbs', 'aria-label': 'Breadcrumb' }, h('a', { href: '/ui/topics' }, 'Topics'), ' /');
  const alertEl = h('div', { class: 'alert-slot' });
  const titleEl = () => h('div', { class: 'topic-title' }, crumbs.cloneNode(true), h('h1', { class: 'topic-name' }, name));
  main.append(
    h('header', { class: 'page-head' }, titleEl()),
    alertEl,
    h('div', { class: 'cards' }, ['Partitions', 'Records', 'Bytes written', 'Topic ID'].map((k) => statCard(k, null))));

  let info;
  let iceberg;
  try {
    info = await get(`${base}/info`);
    iceberg = await icebergStatus(base, info.configs || {});
  } catch (err) {
    if (!alive) return undefined;
    clear(main);
    main.append(h('header', { class: 'page-head' }, titleEl()),
      err.status === 404 ? notFound(name) : h('div', { class: 'alert-slot' }));
    if (err.status !== 404) alertBox(main.querySelector('.alert-slot'), `Could not load topic ${name}: ${err.message}`);
    main.dataset.ready = 'true';
    return () => { alive = false; };
  }
  if (!alive) return undefined;

  // --- head
  const stats = h('div', { class: 'cards' });
  const deleteBtn = h('button', {
    type: 'button', class: 'btn btn-danger-ghost', dataset: { testid: 'delete-topic' },
    onclick: () => confirmDelete(name).then((gone) => { if (gone && alive) app.navigate('/ui/topics'); }),
  }, 'Delete topic');

  // --- partitions
  const partBody = h('tbody');
  const partitions = h('section', { class: 'section', 'aria-labelledby': 'parts-title' },
    h('div', { class: 'section-head' }, h('h2', { id: 'parts-title' }, 'Partitions'),
      h('span', { class: 'muted small', dataset: { testid: 'info-updated' } })),
    h('div', { class: 'table-wrap' }, h('table', { class: 'data compact partitions-table' },
      h('thead', null, h('tr', null,
        h('th', { scope: 'col', class: 'num' }, 'Partition'),
        h('th', { scope: 'col', class: 'num' }, 'Log start'),
        h('th', { scope: 'col', class: 'num' }, 'Hot start'),
        h('th', { scope: 'col', class: 'num' }, h('abbr', { title: 'offsets in the cold tier (S3), first to last' }, 'Cold range')),
        h('th', { scope: 'col', class: 'num' }, 'High watermark'),
        h('th', { scope: 'col', class: 'num' }, 'Records'),
        h('th', { scope: 'col', class: 'num' }, h('abbr', { title: 'record-batch bytes written since the server started' }, 'Bytes')))),
      partBody)));

  // --- configs
  const configsBody = h('div', { class: 'configs-body' });
  const editBtn = h('button', {
    type: 'button', class: 'btn btn-sm', dataset: { testid: 'edit-configs' },
    onclick: async () => {
      try {
        const next = await editConfigs(name, info.configs);
        if (next && alive) { info = next; showInfo(); }
      } catch (err) {
        alertBox(alertEl, err.message);
      }
    },
  }, 'Edit');
  const configs = h('section', { class: 'section', 'aria-labelledby': 'configs-title', dataset: { testid: 'configs' } },
    h('div', { class: 'section-head' }, h('h2', { id: 'configs-title' }, 'Configs'), h('div', { class: 'actions' }, editBtn)),
    configsBody);

  browser = messageBrowser({ topic: name, partitions: info.partitions, query: route.query, setQuery: (q) => app.setQuery(q) });
  const groups = groupsSection(name);
  const produce = produceForm({
    topic: name, partitions: info.partitions,
    onProduced: () => refreshInfo(),
    onShow: (p, o) => {
      browser.showOffset(p, o);
      browser.el.scrollIntoView({ block: 'start', behavior: 'smooth' });
    },
  });

  clear(main);
  main.append(...[
    h('header', { class: 'page-head' }, titleEl(),
      iceberg ? h('span', { class: 'pill pill-ok', title: 'materialized as an Iceberg table' }, 'Iceberg') : null,
      h('div', { class: 'actions' }, deleteBtn)),
    alertEl,
    stats,
    h('div', { class: 'topic-grid' }, partitions, configs),
    iceberg ? icebergCard(iceberg) : null,
    browser.el,
    groups.el,
    produce.el,
  ].filter(Boolean)); // DOM append writes a null as the text "null"
  showInfo();

  function showInfo() {
    clear(stats);
    stats.append(
      statCard('Partitions', num(info.partitions)),
      statCard('Records', num(info.records)),
      statCard('Bytes written', bytes(info.bytes), 'since the server started'),
      statCard('Topic ID', info.topic_id || '—', null, 'mono small'));
    clear(partBody);
    for (const p of info.partition_offsets || []) partBody.append(partitionRow(p));
    clear(configsBody);
    configsBody.append(configsTable(info.configs));
    browser.setPartitions(info.partitions);
    produce.setPartitions(info.partitions);
    const upd = partitions.querySelector('[data-testid=info-updated]');
    upd.textContent = `updated ${time(Date.now()).slice(11, 19)}`;
  }

  // refreshInfo reads the partitions and configs again; false once the
  // topic is gone.
  async function refreshInfo() {
    try {
      const next = await get(`${base}/info`);
      if (alive) { info = next; showInfo(); }
    } catch (err) {
      if (alive && err.status === 404) {
        alertBox(alertEl, `Topic ${name} no longer exists (deleted elsewhere).`);
        return false;
      }
      // a transient failure: keep the last figures, try again later
    }
    return true;
  }

  async function refresh() {
    if (!alive) return;
    if (document.visibilityState === 'visible') {
      if (!(await refreshInfo())) return; // gone: no more refreshes
      await groups.refresh().catch(() => {}); // keep the last figures
    }
    if (alive) timer = setTimeout(refresh, REFRESH_MS);
  }
  timer = setTimeout(refresh, REFRESH_MS);

  groups.load(); // below the messages: it does not hold up the page
  await browser.load();
  if (alive) main.dataset.ready = 'true';
  return () => {
    alive = false;
    clearTimeout(timer);
    browser.stop();
  };
}

// icebergStatus: the topic's Iceberg table, or null when the topic is not
// materialized or the status cannot be read. It asks only when the topic
// sets zombi.iceberg.enable=true, or leaves it unset on a server that
// materializes every topic by default (GET /overview "iceberg_default"):
// the materializer always runs, so asking about every topic would answer
// 404 for most, and each 404 is an error line in the browser's console.
async function icebergStatus(base, configs) {
  const enable = configs['zombi.iceberg.enable'];
  if (enable === 'false') return null;
  try {
    if (enable !== 'true') {
      const ov = await get('/overview');
      if (!ov || ov.iceberg !== true || ov.iceberg_default !== true) return null;
    }
    return await get(`${base}/iceberg`);
  } catch {
    return null; // off (404), not allowed (403) or unreachable: no Iceberg section
  }
}

function statCard(label, value, hint, cls) {
  return h('div', { class: 'card' },
    h('div', { class: 'card-label' }, label),
    h('div', { class: ['card-value', cls] }, value === null ? h('span', { class: 'skel' }, '\u00a0') : value),
    h('div', { class: 'card-sub' }, hint || '\u00a0'));
}

function partitionRow(p) {
  const hasCold = typeof p.cold_start === 'number' && typeof p.cold_end === 'number' && p.cold_end > p.cold_start;
  return h('tr', { dataset: { partition: String(p.partition) } },
    h('td', { class: 'num' }, String(p.partition)),
    h('td', { class: 'num mono' }, String(p.log_start)),
    h('td', { class: 'num mono' }, String(p.hot_start)),
    h('td', { class: 'num mono' }, hasCold ? `${p.cold_start}–${p.cold_end - 1}` : h('span', { class: 'muted', title: 'no data in the cold tier' }, '—')),
    h('td', { class: 'num mono' }, String(p.high_watermark)),
    h('td', { class: 'num' }, num(p.high_watermark - p.log_start)),
    h('td', { class: 'num' }, bytes(p.bytes)));
}

function icebergCard(st) {
  const item = (k, v, cls) => [h('dt', null, k), h('dd', { class: cls }, v)];
  const parts = st.partitions || [];
  return h('section', { class: 'section', 'aria-labelledby': 'ice-title', dataset: { testid: 'iceberg' } },
    h('div', { class: 'section-head' }, h('h2', { id: 'ice-title' }, 'Iceberg table'),
      h('span', { class: ['pill', st.enabled ? 'pill-ok' : ''] }, st.enabled ? 'materializing' : 'not materializing')),
    h('div', { class: 'panel panel-pad' },
    st.error ? h('div', { role: 'alert', class: 'alert alert-error' },
      h('span', { class: 'alert-icon', 'aria-hidden': 'true' }, '!'),
      h('span', { class: 'alert-text' }, `Last cycle failed${st.error_at ? ` at ${time(Date.parse(st.error_at))}` : ''}: ${st.error}`)) : null,
    h('dl', { class: 'kv ice-kv' },
      item('Table', st.table, 'mono'),
      item('Mode', st.mode || '—'),
      item('Partitioning', st.partitioning || '—'),
      item('Snapshot', snapshotText(st)),
      item('Rows', num(st.records)),
      item('Files', `${num(st.files)} (${bytes(st.bytes)})`),
      item('Lag', `${num(st.lag_records)} records${st.lag_seconds ? `, ${duration(st.lag_seconds * 1000)}` : ''}`),
      item('Last commit', st.last_commit ? time(Date.parse(st.last_commit)) : '—'),
      item('Location', st.location || '—', 'mono small wrap')),
    parts.length ? h('details', { class: 'ice-parts' }, h('summary', null, 'Per partition'),
      h('div', { class: 'table-wrap' }, h('table', { class: 'data compact' },
        h('thead', null, h('tr', null,
          h('th', { scope: 'col', class: 'num' }, 'Partition'),
          h('th', { scope: 'col', class: 'num' }, 'In the table up to'),
          h('th', { scope: 'col', class: 'num' }, 'High watermark'),
          h('th', { scope: 'col', class: 'num' }, 'Lag'))),
        h('tbody', null, parts.map((p) => h('tr', null,
          h('td', { class: 'num mono' }, String(p.partition)),
          h('td', { class: 'num mono' }, String(p.committed ?? '—')),
          h('td', { class: 'num mono' }, String(p.high_watermark ?? '—')),
          h('td', { class: 'num' }, num(p.lag_records)))))))) : null));
}

// snapshotText: when the current snapshot was taken. Its id is a 64-bit
// number that JSON.parse rounds: shown only when it is exact.
function snapshotText(st) {
  if (st.snapshot_id === null || st.snapshot_id === undefined) return 'none yet';
  const when = st.snapshot_time ? time(Date.parse(st.snapshot_time)) : '';
  const id = Number.isSafeInteger(st.snapshot_id) ? `#${st.snapshot_id}` : '';
  return [when, id].filter(Boolean).join(' ') || 'taken';
}

function notFound(name) {
  return h('div', { class: 'panel not-found', dataset: { testid: 'not-found' } },
    h('div', { class: 'empty' },
      h('div', { class: 'empty-title' }, 'No such topic'),
      h('div', { class: 'empty-text' }, 'There is no topic named ', h('code', null, name), ' (or you may not describe it).'),
      h('p', null, h('a', { href: '/ui/topics', class: 'btn' }, 'All topics'))));
}

// confirmDelete asks for the topic's name before DELETE /tables/{t}.
async function confirmDelete(topic) {
  const input = h('input', {
    id: 'confirm-delete-name', class: 'input mono', type: 'text', autocomplete: 'off', spellcheck: 'false', autofocus: true,
  });
  const p = dialog({
    title: 'Delete topic',
    testid: 'delete-topic-dialog',
    body: h('div', null,
      h('p', { class: 'dialog-lead' }, 'This deletes ', h('strong', { class: 'mono' }, topic),
        ' and every record in it, in the hot and the cold tier. Consumer groups keep their committed offsets. It cannot be undone.'),
      field(h('span', null, 'Type ', h('strong', { class: 'mono' }, topic), ' to confirm'), input)),
    actions: [
      { label: 'Cancel', value: null },
      {
        label: 'Delete', value: 'delete', kind: 'danger', testid: 'confirm-delete', disabled: true,
        run: async () => {
          if (input.value !== topic) throw new Error(`Type the topic's name, ${topic}, to confirm.`);
          await send('DELETE', `/tables/${enc(topic)}`);
        },
      },
    ],
  });
  const btn = p.dialog.querySelector('[data-testid=confirm-delete]');
  input.addEventListener('input', () => { btn.disabled = input.value !== topic; });
  return (await p) === 'delete';
}
