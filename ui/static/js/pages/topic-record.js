// One record of the message browser: its table row (a one-line preview of
// key and value) and its details (key, headers and value in full: JSON
// pretty-printed, text as text, binary as hex or base64 with a toggle).
// Everything goes in as text nodes: a record's bytes never become markup.
import { h, clear } from '../dom.js';
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

// valueView: a key or value in full. JSON pretty-printed (and coloured),
// with its raw text a click away; text as text; binary as hex or base64.
function valueView(s, encoding, what) {
  if (s === null || s === undefined) {
    return h('p', { class: 'muted' }, what === 'value' ? 'null (a tombstone: no value)' : 'null (no key)');
  }
  const v = prettyValue(s, encoding);
  const size = encoding === 'base64' ? b64ToBytes(s).length : new TextEncoder().encode(s).length;
  const pre = h('pre', { class: ['value', `kind-${v.kind}`], dataset: { kind: v.kind }, tabindex: '0' });
  const head = h('div', { class: 'rec-kind' }, h('span', { class: 'badge' }, v.kind.toUpperCase()), h('span', { class: 'muted' }, bytes(size)),
    copyButton(pre, what));
  const views = {
    hex: () => v.text,
    base64: () => s,
    pretty: () => jsonNodes(v.text),
    raw: () => s,
    text: () => v.text,
  };
  const show = (mode) => {
    clear(pre);
    const out = views[mode]();
    pre.append(...(Array.isArray(out) ? out : [out]));
    pre.dataset.format = mode;
  };
  if (v.kind === 'binary') head.append(segToggle(what, [['hex', 'Hex'], ['base64', 'Base64']], show));
  else if (v.kind === 'json' && encoding !== 'base64') head.append(segToggle(what, [['pretty', 'Pretty'], ['raw', 'Raw']], show));
  show(v.kind === 'binary' ? 'hex' : v.kind === 'json' ? 'pretty' : 'text');
  return h('div', { class: 'rec-value' }, head, pre);
}

// segToggle: buttons that choose one view of a value (the first at start);
// data-testid "{what}-as-{mode}".
function segToggle(what, modes, show) {
  const seg = h('div', { class: 'seg', role: 'group', 'aria-label': `Show the ${what} as` });
  for (const [mode, label] of modes) {
    seg.append(h('button', {
      type: 'button', class: 'seg-btn', 'aria-pressed': String(mode === modes[0][0]),
      dataset: { mode, testid: `${what}-as-${mode}` },
      onclick: () => {
        show(mode);
        seg.querySelectorAll('button').forEach((b) => b.setAttribute('aria-pressed', String(b.dataset.mode === mode)));
      },
    }, label));
  }
  return seg;
}

const JSON_TOKEN = /("(?:[^"\\]|\\.)*")(\s*:)?|(-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?)|\b(true|false|null)\b/g;
const HIGHLIGHT_MAX = 64 * 1024;

// jsonNodes: pretty JSON text as text nodes and spans per token (keys,
// strings, numbers, literals), for colour. Past HIGHLIGHT_MAX it stays
// one text node: thousands of spans would make the page slow.
function jsonNodes(text) {
  if (text.length > HIGHLIGHT_MAX) return text;
  const out = [];
  let last = 0;
  for (const m of text.matchAll(JSON_TOKEN)) {
    if (m.index > last) out.push(text.slice(last, m.index));
    if (m[1] !== undefined) {
      out.push(h('span', { class: m[2] ? 'j-key' : 'j-str' }, m[1]));
      if (m[2]) out.push(m[2]);
    } else if (m[3] !== undefined) {
      out.push(h('span', { class: 'j-num' }, m[3]));
    } else {
      out.push(h('span', { class: 'j-lit' }, m[4]));
    }
    last = m.index + m[0].length;
  }
  if (last < text.length) out.push(text.slice(last));
  return out;
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
