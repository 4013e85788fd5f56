// The citizen's sign-in, kept on this device until the e-voucher expires, and not a moment longer.
//
// Where the token lives, and why (the security trade-off; read before changing it):
// - The e-voucher is a bearer token: whoever holds it acts as the person (reads their medical bills,
//   files claims that pay into the person's own account) until it expires. The issuer bounds its
//   life (this service refuses vouchers valid for more than a day) and nothing here extends it.
// - sessionStorage, used before, is forgotten when the installed app is closed: people had to paste
//   a token every time they opened the app. localStorage survives closing -- that is the point, and
//   the cost: the token sits on the device until it expires, readable by any script of this origin.
// - What limits that cost: the CSP admits only this origin's scripts (no inline script, no framing);
//   the app builds no markup from strings (no innerHTML) and loads no third-party script; only the
//   token and its expiry are kept (no medical data; API answers are never cached, see sw.js). The
//   token is dropped as soon as its expiry passes -- at start, when the app returns to the
//   foreground, and by a timer while it is open -- on "Sign out", and on any 401 from the service.
//   The expiry is read from the voucher only to know when to forget it; the service checks the
//   signature and the expiry on every request.
// - Not chosen: an HttpOnly cookie would hide the token from scripts, but needs a server session and
//   CSRF protection on every POST of an API that is bearer-token only. The remaining risk is a shared
//   or lost phone before the voucher expires: "Sign out" forgets everything the app kept.

const KEY = 'ebill.citizen.session';        // localStorage: {"token": "...", "exp": <ms since epoch>}
const TAB = 'ebill.citizen.token';          // sessionStorage: a token whose expiry cannot be read (this tab only)
const MAX_DELAY = 2 ** 31 - 1;              // setTimeout's longest wait

/** The e-voucher's expiry (ms since the epoch) from its JWT payload, or null if it has none. */
export function voucherExpiry(token) {
  try {
    const part = token.split('.')[1];
    const b64 = part.replace(/-/g, '+').replace(/_/g, '/').padEnd(Math.ceil(part.length / 4) * 4, '=');
    const json = new TextDecoder().decode(Uint8Array.from(atob(b64), (c) => c.charCodeAt(0)));
    const exp = JSON.parse(json).exp;
    return Number.isFinite(exp) ? exp * 1000 : null;
  } catch (e) {
    return null;     // not a JWT: the service will say so
  }
}

export function makeSession({ onExpired }) {
  let timer = 0;
  let expiredAt = null;       // an expired sign-in found at start, to say so on the sign-in screen

  function read() {
    try {
      const kept = JSON.parse(localStorage.getItem(KEY) || 'null');
      if (kept && typeof kept.token === 'string' && Number.isFinite(kept.exp)) return kept;
    } catch (e) { /* unreadable: forgotten below */ }
    localStorage.removeItem(KEY);
    const tab = sessionStorage.getItem(TAB);
    return tab ? { token: tab, exp: null } : null;
  }

  function clear() {
    clearTimeout(timer);
    localStorage.removeItem(KEY);
    sessionStorage.removeItem(TAB);
  }

  /** The kept sign-in if it still holds; an expired one is forgotten (and reported once). */
  function current() {
    const s = read();
    if (s && s.exp !== null && s.exp <= Date.now()) {
      clear();
      expiredAt = new Date(s.exp).toISOString();
      return null;
    }
    return s;
  }

  function arm(exp) {
    clearTimeout(timer);
    if (exp === null) return;
    timer = setTimeout(function check() {
      if (Date.now() < exp) { timer = setTimeout(check, Math.min(exp - Date.now(), MAX_DELAY)); return; }
      clear();
      onExpired(new Date(exp).toISOString());
    }, Math.min(Math.max(0, exp - Date.now()), MAX_DELAY));
  }

  // timers do not run while the app is closed or in the background: look again when it comes back
  document.addEventListener('visibilitychange', () => {
    if (document.visibilityState !== 'visible') return;
    const s = read();
    if (s && s.exp !== null && s.exp <= Date.now()) { clear(); onExpired(new Date(s.exp).toISOString()); }
  });
  const found = current();
  if (found) arm(found.exp);

  return {
    token() { const s = current(); return s ? s.token : null; },
    expiresAt() { const s = current(); return s ? s.exp : null; },
    /** Keep `token` until it expires: 'kept', 'tab' (no readable expiry: this tab only) or 'expired'. */
    start(token) {
      clear();
      const exp = voucherExpiry(token);
      if (exp !== null && exp <= Date.now()) return 'expired';
      if (exp === null) sessionStorage.setItem(TAB, token);
      else localStorage.setItem(KEY, JSON.stringify({ token, exp }));
      arm(exp);
      return exp === null ? 'tab' : 'kept';
    },
    clear,
    /** When the sign-in found expired at start ended (ISO), once; null otherwise. */
    takeExpired() { const at = expiredAt; expiredAt = null; return at; },
  };
}
