// One claim in full, in the chosen language: whom it is for (the payer's enrolment, for its reviewers), the
// decision step by step, fee lines with the rules by name, flags, chain stamps and the audit trail; approve or
// reject (maker-checker, separation of duties) and the post-payment audit.

import { clear, h, hash } from '/assets/shared/dom.js';
import { table } from './table.js';
import { badge } from './review.js';
import {
  actionText, actorText, detailText, hospitalName, hospitals, money, pseudonym, refusalText, ruleName, stepText, word,
} from './words.js';

function facts(pairs) {
  return h('dl', { class: 'facts' }, pairs.filter((p) => p && p[1] !== undefined && p[1] !== null && p[1] !== '')
    .map(([k, v]) => [h('dt', {}, k), h('dd', {}, v)]));
}

// the reasons a fee line is left out of an approval (the API's codes, ledger/claims/lines.py)
const LINE_REASONS = ['not-medically-necessary', 'not-covered', 'quantity-above-limit', 'unbundled', 'duplicate-billing',
  'no-prescription-or-referral', 'documentation-missing', 'price-above-standard'];

/** Whom the claim is for: the payer's enrolment (its reviewers), else the pseudonym (auditors). */
function personFacts(ctx, c) {
  const { t } = ctx;
  const p = c.insured;
  if (!p) return [[t('person'), h('code', { title: c.person }, pseudonym(c.person))]];
  if (!p.enrolled) return [[t('insuredPerson'), h('span', { class: 'muted' }, t('notEnrolled'))], [t('pseudonymLabel'), h('code', { title: c.person }, pseudonym(c.person))]];
  const where = p.insuredRegion ? t(p.offsiteRegistered ? 'regionRegistered' : 'regionOnly', { region: p.insuredRegion }) : t('regionNone');
  return [[t('insuredPerson'), h('strong', { class: 'person' }, p.name || t('noName'))],
    [t('category'), word(ctx, 'category_', p.category)], [t('insuredRegion'), where],
    [t('messagesIn'), word(ctx, 'lang_', p.language)],
    [t('pseudonymLabel'), h('code', { class: 'small', title: c.person }, pseudonym(c.person))]];
}

/** The lines the rules pay for, each with a box to leave it out and its reason; null when this approval does not
 * decide the claim (the first of two: only the final reviewer approves in part). */
function leaveOutLines(ctx, c) {
  const { t } = ctx;
  const r = c.review || {};
  if ((r.reviewsNeeded || 1) - (r.approvals || 0) > 1) return null;
  const paying = ((c.decision && c.decision.lines) || []).filter((li) => li.eligibleFen > 0);
  if (paying.length < 2) return null;
  const rows = paying.map((li) => {
    const box = h('input', { type: 'checkbox', id: `leave-out-${li.seq}`, dataset: { seq: String(li.seq) } });
    const why = h('select', { 'aria-label': t('lineReasonLabel', { seq: li.seq }), dataset: { seq: String(li.seq) } },
      LINE_REASONS.map((code) => h('option', { value: code }, t(`lineReason_${code}`))));
    return h('tr', {}, h('td', {}, box), h('td', { class: 'num' }, h('label', { for: box.id }, String(li.seq))),
      h('td', {}, h('code', {}, li.itemCode)), h('td', { class: 'num' }, money(ctx, li.eligibleFen)), h('td', {}, why));
  });
  const panel = h('details', { class: 'leave-out' }, h('summary', {}, t('inPartTitle')), h('p', { class: 'muted small' }, t('inPartIntro')),
    table(['', [t('colSeq'), 'num'], t('colCode'), [t('colEligible'), 'num'], t('colWhyLine')], rows, 'compact leave-out-lines'));
  panel.chosen = () => rows.map((row) => row.querySelector('input')).filter((box) => box.checked)
    .map((box) => ({ seq: Number(box.dataset.seq), reason: panel.querySelector(`select[data-seq="${box.dataset.seq}"]`).value }));
  return panel;
}

function decisionPanel(ctx, c, reload) {
  const { t, api } = ctx;
  const leaveOut = leaveOutLines(ctx, c);
  const reason = h('textarea', { id: 'decision-reason', rows: '3', required: true });
  const out = h('div', { 'aria-live': 'polite', class: 'decision-out' });
  const approve = h('button', { type: 'button', id: 'approve' }, t('approve'));
  const reject = h('button', { type: 'button', id: 'reject', class: 'danger' }, t('reject'));
  const decide = async (verb) => {
    clear(out);
    const text = reason.value.trim();
    if (!text) { out.append(ctx.errorBox(t('reasonMissing'))); reason.focus(); return; }
    approve.disabled = true; reject.disabled = true;
    try {
      const lines = verb === 'approve' && leaveOut ? leaveOut.chosen() : [];
      const body = lines.length ? { reason: text, lines } : { reason: text };
      const { status } = await api.post(`/v1/claims/${encodeURIComponent(c.id)}/${verb}`, body);
      if (status !== 202) ctx.toast(verb === 'approve' ? t(lines.length ? 'approvedInPart' : 'approved') : t('rejected'));
      await reload(status === 202 ? t('makerChecker') : null);
    } catch (err) {
      approve.disabled = false; reject.disabled = false;
      out.append(ctx.errorBox(err));
    }
  };
  approve.addEventListener('click', () => decide('approve'));
  reject.addEventListener('click', () => decide('reject'));
  const stage = c.review && c.review.stage;
  return h('section', { class: 'card decide' }, h('h2', {}, t('decideTitle'), stage ? h('span', { class: 'badge', dataset: { stage } }, t(`stage_${stage}`)) : null),
    c.review && c.review.needsTwoReviewers ? h('p', { class: 'alert warn' }, t('needsTwo')) : null,
    h('label', { for: 'decision-reason' }, t('reasonLabel')), reason, h('p', { class: 'hint' }, t('reasonTexted')),
    leaveOut, out, h('div', { class: 'row' }, approve, reject));
}

// ---------------------------------------------------------------------- the post-payment audit

const auditDue = (c) => c.state === 'paid' && c.postAudit === 'due';
/** What a finding may say was found (ledger/claims/clawback_reasons.py): the code says who returns the money. */
const FINDINGS = ['duplicate-charging', 'unbundling', 'item-substitution', 'false-billing', 'over-treatment',
  'repeat-prescriptions', 'not-entitled', 'paid-elsewhere', 'overpaid'];

/** A drawn, paid claim's audit: nothing wrong, or a finding that asks the money back (a claw-back). */
function postAuditPanel(ctx, c, reload) {
  const { t, api } = ctx;
  const reason = h('textarea', { id: 'audit-reason', rows: '3', required: true });
  const code = h('select', { id: 'audit-code' }, h('option', { value: '' }, t('auditCodeNone')),
    ...FINDINGS.map((f) => h('option', { value: f }, t(`finding_${f}`))));
  const out = h('div', { 'aria-live': 'polite', class: 'decision-out' });
  const cleared = h('button', { type: 'button', id: 'audit-cleared' }, t('auditCleared'));
  const finding = h('button', { type: 'button', id: 'audit-finding', class: 'danger' }, t('auditFinding'));
  const decide = async (outcome) => {
    clear(out);
    const text = reason.value.trim();
    if (!text) { out.append(ctx.errorBox(t('auditReasonMissing'))); reason.focus(); return; }
    if (outcome === 'finding' && !code.value) { out.append(ctx.errorBox(t('auditCodeMissing'))); code.focus(); return; }
    cleared.disabled = true; finding.disabled = true;
    const body = outcome === 'finding' ? { outcome, code: code.value, reason: text } : { outcome, reason: text };
    try {
      await api.post(`/v1/claims/${encodeURIComponent(c.id)}/post-audit`, body);
      ctx.toast(outcome === 'finding' ? t('auditFound') : t('auditDone'));
      await reload();
    } catch (err) {
      cleared.disabled = false; finding.disabled = false;
      out.append(ctx.errorBox(err));
    }
  };
  cleared.addEventListener('click', () => decide('cleared'));
  finding.addEventListener('click', () => decide('finding'));
  return h('section', { class: 'card decide' }, h('h2', {}, t('postAuditTitle')), h('p', { class: 'muted' }, t('postAuditIntro')),
    h('label', { for: 'audit-reason' }, t('auditReasonLabel')), reason,
    h('label', { for: 'audit-code' }, t('auditCodeLabel')), code, out, h('div', { class: 'row' }, cleared, finding));
}

/** Why the signed-in reviewer may not decide this claim (the server's separation of duties), or null:
 * they rejected it before its appeal, or approved it in this round (the final reviewer is not the first). */
function barredForMe(ctx, c) {
  const mine = ctx.state.me && ctx.state.me.keyId;
  const round = (c.review && c.review.round) || 1;
  const byMe = ((c.review && c.review.reviews) || []).filter((r) => mine && String(r.reviewer).endsWith(`:${mine}`));
  if (byMe.some((r) => r.verdict === 'reject' && r.round < round)) return 'appealOtherReviewer';
  if (byMe.some((r) => r.round === round)) return 'secondReviewer';
  return null;
}

function reviews(ctx, c, names) {
  const { t } = ctx;
  const list = (c.review && c.review.reviews) || [];
  if (!list.length) return null;
  return [h('h3', {}, t('reviewsTitle')), h('ul', { class: 'reviews-list' }, list.map((r) => h('li', {},
    t('review', { verdict: word(ctx, 'reviewVerdict_', r.verdict), reviewer: actorText(ctx, r.reviewer, r.reviewerLabel, names),
      at: ctx.when(r.at), reason: r.reason || '' }))))];
}

function stampsTable(ctx, stamps) {
  const { t } = ctx;
  if (!stamps || !stamps.length) return h('p', { class: 'muted' }, t('noStamps'));
  return table([t('colPayer'), [t('colStamped'), 'num'], t('colStatus'), [t('colBlock'), 'num'], t('colTx')],
    stamps.map((s) => h('tr', {}, h('td', {}, s.payerId), h('td', { class: 'num' }, money(ctx, s.amountFen)),
      h('td', {}, word(ctx, 'stamp_', s.status)), h('td', { class: 'num' }, String(s.block)), h('td', {}, hash(s.transaction || s.tx)))));
}

/** The amount a line's rules took off, by rule name. */
function ruleChips(ctx, reasons) {
  return (reasons || []).map((r) => h('span', { class: 'rule', title: ruleName(ctx, r.rule), dataset: { rule: r.rule } },
    ruleName(ctx, r.rule), r.selfPaidFen ? ` ${money(ctx, r.selfPaidFen)}` : ''));
}

function feeLines(ctx, lines, decision) {
  const { t } = ctx;
  const byseq = new Map(((decision && decision.lines) || []).map((l) => [l.seq, l]));
  const all = lines.length ? lines : [...byseq.values()];
  const reduced = all.filter((li) => (byseq.get(li.seq) || {}).selfPaidFen > 0 || ((byseq.get(li.seq) || {}).reasons || []).length);
  const byRule = new Map();
  for (const li of reduced) {
    for (const r of (byseq.get(li.seq) || {}).reasons || []) {
      const e = byRule.get(r.rule) || { lines: 0, fen: 0 };
      e.lines += 1; e.fen += r.selfPaidFen || 0;
      byRule.set(r.rule, e);
    }
  }
  const reducedTable = reduced.length ? feeLineTable(ctx, reduced, byseq) : null;
  return [
    h('p', { class: 'muted small' }, t('linesSummary', { n: all.length, reduced: reduced.length })),
    byRule.size ? table([t('rule'), [t('colLines'), 'num'], [t('colSelf'), 'num']], [...byRule].sort((a, b) => b[1].fen - a[1].fen)
      .map(([rule, e]) => h('tr', {}, h('td', {}, h('span', { dataset: { rule } }, ruleName(ctx, rule))), h('td', { class: 'num' }, String(e.lines)),
        h('td', { class: 'num' }, money(ctx, e.fen)))), 'compact by-rule') : null,
    reduced.length > 25 ? h('details', { class: 'all-lines' }, h('summary', {}, t('reducedLines', { n: reduced.length })), reducedTable)
      : reducedTable,
    all.length > reduced.length ? h('details', { class: 'all-lines' }, h('summary', {}, t('allLines', { n: all.length })),
      feeLineTable(ctx, all, byseq)) : null,
  ];
}

function feeLineTable(ctx, list, byseq) {
  const { t } = ctx;
  const rows = list.map((li) => {
    const d = byseq.get(li.seq) || {};
    const self = d.selfPaidFen || 0;
    return h('tr', { class: self ? 'reduced' : null },
      h('td', { class: 'num' }, String(li.seq)), h('td', {}, h('code', {}, li.itemCode || d.itemCode)), h('td', {}, li.itemName || ''),
      h('td', {}, word(ctx, 'cat_', li.category)), h('td', { class: 'num' }, li.quantity ?? ''),
      h('td', { class: 'num' }, money(ctx, li.amountFen ?? d.amountFen)),
      h('td', { class: 'num' }, d.eligibleFen !== undefined ? money(ctx, d.eligibleFen) : '—'),
      h('td', { class: 'num' }, self ? money(ctx, self) : '—'),
      h('td', {}, ruleChips(ctx, d.reasons)));
  });
  return table([[t('colSeq'), 'num'], t('colCode'), t('colName'), t('colCat'), [t('colQty'), 'num'], [t('colLineAmount'), 'num'],
    [t('colEligible'), 'num'], [t('colSelf'), 'num'], t('colRules')], rows, 'lines compact');
}

function stepsTable(ctx, d) {
  const { t } = ctx;
  if (!d.steps || !d.steps.length) return null;
  return table([t('colStep'), [t('colAfterStep'), 'num'], t('colHow')], d.steps.map((s) => h('tr', { dataset: { step: s.rule } },
    h('td', {}, word(ctx, 'step_', s.rule)), h('td', { class: 'num' }, money(ctx, s.amountFen)),
    h('td', {}, stepText(ctx, s, d, d.steps)))), 'compact steps');
}

export function auditTable(ctx, entries, names) {
  const { t } = ctx;
  if (!entries.length) return h('p', { class: 'muted' }, t('auditEmpty'));
  return table([t('colAt'), t('colWho'), t('colWhat'), t('colWhy')], entries.map((e) => h('tr', { dataset: { action: e.action } },
    h('td', { class: 'nowrap' }, ctx.when(e.at)),
    h('td', { title: e.actor }, actorText(ctx, e.actor, e.actorLabel, names)),
    h('td', {}, actionText(ctx, e.action)),
    h('td', { class: 'small' }, detailText(ctx, e.detail, names)))), 'audit-entries');
}

export async function renderClaim(ctx, id) {
  const { t, api, main } = ctx;
  clear(main, ctx.loading());
  const names = await hospitals(ctx);
  const load = async (notice) => {
    const c = await api.get(`/v1/claims/${encodeURIComponent(id)}`);
    const [inv, lines, audit] = await Promise.all([
      api.get(`/v1/invoices/${c.fingerprint}`).catch((e) => e),
      api.get(`/v1/invoices/${c.fingerprint}/fee-lines`).then((d) => d.feeLines || []).catch(() => []),
      api.get(`/v1/claims/${encodeURIComponent(id)}/audit`).then((d) => d.entries || []).catch((e) => e),
    ]);
    const d = c.decision || {};
    const isPayer = ctx.state.me.role === 'payer';
    const back = isPayer ? h('a', { href: '#/queue' }, t('backToQueue')) : h('a', { href: '#/claims' }, t('backToClaims'));
    const hospital = hospitalName(names, c.issuer, c.hospitalName);
    clear(main, h('p', {}, back),
      h('div', { class: 'spread' }, h('h1', {}, t('claimTitle', { id: c.id })), badge(t, c.state)),
      notice ? h('div', { class: 'alert warn', role: 'status' }, notice) : null,
      h('div', { class: isPayer && (c.state === 'in-review' || auditDue(c)) ? 'cols' : '' },
        h('section', { class: 'card' },
          facts([...personFacts(ctx, c),
            [t('actor'), actorText(ctx, c.actor, c.actorLabel, names)],
            [t('relationLabel'), c.relation && c.relation !== 'self' ? word(ctx, 'relation_', c.relation) : null],
            [t('issuer'), hospital], [t('payer'), c.payer], [t('created'), ctx.when(c.createdAt)], [t('updated'), ctx.when(c.updatedAt)],
            [t('due'), c.dueAt ? ctx.day(c.dueAt) : null], [t('ruleset'), d.ruleset ? `${d.ruleset.id} v${d.ruleset.version}` : null]]),
          h('div', { class: 'amounts-grid' },
            [[t('requested'), c.requestedFen], [t('eligible'), d.eligibleFen], [t('reimbursable'), d.reimbursableFen], [t('amount'), c.amountFen]]
              .map(([k, v]) => h('div', {}, h('div', { class: 'muted small' }, k), h('div', { class: 'amt' }, money(ctx, v))))),
          c.refusal && ['refused', 'in-review'].includes(c.state) ? h('p', { class: 'alert warn', title: c.refusal }, `${t('refusalTitle')}${t('colon')}${refusalText(ctx, c.refusal)}`) : null,
          c.rejection ? h('p', { class: 'alert error' }, `${t('rejectionTitle')}${t('colon')}${c.rejection}`) : null,
          c.appeal ? h('p', { class: 'alert info' }, `${t('appealTitle')}${t('colon')}${c.appeal}`) : null,
          reviews(ctx, c, names)),
        isPayer && c.state === 'in-review' ? (barredForMe(ctx, c)
          ? h('section', { class: 'card decide' }, h('h2', {}, t('decideTitle')), h('p', { class: 'alert info' }, t(barredForMe(ctx, c))))
          : decisionPanel(ctx, c, load)) : null,
        isPayer && auditDue(c) ? postAuditPanel(ctx, c, load) : null),
      d.review && d.review.lines && d.review.lines.length ? h('section', { class: 'card not-approved' }, h('h2', {}, t('notApprovedTitle')),
        h('p', {}, t('notApprovedAmounts', { before: money(ctx, d.review.amountBeforeFen), after: money(ctx, d.review.amountFen) })),
        h('ul', {}, d.review.lines.map((li) => h('li', { dataset: { seq: String(li.seq) } }, h('code', {}, `${li.seq} · ${li.itemCode}`),
          ` ${money(ctx, li.amountFen)} — ${word(ctx, 'lineReason_', li.reason)}`,
          li.note ? ` (${li.note})` : '')))) : null,
      d.flags && d.flags.length ? h('section', { class: 'card' }, h('h2', {}, t('flagsTitle')),
        h('ul', {}, d.flags.map((f) => h('li', { dataset: { rule: f.rule } }, ruleName(ctx, f.rule),
          f.seqs && f.seqs.length ? ` — ${t('flagLines', { seqs: f.seqs.join(t('listSep')) })}` : '')))) : null,
      h('section', { class: 'card' }, h('h2', {}, t('stepsTitle')), stepsTable(ctx, d)),
      h('section', { class: 'card' }, h('h2', {}, t('invoiceTitle')),
        inv instanceof Error ? ctx.errorBox(inv) : facts([
          [t('issuer'), h('span', { title: c.issuer }, hospital)], [t('invoiceNo'), `${inv.invoiceCode} / ${inv.invoiceNumber}`], [t('issuedAt'), ctx.when(inv.issuedAt)],
          [t('visit'), word(ctx, 'visit_', inv.visitType)], [t('total'), money(ctx, inv.totalFen)], [t('cashPaid'), money(ctx, inv.cashPaidFen)],
          [t('state'), word(ctx, 'invState_', inv.state)], [t('fingerprint'), hash(inv.fingerprint)], [t('batch'), inv.batchRoot ? hash(inv.batchRoot) : null],
          [t('anchoredTx'), inv.transaction ? [hash(inv.transaction), ` · ${t('colBlock')} ${inv.block}`] : null],
          [t('voided'), inv.void ? `${ctx.when(inv.void.requestedAt)} · ${word(ctx, 'void_', inv.void.reasonCode)}` : null],
          [t('voidNote'), inv.void && inv.void.reason ? inv.void.reason : null]]),
        h('h3', {}, t('feeLinesTitle')), feeLines(ctx, lines, d)),
      h('section', { class: 'card' }, h('h2', {}, t('stampsTitle')),
        c.stamp && c.stamp.tx ? h('p', {}, `${t('claimStamp')}${t('colon')}${word(ctx, 'stamp_', c.stamp.status)} · ${t('colBlock')} ${c.stamp.block} · `, hash(c.stamp.tx)) : null,
        stampsTable(ctx, inv instanceof Error ? [] : (inv.reimbursement && inv.reimbursement.stamps) || [])),
      h('section', { class: 'card' }, h('h2', {}, t('auditTitle')),
        audit instanceof Error ? ctx.errorBox(audit) : auditTable(ctx, Array.isArray(audit) ? audit : [], names)));
    if (notice) main.querySelector('.alert.warn')?.focus();
    if (['approved', 'reserved', 'submitted'].includes(c.state)) watch(c.state, notice);  // paid within seconds
  };
  const watch = (was, notice) => {
    const timer = setTimeout(async () => {
      const next = await api.get(`/v1/claims/${encodeURIComponent(id)}`).catch(() => null);
      if (next && next.state !== was) await load(notice).catch(() => undefined);
      else watch(was, notice);
    }, 2000);
    ctx.onStop(() => clearTimeout(timer));
  };
  await load();
}
