// Annotations: the list filters and paging of GET /annotations as a grid of lazily fetched thumbnails, dataset
// status changes for DATASET (PATCH /dataset/{id}/status for one, POST /dataset/bulk-status for several), and a live
// feed of every change from GET /annotations/events that also keeps the grid current without a reload.
import {h, field, errorBox, fmtTime} from '../ui.js';
import {STATUSES, ensureStyles, mayChangeStatus, mayFollow, shortId} from '../review.js';

const FILTERS = ['flightId', 'waypointId', 'status', 'source', 'from', 'to'];
const PAGE_SIZES = [24, 48, 96];
const FEED_MAX = 100;
/** Quiet time after a reconnect before the replay of missed events counts as finished. */
const SETTLE_MS = 800;

export async function render(view, ctx, params) {
  await ensureStyles();
  const q = params.query || new URLSearchParams();
  const state = {
    filters: Object.fromEntries(FILTERS.map((k) => [k, q.get(k) || ''])),
    page: Math.max(1, parseInt(q.get('page'), 10) || 1),
    pageSize: PAGE_SIZES.includes(parseInt(q.get('pageSize'), 10)) ? parseInt(q.get('pageSize'), 10) : PAGE_SIZES[0],
    totalCount: 0,
    totalPages: 0,
    items: new Map(), // id -> annotation shown on this page
    selected: new Set(),
    previous: new Map(), // id -> status before this session validated it ("Un-validate" goes back to it)
  };
  const canStatus = mayChangeStatus(ctx);
  const urls = new Set(); // object URLs of thumbnails, revoked on leaving
  let disposed = false;

  // ---------------------------------------------------------------- filters

  const inputs = {
    flightId: h('input', {type: 'text', name: 'flightId', autocomplete: 'off'}),
    waypointId: h('input', {type: 'text', name: 'waypointId', autocomplete: 'off'}),
    status: h('select', {name: 'status'}, h('option', {value: ''}, 'Any but Deleted'),
        STATUSES.map((s) => h('option', {value: s}, s))),
    source: h('select', {name: 'source'}, h('option', {value: ''}, 'Any'), h('option', {value: 'AI'}, 'AI'),
        h('option', {value: 'Manual'}, 'Manual')),
    from: h('input', {type: 'date', name: 'from'}),
    to: h('input', {type: 'date', name: 'to'}),
  };
  const pageSize = h('select', {name: 'pageSize'}, PAGE_SIZES.map((n) => h('option', {value: n}, String(n))));
  FILTERS.forEach((k) => {
    inputs[k].value = state.filters[k];
  });
  pageSize.value = String(state.pageSize);
  const filterForm = h('form', {class: 'card filters', id: 'annotation-filters', 'aria-label': 'Filters',
    onsubmit: (e) => {
      e.preventDefault();
      FILTERS.forEach((k) => {
        state.filters[k] = inputs[k].value.trim();
      });
      state.pageSize = parseInt(pageSize.value, 10);
      state.page = 1;
      load();
    }},
  h('div', {class: 'grid-form'},
      field('Flight', inputs.flightId),
      field('Waypoint', inputs.waypointId),
      field('Status', inputs.status),
      field('Source', inputs.source),
      field('Created from', inputs.from, 'UTC date'),
      field('Created to (inclusive)', inputs.to, 'UTC date'),
      field('Per page', pageSize)),
  h('div', {class: 'actions'},
      h('button', {type: 'submit', id: 'apply-filters'}, 'Apply filters'),
      h('button', {type: 'button', class: 'secondary', onclick: () => {
        FILTERS.forEach((k) => {
          inputs[k].value = '';
        });
        filterForm.requestSubmit();
      }}, 'Clear')));

  // ---------------------------------------------------------------- status toolbar (DATASET)

  const selectAll = h('input', {type: 'checkbox', id: 'select-page'});
  const selectedCount = h('span', {id: 'selected-count', 'aria-live': 'polite'}, '0 selected');
  const newStatus = h('select', {id: 'bulk-status'}, STATUSES.map((s) => h('option', {value: s}, s)));
  newStatus.value = 'Validated';
  const applyStatus = h('button', {type: 'button', id: 'apply-status', disabled: true,
    onclick: () => changeStatus([...state.selected], newStatus.value)}, 'Set status');
  const toolbar = canStatus ? h('div', {class: 'card toolbar', id: 'status-toolbar', role: 'group',
    'aria-label': 'Dataset status of the selected annotations'},
  h('span', {class: 'check'}, selectAll, h('label', {for: 'select-page'}, 'Select all on this page')),
  selectedCount,
  h('span', {class: 'inline-field'}, h('label', {for: 'bulk-status'}, 'New status'), newStatus),
  applyStatus) : null;
  selectAll.addEventListener('change', () => {
    state.items.forEach((a, id) => select(id, selectAll.checked));
  });

  // ---------------------------------------------------------------- grid, paging, feed

  const message = h('div', {id: 'annotations-message', 'aria-live': 'polite'});
  const summary = h('p', {class: 'muted', id: 'annotations-summary', 'aria-live': 'polite'});
  const grid = h('div', {class: 'gallery ann-grid', id: 'annotation-grid', 'aria-busy': 'true'});
  const prev = h('button', {type: 'button', class: 'secondary', id: 'page-prev', onclick: () => go(state.page - 1)},
      '← Previous');
  const next = h('button', {type: 'button', class: 'secondary', id: 'page-next', onclick: () => go(state.page + 1)},
      'Next →');
  const pageLabel = h('span', {id: 'page-label'});
  const pager = h('nav', {class: 'pager', 'aria-label': 'Pages'}, prev, pageLabel, next);

  const feedState = h('p', {id: 'feed-state', class: 'feed-state', 'data-feed-state': 'connecting', role: 'status'},
      'Connecting…');
  const feedList = h('ol', {id: 'feed-list', class: 'feed-list'});
  const reconnect = h('button', {type: 'button', class: 'secondary', id: 'feed-reconnect', hidden: true,
    onclick: () => connect()}, 'Reconnect');
  const feed = h('section', {class: 'card feed', id: 'live-feed', 'aria-labelledby': 'feed-title'},
      h('h2', {id: 'feed-title'}, 'Live feed'), feedState, reconnect, feedList);

  view.append(h('h1', {}, 'Annotations'), filterForm, h('div', {class: 'split review-split'},
      h('div', {}, toolbar, message, summary, grid, pager), feed));

  // Thumbnails are fetched only when their card comes near the screen (an <img> cannot send the token).
  const observer = new IntersectionObserver((entries) => {
    entries.forEach((entry) => {
      if (entry.isIntersecting) {
        observer.unobserve(entry.target);
        loadThumbnail(entry.target);
      }
    });
  }, {rootMargin: '200px'});

  async function loadThumbnail(img) {
    try {
      const url = await ctx.api.objectUrl('/annotations/' + encodeURIComponent(img.dataset.id) + '/thumbnail');
      if (disposed) {
        URL.revokeObjectURL(url);
        return;
      }
      urls.add(url);
      img.src = url;
      img.dataset.loaded = 'true';
    } catch (e) {
      img.replaceWith(h('span', {class: 'no-thumb', title: e.message + (e.requestId ? ' (request id ' + e.requestId
          + ')' : '')}, 'No thumbnail'));
    }
  }

  function query() {
    const p = new URLSearchParams();
    Object.entries(state.filters).forEach(([k, v]) => {
      if (!v) {
        return;
      }
      if (k === 'to') {
        // The server's "to" is exclusive; the field means the whole day.
        const d = new Date(v + 'T00:00:00Z');
        d.setUTCDate(d.getUTCDate() + 1);
        p.set('to', d.toISOString().slice(0, 10));
      } else {
        p.set(k, v);
      }
    });
    return p;
  }

  function rememberInUrl() {
    const p = new URLSearchParams();
    Object.entries(state.filters).forEach(([k, v]) => v && p.set(k, v));
    if (state.page > 1) {
      p.set('page', state.page);
    }
    if (state.pageSize !== PAGE_SIZES[0]) {
      p.set('pageSize', state.pageSize);
    }
    const hash = '#/annotations' + (p.toString() ? '?' + p : '');
    if (location.hash !== hash) {
      history.replaceState(null, '', hash); // no hashchange: the page stays, its feed stays connected
    }
  }

  function go(page) {
    state.page = Math.max(1, page);
    load();
  }

  let loading = 0;
  async function load() {
    const ticket = ++loading;
    rememberInUrl();
    grid.setAttribute('aria-busy', 'true');
    message.replaceChildren();
    const p = query();
    p.set('page', state.page);
    p.set('pageSize', state.pageSize);
    let result;
    try {
      result = await ctx.api.json('/annotations?' + p);
    } catch (e) {
      if (ticket === loading) {
        message.replaceChildren(errorBox(e));
        grid.setAttribute('aria-busy', 'false');
      }
      return;
    }
    if (ticket !== loading || disposed) {
      return;
    }
    state.totalCount = result.totalCount;
    state.totalPages = result.totalPages;
    state.items.clear();
    state.selected.clear();
    grid.querySelectorAll('img[src^="blob:"]').forEach((img) => {
      URL.revokeObjectURL(img.src);
      urls.delete(img.src);
    });
    grid.replaceChildren(...result.items.map(card));
    grid.setAttribute('aria-busy', 'false');
    if (!result.items.length) {
      grid.append(h('p', {class: 'muted empty'}, 'No annotations match these filters.'));
    }
    updateSelection();
    updatePaging();
  }

  function updatePaging() {
    summary.textContent = state.totalCount + ' annotation' + (state.totalCount === 1 ? '' : 's');
    pageLabel.textContent = 'Page ' + (state.totalPages ? state.page : 0) + ' of ' + state.totalPages;
    prev.disabled = state.page <= 1;
    next.disabled = state.page >= state.totalPages;
  }

  // ---------------------------------------------------------------- cards

  function card(a) {
    state.items.set(a.id, a);
    const name = a.name || shortId(a.id);
    const img = h('img', {alt: 'Thumbnail of ' + name, 'data-id': a.id, width: 180, height: 135});
    observer.observe(img);
    const status = h('span', {class: 'pill status ' + a.status, 'data-status': a.status}, a.status);
    const boxes = (a.detections || []).length;
    const fig = h('figure', {class: 'ann-card', 'data-id': a.id, 'data-status': a.status},
        h('a', {href: '#/annotations/' + encodeURIComponent(a.id), class: 'thumb', tabindex: '-1',
          'aria-hidden': 'true'}, img),
        h('figcaption', {},
            h('div', {class: 'card-head'},
                canStatus ? h('span', {class: 'check'},
                    h('input', {type: 'checkbox', id: 'sel-' + a.id, class: 'select', 'data-id': a.id,
                      onchange: (e) => select(a.id, e.target.checked)}),
                    h('label', {for: 'sel-' + a.id, class: 'visually-hidden'}, 'Select ' + name)) : null,
                h('a', {href: '#/annotations/' + encodeURIComponent(a.id), class: 'name', title: name}, name),
                status),
            h('div', {class: 'muted'}, [a.flightId && 'flight ' + a.flightId, a.waypointId && 'wp ' + a.waypointId,
              a.source, boxes + (boxes === 1 ? ' box' : ' boxes')].filter(Boolean).join(' · ')),
            h('div', {class: 'muted'}, h('time', {datetime: a.createdAt}, fmtTime(a.createdAt))),
            canStatus ? quickStatus(a) : null));
    return fig;
  }

  /** One click to validate, or to take a validation back (to the status it had, when this page set it). */
  function quickStatus(a) {
    const validated = a.status === 'Validated';
    const back = state.previous.get(a.id) || 'Created';
    return h('div', {class: 'actions'}, h('button', {type: 'button', class: validated ? 'secondary small' : 'small',
      'data-action': validated ? 'unvalidate' : 'validate', 'data-id': a.id,
      title: validated ? 'Set the status back to ' + back : 'Set the status to Validated',
      onclick: () => changeStatus([a.id], validated ? back : 'Validated')}, validated ? 'Un-validate' : 'Validate'));
  }

  function replaceCard(a) {
    const old = grid.querySelector(`figure[data-id="${a.id}"]`);
    if (!old) {
      return;
    }
    const img = old.querySelector('img');
    if (img) {
      observer.unobserve(img);
    }
    const fresh = card(a);
    const freshImg = fresh.querySelector('img');
    if (img && img.dataset.loaded) {
      observer.unobserve(freshImg);
      freshImg.replaceWith(img); // keep the thumbnail already fetched
    }
    const box = old.querySelector('input.select');
    if (box && box.checked) {
      fresh.querySelector('input.select').checked = true;
    }
    old.replaceWith(fresh);
  }

  function select(id, on) {
    if (on) {
      state.selected.add(id);
    } else {
      state.selected.delete(id);
    }
    const box = grid.querySelector(`input.select[data-id="${id}"]`);
    if (box) {
      box.checked = on;
    }
    updateSelection();
  }

  function updateSelection() {
    if (!canStatus) {
      return;
    }
    const n = state.selected.size;
    selectedCount.textContent = n + ' selected';
    applyStatus.disabled = n === 0;
    applyStatus.textContent = n > 1 ? 'Set status of ' + n : 'Set status';
    selectAll.checked = n > 0 && n === state.items.size;
  }

  async function changeStatus(ids, status) {
    if (!ids.length) {
      return;
    }
    message.replaceChildren();
    applyStatus.disabled = true;
    try {
      let changed;
      let notFound = [];
      if (ids.length === 1) {
        await ctx.api.json('/dataset/' + encodeURIComponent(ids[0]) + '/status', {method: 'PATCH', body: {status}});
        changed = ids;
      } else {
        const r = await ctx.api.json('/dataset/bulk-status', {method: 'POST', body: {annotationIds: ids, status}});
        changed = ids.filter((id) => !r.notFound.includes(id));
        notFound = r.notFound;
      }
      changed.forEach((id) => {
        const a = state.items.get(id);
        if (a) {
          if (status === 'Validated' && a.status !== 'Validated') {
            state.previous.set(id, a.status);
          }
          replaceCard(Object.assign({}, a, {status}));
        }
        state.selected.delete(id);
      });
      ctx.notify(changed.length + (changed.length === 1 ? ' annotation' : ' annotations') + ' set to ' + status
          + (notFound.length ? '; not found: ' + notFound.join(', ') : ''));
    } catch (e) {
      message.replaceChildren(errorBox(e));
    }
    updateSelection();
  }

  // ---------------------------------------------------------------- live feed

  /** Whether an annotation belongs on this page's listing (what the server's filters would say). */
  function matches(a) {
    const f = state.filters;
    if (f.flightId && a.flightId !== f.flightId || f.waypointId && a.waypointId !== f.waypointId) {
      return false;
    }
    if (f.status ? a.status !== f.status : a.status === 'Deleted') {
      return false;
    }
    if (f.source && a.source !== f.source) {
      return false;
    }
    const day = (a.createdAt || '').slice(0, 10);
    return !(f.from && day < f.from) && !(f.to && day > f.to);
  }

  // New annotations are shown on page 1 as they come; a burst (a job's hundreds) reloads the page instead.
  const arrivals = [];
  let arrivalTimer = null;
  function arrived(id) {
    arrivals.push(id);
    if (!arrivalTimer) {
      arrivalTimer = setTimeout(flushArrivals, 300);
    }
  }

  async function flushArrivals() {
    arrivalTimer = null;
    const ids = arrivals.splice(0).filter((id) => !state.items.has(id));
    if (disposed || state.page !== 1 || !ids.length) {
      return;
    }
    if (ids.length > 8) {
      load();
      return;
    }
    for (const id of ids) {
      try {
        const a = await ctx.api.json('/annotations/' + encodeURIComponent(id));
        if (disposed || !matches(a) || state.items.has(a.id)) {
          continue;
        }
        grid.querySelector('.empty')?.remove();
        grid.prepend(card(a));
        state.totalCount++;
        state.totalPages = Math.ceil(state.totalCount / state.pageSize);
        const cards = grid.querySelectorAll('figure.ann-card');
        if (cards.length > state.pageSize) {
          const last = cards[cards.length - 1];
          state.items.delete(last.dataset.id);
          state.selected.delete(last.dataset.id);
          last.remove();
        }
        updatePaging();
        updateSelection();
      } catch (e) {
        // deleted again or purged meanwhile: the feed still lists it, the grid has nothing to show
      }
    }
  }

  function applyToGrid(e) {
    const a = state.items.get(e.annotationId);
    if (e.operation === 'Created') {
      arrived(e.annotationId);
      return;
    }
    if (!a) {
      return;
    }
    const changed = Object.assign({}, a, {status: e.status || a.status, flightId: e.flightId ?? a.flightId,
      waypointId: e.waypointId ?? a.waypointId});
    if (Array.isArray(e.detections)) {
      changed.detections = e.detections;
    }
    replaceCard(changed);
  }

  function feedItem(e) {
    const ops = {Created: 'created', Edited: 'edited', Validated: 'validated', StatusChanged: 'status →',
      Deleted: 'deleted'};
    const shown = state.items.get(e.annotationId);
    const what = (ops[e.operation] || e.operation) + (e.operation === 'StatusChanged' ? ' ' + e.status : '');
    const boxes = Array.isArray(e.detections) ? ' · ' + e.detections.length + ' boxes' : '';
    const li = h('li', {'data-annotation-id': e.annotationId, 'data-operation': e.operation},
        h('time', {datetime: e.time}, new Date(e.time || Date.now()).toLocaleTimeString()), ' ',
        h('a', {href: '#/annotations/' + encodeURIComponent(e.annotationId)},
            (shown && shown.name) || shortId(e.annotationId)), ' ', h('span', {class: 'op ' + e.operation}, what),
        h('span', {class: 'muted'}, (e.flightId ? ' · flight ' + e.flightId : '') + boxes));
    feedList.prepend(li);
    while (feedList.children.length > FEED_MAX) {
      feedList.lastElementChild.remove();
    }
  }

  function setFeed(kind, text) {
    feedState.dataset.feedState = kind;
    feedState.textContent = text;
    reconnect.hidden = kind !== 'stopped';
  }

  let es = null;
  let resuming = false;
  let replayed = 0;
  let settle = null;

  function settleLater() {
    clearTimeout(settle);
    settle = setTimeout(() => {
      resuming = false;
      setFeed('caught-up', 'Reconnected and caught up at ' + new Date().toLocaleTimeString() + ': ' + replayed
          + ' missed change' + (replayed === 1 ? '' : 's') + ' replayed.');
    }, SETTLE_MS);
  }

  // EventSource reconnects by itself after a drop and sends Last-Event-ID; the server then replays exactly what was
  // missed, or, when it no longer holds that point, starts with a "reset" frame (always before any replayed event).
  // Every stream opens with an id-only block at the log's newest position, so a resume point exists even when the
  // drop comes before the first change.
  function connect() {
    if (es) {
      es.close();
    }
    resuming = false;
    setFeed('connecting', 'Connecting…');
    es = ctx.api.events('/annotations/events');
    es.onopen = () => {
      if (resuming) {
        setFeed('resuming', 'Reconnected; replaying what was missed…');
        settleLater();
      } else {
        setFeed('live', 'Live: changes appear as they happen.');
      }
    };
    es.onmessage = (m) => {
      let e;
      try {
        e = JSON.parse(m.data);
      } catch (err) {
        return;
      }
      if (e.type === 'annotation') {
        if (resuming) {
          replayed++;
          settleLater();
        }
        feedItem(e);
        applyToGrid(e);
      } else if (e.type === 'reset') {
        resuming = false;
        clearTimeout(settle);
        load();
        setFeed('reset', 'Reset at ' + new Date().toLocaleTimeString() + ': ' + (e.reason || 'events were missed')
            + '. The list was reloaded; following again.');
      } else if (e.type === 'disconnect') {
        setFeed('reconnecting', (e.message || 'The server closed the feed') + ' Reconnecting…');
      } else if (e.type === 'auth') {
        es.close();
        setFeed('stopped', 'The token expired: sign in again to follow changes.');
      }
    };
    es.onerror = () => {
      if (es.readyState === EventSource.CLOSED) {
        setFeed('stopped', 'The feed stopped: the server refused it (is the token still valid?).');
        return;
      }
      resuming = true;
      replayed = 0;
      clearTimeout(settle);
      setFeed('reconnecting', 'Connection lost; reconnecting…');
    };
  }

  if (mayFollow(ctx)) {
    connect();
  } else {
    setFeed('unavailable', 'The live feed needs the ANN permission.');
  }
  await load();

  return () => {
    disposed = true;
    if (es) {
      es.close();
    }
    clearTimeout(settle);
    clearTimeout(arrivalTimer);
    observer.disconnect();
    urls.forEach((u) => URL.revokeObjectURL(u));
  };
}
