"""Fixtures for the browser tests: one Playwright driver and one chromium per session, one
``ebill serve`` (with its anvil node) in a throw-away home for the whole session, and a fresh
browser context per page; screenshots of what the pages showed when a test fails.

Skips when chromium (or Playwright) is missing, unless ``EBILL_REQUIRE_CHROMIUM=1``.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from browser_support import PHONE, Deployment, chromium_required, launch, shoot, start, stop, unavailable


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Tests that drive chromium are marked ``browser`` (``-m "not browser"`` leaves them out)."""
    here = Path(__file__).parent
    for item in items:
        if Path(str(item.fspath)).is_relative_to(here) and "playwright" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.browser)


@pytest.fixture(scope="session")
def playwright() -> Iterator[Any]:
    """Playwright's driver (one per session: its sync API cannot be started twice)."""
    why = unavailable()
    if why is not None:
        if chromium_required():
            pytest.fail(f"EBILL_REQUIRE_CHROMIUM=1 but {why}", pytrace=False)
        pytest.skip(f"browser tests skipped: {why}")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        yield p


@pytest.fixture(scope="session")
def browser(playwright: Any) -> Iterator[Any]:
    b = launch(playwright)
    try:
        yield b
    finally:
        b.close()


@pytest.fixture(scope="session")
def deployment(browser: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    d = start(tmp_path_factory.mktemp("ebill-browser"))
    try:
        yield d
    finally:
        stop(d)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    report = yield
    if report.when == "call" and report.failed:
        item.failed_call = True  # type: ignore[attr-defined]
    return report


@pytest.fixture
def page_for(request: pytest.FixtureRequest, browser: Any, deployment: Deployment) -> Iterator[Any]:
    """``page_for(size, lang)``: a fresh browser context (own storage) on the service."""
    contexts: list[Any] = []
    errors: list[str] = []

    def make(size: dict[str, int] = PHONE, lang: str = "en-US") -> Any:
        ctx = browser.new_context(viewport=size, locale=lang, base_url=deployment.url, service_workers="block")
        contexts.append(ctx)
        page = ctx.new_page()
        page.on("pageerror", lambda e: errors.append(f"page error: {e}"))
        page.on("console", lambda m: errors.append(f"console {m.type}: {m.text}") if m.type == "error" else None)
        page.set_default_timeout(15_000)
        return page

    yield make
    if getattr(request.node, "failed_call", False):   # what the pages showed when the test failed
        for i, ctx in enumerate(contexts):
            for j, page in enumerate(ctx.pages):
                with contextlib.suppress(Exception):
                    shoot(page, f"FAILED-{request.node.name}-{i}-{j}")
    for ctx in contexts:
        ctx.close()
    # a refused request (4xx) logs a console error by design; script errors and CSP violations must not happen
    bad = [e for e in errors if "Failed to load resource" not in e]
    assert not bad, "\n".join(bad)


