// The monthly report (GET /v1/reports/monthly) for the regulator and hospital accountability: claims, amounts,
// manual claims and claw-backs per hospital, refusals and flags by rule and by item; as CSV or PDF to keep.
// It holds no personal data. Auditors, this payer's office and the admin read it.

import { clear, h } from '/assets/shared/dom.js';
import { table } from './table.js';
import { hospitals, money, ruleName, word } from './words.js';

/** This month in China time (UTC+8) as YYYY-MM. */
export function thisMonth(now = new Date()) {
  return new Date(now.getTime() + 8 * 3600_000).toISOString().slice(0, 7);
}

const count = (ctx, n) => Number(n || 0).toLocaleString(ctx.i18n.lang);

function tiles(ctx, total) {
  const { t } = ctx;
  return h('div', { class: 'amounts-grid report-tiles' }, [
    ['rpClaims', count(ctx, total.claims)], ['rpClaimed', money(ctx, total.claimedFen)], ['rpPaid', money(ctx, total.paidFen)],
    ['rpManual', count(ctx, total.manualClaims)], ['rpInstant', count(ctx, total.instantClaims)],
    ['rpWindow', count(ctx, total.windowClaims)], ['rpClawbacks', count(ctx, total.clawbackClaims)],
    ['rpRefused', money(ctx, total.refusedFen)],
  ].map(([k, v]) => h('div', { dataset: { figure: k } }, h('div', { class: 'muted small' }, t(k)), h('div', { class: 'amt' }, v))));
}

function byHospital(ctx, rows) {
  const { t } = ctx;
  return table([t('issuer'), [t('rpClaims'), 'num'], [t('rpClaimed'), 'num'], [t('rpPaid'), 'num'], [t('rpInstant'), 'num'],
    [t('rpManual'), 'num'], [t('rpWindow'), 'num'], [t('rpClawbacks'), 'num'], [t('rpRefusedLines'), 'num'], [t('rpFlags'), 'num']],
  rows.map((x) => h('tr', { dataset: { hospital: x.hospitalId } }, h('td', { title: x.hospitalId }, x.hospitalName || x.hospitalId),
    h('td', { class: 'num' }, count(ctx, x.claims)), h('td', { class: 'num' }, money(ctx, x.claimedFen)),
    h('td', { class: 'num' }, money(ctx, x.paidFen)), h('td', { class: 'num' }, count(ctx, x.instantClaims)),
    h('td', { class: 'num' }, count(ctx, x.manualClaims)), h('td', { class: 'num' }, count(ctx, x.windowClaims)),
    h('td', { class: 'num' }, count(ctx, x.clawbackClaims)), h('td', { class: 'num' }, count(ctx, x.refusedLines)),
    h('td', { class: 'num' }, count(ctx, x.flags)))), 'compact report-hospitals');
}

function byRule(ctx, rows) {
  const { t } = ctx;
  const name = (r) => (ctx.i18n.lang === 'zh-CN' ? r.nameZh : r.name) || ruleName(ctx, r.rule);
  return table([t('rule'), t('rpKind'), t('ruleset'), [t('rpClaims'), 'num'], [t('colLines'), 'num'], [t('rpRefused'), 'num']],
    rows.map((r) => h('tr', { dataset: { rule: r.rule } }, h('td', {}, name(r)), h('td', {}, word(ctx, 'rpKind_', r.kind)),
      h('td', {}, r.ruleSet || t('rpReviewer')), h('td', { class: 'num' }, count(ctx, r.claims)),
      h('td', { class: 'num' }, count(ctx, r.lines)), h('td', { class: 'num' }, money(ctx, r.refusedFen)))), 'compact report-rules');
}

function byItem(ctx, rows) {
  const { t } = ctx;
  return table([t('colCode'), t('colName'), [t('rpClaims'), 'num'], [t('rpRefusedLines'), 'num'], [t('rpRefused'), 'num'],
    [t('rpFlaggedLines'), 'num']], rows.map((r) => h('tr', {}, h('td', {}, h('code', {}, r.itemCode)), h('td', {}, r.itemName),
    h('td', { class: 'num' }, count(ctx, r.claims)), h('td', { class: 'num' }, count(ctx, r.refusedLines)),
    h('td', { class: 'num' }, money(ctx, r.refusedFen)), h('td', { class: 'num' }, count(ctx, r.flaggedLines)))), 'compact report-items');
}

export async function renderReport(ctx) {
  const { t, api, main } = ctx;
  const q = new URLSearchParams(location.hash.split('?')[1] || '');
  const month = h('input', { type: 'month', id: 'r-month', value: q.get('month') || thisMonth(), max: thisMonth(), required: true });
  const names = await hospitals(ctx);
  const hospital = h('select', { id: 'r-hospital' }, h('option', { value: '' }, t('rpAllHospitals')),
    [...names].sort((a, b) => a[1].localeCompare(b[1], ctx.i18n.lang)).map(([id, name]) =>
      h('option', { value: id, selected: q.get('hospital') === id }, name)));
  const query = () => {
    const p = new URLSearchParams({ month: month.value });
    if (hospital.value) p.set('hospital', hospital.value);
    return p;
  };
  const out = h('div', { 'aria-live': 'polite' });
  const download = (format) => async (ev) => {
    const button = ev.currentTarget;
    clear(out);
    button.disabled = true;
    try {
      const p = query();
      p.set('format', format);
      const name = await ctx.download(`/v1/reports/monthly?${p}`, `claims-report-${month.value}.${format}`);
      ctx.toast(t('rpSaved', { name }));
    } catch (err) {
      out.append(ctx.errorBox(err));
    }
    button.disabled = false;
  };
  const form = h('form', { class: 'card filters', onsubmit: (ev) => { ev.preventDefault(); ctx.go(`#/reports?${query()}`); } },
    h('div', {}, h('label', { for: 'r-month' }, t('rpMonth')), month),
    h('div', { class: 'grow' }, h('label', { for: 'r-hospital' }, t('issuer')), hospital),
    h('div', { class: 'row' }, h('button', { type: 'submit' }, t('rpShow')),
      h('button', { type: 'button', class: 'secondary', id: 'r-csv', onclick: download('csv') }, t('rpCsv')),
      h('button', { type: 'button', class: 'secondary', id: 'r-pdf', onclick: download('pdf') }, t('rpPdf'))));
  clear(main, h('h1', {}, t('reportTitle')), h('p', { class: 'muted' }, t('reportIntro')), form, out, ctx.loading());
  const r = await api.get(`/v1/reports/monthly?${query()}`);
  const total = r.total;
  main.lastChild.replaceWith(h('section', { class: 'report', dataset: { month: r.month } },
    r.complete ? null : h('p', { class: 'alert info' }, t('rpIncomplete')),
    h('h2', {}, t('rpMonthTitle', { month: r.month, who: r.hospital ? (names.get(r.hospital) || r.hospital) : t('rpAllHospitals') })),
    tiles(ctx, total),
    h('h2', {}, t('rpByHospital')), r.hospitals.length ? byHospital(ctx, r.hospitals) : h('p', { class: 'muted' }, t('noData')),
    h('h2', {}, t('rpByRule')), total.byRule.length ? byRule(ctx, total.byRule) : h('p', { class: 'muted' }, t('rpNoRefusals')),
    h('h2', {}, t('rpByItem')), total.byItem.length ? byItem(ctx, total.byItem) : h('p', { class: 'muted' }, t('rpNoRefusals')),
    h('p', { class: 'small muted' }, t('rpNote', { at: ctx.when(r.generatedAt) }))));
}
