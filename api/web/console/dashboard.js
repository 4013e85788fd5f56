// The dashboard, drawn from GET /v1/stats/claims as inline SVG, and the service's audit trail.

import { clear, h, yuan } from '/assets/shared/dom.js';
import { PALETTE, bars, hbars, histogram } from './charts.js';

const OUTCOMES = ['paid', 'in-review', 'rejected', 'refused', 'nothing-payable'];
const BLOCKED = { duplicate: 'blocked_duplicate', 'claimed already': 'blocked_duplicate', 'claimed-already': 'blocked_duplicate',
  voided: 'blocked_voided', 'voided by the hospital': 'blocked_voided', forged: 'blocked_forged', 'tampered-or-forged': 'blocked_forged',
  'unknown-issuer': 'blocked_forged', 'fully reimbursed': 'blocked_fullyReimbursed', 'fully-reimbursed': 'blocked_fullyReimbursed',
  'not anchored yet': 'blocked_notAnchored', 'not-anchored': 'blocked_notAnchored' };

const pairs = (x) => (Array.isArray(x) ? x : Object.entries(x || {}).map(([reason, count]) => ({ reason, count })));
const num = (...xs) => { for (const x of xs) if (typeof x === 'number') return x; return 0; };

/** The stats document in the shape the charts draw (tolerant of field names while the API settles). */
export function normalise(doc) {
  const days = (doc.perDay || doc.days || doc.claimsPerDay || []).map((d) => {
    const by = d.byOutcome || d.outcomes || d.counts || d;
    const values = {};
    for (const o of OUTCOMES) values[o] = num(by[o]);
    return { label: String(d.date || d.day || '').slice(5), values,
      requested: num(d.requestedFen, d.amounts && d.amounts.requestedFen), paid: num(d.paidFen, d.amounts && d.amounts.paidFen) };
  });
  const rules = pairs(doc.topRules || doc.topReducingRules || doc.rules).map((r) => ({
    label: r.rule || r.reason || r.id, value: num(r.amountFen, r.selfPaidFen, r.reducedFen, r.fen), count: num(r.count, r.claims) }));
  const payout = doc.payoutTime || doc.payout || doc.payoutWorkingDays || {};
  const buckets = pairs(payout.buckets || payout.histogram || payout.distribution || []).map((b) => ({
    label: String(b.workingDays ?? b.days ?? b.le ?? b.bucket ?? b.reason), value: num(b.count, b.claims) }));
  const blocked = {};
  for (const r of pairs(doc.refusals || doc.blocked || doc.refusalsByReason || [])) {
    const key = BLOCKED[r.reason || r.kind] || 'blocked_other';
    blocked[key] = (blocked[key] || 0) + num(r.count, r.claims, r.attempts);
  }
  return { days, rules, buckets, target: num(payout.targetWorkingDays, payout.target) || 5,
    within: payout.withinTarget ?? payout.withinTargetShare ?? null, blocked };
}

export async function renderDashboard(ctx) {
  const { t, api, main, i18n } = ctx;
  clear(main, h('h1', {}, t('dashTitle')), ctx.loading());
  const s = normalise(await api.get('/v1/stats/claims'));
  const money = (fen) => yuan(fen, i18n.lang);
  const compact = (fen) => `¥${Math.round(fen / 100).toLocaleString(i18n.lang)}`;
  const outcomes = OUTCOMES.map((o, i) => ({ key: o, label: t(`outcome_${o}`), color: [PALETTE[0], PALETTE[2], PALETTE[1], PALETTE[5], PALETTE[4]][i] }));
  const within = s.within === null ? null : `${Math.round((s.within <= 1 ? s.within * 100 : s.within))}%`;
  const blockedItems = Object.entries(s.blocked).map(([k, v]) => ({ label: t(k), value: v })).sort((a, b) => b.value - a.value);
  clear(main, h('h1', {}, t('dashTitle')), h('p', { class: 'muted' }, t('dashIntro')),
    h('div', { class: 'charts' },
      bars({ title: t('chartPerDay'), categories: s.days, series: outcomes, emptyText: t('noData') }),
      bars({ title: t('chartAmounts'), stacked: false, fmt: compact, emptyText: t('noData'),
        categories: s.days.map((d) => ({ label: d.label, values: { requested: d.requested, paid: d.paid } })),
        series: [{ key: 'requested', label: t('requestedSeries'), color: '#9aa4af' }, { key: 'paid', label: t('paidSeries'), color: PALETTE[0] }] }),
      hbars({ title: t('chartRules'), items: s.rules.slice(0, 8), fmt: money, emptyText: t('noData') }),
      histogram({ title: t('chartPayout'), buckets: s.buckets, targetAfter: s.target, targetLabel: t('target'),
        note: within ? t('withinTarget', { pct: within }) : null, emptyText: t('noData') }),
      hbars({ title: t('chartBlocked'), items: blockedItems, color: PALETTE[1], emptyText: t('noData') })));
}

export async function renderAudit(ctx) {
  const { t, api, main } = ctx;
  const q = new URLSearchParams(location.hash.split('?')[1] || '');
  const subject = h('input', { type: 'search', id: 'f-subject', value: q.get('subject') || '' });
  const form = h('form', { class: 'card filters', role: 'search', onsubmit: (ev) => {
    ev.preventDefault();
    ctx.go(`#/audit${subject.value.trim() ? `?subject=${encodeURIComponent(subject.value.trim())}` : ''}`);
  } }, h('div', { class: 'grow' }, h('label', { for: 'f-subject' }, t('subjectFilter')), subject),
  h('div', { class: 'row' }, h('button', { type: 'submit' }, t('apply'))));
  clear(main, h('h1', {}, t('auditTrailTitle')), form, ctx.loading());
  const p = new URLSearchParams({ limit: '200' });
  if (q.get('subject')) p.set('subject', q.get('subject'));
  const doc = await api.get(`/v1/audit?${p}`);
  const entries = doc.entries || [];
  main.lastChild.replaceWith(entries.length ? h('div', { class: 'table-wrap' }, h('table', {},
    h('thead', {}, h('tr', {}, [t('colAt'), t('colWho'), t('colWhat'), 'subject', t('colWhy')].map((c) => h('th', {}, c)))),
    h('tbody', {}, entries.map((e) => h('tr', {}, h('td', { class: 'nowrap' }, ctx.when(e.at)),
      h('td', {}, e.actor || e.by || ''), h('td', {}, e.action || ''), h('td', {}, h('code', { class: 'hash' }, e.subject || '')),
      h('td', { class: 'small' }, detailText(e.detail))))))) : h('p', { class: 'card muted' }, t('auditEmpty')));
}

function detailText(detail) {
  if (!detail) return '';
  if (typeof detail !== 'object') return String(detail);
  return Object.entries(detail).map(([k, v]) => `${k}: ${v !== null && typeof v === 'object' ? JSON.stringify(v) : v}`).join(' · ');
}
