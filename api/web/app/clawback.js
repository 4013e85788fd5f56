// What a paid claim owes back (GET /v1/claims/{id}/clawback; loaded only for a claim in `clawback`):
// how much, why (the reason code in words), who owes it -- the hospital (nothing for the person to
// do) or the person (return it by the due date, or it is kept back from their next refund) -- and
// how much is settled.

import { clear, day, h, when, yuan } from '/assets/shared/dom.js';

export async function renderClawback(ctx, claim, into) {
  const { t, api, i18n, state } = ctx;
  const money = (fen) => yuan(fen, i18n.lang);
  const cb = await api.get(`/v1/claims/${encodeURIComponent(claim.id)}/clawback`);
  const why = i18n.has(`cbr_${cb.reason.code}`) ? t(`cbr_${cb.reason.code}`) : cb.reason.words;
  const hospital = cb.hospitalName || cb.issuer;
  const payer = (state.me && state.me.payerName) || cb.payer;
  const settled = cb.amountDueFen - cb.outstandingFen;
  const open = cb.state === 'requested';
  const mine = cb.debtor.kind === 'person';
  let todo;
  if (!open) {
    todo = h('p', {}, t(`cbClosed_${cb.state}`, { at: when(cb.closedAt, i18n.lang) }));
  } else if (!mine) {
    todo = h('p', { class: 'nothing-to-do' }, t('cbHospitalOwes', { hospital }));
  } else {
    todo = [
      h('p', {}, h('strong', {}, t('cbYouOwe', { amount: money(cb.outstandingFen), due: day(cb.dueAt, i18n.lang) }))),
      h('p', {}, t('cbHowToReturn', { payer, ref: cb.id })),
      h('p', {}, t('cbKeptBack', { payer })),
      cb.overdue ? h('p', { class: 'reason' }, t('cbOverdue', { due: day(cb.dueAt, i18n.lang) })) : null,
    ];
  }
  const kept = (cb.actions || []).filter((a) => a.action === 'offset' && a.payout);
  clear(into, h('section', { class: `card clawback ${mine ? 'person' : 'hospital'}`, dataset: { debtor: cb.debtor.kind, state: cb.state } },
    h('h2', {}, mine ? t('cbTitleYou') : t('cbTitleHospital')),
    h('dl', { class: 'facts' },
      h('dt', {}, t('cbAmount')), h('dd', {}, h('b', {}, money(cb.amountDueFen))),
      settled ? [h('dt', {}, t('cbSettled')), h('dd', {}, money(settled))] : null,
      open && settled ? [h('dt', {}, t('cbOutstanding')), h('dd', {}, h('b', {}, money(cb.outstandingFen)))] : null,
      h('dt', {}, t('cbWhy')), h('dd', { class: 'cb-why' }, why),
      cb.note ? [h('dt', {}, t('cbNote')), h('dd', {}, cb.note)] : null,
      h('dt', {}, t('cbWho')), h('dd', {}, mine ? t('cbWhoYou') : t('cbWhoHospital', { hospital })),
      open ? [h('dt', {}, t('cbDue')), h('dd', {}, day(cb.dueAt, i18n.lang))] : null),
    todo,
    kept.length ? h('ul', { class: 'small' }, kept.map((a) =>
      h('li', {}, t('cbKeptFrom', { amount: money(a.amountFen), at: day(a.at, i18n.lang) })))) : null));
  return cb;
}
