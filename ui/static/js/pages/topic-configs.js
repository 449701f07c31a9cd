// The Topic page's configs: the topic's overrides (GET /tables/{t}/info
// "configs"; defaults are not listed) and their edit dialog, which sends
// what changed as PATCH /tables/{t}/configs {"set": {...}, "delete": [...]}.
import { send, enc } from '../api.js';
import { h, dialog } from '../dom.js';
import { kvRows, configList } from './kv-rows.js';

// configsTable(configs) -> a table of the overrides, or an empty state.
export function configsTable(configs) {
  const keys = Object.keys(configs || {}).sort();
  if (!keys.length) {
    return h('div', { class: 'empty empty-small', dataset: { testid: 'configs-empty' } },
      h('div', { class: 'empty-title' }, 'No overrides'),
      h('div', { class: 'empty-text' }, 'The topic uses the broker defaults.'));
  }
  return h('div', { class: 'table-wrap' }, h('table', { class: 'data compact configs-table' },
    h('thead', null, h('tr', null, h('th', { scope: 'col' }, 'Name'), h('th', { scope: 'col' }, 'Value'))),
    h('tbody', null, keys.map((k) => h('tr', { dataset: { config: k } },
      h('td', { class: 'mono' }, k), h('td', { class: 'mono' }, configs[k]))))));
}

// editConfigs(topic, configs) -> Promise of the new TABLE, or null when
// cancelled or nothing changed.
export async function editConfigs(topic, configs) {
  const before = configs || {};
  const rows = kvRows({
    kind: 'config', keyLabel: 'Config name', valueLabel: 'Value', keyList: 'edit-config-names',
    addLabel: 'Add config', rows: Object.keys(before).sort().map((k) => [k, before[k]]),
  });
  let answer = null;
  const choice = await dialog({
    title: `Configs of ${topic}`,
    testid: 'edit-configs-dialog',
    wide: true,
    body: h('div', null,
      h('p', { class: 'dialog-lead' }, 'Topic-level overrides. Remove a row to go back to the broker default.'),
      rows.el, configList('edit-config-names')),
    actions: [
      { label: 'Cancel', value: null },
      {
        label: 'Save', value: 'save', kind: 'primary', testid: 'save-configs',
        run: async () => {
          const set = {};
          for (const [k, v] of rows.values()) {
            if (!k) throw new Error(`The config with value “${v}” has no name.`);
            if (k in set) throw new Error(`Config ${k} is given twice.`);
            if (before[k] !== v) set[k] = v;
          }
          const kept = new Set(rows.values().map(([k]) => k));
          const del = Object.keys(before).filter((k) => !kept.has(k));
          if (!Object.keys(set).length && !del.length) return;
          answer = await send('PATCH', `/tables/${enc(topic)}/configs`, { set, delete: del });
        },
      },
    ],
  });
  return choice === 'save' ? answer : null;
}
