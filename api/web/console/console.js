// The staff console: sign-in, sections by role, routing by URL hash (each section is a module of its own).
// The server enforces every permission; the console only hides what a role cannot use.

import { STRINGS } from './strings.js';
import { makeI18n } from '/assets/shared/i18n.js';
import { ApiError, makeClient } from '/assets/shared/api.js';
import { describe } from '/assets/shared/problems.js';
import { clear, day, focusHeading, h, rich, when } from '/assets/shared/dom.js';

const TOKEN = 'ebill.staff.token';
const SECTIONS = {
  queue: ['payer'],
  postaudit: ['payer'],
  claims: ['payer', 'auditor'],
  desk: ['hospital'],
  verify: ['payer', 'auditor', 'admin', 'hospital', 'clerk'],
  dashboard: ['payer', 'auditor'],
  // the payer's office (the API allows the same roles: api/policy.py, ledger/app/access.py)
  clawbacks: ['payer', 'auditor'],
  reports: ['payer', 'auditor', 'admin'],
  rules: ['payer', 'auditor', 'admin'],
  outbox: ['admin'],
  audit: ['auditor', 'admin'],
};
const HOME = { payer: 'queue', auditor: 'dashboard', hospital: 'desk', admin: 'rules' };

const i18n = makeI18n(STRINGS);
const t = i18n.t;
const main = document.getElementById('main');
const nav = document.getElementById('nav');
const who = document.getElementById('who');
const toastEl = document.getElementById('toast');
const state = { me: null, stoppers: [] };

const api = makeClient({
  token: () => sessionStorage.getItem(TOKEN),
  onUnauthorized: () => { if (state.me) signOut(t('sessionEnded')); },
});

/**
 * An error panel in the reader's language (shared/problems.js): what happened in words, and the service's
 * own sentences (English: which claim, whose turn, which field) behind a disclosure, for the clerk who
 * needs the specifics. A string is the console's own words already.
 */
function errorBox(err, { retry, title } = {}) {
  if (typeof err === 'string') return h('div', { class: 'alert error', role: 'alert' }, h('p', {}, err));
  const { text, details } = describe(i18n, err, { always: true });
  return h('div', { class: 'alert error', role: 'alert' },
    h('p', {}, h('strong', {}, title || t('errorTitle'))),
    h('p', {}, text),
    details && details !== text
      // open for an English reader (they are its words), a click away for everyone else
      ? h('details', { class: 'small server-words', open: i18n.lang.startsWith('en') },
        h('summary', {}, t('detailsEn')), h('p', { lang: 'en' }, details)) : null,
    retry ? h('p', {}, h('button', { type: 'button', class: 'secondary', onclick: retry }, t('retry'))) : null);
}

const ctx = {
  api, t, i18n, main, state, errorBox,
  can: (section) => !!state.me && SECTIONS[section].includes(state.me.role),
  go(hash) { if (location.hash === hash) route(); else location.hash = hash; },
  toast(text) {
    toastEl.textContent = text;
    clearTimeout(ctx.toast.timer);
    ctx.toast.timer = setTimeout(() => { toastEl.textContent = ''; }, 4000);
  },
  onStop(f) { state.stoppers.push(f); },
  loading() { return h('p', { class: 'muted' }, h('span', { class: 'spinner', 'aria-hidden': 'true' }), ' ', t('loading')); },
  when: (iso) => when(iso, i18n.lang),
  day: (iso) => day(iso, i18n.lang),
  /** Save what ``path`` answers (a CSV or PDF) as a file, with the name the service gives it. */
  async download(path, fallback) {
    const resp = await fetch(path, { headers: { Authorization: `Bearer ${sessionStorage.getItem(TOKEN)}` }, cache: 'no-store',
      credentials: 'omit' }).catch(() => { throw new ApiError(0, { title: 'network', detail: '' }); });
    if (!resp.ok) throw new ApiError(resp.status, await resp.json().catch(() => ({ title: resp.statusText })));
    const name = /filename="([^"]+)"/.exec(resp.headers.get('content-disposition') || '')?.[1] || fallback;
    const url = URL.createObjectURL(await resp.blob());
    const a = h('a', { href: url, download: name, hidden: true });
    document.body.append(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(url), 10_000);
    return name;
  },
};

function renderSignIn(message) {
  nav.hidden = true; who.hidden = true;
  document.getElementById('signout').hidden = true;
  const input = h('input', { type: 'password', id: 'token', autocomplete: 'off', spellcheck: 'false', 'aria-describedby': 'token-hint' });
  const out = h('div', { 'aria-live': 'polite' });
  if (message) out.append(h('div', { class: 'alert info', role: 'status' }, message));
  const button = h('button', { type: 'submit' }, t('signIn'));
  const form = h('form', { class: 'card signin', novalidate: true, onsubmit: async (ev) => {
    ev.preventDefault();
    clear(out);
    const token = input.value.trim().replace(/^Bearer\s+/i, '');
    if (!token) { out.append(errorBox(t('tokenMissing'))); input.focus(); return; }
    button.disabled = true; button.textContent = t('signingIn');
    sessionStorage.setItem(TOKEN, token);
    try {
      const me = await api.get('/v1/me');
      if (me.role === 'citizen') {
        sessionStorage.removeItem(TOKEN);
        out.append(h('div', { class: 'alert warn', role: 'alert' }, h('p', {}, t('citizenToken')),
          h('p', {}, h('a', { href: '/app/' }, t('openApp')))));
      } else {
        state.me = me;
        // a deep link (e.g. to a claim) opened before signing in is where the user goes
        ctx.go(location.hash.length > 2 ? location.hash : `#/${HOME[me.role] || 'verify'}`);
        return;
      }
    } catch (err) {
      sessionStorage.removeItem(TOKEN);
      out.append(err instanceof ApiError && err.status === 401 ? errorBox(t('tokenRejected', { detail: err.message })) : errorBox(err));
      input.focus();
    }
    button.disabled = false; button.textContent = t('signIn');
  } },
  h('p', {}, t('signInIntro')), h('label', { for: 'token' }, t('tokenLabel')), input,
  h('p', { class: 'hint', id: 'token-hint' }, rich(t('tokenHint'))), out, button);
  clear(main, h('h1', {}, t('signInTitle')), form,
    h('p', { class: 'small muted' }, t('citizenHint'), ' ', h('a', { href: '/app/' }, t('openApp'))));
  input.focus();
}

function signOut(message) {
  sessionStorage.removeItem(TOKEN);
  state.me = null;
  stopAll();
  if (location.hash) history.replaceState(null, '', location.pathname);
  renderSignIn(message);
}

function stopAll() {
  for (const f of state.stoppers.splice(0)) { try { f(); } catch (e) { /* already stopped */ } }
}

function drawNav(current) {
  clear(nav, Object.keys(SECTIONS).filter((s) => ctx.can(s)).map((s) =>
    h('a', { href: `#/${s}`, 'aria-current': s === current ? 'page' : null, dataset: { section: s } }, t(`nav_${s}`))));
  nav.hidden = false;
  clear(who, h('span', { class: 'badge' }, t(`role_${state.me.role}`)), ' ', h('span', { class: 'subject' }, state.me.label || state.me.subject));
  who.hidden = false;
  document.getElementById('signout').hidden = false;
}

async function route() {
  stopAll();
  if (!sessionStorage.getItem(TOKEN)) { renderSignIn(); return; }
  if (!state.me) {
    clear(main, ctx.loading());
    try {
      state.me = await api.get('/v1/me');
      if (state.me.role === 'citizen') { signOut(t('citizenToken')); return; }
    } catch (err) {
      if (err instanceof ApiError && err.status === 401) return;
      clear(main, errorBox(err, { retry: route }));
      return;
    }
  }
  let [, section, id] = (location.hash || '').split('?')[0].split('/');   // #/section[/id][?filters]
  if (!section || !SECTIONS[section]) section = HOME[state.me.role] || 'verify';
  drawNav(section);
  if (!ctx.can(section)) {
    clear(main, h('h1', {}, t(`nav_${section}`)), h('div', { class: 'alert warn', role: 'alert' }, t('notAllowed')));
    return;
  }
  // each screen draws into its own element: a screen left while it was still loading draws into a
  // detached element, never over the screen the user moved on to
  const view = h('div', { class: 'view' });
  clear(main, view);
  const vctx = { ...ctx, main: view };
  try {
    if (section === 'queue') await (await import('./review.js')).renderQueue(vctx);
    else if (section === 'postaudit') await (await import('./review.js')).renderPostAudit(vctx);
    else if (section === 'claims' && id) await (await import('./claim.js')).renderClaim(vctx, decodeURIComponent(id));
    else if (section === 'claims') await (await import('./review.js')).renderClaims(vctx);
    else if (section === 'desk') await (await import('./desk.js')).renderDesk(vctx, id && decodeURIComponent(id));
    else if (section === 'verify') await (await import('./verify.js')).renderVerify(vctx);
    else if (section === 'dashboard') await (await import('./dashboard.js')).renderDashboard(vctx);
    else if (section === 'audit') await (await import('./dashboard.js')).renderAudit(vctx);
    else if (section === 'clawbacks') await (await import('./clawbacks.js')).renderClawbacks(vctx, id && decodeURIComponent(id));
    else if (section === 'reports') await (await import('./reports.js')).renderReport(vctx);
    else if (section === 'rules') await (await import('./rules.js')).renderRules(vctx, id && decodeURIComponent(id));
    else if (section === 'outbox') await (await import('./outbox.js')).renderOutbox(vctx);
  } catch (err) {
    if (err instanceof ApiError && err.status === 401) return;
    clear(view, h('h1', {}, t(`nav_${section}`)), errorBox(err, { retry: route }));
  }
  if (view.isConnected) focusHeading(view);
}

document.getElementById('lang').addEventListener('click', () => i18n.toggle());
document.getElementById('signout').addEventListener('click', () => signOut());
i18n.onChange(() => route());
i18n.apply();
window.addEventListener('hashchange', route);
route();
