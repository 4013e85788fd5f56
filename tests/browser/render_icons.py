"""Renders the app's PNG icons from ``api/web/app/icons/icon.svg`` with chromium.

``python tests/browser/render_icons.py`` rewrites ``icon-192.png`` and ``icon-512.png``;
``test_icons.py`` fails when they no longer match the SVG.
"""

from __future__ import annotations

import base64
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from browser_support import launch

ICONS = Path(__file__).resolve().parents[2] / "api" / "web" / "app" / "icons"
SIZES = (192, 512)


def render(page: object, size: int) -> bytes:
    """The SVG icon as a ``size`` x ``size`` PNG."""
    svg = base64.b64encode((ICONS / "icon.svg").read_bytes()).decode()
    page.set_viewport_size({"width": size, "height": size})  # type: ignore[attr-defined]
    page.set_content(  # type: ignore[attr-defined]
        f'<html><body style="margin:0;background:transparent"><img src="data:image/svg+xml;base64,{svg}" '
        f'width="{size}" height="{size}" style="display:block"></body></html>')
    return page.screenshot(omit_background=True)  # type: ignore[attr-defined,no-any-return]


def main() -> None:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = launch(p)
        page = browser.new_page()  # type: ignore[attr-defined]
        for size in SIZES:
            (ICONS / f"icon-{size}.png").write_bytes(render(page, size))
            print(f"wrote {ICONS / f'icon-{size}.png'}")
        browser.close()  # type: ignore[attr-defined]


if __name__ == "__main__":
    main()
