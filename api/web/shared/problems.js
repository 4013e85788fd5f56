// A failure in words the reader reads, in their language: the service's problem+json (its `type`,
// and for invalid input each problem's `rule`) mapped to a sentence of the face's strings.js (the
// citizens' app and the staff console each say it in their own table). The service's own text
// (English, for developers and for a clerk who needs the specifics) is kept apart, as details to
// open; it is never the message. Unknown problems get a sentence by their HTTP status.

import { ApiError } from '/assets/shared/api.js';

// a rule of an invalid-input problem -> the string that says it (photos sent to /v1/verify)
const RULES = {
  'qr-not-found': 'p_qrNotFound',
  'qr-several': 'p_qrSeveral',
  image: 'p_notAnImage',
};

// a problem type (the last part of its URL) -> the string that says it; a face whose table has no such
// string (the citizens' app has no word for a reviewer's separation of duties) falls back to the status
const KINDS = {
  'image-too-large': 'p_photoTooLarge',
  'payload-too-large': 'p_photoTooLarge',
  'unsupported-media-type': 'p_notAnImage',
  'rate-limited': 'p_rateLimited',
  unauthenticated: 'sessionEnded',
  forbidden: 'p_forbidden',
  'not-found': 'p_notFound',
  conflict: 'p_conflict',
  'invalid-input': 'p_invalid',
  'malformed-body': 'p_invalid',
  'invalid-invoice': 'p_invalidInvoice',
  'separation-of-duties': 'p_separation',
  'exceeds-outstanding': 'p_exceedsOutstanding',
  'clawback-refused': 'p_clawbackRefused',
  'already-anchored': 'p_alreadyAnchored',
  'no-rules-in-force': 'p_noRules',
  'contract-reverted': 'p_chainRefused',
  unavailable: 'p_unavailable',
  'store-unavailable': 'p_unavailable',
  'chain-unavailable': 'p_unavailable',
  'chain-error': 'p_unavailable',
  'signer-unavailable': 'p_unavailable',
  'keys-unavailable': 'p_unavailable',
  'claims-not-configured': 'p_unavailable',
  'internal-error': 'p_internal',
};

/** Worth sending again as it was: no answer, the service busy or failing, too many requests. */
export function isTransient(err) {
  return err instanceof ApiError && (err.status === 0 || err.status === 429 || err.status >= 500);
}

/**
 * `{ text, details }` for any failure: `text` in the reader's language (`i18n`: the face's table), said
 * once; `details` the service's own sentences (deduplicated, long hashes shortened), or '' when they add
 * nothing — with `always`, whenever there are any (a clerk acts on the specifics: which claim, whose turn).
 */
export function describe(i18n, err, { always = false } = {}) {
  const t = i18n.t;
  if (!(err instanceof ApiError)) {
    return { text: typeof err === 'string' ? err : t('p_internal'), details: err && err.message ? String(err.message) : '' };
  }
  if (err.status === 0) return { text: t('networkError'), details: '' };
  const said = (key) => (key && i18n.has(key) ? key : null);
  const rule = (err.problem.errors || []).map((e) => said(RULES[e.rule])).find(Boolean);
  const key = rule || said(KINDS[err.kind]) || (err.status >= 500 ? 'p_unavailable' : 'p_invalid');
  // a sentence that says all there is needs no details; the generic ones keep the service's words
  const generic = !rule && ['p_conflict', 'p_invalid', 'p_forbidden', 'p_notFound'].includes(key);
  return { text: t(key), details: generic || always ? err.messages().join(' · ') : '' };
}
