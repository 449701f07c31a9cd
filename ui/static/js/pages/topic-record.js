// One record of the message browser: its table row (a one-line preview of
// key and value) and its details (key, headers and value in full: JSON
// pretty-printed, text as text, binary as hex or base64 with a toggle).
// Everything goes in as text nodes: a record's bytes never become markup.
import { h } from '../dom.js';
import { bytes, time, ago, b64ToBytes, hex, prettyValue } from '../format.js';

const PREVIEW_CHARS = 160;

// recordRow(REC) -> <tr class="msg-row" data-partition data-offset>, with
// the record kept as row.record for its details.
export function recordRow(r) {
  const detailId = `rec-${r.partition}-${r.offset}`;
  const row = h('tr', { class: 'msg-row', dataset: { partition: String(r.partition), offset: String(r.offset) } },
    h('td', { class: 'expand-col' }, h('button', {
      type: 'button', class: 'expand', 'aria-expanded': 'false', 'aria-controls': detailId,
      'aria-label': `Record ${r.offset} of partition ${r.partition}`,
    }, h('span', { class: 'chev', 'aria-hidden': 'true' }))),
    h('td', { class: 'num mono' }, String(r.partition)),
    h('td', { class: 'num mono' }, String(r.offset)),
    h('td', { class: 'ts', title: ago(r.timestamp_ms) }, time(r.timestamp_ms)),
    h('td', { class: 'mono key' }, preview(r.key, r.key_encoding)),
    h('td', { class: 'mono value' }, preview(r.value, r.value_encoding)),
    h('td', { class: 'num' }, bytes(r.size)));
  row.record = r;
  return row;
}

// preview: one line of a key or value for the table.
function preview(s, encoding) {
  if (s === null || s === undefined) return h('span', { class: 'muted' }, 'null');
  if (encoding === 'base64') {
    const b = b64ToBytes(s);
    const head = hex(b.subarray(0, 12)).replace(/\n/g, ' ');
    return h('span', { class: 'bin' }, h('span', { class: 'badge' }, 'binary'), ` ${head}${b.length > 12 ? ' …' : ''}`);
  }
  if (s === '') return h('span', { class: 'muted' }, 'empty');
  const one = s.replace(/\s+/g, ' ');
  return one.length > PREVIEW_CHARS ? `${one.slice(0, PREVIEW_CHARS)}…` : one;
}

export function recordDetail(r) {
  return h('div', { class: 'rec' },
    h('dl', { class: 'rec-meta' },
      metaItem('Partition', String(r.partition)),
      metaItem('Offset', String(r.offset)),
      metaItem('Timestamp', `${time(r.timestamp_ms)} (${r.timestamp_ms})`),
      metaItem('Size', `${bytes(r.size)}`)),
    h('div', { class: 'rec-grid' },
      h('div', { class: 'rec-part' }, h('h3', null, 'Key'), valueView(r.key, r.key_encoding, 'key')),
      h('div', { class: 'rec-part' }, h('h3', null, 'Headers'), headersView(r.headers || []))),
    h('div', { class: 'rec-part' }, h('h3', null, 'Value'), valueView(r.value, r.value_encoding, 'value')));
}

function metaItem(k, v) {
  return h('div', null, h('dt', null, k), h('dd', { class: 'mono' }, v));
}

function headersView(headers) {
  if (!headers.length) return h('p', { class: 'muted' }, 'No headers');
  return h('div', { class: 'table-wrap' }, h('table', { class: 'data compact rec-headers' },
    h('thead', null, h('tr', null, h('th', { scope: 'col' }, 'Name'), h('th', { scope: 'col' }, 'Value'))),
    h('tbody', null, headers.map((hd) => h('tr', null,
      h('td', { class: 'mono' }, hd.key),
      h('td', { class: 'mono' }, hd.value === null ? h('span', { class: 'muted' }, 'null')
        : hd.encoding === 'base64' ? prettyValue(hd.value, 'base64').text : hd.value))))));
}

// valueView: a key or value in full. JSON pretty-printed, text as text,
// binary as hex or base64 with a toggle.
function valueView(s, encoding, what) {
  if (s === null || s === undefined) {
    return h('p', { class: 'muted' }, what === 'value' ? 'null (a tombstone: no value)' : 'null (no key)');
  }
  const v = prettyValue(s, encoding);
  const size = encoding === 'base64' ? b64ToBytes(s).length : new TextEncoder().encode(s).length;
  const pre = h('pre', { class: ['value', `kind-${v.kind}`], dataset: { kind: v.kind }, tabindex: '0' }, v.text);
  const head = h('div', { class: 'rec-kind' }, h('span', { class: 'badge' }, v.kind.toUpperCase()), h('span', { class: 'muted' }, bytes(size)),
    copyButton(pre, what));
  if (v.kind === 'binary') {
    const b64 = encoding === 'base64' ? s : null;
    const seg = h('div', { class: 'seg', role: 'group', 'aria-label': `Show the ${what} as` });
    const show = (mode) => {
      pre.textContent = mode === 'hex' ? v.text : b64;
      pre.dataset.format = mode;
      seg.querySelectorAll('button').forEach((b) => b.setAttribute('aria-pressed', String(b.dataset.mode === mode)));
    };
    for (const mode of ['hex', 'base64']) {
      seg.append(h('button', {
        type: 'button', class: 'seg-btn', 'aria-pressed': String(mode === 'hex'),
        dataset: { mode, testid: `${what}-as-${mode}` }, onclick: () => show(mode),
      }, mode === 'hex' ? 'Hex' : 'Base64'));
    }
    pre.dataset.format = 'hex';
    head.append(seg);
  }
  return h('div', { class: 'rec-value' }, head, pre);
}

// copyButton copies what pre shows. The clipboard API exists only in a
// secure context (https, or localhost): elsewhere there is no button.
function copyButton(pre, what) {
  if (!window.isSecureContext || !navigator.clipboard) return null;
  const btn = h('button', { type: 'button', class: 'btn-link copy', 'aria-label': `Copy the ${what}` }, 'Copy');
  let timer = 0;
  btn.addEventListener('click', async () => {
    try {
      await navigator.clipboard.writeText(pre.textContent);
      btn.textContent = 'Copied';
    } catch {
      btn.textContent = 'Copy failed';
    }
    clearTimeout(timer);
    timer = setTimeout(() => { btn.textContent = 'Copy'; }, 1500);
  });
  return btn;
}
