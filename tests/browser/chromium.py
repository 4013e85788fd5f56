"""Debian's chromium driven by Playwright (never a downloaded browser), for the browser tests.

``EBILL_CHROMIUM`` overrides the binary (default ``/usr/bin/chromium``). Without it the
browser tests skip, unless ``EBILL_REQUIRE_CHROMIUM=1`` (``./dev test`` sets it in CI once
it has installed chromium), which makes them fail instead.
"""

from __future__ import annotations

import os
from pathlib import Path

BINARY_ENV = "EBILL_CHROMIUM"
REQUIRE_ENV = "EBILL_REQUIRE_CHROMIUM"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def binary() -> Path:
    return Path(os.environ.get(BINARY_ENV) or "/usr/bin/chromium")


def missing() -> str | None:
    """Why the browser tests cannot run here, or None."""
    path = binary()
    if not os.access(path, os.X_OK):
        return (f"no chromium at {path} ({BINARY_ENV} overrides it); `./dev test` installs Debian's chromium "
                "when run as root")
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError as exc:
        return f"the playwright package is not installed: {exc}"
    return None


def required() -> bool:
    return os.environ.get(REQUIRE_ENV, "") == "1"


def launch(playwright: object) -> object:
    """A headless chromium from ``playwright`` (a ``sync_playwright()`` instance)."""
    return playwright.chromium.launch(executable_path=str(binary()), args=ARGS)  # type: ignore[attr-defined]
