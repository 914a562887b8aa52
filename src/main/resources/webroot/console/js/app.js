// The console's shell: sign-in (token in sessionStorage), who the caller is (GET /api/v1/me), hash routing to
// pages, and the one way pages show errors. Each page is an ES module in pages/ exporting
// render(view, ctx, params), which may return a cleanup function (close an EventSource, stop an observer).
import {createApi, ApiError} from './api.js';
import {h, errorBox} from './ui.js';

const TOKEN_KEY = 'osprey.token';
const api = createApi(() => sessionStorage.getItem(TOKEN_KEY));
let me = null;
let cleanup = null;

const ctx = {
  api,
  get me() {
    return me;
  },
  /** Whether the signed-in token holds any of the given permissions ('ANN', 'DATASET', 'ADM'). */
  can(...permissions) {
    return !!me && permissions.some((p) => me.permissions.includes(p));
  },
  hasToken() {
    return !!sessionStorage.getItem(TOKEN_KEY);
  },
  navigate(hash) {
    if (location.hash === hash) {
      route();
    } else {
      location.hash = hash;
    }
  },
  notify(message) {
    const n = document.getElementById('notice');
    n.textContent = message;
    n.hidden = false;
    clearTimeout(ctx.noticeTimer);
    ctx.noticeTimer = setTimeout(() => {
      n.hidden = true;
    }, 6000);
  },
  errorBox,
  signOut,
};

const PAGES = {
  signin: () => import('./pages/signin.js'),
  detect: () => import('./pages/detect.js'),
  jobs: () => import('./pages/jobs.js'),
  job: () => import('./pages/job.js'),
  annotations: () => import('./pages/annotations.js'),
  annotation: () => import('./pages/annotation.js'),
  admin: () => import('./pages/admin.js'),
};

/** '#/jobs/123?x=1' -> {page: 'job', params: {id: '123', query: URLSearchParams}} */
function parse(hash) {
  const [path, qs] = (hash.replace(/^#\/?/, '') || 'detect').split('?');
  const parts = path.split('/').filter(Boolean);
  const query = new URLSearchParams(qs || '');
  if (parts[0] === 'jobs' && parts[1]) {
    return {page: 'job', params: {id: decodeURIComponent(parts[1]), query}};
  }
  if (parts[0] === 'annotations' && parts[1]) {
    return {page: 'annotation', params: {id: decodeURIComponent(parts[1]), query}};
  }
  return {page: PAGES[parts[0]] ? parts[0] : 'detect', params: {query}};
}

export async function signIn(token) {
  const previous = sessionStorage.getItem(TOKEN_KEY);
  sessionStorage.setItem(TOKEN_KEY, token.trim());
  try {
    me = await api.json('/api/v1/me');
  } catch (e) {
    if (previous) {
      sessionStorage.setItem(TOKEN_KEY, previous);
    } else {
      sessionStorage.removeItem(TOKEN_KEY);
    }
    throw e;
  }
  renderWho();
  return me;
}

function signOut() {
  sessionStorage.removeItem(TOKEN_KEY);
  me = null;
  renderWho();
  ctx.navigate('#/signin');
}

function renderWho() {
  const who = document.getElementById('who');
  who.replaceChildren();
  if (me && !me.anonymous) {
    who.append(h('span', {class: 'subject', 'data-subject': me.subject}, me.subject), ' ',
        ...me.permissions.map((p) => h('span', {class: 'perm', 'data-permission': p, title: 'Permission ' + p}, p)),
        ' ', h('button', {type: 'button', class: 'link', onclick: signOut}, 'Sign out'));
  } else {
    who.append(h('a', {href: '#/signin'}, 'Sign in'));
  }
  document.querySelectorAll('[data-needs]').forEach((a) => {
    const needs = a.dataset.needs.split(' ');
    const allowed = needs.includes('token') ? !!me && !me.anonymous : ctx.can(...needs);
    a.hidden = !allowed;
  });
}

async function route() {
  const {page, params} = parse(location.hash);
  if (cleanup) {
    try {
      cleanup();
    } catch (e) {
      // a page's cleanup failing must not stop the next page
    }
    cleanup = null;
  }
  document.querySelectorAll('[data-nav]').forEach((a) => {
    const current = a.dataset.nav === page || (a.dataset.nav + 's' === page) ||
        (page === 'job' && a.dataset.nav === 'jobs') || (page === 'annotation' && a.dataset.nav === 'annotations');
    if (current) {
      a.setAttribute('aria-current', 'page');
    } else {
      a.removeAttribute('aria-current');
    }
  });
  const view = document.getElementById('view');
  view.replaceChildren(h('p', {class: 'muted'}, 'Loading…'));
  try {
    const module = await PAGES[page]();
    view.replaceChildren();
    view.dataset.page = page;
    const done = await module.render(view, ctx, params);
    cleanup = typeof done === 'function' ? done : null;
  } catch (e) {
    view.replaceChildren(errorBox(e instanceof ApiError ? e : new ApiError(0, 'CONSOLE', String(e.message || e))));
  }
  view.focus({preventScroll: true});
}

async function start() {
  if (sessionStorage.getItem(TOKEN_KEY)) {
    try {
      me = await api.json('/api/v1/me');
    } catch (e) {
      sessionStorage.removeItem(TOKEN_KEY);
      me = null;
    }
  }
  if (!me) {
    try {
      me = await api.json('/api/v1/me'); // anonymous, where the detection API allows it
    } catch (e) {
      me = null;
    }
  }
  renderWho();
  window.addEventListener('hashchange', route);
  if (!me || me.anonymous) {
    if (!location.hash || location.hash === '#/') {
      location.hash = '#/signin';
      return; // the hashchange routes
    }
  }
  route();
}

start();
