// What the review pages (annotations, one annotation, admin) share: their stylesheet, loaded only when one of them
// is opened (the first load stays small), the annotation statuses, the class catalog and class colours.

export const STATUSES = ['Created', 'Edited', 'Validated', 'Deleted'];

/** Adds review.css once; resolves when it applies, so a page does not flash unstyled. */
export function ensureStyles() {
  if (document.getElementById('review-css')) {
    return Promise.resolve();
  }
  return new Promise((resolve) => {
    const link = document.createElement('link');
    link.id = 'review-css';
    link.rel = 'stylesheet';
    link.href = 'review.css';
    link.onload = () => resolve();
    link.onerror = () => resolve(); // unstyled beats unusable
    document.head.append(link);
  });
}

/** The server checks permissions with ADM passing every check; the console hides controls the same way. */
export function mayChangeStatus(ctx) {
  return ctx.can('DATASET', 'ADM');
}

export function mayFollow(ctx) {
  return ctx.can('ANN', 'ADM');
}

/** GET /classes as a Map of class number to class. */
export async function classCatalog(api) {
  const list = await api.json('/classes');
  return new Map((list || []).map((c) => [c.id, c]));
}

// Used for class numbers the catalog does not name (models bring their own): distinct, readable on photos.
const PALETTE = ['#e6194b', '#3cb44b', '#ffe119', '#4363d8', '#f58231', '#911eb4', '#46f0f0', '#f032e6',
  '#bcf60c', '#fabebe', '#008080', '#e6beff', '#9a6324', '#fffac8', '#800000', '#aaffc3'];

/** A CSS colour from the catalog's #RRGGBB or #AARRGGBB (alpha first, as the original WPF client wrote it). */
export function cssColor(hex) {
  if (typeof hex !== 'string') {
    return null;
  }
  const m8 = /^#([0-9a-f]{2})([0-9a-f]{6})$/i.exec(hex);
  if (m8) {
    const a = parseInt(m8[1], 16) / 255;
    const rgb = m8[2];
    return `rgba(${parseInt(rgb.slice(0, 2), 16)}, ${parseInt(rgb.slice(2, 4), 16)}, ${parseInt(rgb.slice(4, 6), 16)}, `
        + `${a.toFixed(3)})`;
  }
  return /^#[0-9a-f]{6}$/i.test(hex) ? hex : null;
}

export function classColor(classes, classNum) {
  const c = classes && classes.get(classNum);
  return (c && cssColor(c.color)) || PALETTE[Math.abs(classNum) % PALETTE.length];
}

/** The #RRGGBB part of a catalog colour (what <input type=color> takes). */
export function rgbPart(hex) {
  if (typeof hex !== 'string') {
    return '#ff0000';
  }
  if (/^#[0-9a-f]{8}$/i.test(hex)) {
    return '#' + hex.slice(3).toLowerCase();
  }
  return /^#[0-9a-f]{6}$/i.test(hex) ? hex.toLowerCase() : '#ff0000';
}

export function shortId(id) {
  return id ? id.slice(0, 8) + '…' : '';
}
