// Claims: the list, and one claim followed live (submitted -> paid, or in review -> decision)
// with its explanation in plain words -- who it was judged as, under which year's rules, each
// reduced fee line by name, and what the person receives -- the appeal of a rejection, and what a
// claw-back asks back (clawback.js, loaded only for such a claim).

import { clear, day, h, hash, when, yuan } from '/assets/shared/dom.js';
import { stateBadge } from './invoices.js';

/** "2 盒": a fee line's quantity with its unit (invoice.js shows the same). */
const quantity = (line) => `${line.quantity}${line.unit ? `\u00a0${line.unit}` : ''}`;

const FINAL = new Set(['paid', 'rejected', 'refused', 'nothing-payable', 'clawback']);

function poll(ctx, load, { every = 2000, done }) {
  let timer = null; let stopped = false;
  const tick = async () => {
    if (stopped) return;
    try {
      const doc = await load();
      if (stopped) return;
      if (done(doc)) return;
    } catch (e) { /* a lost answer: keep polling */ }
    if (!stopped) timer = setTimeout(tick, document.hidden ? every * 3 : every);
  };
  timer = setTimeout(tick, every);
  ctx.onStop(() => { stopped = true; clearTimeout(timer); });
}

function claimCard(ctx, c) {
  const { t, i18n } = ctx;
  return h('li', { class: 'card claim-row', dataset: { claim: c.id } },
    h('a', { href: `#/claims/${encodeURIComponent(c.id)}`, class: 'row-link' },
      h('div', { class: 'spread' }, h('strong', {}, t('invoiceNo', { number: c.invoiceNumber })), stateBadge(t, c.state)),
      h('div', { class: 'spread small' },
        h('span', { class: 'muted' }, [c.person !== ctx.state.me.person ? ctx.personName(c.person) : null,
          ctx.state.hospitals[c.fingerprint], day(c.createdAt, i18n.lang)].filter(Boolean).join(' · ')),
        h('span', {}, t('amount'), ' ', h('b', {}, yuan(c.amountFen, i18n.lang))))));
}

export async function renderClaims(ctx) {
  const { t, api, main, state } = ctx;
  const flash = state.flash; state.flash = null;
  const doc = await api.get('/v1/claims?limit=100');
  const list = h('ul', { class: 'claims', 'aria-live': 'polite' });
  const draw = (claims) => clear(list, claims.map((c) => claimCard(ctx, c)));
  const claims = doc.claims || doc.items || [];
  draw(claims);
  clear(main, h('h1', {}, t('claimsTitle')),
    flash && flash.refused && flash.refused.length ? h('div', { class: 'alert error', role: 'alert' },
      flash.refused.map((c) => h('p', {}, `${t('invoiceNo', { number: c.invoiceNumber })}: ${t('state_refused')} — ${refusal(c) || t('say_refused')}`))) : null,
    claims.length ? list : h('p', { class: 'card muted' }, t('claimsEmpty'), ' ', h('a', { href: '#/invoices' }, t('backToInvoices'))));
  if (claims.some((c) => !FINAL.has(c.state))) {
    poll(ctx, () => api.get('/v1/claims?limit=100'), { every: 3000, done: (d) => {
      const next = d.claims || d.items || [];
      draw(next);
      return next.every((c) => FINAL.has(c.state));
    } });
  }
}

function refusal(c) {
  const r = c.rejection || c.refusal;
  if (!r) return '';
  return typeof r === 'string' ? r : (r.reason || r.detail || '');
}

function steps(c) {
  // the path this claim takes, as far as it is known
  const reviewed = (c.review && c.review.reviews && c.review.reviews.length) || ['in-review', 'approved', 'rejected', 'appealed'].includes(c.state);
  const ends = ['rejected', 'refused', 'nothing-payable'].includes(c.state);
  const clawback = c.state === 'clawback';
  const path = ['submitted', 'checked', ...(reviewed ? ['review'] : []), ends ? 'decision' : 'paid', ...(clawback ? ['clawback'] : [])];
  // steps completed; the next one is in progress (a final state completes them all; a claw-back is
  // the step in progress after "paid" until it is settled)
  const done = { submitted: 1, reserved: 2, 'in-review': 2, appealed: 2, approved: 3, clawback: path.length - 1 }[c.state] ?? path.length;
  const current = done === path.length ? path.length - 1 : done;
  return path.map((s, i) => ({ s, done: i < done, current: i === current }));
}

function stepper(ctx, c) {
  const { t } = ctx;
  return h('ol', { class: 'steps', 'aria-label': t('progress') }, steps(c).map((st) =>
    h('li', { class: `${st.done ? 'done' : ''}${st.current ? ' current' : ''}`.trim(), 'aria-current': st.current ? 'step' : null,
      dataset: { step: st.s } }, t(`step_${st.s}`))));
}

/** A reason for a line's self-paid share, in the user's language (the server's words if unknown). */
function reasonWords({ t, i18n }, r, short = false) {
  const b = /^class-b-first-self-pay-(\d+)pct$/.exec(r.rule);
  if (b) return t(short ? 'rule_classBShort' : 'rule_classB', { pct: b[1] });
  const key = `rule_${r.rule.split(':')[0]}`;
  if (short && i18n.has(`${key}_short`)) return t(`${key}_short`);
  return i18n.has(key) ? t(key) : (r.detail || r.rule);
}

/** "阿莫西林胶囊 ×2 盒, Class B, first 10 % self-paid": a reduced fee line by its item and why. */
function lineWords(ctx, l, named) {
  const item = named ? ctx.t('lineItem', { name: named.itemName, qty: quantity(named) }) : ctx.t('lineNo', { seq: l.seq });
  return [item, ...(l.reasons || []).map((r) => reasonWords(ctx, r, true))].join(ctx.t('listSep'));
}

/** Who the claim was judged as, under which year's rules (the ones in force on the invoice date). */
function judgedAs(ctx, c, d) {
  const { t, i18n } = ctx;
  const issued = (d.invoice && d.invoice.issueDate) || '';
  return t('judgedAs', {
    category: i18n.has(`cat_${d.person}`) ? t(`cat_${d.person}`) : d.person,
    year: issued.slice(0, 4),
    scheme: i18n.has(`scheme_${c.scheme}`) ? t(`scheme_${c.scheme}`) : c.scheme,
    ruleset: d.ruleset.id, version: d.ruleset.version, date: day(issued, i18n.lang) });
}

/** The last sentence: what the person receives (or would, once a reviewer approves). */
function receives(ctx, c, debtor) {
  const { t, i18n } = ctx;
  const money = (fen) => yuan(fen, i18n.lang);
  const kept = c.payment && c.payment.keptBackFen;
  if (c.state === 'paid' && kept) {
    return t('youReceiveKept', { amount: money(c.amountFen), paid: money(c.payment.transferredFen), kept: money(kept) });
  }
  if (['paid', 'approved', 'reserved', 'submitted'].includes(c.state)) return t('youReceive', { amount: money(c.amountFen) });
  if (['in-review', 'appealed'].includes(c.state)) return t('youReceiveIfApproved', { amount: money(c.amountFen) });
  if (c.state === 'clawback') {
    return t({ person: 'youReceivedYouReturn', hospital: 'youReceivedHospitalReturns' }[debtor] || 'youReceivedOwed',
      { amount: money(c.amountFen) });
  }
  if (c.state === 'waiting-for-earlier-payers') return t('youReceiveLater');
  return t('youReceiveNothing', { amount: money(0) });
}

/** How the amount was worked out, in plain words, from the decision (steps, then each reduced line). */
function explanation(ctx, c, feeLines, debtor) {
  const { t, i18n } = ctx;
  const money = (fen) => yuan(fen, i18n.lang);
  const d = c.decision;
  const ending = h('p', { class: 'receive' }, h('strong', {}, receives(ctx, c, debtor)));
  if (!d || !d.ruleset || !d.lines) {
    return [h('h2', {}, t('whyTitle')), d && d.ruleset ? h('p', {}, judgedAs(ctx, c, { person: c.decision.person, invoice: {}, ...d })) : null,
      c.explanation && c.explanation.length ? h('ul', { class: 'explain' }, c.explanation.map((x) => h('li', {}, x))) : null, ending];
  }
  const named = new Map((feeLines || []).map((l) => [l.seq, l]));
  const lines = d.lines || [];
  const reduced = lines.filter((l) => l.selfPaidFen > 0);
  const notCovered = reduced.reduce((a, l) => a + l.selfPaidFen, 0);
  const before = (d.yearToDateBefore && d.yearToDateBefore.deductibleUsedFen) || 0;
  const after = (d.yearToDateAfter && d.yearToDateAfter.deductibleUsedFen) || 0;
  const say = [t('sumTotal', { total: money(d.totalFen ?? c.requestedFen) })];
  if (notCovered) say.push(t('sumNotCovered', { amount: money(notCovered), n: reduced.length, eligible: money(d.eligibleFen) }));
  let prev = null;                              // the amount before this step: a cap is worth saying when it bites
  for (const st of d.steps || []) {
    const prior = prev;
    prev = st.amountFen;
    if (st.rule === 'invoice-cap' || st.rule === 'visit-cap') {
      if (prior !== null && st.amountFen < prior) say.push(t(st.rule === 'invoice-cap' ? 'stepInvoiceCap' : 'stepVisitCap', { amount: money(st.amountFen) }));
      continue;
    }
    if (st.rule === 'deductible' && after > before && !st.amountFen) {
      say.push(t('stepDeductibleAll', { used: money(after - before) }));
      break;                                    // nothing left: the ratio and cap have nothing to act on
    }
    if (st.rule === 'deductible') say.push(after > before ? t('stepDeductible', { used: money(after - before), base: money(st.amountFen) }) : t('stepDeductibleMet'));
    else if (st.rule === 'ratio') say.push(t('stepRatio', { pct: (d.ratioBp || 0) / 100, amount: money(st.amountFen) }));
    else if (st.rule === 'annual-cap') say.push(t('stepCap', { left: money(d.capRemainingFen), amount: money(st.amountFen) }));
    else say.push(`${st.detail || st.rule} → ${money(st.amountFen)}`);
  }
  const parts = [h('h2', {}, t('whyTitle')), h('p', { class: 'judged' }, judgedAs(ctx, c, d)),
    h('ol', { class: 'explain' }, say.map((x) => h('li', {}, x)))];
  parts.push(h('h3', {}, t('linesTitle')));
  if (!reduced.length) parts.push(h('p', { class: 'muted' }, t('allLinesCovered')));
  else {
    // by reason first (a hospital stay has hundreds of lines), then every line in words
    const byReason = new Map();
    for (const l of reduced) {
      for (const r of l.reasons || []) {
        const words = reasonWords(ctx, r);
        const e = byReason.get(words) || { n: 0, fen: 0 };
        e.n += 1; e.fen += r.selfPaidFen || 0;
        byReason.set(words, e);
      }
    }
    parts.push(h('ul', { class: 'by-reason' }, [...byReason].sort((a, b) => b[1].fen - a[1].fen).map(([words, e]) =>
      h('li', {}, h('b', {}, money(e.fen)), ' · ', words, ' ', h('span', { class: 'muted small' }, t('nLines', { n: e.n }))))));
    const list = h('ul', { class: 'lines' }, reduced.map((l) => h('li', { dataset: { seq: l.seq } },
      h('div', {}, h('b', {}, lineWords(ctx, l, named.get(l.seq)))),
      h('div', { class: 'small' }, t('lineSays', { self: money(l.selfPaidFen), amount: money(l.amountFen) })))));
    parts.push(h('details', { class: 'line-by-line', open: reduced.length <= 8 },
      h('summary', {}, t('lineByLine', { n: reduced.length })), list));
  }
  const flags = c.flags && c.flags.length ? c.flags : (d.flags || []);
  if (flags.length) {
    parts.push(h('h3', {}, t('flagsTitle')), h('ul', {}, flags.map((f) => {
      const rule = typeof f === 'string' ? f : f.rule;
      return h('li', {}, i18n.has(`rule_${rule}`) ? t(`rule_${rule}`) : (f.detail || rule));
    })));
  }
  parts.push(ending);
  return parts;
}

function appealForm(ctx, c, redraw) {
  const { t, api } = ctx;
  const out = h('div', { 'aria-live': 'polite' });
  const area = h('textarea', { id: 'appeal-reason', required: true, 'aria-describedby': 'appeal-hint', maxlength: '500',
    oninput: () => clear(out) });
  const button = h('button', { type: 'submit' }, t('appealSend'));
  return h('form', { class: 'card appeal', novalidate: true, onsubmit: async (ev) => {
    ev.preventDefault();
    clear(out);
    const reason = area.value.trim();
    if (!reason) { out.append(ctx.errorBox(t('appealEmpty'))); area.focus(); return; }
    button.disabled = true;
    try {
      await api.post(`/v1/claims/${encodeURIComponent(c.id)}/appeal`, { reason });
      ctx.toast(t('appealSent'));
      redraw();
    } catch (err) {
      button.disabled = false;
      out.append(ctx.errorBox(err));
    }
  } },
  h('h2', {}, t('appealTitle')),
  h('label', { for: 'appeal-reason' }, t('appealLabel')), area,
  h('p', { class: 'hint', id: 'appeal-hint' }, t('appealHint')), out, button);
}

export async function renderClaim(ctx, id) {
  const { t, api, main, i18n } = ctx;
  const path = `/v1/claims/${encodeURIComponent(id)}`;
  let c = await api.get(path);
  // the items' names for the explanation (the decision names lines by number and code only); a
  // claim reads without them if they cannot be had
  const feeLines = await api.get(`/v1/invoices/${encodeURIComponent(c.fingerprint)}/fee-lines`)
    .then((d) => d.feeLines || []).catch(() => null);
  const live = h('div', { class: 'claim-live', 'aria-live': 'polite' });
  const owed = h('div', { class: 'clawback-slot' });
  let clawbackShown = false;
  let debtor = null;          // who owes a claw-back back: a hospital's debt is no alarm for the person
  const showClawback = async () => {
    if (c.state !== 'clawback' || clawbackShown) return;
    clawbackShown = true;
    try {
      const cb = await (await import('./clawback.js')).renderClawback(ctx, c, owed);
      debtor = cb.debtor.kind;
      draw();                 // the status and the last sentence say who returns it
    } catch (err) {
      clawbackShown = false;
      clear(owed, ctx.errorBox(err, { title: t('clawbackUnreadable'), retry: showClawback }));
    }
  };
  const redraw = async () => { c = await api.get(path); draw(); };
  const draw = () => {
    const say = t(`say_${c.state}`, { due: day(c.dueAt, i18n.lang) });
    const rej = refusal(c);
    clear(live,
      h('section', { class: `card status-panel state-${c.state}`, dataset: debtor ? { debtor } : null },
        h('div', { class: 'spread' }, stateBadge(t, c.state), FINAL.has(c.state) ? null : h('span', { class: 'muted small' },
          h('span', { class: 'spinner', 'aria-hidden': 'true' }), ' ', t('live'))),
        h('p', { class: 'say' }, say),
        rej ? h('p', { class: 'reason' }, t('reasonGiven', { reason: rej })) : null,
        h('dl', { class: 'facts' },
          h('dt', {}, t('requested')), h('dd', {}, yuan(c.requestedFen, i18n.lang)),
          h('dt', {}, c.state === 'paid' || c.state === 'clawback' ? t('amount') : t('amountExpected')),
          h('dd', { class: `big${c.state === 'paid' ? ' final' : ''}` }, yuan(c.amountFen, i18n.lang))),
        c.payment && c.payment.paidAt ? h('p', { class: 'small' },
          t('paidRef', { at: when(c.payment.paidAt, i18n.lang), ref: c.payment.reference })) : null,
        stepper(ctx, c)),
      owed,
      c.state === 'rejected' && !c.appeal ? appealForm(ctx, c, redraw) : null,
      h('section', { class: 'card' }, explanation(ctx, c, feeLines, debtor),
        c.stamp && c.stamp.tx ? h('p', { class: 'small muted stamp' }, `${t('stamp')}: `,
          t('stampSays', { block: c.stamp.block }), ' · ', hash(c.stamp.tx)) : null));
    showClawback();
  };
  draw();
  const hospital = c.hospitalName || ctx.state.hospitals[c.fingerprint] || c.issuer;
  clear(main,
    h('p', {}, h('a', { href: '#/claims' }, '← ', t('backToClaims'))),
    h('h1', {}, t('claimTitle', { id: c.id.replace(/^clm_/, '').slice(0, 10) })),
    h('p', { class: 'muted' }, t('claimFor', { number: c.invoiceNumber, hospital }),
      c.person !== ctx.state.me.person ? ` · ${ctx.personName(c.person)}` : '', ' · ',
      h('a', { href: `#/invoice/${encodeURIComponent(c.fingerprint)}${c.person !== ctx.state.me.person ? `?for=${c.person}` : ''}` },
        t('openInvoice'))),
    live);
  if (!FINAL.has(c.state)) {
    poll(ctx, () => api.get(path), { every: c.state === 'in-review' ? 5000 : 1500, done: (next) => {
      const changed = next.state !== c.state || next.updatedAt !== c.updatedAt;
      c = next;
      if (changed) draw();
      return FINAL.has(c.state);
    } });
  }
}
