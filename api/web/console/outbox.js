// The outbox of the citizens' messages (GET /v1/notifications, admin): each step of a claim writes one, in the
// person's language; the delivery adapter sends them. In development nothing is sent: the development adapter
// marks them delivered to this outbox, which is where they can be read.

import { clear, h } from '/assets/shared/dom.js';
import { table } from './table.js';
import { pseudonym, word } from './words.js';

const STATES = ['pending', 'delivered', 'failed'];
const TONE = { delivered: 'ok', pending: 'warn', failed: 'bad' };

export async function renderOutbox(ctx) {
  const { t, api, main } = ctx;
  const q = new URLSearchParams(location.hash.split('?')[1] || '');
  const state = h('select', { id: 'f-ob-state', onchange: () => ctx.go(`#/outbox${state.value ? `?state=${state.value}` : ''}`) },
    h('option', { value: '' }, t('fAny')), STATES.map((s) => h('option', { value: s, selected: q.get('state') === s }, word(ctx, 'obState_', s))));
  clear(main, h('h1', {}, t('outboxTitle')), h('p', { class: 'muted' }, t('outboxIntro')),
    h('div', { class: 'card filters' }, h('div', {}, h('label', { for: 'f-ob-state' }, t('fState')), state),
      h('div', { class: 'row' }, h('button', { type: 'button', class: 'secondary', onclick: () => ctx.go(location.hash) }, t('refresh')))),
    ctx.loading());
  const more = h('button', { type: 'button', class: 'secondary', hidden: true }, t('more'));
  let after = null;
  const head = [t('colAt'), t('colClaim'), t('obRecipient'), t('obKind'), t('obText'), t('colState'), t('obDelivery')];
  const page = async () => {
    const p = new URLSearchParams({ limit: '100' });
    if (q.get('state')) p.set('state', q.get('state'));
    if (after) p.set('after', after);
    const doc = await api.get(`/v1/notifications?${p}`);
    after = doc.next;
    more.hidden = !after;
    return [doc, (doc.notifications || []).map((m) => h('tr', { dataset: { message: String(m.id), kind: m.kind } },
      h('td', { class: 'nowrap' }, ctx.when(m.createdAt)),
      h('td', { class: 'nowrap' }, h('a', { href: `#/claims/${encodeURIComponent(m.claim)}`, title: m.claim }, m.claim.slice(4, 12))),
      h('td', {}, h('code', { title: m.person }, pseudonym(m.person)), ' ', h('span', { class: 'badge' }, word(ctx, 'lang_', m.language))),
      h('td', { class: 'nowrap' }, word(ctx, 'noticeKind_', m.kind)),
      h('td', { class: 'ob-text', lang: m.language === 'zh' ? 'zh-CN' : 'en' }, m.text),
      h('td', {}, h('span', { class: `badge ${TONE[m.state] || ''}`.trim(), dataset: { obState: m.state } }, word(ctx, 'obState_', m.state))),
      h('td', { class: 'small', title: m.state === 'delivered' ? `${word(ctx, 'channel_', m.channel)} · ${m.reference || ''}` : '' },
        m.state === 'delivered' ? ctx.when(m.deliveredAt)
          : m.attempts ? t('obAttempts', { n: m.attempts, error: m.error || '' }) : '—')))];
  };
  const [doc, rows] = await page();
  const banner = doc.delivery && !doc.delivery.sends
    ? h('div', { class: 'alert info', role: 'note' }, t('obDevelopment', { channel: word(ctx, 'channel_', doc.delivery.channel) }))
    : h('p', { class: 'muted' }, t('obSends', { channel: word(ctx, 'channel_', doc.delivery.channel) }));
  const list = rows.length ? table(head, rows, 'compact outbox') : null;
  more.addEventListener('click', () => page().then(([, next]) => {
    const tb = list.querySelector('tbody');
    tb.append(...next);
    for (const tr of next) [...tr.children].forEach((td, i) => { td.dataset.label = head[i]; });
  }).catch((e) => more.replaceWith(ctx.errorBox(e))));
  main.lastChild.replaceWith(h('section', {}, banner, list ? [list, more] : h('p', { class: 'card muted' }, t('outboxEmpty'))));
}
