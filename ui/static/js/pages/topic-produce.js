// The Topic page's produce form: key, headers, value and partition, sent
// as POST /tables/{t}. The value is sent as a string, so the record holds
// exactly the text typed (JSON stays as written).
import { send, enc } from '../api.js';
import { h, clear, alertBox, field } from '../dom.js';
import { kvRows } from './kv-rows.js';

// produceForm({topic, partitions, onProduced(answer), onShow(partition,
// offset)}) -> {el, setPartitions}
export function produceForm({ topic, partitions, onProduced, onShow }) {
  const partition = h('select', { id: 'produce-partition' });
  const key = h('input', {
    id: 'produce-key', class: 'mono', type: 'text', autocomplete: 'off', spellcheck: 'false',
    placeholder: 'none',
  });
  const value = h('textarea', {
    id: 'produce-value', class: 'mono', rows: '6', spellcheck: 'false',
    placeholder: '{"hello": "world"}',
  });
  const headers = kvRows({ kind: 'header', keyLabel: 'Header name', valueLabel: 'Header value', addLabel: 'Add header' });
  const submit = h('button', { type: 'submit', class: 'btn btn-primary', dataset: { testid: 'produce-submit' } }, 'Produce');
  const result = h('div', { class: 'produce-result', dataset: { testid: 'produce-result' }, 'aria-live': 'polite' });
  const alertEl = h('div', { class: 'alert-slot' });

  const form = h('form', { class: 'produce-form', novalidate: true },
    h('div', { class: 'produce-grid' },
      h('div', { class: 'produce-side' },
        field('Partition', partition, 'Auto: by the key (as Kafka clients do), else round-robin.'),
        field('Key', key, 'Empty: no key.'),
        h('fieldset', { class: 'fieldset' }, h('legend', null, 'Headers'), headers.el)),
      h('div', { class: 'produce-main' },
        field('Value', value, 'Sent as text; Ctrl+Enter produces.'))),
    alertEl,
    h('div', { class: 'form-actions' }, submit, result));

  setPartitions(partitions);

  value.addEventListener('keydown', (e) => {
    if (e.key === 'Enter' && (e.ctrlKey || e.metaKey)) { e.preventDefault(); form.requestSubmit(); }
  });
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    if (submit.classList.contains('btn-busy')) return;
    const body = { payload: value.value };
    if (key.value !== '') body.key = key.value;
    const hs = {};
    for (const [k, v] of headers.values()) {
      if (!k) { alertBox(alertEl, `The header with value “${v}” has no name.`); return; }
      if (k in hs) { alertBox(alertEl, `Header ${k} is given twice.`); return; }
      hs[k] = v;
    }
    if (Object.keys(hs).length) body.headers = hs;
    if (partition.value !== '') body.partition = Number(partition.value);
    submit.classList.add('btn-busy');
    submit.setAttribute('aria-disabled', 'true');
    alertBox(alertEl, null);
    try {
      const res = await send('POST', `/tables/${enc(topic)}`, body);
      clear(result);
      result.append(h('span', { class: 'ok-mark', 'aria-hidden': 'true' }, '✓'),
        ' Written to partition ', h('strong', { class: 'mono', dataset: { partition: String(res.partition) } }, String(res.partition)),
        ' at offset ', h('strong', { class: 'mono', dataset: { offset: String(res.offset) } }, String(res.offset)), '. ',
        onShow ? h('button', { type: 'button', class: 'btn-link', onclick: () => onShow(res.partition, res.offset) }, 'Show it') : null);
      if (onProduced) onProduced(res);
    } catch (err) {
      clear(result);
      alertBox(alertEl, `Not written: ${err.message}`);
    } finally {
      submit.classList.remove('btn-busy');
      submit.removeAttribute('aria-disabled');
    }
  });

  function setPartitions(n) {
    if (partition.options.length === n + 1) return; // unchanged: leave it (maybe open) alone
    const keep = partition.value;
    clear(partition);
    partition.append(h('option', { value: '' }, 'Auto'));
    for (let p = 0; p < n; p++) partition.append(h('option', { value: String(p) }, String(p)));
    partition.value = keep !== '' && Number(keep) < n ? keep : '';
  }

  const el = h('section', { class: 'section produce', 'aria-labelledby': 'produce-title' },
    h('div', { class: 'section-head' }, h('h2', { id: 'produce-title' }, 'Produce a record')),
    h('div', { class: 'panel panel-pad' }, form));
  return { el, setPartitions };
}
