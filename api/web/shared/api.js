// The service's JSON API: bearer token, problem+json errors as ApiError, retries with one
// Idempotency-Key for the requests that carry one.

export class ApiError extends Error {
  constructor(status, problem) {
    super(problem.detail || problem.title || `HTTP ${status}`);
    this.status = status;           // 0: no answer (offline, connection lost)
    this.problem = problem;         // {type, title, status, detail, errors[]}
  }
  get kind() { return (this.problem.type || '').split('/').pop(); }
  /** Every message the problem carries: its detail and each field problem (long hashes shortened). */
  messages() {
    const out = [this.message.replace(/0x([0-9a-f]{6})[0-9a-f]{52}([0-9a-f]{6})/gi, '0x$1…$2')];
    for (const e of this.problem.errors || []) {
      const m = e.field && e.field !== '(body)' ? `${e.field}: ${e.message}` : e.message;
      if (m && !out.some((o) => o.includes(m))) out.push(m);   // the detail often says it already
    }
    return out;
  }
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

export function idempotencyKey() {
  if (crypto.randomUUID) return crypto.randomUUID();
  const b = crypto.getRandomValues(new Uint8Array(16));
  return Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');
}

export function makeClient({ token, onUnauthorized }) {
  async function once(method, path, { json, body, type, key } = {}) {
    const headers = { Accept: 'application/json, application/problem+json' };
    const t = token();
    if (t) headers.Authorization = `Bearer ${t}`;
    if (key) headers['Idempotency-Key'] = key;
    if (json !== undefined) { headers['Content-Type'] = 'application/json'; body = JSON.stringify(json); }
    else if (type) headers['Content-Type'] = type;
    let resp;
    try {
      resp = await fetch(path, { method, headers, body, cache: 'no-store', credentials: 'omit' });
    } catch (e) {
      throw new ApiError(0, { title: 'network', detail: '' });
    }
    const ctype = resp.headers.get('content-type') || '';
    const doc = ctype.includes('json') ? await resp.json().catch(() => ({})) : {};
    if (!resp.ok) {
      if (resp.status === 401 && onUnauthorized) onUnauthorized();
      throw new ApiError(resp.status, ctype.includes('json') ? doc : { title: resp.statusText });
    }
    return { status: resp.status, data: doc };
  }

  /** A request that may be repeated safely: retried on no answer or a 5xx, with the same key. */
  async function retried(method, path, opts = {}, attempts = 4) {
    for (let i = 1; ; i++) {
      try {
        return await once(method, path, opts);
      } catch (e) {
        const transient = e instanceof ApiError && (e.status === 0 || e.status === 502 || e.status === 503 || e.status === 504);
        if (!transient || i >= attempts) throw e;
        await sleep(400 * 2 ** (i - 1));
      }
    }
  }

  return {
    get: (path) => retried('GET', path).then((r) => r.data),
    put: (path, json) => retried('PUT', path, { json }).then((r) => r.data),   // PUT is idempotent
    post: (path, json, key) => (key ? retried('POST', path, { json, key }) : once('POST', path, { json })),
    upload: (path, blob, type) => once('POST', path, { body: blob, type }),
  };
}
