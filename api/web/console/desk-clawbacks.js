// What the hospital must return: the claw-backs payers opened on its invoices (voided after the payout, or
// a finding in an audit that names the hospital), with the amounts due and outstanding and the date to
// return them by. GET /v1/clawbacks gives a hospital's credential its own, and nothing of any other's.

import { ApiError } from '/assets/shared/api.js';
import { h, yuan } from '/assets/shared/dom.js';
import { table } from './table.js';

const TONE = { requested: 'warn', recovered: 'ok', offset: 'ok', 'written-off': '' };
const LIMIT = 500;

export async function renderClawbacks(ctx) {
  const { t, api, main } = ctx;
  const money = (fen) => yuan(fen, ctx.i18n.lang);
  main.append(h('h2', {}, t('desk_cbTitle')), h('p', { class: 'muted' }, t('desk_cbIntro')));
  const slot = ctx.loading();
  main.append(slot);
  let found;
  try {
    found = (await api.get(`/v1/clawbacks?limit=${LIMIT}`)).clawbacks;
  } catch (err) {
    if (err instanceof ApiError && err.kind === 'claims-not-configured') {
      slot.replaceWith(h('p', { class: 'card muted', role: 'status' }, t('desk_cbNoClaims')));
      return;
    }
    slot.replaceWith(ctx.errorBox(err, { retry: () => ctx.go(location.hash) }));
    return;
  }
  const open = found.filter((c) => c.state === 'requested');
  const owed = open.reduce((sum, c) => sum + c.outstandingFen, 0);
  const overdue = open.filter((c) => c.overdue).length;
  if (!found.length) {
    slot.replaceWith(h('p', { class: 'card muted', role: 'status' }, t('desk_cbNone')));
    return;
  }
  const reason = (c) => (ctx.i18n.has(`desk_cbReason_${c.reason.code}`) ? t(`desk_cbReason_${c.reason.code}`) : c.reason.words);
  const rows = found.map((c) => h('tr', { class: c.overdue ? 'overdue' : null, dataset: { clawback: c.id, state: c.state } },
    h('td', { class: 'inv' }, h('a', { href: `#/desk/${c.fingerprint}` }, `${c.invoiceCode} / ${c.invoiceNumber}`)),
    h('td', {}, reason(c), c.note && c.reason.code !== 'invoice-voided' ? h('span', { class: 'small muted' }, ` — ${c.note}`) : null),
    h('td', { class: 'num' }, money(c.amountDueFen)),
    h('td', { class: 'num' }, h('strong', {}, money(c.outstandingFen))),
    h('td', {}, h('span', { class: `badge ${TONE[c.state] || ''}`.trim() }, ctx.i18n.has(`desk_cbState_${c.state}`) ? t(`desk_cbState_${c.state}`) : c.state)),
    h('td', { class: 'nowrap' }, ctx.day(c.dueAt), c.overdue ? [' ', h('span', { class: 'badge bad' }, t('desk_overdue'))] : null),
    h('td', {}, c.payer)));
  slot.replaceWith(h('section', { 'aria-label': t('desk_cbTitle') },
    h('p', { class: `card owe ${owed ? '' : 'muted'}`.trim(), role: 'status' },
      open.length ? t('desk_cbOwe', { amount: money(owed), n: open.length, overdue }) : t('desk_cbNone')),
    table([t('desk_colInvoice'), t('desk_colReason'), [t('desk_colDueFen'), 'num'], [t('desk_colOutstanding'), 'num'],
      t('desk_colState'), t('desk_colReturnBy'), t('desk_colPayer')], rows, 'queue clawbacks')));
}
