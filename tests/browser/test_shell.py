"""What both front ends stand on, in chromium: page weight, every module loads, both string tables,
the service worker and offline start, languages, keyboard use, and the generated icons.
"""

from __future__ import annotations

import io
import json
from typing import Any

import render_icons
from browser_support import PHONE, SHOTS, Deployment

from api.routers.web import WEB_ROOT

FIRST_LOAD_BUDGET = 60 * 1024      # gzip bytes on the wire, the QR decoder excluded (it loads only to scan)


def test_first_load_of_the_citizens_app_is_small(browser: Any, deployment: Deployment) -> None:
    ctx = browser.new_context(viewport=PHONE, base_url=deployment.url, service_workers="block")
    page = ctx.new_page()
    finished: list[Any] = []
    page.on("requestfinished", lambda request: finished.append(request))
    page.goto("/app/", wait_until="networkidle")
    page.get_by_role("heading", name="Sign in").wait_for()
    sizes = {r.url.removeprefix(deployment.url): r.sizes()["responseBodySize"] + r.sizes()["responseHeadersSize"]
             for r in finished}
    ctx.close()
    total = sum(sizes.values())
    SHOTS.parent.mkdir(parents=True, exist_ok=True)
    (SHOTS.parent / "page-weight.json").write_text(json.dumps({"firstLoadBytes": total, "files": sizes}, indent=1))
    assert not any("jsQR" in url or "scan.js" in url for url in sizes), "the QR decoder loads only to scan"
    assert total < FIRST_LOAD_BUDGET, f"first load {total} bytes > {FIRST_LOAD_BUDGET}: {sizes}"


def test_every_module_parses_and_loads(page_for: Any) -> None:
    """Lazily loaded modules too: a syntax error there would only show when a user opens that screen.
    (The two entry modules, app.js and console.js, run their app when imported: other tests load them.)"""
    page = page_for(PHONE)
    page.goto("/console/")
    urls = []
    for path in sorted(WEB_ROOT.rglob("*.js")):
        rel = path.relative_to(WEB_ROOT).as_posix()
        if rel.startswith("vendor/") or path.name in ("sw.js", "app.js", "console.js"):
            continue
        urls.append(f"/assets/{rel}" if rel.startswith("shared/") else f"/{rel}")
    failed = page.evaluate("""async (urls) => {
        const bad = [];
        for (const u of urls) { try { await import(u); } catch (e) { bad.push(u + ': ' + e); } }
        return bad; }""", urls)
    assert len(urls) >= 12 and not failed, failed


def test_every_string_is_in_both_languages(page_for: Any) -> None:
    """Both tables have the same keys, and every key the code looks up literally is in them."""
    import re

    page = page_for(PHONE)
    page.goto("/console/")
    for app in ("app", "console"):
        tables = page.evaluate(f"""import('/{app}/strings.js').then(m => Object.fromEntries(
            Object.entries(m.STRINGS).map(([lang, t]) => [lang, Object.keys(t).sort()])))""")
        assert tables["en"] == tables["zh-CN"], set(tables["en"]) ^ set(tables["zh-CN"])
        used = set()
        for path in (WEB_ROOT / app).glob("*.js"):
            used |= set(re.findall(r"\bt\('([\w-]+)'", path.read_text()))
        assert len(used) > 30, used
        missing = used - set(tables["en"])
        assert not missing, f"{app}: keys used but not in the tables: {missing}"


def test_service_worker_serves_the_shell_offline(browser: Any, deployment: Deployment) -> None:
    ctx = browser.new_context(viewport=PHONE, base_url=deployment.url)
    try:
        page = ctx.new_page()
        page.goto("/app/")
        page.evaluate("navigator.serviceWorker.ready.then(() => true)")
        page.wait_for_function("navigator.serviceWorker.controller !== null || caches.has('ebill-app-v1')")
        page.wait_for_function("caches.open('ebill-app-v1').then(c => c.keys()).then(k => k.length >= 14)")
        ctx.set_offline(True)
        page.locator("#offline").wait_for()                           # the app says it is offline
        page.reload()
        page.get_by_role("heading", name="Sign in").wait_for()
        page.locator("#token").fill("anything")
        page.get_by_role("button", name="Sign in").click()
        page.get_by_role("alert").filter(has_text="No connection").wait_for()   # offline says so, with a way on
    finally:
        ctx.close()


def test_language_follows_the_browser_and_the_toggle(page_for: Any) -> None:
    zh = page_for(PHONE, "zh-CN")
    zh.goto("/app/")
    zh.get_by_role("heading", name="登录").wait_for()
    assert zh.title().startswith("医疗电子票据报销")
    zh.get_by_role("button", name="切换为英文").click()
    zh.get_by_role("heading", name="Sign in").wait_for()
    assert zh.locator("html").get_attribute("lang") == "en"
    en = page_for(PHONE, "en-GB")
    en.goto("/console/")
    en.get_by_role("heading", name="Staff sign-in").wait_for()


def test_keyboard_only_sign_in_shows_focus(page_for: Any, deployment: Deployment) -> None:
    page = page_for(PHONE)
    page.goto("/app/")
    page.get_by_role("heading", name="Sign in").wait_for()
    assert page.evaluate("document.activeElement.id") == "token"                 # focus starts in the form
    page.keyboard.type(deployment.citizens["chen"].token)
    page.keyboard.press("Tab")
    page.keyboard.press("Enter")                                                  # the submit button
    page.get_by_role("heading", name="My invoices").wait_for()
    page.locator("li.invoice").first.wait_for()
    assert page.evaluate("document.activeElement.tagName") == "H1"               # focus follows the new screen
    # an invoice the hospital voided is shown, with why it cannot be claimed (no checkbox)
    voided = page.locator(f'li.invoice[data-fingerprint="{deployment.citizens["chen"].fingerprints[-1]}"]')
    assert "the hospital voided this invoice" in voided.inner_text() and voided.locator("input").count() == 0
    page.keyboard.press("Tab")
    outline = page.evaluate("getComputedStyle(document.activeElement).outlineStyle")
    assert outline != "none", "the focused control must show a focus ring"
    # every checkbox and button has an accessible name
    unnamed = page.evaluate("""[...document.querySelectorAll('button, input, select, textarea, a')]
        .filter(e => !(e.getAttribute('aria-label') || e.labels?.length || e.textContent.trim()))
        .map(e => e.outerHTML.slice(0, 80))""")
    assert not unnamed, unnamed


def test_app_icons_match_their_svg(browser: Any) -> None:
    """The PNG icons are rendered from icon.svg by render_icons.py; re-render and compare."""
    from PIL import Image, ImageChops

    page = browser.new_page()
    try:
        for size in render_icons.SIZES:
            fresh = Image.open(io.BytesIO(render_icons.render(page, size))).convert("RGBA")
            stored = Image.open(render_icons.ICONS / f"icon-{size}.png").convert("RGBA")
            assert stored.size == (size, size)
            diff = ImageChops.difference(fresh, stored).convert("L")
            mean = sum(i * n for i, n in enumerate(diff.histogram())) / (size * size)
            assert mean < 2.0, f"icon-{size}.png is stale: run python tests/browser/render_icons.py"
    finally:
        page.close()
