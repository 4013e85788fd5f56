"""The web router alone (no browser, no chain): redirects, content types, gzip, ETags, cache
policy, the Content-Security-Policy, paths that must not resolve, and the shell's weight."""

from __future__ import annotations

import gzip

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from api.routers import web
from api.routers.web import WEB_ROOT

FIRST_LOAD_BUDGET = 60 * 1024


@pytest.fixture(scope="module")
def client() -> TestClient:
    app = FastAPI()
    app.include_router(web.router)
    return TestClient(app)


def test_root_redirects_to_the_app(client: TestClient) -> None:
    for path, target in (("/", "/app/"), ("/app", "/app/"), ("/console", "/console/")):
        r = client.get(path, follow_redirects=False)
        assert r.status_code == 307 and r.headers["location"] == target


@pytest.mark.parametrize("path", ["/app/", "/console/"])
def test_html_is_revalidated_compressed_and_locked_down(client: TestClient, path: str) -> None:
    r = client.get(path, headers={"Accept-Encoding": "gzip"})
    assert r.status_code == 200 and r.headers["content-type"] == "text/html; charset=utf-8"
    assert r.headers["content-encoding"] == "gzip" and r.headers["vary"] == "Accept-Encoding"
    assert r.headers["cache-control"] == "no-cache"
    csp = r.headers["content-security-policy"]
    for directive in ("default-src 'self'", "script-src 'self'", "style-src 'self'", "object-src 'none'",
                      "frame-ancestors 'none'", "base-uri 'none'"):
        assert directive in csp
    assert "unsafe-inline" not in csp and "unsafe-eval" not in csp
    assert r.headers["x-content-type-options"] == "nosniff" and r.headers["referrer-policy"] == "no-referrer"
    again = client.get(path, headers={"If-None-Match": r.headers["etag"]})
    assert again.status_code == 304 and again.content == b"" and again.headers["etag"] == r.headers["etag"]
    plain = client.get(path, headers={"Accept-Encoding": "identity"})
    assert "content-encoding" not in plain.headers and plain.text.startswith("<!doctype html>")


def test_types_and_cache_policy(client: TestClient) -> None:
    cases = {
        "/app/app.js": ("text/javascript; charset=utf-8", "no-cache"),
        "/app/sw.js": ("text/javascript; charset=utf-8", "no-cache"),
        "/app/manifest.webmanifest": ("application/manifest+json", "no-cache"),
        "/app/icons/icon.svg": ("image/svg+xml", "no-cache"),
        "/app/icons/icon-192.png": ("image/png", "no-cache"),
        "/assets/shared/base.css": ("text/css; charset=utf-8", "no-cache"),
        "/assets/vendor/jsQR-1.4.0.js": ("text/javascript; charset=utf-8", "public, max-age=31536000, immutable"),
    }
    for path, (media, cache) in cases.items():
        r = client.get(path)
        assert r.status_code == 200, path
        assert (r.headers["content-type"], r.headers["cache-control"]) == (media, cache), path
    assert client.get("/app/icons/icon-192.png", headers={"Accept-Encoding": "gzip"}).headers.get(
        "content-encoding") is None                                          # PNG is compressed already
    assert "Apache License" in client.get("/assets/vendor/jsQR-1.4.0.LICENSE.txt").text
    icons = client.get("/app/manifest.webmanifest").json()["icons"]
    assert {i["sizes"] for i in icons} >= {"192x192", "512x512"} and all(client.get(i["src"]).status_code == 200
                                                                         for i in icons)


@pytest.mark.parametrize("path", ["/assets/../api/app.py", "/assets/shared/../../routers/web.py", "/app/.hidden",
                                  "/app/%2e%2e/console/index.html", "/assets/other/x.js", "/app/nothing-here.js",
                                  "/assets/vendor/", "/app/icons/", "/app/%00index.html", "/app/index.html%00",
                                  "/console/%0aindex.html", "/assets/shared/%1b.css", "/app/%7f"])
def test_nothing_outside_the_web_folder_or_missing_resolves(client: TestClient, path: str) -> None:
    assert client.get(path).status_code == 404, path


def test_no_inline_script_or_style_in_the_html() -> None:
    for page in (WEB_ROOT / "app" / "index.html", WEB_ROOT / "console" / "index.html"):
        html = page.read_text()
        for inline in ("<script>", "<style", " style=", " onclick=", " onload="):
            assert inline not in html, (page.name, inline)


def test_the_shell_fits_the_budget() -> None:
    """The citizens' first load as the server compresses it (the browser test measures it on the wire)."""
    shell = ["app/index.html", "app/app.js", "app/app.css", "app/strings.js", "app/invoices.js", "shared/problems.js",
             "app/session.js",
             "shared/base.css", "shared/i18n.js", "shared/api.js", "shared/dom.js", "app/icons/icon.svg"]
    total = sum(len(gzip.compress((WEB_ROOT / f).read_bytes(), 9)) for f in shell)
    assert total < FIRST_LOAD_BUDGET - 8 * 1024, total   # room for the headers
