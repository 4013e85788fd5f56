// The console's vocabulary: what the API says in codes (states, rules, steps, audit actions and their
// details, actors, refusals, verification outcomes) in the chosen language, and money in yuan.
// Every code has a string in strings.js; a code this console does not know yet is shown as it is.

import { short, yuan } from '/assets/shared/dom.js';

const has = (ctx, key) => ctx.i18n.has(key);
/** `prefix + code` translated, or the code itself when the table has no such key. */
export const word = (ctx, prefix, code) => (code && has(ctx, prefix + code) ? ctx.t(prefix + code) : (code ?? ''));
export const money = (ctx, fen) => yuan(fen, ctx.i18n.lang);
const zh = (ctx) => ctx.i18n.lang === 'zh-CN';

// ---------------------------------------------------------------------- hospitals by name

const registries = new WeakMap();
/** The registry's hospitals (id -> name), read once per session; empty if the role may not read it. */
export function hospitals(ctx) {
  if (!registries.has(ctx.api)) {
    registries.set(ctx.api, ctx.api.get('/v1/hospitals')
      .then((doc) => new Map((doc.hospitals || []).map((x) => [x.institutionId, x.name])))
      .catch(() => { registries.delete(ctx.api); return new Map(); }));   // codes this time; asked again next time
  }
  return registries.get(ctx.api);
}
/** A hospital by its name (the code in the title), the name given with the record if there is one. */
export function hospitalName(names, id, given) {
  return given || (names && names.get(id)) || id || '';
}

// ---------------------------------------------------------------------- the adjudication's rules

/** A rule id of a decision (`class-c-self-pay`, `negative-list:<entry>`, `class-b-first-self-pay-10pct`,
 * `review:<reason>`, `flag:<rule>`) in words (ledger/claims/rule_names.py says the same). */
export function ruleName(ctx, rule) {
  if (!rule) return '';
  if (rule.startsWith('flag:')) return ctx.t('flagged', { rule: ruleName(ctx, rule.slice(5)) });
  if (rule.startsWith('review:')) return ctx.t('reviewerRule', { reason: word(ctx, 'lineReason_', rule.slice(7)) });
  const [kind, ...rest] = rule.split(':');
  const entry = rest.join(':');
  const pct = /^class-b-first-self-pay-(\d+)pct$/.exec(kind);
  const base = pct ? 'class-b-first-self-pay' : kind;
  if (!has(ctx, `rule_${base}`)) return rule;
  const name = ctx.t(`rule_${base}`);
  const extra = pct ? `${pct[1]}%` : entry;
  return extra ? `${name}${zh(ctx) ? '（' : ' ('}${extra}${zh(ctx) ? '）' : ')'}` : name;
}

/** An invoice-level step of a decision, in words from the decision's figures (not the server's English). */
export function stepText(ctx, step, decision, steps) {
  const { t } = ctx;
  const m = (fen) => money(ctx, fen);
  const at = (rule) => (steps || []).find((s) => s.rule === rule);
  switch (step.rule) {
    case 'deductible': {
      const used = decision.deductibleUsedFen || 0;
      return t('stepD_deductible', { base: m(step.amountFen + used), used: m(used) });
    }
    case 'ratio': {
      const above = at('deductible');
      return t('stepD_ratio', { above: m(above ? above.amountFen : 0), pct: `${(decision.ratioBp || 0) / 100}%` });
    }
    case 'annual-cap': return t('stepD_annual-cap', { left: m(decision.capRemainingFen || 0) });
    case 'left-by-earlier-payers':
      return t('stepD_left-by-earlier-payers', { eligible: m(decision.eligibleFen || 0),
        taken: m(Math.max(0, (decision.eligibleFen || 0) - step.amountFen)) });
    case 'payers-in-order': return t('stepD_payers-in-order', { eligible: m(decision.eligibleFen || 0) });
    default: return has(ctx, `stepD_${step.rule}`) ? t(`stepD_${step.rule}`) : (step.detail || '');
  }
}

// ---------------------------------------------------------------------- who acted

/** An actor of the audit trail (`payer:330600-ybj:3f9a…`, `system:stamper`, `citizen:…`) in words: the
 * label the office gave the credential, never its key id. */
export function actorText(ctx, actor, label, names) {
  if (!actor) return '';
  const [role, subject] = actor.split(':');
  if (role === 'system') {
    const which = subject && subject.startsWith('migration') ? 'migration' : subject;
    return has(ctx, `actor_system_${which}`) ? ctx.t(`actor_system_${which}`) : ctx.t('actor_system');
  }
  if (role === 'mirror') return ctx.t('actor_mirror');
  if (role === 'citizen') return ctx.t('actor_citizen');
  if (role === 'admin' && subject === 'system') return ctx.t('actor_cli');
  const who = has(ctx, `role_${role}`) ? ctx.t(`role_${role}`) : role;
  if (label) return `${who} · ${label}`;
  if (role === 'hospital' || role === 'clerk') return `${who} · ${hospitalName(names, subject)}`;
  return subject ? `${who} · ${subject}` : who;
}

// ---------------------------------------------------------------------- the audit trail

const STATE_VALUES = new Set(['state', 'from', 'to', 'recorded', 'onChain', 'resend']);
/** A state-like code in words: a claim's state, a stamp's status, a rule set's or a claw-back's state. */
const stateWord = (ctx, s) => {
  for (const prefix of ['state_', 'stamp_', 'rsState_', 'cbState_', 'stampOp_']) if (has(ctx, prefix + s)) return ctx.t(prefix + s);
  return s;
};

/** An audit action (`claim.review.approve`, `clawback.recovered`, `claim.paid`, …) in words. */
export function actionText(ctx, action) {
  if (!action) return '';
  if (has(ctx, `act_${action}`)) return ctx.t(`act_${action}`);
  const claim = /^claim\.([a-z-]+)$/.exec(action);
  if (claim && has(ctx, `state_${claim[1]}`)) return ctx.t('act_claimState', { state: ctx.t(`state_${claim[1]}`) });
  const rules = /^rules\.([a-z-]+)$/.exec(action);
  if (rules && has(ctx, `rsState_${rules[1]}`)) return ctx.t('act_rulesState', { state: ctx.t(`rsState_${rules[1]}`) });
  return action;
}

/** One value of an audit entry's detail, in words. */
function detailValue(ctx, key, v, names) {
  if (v === null || v === undefined) return '';
  if (typeof v === 'number' && /Fen$/.test(key)) return money(ctx, v);
  if (typeof v === 'boolean') return ctx.t(v ? 'yes' : 'no');
  if (Array.isArray(v)) {
    if (key === 'flags') return v.map((f) => ruleName(ctx, typeof f === 'string' ? f : f.rule)).join(ctx.t('listSep'));
    return v.map((x) => detailValue(ctx, key, x, names)).join(ctx.t('listSep'));
  }
  if (typeof v === 'object') return detailText(ctx, v, names);
  const s = String(v);
  if (STATE_VALUES.has(key)) return stateWord(ctx, s);
  if (key === 'stage') return word(ctx, 'stage_', s);
  if (key === 'debtor') return word(ctx, 'debtor_', s);
  if (key === 'code') return has(ctx, `finding_${s}`) ? ctx.t(`finding_${s}`) : word(ctx, 'cbReason_', s);
  if (key === 'reasonCode') return word(ctx, 'void_', s);
  if (key === 'outcome') return word(ctx, 'auditOutcome_', s);
  if (key === 'relation') return word(ctx, 'relation_', s);
  if (key === 'role') return word(ctx, 'role_', s);
  if (key === 'language') return word(ctx, 'lang_', s);
  if (key === 'refusal') return refusalText(ctx, s);
  if (key === 'blocked') return word(ctx, 'blockedWhy_', s);
  if (key === 'reason' && (has(ctx, `finding_${s}`) || has(ctx, `cbReason_${s}`))) {
    return has(ctx, `finding_${s}`) ? ctx.t(`finding_${s}`) : ctx.t(`cbReason_${s}`);
  }
  if (key === 'reason' && s === 'InvoiceVoided') return ctx.t('refusal_voided');
  if (key === 'reason' && s === 'void accepted') return ctx.t('voidAccepted');
  if (key === 'issuer' || key === 'hospital' || key === 'debtorId') return hospitalName(names, s).replace(/^[0-9a-f]{64}$/, (x) => pseudonym(x));
  if (key === 'dueWorkingDays') return ctx.t('workingDays', { n: s });
  return s.replace(/(0x)?([0-9a-f]{6})[0-9a-f]{28,}([0-9a-f]{6})/gi, '$1$2…$3');
}

/** An audit entry's detail as one line of text in the chosen language (amounts in yuan, codes in words). */
export function detailText(ctx, detail, names) {
  if (!detail) return '';
  if (typeof detail !== 'object') return String(detail);
  // a claim refused before filing: its reason code in words; the server's sentence (English, with the
  // other claim's state) only for an English reader
  if (typeof detail.message === 'string' && typeof detail.reason === 'string' && Array.isArray(detail.fingerprints)) {
    const { reason, message, ...rest } = detail;
    detail = { blocked: reason, ...(zh(ctx) ? {} : { message }), ...rest };
  }
  return Object.entries(detail).filter(([, v]) => v !== null && v !== '' && !(Array.isArray(v) && !v.length))
    .map(([k, v]) => `${word(ctx, 'dk_', k)}${ctx.t('colon')}${detailValue(ctx, k, v, names)}`).join(' · ');
}

// ---------------------------------------------------------------------- why a claim was not paid

/** A claim's refusal (the server's words) as one of the reasons the console knows. */
export function refusalText(ctx, refusal) {
  if (!refusal) return '';
  const r = String(refusal);
  if (r.startsWith('the hospital voided the invoice')) return ctx.t('refusal_voided');
  if (r.startsWith('the invoice is reimbursed in full')) return ctx.t('refusal_full');
  if (r.startsWith('the patient paid nothing')) return ctx.t('refusal_nothingPaid');
  if (r.startsWith('payout refused')) return ctx.t('refusal_payout');
  if (r.startsWith('paid, but the chain lost')) return ctx.t('refusal_chainLost');
  if (/not on chain yet|not anchored/i.test(r)) return ctx.t('refusal_notAnchored');
  return ctx.t('refusal_chain');
}

// ---------------------------------------------------------------------- verification

/** Why a verification came out as it did, in words from the verdict's facts (the server's sentence, in English
 * and with fen, is kept as the title). */
export function verdictReason(ctx, v, names) {
  const { t } = ctx;
  const off = v.offline || {}; const seal = off.seal || {}; const on = v.online || {};
  const issuer = hospitalName(names, seal.issuer);
  const used = (on.paidFen || 0) + (on.reservedFen || 0);
  switch (v.status) {
    case 'anchored': return t('vr_anchored', { hospital: hospitalName(names, (on.anchor || {}).issuer || seal.issuer),
      block: (on.anchor || {}).block, used: money(ctx, used), total: money(ctx, seal.totalFen || 0) });
    case 'fully-reimbursed': return t('vr_fully', { used: money(ctx, used), total: money(ctx, seal.totalFen || 0) });
    case 'voided': return t('vr_voided', { paid: money(ctx, on.paidFen || 0), reserved: money(ctx, on.reservedFen || 0) });
    case 'not-anchored': return t('vr_notAnchored');
    case 'proof-mismatch': return t('vr_proofMismatch');
    case 'proof-invalid': return t('vr_proofInvalid');
    case 'unknown-issuer': return t('vr_unknownIssuer', { issuer: seal.issuer || '' });
    case 'revoked-issuer': return t('vr_revoked', { issuer });
    case 'valid-offline': return t('vr_validOffline', { issuer });
    case 'tampered-or-forged': return has(ctx, `vrule_${off.rule}`) ? t(`vrule_${off.rule}`) : t('vr_forged');
    case 'malformed': return t('vr_malformed', { rule: has(ctx, `vrule_${off.rule}`) ? t(`vrule_${off.rule}`) : t('vrule_other') });
    default: return v.reason || '';
  }
}

/** A pseudonym, shortened (a person known only by it). */
export const pseudonym = (hex) => short(hex || '', 4);
