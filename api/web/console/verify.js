// Verify an invoice by its QR payload, a photo, or its fingerprint: the verdict in one sentence,
// then the proof behind it (what the seal states, who signed it, what the chain says).

import { clear, h, hash, yuan } from '/assets/shared/dom.js';
import { hospitalName, hospitals, verdictReason, word } from './words.js';
import { scrollWrap } from './table.js';

const TONE = { anchored: 'ok', 'valid-offline': 'ok', 'not-anchored': 'warn', voided: 'warn', 'fully-reimbursed': 'warn' };

function facts(pairs) {
  return h('dl', { class: 'facts' }, pairs.filter((p) => p && p[1] !== undefined && p[1] !== null && p[1] !== '')
    .map(([k, v]) => [h('dt', {}, k), h('dd', {}, v)]));
}

// A void's reason as the chain records it: a code, shown by its label, or the hospital's free
// text for a void stamped before reason codes existed.
export function chainVoidReason({ t, i18n }, v) {
  if (!v) return null;
  if (!v.reasonCode) return t('voidFreeText', { text: v.reasonOnChain });
  const key = `void_${v.reasonCode}`;
  return i18n.has(key) ? `${t(key)} (${v.reasonCode})` : v.reasonCode;
}

function stampsTable(ctx, stamps) {
  const { t, i18n } = ctx;
  const head = [t('colPayer'), t('colStamped'), t('colStatus'), t('colBlock'), t('colTx')];
  const rows = stamps.map((st) => h('tr', {},
    h('td', {}, st.payerId), h('td', { class: 'num' }, yuan(st.amountFen, i18n.lang)), h('td', {}, word(ctx, 'stamp_', st.status)),
    h('td', { class: 'num' }, String(st.block)), h('td', {}, hash(st.tx))));
  return scrollWrap(h('table', {}, h('thead', {}, h('tr', {}, head.map((c) => h('th', {}, c)))), h('tbody', {}, rows)));
}

function verdictView(ctx, v, record, names) {
  const { t, i18n } = ctx;
  const money = (fen) => yuan(fen, i18n.lang);
  const off = v.offline || {}; const seal = off.seal; const on = v.online || {};
  const tone = TONE[v.status] || 'bad';
  const head = i18n.has(`verdict_${v.status}`) ? t(`verdict_${v.status}`) : v.status;
  const snap = off.snapshot || {};
  return h('section', { class: `card verdict ${tone}`, dataset: { status: v.status }, 'aria-labelledby': 'verdict-head' },
    h('h2', { id: 'verdict-head' }, h('span', { class: `badge ${tone}` }, v.valid ? '✓' : '!'), ' ', head),
    h('p', { class: 'reason', title: v.reason || '' }, verdictReason(ctx, v, names)),
    h('div', { class: 'cols3' },
      seal ? h('div', {}, h('h3', {}, t('sealTitle')), facts([
        [t('issuer'), h('span', { title: seal.issuer }, hospitalName(names, seal.issuer))], [t('invoiceNo'), `${seal.invoiceCode} / ${seal.invoiceNumber}`], [t('issuedAt'), seal.issueDate],
        [t('total'), money(seal.totalFen)], [t('fingerprint'), hash(seal.fingerprint)]])) : null,
      h('div', {}, h('h3', {}, t('signerTitle')), facts([
        [t('signer'), off.signer ? hash(off.signer) : null], [t('keyAdded'), off.key && off.key.addedAt ? ctx.when(new Date(off.key.addedAt * 1000).toISOString()) : null],
        [t('keyRevoked'), off.key && off.key.revokedAt ? ctx.when(new Date(off.key.revokedAt * 1000).toISOString()) : null],
        [t('rule'), off.rule ? h('span', { title: off.rule }, word(ctx, 'vrule_', off.rule)) : null],
        [t('snapshot'), snap.chainId ? [`${t('chainId', { id: snap.chainId })} · `, hash(snap.contract || ''), ` · ${t('colBlock')} ${snap.blockNumber}`] : null]])),
      v.online ? h('div', {}, h('h3', {}, t('chainTitle')), facts([
        [t('batch'), on.anchor ? hash(on.anchor.batchRoot) : null], [t('anchorBlock'), on.anchor ? String(on.anchor.block) : null],
        [t('anchoredAt'), on.anchor && on.anchor.anchoredAt ? ctx.when(new Date(on.anchor.anchoredAt * 1000).toISOString()) : null],
        [t('voided'), on.voided === undefined ? null : (on.voided ? t('yes') : t('no'))],
        [t('voidReason'), chainVoidReason(ctx, on.void)],
        [t('reserved'), on.reservedFen === undefined ? null : money(on.reservedFen)],
        [t('paid'), on.paidFen === undefined ? null : money(on.paidFen)]])) : null),
    on.stamps && on.stamps.length ? [h('h3', {}, t('stampsTitle')), stampsTable(ctx, on.stamps)] : null,
    record ? [h('h3', {}, t('recordTitle')), facts([[t('state'), word(ctx, 'invState_', record.state)], [t('issuedAt'), ctx.when(record.issuedAt)],
      [t('anchoredTx'), record.transaction ? hash(record.transaction) : null]])] : null);
}

export async function renderVerify(ctx) {
  const { t, api, main } = ctx;
  const result = h('div', { class: 'verify-result', 'aria-live': 'polite' });
  const run = async (form, send) => {
    const buttons = form.querySelectorAll('button');
    for (const b of buttons) b.disabled = true;
    clear(result, h('p', { class: 'muted' }, h('span', { class: 'spinner', 'aria-hidden': 'true' }), ' ', t('checking')));
    try {
      const [[v, record], names] = await Promise.all([send(), hospitals(ctx)]);
      clear(result, verdictView(ctx, v, record, names));
    } catch (err) {
      clear(result, ctx.errorBox(err, { retry: () => run(form, send) }));
    }
    for (const b of buttons) b.disabled = false;
    const head = result.querySelector('h2, [role=alert]');
    if (head) { head.setAttribute('tabindex', '-1'); head.focus(); }
  };

  const payload = h('textarea', { id: 'v-payload', rows: '3', spellcheck: 'false' });
  const byPayload = h('form', { class: 'card', novalidate: true, onsubmit: (ev) => {
    ev.preventDefault();
    if (!payload.value.trim()) { payload.focus(); return; }
    run(byPayload, async () => [(await api.post('/v1/verify', { payload: payload.value.trim() })).data, null]);
  } }, h('h2', {}, t('byPayload')), h('label', { for: 'v-payload' }, t('payloadLabel')), payload,
  h('p', {}, h('button', { type: 'submit' }, t('check'))));

  const photo = h('input', { type: 'file', id: 'v-photo', accept: 'image/png,image/jpeg' });
  const byPhoto = h('form', { class: 'card', novalidate: true, onsubmit: (ev) => {
    ev.preventDefault();
    const f = photo.files && photo.files[0];
    if (!f) { photo.focus(); return; }
    run(byPhoto, async () => [(await api.upload('/v1/verify', f, f.type === 'image/png' ? 'image/png' : 'image/jpeg')).data, null]);
  } }, h('h2', {}, t('byPhoto')), h('label', { for: 'v-photo' }, t('photoLabel')), photo,
  h('p', {}, h('button', { type: 'submit' }, t('check'))));
  photo.addEventListener('change', () => byPhoto.requestSubmit());

  const fp = h('input', { type: 'text', id: 'v-fp', spellcheck: 'false', autocomplete: 'off', placeholder: '0x…' });
  const fpOut = h('div', { 'aria-live': 'polite' });
  const byFp = h('form', { class: 'card', novalidate: true, onsubmit: (ev) => {
    ev.preventDefault();
    clear(fpOut);
    const value = fp.value.trim().toLowerCase();
    if (!/^0x[0-9a-f]{64}$/.test(value)) { fpOut.append(ctx.errorBox(t('fpInvalid'))); fp.focus(); return; }
    // the service's record holds the invoice's signed QR payload: verify that against the chain
    run(byFp, async () => {
      const record = await api.get(`/v1/invoices/${value}`);
      return [(await api.post('/v1/verify', { payload: record.qr })).data, record];
    });
  } }, h('h2', {}, t('byFingerprint')), h('label', { for: 'v-fp' }, t('fpLabel')), fp, fpOut,
  h('p', {}, h('button', { type: 'submit' }, t('check'))));

  clear(main, h('h1', {}, t('verifyTitle')), h('p', { class: 'muted' }, t('verifyIntro')),
    h('div', { class: 'cols3 verify-forms' }, byPayload, byPhoto, byFp), result);
}
