// Topics: a stub of the shell's first commit; the Topics helper replaces it.
import { get } from '../api.js';
import { h, alertBox } from '../dom.js';
import { num } from '../format.js';

export default async function render(main, route, app) {
  const err = h('div');
  const body = h('tbody');
  main.append(h('div', { class: 'page-head' }, h('h1', {}, 'Topics')), err,
    h('div', { class: 'table-wrap' }, h('table', { class: 'data' },
      h('thead', {}, h('tr', {}, h('th', {}, 'Name'), h('th', { class: 'num' }, 'Partitions'))), body)));
  try {
    const res = await get('/tables');
    for (const t of res.tables || []) {
      body.append(h('tr', { dataset: { topic: t.name } },
        h('td', { class: 'name' }, h('a', { href: `/ui/topics/${encodeURIComponent(t.name)}` }, t.name)),
        h('td', { class: 'num' }, num(t.partitions))));
    }
  } catch (e) {
    alertBox(err, e);
  }
  main.dataset.ready = 'true';
}
