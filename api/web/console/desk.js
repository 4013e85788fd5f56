// The hospital's desk: a hospital's own invoices (searched by number and issue day, newest first), one
// invoice in full (desk-invoice.js), an upload with each refused row shown in place (desk-upload.js) and
// the claw-backs it must settle (desk-clawbacks.js). Routes: #/desk[?number=&from=&to=&state=],
// #/desk/0x<fingerprint>[/print], #/desk/upload, #/desk/clawbacks. No patient data is shown anywhere.

import { clear, h, yuan } from '/assets/shared/dom.js';
import { lag, stateBadge } from './desk-common.js';
import { labelled, table } from './table.js';

const STATES = ['stored', 'anchored', 'voided'];
const PAGE = 50;

function loadStyles() {
  if (document.querySelector('link[data-desk]')) return;
  document.head.append(h('link', { rel: 'stylesheet', href: '/console/desk.css', dataset: { desk: '1' } }));
}

function tabs({ t }, current) {
  const tab = (key, hash) => h('a', { href: hash, 'aria-current': key === current ? 'page' : null }, t(`desk_tab_${key}`));
  return h('nav', { class: 'tabs', 'aria-label': t('desk_tabs') },
    tab('invoices', '#/desk'), tab('upload', '#/desk/upload'), tab('clawbacks', '#/desk/clawbacks'));
}

export async function renderDesk(ctx, id) {
  loadStyles();
  const [, , , sub] = (location.hash || '').split('?')[0].split('/');   // #/desk/<id>/<sub>
  if (id && /^0x[0-9a-fA-F]{64}$/.test(id)) {
    const { renderInvoice } = await import('./desk-invoice.js');
    await renderInvoice(ctx, id.toLowerCase(), { print: sub === 'print' });
    return;
  }
  const view = id === 'upload' || id === 'clawbacks' ? id : 'invoices';
  clear(ctx.main, h('h1', {}, ctx.t('desk_title')), tabs(ctx, view));
  if (view === 'upload') await (await import('./desk-upload.js')).renderUpload(ctx);
  else if (view === 'clawbacks') await (await import('./desk-clawbacks.js')).renderClawbacks(ctx);
  else await renderInvoices(ctx);
}

// ---------------------------------------------------------------------- the invoices, searched

function searchForm(ctx, q) {
  const { t } = ctx;
  const number = h('input', { type: 'search', id: 'd-number', name: 'number', inputmode: 'numeric', autocomplete: 'off',
    maxlength: '10', pattern: '[0-9]*', value: q.get('number') || '', 'aria-describedby': 'd-number-hint' });
  const from = h('input', { type: 'date', id: 'd-from', name: 'from', value: q.get('from') || '' });
  const to = h('input', { type: 'date', id: 'd-to', name: 'to', value: q.get('to') || '' });
  const state = h('select', { id: 'd-state', name: 'state' }, h('option', { value: '' }, t('desk_any')),
    STATES.map((s) => h('option', { value: s, selected: q.get('state') === s }, t(`desk_state_${s}`))));
  return h('form', { class: 'card desk-search', role: 'search', novalidate: true, onsubmit: (ev) => {
    ev.preventDefault();
    const p = new URLSearchParams();
    const n = number.value.replace(/\s+/g, '');
    if (n) p.set('number', n);
    if (from.value) p.set('from', from.value);
    if (to.value) p.set('to', to.value);
    if (state.value) p.set('state', state.value);
    ctx.go(`#/desk${p.toString() ? `?${p}` : ''}`);
  } },
  h('div', { class: 'number' }, h('label', { for: 'd-number' }, t('desk_fNumber')), number,
    h('p', { class: 'hint', id: 'd-number-hint' }, t('desk_fNumberHint'))),
  h('div', {}, h('label', { for: 'd-from' }, t('desk_fFrom')), from),
  h('div', {}, h('label', { for: 'd-to' }, t('desk_fTo')), to),
  h('div', {}, h('label', { for: 'd-state' }, t('desk_fState')), state),
  h('div', { class: 'row' }, h('button', { type: 'submit' }, t('desk_search')),
    h('button', { type: 'button', class: 'secondary', onclick: () => ctx.go('#/desk') }, t('reset'))));
}

function invoiceRow(ctx, inv) {
  return h('tr', { dataset: { fingerprint: inv.fingerprint, number: inv.invoiceNumber } },
    h('td', { class: 'inv' }, h('a', { href: `#/desk/${inv.fingerprint}` }, `${inv.invoiceCode} / ${inv.invoiceNumber}`)),
    h('td', { class: 'nowrap' }, inv.issuedAt ? ctx.day(inv.issuedAt) : '—'),
    h('td', { class: 'num' }, yuan(inv.totalFen, ctx.i18n.lang)),
    h('td', {}, stateBadge(ctx, inv)),
    h('td', { class: 'nowrap' }, ctx.when(inv.receivedAt)),
    h('td', { class: 'num lag', title: inv.anchoredAt ? ctx.when(inv.anchoredAt) : '' }, lag(ctx, inv)));
}

async function renderInvoices(ctx) {
  const { t, api, main } = ctx;
  const q = new URLSearchParams(location.hash.split('?')[1] || '');
  const filtered = ['number', 'from', 'to', 'state'].some((k) => q.get(k));
  const head = [t('desk_colInvoice'), t('desk_colIssued'), [t('desk_colTotal'), 'num'], t('desk_colState'),
    t('desk_colReceived'), [t('desk_colLag'), 'num']];
  const count = h('p', { class: 'count', 'aria-live': 'polite' });
  const more = h('button', { type: 'button', class: 'secondary', hidden: true }, t('more'));
  let after = null;
  let shown = 0;
  const page = async () => {
    const p = new URLSearchParams({ order: 'newest', limit: String(PAGE) });
    if (q.get('number')) p.set('number', q.get('number'));
    if (q.get('from')) p.set('issuedFrom', q.get('from'));
    if (q.get('to')) p.set('issuedTo', q.get('to'));
    if (q.get('state')) p.set('state', q.get('state'));
    if (after) p.set('after', after);
    const doc = await api.get(`/v1/invoices?${p}`);
    after = doc.next || null;
    more.hidden = !after;
    shown += doc.items.length;
    count.textContent = t('desk_count', { n: shown, more: !!after });
    return doc.items.map((inv) => invoiceRow(ctx, inv));
  };
  main.append(h('p', { class: 'muted' }, t('desk_intro')), searchForm(ctx, q));
  const slot = ctx.loading();
  main.append(slot);
  let rows;
  try {
    rows = await page();
  } catch (err) {
    slot.replaceWith(ctx.errorBox(err, { retry: () => ctx.go(location.hash) }));
    return;
  }
  if (!rows.length) {
    slot.replaceWith(h('p', { class: 'card muted', role: 'status' }, t(filtered ? 'desk_empty' : 'desk_emptyAll')));
    return;
  }
  const list = table(head, rows, 'desk');
  more.addEventListener('click', () => {
    more.disabled = true;
    page().then((next) => list.querySelector('tbody').append(...labelled(head, next)))
      .catch((e) => more.after(ctx.errorBox(e))).finally(() => { more.disabled = false; });
  });
  slot.replaceWith(h('section', { 'aria-label': t('desk_tab_invoices') },
    h('div', { class: 'spread' }, count,
      h('button', { type: 'button', class: 'secondary', onclick: () => ctx.go(location.hash) }, t('refresh'))),
    list, more));
}
