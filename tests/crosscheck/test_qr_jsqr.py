"""QR images drawn by ledger.adapters.qr_image, read back by npm jsQR (a second reader no one here wrote).

zxing-cpp already reads every image in tests/integration/test_qr_image.py; jsQR is an
independent pure-JavaScript decoder (its own binariser, locator and Reed-Solomon), the
kind a browser-side verifier would ship. Every valid vector's text is drawn as a PNG and
jsQR must return exactly that text, and ``decode_qr`` must accept it.

The damaged variants are the zxing test's own transforms (loaded from that module so both
readers see the same pixels), saved as 8-bit greyscale PNGs. jsQR reads all of them.
Its limit, measured with jsQR 1.4.0 on the scale-4 image: it reads rotations up to 90°
and downscaling to 0.4 (1.6 px per module), but not 0.35 (1.4 px per module), which
zxing-cpp still reads; neither reads 0.3. Printed at the default scale that is far below
any camera's use, so the variants here stop at zxing's 0.45.

All images go to a single node process, so the module runs in about a second.
"""

from __future__ import annotations

import importlib.util
import json
import shutil
import struct
import subprocess
import zlib
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from ledger.adapters.qr_image import qr_png
from ledger.qr import decode_qr

pytestmark = pytest.mark.node

REPO = Path(__file__).resolve().parents[2]
SCRIPT = Path(__file__).with_name("qr_jsqr.js")
VECTORS = REPO / "tests" / "vectors" / "qr"
JSQR_PACKAGE = REPO / "node_modules" / "jsqr" / "package.json"
PNGJS_PACKAGE = REPO / "node_modules" / "pngjs" / "package.json"
VALID = json.loads((VECTORS / "valid.json").read_text(encoding="utf-8"))["vectors"]

Image = tuple[int, int, bytearray]  # width, height, 8-bit grey pixels (0 black, 255 white)


def _zxing_test_module() -> ModuleType:
    """tests/integration/test_qr_image.py, for its PNG reader and its scaling / rotation."""
    path = REPO / "tests" / "integration" / "test_qr_image.py"
    spec = importlib.util.spec_from_file_location("qr_image_transforms", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def grey_png(img: Image) -> bytes:
    """An 8-bit greyscale PNG of ``img`` (filter 0 on every row)."""
    w, h, px = img

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    rows = b"".join(b"\0" + bytes(px[y * w : (y + 1) * w]) for y in range(h))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 0, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b""))


# the same damage as tests/integration/test_qr_image.py::test_png_survives_downscaling_and_rotation
VARIANTS: dict[str, Callable[[ModuleType, Image], Image]] = {
    "downscaled-0.6": lambda m, i: m.scaled(i, 0.6),
    "downscaled-0.45": lambda m, i: m.scaled(i, 0.45),
    "rotated-4deg": lambda m, i: m.rotated(i, 4),
    "rotated-minus-7deg": lambda m, i: m.rotated(i, -7),
    "downscaled-and-rotated": lambda m, i: m.rotated(m.scaled(i, 0.7), 3),
}


@pytest.fixture(scope="module")
def jsqr_out(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, Any]]:
    """jsQR's result for every image, keyed by image name; one node process for the whole module."""
    if shutil.which("node") is None:
        pytest.skip("node is not on PATH")
    for package in (JSQR_PACKAGE, PNGJS_PACKAGE):
        if not package.is_file():
            pytest.skip(f"npm {package.parent.name} not installed ({package} missing): run npm ci")
    folder = tmp_path_factory.mktemp("jsqr")
    images: dict[str, bytes] = {v["name"]: qr_png(v["qr"]) for v in VALID}
    zxing_test = _zxing_test_module()
    original = zxing_test.png_to_grey(images[VALID[0]["name"]])
    for name, transform in VARIANTS.items():
        images[name] = grey_png(transform(zxing_test, original))
    files = []
    for name, png in images.items():
        files.append(folder / f"{name}.png")
        files[-1].write_bytes(png)
    done = subprocess.run(
        ["node", str(SCRIPT), *map(str, files)],
        cwd=REPO,  # so require() resolves node_modules
        capture_output=True, text=True, timeout=60, check=False,
    )
    assert done.returncode == 0, f"node failed:\n{done.stderr}"
    out = json.loads(done.stdout)
    assert out["jsqr"].startswith("1."), out["jsqr"]
    assert [r["file"] for r in out["results"]] == [f.name for f in files]
    return {r["file"].removesuffix(".png"): r for r in out["results"]}


@pytest.mark.parametrize("vector", VALID, ids=lambda v: v["name"])
def test_jsqr_reads_the_exact_text(jsqr_out: dict[str, dict[str, Any]], vector: dict[str, Any]) -> None:
    result = jsqr_out[vector["name"]]
    assert result["text"] == vector["qr"]
    assert result["version"] == 8  # 49 x 49 modules, as docs/qr-payload.md promises
    assert decode_qr(result["text"]).encode() == vector["qr"]


@pytest.mark.parametrize("variant", VARIANTS)
def test_jsqr_reads_downscaled_and_rotated_images(jsqr_out: dict[str, dict[str, Any]], variant: str) -> None:
    assert jsqr_out[variant]["text"] == VALID[0]["qr"]


def test_grey_png_round_trips_through_the_zxing_test_reader() -> None:
    """The PNG writer above is what the variants depend on: check it against the zxing test's reader."""
    img = (3, 2, bytearray([0, 128, 255, 255, 1, 0]))
    assert _zxing_test_module().png_to_grey(grey_png(img)) == img
