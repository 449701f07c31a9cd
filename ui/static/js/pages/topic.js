// Topic: a stub of the shell's first commit; the Topics helper replaces it.
import { get, enc } from '../api.js';
import { h, alertBox } from '../dom.js';

export default async function render(main, route, app) {
  const name = route.params.name;
  const err = h('div');
  const info = h('pre', { class: 'value' });
  main.append(h('div', { class: 'page-head' }, h('div', {},
    h('div', { class: 'crumbs' }, h('a', { href: '/ui/topics' }, 'Topics'), ' / '), h('h1', {}, name))), err, info);
  try {
    info.textContent = JSON.stringify(await get(`/tables/${enc(name)}/info`), null, 2);
  } catch (e) {
    alertBox(err, e);
  }
  main.dataset.ready = 'true';
}
