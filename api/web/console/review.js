// Payer review: the queue with SLA age and filters, the claims list, and one claim in full
// (invoice, fee lines with the per-line decision and rule ids, chain stamps, audit trail)
// with approve / reject and the maker-checker rule.

import { clear, h, hash, short, yuan } from '/assets/shared/dom.js';
import { detailText, labelled, table } from './table.js';

const TONE = { paid: 'ok', approved: 'ok', rejected: 'bad', refused: 'bad', clawback: 'bad', 'in-review': 'warn', appealed: 'warn', 'nothing-payable': 'warn' };
const STATES = ['submitted', 'reserved', 'in-review', 'approved', 'paid', 'rejected', 'appealed', 'refused', 'nothing-payable', 'clawback', 'waiting-for-earlier-payers'];

export function badge(t, st) {
  return h('span', { class: `badge ${TONE[st] || ''}`.trim(), dataset: { state: st } }, t(`state_${st}`));
}

const money = (ctx, fen) => yuan(fen, ctx.i18n.lang);
const claimLink = (c, label) => h('a', { href: `#/claims/${encodeURIComponent(c.id)}`, class: 'nowrap', title: c.id }, label || short(c.id.replace(/^clm_/, ''), 6));
// the void's reason code by its label (the code itself if this console does not know it yet)
const voidLabel = (ctx, code) => (ctx.i18n.has(`void_${code}`) ? ctx.t(`void_${code}`) : code);
const flagText = (f) => (typeof f === 'string' ? f : (f.rule || f.kind || f.code || f.detail || JSON.stringify(f)));

// ---------------------------------------------------------------------- queue

// the queue's search fields: [query parameter, input id, label key, input type]; amounts are typed in yuan
const SEARCH = [['invoice', 'f-invoice', 'fInvoice', 'search'], ['claim', 'f-claim', 'fClaim', 'search'],
  ['person', 'f-person', 'fPerson', 'search'], ['hospital', 'f-hospital', 'fHospital', 'search'],
  ['minAmountFen', 'f-min', 'fMinAmount', 'number'], ['flag', 'f-flag', 'fFlag', 'text'], ['olderThanDays', 'f-older', 'fOlder', 'number']];

/** Why a claim is in the queue, one badge per reason (the server's words, with amounts and flag details, as its title). */
function whyBadges(ctx, c) {
  const { t } = ctx;
  return (c.why || []).map((w) => {
    const label = w.code === 'flagged' ? t('why_flagged', { rule: w.rule })
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
    if (type === 'number') Object.assign(attrs, { min: '0', step: '1' });
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
  const doc = await api.get(`/v1/review/queue${params.toString() ? `?${params}` : ''}`);
  const items = doc.claims || doc.items || doc.queue || [];
  const rows = items.map((c) => h('tr', { class: c.overdue ? 'overdue' : null, dataset: { claim: c.id } },
    h('td', {}, claimLink(c)),
    h('td', {}, `${c.issuer} · ${c.invoiceNumber}`),
    h('td', { class: 'nowrap' }, h('code', { title: c.person }, short(c.person, 4))),
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
  const head = [t('colClaim'), t('colState'), t('colInvoice'), [t('colRequested'), 'num'], [t('colAmount'), 'num'], t('colCreated')];
  const more = h('button', { type: 'button', class: 'secondary', hidden: true }, t('more'));
  let after = null;
  const page = async () => {
    const p = new URLSearchParams({ limit: '50' });
    if (q.get('state')) p.set('state', q.get('state'));
    if (after) p.set('after', after);
    const doc = await api.get(`/v1/claims?${p}`);
    after = doc.next || null;
    more.hidden = !after;
    return (doc.claims || []).map((c) => h('tr', { dataset: { claim: c.id } }, h('td', {}, claimLink(c)), h('td', {}, badge(t, c.state)),
      h('td', {}, `${c.issuer} · ${c.invoiceNumber}`), h('td', { class: 'num' }, money(ctx, c.requestedFen)),
      h('td', { class: 'num' }, money(ctx, c.amountFen)), h('td', { class: 'nowrap' }, ctx.when(c.createdAt))));
  };
  clear(main, h('h1', {}, t('claimsTitle')), h('div', { class: 'card filters' }, h('div', {}, h('label', { for: 'f-state' }, t('fState')), sel)), ctx.loading());
  const rows = await page();
  const list = rows.length ? table(head, rows) : null;
  more.addEventListener('click', () => page().then((next) => list.querySelector('tbody').append(...labelled(head, next)))
    .catch((e) => more.replaceWith(ctx.errorBox(e))));
  main.lastChild.replaceWith(list ? h('section', {}, list, more) : h('p', { class: 'card muted' }, t('claimsEmpty')));
}

// ---------------------------------------------------------------------- one claim

function facts(pairs) {
  return h('dl', { class: 'facts' }, pairs.filter((p) => p && p[1] !== undefined && p[1] !== null && p[1] !== '')
    .map(([k, v]) => [h('dt', {}, k), h('dd', {}, v)]));
}

// the reasons a fee line is left out of an approval (the API's codes, ledger/claims/lines.py)
const LINE_REASONS = ['not-medically-necessary', 'not-covered', 'quantity-above-limit', 'unbundled', 'duplicate-billing',
  'no-prescription-or-referral', 'documentation-missing', 'price-above-standard'];

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
    h('label', { for: 'decision-reason' }, t('reasonLabel')), reason, leaveOut, out, h('div', { class: 'row' }, approve, reject));
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

export async function renderPostAudit(ctx) {
  const { t, api, main } = ctx;
  clear(main, h('h1', {}, t('postAuditTitle')), ctx.loading());
  const doc = await api.get('/v1/review/post-payment');
  const items = doc.claims || [];
  const rows = items.map((c) => h('tr', { dataset: { claim: c.id } },
    h('td', {}, claimLink(c)), h('td', {}, `${c.issuer} · ${c.invoiceNumber}`),
    h('td', { class: 'nowrap' }, h('code', { title: c.person }, short(c.person, 4))),
    h('td', { class: 'num' }, money(ctx, c.amountFen)),
    h('td', { class: 'nowrap' }, c.payment && c.payment.paidAt ? ctx.when(c.payment.paidAt) : '')));
  main.lastChild.replaceWith(h('section', {},
    h('p', { class: 'muted' }, t('postAuditQueueIntro', { share: ((doc.shareBp || 0) / 100).toFixed(2) })),
    h('p', { class: 'count' }, t('postAuditCount', { n: items.length })),
    items.length ? table([t('colClaim'), t('colInvoice'), t('colPerson'), [t('colPaid'), 'num'], t('colPaidAt')], rows, 'post-audit')
      : h('p', { class: 'card muted' }, t('postAuditEmpty'))));
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

function reviews(ctx, c) {
  const { t } = ctx;
  const list = (c.review && c.review.reviews) || [];
  if (!list.length) return null;
  return [h('h3', {}, t('reviewsTitle')), h('ul', {}, list.map((r) => h('li', {},
    t('review', { verdict: r.verdict, reviewer: r.reviewer, at: ctx.when(r.at), reason: r.reason || '' }))))];
}

function stampsTable(ctx, stamps) {
  const { t } = ctx;
  if (!stamps || !stamps.length) return h('p', { class: 'muted' }, t('noStamps'));
  return table([t('colPayer'), [t('colAmount'), 'num'], t('colStatus'), [t('colBlock'), 'num'], t('colTx')],
    stamps.map((s) => h('tr', {}, h('td', {}, s.payerId), h('td', { class: 'num' }, money(ctx, s.amountFen)),
      h('td', {}, s.status), h('td', { class: 'num' }, String(s.block)), h('td', {}, hash(s.transaction || s.tx)))));
}

function feeLines(ctx, lines, decision) {
  const { t } = ctx;
  const byseq = new Map(((decision && decision.lines) || []).map((l) => [l.seq, l]));
  const all = lines.length ? lines : [...byseq.values()];
  const reduced = all.filter((li) => (byseq.get(li.seq) || {}).selfPaidFen > 0 || ((byseq.get(li.seq) || {}).reasons || []).length);
  const byRule = new Map();
  for (const li of reduced) {
    for (const r of (byseq.get(li.seq) || {}).reasons || []) {
      const e = byRule.get(r.rule) || { lines: 0, fen: 0, detail: r.detail };
      e.lines += 1; e.fen += r.selfPaidFen || 0;
      byRule.set(r.rule, e);
    }
  }
  const reducedTable = reduced.length ? feeLineTable(ctx, reduced, byseq) : null;
  return [
    h('p', { class: 'muted small' }, t('linesSummary', { n: all.length, reduced: reduced.length })),
    byRule.size ? table([t('rule'), [t('colLines'), 'num'], [t('colSelf'), 'num']], [...byRule].sort((a, b) => b[1].fen - a[1].fen)
      .map(([rule, e]) => h('tr', {}, h('td', {}, h('code', { title: e.detail || '' }, rule)), h('td', { class: 'num' }, String(e.lines)),
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
      h('td', {}, li.category || ''), h('td', { class: 'num' }, li.quantity ?? ''),
      h('td', { class: 'num' }, money(ctx, li.amountFen ?? d.amountFen)),
      h('td', { class: 'num' }, d.eligibleFen !== undefined ? money(ctx, d.eligibleFen) : '—'),
      h('td', { class: 'num' }, self ? money(ctx, self) : '—'),
      h('td', {}, (d.reasons || []).map((r) => h('span', { class: 'rule', title: r.detail || '' }, h('code', {}, r.rule),
        r.selfPaidFen ? ` ${money(ctx, r.selfPaidFen)}` : ''))));
  });
  return table([[t('colSeq'), 'num'], t('colCode'), t('colName'), t('colCat'), [t('colQty'), 'num'], [t('colLineAmount'), 'num'],
    [t('colEligible'), 'num'], [t('colSelf'), 'num'], t('colRules')], rows, 'lines compact');
}

function auditTable(ctx, entries) {
  const { t } = ctx;
  if (!entries.length) return h('p', { class: 'muted' }, t('auditEmpty'));
  return table([t('colAt'), t('colWho'), t('colWhat'), t('colWhy')], entries.map((e) => h('tr', {},
    h('td', { class: 'nowrap' }, ctx.when(e.at)),
    h('td', {}, e.actor || e.by || e.who || ''),
    h('td', {}, e.action || e.what || e.event || [e.from, e.to].filter(Boolean).join(' → ') || ''),
    h('td', { class: 'small' }, e.reason || e.why || detailText(e.detail)))));
}

export async function renderClaim(ctx, id) {
  const { t, api, main } = ctx;
  clear(main, ctx.loading());
  const load = async (notice) => {
    const c = await api.get(`/v1/claims/${encodeURIComponent(id)}`);
    const [inv, lines, audit] = await Promise.all([
      api.get(`/v1/invoices/${c.fingerprint}`).catch((e) => e),
      api.get(`/v1/invoices/${c.fingerprint}/fee-lines`).then((d) => d.feeLines || []).catch(() => []),
      api.get(`/v1/claims/${encodeURIComponent(id)}/audit`).then((d) => d.entries || d.events || d.audit || d).catch((e) => e),
    ]);
    const d = c.decision || {};
    const isPayer = ctx.state.me.role === 'payer';
    const back = ctx.state.me.role === 'payer' ? h('a', { href: '#/queue' }, t('backToQueue')) : h('a', { href: '#/claims' }, t('backToClaims'));
    clear(main, h('p', {}, back),
      h('div', { class: 'spread' }, h('h1', {}, t('claimTitle', { id: c.id })), badge(t, c.state)),
      notice ? h('div', { class: 'alert warn', role: 'status' }, notice) : null,
      h('div', { class: isPayer && (c.state === 'in-review' || auditDue(c)) ? 'cols' : '' },
        h('section', { class: 'card' },
          facts([[t('person'), h('code', { title: c.person }, short(c.person, 8))], [t('actor'), c.actor], [t('onBehalfOf'), c.onBehalfOf],
            [t('payer'), c.payer], [t('created'), ctx.when(c.createdAt)], [t('updated'), ctx.when(c.updatedAt)],
            [t('due'), c.dueAt ? ctx.day(c.dueAt) : null], [t('ruleset'), d.ruleset ? `${d.ruleset.id} v${d.ruleset.version}` : null]]),
          h('div', { class: 'amounts-grid' },
            [[t('requested'), c.requestedFen], [t('eligible'), d.eligibleFen], [t('reimbursable'), d.reimbursableFen], [t('amount'), c.amountFen]]
              .map(([k, v]) => h('div', {}, h('div', { class: 'muted small' }, k), h('div', { class: 'amt' }, money(ctx, v))))),
          c.rejection ? h('p', { class: 'alert error' }, `${t('rejectionTitle')}: ${c.rejection.reason || c.rejection.detail || c.rejection}`) : null,
          c.appeal ? h('p', { class: 'alert info' }, `${t('appealTitle')}: ${c.appeal.reason || c.appeal}`) : null,
          reviews(ctx, c)),
        isPayer && c.state === 'in-review' ? (barredForMe(ctx, c)
          ? h('section', { class: 'card decide' }, h('h2', {}, t('decideTitle')), h('p', { class: 'alert info' }, t(barredForMe(ctx, c))))
          : decisionPanel(ctx, c, load)) : null,
        isPayer && auditDue(c) ? postAuditPanel(ctx, c, load) : null),
      d.review && d.review.lines && d.review.lines.length ? h('section', { class: 'card not-approved' }, h('h2', {}, t('notApprovedTitle')),
        h('p', {}, t('notApprovedAmounts', { before: money(ctx, d.review.amountBeforeFen), after: money(ctx, d.review.amountFen) })),
        h('ul', {}, d.review.lines.map((li) => h('li', { dataset: { seq: String(li.seq) } }, h('code', {}, `${li.seq} · ${li.itemCode}`),
          ` ${money(ctx, li.amountFen)} — ${ctx.i18n.has(`lineReason_${li.reason}`) ? t(`lineReason_${li.reason}`) : li.reason}`,
          li.note ? ` (${li.note})` : '')))) : null,
      d.flags && d.flags.length ? h('section', { class: 'card' }, h('h2', {}, t('flagsTitle')),
        h('ul', {}, d.flags.map((f) => h('li', {}, h('code', {}, flagText(f)), f.detail ? ` ${f.detail}` : '')))) : null,
      h('section', { class: 'card' }, h('h2', {}, t('stepsTitle')),
        d.steps && d.steps.length ? table([t('rule'), [t('colLineAmount'), 'num'], ''], d.steps.map((s) => h('tr', {},
          h('td', {}, h('code', {}, s.rule)), h('td', { class: 'num' }, money(ctx, s.amountFen)), h('td', {}, s.detail || '')))) : null,
        c.explanation && c.explanation.length ? h('details', {}, h('summary', {}, t('explanationTitle'), ` (${c.explanation.length})`),
          h('ul', { class: 'small' }, c.explanation.map((x) => h('li', {}, x)))) : null),
      h('section', { class: 'card' }, h('h2', {}, t('invoiceTitle')),
        inv instanceof Error ? ctx.errorBox(inv) : facts([
          [t('issuer'), c.issuer], [t('invoiceNo'), `${inv.invoiceCode} / ${inv.invoiceNumber}`], [t('issuedAt'), ctx.when(inv.issuedAt)],
          [t('visit'), inv.visitType], [t('total'), money(ctx, inv.totalFen)], [t('cashPaid'), money(ctx, inv.cashPaidFen)],
          [t('state'), inv.state], [t('fingerprint'), hash(inv.fingerprint)], [t('batch'), inv.batchRoot ? hash(inv.batchRoot) : null],
          [t('anchoredTx'), inv.transaction ? [hash(inv.transaction), ` · ${t('colBlock')} ${inv.block}`] : null],
          [t('voided'), inv.void ? `${ctx.when(inv.void.requestedAt)} · ${voidLabel(ctx, inv.void.reasonCode)}` : null],
          [t('voidNote'), inv.void && inv.void.reason ? inv.void.reason : null]]),
        h('h3', {}, t('feeLinesTitle')), feeLines(ctx, lines, d)),
      h('section', { class: 'card' }, h('h2', {}, t('stampsTitle')),
        c.stamp && c.stamp.tx ? h('p', {}, `${t('claimStamp')}: ${c.stamp.status} · ${t('colBlock')} ${c.stamp.block} · `, hash(c.stamp.tx)) : null,
        stampsTable(ctx, inv instanceof Error ? [] : (inv.reimbursement && inv.reimbursement.stamps) || [])),
      h('section', { class: 'card' }, h('h2', {}, t('auditTitle')),
        audit instanceof Error ? ctx.errorBox(audit) : auditTable(ctx, Array.isArray(audit) ? audit : [])));
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
