// An editable list of key/value rows: topic configs in the create and edit
// dialogs, record headers in the produce form. Rows that are entirely empty
// are ignored, so a form can always offer one blank row to type into.
import { h } from '../dom.js';

// kvRows({kind, keyLabel, valueLabel, rows, keyList}) -> {el, add, values, focusFirst}
// kind names the test ids: data-testid="{kind}-key", "{kind}-value",
// "add-{kind}", "remove-{kind}".
export function kvRows({ kind, keyLabel = 'Key', valueLabel = 'Value', rows = [], keyList = null, addLabel = 'Add' }) {
  const list = h('div', { class: 'kv-list', role: 'group', 'aria-label': `${keyLabel} and ${valueLabel}` });

  function add(k = '', v = '') {
    const key = h('input', {
      type: 'text', class: 'kv-key mono', placeholder: keyLabel, 'aria-label': keyLabel,
      autocomplete: 'off', spellcheck: 'false', list: keyList, dataset: { testid: `${kind}-key` },
    });
    const val = h('input', {
      type: 'text', class: 'kv-value mono', placeholder: valueLabel, 'aria-label': valueLabel,
      autocomplete: 'off', spellcheck: 'false', dataset: { testid: `${kind}-value` },
    });
    key.value = k;
    val.value = v;
    const row = h('div', { class: 'kv-row' }, key, val,
      h('button', {
        type: 'button', class: 'btn btn-ghost btn-sm btn-icon', title: 'Remove', 'aria-label': `Remove ${keyLabel.toLowerCase()}`,
        dataset: { testid: `remove-${kind}` },
        onclick: () => {
          // Keep the focus in the list: on the next row, or the add button.
          const next = row.nextElementSibling || row.previousElementSibling;
          row.remove();
          (next ? next.querySelector('input') : addBtn).focus();
        },
      }, '×'));
    list.append(row);
    return key;
  }

  const addBtn = h('button', {
    type: 'button', class: 'btn btn-ghost btn-sm kv-add', dataset: { testid: `add-${kind}` },
    onclick: () => add().focus(),
  }, `+ ${addLabel}`);

  rows.forEach(([k, v]) => add(k, v));
  if (rows.length === 0) add();

  return {
    el: h('div', { class: 'kv-editor' }, list, addBtn),
    add,
    // values: [[key, value]...] of the rows with anything typed in them.
    values() {
      return [...list.querySelectorAll('.kv-row')]
        .map((r) => [r.querySelector('.kv-key').value.trim(), r.querySelector('.kv-value').value])
        .filter(([k, v]) => k !== '' || v !== '');
    },
  };
}

// The topic configs Zombi acts on (log/topicconfig), offered as completions.
export const commonConfigs = [
  'retention.ms', 'retention.bytes', 'local.retention.ms', 'max.message.bytes',
  'message.timestamp.type', 'cleanup.policy', 'zombi.iceberg.enable', 'zombi.iceberg.mode',
  'zombi.iceberg.partition', 'zombi.iceberg.columns', 'zombi.iceberg.commit.interval.ms',
];

// configList returns a <datalist> of commonConfigs with the given id.
export function configList(id) {
  return h('datalist', { id }, commonConfigs.map((c) => h('option', { value: c })));
}
