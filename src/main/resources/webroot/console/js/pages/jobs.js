// The caller's jobs, newest first, with a status filter and paging; both live in the address
// (#/jobs?status=completed&page=2), so Back and a shared link show the same page. Listing needs a token
// (GET /api/v1/jobs refuses anonymous callers), so without one the page says so instead of asking.
import {h, field, errorBox, fmtTime} from '../ui.js';

const STATUSES = ['queued', 'processing', 'completed', 'failed', 'cancelled'];
const PAGE_SIZE = 20;

export async function render(view, ctx, params) {
  view.append(h('h1', {}, 'Jobs'));
  if (!ctx.me || ctx.me.anonymous) {
    view.append(h('div', {class: 'card narrow'}, h('p', {}, 'Listing jobs needs a token: every caller without one is' +
      ' the same user. A job you started without one stays readable by its link (#/jobs/<job id>).'),
    h('a', {href: '#/signin'}, 'Sign in')));
    return;
  }
  const q = params.query;
  const status = STATUSES.includes(q.get('status')) ? q.get('status') : '';
  const page = Math.max(1, parseInt(q.get('page') || '1', 10) || 1);

  const filter = h('select', {id: 'status-filter', name: 'status'}, h('option', {value: ''}, 'All'),
      ...STATUSES.map((s) => h('option', {value: s, selected: s === status}, s)));
  filter.addEventListener('change', () => go(filter.value, 1));
  const body = h('div', {id: 'jobs-body', 'aria-live': 'polite'}, h('p', {class: 'muted'}, 'Loading…'));
  view.append(h('div', {class: 'toolbar'}, field('Status', filter),
      h('a', {href: '#/detect', class: 'button-link'}, 'New detection')), body);

  function go(s, p) {
    const qs = new URLSearchParams();
    if (s) {
      qs.set('status', s);
    }
    if (p > 1) {
      qs.set('page', p);
    }
    ctx.navigate('#/jobs' + (qs.toString() ? '?' + qs : ''));
  }

  let list;
  try {
    list = await ctx.api.json('/api/v1/jobs?page=' + page + '&page_size=' + PAGE_SIZE +
      (status ? '&status=' + status : ''));
  } catch (e) {
    body.replaceChildren(errorBox(e));
    return;
  }
  const pages = Math.max(1, Math.ceil(list.total / PAGE_SIZE));
  const rows = list.jobs.map((j) => {
    const p = j.progress || {};
    return h('tr', {'data-job-id': j.job_id},
        h('td', {}, h('a', {href: '#/jobs/' + encodeURIComponent(j.job_id)}, h('code', {}, j.job_id.slice(0, 8)),
            h('span', {class: 'visually-hidden'}, ' job ' + j.job_id))),
        h('td', {}, h('span', {class: 'pill ' + j.status}, j.status)),
        h('td', {}, (p.processed_images || 0) + ' / ' + (p.total_images || 0)),
        h('td', {}, j.summary ? String(j.summary.total_detections) : '–'),
        h('td', {}, j.summary && j.summary.model ? j.summary.model : '–'),
        h('td', {}, fmtTime(j.created_at)),
        h('td', {}, fmtTime(j.completed_at || j.failed_at || j.cancelled_at || '')));
  });
  body.replaceChildren(
      rows.length ? h('div', {class: 'table-wrap'}, h('table', {id: 'jobs-table'},
          h('caption', {class: 'visually-hidden'}, 'Jobs'),
          h('thead', {}, h('tr', {}, ['Job', 'Status', 'Images', 'Detections', 'Model', 'Created', 'Finished']
              .map((t) => h('th', {scope: 'col'}, t)))),
          h('tbody', {}, rows))) :
        h('p', {class: 'muted', id: 'jobs-empty'}, status ? 'No ' + status + ' jobs.' : 'No jobs yet.'),
      h('nav', {class: 'pager', 'aria-label': 'Pages'},
          h('button', {type: 'button', class: 'secondary', id: 'page-prev', disabled: page <= 1,
            onclick: () => go(status, page - 1)}, '← Newer'),
          h('span', {id: 'page-info'}, 'Page ' + page + ' of ' + pages + ' · ' + list.total + ' job(s)'),
          h('button', {type: 'button', class: 'secondary', id: 'page-next', disabled: page >= pages,
            onclick: () => go(status, page + 1)}, 'Older →')));
}
