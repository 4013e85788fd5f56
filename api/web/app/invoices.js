// "My invoices": the self-paid invoices matched to the person, what each would pay, and the
// one-tap claim of those selected.

import { ApiError, idempotencyKey } from '/assets/shared/api.js';
import { clear, day, h, yuan } from '/assets/shared/dom.js';

const REASONS = {
  'not anchored yet': 'reason_notAnchored',
  'voided by the hospital': 'reason_voided',
  'claimed already': 'reason_claimed',
  'fully reimbursed': 'reason_fullyReimbursed',
  'not insured with this payer': 'reason_notInsured',
  'chain unreadable': 'reason_chainUnreadable',
  'cannot be decided yet': 'reason_notDecidable',
};

/** "Cannot be decided yet" in words, from the facts the service gives when no rules cover a bill. */
export function noRulesText(t, i18n, missing) {
  const care = i18n.has(`visit_${missing.visitType}`) ? t(`visit_${missing.visitType}`).toLowerCase() : missing.visitType;
  const where = i18n.has(`where_${missing.insuredStatus}`) ? t(`where_${missing.insuredStatus}`) : '';
  return t('noRulesYet', { care, where, day: day(missing.day, i18n.lang) });
}

export function reasonText(t, reason) {
  return REASONS[reason] ? t(REASONS[reason]) : reason;
}

export function invoicesPath(person, me) {
  return person && person !== me.person ? `/v1/me/invoices?for=${encodeURIComponent(person)}` : '/v1/me/invoices';
}

export function stateBadge(t, s) {
  const tone = { paid: 'ok', approved: 'ok', rejected: 'bad', refused: 'bad', clawback: 'bad',
    'nothing-payable': 'warn', 'in-review': 'warn', 'waiting-for-earlier-payers': 'warn', appealed: 'warn' }[s] || '';
  return h('span', { class: `badge ${tone}`.trim(), dataset: { state: s } }, t(`state_${s}`));
}

/**
 * Claim `fingerprints` for `person` with one tap. The Idempotency-Key is made once here, for
 * this tap; the client re-sends with the same key when the answer is lost, and so does the
 * "Try again" button of a failure, so a claim is never filed twice by a retry.
 */
export async function claimOnce(ctx, { fingerprints, person, status, button }) {
  const { t, api, state, i18n } = ctx;
  const key = idempotencyKey();
  const body = { fingerprints };
  if (person && person !== state.me.person) body.for = person;
  const send = async () => {
    if (button) button.disabled = true;
    clear(status, h('div', { class: 'alert info', role: 'status' },
      h('span', { class: 'spinner', 'aria-hidden': 'true' }), ' ', t('submitting')));
    try {
      const { data } = await api.post('/v1/claims', body, key);
      const claims = data.claims || [];
      const refused = claims.filter((c) => c.state === 'refused');
      state.flash = { claims: claims.map((c) => c.id), refused };
      ctx.toast(t('claimSent'));
      ctx.go(claims.length === 1 ? `#/claims/${encodeURIComponent(claims[0].id)}` : '#/claims');
    } catch (err) {
      if (button) button.disabled = false;
      const noRules = err instanceof ApiError && err.kind === 'no-rules-in-force' && err.problem.rulesMissing;
      const duplicate = err instanceof ApiError && err.status === 409 && !noRules && !/idempotency/i.test(err.message);
      const existing = duplicate && /clm_[0-9a-z]+/i.exec(err.message);
      clear(status, ctx.errorBox(noRules ? noRulesText(t, i18n, err.problem.rulesMissing) : err, {
        title: duplicate ? t('claimRefusedDup') : t('claimFailed'),
        retry: duplicate || (err instanceof ApiError && err.status >= 400 && err.status < 500) ? null : send,
        extra: h('p', { class: 'row' },
          existing ? h('a', { href: `#/claims/${existing[0]}` }, t('viewClaim')) : null,
          h('a', { href: '#/claims' }, t('backToClaims')),
          duplicate ? h('button', { type: 'button', class: 'link', onclick: () => ctx.go('#/invoices') }, t('refresh')) : null),
      }));
      status.querySelector('[role=alert]').focus?.();
    }
  };
  await send();
}

export async function renderInvoices(ctx) {
  const { t, api, state, main, i18n } = ctx;
  const person = ctx.person();
  const name = ctx.personName(person);
  clear(main, h('p', { class: 'muted' }, h('span', { class: 'spinner', 'aria-hidden': 'true' }), ' ', t('loading')));
  const doc = await api.get(invoicesPath(person, state.me));
  const invoices = doc.invoices || [];
  for (const inv of invoices) state.hospitals[inv.fingerprint] = inv.hospitalName || inv.issuer;
  const selected = new Set();
  const status = h('div', { class: 'claim-status', 'aria-live': 'polite' });
  const button = h('button', { type: 'button', class: 'wide', id: 'claim-button', disabled: true });
  const summary = () => {
    const chosen = invoices.filter((i) => selected.has(i.fingerprint));
    const amount = chosen.reduce((s, i) => s + (i.estimateFen || 0), 0);
    button.textContent = t('claimSelected', { n: chosen.length, amount: yuan(amount, i18n.lang) });
    button.disabled = chosen.length === 0;
  };
  button.addEventListener('click', () => claimOnce(ctx, { fingerprints: [...selected], person, status, button }));

  const claimable = invoices.filter((i) => i.claimable);
  const list = h('ul', { class: 'invoices', 'aria-label': t('invoicesTitle') }, invoices.map((inv) => {
    const box = inv.claimable ? h('input', { type: 'checkbox', id: `pick-${inv.fingerprint}`, value: inv.fingerprint,
      'aria-label': t('selectInvoice', { number: inv.invoiceNumber, hospital: inv.hospitalName || inv.issuer }),
      onchange: (ev) => { if (ev.target.checked) selected.add(inv.fingerprint); else selected.delete(inv.fingerprint); summary(); } }) : null;
    const facts = h('div', { class: 'inv-body' },
      h('div', { class: 'spread' }, h('strong', { class: 'hospital' }, inv.hospitalName || inv.issuer),
        inv.claim ? stateBadge(t, inv.claim.state) : null),
      h('div', { class: 'muted small' }, t('invoiceMeta', {
        visit: i18n.has(`visit_${inv.visitType}`) ? t(`visit_${inv.visitType}`) : inv.visitType,
        date: day(inv.issuedAt, i18n.lang), number: inv.invoiceNumber, lines: t('lines', { n: inv.feeLineCount }) })),
      h('div', { class: 'amounts' },
        h('span', {}, h('span', { class: 'muted small' }, t('requested')), ' ', h('b', {}, yuan(inv.cashPaidFen ?? inv.totalFen, i18n.lang))),
        inv.claimable ? h('span', { class: inv.estimateFen ? 'est' : 'est zero' }, h('span', { class: 'muted small' }, t('estimate')), ' ',
          h('b', {}, yuan(inv.estimateFen, i18n.lang))) : null),
      inv.claimable && !inv.estimateFen ? h('div', { class: 'muted small' }, t('estimateZero')) : null,
      !inv.claimable && inv.rulesMissing ? h('div', { class: 'reason small' }, noRulesText(t, i18n, inv.rulesMissing))
        : !inv.claimable && inv.reason ? h('div', { class: 'reason small' }, t('notClaimable', { reason: reasonText(t, inv.reason) })) : null);
    return h('li', { class: `card invoice${inv.claimable ? ' claimable' : ''}`, dataset: { fingerprint: inv.fingerprint } },
      inv.claimable ? h('label', { class: 'pick', for: `pick-${inv.fingerprint}` }, box, facts) : facts,
      inv.claim ? h('a', { class: 'claim-link', href: `#/claims/${encodeURIComponent(inv.claim.id)}` }, t('viewClaim')) : null);
  }));

  const selectAll = claimable.length > 1 ? h('button', { type: 'button', class: 'link', onclick: () => {
    for (const box of list.querySelectorAll('input[type=checkbox]')) { box.checked = true; selected.add(box.value); }
    summary();
  } }, t('selectAll')) : null;
  summary();
  clear(main,
    h('div', { class: 'spread' }, h('h1', {}, person === state.me.person ? t('invoicesTitle') : t('invoicesTitleFor', { name })),
      h('button', { type: 'button', class: 'secondary', onclick: () => ctx.go('#/invoices') }, t('refresh'))),
    ctx.actingSelect(() => renderInvoices(ctx)),
    person !== state.me.person ? h('p', { class: 'alert info' }, t('actingBanner', { name })) : null,
    invoices.length ? [selectAll, list] : h('p', { class: 'card muted' }, t('invoicesEmpty')),
    claimable.length ? h('div', { class: 'claim-bar' }, status, button) : null);
}
