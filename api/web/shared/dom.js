// A few DOM helpers: build elements without innerHTML (no markup injection), format money and times.

export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k === 'class') el.className = v;
    else if (k === 'text') el.textContent = v;
    else if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
    else if (k === 'dataset') Object.assign(el.dataset, v);
    else if (v === true) el.setAttribute(k, '');
    else el.setAttribute(k, v);
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const c of children) {
    if (c === null || c === undefined || c === false) continue;
    if (Array.isArray(c)) append(el, c);
    else el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
}

export function clear(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

export function yuan(fen, lang) {
  if (fen === null || fen === undefined) return '—';
  return new Intl.NumberFormat(lang, { style: 'currency', currency: 'CNY', currencyDisplay: 'narrowSymbol' }).format(fen / 100);
}

export function when(iso, lang, opts = { dateStyle: 'medium', timeStyle: 'short' }) {
  if (!iso) return '—';
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? iso : new Intl.DateTimeFormat(lang, { ...opts, timeZone: 'Asia/Shanghai' }).format(d);
}

export function day(iso, lang) { return when(iso, lang, { dateStyle: 'medium' }); }

/** 0x1234…abcd: long hashes shortened for display (the full value stays in the title). */
export function short(hex, n = 6) {
  if (!hex || hex.length <= 2 * n + 3) return hex || '';
  return `${hex.slice(0, n + 2)}…${hex.slice(-n)}`;
}

export function hash(hex) {
  return h('code', { class: 'hash', title: hex }, short(hex));
}

/** Move focus to a freshly rendered view's heading, so screen readers and keyboards follow. */
export function focusHeading(root) {
  const el = root.querySelector('h1, h2');
  if (el) { el.setAttribute('tabindex', '-1'); el.focus({ preventScroll: false }); }
}

/** Text with `code` spans (from the string tables) as elements. */
export function rich(text) {
  return text.split(/`([^`]*)`/).map((part, i) => (i % 2 ? h('code', {}, part) : part));
}
