// Small DOM helpers: build elements, modal dialogs, error boxes. No inline
// styles anywhere (the Content-Security-Policy refuses them): classes, or
// el.style.x from script where a value is computed.

// h(tag, attrs, ...children). attrs: class, dataset {k: v}, on{Event}
// handlers, style {prop: value} (CSSOM), value/checked (set as properties),
// true -> empty attribute, false/null/undefined -> left out, anything else
// as an attribute. children: strings, numbers, nodes, arrays; null skipped.
export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  let value;
  if (attrs) {
    for (const [k, v] of Object.entries(attrs)) {
      if (v === null || v === undefined || v === false) continue;
      if (k === 'class') el.className = Array.isArray(v) ? v.filter(Boolean).join(' ') : v;
      else if (k === 'dataset') { for (const [dk, dv] of Object.entries(v)) if (dv !== null && dv !== undefined) el.dataset[dk] = dv; }
      else if (k === 'style' && typeof v === 'object') Object.assign(el.style, v);
      else if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2).toLowerCase(), v);
      else if (k === 'value') value = v;
      else if (k === 'checked') el.checked = !!v;
      else el.setAttribute(k, v === true ? '' : String(v));
    }
  }
  append(el, children);
  if (value !== undefined) el.value = value; // after the options of a <select>
  return el;
}

function append(el, children) {
  for (const c of children) {
    if (c === null || c === undefined || c === false) continue;
    if (Array.isArray(c)) append(el, c);
    else el.append(c instanceof Node ? c : String(c));
  }
}

export function clear(el) {
  while (el.firstChild) el.removeChild(el.firstChild);
  return el;
}

// alertBox(el, message) shows message (a string or an Error) as a
// [role=alert] box in el, replacing what el held; null clears it.
export function alertBox(el, message, { kind = 'error' } = {}) {
  clear(el);
  if (message === null || message === undefined || message === '') return null;
  const text = message instanceof Error ? message.message : String(message);
  const box = h('div', { role: 'alert', class: `alert alert-${kind}` },
    h('span', { class: 'alert-icon', 'aria-hidden': 'true' }, kind === 'error' ? '!' : 'i'),
    h('span', { class: 'alert-text' }, text));
  el.append(box);
  return box;
}

const FOCUSABLE = 'a[href], button:not([disabled]), input:not([disabled]):not([type=hidden]), select:not([disabled]), textarea:not([disabled]), [tabindex]:not([tabindex="-1"])';

// dialog({title, body, actions}) opens a modal <dialog> and returns a
// Promise of the value of the action clicked (null when closed with Esc or
// the close button). An action is {label, value, kind: 'primary' |
// 'danger' | undefined, testid, disabled, run}: run(dialogEl) is awaited
// before closing; when it throws, its message is shown in the dialog and
// the dialog stays open; when it returns false, the dialog stays open.
// Enter in a text field clicks the first primary action. The promise has
// .dialog (the element) and .close(value).
export function dialog({ title, body, actions = [{ label: 'Close', value: null }], testid, wide = false }) {
  const errors = h('div', { class: 'dialog-errors' });
  const titleId = `dlg-${Math.random().toString(36).slice(2, 9)}`;
  const buttons = actions.map((a) => h('button', {
    type: 'button',
    class: ['btn', a.kind && `btn-${a.kind}`],
    dataset: { testid: a.testid, action: a.value === null || a.value === undefined ? '' : String(a.value) },
    disabled: !!a.disabled,
  }, a.label));
  const close = h('button', { type: 'button', class: 'dialog-close', 'aria-label': 'Close' }, '\u00d7');
  const dlg = h('dialog', { class: ['dialog', wide && 'dialog-wide'], 'aria-labelledby': titleId, dataset: { testid } },
    h('form', { method: 'dialog', class: 'dialog-form', novalidate: true },
      h('header', { class: 'dialog-head' }, h('h2', { id: titleId }, title), close),
      h('div', { class: 'dialog-body' }, body),
      errors,
      h('footer', { class: 'dialog-actions' }, buttons)));
  let settle;
  const done = new Promise((resolve) => { settle = resolve; });
  const opener = document.activeElement;
  let busy = false;
  let settled = false;
  const finish = (value) => {
    if (settled) return;
    settled = true;
    if (dlg.open) dlg.close();
    dlg.remove();
    if (opener && opener.isConnected && typeof opener.focus === 'function') opener.focus();
    settle(value);
  };
  actions.forEach((a, i) => {
    buttons[i].addEventListener('click', async (ev) => {
      ev.preventDefault();
      if (busy) return;
      if (!a.run) { finish(a.value ?? null); return; }
      busy = true;
      buttons.forEach((b) => b.setAttribute('aria-disabled', 'true'));
      buttons[i].classList.add('btn-busy');
      alertBox(errors, null);
      try {
        if ((await a.run(dlg)) !== false) finish(a.value ?? null);
      } catch (e) {
        alertBox(errors, e);
      } finally {
        busy = false;
        buttons.forEach((b) => b.removeAttribute('aria-disabled'));
        buttons[i].classList.remove('btn-busy');
      }
    });
  });
  close.addEventListener('click', (ev) => { ev.preventDefault(); finish(null); });
  dlg.addEventListener('cancel', (ev) => { ev.preventDefault(); if (!busy) finish(null); });
  dlg.addEventListener('close', () => finish(null)); // closed by other means (dlg.close())
  dlg.addEventListener('keydown', (ev) => {
    if (ev.key === 'Enter' && ev.target instanceof HTMLInputElement && ev.target.type !== 'checkbox') {
      const i = actions.findIndex((a) => a.kind === 'primary' || a.kind === 'danger');
      ev.preventDefault();
      if (i >= 0 && !buttons[i].disabled) buttons[i].click();
    } else if (ev.key === 'Tab') {
      // Keep Tab inside the dialog (showModal makes the page inert, but Tab
      // would still leave for the browser's own controls).
      const f = [...dlg.querySelectorAll(FOCUSABLE)].filter((x) => x.offsetParent !== null);
      if (!f.length) return;
      const first = f[0];
      const last = f[f.length - 1];
      if (ev.shiftKey && document.activeElement === first) { ev.preventDefault(); last.focus(); }
      else if (!ev.shiftKey && document.activeElement === last) { ev.preventDefault(); first.focus(); }
    }
  });
  document.body.append(dlg);
  dlg.showModal();
  const bodyEl = dlg.querySelector('.dialog-body');
  const first = dlg.querySelector('[autofocus]') || bodyEl.querySelector(FOCUSABLE) || buttons[0] || close;
  first.focus();
  done.dialog = dlg;
  done.close = finish;
  return done;
}

// field(label, input, hint) wraps a control with its label.
export function field(label, input, hint) {
  if (!input.id) input.id = `f-${Math.random().toString(36).slice(2, 9)}`;
  return h('div', { class: 'field' },
    h('label', { for: input.id }, label),
    input,
    hint ? h('div', { class: 'field-hint' }, hint) : null);
}

// empty(title, text) is the "nothing here" block of a list or chart.
export function empty(title, text) {
  return h('div', { class: 'empty' }, h('div', { class: 'empty-title' }, title), text ? h('div', { class: 'empty-text' }, text) : null);
}

// skeleton(rows) reserves the place of a table while it loads.
export function skeleton(rows = 5) {
  return h('div', { class: 'skeleton', 'aria-hidden': 'true' }, Array.from({ length: rows }, () => h('div', { class: 'skeleton-row' })));
}
