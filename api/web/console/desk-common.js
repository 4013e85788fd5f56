// What the hospital desk's screens share: the invoice's state badge, the anchoring lag in words, facts lists,
// and files the service gives only with the staff token (print view, PDF, proof), fetched and saved here.

import { ApiError } from '/assets/shared/api.js';
import { h } from '/assets/shared/dom.js';
import { describe } from '/assets/shared/problems.js';

// console.js keeps the staff token in this tab's session storage under this name
const TOKEN = 'ebill.staff.token';
const TONE = { stored: 'warn', anchored: 'ok', voided: 'bad' };

/** The invoice's state as a badge; a void requested but not yet on the chain says so. */
export function stateBadge({ t }, inv) {
  if (inv.state !== 'voided' && inv.voidState === 'pending') {
    return h('span', { class: 'badge warn', dataset: { state: 'void-pending' } }, t('desk_voidPending'));
  }
  if (inv.state !== 'voided' && inv.voidState === 'failed') {
    return h('span', { class: 'badge bad', dataset: { state: 'void-failed' } }, t('desk_voidFailed'));
  }
  return h('span', { class: `badge ${TONE[inv.state] || ''}`, dataset: { state: inv.state } }, t(`desk_state_${inv.state}`));
}

/** A duration in seconds as "< 0.1 s", "1.4 s", "3 min", "2 h" in the user's language. */
export function duration({ t, i18n }, seconds) {
  const n = (x, d) => new Intl.NumberFormat(i18n.lang, { maximumFractionDigits: d }).format(x);
  if (seconds < 0.05) return t('desk_sec', { n: `< ${n(0.1, 1)}` });
  if (seconds < 60) return t('desk_sec', { n: n(seconds, 1) });
  if (seconds < 3600) return t('desk_min', { n: n(seconds / 60, 0) });
  return t('desk_hour', { n: n(seconds / 3600, 1) });
}

/** From the upload's acknowledgement to the anchor on the chain; while waiting, how long so far. */
export function lag(ctx, inv) {
  const from = Date.parse(inv.receivedAt);
  if (inv.anchoredAt) return duration(ctx, (Date.parse(inv.anchoredAt) - from) / 1000);
  return ctx.t('desk_waiting', { t: duration(ctx, (Date.now() - from) / 1000) });
}

export function facts(pairs) {
  return h('dl', { class: 'facts' }, pairs.filter((p) => p && p[1] !== undefined && p[1] !== null && p[1] !== '')
    .map(([k, v]) => [h('dt', {}, k), h('dd', {}, v)]));
}

/** GET ``path`` with the staff token, for answers that are not JSON (HTML, PDF); problems raise ApiError. */
export async function fetchWithToken(path) {
  let resp;
  try {
    resp = await fetch(path, { headers: { Authorization: `Bearer ${sessionStorage.getItem(TOKEN) || ''}` },
      cache: 'no-store', credentials: 'omit' });
  } catch (e) {
    throw new ApiError(0, { title: 'network', detail: '' });
  }
  if (!resp.ok) {
    const doc = await resp.json().catch(() => ({ title: resp.statusText }));
    throw new ApiError(resp.status, doc);
  }
  return resp;
}

/** Hand ``blob`` to the browser as a download called ``name``. */
export function save(blob, name) {
  const url = URL.createObjectURL(blob);
  const a = h('a', { href: url, download: name, hidden: true });
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 60_000);
}

/** A button that runs ``work`` once at a time, showing errors in ``out``. */
export function actionButton(ctx, label, work, { cls = 'secondary', out } = {}) {
  const b = h('button', { type: 'button', class: cls });
  b.textContent = label;
  b.addEventListener('click', async () => {
    b.disabled = true;
    if (out) out.replaceChildren();
    try {
      await work();
    } catch (err) {
      if (out) out.append(ctx.errorBox(err)); else ctx.toast(describe(ctx.i18n, err).text);
    }
    b.disabled = false;
  });
  return b;
}
