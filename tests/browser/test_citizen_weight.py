"""The weight of the citizens' app as a person opens it: the first load of someone who signed in
before (the installed app opened again, straight to their invoices) measured in chromium, every
file it fetches, gzip as served; the screens loaded only when opened stay out of it.
"""

from __future__ import annotations

import gzip
import json
from typing import Any

import jwt
from browser_support import SHOTS, Deployment
from citizen_support import PHONE390

from api.routers.web import WEB_ROOT

FIRST_LOAD_BUDGET = 60 * 1024      # gzip bytes on the wire, headers included
LAZY = ("/app/scan.js", "/app/claims.js", "/app/invoice.js", "/app/clawback.js", "jsQR")


def _file_of(path: str) -> bytes:
    """The bytes of a first-party file as the web router serves ``path``."""
    rel = path.split("?")[0]
    if rel in ("/app/", "/app"):
        return (WEB_ROOT / "app" / "index.html").read_bytes()
    if rel.startswith("/assets/"):
        return (WEB_ROOT / rel.removeprefix("/assets/")).read_bytes()
    return (WEB_ROOT / rel.removeprefix("/")).read_bytes()


def test_a_signed_in_first_load_is_under_60_kb_gzip(browser: Any, deployment: Deployment) -> None:
    d = deployment
    token = d.citizens["zhang"].token
    exp = jwt.decode(token, options={"verify_signature": False})["exp"]
    # a fresh profile (nothing cached) holding the sign-in the app keeps: the installed app opened again
    ctx = browser.new_context(viewport=PHONE390, base_url=d.url, service_workers="block")
    ctx.add_init_script(f"localStorage.setItem('ebill.citizen.session', "
                        f"JSON.stringify({{token: {json.dumps(token)}, exp: {exp * 1000}}}))")
    try:
        page = ctx.new_page()
        finished: list[Any] = []
        page.on("requestfinished", lambda r: finished.append(r))
        page.goto("/app/", wait_until="networkidle")
        page.get_by_role("heading", name="My invoices").wait_for()
        page.locator("li.invoice").first.wait_for()
        page.wait_for_load_state("networkidle")
        app: dict[str, int] = {}
        api: dict[str, int] = {}
        for r in finished:
            path = r.url.removeprefix(d.url)
            resp = r.response()
            sizes = r.sizes()
            if path.startswith("/v1/"):
                # the API answers uncompressed; counted at what gzip makes of them
                api[path] = len(gzip.compress(resp.body(), 6)) + sizes["responseHeadersSize"]
                continue
            if sizes["responseBodySize"] == 0:      # the same file again, from the memory cache (the icon)
                continue
            app[path] = sizes["responseBodySize"] + sizes["responseHeadersSize"]
            if not resp.headers.get("content-type", "").startswith("image/png"):
                assert resp.headers.get("content-encoding") == "gzip", f"{path} was not sent gzip-compressed"
                # the bytes on the wire are the gzip of the file itself, as the web router makes it
                assert sizes["responseBodySize"] == len(gzip.compress(_file_of(path), 9, mtime=0)), path
    finally:
        ctx.close()
    total = sum(app.values())
    SHOTS.parent.mkdir(parents=True, exist_ok=True)
    (SHOTS.parent / "page-weight-signed-in.json").write_text(json.dumps(
        {"appBytes": total, "apiBytesGzip": sum(api.values()), "app": app, "api": api}, indent=1))
    assert "/app/invoices.js" in app and "/app/strings.js" in app and "/app/session.js" in app
    assert not [p for p in app if any(lazy in p for lazy in LAZY)], f"loaded before it is opened: {list(app)}"
    assert total < FIRST_LOAD_BUDGET, f"first load {total} bytes > {FIRST_LOAD_BUDGET}: {app}"
    # with what the API answered for this person (5 invoices, some claimed), compressed, it still fits
    assert total + sum(api.values()) < 2 * FIRST_LOAD_BUDGET, api
