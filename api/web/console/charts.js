// Small inline-SVG charts (no library): stacked bars, grouped bars, horizontal bars and a
// histogram with a target line. Each comes with a visually hidden data table for screen readers.

import { h } from '/assets/shared/dom.js';

const NS = 'http://www.w3.org/2000/svg';
export const PALETTE = ['#137333', '#b3261e', '#e0a030', '#1456a0', '#7b5ea7', '#5b6470', '#2b8a9e'];

function s(tag, attrs, ...children) {
  const el = document.createElementNS(NS, tag);
  for (const [k, v] of Object.entries(attrs || {})) if (v !== null && v !== undefined) el.setAttribute(k, v);
  for (const c of children.flat()) if (c !== null && c !== undefined) el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  return el;
}

/** The axis top: four steps of 1, 2 or 5 x 10^k (so every tick is a round number). */
function niceMax(v) {
  if (v <= 0) return 4;
  const raw = v / 4;
  const p = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * p).find((m) => m >= raw);
  return Math.max(4, step * 4);
}

function frame(title, svg, legend, table) {
  return h('figure', { class: 'chart card' }, h('figcaption', {}, title), svg, legend, table);
}

function legendOf(series) {
  return h('ul', { class: 'legend' }, series.map((x) => h('li', {},
    s('svg', { width: 12, height: 12, 'aria-hidden': 'true' }, s('rect', { width: 12, height: 12, rx: 2, fill: x.color })), ' ', x.label)));
}

function dataTable(head, rows) {
  return h('table', { class: 'sr-only' }, h('thead', {}, h('tr', {}, head.map((c) => h('th', {}, c)))),
    h('tbody', {}, rows.map((r) => h('tr', {}, r.map((c) => h('td', {}, c))))));
}

function axis(W, H, pad, max, fmt) {
  const g = s('g', { class: 'axis' });
  for (let i = 0; i <= 4; i++) {
    const y = H - pad.b - ((H - pad.t - pad.b) * i) / 4;
    g.append(s('line', { x1: pad.l, x2: W - pad.r, y1: y, y2: y, stroke: '#e3e7eb' }),
      s('text', { x: pad.l - 6, y: y + 4, 'text-anchor': 'end' }, fmt((max * i) / 4)));
  }
  return g;
}

/** Bars per category; `stacked` piles the series, otherwise they stand side by side. */
export function bars({ title, categories, series, stacked = true, fmt = (v) => String(Math.round(v)), emptyText, width = 640 }) {
  const W = width; const H = Math.round(Math.min(240, width * 0.55)); const pad = { t: 12, r: 8, b: 40, l: 56 };
  if (!categories.length) return frame(title, h('p', { class: 'muted' }, emptyText), null, null);
  const totals = categories.map((c) => (stacked ? series.reduce((a, x) => a + (c.values[x.key] || 0), 0)
    : Math.max(0, ...series.map((x) => c.values[x.key] || 0))));
  const max = niceMax(Math.max(...totals));
  const slot = (W - pad.l - pad.r) / categories.length;
  const bw = Math.max(2, Math.min(36, slot * 0.7));
  const y = (v) => ((H - pad.t - pad.b) * v) / max;
  const svg = s('svg', { viewBox: `0 0 ${W} ${H}`, role: 'img', 'aria-label': title, class: 'chart-svg' }, axis(W, H, pad, max, fmt));
  const every = Math.ceil(categories.length / 10);
  categories.forEach((c, i) => {
    const x0 = pad.l + slot * i + (slot - bw) / 2;
    let base = H - pad.b;
    series.forEach((x, j) => {
      const v = c.values[x.key] || 0;
      if (!v) return;
      const hgt = y(v);
      const rect = stacked
        ? s('rect', { x: x0, y: base - hgt, width: bw, height: hgt, fill: x.color })
        : s('rect', { x: x0 + (bw / series.length) * j, y: H - pad.b - hgt, width: bw / series.length, height: hgt, fill: x.color });
      rect.append(s('title', {}, `${c.label} · ${x.label}: ${fmt(v)}`));
      svg.append(rect);
      if (stacked) base -= hgt;
    });
    if (i % every === 0) svg.append(s('text', { x: x0 + bw / 2, y: H - pad.b + 16, 'text-anchor': 'middle', class: 'tick' }, c.label));
  });
  return frame(title, svg, legendOf(series),
    dataTable(['', ...series.map((x) => x.label)], categories.map((c) => [c.label, ...series.map((x) => fmt(c.values[x.key] || 0))])));
}

/** ``text`` cut in the middle to ``n`` narrow characters (a Chinese character counts as two): rule ids differ at
 * their ends (class-b-first-self-pay-10pct / -20pct), so both ends stay readable. */
function middle(text, n) {
  const width = (ch) => (/[\u2E80-\uFFEF]/.test(ch) ? 2 : 1);
  const chars = [...text];
  if (chars.reduce((a, ch) => a + width(ch), 0) <= n) return text;
  let head = ''; let tail = ''; let used = 1;
  for (let i = 0, j = chars.length - 1; i <= j;) {
    if (used + width(chars[i]) > n) break;
    head += chars[i]; used += width(chars[i]); i += 1;
    if (i > j || used + width(chars[j]) > n) break;
    tail = chars[j] + tail; used += width(chars[j]); j -= 1;
  }
  return `${head}…${tail}`;
}

/** Horizontal bars, largest first (e.g. the rules that took the most money off claims). */
export function hbars({ title, items, fmt = String, color = PALETTE[3], emptyText, width = 640 }) {
  if (!items.length) return frame(title, h('p', { class: 'muted' }, emptyText), null, null);
  const W = width; const row = 28; const label = Math.round(W * 0.4); const H = items.length * row + 8;
  const max = Math.max(...items.map((i) => i.value)) || 1;
  const svg = s('svg', { viewBox: `0 0 ${W} ${H}`, role: 'img', 'aria-label': title, class: 'chart-svg' });
  items.forEach((it, i) => {
    const y0 = 4 + i * row; const w = ((W - label - 90) * it.value) / max;
    svg.append(
      s('text', { x: label - 8, y: y0 + 18, 'text-anchor': 'end', class: 'tick' }, middle(it.label, Math.floor(label / 9))),
      s('rect', { x: label, y: y0 + 4, width: Math.max(1, w), height: row - 10, rx: 3, fill: color }, s('title', {}, `${it.label}: ${fmt(it.value)}`)),
      s('text', { x: label + w + 6, y: y0 + 18, class: 'tick' }, fmt(it.value)));
  });
  return frame(title, svg, null, dataTable(['', ''], items.map((i) => [i.label, fmt(i.value)])));
}

/** A histogram of buckets; those from index `lateFrom` on are past the target (a dashed line before them). */
export function histogram({ title, buckets, lateFrom = -1, targetLabel, note, emptyText, width = 640 }) {
  if (!buckets.length || !buckets.some((b) => b.value)) return frame(title, h('p', { class: 'muted' }, emptyText), null, null);
  const W = width; const H = Math.round(Math.min(220, width * 0.55)); const pad = { t: 22, r: 8, b: 36, l: 48 };
  const max = niceMax(Math.max(...buckets.map((b) => b.value)));
  const slot = (W - pad.l - pad.r) / buckets.length;
  const svg = s('svg', { viewBox: `0 0 ${W} ${H}`, role: 'img', 'aria-label': title, class: 'chart-svg' }, axis(W, H, pad, max, (v) => String(Math.round(v))));
  buckets.forEach((b, i) => {
    const hgt = ((H - pad.t - pad.b) * b.value) / max; const x0 = pad.l + slot * i + slot * 0.1;
    const late = lateFrom >= 0 && i >= lateFrom;
    svg.append(s('rect', { x: x0, y: H - pad.b - hgt, width: slot * 0.8, height: hgt, fill: late ? PALETTE[1] : PALETTE[0] },
      s('title', {}, `${b.label}: ${b.value}`)),
    s('text', { x: x0 + slot * 0.4, y: H - pad.b + 16, 'text-anchor': 'middle', class: 'tick' }, b.label),
    s('text', { x: x0 + slot * 0.4, y: H - pad.b - hgt - 4, 'text-anchor': 'middle', class: 'tick strong' }, b.value ? String(b.value) : ''));
  });
  if (lateFrom >= 0) {
    const cut = pad.l + slot * lateFrom;
    svg.append(s('line', { x1: cut, x2: cut, y1: pad.t - 14, y2: H - pad.b, stroke: '#1b1f24', 'stroke-dasharray': '5 4', 'stroke-width': 2 }),
      s('text', { x: cut - 6, y: pad.t - 4, 'text-anchor': 'end', class: 'tick strong' }, targetLabel));
  }
  return frame(title, svg, note ? h('p', { class: 'small' }, note) : null, dataTable(['', ''], buckets.map((b) => [b.label, b.value])));
}
