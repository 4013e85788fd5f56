// The dashboard, drawn from GET /v1/stats/claims as inline SVG, and the service's audit trail.

import { clear, h, short, yuan } from '/assets/shared/dom.js';
import { table } from './table.js';
import { PALETTE, bars, hbars, histogram } from './charts.js';
import { actionText, actorText, detailText, hospitals, refusalText, ruleName } from './words.js';

// claim states grouped into the outcomes the chart shows
const OUTCOMES = { paid: ['paid', 'approved', 'reserved'], 'in-review': ['in-review', 'appealed', 'submitted'],
  rejected: ['rejected'], refused: ['refused', 'clawback'], 'nothing-payable': ['nothing-payable'] };
const BUCKETS = [[/instant/i, 'bucket_instant'], [/^\s*≤\s*1\b/, 'bucket_1'], [/^\s*≤\s*5\b/, 'bucket_5'], [/^\s*>/, 'bucket_late']];

const num = (...xs) => { for (const x of xs) if (typeof x === 'number') return x; return 0; };

/** GET /v1/stats/claims in the shape the charts draw. */
export function normalise(doc) {
  const days = (doc.perDay || []).map((d) => {
    const by = d.byState || {};
    const values = {};
    for (const [o, states] of Object.entries(OUTCOMES)) values[o] = states.reduce((a, st) => a + num(by[st]), 0);
    return { label: String(d.day || '').slice(5), values, requested: num(d.requestedFen), paid: num(d.paidFen) };
  });
  const rules = (doc.topRules || []).filter((r) => num(r.selfPaidFen) > 0)
    .map((r) => ({ label: r.rule, value: num(r.selfPaidFen), lines: num(r.lines) }));
  const payout = doc.payoutTimes || {};
  const buckets = (payout.buckets || []).map((b) => ({ label: String(b.bucket), value: num(b.claims) }));
  const late = buckets.findIndex((b) => /^\s*>/.test(b.label));
  const total = buckets.reduce((a, b) => a + b.value, 0);
  const inTime = buckets.slice(0, late < 0 ? buckets.length : late).reduce((a, b) => a + b.value, 0);
  const blocked = (doc.refusals || []).map((r) => ({ reason: r.reason, value: num(r.claims) }));
  const b = doc.blocked || {};
  if (num(b.voidsOnChain)) blocked.push({ key: 'blocked_voids', value: num(b.voidsOnChain) });
  if (b.clawbacks && num(b.clawbacks.claims)) blocked.push({ key: 'blocked_clawbacks', value: num(b.clawbacks.claims) });
  if (num(b.duplicateClaims)) blocked.push({ key: 'blocked_duplicates', value: num(b.duplicateClaims) });
  if (num(b.claimsOnVoidedInvoices)) blocked.push({ key: 'blocked_voided_claims', value: num(b.claimsOnVoidedInvoices) });
  if (num(b.forgedCodes)) blocked.push({ key: 'blocked_forged', value: num(b.forgedCodes) });
  const lag = doc.anchoringLag || {};
  return { days, rules, buckets, late, within: total ? inTime / total : null, target: num(payout.targetWorkingDays) || 5, blocked,
    lag: num(lag.batches) ? { batches: num(lag.batches), p50: num(lag.p50Seconds), p99: num(lag.p99Seconds) } : null };
}

function bucketLabel(t, label) {
  const hit = BUCKETS.find(([re]) => re.test(label));
  return hit ? t(hit[1]) : label;
}

export async function renderDashboard(ctx) {
  const { t, api, main } = ctx;
  clear(main, h('h1', {}, t('dashTitle')), ctx.loading());
  const s = normalise(await api.get('/v1/stats/claims'));
  s.rules = s.rules.map((r) => ({ ...r, label: ruleName(ctx, r.label) })).sort((a, b) => b.value - a.value);
  const draw = () => drawDashboard(ctx, s);
  draw();
  // the charts are drawn for the width they get: drawn again when it changes much (a phone turned, a window resized)
  let drawnFor = main.clientWidth;
  let timer = null;
  const resized = () => {
    clearTimeout(timer);
    timer = setTimeout(() => {
      if (!main.isConnected || Math.abs(main.clientWidth - drawnFor) < 60) return;
      drawnFor = main.clientWidth;
      draw();
    }, 150);
  };
  window.addEventListener('resize', resized);
  ctx.onStop(() => { window.removeEventListener('resize', resized); clearTimeout(timer); });
}

function drawDashboard(ctx, s) {
  const { t, main, i18n } = ctx;
  const money = (fen) => yuan(fen, i18n.lang);
  const compact = (fen) => `¥${Math.round(fen / 100).toLocaleString(i18n.lang)}`;
  const colors = [PALETTE[0], PALETTE[2], PALETTE[1], PALETTE[5], PALETTE[4]];
  const outcomes = Object.keys(OUTCOMES).map((o, i) => ({ key: o, label: t(`outcome_${o}`), color: colors[i] }));
  // charts drawn at the width they get, so their text stays legible on a phone
  const width = Math.round(Math.min(640, Math.max(280, (main.clientWidth - 60) / (main.clientWidth > 900 ? 2 : 1))));
  // refusals by what they mean (the server's sentences differ by claim: one bar per kind)
  const byLabel = new Map();
  for (const x of s.blocked) {
    const label = x.key ? t(x.key) : refusalText(ctx, x.reason);
    byLabel.set(label, (byLabel.get(label) || 0) + x.value);
  }
  const blockedItems = [...byLabel].map(([label, value]) => ({ label, value })).sort((a, b) => b.value - a.value);
  clear(main, h('h1', {}, t('dashTitle')), h('p', { class: 'muted' }, t('dashIntro')),
    h('div', { class: 'charts' },
      bars({ title: t('chartPerDay'), categories: s.days, series: outcomes, emptyText: t('noData'), width }),
      bars({ title: t('chartAmounts'), stacked: false, fmt: compact, emptyText: t('noData'), width,
        categories: s.days.map((d) => ({ label: d.label, values: { requested: d.requested, paid: d.paid } })),
        series: [{ key: 'requested', label: t('requestedSeries'), color: '#9aa4af' }, { key: 'paid', label: t('paidSeries'), color: PALETTE[0] }] }),
      hbars({ title: t('chartRules'), items: s.rules.slice(0, 8), fmt: money, emptyText: t('noData'), width }),
      histogram({ title: t('chartPayout'), buckets: s.buckets.map((b) => ({ ...b, label: bucketLabel(t, b.label) })),
        lateFrom: s.late, targetLabel: t('target'), width,
        note: s.within === null ? null : t('withinTarget', { pct: `${Math.round(s.within * 100)}%` }), emptyText: t('noData') }),
      hbars({ title: t('chartBlocked'), items: blockedItems, color: PALETTE[1], emptyText: t('noneBlocked'), width })),
    h('p', { class: 'card' }, s.lag ? t('anchoringLag', { p50: s.lag.p50.toFixed(1), p99: s.lag.p99.toFixed(1), n: s.lag.batches })
      : t('anchoringLagNone')),
    h('p', { class: 'small muted' }, t('blockedNote')));
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
  const [doc, names] = await Promise.all([api.get(`/v1/audit?${p}`), hospitals(ctx)]);
  const entries = doc.entries || [];
  const rows = entries.map((e) => h('tr', { dataset: { action: e.action } }, h('td', { class: 'nowrap' }, ctx.when(e.at)),
    h('td', { title: e.actor || '' }, actorText(ctx, e.actor, e.actorLabel, names)), h('td', {}, actionText(ctx, e.action)),
    h('td', {}, names.has(e.subject) ? names.get(e.subject) : h('code', { title: e.subject || '' }, short(e.subject || '', 8))),
    h('td', { class: 'small' }, detailText(ctx, e.detail, names))));
  main.lastChild.replaceWith(entries.length
    ? table([t('colAt'), t('colWho'), t('colWhat'), t('colSubject'), t('colWhy')], rows, 'audit compact')
    : h('p', { class: 'card muted' }, t('auditEmpty')));
}
