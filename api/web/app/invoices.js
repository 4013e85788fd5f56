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
  'claimed before, being checked': 'reason_claimedForgotten',
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
        text: duplicate ? t(existing ? 'claimRefusedDupOpen' : 'claimRefusedDupRefresh') : undefined,
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

/** The words under a selected card: what it pays in this tap, and what depends on the others. */
function together(t, money, e, first) {
  const how = t(`outcome_${e.outcome}`);
  if (!e.dependsOnOthers) return t(first ? 'estOnly' : 'estSame', { amount: money(e.amountFen), how });
  return t('estTogether', { amount: money(e.amountFen), how, alone: money(e.aloneFen) });
}

/**
 * "My invoices": each invoice with what it would pay claimed alone; the selected ones estimated as
 * the tap will decide them (POST /v1/me/estimate: in the order shown, the deductible used once, by
 * the first), each card saying what depends on the ones above; one tap claims them in that order.
 */
export async function renderInvoices(ctx) {
  const { t, api, state, main, i18n } = ctx;
  const money = (fen) => yuan(fen, i18n.lang);
  const person = ctx.person();
  const name = ctx.personName(person);
  clear(main, h('p', { class: 'muted' }, h('span', { class: 'spinner', 'aria-hidden': 'true' }), ' ', t('loading')));
  const doc = await api.get(invoicesPath(person, state.me));
  const invoices = doc.invoices || [];
  state.invoices = state.invoices || {};
  for (const inv of invoices) {
    state.hospitals[inv.fingerprint] = inv.hospitalName || inv.issuer;
    state.invoices[inv.fingerprint] = { ...inv, person };
  }
  const selected = new Set();
  const picked = () => invoices.filter((i) => selected.has(i.fingerprint)).map((i) => i.fingerprint);  // in list order
  const status = h('div', { class: 'claim-status', 'aria-live': 'polite' });
  const sum = h('p', { class: 'together small', id: 'together', 'aria-live': 'polite' });
  const order = h('p', { class: 'hint order-hint', hidden: true }, t('togetherOrder'));
  const button = h('button', { type: 'button', class: 'wide', id: 'claim-button', disabled: true });
  const notes = new Map();                  // fingerprint -> the element saying what it pays in this tap
  let asked = 0;                            // the newest estimate asked for; older answers are dropped
  let debounce = 0;

  const draw = (estimate) => {
    const fps = picked();
    for (const [fp, el] of notes) {
      const e = estimate && estimate.invoices.find((x) => x.fingerprint === fp);
      el.hidden = !e;
      el.textContent = e ? together(t, money, e, fps[0] === fp) : '';   // a hidden note describes nothing
    }
    if (!fps.length) {
      button.textContent = t('claimSelected', { n: 0 });
      clear(sum);
    } else if (!estimate) {
      button.textContent = t('claimSelected', { n: fps.length, amount: '' });
      clear(sum, h('span', { class: 'spinner', 'aria-hidden': 'true' }), ' ', t('estimating'));
    } else {
      const s = estimate.totals;
      button.textContent = t('claimSelected', { n: fps.length, amount: money(s.amountFen) });
      clear(sum, s.reviewFen
        ? t('togetherSplit', { atOnce: money(s.atOnceFen), review: money(s.reviewFen) })
        : t('togetherAtOnce', { amount: money(s.atOnceFen) }));
    }
    order.hidden = fps.length < 2;
    button.disabled = fps.length === 0;
    fit();
  };
  const reestimate = () => {
    const fps = picked();
    const mine = ++asked;
    draw(null);
    clearTimeout(debounce);
    if (!fps.length) return;
    debounce = setTimeout(async () => {
      const body = { fingerprints: fps };
      if (person !== state.me.person) body.for = person;
      try {
        const { data } = await api.post('/v1/me/estimate', body);
        if (mine === asked) draw(data);
      } catch (err) {
        if (mine !== asked) return;
        for (const el of notes.values()) el.hidden = true;
        button.textContent = t('claimSelected', { n: fps.length, amount: '' });
        clear(sum, t('estimateFailed'));
      }
    }, 150);
  };
  button.addEventListener('click', () => claimOnce(ctx, { fingerprints: picked(), person, status, button }));
  const bar = h('div', { class: 'claim-bar' }, status, sum, button);
  // the bar stays in view while invoices are picked, unless nothing is picked or it would hide much
  // of the screen (large text on a small phone): then it waits at the end of the list
  function fit() { bar.classList.toggle('unstuck', !selected.size || bar.offsetHeight > window.innerHeight * 0.22); }

  const claimable = invoices.filter((i) => i.claimable);
  const list = h('ul', { class: 'invoices', 'aria-label': t('invoicesTitle') }, invoices.map((inv) => {
    const hospital = inv.hospitalName || inv.issuer;
    const box = inv.claimable ? h('input', { type: 'checkbox', id: `pick-${inv.fingerprint}`, value: inv.fingerprint,
      'aria-label': t('selectInvoice', { number: inv.invoiceNumber, hospital }),
      'aria-describedby': `note-${inv.fingerprint}`,
      onchange: (ev) => { if (ev.target.checked) selected.add(inv.fingerprint); else selected.delete(inv.fingerprint); reestimate(); } }) : null;
    const note = inv.claimable ? h('p', { class: 'together-note small', id: `note-${inv.fingerprint}`, hidden: true }) : null;
    if (note) notes.set(inv.fingerprint, note);
    const facts = h('div', { class: 'inv-body' },
      h('div', { class: 'spread' }, h('strong', { class: 'hospital' }, hospital),
        inv.claim ? stateBadge(t, inv.claim.state) : null),
      h('div', { class: 'muted small' }, t('invoiceMeta', {
        visit: i18n.has(`visit_${inv.visitType}`) ? t(`visit_${inv.visitType}`) : inv.visitType,
        date: day(inv.issuedAt, i18n.lang), number: inv.invoiceNumber, lines: t('lines', { n: inv.feeLineCount }) })),
      h('div', { class: 'amounts' },
        h('span', {}, h('span', { class: 'muted small' }, t('requested')), ' ', h('b', {}, money(inv.cashPaidFen ?? inv.totalFen))),
        inv.claimable ? h('span', { class: inv.estimateFen ? 'est' : 'est zero' }, h('span', { class: 'muted small' }, t('estimateAlone')), ' ',
          h('b', {}, money(inv.estimateFen))) : null),
      inv.claimable && !inv.estimateFen ? h('div', { class: 'muted small' }, t('estimateZero')) : null,
      note,
      !inv.claimable && inv.rulesMissing ? h('div', { class: 'reason small' }, noRulesText(t, i18n, inv.rulesMissing))
        : !inv.claimable && inv.reason ? h('div', { class: 'reason small' }, t('notClaimable', { reason: reasonText(t, inv.reason) })) : null);
    const q = person !== state.me.person ? `?for=${encodeURIComponent(person)}` : '';
    return h('li', { class: `card invoice${inv.claimable ? ' claimable' : ''}`, dataset: { fingerprint: inv.fingerprint } },
      inv.claimable ? h('label', { class: 'pick', for: `pick-${inv.fingerprint}` }, box, facts) : facts,
      h('p', { class: 'card-links' },
        h('a', { href: `#/invoice/${encodeURIComponent(inv.fingerprint)}${q}`,
          'aria-label': t('openInvoiceOf', { number: inv.invoiceNumber, hospital }) }, t('openInvoice')),
        inv.claim ? h('a', { class: 'claim-link', href: `#/claims/${encodeURIComponent(inv.claim.id)}` }, t('viewClaim')) : null));
  }));

  const selectAll = claimable.length > 1 ? h('button', { type: 'button', class: 'link', onclick: () => {
    for (const b of list.querySelectorAll('input[type=checkbox]')) { b.checked = true; selected.add(b.value); }
    reestimate();
  } }, t('selectAll')) : null;
  draw(null);
  clear(main,
    h('div', { class: 'spread' }, h('h1', {}, person === state.me.person ? t('invoicesTitle') : t('invoicesTitleFor', { name })),
      h('button', { type: 'button', class: 'secondary', onclick: () => ctx.go('#/invoices') }, t('refresh'))),
    ctx.actingSelect(() => renderInvoices(ctx)),
    person !== state.me.person ? h('p', { class: 'alert info' }, t('actingBanner', { name })) : null,
    invoices.length ? [selectAll, order, list] : h('p', { class: 'card muted' }, t('invoicesEmpty')),
    claimable.length ? bar : null);
  if (window.ResizeObserver) {
    const watch = new ResizeObserver(fit);
    watch.observe(bar);
    window.addEventListener('resize', fit);
    ctx.onStop(() => { watch.disconnect(); window.removeEventListener('resize', fit); });
  }
}
