// Number, size, rate, time and value formatting, one place for the whole
// console so every page reads the same.

const intFmt = new Intl.NumberFormat('en-US', { maximumFractionDigits: 0 });
const dec = (n, d) => new Intl.NumberFormat('en-US', { maximumFractionDigits: d, minimumFractionDigits: 0 }).format(n);

const isNum = (n) => typeof n === 'number' && Number.isFinite(n);

// num(1234567) -> "1,234,567"
export function num(n) {
  if (!isNum(n)) return '\u2014';
  return Number.isInteger(n) ? intFmt.format(n) : dec(n, 2);
}

// bytes(1536) -> "1.5 KiB"
export function bytes(n) {
  if (!isNum(n)) return '\u2014';
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'];
  let i = 0;
  let v = Math.abs(n);
  while (v >= 1024 && i < units.length - 1) { v /= 1024; i++; }
  const s = i === 0 ? String(Math.round(v)) : dec(v, v < 10 ? 2 : v < 100 ? 1 : 0);
  return `${n < 0 ? '-' : ''}${s} ${units[i]}`;
}

// compact(1234) -> "1.2k": SI prefixes for counts.
export function compact(n) {
  if (!isNum(n)) return '\u2014';
  const a = Math.abs(n);
  const units = [[1e12, 'T'], [1e9, 'G'], [1e6, 'M'], [1e3, 'k']];
  for (const [d, u] of units) if (a >= d) return `${dec(n / d, a / d < 10 ? 1 : 0)}${u}`;
  return dec(n, a < 1 ? 2 : a < 10 ? 1 : 0);
}

// rate(1234) -> "1.2k/s"
export function rate(n) { return isNum(n) ? `${compact(n)}/s` : '\u2014'; }

// bytesRate(1536) -> "1.5 KiB/s"
export function bytesRate(n) { return isNum(n) ? `${bytes(n)}/s` : '\u2014'; }

// ms(0.42) -> "0.42 ms", ms(1500) -> "1.5 s"
export function ms(n) {
  if (!isNum(n)) return '\u2014';
  if (n >= 1000) return `${dec(n / 1000, 2)} s`;
  if (n >= 10) return `${dec(n, 0)} ms`;
  return `${dec(n, n < 1 ? 2 : 1)} ms`;
}

// duration(3723000) -> "1h 2m": an uptime, a lag in time.
export function duration(msecs) {
  if (!isNum(msecs)) return '\u2014';
  let s = Math.max(0, Math.floor(msecs / 1000));
  const d = Math.floor(s / 86400); s -= d * 86400;
  const hh = Math.floor(s / 3600); s -= hh * 3600;
  const mm = Math.floor(s / 60); s -= mm * 60;
  if (d) return `${d}d ${hh}h`;
  if (hh) return `${hh}h ${mm}m`;
  if (mm) return `${mm}m ${s}s`;
  return `${s}s`;
}

// ago(t) -> "12 s ago" for a Unix-ms time.
export function ago(t) {
  if (!isNum(t)) return '\u2014';
  const d = Date.now() - t;
  if (d < 0) return 'just now';
  if (d < 1000) return 'just now';
  return `${duration(d)} ago`;
}

const pad = (n, w = 2) => String(n).padStart(w, '0');

// time(t) -> "2026-12-06 18:42:33.123" in local time.
export function time(t) {
  if (!isNum(t)) return '\u2014';
  const d = new Date(t);
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}.${pad(d.getMilliseconds(), 3)}`;
}

// clock(t) -> "18:42" (chart axes).
export function clock(t, seconds = false) {
  const d = new Date(t);
  return `${pad(d.getHours())}:${pad(d.getMinutes())}${seconds ? ':' + pad(d.getSeconds()) : ''}`;
}

export function b64ToBytes(s) {
  const bin = atob(s || '');
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}

export function bytesToB64(b) {
  let s = '';
  for (let i = 0; i < b.length; i++) s += String.fromCharCode(b[i]);
  return btoa(s);
}

// hex(bytes) -> "de ad be ef ..." in rows of 16.
export function hex(b) {
  const rows = [];
  for (let i = 0; i < b.length; i += 16) {
    const row = [];
    for (let j = i; j < Math.min(i + 16, b.length); j++) row.push(b[j].toString(16).padStart(2, '0'));
    rows.push(row.join(' '));
  }
  return rows.join('\n');
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

// prettyValue(str, encoding) -> {kind: 'json' | 'text' | 'binary', text,
// bytes?}: JSON pretty-printed, UTF-8 text as it is, anything else as hex
// (bytes are given for a base64 toggle).
export function prettyValue(str, encoding) {
  if (str === null || str === undefined) return { kind: 'text', text: '' };
  let text = str;
  if (encoding === 'base64') {
    const b = b64ToBytes(str);
    try {
      text = utf8.decode(b);
    } catch {
      return { kind: 'binary', text: hex(b), bytes: b };
    }
  }
  const t = text.trim();
  if ((t.startsWith('{') && t.endsWith('}')) || (t.startsWith('[') && t.endsWith(']'))) {
    try { return { kind: 'json', text: JSON.stringify(JSON.parse(t), null, 2) }; } catch { /* not JSON */ }
  }
  return { kind: 'text', text };
}

// plural(3, 'member') -> "3 members"
export function plural(n, word, many = `${word}s`) { return `${num(n)} ${n === 1 ? word : many}`; }
