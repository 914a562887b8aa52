// One annotation: its image with the boxes drawn on a canvas in the catalog's class colours (with labels), its
// fields and detections, and (DATASET) its dataset status.
import {h, field, errorBox, fmtTime} from '../ui.js';
import {STATUSES, ensureStyles, mayChangeStatus, classCatalog, classColor, shortId} from '../review.js';

export async function render(view, ctx, params) {
  await ensureStyles();
  const id = params.id;
  const path = '/annotations/' + encodeURIComponent(id);
  const [a, classes] = await Promise.all([ctx.api.json(path),
    classCatalog(ctx.api).catch(() => new Map())]); // no catalog: boxes still drawn, in palette colours
  const urls = [];
  const name = a.name || shortId(a.id);
  const detections = a.detections || [];

  const canvas = h('canvas', {id: 'annotation-canvas', role: 'img', 'data-box-count': '0',
    'aria-label': 'Image of ' + name + ' with ' + detections.length + ' boxes'});
  const showLabels = h('input', {type: 'checkbox', id: 'show-labels', checked: true});
  const imageNote = h('p', {class: 'muted', id: 'image-note'});
  const statusPill = h('span', {class: 'pill status ' + a.status, id: 'annotation-status', 'data-status': a.status},
      a.status);
  const message = h('div', {'aria-live': 'polite'});

  let picture = null; // the decoded image, or null to draw the boxes on an empty frame of the annotation's size
  function draw() {
    const w = picture ? picture.naturalWidth : (a.width || 640);
    const hgt = picture ? picture.naturalHeight : (a.height || 480);
    canvas.width = w;
    canvas.height = hgt;
    const g = canvas.getContext('2d');
    if (picture) {
      g.drawImage(picture, 0, 0);
    } else {
      g.fillStyle = '#e4e8ef';
      g.fillRect(0, 0, w, hgt);
    }
    const line = Math.max(2, Math.round(Math.min(w, hgt) / 300));
    const font = Math.max(12, Math.round(Math.min(w, hgt) / 45));
    g.font = `600 ${font}px system-ui, sans-serif`;
    g.textBaseline = 'top';
    let count = 0;
    detections.forEach((d) => {
      const color = classColor(classes, d.classNum);
      const x = (d.centerX - d.width / 2) * w;
      const y = (d.centerY - d.height / 2) * hgt;
      g.strokeStyle = color;
      g.lineWidth = line;
      g.strokeRect(x, y, d.width * w, d.height * hgt);
      count++;
      if (showLabels.checked) {
        const text = labelOf(d) + ' ' + Math.round((d.confidence ?? 1) * 100) + '%';
        const tw = g.measureText(text).width + 8;
        const ty = y - font - 6 >= 0 ? y - font - 6 : y;
        g.fillStyle = color;
        g.fillRect(x - line / 2, ty, tw, font + 6);
        g.fillStyle = readableOn(color);
        g.fillText(text, x + 4 - line / 2, ty + 3);
      }
    });
    canvas.dataset.boxCount = String(count);
    canvas.dataset.drawn = 'true';
  }

  function labelOf(d) {
    const c = classes.get(d.classNum);
    return d.label || (c && c.name) || 'class ' + d.classNum;
  }

  showLabels.addEventListener('change', draw);

  async function loadPicture() {
    // The original where the browser can show it (not TIFF), else the thumbnail, else an empty frame.
    const tries = a.imageFormat === 'tiff' ? ['thumbnail'] : ['image', 'thumbnail'];
    for (const kind of tries) {
      try {
        const url = await ctx.api.objectUrl(path + '/' + kind);
        urls.push(url);
        const img = new Image();
        img.src = url;
        await img.decode();
        picture = img;
        imageNote.textContent = kind === 'image' ? '' : 'Showing the thumbnail (the original cannot be shown here).';
        return;
      } catch (e) {
        imageNote.textContent = 'The ' + kind + ' is not available: ' + e.message
            + (e.requestId ? ' (request id ' + e.requestId + ')' : '');
      }
    }
  }

  // ---------------------------------------------------------------- fields, detections, status

  const fields = [['Id', a.id], ['Name', a.name], ['Flight', a.flightId], ['Waypoint', a.waypointId],
    ['Source', a.source], ['Media', a.mediaId], ['Job', a.jobId], ['Size', a.width && a.width + ' × ' + a.height],
    ['Format', a.imageFormat], ['Files', a.filesState], ['Version', a.version], ['Created by', a.createdBy],
    ['Created', fmtTime(a.createdAt)], ['Updated', fmtTime(a.updatedAt)]];
  const facts = h('dl', {class: 'facts'}, fields.filter(([, v]) => v !== null && v !== undefined && v !== '')
      .flatMap(([k, v]) => [h('dt', {}, k), h('dd', {}, String(v))]));

  const table = h('table', {id: 'detections'},
      h('caption', {class: 'visually-hidden'}, 'Detections'),
      h('thead', {}, h('tr', {}, h('th', {scope: 'col'}, 'Class'), h('th', {scope: 'col'}, 'Label'),
          h('th', {scope: 'col'}, 'Confidence'), h('th', {scope: 'col'}, 'Box (cx, cy, w, h)'))),
      h('tbody', {}, detections.map((d) => h('tr', {},
          h('td', {}, h('span', {class: 'swatch', style: 'background:' + classColor(classes, d.classNum)}),
              ' ' + d.classNum),
          h('td', {}, labelOf(d)),
          h('td', {}, Math.round((d.confidence ?? 1) * 100) + ' %'),
          h('td', {}, [d.centerX, d.centerY, d.width, d.height].map((v) => v.toFixed(3)).join(', '))))));

  let statusCard = null;
  if (mayChangeStatus(ctx)) {
    const select = h('select', {id: 'detail-status'}, STATUSES.map((s) => h('option', {value: s}, s)));
    select.value = a.status;
    const save = async (status) => {
      message.replaceChildren();
      try {
        await ctx.api.json('/dataset/' + encodeURIComponent(a.id) + '/status', {method: 'PATCH', body: {status}});
        a.status = status;
        select.value = status;
        statusPill.className = 'pill status ' + status;
        statusPill.dataset.status = status;
        statusPill.textContent = status;
        ctx.notify(name + ' set to ' + status);
      } catch (e) {
        message.replaceChildren(errorBox(e));
      }
    };
    statusCard = h('form', {class: 'card', id: 'detail-status-form', onsubmit: (e) => {
      e.preventDefault();
      save(select.value);
    }}, h('h2', {}, 'Dataset status'), field('Status', select),
    h('div', {class: 'actions'}, h('button', {type: 'submit', id: 'save-status'}, 'Save status'),
        h('button', {type: 'button', class: 'secondary', id: 'validate', onclick: () => save('Validated')},
            'Validate')));
  }

  view.append(
      h('p', {}, h('a', {href: '#/annotations'}, '← Annotations')),
      h('h1', {}, name, ' ', statusPill),
      message,
      h('div', {class: 'split'},
          h('div', {class: 'card viewer'}, canvas, imageNote,
              h('div', {class: 'actions'}, h('span', {class: 'check'}, showLabels,
                  h('label', {for: 'show-labels'}, 'Show labels')),
              h('span', {class: 'muted'}, detections.length + (detections.length === 1 ? ' box' : ' boxes')))),
          h('div', {}, statusCard, h('section', {class: 'card'}, h('h2', {}, 'Fields'), facts))),
      h('section', {class: 'card'}, h('h2', {}, 'Detections'),
          detections.length ? table : h('p', {class: 'muted'}, 'No detections.')));

  await loadPicture();
  draw();

  return () => urls.forEach((u) => URL.revokeObjectURL(u));
}

/** Black or white text, whichever reads better on the colour. */
function readableOn(color) {
  let r;
  let g;
  let b;
  const rgba = /^rgba?\((\d+), (\d+), (\d+)/.exec(color);
  if (rgba) {
    [r, g, b] = rgba.slice(1).map(Number);
  } else {
    const hex = color.replace('#', '');
    [r, g, b] = [0, 2, 4].map((i) => parseInt(hex.slice(i, i + 2), 16));
  }
  return (0.299 * r + 0.587 * g + 0.114 * b) > 150 ? '#000' : '#fff';
}
