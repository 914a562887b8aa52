// Small DOM helpers shared by the pages: element building without innerHTML (no injection from server data),
// the error box (server message, code and request id), and formatting.

/** h('a', {href: '#', onclick: fn, class: 'x', 'data-id': 1}, 'text', child) */
export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  Object.entries(attrs || {}).forEach(([k, v]) => {
    if (v === undefined || v === null || v === false) {
      return;
    }
    if (k.startsWith('on') && typeof v === 'function') {
      el.addEventListener(k.slice(2), v);
    } else if (k === 'class') {
      el.className = v;
    } else if (v === true) {
      el.setAttribute(k, '');
    } else {
      el.setAttribute(k, String(v));
    }
  });
  children.flat().forEach((c) => {
    if (c !== undefined && c !== null && c !== false) {
      el.append(c instanceof Node ? c : String(c));
    }
  });
  return el;
}

/** The server's message, its code and the request id to quote, with per-item errors when the answer lists them. */
export function errorBox(e) {
  const box = h('div', {class: 'error', role: 'alert', 'data-code': e.code || ''},
      h('strong', {}, e.message || String(e)),
      h('div', {class: 'meta'}, e.code ? h('code', {}, e.code) : null,
          e.requestId ? h('span', {}, ' · request id ', h('code', {'data-request-id': e.requestId}, e.requestId)) : null));
  const items = e.body && Array.isArray(e.body.errors) ? e.body.errors : [];
  if (items.length) {
    box.append(h('ul', {}, items.map((it) => h('li', {}, (it.file || it.field || it.filename || '') +
        (it.code ? ' [' + it.code + ']' : '') + ': ' + (it.message || JSON.stringify(it))))));
  }
  return box;
}

export function fmtTime(iso) {
  if (!iso) {
    return '';
  }
  const d = new Date(iso);
  return isNaN(d) ? String(iso) : d.toLocaleString();
}

/** A labelled form control: label wraps nothing, points at the control by id. */
export function field(label, control, hint) {
  const id = control.id || ('f-' + Math.random().toString(36).slice(2));
  control.id = id;
  return h('div', {class: 'field'}, h('label', {for: id}, label), control, hint ? h('small', {}, hint) : null);
}
