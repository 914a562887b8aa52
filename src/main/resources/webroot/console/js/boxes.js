// Class colours and box drawing, shared by the pages that show detections. Colours come from the class catalog
// (GET /classes) when the token may read it, matched by class name; any other class gets a colour of its own from
// a fixed palette, the same on every page and visit.
import {h} from './ui.js';

/** A colour per class: catalog colours by name (case-insensitive), else a deterministic one. */
export async function classColours(ctx) {
  const byName = new Map();
  if (ctx.can('ANN', 'DATASET', 'ADM')) {
    try {
      const classes = await ctx.api.json('/classes');
      (classes || []).forEach((c) => byName.set(String(c.name).toLowerCase(), cssColour(c.color)));
    } catch (e) {
      // colours are a nicety: the palette below stands in
    }
  }
  return (name, id) => byName.get(String(name).toLowerCase()) || paletteColour(name, id);
}

/** '#AARRGGBB' (the catalog's alpha-first form) or '#RRGGBB' to a CSS colour. */
export function cssColour(c) {
  const s = String(c || '');
  if (/^#[0-9a-f]{8}$/i.test(s)) {
    return '#' + s.slice(3) + s.slice(1, 3);
  }
  return /^#[0-9a-f]{6}$/i.test(s) ? s : null;
}

/** Golden-angle hues by class id (or by a hash of the name when the id is -1): neighbours differ clearly. */
export function paletteColour(name, id) {
  let n = Number.isInteger(id) && id >= 0 ? id : 0;
  if (!(Number.isInteger(id) && id >= 0)) {
    for (const ch of String(name)) {
      n = (n * 31 + ch.charCodeAt(0)) >>> 0;
    }
  }
  return 'hsl(' + Math.round((n * 137.508) % 360) + ', 80%, 45%)';
}

/**
 * Draws an image and the detections that pass the filter on a canvas at the image's own resolution (CSS scales
 * it down), and records how many boxes it drew in data-box-count. Returns that number.
 */
export function drawBoxes(canvas, image, detections, colourOf, {minConfidence = 0, classes = null, labels = true}) {
  canvas.width = image.naturalWidth;
  canvas.height = image.naturalHeight;
  const g = canvas.getContext('2d');
  g.drawImage(image, 0, 0);
  const scale = Math.max(1, image.naturalWidth / 1000); // lines and labels readable once scaled down
  g.lineWidth = 2 * scale;
  g.font = Math.round(13 * scale) + 'px system-ui, sans-serif';
  g.textBaseline = 'top';
  let drawn = 0;
  for (const d of detections) {
    if (d.confidence < minConfidence || (classes && !classes.has(d.class_name))) {
      continue;
    }
    const b = d.bbox;
    const colour = colourOf(d.class_name, d.class_id);
    g.strokeStyle = colour;
    g.strokeRect(b.x1, b.y1, b.x2 - b.x1, b.y2 - b.y1);
    if (labels) {
      const text = d.class_name + ' ' + d.confidence.toFixed(2);
      const w = g.measureText(text).width + 6 * scale;
      const th = 16 * scale;
      const y = b.y1 - th >= 0 ? b.y1 - th : b.y1;
      g.fillStyle = colour;
      g.fillRect(b.x1, y, w, th);
      g.fillStyle = '#fff';
      g.fillText(text, b.x1 + 3 * scale, y + 1.5 * scale);
    }
    drawn++;
  }
  canvas.dataset.boxCount = String(drawn);
  return drawn;
}

/** A horizontal bar chart (plain SVG) of counts by class, largest first, with the numbers as text. */
export function countChart(counts, colourOf, title) {
  const rows = [...counts.entries()].sort((a, b) => b[1].count - a[1].count);
  const max = Math.max(1, ...rows.map(([, v]) => v.count));
  const barH = 22;
  const labelW = 130;
  const width = 520;
  const ns = 'http://www.w3.org/2000/svg';
  const el = (tag, attrs, text) => {
    const e = document.createElementNS(ns, tag);
    Object.entries(attrs).forEach(([k, v]) => e.setAttribute(k, String(v)));
    if (text !== undefined) {
      e.textContent = text;
    }
    return e;
  };
  const svg = el('svg', {viewBox: '0 0 ' + width + ' ' + Math.max(barH, rows.length * barH), role: 'img',
    class: 'chart', 'aria-label': title + ': ' + (rows.length ? rows.map(([k, v]) => k + ' ' + v.count).join(', ') :
      'no detections')});
  rows.forEach(([name, v], i) => {
    const y = i * barH;
    const w = Math.max(2, (width - labelW - 50) * v.count / max);
    const g = el('g', {'data-class': name, 'data-count': v.count});
    g.append(el('title', {}, name + ': ' + v.count),
        el('text', {x: labelW - 6, y: y + 15, 'text-anchor': 'end', class: 'chart-label'}, name),
        el('rect', {x: labelW, y: y + 3, width: w, height: barH - 6, rx: 3, fill: colourOf(name, v.id)}),
        el('text', {x: labelW + w + 6, y: y + 15, class: 'chart-value'}, String(v.count)));
    svg.append(g);
  });
  return h('figure', {class: 'chart-box'}, svg);
}
