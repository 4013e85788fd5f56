// The citizens' app: shell, sign-in (kept until the e-voucher expires), routing by URL hash, acting
// for a family member. Views live in invoices.js (the first screen) and, loaded only when opened,
// claims.js (claims and their explanation), invoice.js (one invoice), clawback.js (money owed back)
// and scan.js.

import { STRINGS } from './strings.js';
import { makeI18n } from '/assets/shared/i18n.js';
import { ApiError, makeClient } from '/assets/shared/api.js';
import { clear, focusHeading, h, rich, when } from '/assets/shared/dom.js';
import { renderInvoices } from './invoices.js';
import { describe } from '/assets/shared/problems.js';
import { makeSession } from './session.js';

const FOR = 'ebill.citizen.for';

const i18n = makeI18n(STRINGS);
const t = i18n.t;
const main = document.getElementById('main');
const nav = document.getElementById('nav');
const toastEl = document.getElementById('toast');

const state = {
  me: null,                                   // GET /v1/me
  actingFor: sessionStorage.getItem(FOR) || '', // a delegator's pseudonym, '' for oneself
  stoppers: [],                               // what to stop when the view changes (polling, camera)
  flash: null,                                // a message for the next view
  hospitals: {},                              // invoice fingerprint -> hospital name, as loaded
};

const session = makeSession({ onExpired: (exp) => signOut(t('sessionExpired', { at: when(exp, i18n.lang) })) });
const api = makeClient({
  token: () => session.token(),
  onUnauthorized: () => { if (state.me) signOut(t('sessionEnded')); },
});

const ctx = {
  api, t, i18n, state, main,
  token: () => session.token(),
  go(hash) { if (location.hash === hash) route(); else location.hash = hash; },
  toast,
  onStop(f) { state.stoppers.push(f); },
  errorBox,
  person() { return state.actingFor || (state.me && state.me.person); },
  personName(person) {
    const me = state.me;
    if (!me || !person || person === me.person) return me ? me.name : '';
    const d = (me.delegations || []).find((x) => x.person === person);
    return d ? d.name : person.slice(0, 8);
  },
  actingSelect,
};

function toast(text) {
  toastEl.textContent = text;
  clearTimeout(toast.timer);
  toast.timer = setTimeout(() => { toastEl.textContent = ''; }, 4000);
}

/**
 * An error panel in the user's words (problems.js), said once, that always offers a way on: retry
 * (labelled `retryLabel`, e.g. "choose another photo"), and whatever else the caller adds. The
 * service's own sentences, when they add something, are behind "Details".
 */
function errorBox(err, { retry, retryLabel, title, text: words, extra } = {}) {
  const described = describe(i18n, err);
  const text = words || described.text;
  const details = words && err instanceof ApiError ? err.messages().join(' · ') : described.details;
  if (typeof err === 'string' && !title && !extra && !retry) return h('div', { class: 'alert error', role: 'alert' }, h('p', {}, err));
  return h('div', { class: 'alert error', role: 'alert', tabindex: '-1' },
    h('p', {}, h('strong', {}, title || t('errorTitle'))),
    text && text !== title ? h('p', {}, text) : null,
    details ? h('details', { class: 'small' }, h('summary', {}, t('details')), h('p', {}, details)) : null,
    extra || null,
    retry ? h('p', {}, h('button', { type: 'button', class: 'secondary', onclick: retry }, retryLabel || t('retry'))) : null);
}

/** "Claiming for": oneself or a family member who recorded a delegation. */
function actingSelect(onChange) {
  const me = state.me;
  const delegations = (me && me.delegations) || [];
  if (!delegations.length) return null;
  const sel = h('select', { id: 'acting-for', onchange: () => {
    state.actingFor = sel.value;
    if (sel.value) sessionStorage.setItem(FOR, sel.value); else sessionStorage.removeItem(FOR);
    onChange();
  } },
  h('option', { value: '' }, t('myself', { name: me.name || '' })),
  delegations.map((d) => h('option', { value: d.person, selected: d.person === state.actingFor },
    t('forWhom', { name: d.name, relation: i18n.has(`relation_${d.relation}`) ? t(`relation_${d.relation}`) : d.relation }))));
  return h('div', { class: 'acting' }, h('label', { for: 'acting-for' }, t('actingFor')), sel);
}

// ------------------------------------------------------------------ sign-in

function renderSignIn(message) {
  nav.hidden = true;
  document.getElementById('signout').hidden = true;
  const area = h('textarea', { id: 'token', name: 'token', rows: '4', autocomplete: 'off', spellcheck: 'false',
    'aria-describedby': 'token-hint', required: true });
  const out = h('div', { 'aria-live': 'polite' });
  const button = h('button', { type: 'submit', class: 'wide' }, t('signIn'));
  if (message) out.append(h('div', { class: 'alert info', role: 'status' }, message));
  const form = h('form', { class: 'card', novalidate: true, onsubmit: async (ev) => {
    ev.preventDefault();
    const token = area.value.trim().replace(/^Bearer\s+/i, '');
    clear(out);
    if (!token) { out.append(errorBox(t('tokenMissing'))); area.focus(); return; }
    button.disabled = true; button.textContent = t('signingIn');
    const kept = session.start(token);
    if (kept === 'expired') {
      out.append(errorBox(t('tokenExpired')));
      button.disabled = false; button.textContent = t('signIn'); area.focus();
      return;
    }
    try {
      const me = await api.get('/v1/me');
      if (me.role !== 'citizen') {
        session.clear();
        out.append(h('div', { class: 'alert warn', role: 'alert' }, h('p', {}, t('notCitizen', { role: me.role })),
          h('p', {}, h('a', { href: '/console/' }, t('openConsole')))));
      } else {
        state.me = me;
        if (state.actingFor && !(me.delegations || []).some((d) => d.person === state.actingFor)) state.actingFor = '';
        ctx.go(location.hash.length > 2 ? location.hash : '#/invoices');   // a deep link survives signing in
        return;
      }
    } catch (err) {
      session.clear();
      out.append(err instanceof ApiError && err.status === 401
        ? errorBox(err, { title: t('tokenRejected'), text: t('tokenRejectedWhy') })
        : errorBox(err));
      area.focus();
    }
    button.disabled = false; button.textContent = t('signIn');
  } },
  h('p', {}, t('signInIntro')),
  h('label', { for: 'token' }, t('tokenLabel')), area,
  h('p', { class: 'hint', id: 'token-hint' }, rich(t('tokenHint'))),
  out, button);
  clear(main, h('h1', {}, t('signInTitle')), form,
    h('p', { class: 'small muted' }, t('staffHint'), ' ', h('a', { href: '/console/' }, t('openConsole'))));
  area.focus();
}

function signOut(message) {
  session.clear();
  sessionStorage.removeItem(FOR);
  state.me = null; state.actingFor = '';
  showSession();
  stopAll();
  if (location.hash && location.hash !== '#/') history.replaceState(null, '', '#/');
  renderSignIn(message);
}

// ------------------------------------------------------------------ routing

function stopAll() {
  for (const f of state.stoppers.splice(0)) { try { f(); } catch (e) { /* already stopped */ } }
}

async function route() {
  stopAll();
  if (!session.token()) {
    const ended = session.takeExpired();
    renderSignIn(ended ? t('sessionExpired', { at: when(ended, i18n.lang) }) : undefined);
    return;
  }
  if (!state.me) {
    clear(main, h('p', { class: 'muted' }, h('span', { class: 'spinner', 'aria-hidden': 'true' }), ' ', t('loading')));
    try {
      state.me = await api.get('/v1/me');
      if (state.me.role !== 'citizen') { signOut(t('notCitizen', { role: state.me.role })); return; }
    } catch (err) {
      if (err instanceof ApiError && err.status === 401) { signOut(t('sessionEnded')); return; }  // a kept token refused
      clear(main, errorBox(err, { retry: route }));
      return;
    }
  }
  nav.hidden = false;
  document.getElementById('signout').hidden = false;
  showSession();
  const [, view, id] = (location.hash || '#/invoices').split('?')[0].split('/');
  const tab = view === 'invoice' ? 'invoices' : (view || 'invoices');
  for (const a of nav.querySelectorAll('a')) {
    if (a.dataset.view === tab) a.setAttribute('aria-current', 'page'); else a.removeAttribute('aria-current');
  }
  // each screen draws into its own element: a screen left while it was still loading draws into a
  // detached element, never over the screen the user moved on to
  const root = h('div', { class: 'view' });
  clear(main, root);
  const vctx = { ...ctx, main: root };
  try {
    if (view === 'claims' && id) await (await import('./claims.js')).renderClaim(vctx, decodeURIComponent(id));
    else if (view === 'claims') await (await import('./claims.js')).renderClaims(vctx);
    else if (view === 'scan') await (await import('./scan.js')).renderScan(vctx);
    else if (view === 'invoice' && id) await (await import('./invoice.js')).renderInvoice(vctx, decodeURIComponent(id));
    else await renderInvoices(vctx);
  } catch (err) {
    if (err instanceof ApiError && err.status === 401) return;
    clear(root, errorBox(err, { retry: route }));
  }
  if (root.isConnected) focusHeading(root);
}

// ------------------------------------------------------------------ how long the sign-in lasts

const sessionLine = document.getElementById('session');
let sessionTimer = 0;

/** Under the header, in words: until when this sign-in holds, and (in its last 15 minutes) that it ends soon. */
function showSession() {
  clearInterval(sessionTimer);
  const exp = state.me && session.expiresAt();
  sessionLine.hidden = !exp;
  if (!exp) return;
  const draw = () => {
    const left = Math.max(0, Math.round((exp - Date.now()) / 60000));
    const at = when(new Date(exp).toISOString(), i18n.lang, { month: 'short', day: 'numeric', hour: 'numeric', minute: '2-digit' });
    const soon = left <= 15;
    sessionLine.className = `session small${soon ? ' soon' : ''}`;
    sessionLine.textContent = soon ? t('sessionEndsSoon', { at, n: left }) : t('sessionUntil', { at });
  };
  draw();
  sessionTimer = setInterval(draw, 30000);
}

// ------------------------------------------------------------------ start

const offline = document.getElementById('offline');
const showNetwork = () => { offline.hidden = navigator.onLine; };
window.addEventListener('online', showNetwork);
window.addEventListener('offline', showNetwork);
showNetwork();

document.getElementById('lang').addEventListener('click', async () => {
  i18n.toggle();
  // the text messages follow the app's language: the payer records it on the person's enrolment.
  // Best effort: a person not enrolled with this payer has no record to keep it in, and the
  // screen has changed language already; the messages then stay in the enrolment's language.
  if (state.me) api.put('/v1/me/language', { language: i18n.lang === 'en' ? 'en' : 'zh' }).catch(() => {});
});
document.getElementById('signout').addEventListener('click', () => signOut());
i18n.onChange(() => route());
i18n.apply();
window.addEventListener('hashchange', route);
route();

if ('serviceWorker' in navigator) {
  navigator.serviceWorker.register('/app/sw.js', { scope: '/app/' }).catch(() => { /* the app works without it */ });
}
