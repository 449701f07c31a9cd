// The create-topic dialog of the Topics page: name, partitions and configs
// as key/value rows, sent as PUT /tables/{name}. The API's answer (a bad
// name, a refused config, 409 when the topic exists) stays in the dialog.
import { send, enc } from '../api.js';
import { h, dialog, field } from '../dom.js';
import { kvRows, configList } from './kv-rows.js';

const NAME_RE = /^[a-zA-Z0-9._-]{1,249}$/;

// createTopic() -> Promise of the created TABLE, or null when cancelled.
export async function createTopic() {
  const name = h('input', {
    id: 'new-topic-name', class: 'mono', type: 'text', required: true, maxlength: '249',
    autocomplete: 'off', spellcheck: 'false', autofocus: true, placeholder: 'orders',
    pattern: '[a-zA-Z0-9._\\-]{1,249}',
  });
  const partitions = h('input', {
    id: 'new-topic-partitions', type: 'number', min: '1', max: '100000',
    step: '1', required: true, value: '1', inputmode: 'numeric',
  });
  const configs = kvRows({ kind: 'config', keyLabel: 'Config name', valueLabel: 'Value', keyList: 'topic-config-names', addLabel: 'Add config' });
  let created = null;

  const body = h('div', { class: 'form-grid' },
    field('Name', name, 'Letters, digits, “.”, “_” and “-”; up to 249 characters.'),
    field('Partitions', partitions),
    h('fieldset', { class: 'fieldset' },
      h('legend', null, 'Configs ', h('span', { class: 'muted' }, '(optional: the broker defaults apply otherwise)')),
      configs.el, configList('topic-config-names')));

  const choice = await dialog({
    title: 'Create topic',
    body,
    testid: 'create-topic-dialog',
    actions: [
      { label: 'Cancel', value: null },
      {
        label: 'Create', value: 'create', kind: 'primary', testid: 'create-topic-submit',
        run: async () => {
          const n = name.value.trim();
          if (!NAME_RE.test(n) || n === '.' || n === '..') {
            name.focus();
            throw new Error('A topic name is 1 to 249 letters, digits, “.”, “_” or “-” (and not “.” or “..”).');
          }
          const p = Number(partitions.value);
          if (!Number.isInteger(p) || p < 1) {
            partitions.focus();
            throw new Error('Partitions must be a whole number of at least 1.');
          }
          const cfg = {};
          for (const [k, v] of configs.values()) {
            if (!k) throw new Error(`The config with value “${v}” has no name.`);
            if (k in cfg) throw new Error(`Config ${k} is given twice.`);
            cfg[k] = v;
          }
          created = await send('PUT', `/tables/${enc(n)}`, { partitions: p, configs: cfg });
        },
      },
    ],
  });
  return choice === 'create' ? created : null;
}
