"""Scanning with the phone camera: chromium's fake capture device plays a video of a printed QR
code; the app opens the camera, loads the QR decoder (jsQR) only then, decodes the frames and
checks the code with the service."""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from browser_support import PHONE, Deployment, launch, shoot_both, sign_in


def y4m_of(png: bytes, path: Path, *, width: int = 640, height: int = 480, frames: int = 10) -> Path:
    """A still video (YUV4MPEG2, 4:2:0) of the QR code on a sheet of paper, for --use-file-for-fake-video-capture."""
    from PIL import Image

    qr = Image.open(io.BytesIO(png)).convert("RGB")
    side = int(height * 0.8)
    frame = Image.new("RGB", (width, height), (236, 233, 226))
    frame.paste(qr.resize((side, side), Image.Resampling.NEAREST), ((width - side) // 2, (height - side) // 2))
    y, cb, cr = frame.convert("YCbCr").split()
    half = (width // 2, height // 2)
    chroma = [c.resize(half, Image.Resampling.BILINEAR).tobytes() for c in (cb, cr)]
    planes = y.tobytes() + chroma[0] + chroma[1]
    with path.open("wb") as f:
        f.write(f"YUV4MPEG2 W{width} H{height} F10:1 Ip A1:1 C420jpeg\n".encode())
        for _ in range(frames):
            f.write(b"FRAME\n" + planes)
    return path


@pytest.fixture
def camera_browser(playwright: Any, deployment: Deployment, tmp_path: Path) -> Iterator[Any]:
    """A second chromium whose camera films the QR code of one of chen's invoices."""
    fp = deployment.citizens["chen"].fingerprints[1]
    png = deployment.http("GET", f"/v1/invoices/{fp}/qr.png", deployment.tokens["auditor"]).content
    video = y4m_of(png, tmp_path / "qr.y4m")
    b = launch(playwright, "--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream",
               f"--use-file-for-fake-video-capture={video}")
    try:
        yield b
    finally:
        b.close()


def test_scan_with_the_camera(camera_browser: Any, deployment: Deployment) -> None:
    d = deployment
    ctx = camera_browser.new_context(viewport=PHONE, base_url=d.url, service_workers="block", permissions=["camera"])
    try:
        page = ctx.new_page()
        scripts: list[str] = []
        page.on("request", lambda r: scripts.append(r.url) if r.resource_type == "script" else None)
        sign_in(page, "/app/#/scan", d.citizens["chen"].token)
        page.get_by_role("heading", name="Check a paper invoice").wait_for()
        assert not any("jsQR" in u for u in scripts)             # the decoder is not loaded until the camera opens
        page.get_by_role("button", name="Start camera").click()
        verdict = page.locator(".verdict")
        verdict.wait_for(timeout=20_000)
        assert any("jsQR-1.4.0.js" in u for u in scripts)
        assert verdict.get_attribute("data-status") == "anchored"
        assert "This invoice is yours" in verdict.inner_text()
        assert page.locator("video.viewfinder").is_hidden()        # the camera is off once the code is read
        shoot_both(page, "app-scan-camera-verdict")
    finally:
        ctx.close()
