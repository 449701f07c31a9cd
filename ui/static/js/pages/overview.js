// overview: being written.
import { h } from '../dom.js';

export default async function render(main) {
  main.append(h('div', { class: 'page-head' }, h('h1', {}, 'overview')));
  main.dataset.ready = 'true';
}
