"""The browser front ends, served as static files: the citizens' phone app and the staff console.

- ``/app/``: the citizens' installable web app (PWA: manifest, service worker, icons);
- ``/console/``: the payer and auditor console;
- ``/assets/shared/…`` (code and styles both use) and ``/assets/vendor/…`` (third-party
  files, their names carry their version);
- ``/`` redirects to ``/app/``.

There is no build step: the files under ``api/web/`` are what the browser gets. Each is
read once (again when it changes on disk), with its gzip form and a content-hash ETag.

Caching: HTML, the service worker and the manifest are ``no-cache`` (revalidated with
the ETag every time, so a deploy is seen at once); the other first-party files too, as
their names carry no content hash and the service worker already answers them from its
cache; vendor files are immutable for a year. Every answer carries a strict
Content-Security-Policy: scripts, styles, images and API calls only from this origin,
no inline script or style, no framing.
"""

from __future__ import annotations

import gzip
import hashlib
import threading
from dataclasses import dataclass
from pathlib import Path

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

router = APIRouter(include_in_schema=False)

WEB_ROOT = Path(__file__).resolve().parents[1] / "web"

CSP = "; ".join([
    "default-src 'self'", "script-src 'self'", "style-src 'self'", "img-src 'self' data: blob:",
    "media-src 'self' blob:", "connect-src 'self'", "worker-src 'self'", "manifest-src 'self'",
    "font-src 'self'", "object-src 'none'", "base-uri 'none'", "form-action 'self'", "frame-ancestors 'none'",
])
SECURITY_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Permissions-Policy": "camera=(self), microphone=(), geolocation=()",
    "Cross-Origin-Opener-Policy": "same-origin",
}

_TYPES = {
    ".html": "text/html; charset=utf-8", ".js": "text/javascript; charset=utf-8", ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml", ".png": "image/png", ".webmanifest": "application/manifest+json",
    ".json": "application/json", ".txt": "text/plain; charset=utf-8",
}
_COMPRESSIBLE = {".html", ".js", ".css", ".svg", ".webmanifest", ".json", ".txt"}
_NO_CACHE = "no-cache"
_IMMUTABLE = "public, max-age=31536000, immutable"


@dataclass(frozen=True)
class Asset:
    """One file as served: its bytes, gzip form (if worth it), ETag and headers."""

    body: bytes
    gzipped: bytes | None
    etag: str
    media_type: str
    cache_control: str
    mtime_ns: int


class AssetCache:
    """Files under ``root`` read once, re-read when their modification time changes."""

    def __init__(self, root: Path) -> None:
        self.root = root.resolve()
        self._lock = threading.Lock()
        self._assets: dict[Path, Asset] = {}

    def get(self, relative: str) -> Asset | None:
        """The asset at ``relative`` (a URL path below the root), or None if there is no such file."""
        if not relative or any(part.startswith(".") or part == "" for part in relative.split("/")):
            return None
        if not relative.isprintable():  # NUL and other control characters name no file (and NUL made stat() raise)
            return None
        path = (self.root / relative).resolve()
        if not path.is_relative_to(self.root) or path.suffix not in _TYPES:
            return None
        try:
            mtime = path.stat().st_mtime_ns
        except OSError:
            return None
        with self._lock:
            cached = self._assets.get(path)
        if cached is not None and cached.mtime_ns == mtime:
            return cached
        try:
            body = path.read_bytes()
        except OSError:
            return None
        asset = Asset(
            body=body,
            gzipped=gzip.compress(body, 9, mtime=0) if path.suffix in _COMPRESSIBLE else None,
            etag='"' + hashlib.sha256(body).hexdigest()[:32] + '"',
            media_type=_TYPES[path.suffix],
            cache_control=_IMMUTABLE if relative.startswith("vendor/") else _NO_CACHE,
            mtime_ns=mtime,
        )
        with self._lock:
            self._assets[path] = asset
        return asset


_assets = AssetCache(WEB_ROOT)


def _serve(request: Request, relative: str) -> Response:
    asset = _assets.get(relative)
    if asset is None:
        return Response("not found", status_code=404, media_type="text/plain", headers=SECURITY_HEADERS)
    headers = {**SECURITY_HEADERS, "ETag": asset.etag, "Cache-Control": asset.cache_control}
    if asset.gzipped is not None:
        headers["Vary"] = "Accept-Encoding"
    if asset.etag in (t.strip() for t in request.headers.get("if-none-match", "").split(",")):
        return Response(status_code=304, headers=headers)
    body = asset.body
    if asset.gzipped is not None and "gzip" in request.headers.get("accept-encoding", ""):
        body = asset.gzipped
        headers["Content-Encoding"] = "gzip"
    return Response(body, media_type=asset.media_type, headers=headers)


@router.api_route("/", methods=["GET", "HEAD"])
def root() -> RedirectResponse:
    return RedirectResponse("/app/", status_code=307)


@router.get("/app")
@router.get("/console")
def add_slash(request: Request) -> RedirectResponse:
    return RedirectResponse(request.url.path + "/", status_code=307)


@router.api_route("/app/{path:path}", methods=["GET", "HEAD"])
def citizen_app(request: Request, path: str) -> Response:
    """The citizens' app (it routes by the URL's hash, so every screen is ``/app/``)."""
    return _serve(request, "app/" + (path or "index.html"))


@router.api_route("/console/{path:path}", methods=["GET", "HEAD"])
def console(request: Request, path: str) -> Response:
    return _serve(request, "console/" + (path or "index.html"))


@router.api_route("/assets/{path:path}", methods=["GET", "HEAD"])
def assets(request: Request, path: str) -> Response:
    if not path.startswith(("shared/", "vendor/")):
        return Response("not found", status_code=404, media_type="text/plain", headers=SECURITY_HEADERS)
    return _serve(request, path)
