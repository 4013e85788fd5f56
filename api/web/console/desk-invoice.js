// One of the hospital's invoices: where it stands (stored → anchored → voided, with the anchoring lag), its
// facts and anchor, the inclusion proof, the print view and PDF, and the void: a reason code, an optional
// note, and a confirmation step before anything is sent. The patient's pseudonym is never shown.

import { clear, h, hash, yuan } from '/assets/shared/dom.js';
import { actionButton, duration, facts, fetchWithToken, lag, save, stateBadge } from './desk-common.js';

// the reason codes a void may give, in ledger/voids.py's order (tests/unit/test_voids.py compares them)
export const VOID_CODES = ['refund', 'resettled', 'issued-in-error', 'duplicate', 'amount-error', 'patient-details-error', 'other'];

const money = (ctx, fen) => yuan(fen, ctx.i18n.lang);
const fileName = (inv, ext) => `${inv.invoiceCode}-${inv.invoiceNumber}.${ext}`;

export async function renderInvoice(ctx, fp, { print }) {
  const { t, api, main } = ctx;
  clear(main, h('p', {}, h('a', { href: '#/desk' }, t('desk_back'))), ctx.loading());
  const inv = await api.get(`/v1/invoices/${fp}`);
  if (print) {
    await renderPrint(ctx, inv);
    return;
  }
  const out = h('div', { 'aria-live': 'polite' });
  const actions = h('div', { class: 'desk-actions' },
    h('a', { class: 'btn secondary', href: `#/desk/${inv.fingerprint}/print` }, t('desk_printView')),
    actionButton(ctx, t('desk_pdf'), async () => {
      const resp = await fetchWithToken(`/v1/invoices/${inv.fingerprint}/print.pdf`);
      save(await resp.blob(), fileName(inv, 'pdf'));
    }, { out }),
    inv.inclusionProof ? actionButton(ctx, t('desk_proofDownload'), async () => {
      const doc = await api.get(`/v1/proofs/${inv.fingerprint}`);
      save(new Blob([JSON.stringify(doc, null, 2)], { type: 'application/json' }), `proof-${fileName(inv, 'json')}`);
    }, { out }) : null);
  clear(main,
    h('p', {}, h('a', { href: '#/desk' }, t('desk_back'))),
    h('div', { class: 'spread' }, h('h1', {}, t('desk_invoiceTitle', { code: inv.invoiceCode, number: inv.invoiceNumber })),
      stateBadge(ctx, inv)),
    steps(ctx, inv),
    h('section', { class: 'card', 'aria-labelledby': 'd-print' }, h('h2', { id: 'd-print' }, t('desk_printTitle')), actions, out),
    h('div', { class: 'cols' }, invoiceFacts(ctx, inv), chainFacts(ctx, inv)),
    proof(ctx, inv),
    inv.void ? voidFacts(ctx, inv.void) : voidForm(ctx, inv));
}

// ---------------------------------------------------------------------- where it stands

function steps(ctx, inv) {
  const { t } = ctx;
  const v = inv.void;
  const step = (cls, key, detail, current) => h('li', { class: cls, 'aria-current': current ? 'step' : null, dataset: { step: key } },
    h('span', { class: 'step-title' }, t(`desk_step_${key}`)), h('span', { class: 'step-detail' }, detail));
  const anchored = inv.block !== null && inv.block !== undefined;
  let voided;
  if (!v) voided = step('todo', 'voided', t('desk_stepNotVoided'), false);
  else if (v.state === 'voided') voided = step('voided', 'voided', t('desk_stepVoidedAt', { at: ctx.when(v.requestedAt), block: v.block }), true);
  else if (v.state === 'failed') voided = step('current', 'voided', t('desk_stepVoidFailed', { at: ctx.when(v.requestedAt), error: v.error || '' }), true);
  else voided = step('current', 'voided', t('desk_stepVoidPending', { at: ctx.when(v.requestedAt) }), true);
  return h('ol', { class: 'steps', 'aria-label': t('desk_stepsLabel') },
    step('done', 'stored', t('desk_stepStoredAt', { at: ctx.when(inv.receivedAt) }), false),
    anchored
      ? step('done', 'anchored', t('desk_stepAnchoredAt', { at: ctx.when(inv.anchoredAt), block: inv.block, lag: lag(ctx, inv) }), !v)
      : step('current', 'anchored', t('desk_stepAnchorWaiting', { t: duration(ctx, (Date.now() - Date.parse(inv.receivedAt)) / 1000) }), !v),
    voided);
}

function invoiceFacts(ctx, inv) {
  const { t } = ctx;
  const r = inv.reimbursement || {};
  return h('section', { class: 'card desk-facts', 'aria-labelledby': 'd-facts' }, h('h2', { id: 'd-facts' }, t('desk_factsTitle')), facts([
    [t('desk_issuedAt'), ctx.when(inv.issuedAt)],
    [t('desk_visit'), ctx.i18n.has(`desk_visit_${inv.visitType}`) ? t(`desk_visit_${inv.visitType}`) : inv.visitType],
    [t('desk_total'), money(ctx, inv.totalFen)],
    [t('desk_fund'), money(ctx, inv.fundPaidFen)], [t('desk_account'), money(ctx, inv.accountPaidFen)],
    [t('desk_cash'), money(ctx, inv.cashPaidFen)],
    [t('desk_lines'), String(inv.feeLineCount)], [t('desk_checkCode'), h('code', {}, inv.checkCode)],
    [t('desk_reimbursed'), t('desk_reimbursedValue', { paid: money(ctx, r.paidFen || 0), reserved: money(ctx, r.reservedFen || 0) })],
  ]));
}

function chainFacts(ctx, inv) {
  const { t } = ctx;
  const p = inv.inclusionProof;
  return h('section', { class: 'card desk-facts', 'aria-labelledby': 'd-chain' }, h('h2', { id: 'd-chain' }, t('desk_chainTitle')), facts([
    [t('desk_fingerprint'), hash(inv.fingerprint)],
    [t('desk_batch'), inv.batchRoot ? hash(inv.batchRoot) : null],
    [t('desk_tx'), inv.transaction ? hash(inv.transaction) : null],
    [t('desk_block'), inv.block === null || inv.block === undefined ? null : String(inv.block)],
    [t('anchoredAt'), inv.anchoredAt ? ctx.when(inv.anchoredAt) : null],
    [t('desk_colLag'), lag(ctx, inv)],
    [t('desk_leafCount'), p ? String(p.leafCount) : null],
  ]));
}

function proof(ctx, inv) {
  const { t } = ctx;
  const p = inv.inclusionProof;
  const body = p
    ? [h('p', { class: 'small muted' }, ...t('desk_proofIntro').split(/`([^`]*)`/).map((s, i) => (i % 2 ? h('code', {}, s) : s))),
      facts([[t('desk_batch'), hash(p.batchRoot)], [t('desk_proofLeaf'), [hash(p.leaf.fingerprint), `, ${p.leaf.totalFen}`]]]),
      p.proof.length
        ? h('details', {}, h('summary', {}, t('desk_proofPath', { n: p.proof.length })),
          h('ol', { class: 'proof-path' }, p.proof.map((x) => h('li', {}, h('code', {}, x)))))
        : h('p', { class: 'small' }, t('desk_proofSingle'))]
    : h('p', { class: 'muted' }, t('desk_proofNone'));
  return h('section', { class: 'card desk-facts', 'aria-labelledby': 'd-proof' }, h('h2', { id: 'd-proof' }, t('desk_proofTitle')), body);
}

// ---------------------------------------------------------------------- the void

function voidFacts(ctx, v) {
  const { t } = ctx;
  const label = ctx.i18n.has(`void_${v.reasonCode}`) ? `${t(`void_${v.reasonCode}`)} (${v.reasonCode})` : v.reasonCode;
  return h('section', { class: 'card desk-facts', 'aria-labelledby': 'd-void', dataset: { void: v.state } },
    h('h2', { id: 'd-void' }, t('desk_voidInfo')), facts([
      [t('voidReason'), label], [t('voidNote'), v.reason],
      [t('desk_voidState'), t(`desk_voidState_${v.state}`)], [t('desk_voidRequested'), ctx.when(v.requestedAt)],
      [t('desk_tx'), v.transaction ? hash(v.transaction) : null], [t('desk_block'), v.block === null ? null : String(v.block)],
      [t('errorTitle'), v.error],
    ]),
    v.clawback && (v.clawback.paidFen || v.clawback.reservedFen)
      ? h('p', { class: 'alert warn' }, t('desk_voidClawback', { paid: money(ctx, v.clawback.paidFen), reserved: money(ctx, v.clawback.reservedFen) }),
        ' ', h('a', { href: '#/desk/clawbacks' }, t('desk_tab_clawbacks')))
      : null);
}

function voidForm(ctx, inv) {
  const { t } = ctx;
  const code = h('select', { id: 'void-code', 'aria-describedby': 'void-hint' }, h('option', { value: '' }, t('desk_voidCodeNone')),
    VOID_CODES.map((c) => h('option', { value: c }, `${t(`void_${c}`)} (${c})`)));
  const hint = h('p', { class: 'hint', id: 'void-hint' });
  code.addEventListener('change', () => { hint.textContent = code.value ? t(`desk_voidHint_${code.value}`) : ''; });
  const note = h('textarea', { id: 'void-note', maxlength: '500', rows: '2' });
  const out = h('div', { 'aria-live': 'polite' });
  const start = h('button', { type: 'submit', class: 'danger', id: 'void-start' }, t('desk_voidStart'));
  const controls = [code, note, start];
  const form = h('form', { class: 'card void-form', novalidate: true, 'aria-labelledby': 'd-voidform', onsubmit: (ev) => {
    ev.preventDefault();
    clear(out);
    if (!code.value) { out.append(ctx.errorBox(t('desk_voidCodeMissing'))); code.focus(); return; }
    for (const c of controls) c.disabled = true;
    out.append(confirmation(ctx, inv, { code: code.value, note: note.value.trim() }, () => {
      clear(out);
      for (const c of controls) c.disabled = false;
      start.focus();
    }));
    out.querySelector('h3').focus({ preventScroll: true });
    out.firstChild.scrollIntoView({ block: 'nearest' });
  } },
  h('h2', { id: 'd-voidform' }, t('desk_voidTitle')), h('p', { class: 'small muted' }, t('desk_voidIntro')),
  h('label', { for: 'void-code' }, t('desk_voidCode')), code, hint,
  h('label', { for: 'void-note' }, t('desk_voidNote')), note,
  h('p', {}, start), out);
  return form;
}

/** The last step: what will happen, in words, and a deliberate yes (the request is sent only from here). */
function confirmation(ctx, inv, { code, note }, cancel) {
  const { t, api } = ctx;
  const out = h('div', { 'aria-live': 'assertive' });
  const yes = h('button', { type: 'button', class: 'danger', id: 'void-confirm' }, t('desk_confirmYes'));
  const no = h('button', { type: 'button', class: 'secondary', onclick: cancel }, t('desk_confirmNo'));
  yes.addEventListener('click', async () => {
    yes.disabled = true; no.disabled = true;
    clear(out);
    try {
      await api.post(`/v1/invoices/${inv.fingerprint}/void`, note ? { reasonCode: code, reason: note } : { reasonCode: code });
      ctx.toast(t('desk_voided'));
      ctx.go(location.hash);
    } catch (err) {
      out.append(ctx.errorBox(err));
      yes.disabled = false; no.disabled = false;
    }
  });
  return h('section', { class: 'card confirm', role: 'alertdialog', 'aria-labelledby': 'void-confirm-title',
    'aria-describedby': 'void-confirm-text', onkeydown: (ev) => { if (ev.key === 'Escape' && !no.disabled) cancel(); } },
  h('h3', { id: 'void-confirm-title', tabindex: '-1' }, t('desk_confirmTitle', { code: inv.invoiceCode, number: inv.invoiceNumber,
    total: money(ctx, inv.totalFen) })),
  h('p', { id: 'void-confirm-text' }, t('desk_confirmText', { reason: `${t(`void_${code}`)} (${code})` })),
  note ? h('p', { class: 'small' }, `${t('voidNote')}: ${note}`) : null,
  h('div', { class: 'row' }, yes, no), out);
}

// ---------------------------------------------------------------------- the print view

/** The print HTML's own page, drawn inside a shadow root: its styles are applied as a constructed style sheet
 * (the console's Content-Security-Policy forbids inline styles, and a framed blob would inherit that policy). */
async function renderPrint(ctx, inv) {
  const { t, main } = ctx;
  const sheet = h('div', { class: 'print-sheet', role: 'document', 'aria-label': t('desk_printView') }, ctx.loading());
  const out = h('div', { 'aria-live': 'polite' });
  clear(main, h('div', { class: 'print-view' },
    h('div', { class: 'print-tools' },
      h('p', {}, h('a', { href: `#/desk/${inv.fingerprint}` }, t('desk_backToInvoice', { number: inv.invoiceNumber }))),
      h('h1', {}, t('desk_printView')), h('p', { class: 'muted' }, t('desk_printIntro')),
      h('div', { class: 'desk-actions' },
        h('button', { type: 'button', id: 'print-now', onclick: () => window.print() }, t('desk_printNow')),
        actionButton(ctx, t('desk_pdf'), async () => {
          save(await (await fetchWithToken(`/v1/invoices/${inv.fingerprint}/print.pdf`)).blob(), fileName(inv, 'pdf'));
        }, { out })), out),
    sheet));
  const html = await (await fetchWithToken(`/v1/invoices/${inv.fingerprint}/print`)).text();
  const css = [];
  const rest = html.replace(/<style[^>]*>([\s\S]*?)<\/style>/gi, (m, text) => { css.push(text); return ''; });
  const doc = new DOMParser().parseFromString(rest, 'text/html');
  const styles = new CSSStyleSheet();
  // the page styles its <html> and <body>: here they are the sheet inside the shadow root
  styles.replaceSync(css.join('\n').replace(/(^|[\s,}>~+])(?:html|body)(?=[\s,{.:#[>~+])/g, '$1.sheet'));
  const host = h('div', { class: 'print-host' });
  const root = host.attachShadow({ mode: 'open' });
  root.adoptedStyleSheets = [styles];
  const page = h('div', { class: `sheet ${doc.body.className}`.trim(), lang: doc.documentElement.lang || 'zh-CN' });
  page.append(...[...doc.body.childNodes].map((n) => document.importNode(n, true)));
  root.append(page);
  clear(sheet, host);
  // an A4 sheet is wider than a phone: shown whole, zoomed to the width there is (printing resets the zoom)
  let width = 0;
  const fit = () => {
    const avail = sheet.parentElement ? sheet.parentElement.clientWidth : 0;
    if (!avail || avail === width) return;
    width = avail;
    sheet.style.zoom = '';
    const natural = sheet.offsetWidth;
    sheet.style.zoom = natural > avail ? String(avail / natural) : '';
  };
  const watch = new ResizeObserver(fit);
  watch.observe(sheet.parentElement);
  ctx.onStop(() => watch.disconnect());
  fit();
}
