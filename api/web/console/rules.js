// The payer's rule sets (/v1/rules): every version with its state, dates and who imported and approved it; one
// version and its document; what changed between two versions. The admin imports versions (checked first), and
// a second admin activates them (maker-checker); versions are retired, or withdrawn before approval.
// Reviewers and auditors read.

import { clear, h } from '/assets/shared/dom.js';
import { table } from './table.js';
import { actorText, word } from './words.js';

const TONE = { active: 'ok', proposed: 'warn', retired: '', withdrawn: '' };
const stateBadge = (ctx, st) => h('span', { class: `badge ${TONE[st] || ''}`.trim(), dataset: { rsState: st } }, word(ctx, 'rsState_', st));
const isAdmin = (ctx) => ctx.state.me.role === 'admin';
const byMe = (ctx, actor) => !!actor && String(actor).endsWith(`:${ctx.state.me.keyId}`);
const dates = (ctx, e) => `${e.effectiveFrom} – ${e.inForceUntil || e.effectiveTo || ctx.t('rsOpenEnded')}`;

/** An action on one version that asks "are you sure?" in place before it is sent (no browser dialog). */
function confirmed(ctx, label, question, run, cls = 'secondary') {
  const { t } = ctx;
  const wrap = h('span', { class: 'confirm' });
  const start = h('button', { type: 'button', class: 'secondary small-action' }, label);
  start.addEventListener('click', () => {
    const yes = h('button', { type: 'button', class: `${cls === 'secondary' ? '' : cls} small-action`.trim() }, t('confirmYes'));
    const no = h('button', { type: 'button', class: 'secondary small-action' }, t('confirmNo'));
    no.addEventListener('click', () => clear(wrap, start));
    yes.addEventListener('click', async () => { yes.disabled = true; no.disabled = true; await run(); });
    clear(wrap, h('span', { class: 'small' }, question, ' '), yes, ' ', no);
    yes.focus();
  });
  wrap.append(start);
  return wrap;
}

function actionsFor(ctx, e, reload, out) {
  const { t, api } = ctx;
  if (!isAdmin(ctx)) return null;
  const send = (path, done) => async () => {
    clear(out);
    try {
      await api.post(`/v1/rules/${path}`, { ruleSets: [e.ref] });
      ctx.toast(t(done, { ref: e.ref }));
      await reload();
    } catch (err) {
      out.append(ctx.errorBox(err, { title: t('rsRefused', { ref: e.ref }) }));
      await reload(false);
    }
  };
  if (e.state === 'proposed') {
    return [byMe(ctx, e.importedBy) ? h('span', { class: 'small muted' }, t('rsYouImported'))
      : confirmed(ctx, t('rsApprove'), t('rsApproveQ', { ref: e.ref }), send('approve', 'rsApproved'), ''),
    ' ', confirmed(ctx, t('rsWithdraw'), t('rsWithdrawQ', { ref: e.ref }), send('retire', 'rsWithdrawn'))];
  }
  if (e.state === 'active') return confirmed(ctx, t('rsRetire'), t('rsRetireQ', { ref: e.ref }), send('retire', 'rsRetired'), 'danger');
  return null;
}

function importPanel(ctx, reload, notice) {
  const { t, api } = ctx;
  const file = h('input', { type: 'file', id: 'rs-file', accept: 'application/json,.json' });
  const out = h('div', { 'aria-live': 'polite' });
  const read = async () => {
    const f = file.files && file.files[0];
    if (!f) { out.append(ctx.errorBox(t('rsNoFile'))); file.focus(); return null; }
    try {
      const doc = JSON.parse(await f.text());
      return Array.isArray(doc) ? doc : [doc];
    } catch (e) {
      out.append(ctx.errorBox(t('rsNotJson', { name: f.name })));
      return null;
    }
  };
  const check = h('button', { type: 'button', class: 'secondary', id: 'rs-check' }, t('rsCheck'));
  const send = h('button', { type: 'button', id: 'rs-import' }, t('rsImport'));
  const run = (path, ok) => async () => {
    clear(out);
    const docs = await read();
    if (!docs) return;
    check.disabled = true; send.disabled = true;
    try {
      const { data } = await api.post(path, docs);
      const refs = (data.ruleSets || []).map((r) => r.ref || `${r.id}@${r.version}`).join(t('listSep'));
      const said = h('div', { class: 'alert ok', role: 'status' }, t(ok, { refs }));
      if (path === '/v1/rules') {   // the list is drawn again: the message goes above it
        await reload(false);
        clear(notice, said);
        return;
      }
      out.append(said);
    } catch (err) {
      out.append(ctx.errorBox(err, { title: t('rsProblems') }));
    }
    check.disabled = false; send.disabled = false;
  };
  check.addEventListener('click', run('/v1/rules/validate', 'rsValid'));
  send.addEventListener('click', run('/v1/rules', 'rsImported'));
  return h('section', { class: 'card rs-import' }, h('h2', {}, t('rsImportTitle')), h('p', { class: 'hint' }, t('rsImportHint')),
    h('label', { for: 'rs-file' }, t('rsFile')), file, out, h('div', { class: 'row' }, check, send));
}

function diffPanel(ctx, entries) {
  const { t, api } = ctx;
  const refs = entries.map((e) => e.ref);
  const pick = (id, i) => h('select', { id }, refs.map((r, j) => h('option', { value: r, selected: j === i }, r)));
  const sameId = entries.findIndex((e, i) => entries.slice(i + 1).some((x) => x.id === e.id));
  const first = Math.max(0, sameId);
  const second = entries.findIndex((e, i) => i > first && e.id === entries[first].id);
  const a = pick('rs-from', first);
  const b = pick('rs-to', second < 0 ? Math.min(1, refs.length - 1) : second);
  const out = h('div', { 'aria-live': 'polite', class: 'rs-diff-out' });
  const show = h('button', { type: 'submit' }, t('rsCompare'));
  return h('form', { class: 'card rs-diff', onsubmit: async (ev) => {
    ev.preventDefault();
    clear(out, ctx.loading());
    try {
      const d = await api.get(`/v1/rules/diff?from=${encodeURIComponent(a.value)}&to=${encodeURIComponent(b.value)}`);
      const show1 = (v) => (v === null || v === undefined ? '—' : typeof v === 'object' ? JSON.stringify(v) : String(v));
      clear(out, d.differences.length ? table([t('rsPath'), t('rsBefore'), t('rsAfter')], d.differences.map((x) => h('tr', {},
        h('td', {}, h('code', {}, x.path)), h('td', { class: 'small' }, h('code', {}, show1(x.before))),
        h('td', { class: 'small' }, h('code', {}, show1(x.after))))), 'compact rs-differences')
        : h('p', { class: 'muted' }, t('rsSame')));
    } catch (err) {
      clear(out, ctx.errorBox(err));
    }
  } }, h('h2', {}, t('rsDiffTitle')), h('div', { class: 'filters' }, h('div', {}, h('label', { for: 'rs-from' }, t('rsFrom')), a),
    h('div', {}, h('label', { for: 'rs-to' }, t('rsTo')), b), h('div', { class: 'row' }, show)), out);
}

function facts(pairs) {
  return h('dl', { class: 'facts' }, pairs.filter((p) => p && p[1] !== undefined && p[1] !== null && p[1] !== '')
    .map(([k, v]) => [h('dt', {}, k), h('dd', {}, v)]));
}

async function renderVersion(ctx, ref) {
  const { t, api, main } = ctx;
  const at = ref.lastIndexOf('@');
  const e = await api.get(`/v1/rules/${encodeURIComponent(ref.slice(0, at))}/${encodeURIComponent(ref.slice(at + 1))}`);
  const out = h('div', { 'aria-live': 'polite' });
  const reload = async (go = true) => { if (go) ctx.go(`#/rules/${encodeURIComponent(ref)}`); };
  clear(main, h('p', {}, h('a', { href: '#/rules' }, t('backToRules'))),
    h('div', { class: 'spread' }, h('h1', {}, e.ref), stateBadge(ctx, e.state)),
    h('section', { class: 'card' }, facts([[t('rsScheme'), e.scheme], [t('rsDates'), dates(ctx, e)], [t('rsSource'), e.source],
      [t('rsImportedBy'), `${actorText(ctx, e.importedBy, e.importedByLabel)} · ${ctx.when(e.importedAt)}`],
      [t('rsApprovedBy'), e.approvedBy ? `${actorText(ctx, e.approvedBy, e.approvedByLabel)} · ${ctx.when(e.approvedAt)}` : null],
      [t('rsRetiredBy'), e.retiredBy ? `${actorText(ctx, e.retiredBy, e.retiredByLabel)} · ${ctx.when(e.retiredAt)}` : null],
      [t('rsDigest'), h('code', { class: 'hash' }, e.digest)]]), out, h('p', { class: 'row' }, actionsFor(ctx, e, reload, out))),
    h('details', { class: 'card rs-document' }, h('summary', {}, t('rsDocument')), h('pre', { class: 'small' }, JSON.stringify(e.document, null, 2))));
}

export async function renderRules(ctx, ref) {
  if (ref) return renderVersion(ctx, ref);
  const { t, api, main } = ctx;
  const out = h('div', { 'aria-live': 'polite', class: 'rules-out' });
  clear(main, h('h1', {}, t('rulesTitle')), h('p', { class: 'muted' }, t('rulesIntro')), out, ctx.loading());
  const draw = async (fresh = true) => {
    if (fresh) clear(out);
    const doc = await api.get('/v1/rules');
    const entries = (doc.ruleSets || []).slice().sort((x, y) => x.id.localeCompare(y.id) || x.version - y.version);
    const admin = isAdmin(ctx);
    const head = [t('rsVersion'), t('rsScheme'), t('rsDates'), t('colState'), t('rsImportedBy'), t('rsApprovedBy')];
    if (admin) head.push(t('rsActions'));
    const rows = entries.map((e) => h('tr', { dataset: { ref: e.ref, state: e.state } },
      h('td', { class: 'nowrap' }, h('a', { href: `#/rules/${encodeURIComponent(e.ref)}` }, e.ref)), h('td', {}, e.scheme),
      h('td', { class: 'nowrap' }, dates(ctx, e)), h('td', {}, stateBadge(ctx, e.state)),
      h('td', { class: 'small' }, actorText(ctx, e.importedBy, e.importedByLabel)),
      h('td', { class: 'small' }, e.approvedBy ? actorText(ctx, e.approvedBy, e.approvedByLabel) : '—'),
      admin ? h('td', { class: 'rs-actions' }, actionsFor(ctx, e, () => draw(false), out)) : null));
    const proposed = entries.filter((e) => e.state === 'proposed').length;
    main.querySelector('.rules-body')?.remove();
    main.append(h('div', { class: 'rules-body' },
      proposed ? h('p', { class: 'alert warn' }, t('rsWaiting', { n: proposed })) : null,
      entries.length ? table(head, rows, 'compact rule-sets') : h('p', { class: 'card muted' }, t('rsNone')),
      admin ? importPanel(ctx, () => draw(false), out) : null,
      entries.length > 1 ? diffPanel(ctx, entries) : null));
  };
  main.querySelector('.spinner')?.parentElement.remove();
  await draw();
  return undefined;
}
