// Tables whose rows become cards on a phone (each cell carries its column's name), and audit detail as text.

import { h } from '/assets/shared/dom.js';

/** Rows with each cell labelled by its column (a phone shows the rows as cards, label: value). */
export function labelled(head, rows) {
  const labels = head.map((c) => (Array.isArray(c) ? c[0] : c));
  for (const tr of rows) [...tr.children].forEach((td, i) => { td.dataset.label = labels[i] || ''; });
  return rows;
}

export function table(head, rows, cls = '') {
  labelled(head, rows);
  return h('div', { class: 'table-wrap' }, h('table', { class: `${cls} responsive`.trim() },
    h('thead', {}, h('tr', {}, head.map((c) => (Array.isArray(c) ? h('th', { class: c[1] }, c[0]) : h('th', {}, c))))),
    h('tbody', {}, rows)));
}

/** An audit entry's detail as one line of text (hashes and accounts shortened). */
export function detailText(detail) {
  if (!detail) return '';
  if (typeof detail !== 'object') return String(detail);
  return Object.entries(detail).filter(([, v]) => v !== null && !(Array.isArray(v) && !v.length))
    .map(([k, v]) => `${k}: ${typeof v === 'object' ? JSON.stringify(v) : v}`).join(' · ')
    .replace(/0x([0-9a-f]{6})[0-9a-f]{28,}([0-9a-f]{6})/gi, '0x$1…$2');   // hashes and accounts, shortened
}
