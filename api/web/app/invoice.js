// One invoice, opened (loaded only when opened): the hospital, the figures, every fee line with its
// name, quantity, amount and catalogue class, the printable PDF, and its claim (or a claim button).

import { ApiError } from '/assets/shared/api.js';
import { clear, day, h, hash, yuan } from '/assets/shared/dom.js';
import { claimOnce, invoicesPath, noRulesText, reasonText, stateBadge } from './invoices.js';

/** The invoice as the person's listing shows it (theirs or a delegator's), or null. */
export async function findInvoice(ctx, fingerprint, person) {
  const { api, state } = ctx;
  const fp = fingerprint.toLowerCase();
  const known = state.invoices && state.invoices[fp];
  if (known && (!person || known.person === person)) return known;
  const people = person ? [person] : [state.me.person, ...(state.me.delegations || []).map((d) => d.person)];
  for (const p of people) {
    const doc = await api.get(invoicesPath(p, state.me));
    state.invoices = state.invoices || {};
    for (const inv of doc.invoices || []) state.invoices[inv.fingerprint] = { ...inv, person: p };
    if (state.invoices[fp] && state.invoices[fp].person === p) return state.invoices[fp];
  }
  return null;
}

/** "2 盒" / "1.5 g": a fee line's quantity with its unit. */
export function quantity(line) {
  return `${line.quantity}${line.unit ? `\u00a0${line.unit}` : ''}`;
}

/** The printable PDF, fetched with the sign-in (a plain link would carry none) and handed to the browser. */
async function downloadPdf(ctx, inv, out) {
  const { t } = ctx;
  clear(out, h('span', { class: 'spinner', 'aria-hidden': 'true' }), ' ', t('pdfLoading'));
  try {
    let resp;
    try {
      resp = await fetch(`/v1/invoices/${inv.fingerprint}/print.pdf`, {
        headers: { Authorization: `Bearer ${ctx.token()}`, Accept: 'application/pdf, application/problem+json' },
        cache: 'no-store', credentials: 'omit' });
    } catch (e) {
      throw new ApiError(0, { title: 'network', detail: '' });
    }
    if (!resp.ok) throw new ApiError(resp.status, await resp.json().catch(() => ({ title: resp.statusText })));
    const url = URL.createObjectURL(await resp.blob());
    const a = h('a', { href: url, download: `invoice-${inv.invoiceCode}-${inv.invoiceNumber}.pdf` });
    document.body.append(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(url), 60000);
    clear(out, t('pdfReady'));
  } catch (err) {
    clear(out, ctx.errorBox(err, { title: t('pdfFailed'), retry: () => downloadPdf(ctx, inv, out) }));
  }
}

function classBadge(t, category) {
  const tone = { A: 'ok', B: 'warn', C: 'bad' }[category] || '';
  return h('span', { class: `badge cls ${tone}`.trim(), title: t(`classWhy_${category}`) }, t(`class_${category}`));
}

export async function renderInvoice(ctx, fingerprint) {
  const { t, api, main, i18n, state } = ctx;
  const money = (fen) => yuan(fen, i18n.lang);
  const forPerson = new URLSearchParams((location.hash.split('?')[1]) || '').get('for') || '';
  clear(main, h('p', { class: 'muted' }, h('span', { class: 'spinner', 'aria-hidden': 'true' }), ' ', t('loading')));
  const [inv, doc] = await Promise.all([
    findInvoice(ctx, fingerprint, forPerson),
    api.get(`/v1/invoices/${encodeURIComponent(fingerprint.toLowerCase())}/fee-lines`),
  ]);
  const back = h('p', {}, h('a', { href: '#/invoices' }, '← ', t('backToInvoices')));
  if (!inv) { clear(main, back, h('h1', {}, t('invoiceTitle')), ctx.errorBox(t('invoiceNotYours'))); return; }
  const lines = doc.feeLines || [];
  const hospital = inv.hospitalName || inv.issuer;
  const byClass = new Map();
  for (const l of lines) {
    const e = byClass.get(l.category) || { n: 0, fen: 0 };
    e.n += 1; e.fen += l.amountFen;
    byClass.set(l.category, e);
  }
  const status = h('div', { 'aria-live': 'polite' });
  const pdfOut = h('div', { class: 'small', 'aria-live': 'polite' });
  let action = null;
  if (inv.claim) {
    action = h('p', {}, stateBadge(t, inv.claim.state), ' ',
      h('a', { href: `#/claims/${encodeURIComponent(inv.claim.id)}` }, t('viewClaim')));
  } else if (inv.claimable) {
    const button = h('button', { type: 'button', id: 'claim-invoice' },
      inv.estimateFen ? t('claimThis', { amount: money(inv.estimateFen) }) : t('claimThisZero'));
    button.addEventListener('click', () => claimOnce(ctx, { fingerprints: [inv.fingerprint], person: inv.person, status, button }));
    action = button;
  } else if (inv.rulesMissing) {
    action = h('p', { class: 'reason' }, noRulesText(t, i18n, inv.rulesMissing));
  } else if (inv.reason) {
    action = h('p', { class: 'reason' }, t('notClaimable', { reason: reasonText(t, inv.reason) }));
  }
  const visit = i18n.has(`visit_${inv.visitType}`) ? t(`visit_${inv.visitType}`) : inv.visitType;
  clear(main, back,
    h('h1', {}, hospital),
    inv.person !== state.me.person ? h('p', { class: 'alert info' }, t('actingBanner', { name: ctx.personName(inv.person) })) : null,
    h('section', { class: 'card invoice-facts' },
      h('dl', { class: 'facts' },
        h('dt', {}, t('invoiceNoLabel')), h('dd', {}, `${inv.invoiceCode}-${inv.invoiceNumber}`),
        h('dt', {}, t('issuedOn')), h('dd', {}, day(inv.issuedAt, i18n.lang)),
        h('dt', {}, t('care')), h('dd', {}, visit),
        h('dt', {}, t('total')), h('dd', {}, money(inv.totalFen)),
        h('dt', {}, t('requested')), h('dd', {}, h('b', {}, money(inv.cashPaidFen ?? inv.totalFen))),
        inv.claimable ? [h('dt', {}, t('estimateAlone')), h('dd', {}, money(inv.estimateFen))] : null,
        h('dt', {}, t('fingerprint')), h('dd', {}, hash(inv.fingerprint))),
      h('div', { class: 'row actions' }, action,
        h('button', { type: 'button', class: 'secondary', id: 'pdf', onclick: () => downloadPdf(ctx, inv, pdfOut) }, t('pdfDownload'))),
      status, pdfOut),
    h('h2', {}, t('feeLinesTitle', { n: lines.length })),
    h('ul', { class: 'by-class small' }, [...byClass].sort().map(([cls, e]) =>
      h('li', {}, classBadge(t, cls), ' ', t('classSum', { n: e.n, amount: money(e.fen) }), ' ',
        h('span', { class: 'muted' }, t(`classWhy_${cls}`))))),
    h('ol', { class: 'fee-lines', 'aria-label': t('feeLinesTitle', { n: lines.length }) }, lines.map((l) =>
      h('li', { class: 'fee-line', dataset: { seq: l.seq } },
        h('div', { class: 'spread' }, h('span', { class: 'item' }, l.itemName), h('b', { class: 'num' }, money(l.amountFen))),
        h('div', { class: 'muted small' }, classBadge(t, l.category), ' ',
          t('lineFacts', { qty: quantity(l), price: money(l.unitPriceFen), date: day(l.serviceDate, i18n.lang) }))))));
}
