// Detect: pick images (files, a folder, or drag and drop of either), choose the model and the SAHI, rules and
// annotation settings, then Run: one upload (all or nothing), one predict, and on to the job's page. A refused
// upload lists every bad file; each one's code and message are shown beside it, to remove it and run again.
import {h, field, errorBox} from '../ui.js';

const IMAGE = /\.(jpe?g|png|tiff?)$/i;
const MAX_FILES = 100; // the upload route's limit (openapi.yaml)

export async function render(view, ctx) {
  let entries = []; // {key, file, path, error}
  let seq = 0;
  let reusable = null; // {signature, uploadId}: an upload stored but whose predict was refused

  const list = h('tbody', {});
  const summary = h('p', {class: 'muted', id: 'file-summary', 'aria-live': 'polite'});
  const status = h('div', {id: 'run-status', 'aria-live': 'polite'});
  const uploadBar = h('div', {class: 'progress', hidden: true, role: 'progressbar', 'aria-label': 'Upload',
    'aria-valuemin': 0, 'aria-valuemax': 100}, h('div', {style: 'width:0%'}));

  const filesInput = h('input', {type: 'file', id: 'files-input', multiple: true, class: 'visually-hidden',
    accept: '.jpg,.jpeg,.png,.tif,.tiff,image/jpeg,image/png,image/tiff', 'aria-label': 'Images',
    tabindex: -1});
  const folderInput = h('input', {type: 'file', id: 'folder-input', multiple: true, webkitdirectory: true,
    class: 'visually-hidden', 'aria-label': 'Folder of images', tabindex: -1});
  filesInput.addEventListener('change', () => {
    add([...filesInput.files].map((f) => ({file: f, path: f.name})), false);
    filesInput.value = '';
  });
  folderInput.addEventListener('change', () => {
    add([...folderInput.files].map((f) => ({file: f, path: f.webkitRelativePath || f.name})), true);
    folderInput.value = '';
  });

  const drop = h('div', {class: 'dropzone', id: 'dropzone', role: 'group', 'aria-labelledby': 'drop-title'},
      h('p', {id: 'drop-title'}, h('strong', {}, 'Drop images or folders here'), h('br'),
          h('span', {class: 'muted'}, 'JPEG, PNG or TIFF, up to ' + MAX_FILES + ' per run, 50 MB and 64–8192 px each')),
      h('div', {class: 'actions center'},
          h('button', {type: 'button', id: 'choose-files', onclick: () => filesInput.click()}, 'Choose images…'),
          h('button', {type: 'button', class: 'secondary', id: 'choose-folder', onclick: () => folderInput.click()},
              'Choose a folder…'),
          h('button', {type: 'button', class: 'secondary', id: 'clear-files', onclick: () => {
            entries = [];
            redraw();
          }}, 'Clear')),
      filesInput, folderInput);
  drop.addEventListener('dragover', (e) => {
    e.preventDefault();
    drop.classList.add('over');
  });
  drop.addEventListener('dragleave', () => drop.classList.remove('over'));
  drop.addEventListener('drop', async (e) => {
    e.preventDefault();
    drop.classList.remove('over');
    const items = [...(e.dataTransfer.items || [])];
    const entriesOf = items.map((it) => (it.webkitGetAsEntry ? it.webkitGetAsEntry() : null));
    if (entriesOf.some((en) => en)) {
      const found = [];
      let folder = false;
      for (const en of entriesOf.filter(Boolean)) {
        folder = folder || en.isDirectory;
        await walk(en, found);
      }
      add(found, folder);
    } else {
      add([...e.dataTransfer.files].map((f) => ({file: f, path: f.name})), false);
    }
  });

  // Settings: the predict config's own names (openapi.yaml InferenceConfig, SahiConfig).
  const model = h('select', {id: 'model', name: 'model'});
  const confidence = num('confidence', 0.25, 0, 1, 0.01);
  const sahiOn = check('sahi_enabled', true);
  const sliceW = num('slice_width', '', 32, 8192, 1, 'auto');
  const sliceH = num('slice_height', '', 32, 8192, 1, 'auto');
  const overlapW = num('overlap_width_ratio', 0.2, 0, 0.95, 0.05);
  const overlapH = num('overlap_height_ratio', 0.2, 0, 0.95, 0.05);
  const mergeType = select('postprocess_type', ['GREEDYNMM', 'NMM', 'NMS']);
  const metric = select('postprocess_match_metric', ['IOS', 'IOU']);
  const threshold = num('postprocess_match_threshold', 0.5, 0, 1, 0.05);
  const fullPass = check('perform_standard_pred', true);
  const agnostic = check('postprocess_class_agnostic', false);
  const ruleSet = h('select', {id: 'rule_set', name: 'rule_set'}, h('option', {value: ''}, 'None (rules stage off)'));
  const annotate = check('create_annotations', false);
  const flight = h('input', {type: 'text', id: 'flight_id', name: 'flight_id', autocomplete: 'off',
    placeholder: 'optional'});
  const sahiFields = [sliceW, sliceH, overlapW, overlapH, mergeType, metric, threshold, fullPass, agnostic];
  sahiOn.addEventListener('change', () => sahiFields.forEach((c) => {
    c.disabled = !sahiOn.checked;
  }));
  const flightField = field('Flight id for the annotations', flight);
  flightField.hidden = true;
  annotate.addEventListener('change', () => {
    flightField.hidden = !annotate.checked;
  });

  const modelField = field('Model', model, '…');
  const modelInfo = modelField.querySelector('small');
  modelInfo.id = 'model-info';
  const ruleField = field('Rule set', ruleSet, ' ');
  const ruleInfo = ruleField.querySelector('small');
  ruleInfo.id = 'rule-info';
  const run = h('button', {type: 'submit', id: 'run', disabled: true}, 'Run detection');
  const form = h('form', {class: 'card', id: 'settings', novalidate: true, onsubmit: (e) => {
    e.preventDefault();
    start();
  }},
  h('h2', {}, 'Settings'),
  modelField,
  field('Confidence (minimum score)', confidence),
  h('fieldset', {},
      h('legend', {}, 'Sliced inference (SAHI)'),
      h('p', {class: 'muted small'}, 'An empty slice size lets the engine choose it from the image and model.'),
      checkField('Slice the image', sahiOn),
      h('div', {class: 'grid-form'},
          field('Slice width (px)', sliceW),
          field('Slice height (px)', sliceH),
          field('Overlap, width ratio', overlapW),
          field('Overlap, height ratio', overlapH),
          field('Merge type', mergeType),
          field('Merge metric', metric),
          field('Merge threshold', threshold)),
      checkField('Full-image pass too', fullPass),
      checkField('Merge across classes', agnostic)),
  h('fieldset', {},
      h('legend', {}, 'Rules and annotations'),
      ruleField,
      checkField('Create annotations from the detections', annotate),
      flightField),
  h('div', {class: 'actions'}, run),
  uploadBar);

  view.append(h('h1', {}, 'Detect'),
      status,
      h('div', {class: 'split even'},
          h('section', {class: 'card', 'aria-labelledby': 'images-title'},
              h('h2', {id: 'images-title'}, 'Images'),
              drop,
              summary,
              h('table', {id: 'file-list', class: 'files'},
                  h('caption', {class: 'visually-hidden'}, 'Images to upload'),
                  h('thead', {}, h('tr', {}, h('th', {scope: 'col'}, 'File'), h('th', {scope: 'col'}, 'Size'),
                      h('th', {scope: 'col'}, 'Problem'), h('th', {scope: 'col'}, h('span', {class: 'visually-hidden'},
                          'Remove')))),
                  list)),
          form));

  function add(found, fromFolder) {
    const images = fromFolder ? found.filter((f) => IMAGE.test(f.file.name)) : found;
    const skipped = found.length - images.length;
    images.forEach((f) => entries.push({key: ++seq, file: f.file, path: f.path, error: null}));
    redraw();
    if (skipped) {
      ctx.notify(skipped + ' file(s) in the folder are not JPEG, PNG or TIFF and were left out');
    }
  }

  function redraw() {
    list.replaceChildren(...entries.map((en) => h('tr', {'data-file': en.path, class: en.error ? 'bad' : ''},
        h('td', {class: 'name'}, en.path),
        h('td', {class: 'size'}, size(en.file.size)),
        h('td', {class: 'file-error'}, en.error ? h('span', {'data-code': en.error.code},
            h('code', {}, en.error.code), ' ', en.error.message) : ''),
        h('td', {}, h('button', {type: 'button', class: 'link', 'aria-label': 'Remove ' + en.path,
          onclick: () => {
            entries = entries.filter((x) => x !== en);
            if (en.error && !entries.some((x) => x.error)) {
              status.replaceChildren(); // every refused file is gone: the refusal no longer applies
            }
            redraw();
          }}, 'Remove')))));
    const bad = entries.filter((en) => en.error).length;
    const total = entries.reduce((s, en) => s + en.file.size, 0);
    summary.textContent = entries.length ? entries.length + ' image(s), ' + size(total) +
        (bad ? ' · ' + bad + ' refused: remove them and run again' : '') +
        (entries.length > MAX_FILES ? ' · at most ' + MAX_FILES + ' per run' : '') : 'No images chosen yet.';
    run.disabled = !entries.length || entries.length > MAX_FILES || !model.value;
  }

  function config() {
    const sahi = {enabled: sahiOn.checked};
    if (sahiOn.checked) {
      if (sliceW.value || sliceH.value) {
        sahi.slice_width = intOr(sliceW.value);
        sahi.slice_height = intOr(sliceH.value);
      }
      Object.assign(sahi, {overlap_width_ratio: Number(overlapW.value), overlap_height_ratio: Number(overlapH.value),
        postprocess_type: mergeType.value, postprocess_match_metric: metric.value,
        postprocess_match_threshold: Number(threshold.value), perform_standard_pred: fullPass.checked,
        postprocess_class_agnostic: agnostic.checked});
    }
    const c = {model: model.value, confidence: Number(confidence.value), sahi,
      create_annotations: annotate.checked};
    if (ruleSet.value) {
      c.symbolic = {enabled: true, rule_set: ruleSet.value};
    }
    if (annotate.checked && flight.value.trim()) {
      c.flight_id = flight.value.trim();
    }
    return c;
  }

  async function start() {
    status.replaceChildren();
    run.disabled = true;
    const signature = entries.map((en) => en.key).join(',');
    try {
      let uploadId = reusable && reusable.signature === signature ? reusable.uploadId : null;
      if (!uploadId) {
        const form = new FormData();
        entries.forEach((en) => form.append('files', en.file, en.file.name));
        uploadBar.hidden = false;
        const uploaded = await ctx.api.upload('/api/v1/inference/upload', form, (f) => {
          const pct = Math.round(f * 100);
          uploadBar.firstChild.style.width = pct + '%';
          uploadBar.setAttribute('aria-valuenow', pct);
        });
        uploadId = uploaded.upload_id;
        reusable = {signature, uploadId};
      }
      const accepted = await ctx.api.json('/api/v1/inference/predict', {method: 'POST',
        body: {upload_id: uploadId, config: config()}});
      ctx.navigate('#/jobs/' + encodeURIComponent(accepted.data.job_id));
    } catch (e) {
      uploadBar.hidden = true;
      const perFile = e.body && Array.isArray(e.body.errors) ?
        e.body.errors.filter((it) => Number.isInteger(it.index)) : [];
      if (perFile.length) {
        // All or nothing: nothing was stored. Each bad file gets its own code and message.
        entries.forEach((en) => {
          en.error = null;
        });
        perFile.forEach((it) => {
          const en = entries[it.index];
          if (en) {
            en.error = {code: it.code || e.code, message: it.message || it.msg || ''};
          }
        });
        redraw();
        status.replaceChildren(errorBox({message: e.message.replace(/[.\s]*$/, '.') + ' Remove the files marked' +
          ' below and run again.', code: e.code, requestId: e.requestId}));
        const first = list.querySelector('tr.bad button');
        if (first) {
          first.focus({preventScroll: true});
        }
      } else {
        status.replaceChildren(errorBox(e));
      }
      window.scrollTo({top: 0});
      run.disabled = !entries.length;
    }
  }

  redraw();
  // What the server offers: its models and rule sets (both readable without a token).
  try {
    const [models, rules] = await Promise.all([ctx.api.json('/api/v1/models'), ctx.api.json('/api/v1/rule-sets')]);
    const usable = models.models.filter((m) => !m.error);
    model.replaceChildren(...usable.map((m) => h('option', {value: m.name, selected: m.default}, m.name)));
    const describe = () => {
      const m = usable.find((x) => x.name === model.value);
      modelInfo.textContent = m ? m.layout + ' · input ' + m.input_width + '×' + m.input_height + ' · ' +
        m.classes.length + ' classes' + (m.device ? ' · ' + m.device.toUpperCase() : '') : 'No usable model';
      modelInfo.title = m ? m.classes.join(', ') : '';
    };
    model.addEventListener('change', describe);
    describe();
    rules.rule_sets.forEach((r) => ruleSet.append(h('option', {value: r.name}, r.name)));
    ruleSet.addEventListener('change', () => {
      const r = rules.rule_sets.find((x) => x.name === ruleSet.value);
      ruleInfo.textContent = r ? r.description : '';
    });
    if (!usable.length) {
      status.replaceChildren(errorBox({message: 'The server has no usable model (models.dir).', code: 'NO_MODEL'}));
    }
  } catch (e) {
    status.replaceChildren(errorBox(e));
  }
  redraw();
}

/** Every file under a dropped entry (directories read to the end: readEntries answers in batches). */
async function walk(entry, out) {
  if (entry.isFile) {
    const file = await new Promise((resolve, reject) => entry.file(resolve, reject));
    out.push({file, path: entry.fullPath.replace(/^\//, '')});
    return;
  }
  if (entry.isDirectory) {
    const reader = entry.createReader();
    for (;;) {
      const batch = await new Promise((resolve, reject) => reader.readEntries(resolve, reject));
      if (!batch.length) {
        break;
      }
      for (const child of batch) {
        await walk(child, out);
      }
    }
  }
}

function num(id, value, min, max, step, placeholder) {
  return h('input', {type: 'number', id, name: id, value, min, max, step, placeholder, inputmode: 'decimal'});
}

function check(id, checked) {
  return h('input', {type: 'checkbox', id, name: id, checked});
}

function select(id, options) {
  return h('select', {id, name: id}, ...options.map((o) => h('option', {value: o}, o)));
}

function checkField(label, box) {
  return h('div', {class: 'check'}, box, h('label', {for: box.id}, label));
}

function intOr(v) {
  return v === '' ? null : Math.round(Number(v));
}

export function size(bytes) {
  if (bytes < 1024) {
    return bytes + ' B';
  }
  if (bytes < 1024 * 1024) {
    return (bytes / 1024).toFixed(1) + ' KB';
  }
  return (bytes / 1024 / 1024).toFixed(1) + ' MB';
}
