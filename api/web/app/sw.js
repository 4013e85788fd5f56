// The citizens' app's service worker: the app shell is served from the cache and refreshed in
// the background (stale-while-revalidate), so the app opens at once and offline. API answers
// (/v1/...) are personal and live: never cached, always from the network.

const VERSION = 'ebill-app-v2';   // bump to drop every cached file at once (the files refresh themselves anyway)
const SHELL = [  // everything the first screen needs, and the scanner (not its QR decoder)
  '/app/', '/app/app.js', '/app/app.css', '/app/strings.js', '/app/invoices.js', '/app/claims.js', '/app/scan.js',
  '/app/session.js', '/app/invoice.js', '/app/clawback.js',
  '/app/manifest.webmanifest', '/app/icons/icon.svg', '/app/icons/icon-192.png',
  '/assets/shared/base.css', '/assets/shared/i18n.js', '/assets/shared/api.js', '/assets/shared/dom.js', '/assets/shared/problems.js',
];

self.addEventListener('install', (event) => {
  event.waitUntil(caches.open(VERSION).then((c) => c.addAll(SHELL)).then(() => self.skipWaiting()));
});

self.addEventListener('activate', (event) => {
  event.waitUntil(caches.keys()
    .then((keys) => Promise.all(keys.filter((k) => k.startsWith('ebill-app-') && k !== VERSION).map((k) => caches.delete(k))))
    .then(() => self.clients.claim()));
});

self.addEventListener('fetch', (event) => {
  const req = event.request;
  const url = new URL(req.url);
  if (req.method !== 'GET' || url.origin !== self.location.origin) return;
  if (!url.pathname.startsWith('/app/') && !url.pathname.startsWith('/assets/')) return;  // the API: network only
  const key = req.mode === 'navigate' ? '/app/' : url.pathname;
  event.respondWith(caches.open(VERSION).then(async (cache) => {
    const cached = await cache.match(key);
    const fresh = fetch(req).then((resp) => {
      if (resp.ok && (SHELL.includes(key) || url.pathname.startsWith('/assets/vendor/'))) cache.put(key, resp.clone());
      return resp;
    });
    if (cached) { event.waitUntil(fresh.catch(() => undefined)); return cached; }
    return fresh;
  }));
});
