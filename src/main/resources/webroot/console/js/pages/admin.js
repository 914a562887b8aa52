// Placeholder until this page is built.
import {h} from '../ui.js';

export async function render(view) {
  view.append(h('h1', {}, 'admin'), h('p', {class: 'muted'}, 'Not built yet.'));
}
