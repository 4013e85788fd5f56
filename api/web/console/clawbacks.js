// Claw-backs: what paid claims owe back, by whom and by when (payer's office and auditors), and one claw-back
// with every step and who acted. The payer's office records a recovery or an offset made outside the ledger,
// and writes off what cannot be recovered: proposed by one member, approved by another (maker-checker).

import { clear, h } from '/assets/shared/dom.js';
import { table } from './table.js';
import { actorText, hospitalName, hospitals, money, pseudonym, word } from './words.js';

const STATES = ['requested', 'recovered', 'offset', 'written-off'];
const TONE = { requested: 'warn', recovered: 'ok', offset: 'ok', 'written-off': 'bad' };
const MAX_FEN = 10 ** 12;

const stateBadge = (ctx, st) => h('span', { class: `badge ${TONE[st] || ''}`.trim(), dataset: { cbState: st } }, word(ctx, 'cbState_', st));
const reasonText = (ctx, code) => (ctx.i18n.has(`finding_${code}`) ? ctx.t(`finding_${code}`) : word(ctx, 'cbReason_', code));

/** Who owes: the hospital by name, or the person as this payer's enrolment names them (else by pseudonym). */
function debtorText(ctx, cb, names) {
  if (cb.debtor.kind === 'hospital') return `${ctx.t('debtor_hospital')} · ${hospitalName(names, cb.issuer, cb.hospitalName)}`;
  const p = cb.insured;
  return `${ctx.t('debtor_person')} · ${p && p.enrolled && p.name ? p.name : pseudonym(cb.person)}`;
}

/** Yuan typed by a person (``1,234.5``) as integer fen, or null if it is not a positive amount with at most 2 decimals. */
export function fenOf(text) {
  const s = String(text || '').trim().replace(/[,，\s]/g, '').replace(/^[¥￥]/, '');
  if (!/^\d+(\.\d{1,2})?$/.test(s)) return null;
  const [whole, cents = ''] = s.split('.');
  const fen = Number(whole) * 100 + Number(cents.padEnd(2, '0'));
  return fen >= 1 && fen <= MAX_FEN ? fen : null;
}

export async function renderClawbacks(ctx, id) {
  if (id) return renderClawback(ctx, id);
  const { t, api, main } = ctx;
  const q = new URLSearchParams(location.hash.split('?')[1] || '');
  const go = () => {
    const p = new URLSearchParams();
    if (state.value) p.set('state', state.value);
    if (debtor.value) p.set('debtor', debtor.value);
    ctx.go(`#/clawbacks${p.toString() ? `?${p}` : ''}`);
  };
  const state = h('select', { id: 'f-cb-state', onchange: go }, h('option', { value: '' }, t('fAny')),
    STATES.map((s) => h('option', { value: s, selected: q.get('state') === s }, word(ctx, 'cbState_', s))));
  const debtor = h('select', { id: 'f-cb-debtor', onchange: go }, h('option', { value: '' }, t('fAny')),
    ['hospital', 'person'].map((d) => h('option', { value: d, selected: q.get('debtor') === d }, t(`debtor_${d}`))));
  clear(main, h('h1', {}, t('clawbacksTitle')), h('p', { class: 'muted' }, t('clawbacksIntro')),
    h('div', { class: 'card filters' }, h('div', {}, h('label', { for: 'f-cb-state' }, t('fState')), state),
      h('div', {}, h('label', { for: 'f-cb-debtor' }, t('fDebtor')), debtor)), ctx.loading());
  const p = new URLSearchParams({ limit: '200' });
  for (const k of ['state', 'debtor']) if (q.get(k)) p.set(k, q.get(k));
  const [doc, names] = await Promise.all([api.get(`/v1/clawbacks?${p}`), hospitals(ctx)]);
  const items = doc.clawbacks || [];
  const owed = items.filter((cb) => cb.state === 'requested').reduce((a, cb) => a + cb.outstandingFen, 0);
  const rows = items.map((cb) => h('tr', { class: cb.overdue ? 'overdue' : null, dataset: { clawback: cb.id } },
    h('td', {}, h('a', { href: `#/clawbacks/${cb.id}`, class: 'nowrap' }, cb.id.slice(4, 12))),
    h('td', {}, `${hospitalName(names, cb.issuer, cb.hospitalName)} · ${cb.invoiceNumber}`),
    h('td', {}, debtorText(ctx, cb, names)),
    h('td', {}, reasonText(ctx, cb.reason.code)),
    h('td', { class: 'num' }, money(ctx, cb.amountDueFen)),
    h('td', { class: 'num' }, money(ctx, cb.outstandingFen)),
    h('td', {}, stateBadge(ctx, cb.state)),
    h('td', { class: 'nowrap' }, ctx.day(cb.dueAt), cb.overdue ? [' ', h('span', { class: 'badge bad' }, t('overdue'))] : null)));
  main.lastChild.replaceWith(h('section', {},
    h('p', { class: 'count' }, t('clawbackCount', { n: items.length, owed: money(ctx, owed) })),
    items.length ? table([t('colClawback'), t('colInvoice'), t('colDebtor'), t('colReason'), [t('cbDue'), 'num'],
      [t('colOutstanding'), 'num'], t('colState'), t('colDueBy')], rows, 'clawbacks')
      : h('p', { class: 'card muted' }, t('clawbacksEmpty'))));
  return undefined;
}

function settleForm(ctx, cb, verb, reload) {
  const { t, api } = ctx;
  const ids = { amount: `cb-${verb}-amount`, reference: `cb-${verb}-reference`, note: `cb-${verb}-note` };
  const amount = h('input', { type: 'text', id: ids.amount, inputmode: 'decimal', autocomplete: 'off', placeholder: '0.00' });
  const reference = h('input', { type: 'text', id: ids.reference, maxlength: '64', autocomplete: 'off' });
  const note = h('input', { type: 'text', id: ids.note, maxlength: '500' });
  const out = h('div', { 'aria-live': 'polite' });
  const button = h('button', { type: 'submit' }, t(`cbDo_${verb}`));
  const form = h('form', { class: 'settle', dataset: { verb }, novalidate: true, onsubmit: async (ev) => {
    ev.preventDefault();
    clear(out);
    const fen = fenOf(amount.value);
    if (fen === null) { out.append(ctx.errorBox(t('cbAmountInvalid'))); amount.focus(); return; }
    if (fen > cb.outstandingFen - cb.pendingOffsetFen) {
      out.append(ctx.errorBox(t('cbAmountAbove', { left: money(ctx, cb.outstandingFen - cb.pendingOffsetFen) }))); amount.focus(); return;
    }
    if (!reference.value.trim()) { out.append(ctx.errorBox(t('cbReferenceMissing'))); reference.focus(); return; }
    button.disabled = true;
    try {
      const { data } = await api.post(`/v1/clawbacks/${cb.id}/${verb}`, { amountFen: fen, reference: reference.value.trim(), note: note.value.trim() });
      ctx.toast(t(data.replayed ? 'cbReplayed' : `cbDone_${verb}`, { amount: money(ctx, fen) }));
      await reload();
    } catch (err) {
      button.disabled = false;
      out.append(ctx.errorBox(err));
    }
  } }, h('p', { class: 'hint' }, t(`cbHint_${verb}`)),
  h('label', { for: ids.amount }, t('cbAmount')), amount, h('label', { for: ids.reference }, t('cbReference')), reference,
  h('label', { for: ids.note }, t('cbNote')), note, out, h('p', {}, button));
  return h('details', { class: 'card settle-box', id: `cb-${verb}` }, h('summary', {}, t(`cbTitle_${verb}`)), form);
}

/** Writing off what is outstanding: one member proposes, another approves or declines (not the proposer). */
function writeOffForm(ctx, cb, reload) {
  const { t, api } = ctx;
  const me = ctx.state.me;
  const mine = cb.writeOff && String(cb.writeOff.proposedBy).endsWith(`:${me.keyId}`);
  const reason = h('textarea', { id: 'cb-writeoff-reason', rows: '2', maxlength: '500' });
  const out = h('div', { 'aria-live': 'polite' });
  const act = async (path, done, button) => {
    clear(out);
    if (!reason.value.trim()) { out.append(ctx.errorBox(t('cbReasonMissing'))); reason.focus(); return; }
    button.disabled = true;
    try {
      await api.post(`/v1/clawbacks/${cb.id}/${path}`, { reason: reason.value.trim() });
      ctx.toast(t(done));
      await reload();
    } catch (err) {
      button.disabled = false;
      out.append(ctx.errorBox(err));
    }
  };
  const box = h('details', { class: 'card settle-box write-off', id: 'cb-write-off', open: !!cb.writeOff },
    h('summary', {}, t('cbTitle_writeOff')));
  if (!cb.writeOff) {
    const propose = h('button', { type: 'button', id: 'cb-propose', class: 'danger' }, t('cbDo_propose'));
    propose.addEventListener('click', () => act('write-off', 'cbDone_propose', propose));
    box.append(h('p', { class: 'hint' }, t('cbHint_writeOff', { left: money(ctx, cb.outstandingFen) })),
      h('label', { for: reason.id }, t('cbWhy')), reason, out, h('p', {}, propose));
  } else if (mine) {
    box.append(h('p', { class: 'alert info' }, t('cbWaitingForSecond', { reason: cb.writeOff.reason })));
  } else {
    const approve = h('button', { type: 'button', id: 'cb-approve', class: 'danger' }, t('cbDo_approve'));
    const decline = h('button', { type: 'button', id: 'cb-decline', class: 'secondary' }, t('cbDo_decline'));
    approve.addEventListener('click', () => act('write-off/approve', 'cbDone_approve', approve));
    decline.addEventListener('click', () => act('write-off/decline', 'cbDone_decline', decline));
    box.append(h('p', { class: 'alert warn' }, t('cbProposed', {
      who: actorText(ctx, cb.writeOff.proposedBy, cb.writeOff.proposedByLabel), reason: cb.writeOff.reason,
      left: money(ctx, cb.outstandingFen) })),
    h('label', { for: reason.id }, t('cbWhy')), reason, out, h('div', { class: 'row' }, approve, decline));
  }
  return box;
}

function facts(pairs) {
  return h('dl', { class: 'facts' }, pairs.filter((p) => p && p[1] !== undefined && p[1] !== null && p[1] !== '')
    .map(([k, v]) => [h('dt', {}, k), h('dd', {}, v)]));
}

async function renderClawback(ctx, id) {
  const { t, api, main } = ctx;
  clear(main, ctx.loading());
  const names = await hospitals(ctx);
  const load = async () => {
    const cb = await api.get(`/v1/clawbacks/${encodeURIComponent(id)}`);
    const office = ctx.state.me.role === 'payer' && cb.state === 'requested';
    const actions = table([t('colAt'), t('colWhat'), [t('colStamped'), 'num'], t('colWho'), t('cbReference'), t('cbNote')],
      cb.actions.map((a) => h('tr', { dataset: { event: a.action } }, h('td', { class: 'nowrap' }, ctx.when(a.at)),
        h('td', {}, word(ctx, 'cbEvent_', a.action)), h('td', { class: 'num' }, money(ctx, a.amountFen)),
        h('td', { title: a.actor }, actorText(ctx, a.actor, a.actorLabel, names)), h('td', {}, a.reference || (a.payout ? t('cbPayout') : '')),
        h('td', { class: 'small' }, a.note || ''))), 'compact cb-actions');
    clear(main, h('p', {}, h('a', { href: '#/clawbacks' }, t('backToClawbacks'))),
      h('div', { class: 'spread' }, h('h1', {}, t('clawbackTitle', { id: cb.id.slice(4, 12) })), stateBadge(ctx, cb.state)),
      h('div', { class: office ? 'cols' : '' },
        h('section', { class: 'card' }, facts([
          [t('colClaim'), h('a', { href: `#/claims/${encodeURIComponent(cb.claim)}` }, cb.claim.slice(4, 16))],
          [t('colInvoice'), `${hospitalName(names, cb.issuer, cb.hospitalName)} · ${cb.invoiceCode} / ${cb.invoiceNumber}`],
          [t('colDebtor'), debtorText(ctx, cb, names)], [t('colReason'), reasonText(ctx, cb.reason.code)],
          [t('cbNoteRecorded'), cb.note], [t('cbRequested'), `${ctx.when(cb.requestedAt)} · ${actorText(ctx, cb.requestedBy, cb.requestedByLabel, names)}`],
          [t('colDueBy'), [ctx.day(cb.dueAt), cb.overdue ? [' ', h('span', { class: 'badge bad' }, t('overdue'))] : null]]]),
        h('div', { class: 'amounts-grid' }, [['cbDue', cb.amountDueFen], ['cbRecovered', cb.recoveredFen], ['cbOffset', cb.offsetFen],
          ['cbWrittenOff', cb.writtenOffFen], ['cbPending', cb.pendingOffsetFen], ['colOutstanding', cb.outstandingFen]]
          .map(([k, v]) => h('div', { dataset: { figure: k } }, h('div', { class: 'muted small' }, t(k)), h('div', { class: 'amt' }, money(ctx, v)))))),
        office ? h('div', { class: 'stack' }, settleForm(ctx, cb, 'recover', load), settleForm(ctx, cb, 'offset', load), writeOffForm(ctx, cb, load)) : null),
      h('section', { class: 'card' }, h('h2', {}, t('cbStepsTitle')), actions));
  };
  await load();
}
