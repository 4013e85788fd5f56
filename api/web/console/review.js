// Payer review, the lists: the queue with SLA age, why each claim is there and a search; the claims list; the
// post-payment audit queue. Hospitals by name, the person as the payer's enrolment names them (reviewers only).
// One claim in full is claim.js.

import { clear, h, short } from '/assets/shared/dom.js';
import { labelled, table } from './table.js';
import { hospitalName, hospitals, money, pseudonym, ruleName } from './words.js';

const TONE = { paid: 'ok', approved: 'ok', rejected: 'bad', refused: 'bad', clawback: 'bad', 'in-review': 'warn', appealed: 'warn', 'nothing-payable': 'warn' };
const STATES = ['submitted', 'reserved', 'in-review', 'approved', 'paid', 'rejected', 'appealed', 'refused', 'nothing-payable', 'clawback', 'waiting-for-earlier-payers'];

export function badge(t, st) {
  return h('span', { class: `badge ${TONE[st] || ''}`.trim(), dataset: { state: st } }, t(`state_${st}`));
}

export const claimLink = (c, label) => h('a', { href: `#/claims/${encodeURIComponent(c.id)}`, class: 'nowrap', title: c.id },
  label || short(c.id.replace(/^clm_/, ''), 6));

/** The invoice of a claim: its hospital by name and its number. */
export const invoiceCell = (names, c) => h('span', { title: c.issuer }, `${hospitalName(names, c.issuer, c.hospitalName)} · ${c.invoiceNumber}`);

/** Whom a claim is for: the payer's enrolment (name) for its reviewers, else the pseudonym. */
export function personCell(ctx, c) {
  const p = c.insured;
  if (p && p.enrolled && p.name) return h('span', { class: 'person', title: c.person }, p.name);
  if (p && !p.enrolled) return h('span', { class: 'person muted', title: c.person }, ctx.t('notEnrolled'));
  return h('code', { title: c.person }, pseudonym(c.person));
}

// ---------------------------------------------------------------------- queue

// the queue's search fields: [query parameter, input id, label key, input type]; amounts are typed in yuan
const SEARCH = [['invoice', 'f-invoice', 'fInvoice', 'search'], ['claim', 'f-claim', 'fClaim', 'search'],
  ['person', 'f-person', 'fPerson', 'search'], ['hospital', 'f-hospital', 'fHospital', 'search'],
  ['minAmountFen', 'f-min', 'fMinAmount', 'number'], ['flag', 'f-flag', 'fFlag', 'text'], ['olderThanDays', 'f-older', 'fOlder', 'number']];

/** Why a claim is in the queue, one badge per reason (the server's words, with amounts and flag details, as its title). */
function whyBadges(ctx, c) {
  const { t } = ctx;
  return (c.why || []).map((w) => {
    const label = w.code === 'flagged' ? t('why_flagged', { rule: ruleName(ctx, w.rule) })
      : w.code === 'over-instant-threshold' ? t('why_over')
        : w.code === 'final-review' ? t('why_final', { approvals: w.approvals, needed: w.needed })
          : ctx.i18n.has(`why_${w.code}`) ? t(`why_${w.code}`) : w.code;
    return h('span', { class: `badge ${w.code === 'flagged' || w.code === 'appeal' ? 'warn' : ''}`.trim(), title: w.detail, dataset: { why: w.code } }, label);
  });
}

export async function renderQueue(ctx) {
  const { t, api, main } = ctx;
  const q = new URLSearchParams(location.hash.split('?')[1] || '');
  const inputs = new Map(SEARCH.map(([key, id, , type]) => {
    const shown = key === 'minAmountFen' && q.get(key) ? String(q.get(key) / 100) : q.get(key) || '';
    const attrs = { type, id, value: shown, name: key };
    if (type === 'number') Object.assign(attrs, { min: '0', step: key === 'minAmountFen' ? '0.01' : '1' });
    if (key === 'flag') attrs.placeholder = t('fAny');
    return [key, h('input', attrs)];
  }));
  const params = new URLSearchParams();
  for (const [key] of SEARCH) if (q.get(key)) params.set(key, q.get(key));
  const filters = h('form', { class: 'filters', role: 'search', onsubmit: (ev) => {
    ev.preventDefault();
    const p = new URLSearchParams();
    for (const [key, input] of inputs) {
      const v = input.value.trim();
      if (v) p.set(key, key === 'minAmountFen' ? String(Math.round(Number(v) * 100)) : v);
    }
    ctx.go(`#/queue${p.toString() ? `?${p}` : ''}`);
  } },
  SEARCH.map(([key, id, label]) => h('div', {}, h('label', { for: id }, t(label)), inputs.get(key))),
  h('div', { class: 'row' }, h('button', { type: 'submit' }, t('apply')),
    h('button', { type: 'button', class: 'secondary', onclick: () => ctx.go('#/queue') }, t('reset'))));
  const filtered = [...params.keys()].length;
  const box = h('details', { class: 'card filters-box', open: filtered > 0 || window.innerWidth > 700 },
    h('summary', {}, t('filters'), filtered ? ` (${filtered})` : ''), filters);
  clear(main, h('h1', {}, t('queueTitle')), h('p', { class: 'muted' }, t('queueIntro')), box, ctx.loading());
  const [doc, names] = await Promise.all([api.get(`/v1/review/queue${params.toString() ? `?${params}` : ''}`), hospitals(ctx)]);
  const items = doc.claims || [];
  const rows = items.map((c) => h('tr', { class: c.overdue ? 'overdue' : null, dataset: { claim: c.id } },
    h('td', {}, claimLink(c)),
    h('td', {}, invoiceCell(names, c)),
    h('td', {}, personCell(ctx, c)),
    h('td', { class: 'num' }, money(ctx, c.requestedFen)),
    h('td', { class: 'num' }, money(ctx, c.amountFen)),
    h('td', { class: 'why' }, whyBadges(ctx, c)),
    h('td', { class: 'num nowrap' }, t('ageDays', { n: (c.slaWorkingDays ?? 0).toFixed(1) })),
    h('td', { class: 'nowrap' }, ctx.day(c.dueAt), c.overdue ? [' ', h('span', { class: 'badge bad' }, t('overdue'))] : null),
    h('td', { class: 'nowrap reviews' }, `${(c.review && c.review.approvals) || 0}/${(c.review && c.review.reviewsNeeded) || 1}`,
      c.review && c.review.needsTwoReviewers ? [' ', h('span', { class: 'badge', title: t('needsTwo') }, t('twoReviewers'))] : null)));
  main.lastChild.replaceWith(h('section', {},
    h('div', { class: 'spread' }, h('p', { class: 'count' }, t('queueCount', { n: items.length })),
      h('button', { type: 'button', class: 'secondary', onclick: () => ctx.go(location.hash) }, t('refresh'))),
    items.length ? table([t('colClaim'), t('colInvoice'), t('colPerson'), [t('colRequested'), 'num'], [t('colAmount'), 'num'],
      t('colWhyQueued'), [t('colAge'), 'num'], t('colDue'), t('colReviews')], rows, 'queue')
      : h('p', { class: 'card muted' }, t('queueEmpty'))));
}

// ---------------------------------------------------------------------- claims list

export async function renderClaims(ctx) {
  const { t, api, main } = ctx;
  const q = new URLSearchParams(location.hash.split('?')[1] || '');
  const sel = h('select', { id: 'f-state', onchange: () => ctx.go(`#/claims${sel.value ? `?state=${sel.value}` : ''}`) },
    h('option', { value: '' }, t('fAny')), STATES.map((s) => h('option', { value: s, selected: q.get('state') === s }, t(`state_${s}`))));
  const head = [t('colClaim'), t('colState'), t('colInvoice'), t('colPerson'), [t('colRequested'), 'num'], [t('colAmount'), 'num'], t('colCreated')];
  const more = h('button', { type: 'button', class: 'secondary', hidden: true }, t('more'));
  const names = await hospitals(ctx);
  let after = null;
  const page = async () => {
    const p = new URLSearchParams({ limit: '50' });
    if (q.get('state')) p.set('state', q.get('state'));
    if (after) p.set('after', after);
    const doc = await api.get(`/v1/claims?${p}`);
    after = doc.next || null;
    more.hidden = !after;
    return (doc.claims || []).map((c) => h('tr', { dataset: { claim: c.id } }, h('td', {}, claimLink(c)), h('td', {}, badge(t, c.state)),
      h('td', {}, invoiceCell(names, c)), h('td', {}, personCell(ctx, c)), h('td', { class: 'num' }, money(ctx, c.requestedFen)),
      h('td', { class: 'num' }, money(ctx, c.amountFen)), h('td', { class: 'nowrap' }, ctx.when(c.createdAt))));
  };
  clear(main, h('h1', {}, t('claimsTitle')), h('div', { class: 'card filters' }, h('div', {}, h('label', { for: 'f-state' }, t('fState')), sel)), ctx.loading());
  const rows = await page();
  const list = rows.length ? table(head, rows) : null;
  more.addEventListener('click', () => page().then((next) => list.querySelector('tbody').append(...labelled(head, next)))
    .catch((e) => more.replaceWith(ctx.errorBox(e))));
  main.lastChild.replaceWith(list ? h('section', {}, list, more) : h('p', { class: 'card muted' }, t('claimsEmpty')));
}

// ---------------------------------------------------------------------- the post-payment audit queue

export async function renderPostAudit(ctx) {
  const { t, api, main } = ctx;
  clear(main, h('h1', {}, t('postAuditTitle')), ctx.loading());
  const [doc, names] = await Promise.all([api.get('/v1/review/post-payment'), hospitals(ctx)]);
  const items = doc.claims || [];
  const rows = items.map((c) => h('tr', { dataset: { claim: c.id } },
    h('td', {}, claimLink(c)), h('td', {}, invoiceCell(names, c)),
    h('td', {}, personCell(ctx, c)),
    h('td', { class: 'num' }, money(ctx, c.amountFen)),
    h('td', { class: 'nowrap' }, c.payment && c.payment.paidAt ? ctx.when(c.payment.paidAt) : '')));
  main.lastChild.replaceWith(h('section', {},
    h('p', { class: 'muted' }, t('postAuditQueueIntro', { share: ((doc.shareBp || 0) / 100).toFixed(2) })),
    h('p', { class: 'count' }, t('postAuditCount', { n: items.length })),
    items.length ? table([t('colClaim'), t('colInvoice'), t('colPerson'), [t('colPaid'), 'num'], t('colPaidAt')], rows, 'post-audit')
      : h('p', { class: 'card muted' }, t('postAuditEmpty'))));
}
