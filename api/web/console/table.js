// Tables whose rows become cards on a phone (each cell carries its column's name).

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
