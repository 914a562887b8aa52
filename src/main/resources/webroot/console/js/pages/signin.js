// Sign in by pasting a bearer token; in developer mode (scripts/run.sh's local keys) a loopback-only route
// offers the developer token.
import {h, field, errorBox} from '../ui.js';
import {signIn} from '../app.js';

export async function render(view, ctx) {
  const token = h('textarea', {id: 'token', rows: 4, autocomplete: 'off', spellcheck: 'false',
    placeholder: 'eyJhbGciOi…'});
  const status = h('div', {id: 'signin-status', 'aria-live': 'polite'});
  const go = async (value) => {
    status.replaceChildren();
    try {
      const me = await signIn(value);
      ctx.notify('Signed in as ' + me.subject);
      ctx.navigate('#/detect');
    } catch (e) {
      status.replaceChildren(errorBox(e));
    }
  };
  const form = h('form', {class: 'card narrow', onsubmit: (e) => {
    e.preventDefault();
    go(token.value);
  }},
  h('h1', {}, 'Sign in'),
  field('Bearer token', token, 'Kept in this tab only (sessionStorage).'),
  h('div', {class: 'actions'}, h('button', {type: 'submit', id: 'signin'}, 'Sign in')),
  status);
  view.append(form);

  try {
    const dev = await ctx.api.json('/console/dev-token');
    if (dev && dev.available && dev.token) {
      form.querySelector('.actions').append(h('button', {type: 'button', id: 'dev-token', class: 'secondary',
        onclick: () => go(dev.token)}, 'Use the developer token'));
    }
  } catch (e) {
    // not developer mode: nothing to offer
  }
  token.focus();
}
