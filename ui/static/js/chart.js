// Hand-written SVG charts: a time-series line chart with axes, legend and
// hover tooltip, and a sparkline. Fixed heights, so live updates never move
// the page.
import { h } from './dom.js';
import { clock } from './format.js';

const NS = 'http://www.w3.org/2000/svg';

function s(tag, attrs = {}, ...children) {
  const el = document.createElementNS(NS, tag);
  for (const [k, v] of Object.entries(attrs)) if (v !== null && v !== undefined) el.setAttribute(k, String(v));
  for (const c of children) if (c) el.append(c);
  return el;
}

// niceScale rounds the top of the axis up to 1, 2, 2.5 or 5 times a power
// of ten (of 1024 units first for sizes, so ticks read 256 KiB, not 244.1
// KiB) and picks the tick count that keeps every tick round.
function niceScale(v, base2 = false) {
  if (!(v > 0)) return { max: 1, ticks: 4 };
  let unit = 1;
  if (base2 && v >= 1024) unit = 1024 ** Math.floor(Math.log(v) / Math.log(1024));
  const x = v / unit;
  const p = 10 ** Math.floor(Math.log10(x));
  for (const m of [1, 2, 2.5, 5, 10]) {
    if (x <= m * p * (1 + 1e-9)) return { max: m * p * unit, ticks: m === 2.5 || m === 5 ? 5 : 4 };
  }
  return { max: 10 * p * unit, ticks: 4 };
}

const PAD = { l: 56, r: 14, t: 12, b: 24 };

// lineChart(container, {series: [{name, color, points: [[t, v|null]...]}],
// yFormat, windowMs, height, minMax (the smallest top of the y axis), base2 (sizes)}) draws into container and returns
// {update(series), maxOf(name), lastOf(name)}. color is any CSS color
// (e.g. 'var(--c1)'); a null value breaks the line.
export function lineChart(container, { series = [], yFormat = String, windowMs = 15 * 60 * 1000, height = 180, title = '', minMax = 1, base2 = false } = {}) {
  container.classList.add('chart');
  const svg = s('svg', { class: 'chart-svg', role: 'img', height, focusable: 'false' });
  const tip = h('div', { class: 'chart-tip', hidden: true });
  const plot = h('div', { class: 'chart-plot' }, svg, tip);
  plot.style.height = `${height}px`;
  const legend = h('div', { class: 'chart-legend' });
  container.append(plot, legend);
  let cur = series;
  let width = 0;
  let geom = null;

  const allPoints = () => cur.flatMap((x) => x.points || []);

  function render() {
    width = Math.max(200, Math.round(plot.clientWidth || container.clientWidth || 600));
    svg.setAttribute('viewBox', `0 0 ${width} ${height}`);
    svg.setAttribute('width', width);
    while (svg.firstChild) svg.removeChild(svg.firstChild);
    const pts = allPoints();
    const tMax = pts.length ? Math.max(...pts.map((p) => p[0])) : Date.now();
    const tMin = tMax - windowMs;
    let vMax = 0;
    for (const p of pts) if (p[0] >= tMin && typeof p[1] === 'number' && p[1] > vMax) vMax = p[1];
    const { max: yMax, ticks } = niceScale(Math.max(vMax, minMax), base2);
    const iw = width - PAD.l - PAD.r;
    const ih = height - PAD.t - PAD.b;
    const x = (t) => PAD.l + ((t - tMin) / windowMs) * iw;
    const y = (v) => PAD.t + ih - (v / yMax) * ih;
    geom = { x, y, tMin, tMax, iw };

    const grid = s('g', { class: 'chart-grid' });
    for (let i = 0; i <= ticks; i++) {
      const v = (yMax * i) / ticks;
      const yy = Math.round(y(v)) + 0.5;
      grid.append(s('line', { x1: PAD.l, x2: width - PAD.r, y1: yy, y2: yy }));
      grid.append(s('text', { x: PAD.l - 8, y: yy + 4, 'text-anchor': 'end', class: 'chart-ylabel' }, document.createTextNode(yFormat(v))));
    }
    // Time ticks on whole minutes: every 5 for 15 minutes, fewer on phones.
    const minute = 60000;
    let step = windowMs >= 10 * minute ? 5 * minute : minute;
    if (iw < 320) step *= 2;
    for (let t = Math.ceil(tMin / step) * step; t <= tMax; t += step) {
      const xx = Math.round(x(t)) + 0.5;
      grid.append(s('line', { x1: xx, x2: xx, y1: PAD.t, y2: PAD.t + ih, class: 'chart-vgrid' }));
      grid.append(s('text', { x: xx, y: height - 6, 'text-anchor': 'middle', class: 'chart-xlabel' }, document.createTextNode(clock(t))));
    }
    svg.append(grid);

    for (const ser of cur) {
      let d = '';
      let pen = false;
      const pts = ser.points || [];
      for (let i = 0; i < pts.length; i++) {
        const [t, v] = pts[i];
        if (t < tMin || typeof v !== 'number') { pen = false; continue; }
        const xy = `${x(t).toFixed(1)},${y(v).toFixed(1)}`;
        // A point alone (the first sample, or between gaps) is a dot.
        const alone = !pen && (i + 1 >= pts.length || typeof pts[i + 1][1] !== 'number');
        d += alone ? `M${xy}h0.01` : `${pen ? 'L' : 'M'}${xy}`;
        pen = !alone;
      }
      const path = s('path', { d: d || 'M0,0', class: 'chart-line', fill: 'none' });
      path.style.stroke = ser.color;
      if (ser.dashed) path.classList.add('chart-dashed');
      if (!d) path.setAttribute('visibility', 'hidden');
      svg.append(path);
    }
    if (!pts.length) {
      svg.append(s('text', { x: PAD.l + iw / 2, y: PAD.t + ih / 2, 'text-anchor': 'middle', class: 'chart-empty' }, document.createTextNode('No data yet')));
    }
    const cursor = s('line', { class: 'chart-cursor', x1: 0, x2: 0, y1: PAD.t, y2: PAD.t + ih, visibility: 'hidden' });
    svg.append(cursor);
    geom.cursor = cursor;

    // Legend: the last value of each series, with its colour.
    while (legend.firstChild) legend.removeChild(legend.firstChild);
    const summary = [];
    for (const ser of cur) {
      const last = lastOf(ser);
      const sw = h('span', { class: ['chart-swatch', ser.dashed && 'chart-swatch-dashed'], 'aria-hidden': 'true' });
      sw.style.background = ser.color;
      sw.style.borderColor = ser.color;
      legend.append(h('span', { class: 'chart-key' }, sw, h('span', { class: 'chart-key-name' }, ser.name),
        h('span', { class: 'chart-key-value num' }, last === null ? '\u2014' : yFormat(last))));
      summary.push(`${ser.name} ${last === null ? 'no data' : yFormat(last)}`);
    }
    svg.setAttribute('aria-label', `${title ? title + ': ' : ''}last ${Math.round(windowMs / 60000)} minutes; now ${summary.join(', ')}; peak ${yFormat(vMax)}`);
  }

  function lastOf(ser) {
    const p = ser.points || [];
    for (let i = p.length - 1; i >= 0; i--) if (typeof p[i][1] === 'number') return p[i][1];
    return null;
  }

  function nearest(points, t) {
    let lo = 0;
    let hi = points.length - 1;
    if (hi < 0) return null;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (points[mid][0] < t) lo = mid + 1; else hi = mid;
    }
    if (lo > 0 && Math.abs(points[lo - 1][0] - t) < Math.abs(points[lo][0] - t)) lo--;
    return points[lo];
  }

  function hover(ev) {
    if (!geom) return;
    const r = svg.getBoundingClientRect();
    const px = ((ev.clientX - r.left) / r.width) * width;
    if (px < PAD.l || px > width - PAD.r) { leave(); return; }
    const t = geom.tMin + ((px - PAD.l) / geom.iw) * windowMs;
    const rows = [];
    let at = null;
    for (const ser of cur) {
      const p = nearest(ser.points || [], t);
      if (!p) continue;
      at = at ?? p[0];
      const sw = h('span', { class: 'chart-swatch', 'aria-hidden': 'true' });
      sw.style.background = ser.color;
      rows.push(h('div', { class: 'chart-tip-row' }, sw, h('span', {}, ser.name), h('span', { class: 'num' }, typeof p[1] === 'number' ? yFormat(p[1]) : '\u2014')));
    }
    if (at === null) { leave(); return; }
    while (tip.firstChild) tip.removeChild(tip.firstChild);
    tip.append(h('div', { class: 'chart-tip-time' }, clock(at, true)), ...rows);
    tip.hidden = false;
    const cx = geom.x(at);
    geom.cursor.setAttribute('x1', cx);
    geom.cursor.setAttribute('x2', cx);
    geom.cursor.setAttribute('visibility', 'visible');
    const left = (cx / width) * r.width;
    tip.style.left = `${Math.min(Math.max(left + 12, 0), r.width - tip.offsetWidth - 4)}px`;
    if (left + 12 + tip.offsetWidth > r.width) tip.style.left = `${Math.max(0, left - tip.offsetWidth - 12)}px`;
  }
  function leave() {
    tip.hidden = true;
    if (geom && geom.cursor) geom.cursor.setAttribute('visibility', 'hidden');
  }
  svg.addEventListener('mousemove', hover);
  svg.addEventListener('mouseleave', leave);

  if (typeof ResizeObserver === 'function') {
    let lastW = 0;
    new ResizeObserver(() => {
      const w = Math.round(plot.clientWidth);
      if (w && w !== lastW) { lastW = w; render(); }
    }).observe(plot);
  }
  render();
  return {
    update(next) { cur = next; render(); },
    maxOf(name) {
      const ser = cur.find((x) => x.name === name);
      let m = 0;
      for (const p of (ser && ser.points) || []) if (typeof p[1] === 'number' && p[1] > m) m = p[1];
      return m;
    },
    lastOf(name) { const ser = cur.find((x) => x.name === name); return ser ? lastOf(ser) : null; },
  };
}

// sparkline(values) -> a small SVG of numbers, oldest first.
export function sparkline(values, { width = 96, height = 24, label = '' } = {}) {
  const vals = (values || []).map((v) => (typeof v === 'number' && Number.isFinite(v) ? v : 0));
  const svg = s('svg', { class: 'spark', width, height, viewBox: `0 0 ${width} ${height}`, role: 'img', 'aria-label': label || `trend, last ${vals.length ? vals[vals.length - 1] : 0}` });
  if (vals.length < 2) {
    svg.append(s('line', { x1: 0, x2: width, y1: height - 1.5, y2: height - 1.5, class: 'spark-flat' }));
    return svg;
  }
  const max = Math.max(...vals) || 1;
  const step = width / (vals.length - 1);
  const pts = vals.map((v, i) => [i * step, height - 1.5 - (v / max) * (height - 3)]);
  const line = pts.map((p, i) => `${i ? 'L' : 'M'}${p[0].toFixed(1)},${p[1].toFixed(1)}`).join('');
  svg.append(s('path', { d: `${line}L${width},${height}L0,${height}Z`, class: 'spark-area' }));
  svg.append(s('path', { d: line, class: 'spark-line', fill: 'none' }));
  return svg;
}
