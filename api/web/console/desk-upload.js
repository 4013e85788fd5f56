// The hospital desk's upload: one invoice file (JSON, NDJSON, FHIR bundle, flat CSV) or the CSV pair, sent as
// it is with its own name, so the service names each refused row by its place in that file; the answer is
// shown row by row, every problem in the row it concerns.

import { ApiError } from '/assets/shared/api.js';
import { clear, h } from '/assets/shared/dom.js';
import { table } from './table.js';

const TONE = { created: 'ok', duplicate: '', conflict: 'bad', rejected: 'bad' };
const STATUSES = ['created', 'duplicate', 'conflict', 'rejected'];
// above this many rows, the rows with problems are shown first and the others on request
const ALL_ROWS_UP_TO = 100;

/** The multipart part each chosen file goes in: the CSV pair by name, anything else as the invoices. */
function parts(files) {
  const names = files.map((f) => f.name.toLowerCase());
  if (files.length === 1) return [['invoices', files[0]]];
  if (files.length === 2 && names.includes('invoices.csv') && names.includes('fee_lines.csv')) {
    return files.map((f) => [f.name.toLowerCase() === 'fee_lines.csv' ? 'fee_lines' : 'invoices', f]);
  }
  return null;
}

/** Where in its row a problem is (the row itself is in the first column). */
function where(item, p) {
  const src = p.source || '';
  if (src && src.startsWith(item.ref)) return src.slice(item.ref.length).replace(/^[:\s]+/, '') || p.field;
  return src || p.field;
}

function itemRow(ctx, item) {
  const { t } = ctx;
  const inv = item.invoice;
  const more = (item.problemCount || 0) - (item.problems || []).length;
  return h('tr', { class: item.status, dataset: { status: item.status, index: String(item.index) } },
    h('td', { class: 'nowrap' }, item.ref),
    h('td', { class: 'result' }, h('span', { class: `badge ${TONE[item.status] || ''}`.trim() }, t(`desk_status_${item.status}`)),
      inv ? [' ', h('a', { href: `#/desk/${inv.fingerprint}` }, `${inv.invoiceCode} / ${inv.invoiceNumber}`)] : null),
    h('td', {}, item.problems && item.problems.length
      ? h('ul', { class: 'problems' }, item.problems.map((p) => h('li', { dataset: { rule: p.rule } },
        h('span', { class: 'where' }, where(item, p)), p.message)),
      more > 0 ? h('li', { class: 'muted' }, t('desk_problemsMore', { n: more })) : null)
      : ''));
}

function report(ctx, doc) {
  const { t } = ctx;
  const counts = Object.fromEntries(STATUSES.map((s) => [s, (doc.counts && doc.counts[s]) || 0]));
  const head = [t('desk_colRow'), t('desk_colResult'), t('desk_colProblems')];
  const bad = doc.items.filter((i) => i.status === 'rejected' || i.status === 'conflict');
  const rowsOf = (items) => table(head, items.map((i) => itemRow(ctx, i)), 'upload-rows');
  const box = h('div', {});
  const many = doc.items.length > ALL_ROWS_UP_TO;
  let all = !many || !bad.length;
  const toggle = h('button', { type: 'button', class: 'secondary', hidden: !many || !bad.length });
  const draw = () => {
    clear(box, all ? (many && !bad.length ? null : rowsOf(doc.items)) : rowsOf(bad));
    toggle.textContent = all ? t('desk_onlyProblems') : t('desk_showAll', { n: doc.items.length });
  };
  toggle.addEventListener('click', () => { all = !all; draw(); });
  draw();
  return h('section', { class: 'card upload-report', 'aria-labelledby': 'u-result', dataset: { created: String(counts.created),
    rejected: String(counts.rejected) } },
  h('h2', { id: 'u-result', tabindex: '-1' }, t('desk_result', counts)),
  h('div', { class: 'upload-counts' }, STATUSES.filter((s) => counts[s]).map((s) =>
    h('span', { class: `badge ${TONE[s] || ''}`.trim() }, `${t(`desk_status_${s}`)} ${counts[s]}`))),
  bad.length ? null : h('div', { class: 'alert ok', role: 'status' }, t('desk_allGood')),
  toggle, box);
}

export async function renderUpload(ctx) {
  const { t, api, main } = ctx;
  const input = h('input', { type: 'file', id: 'u-file', multiple: true, accept: '.json,.ndjson,.jsonl,.csv,.tsv',
    'aria-describedby': 'u-hint' });
  const button = h('button', { type: 'submit' }, t('desk_upload'));
  const out = h('div', { class: 'upload-out', 'aria-live': 'polite' });
  const form = h('form', { class: 'card', novalidate: true, onsubmit: async (ev) => {
    ev.preventDefault();
    clear(out);
    const files = [...(input.files || [])];
    if (!files.length) { out.append(ctx.errorBox(t('desk_fileMissing'))); input.focus(); return; }
    const chosen = parts(files);
    if (!chosen) { out.append(ctx.errorBox(t('desk_fileTooMany'))); input.focus(); return; }
    const body = new FormData();
    // untyped: the service tells the format by the file's name and content, as `ebill upload` does
    for (const [name, f] of chosen) body.append(name, new Blob([f]), f.name);
    button.disabled = true; button.textContent = t('desk_uploading');
    try {
      const doc = (await api.upload('/v1/invoices', body)).data;
      out.append(report(ctx, doc));
      out.querySelector('h2').focus();
    } catch (err) {
      if (err instanceof ApiError && err.status === 413) out.append(ctx.errorBox(t('desk_tooLarge')));
      else out.append(ctx.errorBox(err, { title: err instanceof ApiError && err.status === 422 ? t('desk_fileRefused') : null }));
      const alert = out.querySelector('[role=alert]');
      if (alert) { alert.setAttribute('tabindex', '-1'); alert.focus(); }
    }
    button.disabled = false; button.textContent = t('desk_upload');
  } },
  h('h2', {}, t('desk_uploadTitle')), h('p', { class: 'hint', id: 'u-hint' }, t('desk_uploadIntro')),
  h('label', { for: 'u-file' }, t('desk_fileLabel')), input, h('p', {}, button));
  main.append(form, out);
}
