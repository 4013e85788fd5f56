// Tables whose rows become cards on a phone (each cell carries its column's name).

import { h } from '/assets/shared/dom.js';

/** Rows with each cell labelled by its column (a phone shows the rows as cards, label: value). */
export function labelled(head, rows) {
  const labels = head.map((c) => (Array.isArray(c) ? c[0] : c));
  for (const tr of rows) [...tr.children].forEach((td, i) => { td.dataset.label = labels[i] || ''; });
  return rows;
}

// A wrapper that scrolls (a wide table at 320 px or with large text) must be reachable by keyboard
// to be scrolled without a mouse (WCAG 2.1.1; axe-core: scrollable-region-focusable); one that
// does not scroll stays out of the tab order. Sizes are watched, so a change of text size counts.
const overflow = typeof ResizeObserver === 'function' ? new ResizeObserver((entries) => {
  for (const e of entries) {
    const wrap = e.target.classList.contains('table-wrap') ? e.target : e.target.parentElement;
    if (!wrap) continue;
    if (wrap.scrollWidth > wrap.clientWidth + 1 || wrap.scrollHeight > wrap.clientHeight + 1) wrap.tabIndex = 0;
    else wrap.removeAttribute('tabindex');
  }
}) : null;

/** ``tableEl`` in a wrapper that scrolls sideways, focusable while it does. */
export function scrollWrap(tableEl) {
  const wrap = h('div', { class: 'table-wrap' }, tableEl);
  if (overflow) { overflow.observe(wrap); overflow.observe(tableEl); } else wrap.tabIndex = 0;
  return wrap;
}

export function table(head, rows, cls = '') {
  labelled(head, rows);
  return scrollWrap(h('table', { class: `${cls} responsive`.trim() },
    h('thead', {}, h('tr', {}, head.map((c) => (Array.isArray(c) ? h('th', { class: c[1] }, c[0]) : h('th', {}, c))))),
    h('tbody', {}, rows)));
}
