// Admin (ADM): the detection class catalog (GET/POST /classes, PUT/DELETE /classes/{id}) and the directory settings
// (GET/PUT /settings/directories). Every refusal shows the server's message, code and request id.
import {h, field, errorBox} from '../ui.js';
import {ensureStyles, cssColor, rgbPart} from '../review.js';

const DIRECTORIES = [['imagesDir', 'Images'], ['labelsDir', 'Labels'], ['thumbnailsDir', 'Thumbnails'],
  ['videosDir', 'Videos'], ['resultsDir', 'Results'], ['gpsSatDir', 'GPS satellite tiles'],
  ['gpsRouteDir', 'GPS routes']];

export async function render(view, ctx) {
  await ensureStyles();
  if (!ctx.can('ADM')) {
    view.append(h('h1', {}, 'Admin'), h('p', {class: 'muted'}, 'The admin pages need the ADM permission.'));
    return undefined;
  }
  view.append(h('h1', {}, 'Admin'));
  const classesSection = h('section', {class: 'card', id: 'classes', 'aria-labelledby': 'classes-title'});
  const dirsSection = h('section', {class: 'card', id: 'directories', 'aria-labelledby': 'dirs-title'});
  view.append(h('div', {class: 'admin-grid'}, classesSection, dirsSection));
  await Promise.all([renderClasses(classesSection, ctx), renderDirectories(dirsSection, ctx)]);
  return undefined;
}

// ------------------------------------------------------------------ class catalog

async function renderClasses(section, ctx) {
  let classes = [];
  let editing = null; // the class being edited, or null for a new one

  const title = h('h2', {id: 'classes-title'}, 'Detection classes');
  const formTitle = h('h3', {id: 'class-form-title'}, 'New class');
  const idInput = h('input', {type: 'number', id: 'class-id', min: 0, step: 1, placeholder: 'next free'});
  const nameInput = h('input', {type: 'text', id: 'class-name', required: true, maxlength: 200, autocomplete: 'off'});
  const shortInput = h('input', {type: 'text', id: 'class-short', maxlength: 200, autocomplete: 'off',
    placeholder: 'same as the name'});
  const picker = h('input', {type: 'color', id: 'class-color-picker', value: '#ff0000'});
  const colorText = h('input', {type: 'text', id: 'class-color', value: '#FF0000', pattern:
      '#([0-9a-fA-F]{6}|[0-9a-fA-F]{8})', spellcheck: 'false', autocomplete: 'off'});
  picker.addEventListener('input', () => {
    // Keep an alpha prefix (#AARRGGBB) the text had; the picker knows only #RRGGBB.
    const alpha = /^#[0-9a-f]{8}$/i.test(colorText.value) ? colorText.value.slice(1, 3) : '';
    colorText.value = '#' + alpha + picker.value.slice(1).toUpperCase();
  });
  colorText.addEventListener('input', () => {
    if (cssColor(colorText.value)) {
      picker.value = rgbPart(colorText.value);
    }
  });
  const submit = h('button', {type: 'submit', id: 'class-save'}, 'Create class');
  const cancel = h('button', {type: 'button', class: 'secondary', id: 'class-cancel', hidden: true,
    onclick: () => edit(null)}, 'Cancel edit');
  const formMessage = h('div', {'aria-live': 'polite'});
  const form = h('form', {id: 'class-form', class: 'class-form', onsubmit: (e) => {
    e.preventDefault();
    save();
  }}, formTitle,
  h('div', {class: 'grid-form'},
      field('Number', idInput, 'Optional for a new class'),
      field('Name', nameInput),
      field('Short name', shortInput),
      h('div', {class: 'field'}, h('label', {for: 'class-color'}, 'Colour'),
          h('div', {class: 'color-pair'}, picker, colorText),
          h('label', {for: 'class-color-picker', class: 'visually-hidden'}, 'Colour picker'))),
  h('div', {class: 'actions'}, submit, cancel), formMessage);

  const find = h('input', {type: 'search', id: 'class-filter', autocomplete: 'off', placeholder: 'name or number'});
  const listMessage = h('div', {'aria-live': 'polite'});
  const count = h('p', {class: 'muted', id: 'class-count'});
  const tbody = h('tbody', {id: 'class-rows'});
  const table = h('div', {class: 'table-scroll'}, h('table', {id: 'class-table'},
      h('caption', {class: 'visually-hidden'}, 'Detection classes'),
      h('thead', {}, h('tr', {}, h('th', {scope: 'col'}, 'No.'), h('th', {scope: 'col'}, 'Colour'),
          h('th', {scope: 'col'}, 'Name'), h('th', {scope: 'col'}, 'Short name'),
          h('th', {scope: 'col'}, h('span', {class: 'visually-hidden'}, 'Actions')))), tbody));
  find.addEventListener('input', rows);
  section.append(title, form, h('h3', {}, 'Catalog'), field('Find a class', find), count, listMessage, table);

  async function reload() {
    try {
      classes = await ctx.api.json('/classes');
      listMessage.replaceChildren();
    } catch (e) {
      listMessage.replaceChildren(errorBox(e));
    }
    rows();
  }

  function rows() {
    const needle = find.value.trim().toLowerCase();
    const shown = classes.filter((c) => !needle || String(c.id) === needle || c.name.toLowerCase().includes(needle)
        || (c.shortName || '').toLowerCase().includes(needle));
    count.textContent = classes.length + (classes.length === 1 ? ' class' : ' classes')
        + (needle ? ', ' + shown.length + ' shown' : '');
    tbody.replaceChildren(...shown.map(row));
  }

  function row(c) {
    const actions = h('td', {class: 'row-actions'});
    const del = h('button', {type: 'button', class: 'secondary small', 'data-action': 'delete',
      'aria-label': 'Delete class ' + c.name, onclick: () => confirmDelete()}, 'Delete');
    const editButton = h('button', {type: 'button', class: 'secondary small', 'data-action': 'edit',
      'aria-label': 'Edit class ' + c.name, onclick: () => edit(c)}, 'Edit');
    actions.append(editButton, del);
    // A second, explicit click deletes: no blocking confirm() dialog, and the keyboard stays on the row.
    function confirmDelete() {
      const yes = h('button', {type: 'button', class: 'danger small', 'data-action': 'confirm-delete',
        onclick: () => remove(c)}, 'Delete ' + c.name + '?');
      const no = h('button', {type: 'button', class: 'secondary small', onclick: () => {
        actions.replaceChildren(editButton, del);
        del.focus();
      }}, 'Keep');
      actions.replaceChildren(yes, no);
      yes.focus();
    }
    return h('tr', {'data-class-id': c.id, 'data-class-name': c.name},
        h('td', {}, String(c.id)),
        h('td', {}, h('span', {class: 'swatch', style: 'background:' + (cssColor(c.color) || '#f00')}), ' ',
            h('code', {}, c.color)),
        h('td', {class: 'class-name'}, c.name),
        h('td', {}, c.shortName || ''),
        actions);
  }

  function edit(c) {
    editing = c;
    formMessage.replaceChildren();
    formTitle.textContent = c ? 'Edit class ' + c.id : 'New class';
    idInput.value = c ? c.id : '';
    idInput.disabled = !!c;
    nameInput.value = c ? c.name : '';
    shortInput.value = c ? c.shortName || '' : '';
    colorText.value = c ? c.color : '#FF0000';
    picker.value = rgbPart(colorText.value);
    submit.textContent = c ? 'Save class' : 'Create class';
    cancel.hidden = !c;
    nameInput.focus();
  }

  async function save() {
    formMessage.replaceChildren();
    const body = {name: nameInput.value.trim(), color: colorText.value.trim()};
    if (shortInput.value.trim()) {
      body.shortName = shortInput.value.trim();
    }
    try {
      let saved;
      if (editing) {
        saved = await ctx.api.json('/classes/' + editing.id, {method: 'PUT', body});
      } else {
        if (idInput.value !== '') {
          body.id = Number(idInput.value);
        }
        saved = await ctx.api.json('/classes', {method: 'POST', body});
      }
      ctx.notify((editing ? 'Saved' : 'Created') + ' class ' + saved.id + ' ' + saved.name);
      edit(null);
      await reload();
      find.value = '';
      rows();
      tbody.querySelector(`tr[data-class-id="${saved.id}"]`)?.classList.add('just-saved');
    } catch (e) {
      formMessage.replaceChildren(errorBox(e));
    }
  }

  async function remove(c) {
    listMessage.replaceChildren();
    try {
      await ctx.api.json('/classes/' + c.id, {method: 'DELETE'});
      ctx.notify('Deleted class ' + c.id + ' ' + c.name);
      if (editing && editing.id === c.id) {
        edit(null);
      }
    } catch (e) {
      listMessage.replaceChildren(errorBox(e));
    }
    await reload();
  }

  await reload();
}

// ------------------------------------------------------------------ directory settings

async function renderDirectories(section, ctx) {
  const message = h('div', {'aria-live': 'polite'});
  section.append(h('h2', {id: 'dirs-title'}, 'Directories'),
      h('p', {class: 'muted'}, 'Where annotation files are kept. Relative paths start at annotations.roots_base. '
          + 'Files already stored are not moved.'), message);
  let current;
  try {
    current = await ctx.api.json('/settings/directories');
  } catch (e) {
    message.replaceChildren(errorBox(e));
    return;
  }
  const inputs = {};
  const form = h('form', {id: 'directories-form', onsubmit: async (e) => {
    e.preventDefault();
    message.replaceChildren();
    const changes = {};
    DIRECTORIES.forEach(([k]) => {
      const v = inputs[k].value.trim();
      if (v !== (current[k] || '')) {
        changes[k] = v;
      }
    });
    if (!Object.keys(changes).length) {
      ctx.notify('No directory changed');
      return;
    }
    try {
      await ctx.api.json('/settings/directories', {method: 'PUT', body: changes});
      current = await ctx.api.json('/settings/directories');
      DIRECTORIES.forEach(([k]) => {
        inputs[k].value = current[k] || '';
      });
      ctx.notify('Saved ' + Object.keys(changes).join(', '));
    } catch (err) {
      message.replaceChildren(errorBox(err));
    }
  }},
  DIRECTORIES.map(([k, label]) => {
    inputs[k] = h('input', {type: 'text', id: 'dir-' + k, name: k, value: current[k] || '', spellcheck: 'false',
      autocomplete: 'off'});
    return field(label, inputs[k]);
  }),
  h('div', {class: 'actions'}, h('button', {type: 'submit', id: 'directories-save'}, 'Save directories')));
  section.append(form);
}
