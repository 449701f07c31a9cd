// The REST API from the browser: JSON in and out, the user's credentials
// (kept in sessionStorage) on every call, and a sign-in when a call answers
// 401. Server-sent events are read with fetch + ReadableStream because
// EventSource cannot send an Authorization header.

const AUTH_KEY = 'zombi.authorization';

export class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.name = 'ApiError';
    this.status = status;
  }
}

export const enc = encodeURIComponent;

let signInHandler = null;
let signingIn = null;

// app.js registers the dialog that asks for credentials: fn(reason) ->
// Promise that resolves once signed in and rejects when the user gives up.
export function onSignIn(fn) { signInHandler = fn; }

export function authorization() {
  try { return sessionStorage.getItem(AUTH_KEY); } catch { return null; }
}
export function setAuthorization(value) {
  if (value) declined = false;
  try {
    if (value) sessionStorage.setItem(AUTH_KEY, value);
    else sessionStorage.removeItem(AUTH_KEY);
  } catch { /* storage off: credentials last for this page only */ }
  authListeners.forEach((fn) => fn(value));
}
const authListeners = new Set();
export function onAuthChange(fn) { authListeners.add(fn); return () => authListeners.delete(fn); }

// declined: the user closed the sign-in dialog. Background refreshes then
// fail with 401 instead of opening it again and again; a page change or the
// sign-in button (app.js) asks again.
let declined = false;
export function promptAgain() { declined = false; }

// One dialog for every call that got a 401 meanwhile.
function signIn(reason) {
  if (!signInHandler || declined) return Promise.reject(new ApiError(401, reason || 'sign-in needed'));
  if (!signingIn) {
    signingIn = signInHandler(reason)
      .catch((e) => { declined = true; throw e; })
      .finally(() => { signingIn = null; });
  }
  return signingIn;
}

function headers(extra) {
  const h = { ...extra };
  const a = authorization();
  if (a) h.Authorization = a;
  return h;
}

async function errorOf(res) {
  let msg = `${res.status} ${res.statusText}`.trim();
  try {
    const text = await res.text();
    try {
      const j = JSON.parse(text);
      if (j && typeof j.error === 'string') msg = j.error;
      else if (j && j.error && typeof j.error.message === 'string') msg = j.error.message;
    } catch {
      if (text.trim()) msg = text.trim().slice(0, 300);
    }
  } catch { /* body unreadable: keep the status line */ }
  return new ApiError(res.status, msg);
}

async function call(method, path, body, signal) {
  for (;;) {
    const init = { method, signal, cache: 'no-store', credentials: 'omit', headers: headers({ Accept: 'application/json' }) };
    if (body !== undefined) {
      init.headers['Content-Type'] = 'application/json';
      init.body = JSON.stringify(body);
    }
    let res;
    try {
      res = await fetch(path, init);
    } catch (e) {
      if (e.name === 'AbortError') throw e;
      throw new ApiError(0, `cannot reach the server (${e.message})`);
    }
    if (res.status === 401) {
      const err = await errorOf(res);
      await signIn(err.message); // rejects when the user cancels
      continue;
    }
    if (!res.ok) throw await errorOf(res);
    if (res.status === 204) return null;
    const text = await res.text();
    if (!text) return null;
    try { return JSON.parse(text); } catch { return text; }
  }
}

// get(path) -> parsed JSON. Throws ApiError{status, message}.
export function get(path, signal) { return call('GET', path, undefined, signal); }

// send(method, path, body) -> parsed JSON, or null for 204.
export function send(method, path, body, signal) { return call(method, path, body, signal); }

// stream(path, onEvent(type, data), signal[, {onState}]) reads a
// text/event-stream until signal aborts, reconnecting 2 s after the
// connection drops. path may be a function, asked again at each
// (re)connection (a tail that says where it was). data is parsed JSON (the raw text when it is not).
// A 4xx other than 401 rejects (no point retrying a 404). onState('open')
// after each connection, onState('retry', message) before each wait.
export async function stream(path, onEvent, signal, { onState } = {}) {
  const state = (s, m) => { try { onState && onState(s, m); } catch { /* a listener's bug is not the stream's */ } };
  while (!signal || !signal.aborted) {
    let res;
    try {
      res = await fetch(typeof path === 'function' ? path() : path, { signal, cache: 'no-store', credentials: 'omit', headers: headers({ Accept: 'text/event-stream' }) });
    } catch (e) {
      if (signal && signal.aborted) return;
      state('retry', `cannot reach the server (${e.message})`);
      await sleep(2000, signal);
      continue;
    }
    if (res.status === 401) {
      await signIn((await errorOf(res)).message);
      continue;
    }
    if (res.status >= 400 && res.status < 500) throw await errorOf(res);
    if (!res.ok || !res.body) {
      state('retry', (await errorOf(res)).message);
      await sleep(2000, signal);
      continue;
    }
    state('open');
    try {
      await readEvents(res.body, onEvent);
    } catch (e) {
      if (signal && signal.aborted) return;
      state('retry', e.message);
    }
    if (signal && signal.aborted) return;
    state('retry', 'the stream ended');
    await sleep(2000, signal);
  }
}

async function readEvents(body, onEvent) {
  const reader = body.pipeThrough(new TextDecoderStream()).getReader();
  let buf = '';
  let type = '';
  let data = [];
  const dispatch = () => {
    if (data.length) {
      const raw = data.join('\n');
      let v = raw;
      try { v = JSON.parse(raw); } catch { /* not JSON: the text */ }
      onEvent(type || 'message', v);
    }
    type = '';
    data = [];
  };
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buf += value;
    let nl;
    while ((nl = buf.search(/\r\n|\r|\n/)) >= 0) {
      const line = buf.slice(0, nl);
      buf = buf.slice(nl + (buf[nl] === '\r' && buf[nl + 1] === '\n' ? 2 : 1));
      if (line === '') { dispatch(); continue; }
      if (line[0] === ':') continue; // a comment: the server's ping
      const colon = line.indexOf(':');
      const field = colon < 0 ? line : line.slice(0, colon);
      let val = colon < 0 ? '' : line.slice(colon + 1);
      if (val[0] === ' ') val = val.slice(1);
      if (field === 'event') type = val;
      else if (field === 'data') data.push(val);
    }
  }
}

function sleep(ms, signal) {
  return new Promise((resolve) => {
    // The abort listener goes with the timer, so that a stream that
    // reconnects for hours does not pile listeners on its signal.
    const onAbort = () => { clearTimeout(t); resolve(); };
    const t = setTimeout(() => {
      if (signal) signal.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    if (signal) signal.addEventListener('abort', onAbort, { once: true });
  });
}
