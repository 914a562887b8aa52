// One job: live progress from its event stream (EventSource on /api/v1/jobs/{id}/events; the stream sends the
// current status first and ends after the last, so nothing is polled), Cancel, and once completed the results:
// per-class counts, downloads, a gallery whose thumbnails load only when scrolled into view, and a viewer drawing
// the boxes of the results JSON over the original image.
import {h, errorBox, fmtTime} from '../ui.js';
import {classColours, drawBoxes, countChart} from '../boxes.js';

const ACTIVE = ['queued', 'processing'];

export async function render(view, ctx, params) {
  const id = params.id;
  const base = '/api/v1/jobs/' + encodeURIComponent(id);
  const urls = new Set(); // object URLs to revoke when leaving
  let observer = null;
  let finished = false;
  let frames = 0;

  const pill = h('span', {class: 'pill', id: 'job-status'}, 'connecting…');
  const bar = h('div', {class: 'progress', id: 'job-progress', role: 'progressbar', 'aria-label': 'Images done',
    'aria-valuemin': 0, 'aria-valuemax': 100, 'aria-valuenow': 0, 'data-percent': 0}, h('div', {style: 'width:0%'}));
  const done = h('span', {id: 'job-done'}, '–');
  const stage = h('span', {id: 'job-stage'}, '–');
  const eta = h('span', {id: 'job-eta'}, '–');
  const times = h('p', {class: 'muted', id: 'job-times'});
  const problem = h('div', {id: 'job-problem', 'aria-live': 'assertive'});
  const cancel = h('button', {type: 'button', class: 'danger', id: 'cancel', hidden: true, onclick: doCancel},
      'Cancel job');
  const results = h('div', {id: 'job-results'});

  view.append(
      h('h1', {}, 'Job ', h('code', {class: 'job-id'}, id), ' ', pill),
      h('section', {class: 'card', 'aria-labelledby': 'progress-title'},
          h('h2', {id: 'progress-title'}, 'Progress'),
          bar,
          h('dl', {class: 'facts', 'aria-live': 'polite'},
              h('dt', {}, 'Images done'), h('dd', {}, done),
              h('dt', {}, 'Stage'), h('dd', {}, stage),
              h('dt', {}, 'Estimated completion'), h('dd', {}, eta)),
          times,
          h('div', {class: 'actions'}, cancel, h('a', {href: '#/jobs', class: 'button-link secondary'}, 'All jobs')),
          problem),
      results);

  const stream = ctx.api.events(base + '/events');
  stream.onmessage = (m) => {
    let ev;
    try {
      ev = JSON.parse(m.data);
    } catch (e) {
      return;
    }
    if (ev.type === 'status') {
      frames++;
      bar.dataset.frames = String(frames);
      update(ev);
    } else if (ev.type === 'auth' || ev.type === 'disconnect') {
      stream.close();
      problem.replaceChildren(errorBox({message: (ev.message || 'The event stream ended') +
        (ev.type === 'auth' ? ' Sign in again to follow the job.' : ''), code: ev.reason || ev.type}));
    }
  };
  stream.onerror = async () => {
    if (finished) {
      return;
    }
    if (stream.readyState === EventSource.CLOSED) {
      // The stream was refused (an unknown job, a token that may not read it): the status route says why.
      try {
        update(Object.assign({type: 'status'}, await ctx.api.json(base + '/status')));
      } catch (e) {
        problem.replaceChildren(errorBox(e));
      }
    } else {
      stage.textContent = 'Connection lost; reconnecting…';
    }
  };

  function update(s) {
    pill.textContent = s.status;
    pill.className = 'pill ' + s.status;
    const p = s.progress || {};
    const pct = Math.max(0, Math.min(100, p.percentage || 0));
    bar.firstChild.style.width = pct + '%';
    bar.dataset.percent = String(pct);
    bar.setAttribute('aria-valuenow', pct);
    done.textContent = (p.processed_images || 0) + ' of ' + (p.total_images || 0) + ' (' + pct + ' %)';
    stage.textContent = p.current_stage || {queued: 'Waiting for a worker', processing: 'Starting',
      completed: 'Done', failed: 'Failed', cancelled: 'Cancelled'}[s.status] || s.status;
    eta.textContent = p.estimated_completion ? etaText(p.estimated_completion) :
      ACTIVE.includes(s.status) ? 'after the first image' : '–';
    times.textContent = ['created ' + fmtTime(s.created_at), s.started_at && 'started ' + fmtTime(s.started_at),
      s.completed_at && 'completed ' + fmtTime(s.completed_at), s.failed_at && 'failed ' + fmtTime(s.failed_at),
      s.cancelled_at && 'cancelled ' + fmtTime(s.cancelled_at)].filter(Boolean).join(' · ');
    cancel.hidden = !ACTIVE.includes(s.status);
    if (!ACTIVE.includes(s.status) && !finished) {
      finished = true;
      stream.close();
      if (s.status === 'completed') {
        showResults(s);
      } else if (s.status === 'failed' && s.error) {
        problem.replaceChildren(errorBox({message: s.error.message + (s.error.details ? ': ' + s.error.details : ''),
          code: s.error.code}));
      }
    }
  }

  async function doCancel() {
    cancel.disabled = true;
    try {
      const answer = await ctx.api.json(base + '/cancel', {method: 'POST'});
      ctx.notify(answer.cancel_requested ? answer.message : 'Job cancelled');
    } catch (e) {
      problem.replaceChildren(errorBox(e));
    } finally {
      cancel.disabled = false;
    }
  }

  async function showResults(s) {
    results.replaceChildren(h('p', {class: 'muted'}, 'Loading results…'));
    let json;
    let vis;
    let colourOf;
    try {
      [json, vis, colourOf] = await Promise.all([ctx.api.json(base + '/results?format=json'),
        ctx.api.json(base + '/visualization'), classColours(ctx)]);
    } catch (e) {
      results.replaceChildren(errorBox(e));
      return;
    }
    const byFile = new Map(json.results.map((r) => [r.file_id, r]));
    const counts = new Map();
    json.results.forEach((r) => r.detections.forEach((d) => {
      const c = counts.get(d.class_name) || {count: 0, id: d.class_id};
      c.count++;
      counts.set(d.class_name, c);
    }));
    const sum = s.summary || json.summary || {};
    const downloads = [['json', 'JSON', id + '.json'], ['yolo', 'YOLO (zip)', id + '-yolo.zip'],
      ['coco', 'COCO', id + '-coco.json']].map(([format, label, name]) => {
      const url = base + '/results?format=' + format;
      return h('button', {type: 'button', class: 'secondary', 'data-format': format, 'data-url': url,
        id: 'download-' + format, onclick: async (e) => {
          e.target.disabled = true;
          try {
            await ctx.api.download(url, name);
          } catch (err) {
            results.prepend(errorBox(err));
          } finally {
            e.target.disabled = false;
          }
        }}, 'Download ' + label);
    });

    const viewer = viewerSection(ctx, json.results, vis.visualizations, colourOf, urls);
    const gallery = h('div', {class: 'gallery', id: 'gallery'});
    observer = new IntersectionObserver((seen) => seen.forEach((entry) => {
      if (!entry.isIntersecting) {
        return;
      }
      observer.unobserve(entry.target);
      const img = entry.target.querySelector('img');
      ctx.api.objectUrl(img.dataset.src).then((u) => {
        urls.add(u);
        img.src = u;
        img.dataset.loaded = 'true';
      }).catch(() => {
        img.alt = img.alt + ' (thumbnail not available)';
      });
    }), {rootMargin: '100px'});
    vis.visualizations.forEach((v, i) => {
      const r = byFile.get(v.file_id);
      const count = r ? r.detection_count : v.detection_count;
      const tile = h('button', {type: 'button', class: 'tile', 'data-file-id': v.file_id,
        'aria-label': 'Open ' + v.filename + ', ' + count + ' detections', onclick: () => viewer.open(i)},
      h('figure', {},
          h('img', {alt: v.filename, 'data-src': v.thumbnail_url || v.original_url, width: 320, height: 240}),
          h('figcaption', {}, v.filename, ' · ', h('span', {class: 'count'}, count + ' boxes'))));
      gallery.append(tile);
      observer.observe(tile);
    });

    results.replaceChildren(
        h('section', {class: 'card', 'aria-labelledby': 'summary-title'},
            h('h2', {id: 'summary-title'}, 'Results'),
            h('p', {id: 'job-summary'}, (sum.total_detections || 0) + ' detections in ' + json.results.length +
              ' images · mean confidence ' + (sum.average_confidence || 0) + ' · ' +
              (sum.processing_time_seconds || 0) + ' s · model ' + (sum.model || '?') +
              (sum.device ? ' on ' + sum.device.toUpperCase() : '')),
            h('div', {class: 'split even'},
                h('div', {}, h('h3', {}, 'Detections per class'), countChart(counts, colourOf,
                    'Detections per class')),
                h('div', {}, h('h3', {}, 'Downloads'), h('div', {class: 'actions'}, downloads),
                    h('p', {class: 'muted'}, 'YOLO: labels per image and classes.txt in a zip; COCO: one detection' +
                      ' document (category_id is class_id + 1).')))),
        h('section', {class: 'card', 'aria-labelledby': 'gallery-title'},
            h('h2', {id: 'gallery-title'}, 'Images'),
            h('p', {class: 'muted'}, 'Choose an image to see its boxes.'),
            gallery),
        viewer.element);
  }

  return () => {
    stream.close();
    if (observer) {
      observer.disconnect();
    }
    urls.forEach((u) => URL.revokeObjectURL(u));
  };
}

/** The viewer: the original image on a canvas with the boxes of the results JSON, filtered and labelled. */
function viewerSection(ctx, results, visualizations, colourOf, urls) {
  const byFile = new Map(results.map((r) => [r.file_id, r]));
  const images = new Map(); // file_id -> loaded HTMLImageElement
  let index = -1;
  const title = h('h2', {id: 'viewer-title', tabindex: -1}, 'Image');
  const canvas = h('canvas', {id: 'viewer-canvas', 'data-box-count': 0, role: 'img', 'aria-label': 'Image with boxes'});
  const slider = h('input', {type: 'range', id: 'min-confidence', min: 0, max: 1, step: 0.01, value: 0});
  const sliderValue = h('output', {for: 'min-confidence', id: 'min-confidence-value'}, '0.00');
  const labels = h('input', {type: 'checkbox', id: 'box-labels', checked: true});
  const classBox = h('fieldset', {id: 'class-filter'}, h('legend', {}, 'Classes'));
  const counter = h('p', {id: 'viewer-count', 'aria-live': 'polite'});
  const prev = h('button', {type: 'button', class: 'secondary', id: 'viewer-prev', onclick: () => open(index - 1)},
      '← Previous');
  const next = h('button', {type: 'button', class: 'secondary', id: 'viewer-next', onclick: () => open(index + 1)},
      'Next →');
  const close = h('button', {type: 'button', class: 'secondary', id: 'viewer-close', onclick: () => {
    element.hidden = true;
    const tile = document.querySelector('.tile[data-file-id="' + currentId() + '"]');
    if (tile) {
      tile.focus();
    }
  }}, 'Close');
  const problem = h('div', {});
  const element = h('section', {class: 'card', id: 'viewer', hidden: true, 'aria-labelledby': 'viewer-title'},
      title,
      h('div', {class: 'split'},
          h('div', {class: 'canvas-box'}, canvas),
          h('div', {class: 'viewer-controls'},
              h('div', {class: 'field'}, h('label', {for: 'min-confidence'}, 'Minimum confidence'), slider,
                  sliderValue),
              h('div', {class: 'check'}, labels, h('label', {for: 'box-labels'}, 'Box labels')),
              classBox,
              counter,
              h('div', {class: 'actions'}, prev, next, close))),
      problem);
  element.addEventListener('keydown', (e) => {
    if (e.key === 'Escape') {
      close.click();
    }
  });

  const currentId = () => (index >= 0 ? visualizations[index].file_id : null);

  function selectedClasses() {
    return new Set([...classBox.querySelectorAll('input:checked')].map((c) => c.value));
  }

  function draw() {
    const img = images.get(currentId());
    const r = byFile.get(currentId());
    if (!img || !r) {
      return;
    }
    sliderValue.textContent = Number(slider.value).toFixed(2);
    const n = drawBoxes(canvas, img, r.detections, colourOf, {minConfidence: Number(slider.value),
      classes: selectedClasses(), labels: labels.checked});
    counter.textContent = n + ' of ' + r.detections.length + ' boxes shown';
    canvas.setAttribute('aria-label', r.filename + ' with ' + n + ' boxes');
  }

  async function open(i) {
    if (i < 0 || i >= visualizations.length) {
      return;
    }
    index = i;
    const v = visualizations[i];
    const r = byFile.get(v.file_id) || {detections: [], filename: v.filename};
    element.hidden = false;
    canvas.dataset.fileId = v.file_id;
    canvas.dataset.ready = 'false';
    title.textContent = v.filename + ' (' + (i + 1) + ' of ' + visualizations.length + ')';
    prev.disabled = i === 0;
    next.disabled = i === visualizations.length - 1;
    const names = [...new Set(r.detections.map((d) => d.class_name))].sort();
    classBox.replaceChildren(h('legend', {}, 'Classes'), ...names.map((name, k) => {
      const d = r.detections.find((x) => x.class_name === name);
      const box = h('input', {type: 'checkbox', id: 'class-' + k, value: name, checked: true, onchange: draw});
      return h('div', {class: 'check'}, box, h('label', {for: box.id},
          h('span', {class: 'swatch', style: 'background:' + colourOf(name, d.class_id)}), ' ', name + ' (' +
          r.detections.filter((x) => x.class_name === name).length + ')'));
    }));
    if (!names.length) {
      classBox.append(h('p', {class: 'muted'}, 'No detections in this image.'));
    }
    problem.replaceChildren();
    title.focus({preventScroll: true});
    element.scrollIntoView({block: 'start'});
    try {
      if (!images.has(v.file_id)) {
        const url = await ctx.api.objectUrl(v.original_url);
        urls.add(url);
        const img = new Image();
        img.src = url;
        await img.decode();
        images.set(v.file_id, img);
      }
      if (index === i) {
        draw();
        canvas.dataset.ready = 'true';
        element.scrollIntoView({block: 'start'}); // again: the canvas has its size only now
      }
    } catch (e) {
      problem.replaceChildren(errorBox(e.code ? e : {message: 'The image cannot be shown: ' + e.message,
        code: 'IMAGE'}));
    }
  }

  slider.addEventListener('input', draw);
  labels.addEventListener('change', draw);
  return {element, open};
}

function etaText(iso) {
  const t = new Date(iso);
  const s = Math.max(0, Math.round((t - Date.now()) / 1000));
  return t.toLocaleTimeString() + ' (in ' + (s < 90 ? s + ' s' : Math.round(s / 60) + ' min') + ')';
}
