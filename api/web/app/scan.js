// Check a paper invoice from its QR code: the camera (decoded here with jsQR, loaded only now),
// a photo sent to POST /v1/verify, or the code's text. If the invoice is the person's own (or a
// delegator's) and unclaimed, claim it from here.

import { clear, day, h, hash, yuan } from '/assets/shared/dom.js';
import { claimOnce, invoicesPath, reasonText } from './invoices.js';
import { isTransient } from '/assets/shared/problems.js';

const JSQR = '/assets/vendor/jsQR-1.4.0.js';
let jsqrLoading = null;

function loadJsQR() {
  if (window.jsQR) return Promise.resolve(window.jsQR);
  jsqrLoading = jsqrLoading || new Promise((resolve, reject) => {
    const s = document.createElement('script');
    s.src = JSQR;
    s.onload = () => resolve(window.jsQR);
    s.onerror = () => { jsqrLoading = null; reject(new Error('could not load the QR decoder')); };
    document.head.append(s);
  });
  return jsqrLoading;
}

/** The photo as PNG or JPEG (what the service reads), scaled down if it is very large. */
async function asUploadable(file) {
  if ((file.type === 'image/png' || file.type === 'image/jpeg') && file.size < 6 * 2 ** 20) return file;
  const bitmap = await createImageBitmap(file);
  const scale = Math.min(1, 2400 / Math.max(bitmap.width, bitmap.height));
  const canvas = document.createElement('canvas');
  canvas.width = Math.round(bitmap.width * scale); canvas.height = Math.round(bitmap.height * scale);
  canvas.getContext('2d').drawImage(bitmap, 0, 0, canvas.width, canvas.height);
  return new Promise((resolve) => canvas.toBlob(resolve, 'image/jpeg', 0.92));
}

const TONE = { anchored: 'ok', 'valid-offline': 'ok', voided: 'warn', 'not-anchored': 'warn', 'fully-reimbursed': 'warn' };

export async function renderScan(ctx) {
  const { t, api, main, i18n, state } = ctx;
  const result = h('div', { class: 'scan-result', 'aria-live': 'polite' });
  const busy = (on) => { for (const b of main.querySelectorAll('.scan-input button, .scan-input input')) b.disabled = on; };

  /** Check what `send` sends; `again` is how to try once more when the photo was the problem. */
  async function check(send, again = null) {
    stopCamera();
    busy(true);
    clear(result, h('p', { class: 'muted' }, h('span', { class: 'spinner', 'aria-hidden': 'true' }), ' ', t('checking')));
    try {
      const verdict = await send();
      await showVerdict(verdict);
    } catch (err) {
      // a photo without a readable code is not sent again: the way on is another photo; only a
      // lost answer or a busy service is worth sending the same thing again
      const retry = isTransient(err) ? { retry: () => check(send, again) }
        : again ? { retry: again, retryLabel: t('retryPhoto') } : {};
      clear(result, ctx.errorBox(err, { title: t('scanFailed'), ...retry }));
    }
    busy(false);
    result.querySelector('h2, [role=alert]')?.setAttribute('tabindex', '-1');
    result.querySelector('h2, [role=alert]')?.focus();
  }

  async function findMine(fingerprint) {
    // the person's own invoices, then those of the family members they act for
    const people = [state.me.person, ...(state.me.delegations || []).map((d) => d.person)];
    for (const person of people) {
      const doc = await api.get(invoicesPath(person, state.me));
      const inv = (doc.invoices || []).find((i) => i.fingerprint.toLowerCase() === fingerprint.toLowerCase());
      if (inv) return { person, inv };
    }
    return null;
  }

  // the reason code read from the chain by its label; a void stamped before codes carries the hospital's text
  const voidReason = (v) => (v.reasonCode && ctx.i18n.has(`void_${v.reasonCode}`) ? t(`void_${v.reasonCode}`)
    : v.reasonCode || v.reasonOnChain);

  async function showVerdict(v) {
    const seal = v.offline && v.offline.seal;
    const online = v.online || {};
    const mine = v.valid && seal ? await findMine(seal.fingerprint).catch(() => null) : null;
    const hospital = (mine && mine.inv.hospitalName) || (seal && seal.issuer) || '';
    const tone = TONE[v.status] || 'bad';
    const sentence = ctx.i18n.has(`v_${v.status}`) ? t(`v_${v.status}`, { hospital }) : (v.reason || v.status);
    const status = h('div', { 'aria-live': 'polite' });
    let action = null;
    if (mine && mine.inv.claimable) {
      const button = h('button', { type: 'button', class: 'wide', id: 'claim-scanned' },
        mine.inv.estimateFen ? t('claimThis', { amount: yuan(mine.inv.estimateFen, i18n.lang) }) : t('claimThisZero'));
      button.addEventListener('click', () => claimOnce(ctx, { fingerprints: [mine.inv.fingerprint], person: mine.person, status, button }));
      action = [h('p', {}, t('yoursClaimable')), status, button];
    } else if (mine && mine.inv.claim) {
      action = h('p', {}, t('yoursClaimed'), ' ', h('a', { href: `#/claims/${encodeURIComponent(mine.inv.claim.id)}` }, t('viewClaim')));
    } else if (mine) {
      action = h('p', {}, t('yoursNotClaimable', { reason: reasonText(t, mine.inv.reason) }));
    } else if (v.valid) {
      action = h('p', { class: 'muted' }, t('notYours'));
    }
    clear(result, h('section', { class: `card verdict ${tone}`, dataset: { status: v.status } },
      h('h2', {}, h('span', { class: `badge ${tone}` }, tone === 'ok' ? t('verdictGenuine') : t('verdictProblem')), ' ', sentence),
      seal ? h('p', {}, t('invoiceFacts', { code: seal.invoiceCode, number: seal.invoiceNumber,
        date: day(seal.issueDate, i18n.lang), total: yuan(seal.totalFen, i18n.lang) })) : null,
      online.paidFen ? h('p', {}, t('paidSoFar', { paid: yuan(online.paidFen, i18n.lang) })) : null,
      online.void ? h('p', { class: 'void-reason' }, t('voidReasonIs', { reason: voidReason(online.void) })) : null,
      seal ? h('p', { class: 'small muted' }, t('fingerprint'), ' ', hash(seal.fingerprint)) : null,
      action,
      h('p', {}, h('button', { type: 'button', class: 'secondary', onclick: () => ctx.go('#/scan') }, t('scanAgain')))));
  }

  // -------------------------------------------------------------- camera
  const video = h('video', { playsinline: true, muted: true, 'aria-hidden': 'true', class: 'viewfinder', hidden: true });
  const camStatus = h('p', { class: 'small', 'aria-live': 'polite' });
  const camButton = h('button', { type: 'button', id: 'camera' }, t('scanStart'));
  let stream = null; let raf = 0;
  function stopCamera() {
    cancelAnimationFrame(raf); raf = 0;
    if (stream) for (const tr of stream.getTracks()) tr.stop();
    stream = null; video.hidden = true; video.srcObject = null;
    camButton.textContent = t('scanStart');
    camStatus.textContent = '';
  }
  ctx.onStop(stopCamera);
  camButton.addEventListener('click', async () => {
    if (stream) { stopCamera(); return; }
    try {
      if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) throw new Error('getUserMedia');
      const [decode, media] = await Promise.all([loadJsQR(),
        navigator.mediaDevices.getUserMedia({ video: { facingMode: 'environment' }, audio: false })]);
      stream = media;
      video.srcObject = stream; video.hidden = false;
      await video.play();
      camButton.textContent = t('scanStop');
      camStatus.textContent = t('scanning');
      const canvas = document.createElement('canvas');
      const g = canvas.getContext('2d', { willReadFrequently: true });
      let last = 0;
      const frame = (now) => {
        if (!stream) return;
        raf = requestAnimationFrame(frame);
        if (now - last < 150 || video.readyState < 2) return;
        last = now;
        const scale = Math.min(1, 720 / Math.max(video.videoWidth, video.videoHeight));
        canvas.width = Math.round(video.videoWidth * scale); canvas.height = Math.round(video.videoHeight * scale);
        g.drawImage(video, 0, 0, canvas.width, canvas.height);
        const img = g.getImageData(0, 0, canvas.width, canvas.height);
        const code = decode(img.data, img.width, img.height, { inversionAttempts: 'dontInvert' });
        if (code && code.data) {
          const payload = code.data.trim();
          check(() => api.post('/v1/verify', { payload }).then((r) => r.data));
        }
      };
      raf = requestAnimationFrame(frame);
    } catch (err) {
      stopCamera();
      camStatus.replaceChildren(ctx.errorBox(t('cameraDenied', { detail: err.name || err.message })));
    }
  });

  // -------------------------------------------------------------- photo and text
  const file = h('input', { type: 'file', id: 'photo', accept: 'image/png,image/jpeg,image/*', 'aria-describedby': 'photo-hint' });
  // a new photo: the same file chosen again must still count as a change
  const anotherPhoto = () => { file.value = ''; clear(result); file.focus(); file.click(); };
  file.addEventListener('change', () => {
    const f = file.files && file.files[0];
    if (!f) return;
    check(async () => {
      const blob = await asUploadable(f);
      return (await api.upload('/v1/verify', blob, blob.type || 'image/jpeg')).data;
    }, anotherPhoto);
  });
  const text = h('textarea', { id: 'payload', rows: '3', spellcheck: 'false', autocomplete: 'off' });
  const textForm = h('form', { novalidate: true, onsubmit: (ev) => {
    ev.preventDefault();
    const payload = text.value.trim();
    if (!payload) { text.focus(); return; }
    check(() => api.post('/v1/verify', { payload }).then((r) => r.data));
  } }, h('label', { for: 'payload' }, t('pasteLabel')), text, h('p', {}, h('button', { type: 'submit', class: 'secondary' }, t('checkText'))));

  clear(main, h('h1', {}, t('scanTitle')), h('p', { class: 'muted' }, t('scanIntro')),
    h('div', { class: 'card scan-input' }, h('p', {}, camButton), video, camStatus,
      h('label', { for: 'photo' }, t('photoLabel')), file, h('p', { class: 'hint', id: 'photo-hint' }, t('photoHint')),
      h('details', {}, h('summary', {}, t('pasteLabel')), textForm)),
    result);
}

