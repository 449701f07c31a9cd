// The console's shell: routes the five page addresses to their modules,
// keeps the nav and the title in step, asks for credentials when the API
// answers 401, and shows who is signed in.
import { onSignIn, authorization, setAuthorization, onAuthChange, promptAgain, ApiError } from './api.js';
import { h, clear, dialog, alertBox, field } from './dom.js';
import { bytesToB64 } from './format.js';

const BASE = '/ui';

const TITLES = { overview: 'Overview', topics: 'Topics', topic: 'Topic', groups: 'Groups', group: 'Group', notfound: 'Not found' };

// route(url) -> {name, params, query} for a path under /ui/.
export function route(url) {
  const u = new URL(url, location.origin);
  let p = u.pathname.startsWith(BASE) ? u.pathname.slice(BASE.length) : u.pathname;
  p = p.replace(/\/+$/, '');
  const seg = p.split('/').filter(Boolean).map((x) => { try { return decodeURIComponent(x); } catch { return x; } });
  let r = { name: 'notfound', params: {} };
  if (seg.length === 0) r = { name: 'overview', params: {} };
  else if (seg[0] === 'topics' && seg.length === 1) r = { name: 'topics', params: {} };
  else if (seg[0] === 'topics' && seg.length === 2) r = { name: 'topic', params: { name: seg[1] } };
  else if (seg[0] === 'groups' && seg.length === 1) r = { name: 'groups', params: {} };
  else if (seg[0] === 'groups' && seg.length === 2) r = { name: 'group', params: { name: seg[1] } };
  r.query = u.searchParams;
  return r;
}

let cleanup = null;
let seq = 0;

const app = {
  // navigate(url, {replace}) changes page through the history API.
  navigate(url, { replace = false } = {}) {
    const u = new URL(url, location.href);
    if (u.origin !== location.origin || !u.pathname.startsWith(BASE)) { location.assign(u.href); return; }
    if (replace) history.replaceState(null, '', u.pathname + u.search + u.hash);
    else history.pushState(null, '', u.pathname + u.search + u.hash);
    show();
  },
  // setQuery({k: v}) replaces the current page's query string without
  // rendering it again (null, undefined and '' drop a key).
  setQuery(obj) {
    const q = new URLSearchParams();
    for (const [k, v] of Object.entries(obj || {})) if (v !== null && v !== undefined && v !== '') q.set(k, String(v));
    const s = q.toString();
    history.replaceState(null, '', location.pathname + (s ? `?${s}` : '') + location.hash);
  },
  // setTitle(text) names the page (after a page knows what it shows).
  setTitle(text) { document.title = text ? `${text} \u00b7 Zombi` : 'Zombi Console'; },
  route,
};

async function show() {
  const my = ++seq;
  promptAgain();
  if (cleanup) {
    try { cleanup(); } catch (e) { console.warn('page cleanup', e); }
    cleanup = null;
  }
  const r = route(location.href);
  const old = document.querySelector('main');
  const main = h('main', { dataset: { page: r.name }, id: 'main', tabindex: '-1' });
  old.replaceWith(main);
  for (const a of document.querySelectorAll('[data-nav]')) {
    const on = a.dataset.nav === r.name || `${a.dataset.nav}` === `${r.name}s`;
    if (on) a.setAttribute('aria-current', 'page'); else a.removeAttribute('aria-current');
  }
  app.setTitle(r.params.name ? `${r.params.name} \u00b7 ${TITLES[r.name]}` : TITLES[r.name]);
  if (r.name === 'notfound') {
    main.append(h('div', { class: 'page-head' }, h('h1', {}, 'Page not found')),
      h('p', { class: 'muted' }, 'There is no page at ', h('code', {}, location.pathname), '. ',
        h('a', { href: `${BASE}/` }, 'Go to the overview'), '.'));
    main.dataset.ready = 'true';
    return;
  }
  try {
    const mod = await import(`./pages/${r.name}.js`);
    if (my !== seq) return;
    const c = await mod.default(main, r, app);
    if (my !== seq) { if (typeof c === 'function') c(); return; }
    cleanup = typeof c === 'function' ? c : null;
  } catch (e) {
    if (my !== seq || e.name === 'AbortError') return;
    console.warn('page', r.name, e);
    const box = h('div', { class: 'page-error' });
    main.append(box);
    alertBox(box, e instanceof ApiError ? e : `This page failed to load: ${e.message}`);
  }
}

// Links to /ui/ pages change page without reloading.
document.addEventListener('click', (ev) => {
  if (ev.defaultPrevented || ev.button !== 0 || ev.metaKey || ev.ctrlKey || ev.shiftKey || ev.altKey) return;
  const a = ev.target.closest && ev.target.closest('a[href]');
  if (!a || a.target || a.hasAttribute('download')) return;
  const u = new URL(a.href, location.href);
  // In-page anchors (the skip link) are the browser's.
  if (u.hash && u.pathname === location.pathname && u.search === location.search) return;
  if (u.origin !== location.origin || !(u.pathname === BASE || u.pathname.startsWith(`${BASE}/`)) || u.pathname.startsWith(`${BASE}/assets/`)) return;
  ev.preventDefault();
  if (u.pathname + u.search === location.pathname + location.search) return;
  app.navigate(u.href);
  document.getElementById('main')?.focus({ preventScroll: true });
  window.scrollTo(0, 0);
});
window.addEventListener('popstate', show);

// Sign-in: user + password (Basic) or a token (Bearer), checked against
// GET /auth/whoami before it is kept in sessionStorage.
// needsAuth: a call was refused for want of credentials and the dialog was
// closed: the top bar then offers a sign-in button.
let needsAuth = false;

function askCredentials(reason) {
  // Credentials kept from before and now refused (an expired token, a
  // changed password) are forgotten.
  const refused = !!authorization();
  if (refused) setAuthorization(null);
  const user = h('input', { id: 'signin-user', type: 'text', autocomplete: 'username', autocapitalize: 'off', spellcheck: 'false' });
  const pw = h('input', { id: 'signin-password', type: 'password', autocomplete: 'current-password' });
  const token = h('input', { id: 'signin-token', type: 'password', autocomplete: 'off', spellcheck: 'false' });
  const body = [
    h('p', { class: 'muted dialog-lead' }, refused
      ? `This server refused the credentials of this tab (${reason}). Sign in again.`
      : 'This server asks who you are: a user and password (the same users as SASL/SCRAM on the Kafka port), or an API token.'),
    field('User', user),
    field('Password', pw),
    h('div', { class: 'or' }, h('span', {}, 'or')),
    field('API token', token, 'Made with POST /auth/tokens or zombi token create; sent as Authorization: Bearer.'),
  ];
  const p = dialog({
    title: 'Sign in to Zombi',
    body,
    testid: 'signin',
    actions: [{
      label: 'Sign in', value: 'ok', kind: 'primary', testid: 'signin-submit',
      run: async () => {
        let header;
        if (token.value.trim()) header = `Bearer ${token.value.trim()}`;
        else if (user.value) header = `Basic ${bytesToB64(new TextEncoder().encode(`${user.value}:${pw.value}`))}`;
        else throw new Error('Enter a user and password, or a token.');
        const res = await fetch('/auth/whoami', { headers: { Authorization: header, Accept: 'application/json' }, cache: 'no-store', credentials: 'omit' });
        if (res.status === 401) throw new Error('Wrong user, password or token.');
        if (!res.ok) throw new Error(`The server answered ${res.status}.`);
        setAuthorization(header);
        return true;
      },
    }],
  });
  return p.then((v) => {
    if (v !== 'ok') {
      needsAuth = true;
      refreshSession();
      throw new ApiError(401, 'sign-in needed: this server asks for credentials');
    }
    needsAuth = false;
  });
}
onSignIn(askCredentials);

// The principal and sign-out in the top bar.
async function refreshSession() {
  const box = document.getElementById('session');
  if (!box) return;
  clear(box);
  if (!authorization()) {
    if (needsAuth) {
      box.append(h('button', { type: 'button', class: 'btn btn-primary btn-sm', dataset: { testid: 'signin' },
        onclick: () => { promptAgain(); askCredentials('').then(show, () => {}); } }, 'Sign in'));
    }
    return;
  }
  let who;
  try {
    const res = await fetch('/auth/whoami', { headers: { Authorization: authorization(), Accept: 'application/json' }, cache: 'no-store', credentials: 'omit' });
    if (!res.ok) return;
    who = await res.json();
  } catch { return; }
  clear(box);
  box.append(
    h('span', { class: 'principal', dataset: { testid: 'principal' }, title: who.superuser ? 'superuser' : null },
      h('span', { class: 'principal-dot', 'aria-hidden': 'true' }), who.principal),
    h('button', { type: 'button', class: 'btn btn-ghost btn-sm', dataset: { testid: 'signout' }, onclick: signOut }, 'Sign out'));
}

function signOut() {
  setAuthorization(null);
  show();
}

onAuthChange(() => { refreshSession(); });
refreshSession();
show();

export default app;
