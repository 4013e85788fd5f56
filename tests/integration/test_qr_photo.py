"""Photos of QR codes: ledger.adapters.qr_image.read_photo, the one reader of POST /v1/verify and ebill verify.

Decompression bombs are made here as an attacker would: a PNG header declaring a huge
image, and IDAT holding zlib-compressed zero rows (a few hundred KB for 144 or 256 MP).
"""

from __future__ import annotations

import io
import json
import resource
import struct
import subprocess
import sys
import time
import zlib
from pathlib import Path

import pytest
from PIL import Image
from typer.testing import CliRunner

from ledger.adapters.qr_image import MAX_PHOTO_PIXELS, qr_png, read_photo
from ledger.cli import app
from ledger.errors import InvalidInput, PhotoTooLarge

ROOT = Path(__file__).resolve().parents[2]
VECTORS = ROOT / "tests" / "vectors" / "qr"
SEALS = [v["qr"] for v in json.loads((VECTORS / "valid.json").read_text(encoding="utf-8"))["vectors"]]


def png_bomb(width: int, height: int, *, rgb: bool) -> bytes:
    """A valid PNG of black pixels, ``width`` x ``height``, compressed row by row (cheap to make)."""
    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    row = b"\x00" * (1 + width * (3 if rgb else 1))
    z = zlib.compressobj(9)
    idat = b"".join(z.compress(row) for _ in range(height)) + z.flush()
    header = struct.pack(">IIBBBBB", width, height, 8, 2 if rgb else 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


@pytest.fixture(scope="module")
def bombs() -> dict[str, bytes]:
    return {"16000 grey": png_bomb(16_000, 16_000, rgb=False), "12000 rgb": png_bomb(12_000, 12_000, rgb=True)}


def _photo(text: str, fmt: str = "PNG", *, scale: int = 6) -> bytes:
    image = Image.open(io.BytesIO(qr_png(text, scale=scale))).convert("RGB").rotate(4, expand=True, fillcolor="white")
    out = io.BytesIO()
    image.save(out, format=fmt, **({"quality": 60} if fmt == "JPEG" else {}))
    return out.getvalue()


@pytest.mark.parametrize("fmt", ["PNG", "JPEG"])
def test_a_photo_of_a_seal_is_read(fmt: str) -> None:
    assert read_photo(_photo(SEALS[0], fmt)) == SEALS[0]


def test_bombs_are_refused_from_the_header_in_a_moment(bombs: dict[str, bytes]) -> None:
    for name, data in bombs.items():
        assert len(data) < 500_000, name
        start = time.perf_counter()
        with pytest.raises(PhotoTooLarge) as caught:
            read_photo(data)
        assert time.perf_counter() - start < 1.0, name
        assert "a photo of a QR code needs at most 20 MP" in str(caught.value)
    with pytest.raises(PhotoTooLarge, match=r"12,000 x 12,000 pixels \(144 MP\)"):
        read_photo(bombs["12000 rgb"])


def test_a_bomb_costs_no_memory(tmp_path: Path, bombs: dict[str, bytes]) -> None:
    """Peak RSS of a fresh process reading the 12,000 x 12,000 RGB bomb (1.4 GB before the fix)."""
    path = tmp_path / "bomb.png"
    path.write_bytes(bombs["12000 rgb"])
    code = ("import resource, sys\nfrom ledger.adapters.qr_image import read_photo\n"
            "from ledger.errors import PhotoTooLarge\n"
            "data = open(sys.argv[1], 'rb').read()\nbefore = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss\n"
            "try:\n    read_photo(data)\nexcept PhotoTooLarge:\n    pass\n"
            "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before)")
    done = subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True, text=True, check=True,
                          env={"PYTHONPATH": str(ROOT)}, timeout=60)
    assert int(done.stdout.strip()) < 20_000  # KiB


def test_the_largest_photo_allowed_is_decoded_in_greyscale(tmp_path: Path) -> None:
    side = int(MAX_PHOTO_PIXELS**0.5)
    data = png_bomb(side, side, rgb=True)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    with pytest.raises(InvalidInput) as caught:
        read_photo(data)
    assert caught.value.problems[0].rule == "qr-not-found"
    # 20 MP: 80 MB as Pillow's RGB, 20 MB in grey; the peak stays well under what 144 MP cost
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before < 300_000


@pytest.mark.parametrize(("data", "rule", "message"), [
    (b"not an image", "image", "not a PNG or JPEG image"),
    (b"GIF89a" + b"\x00" * 100, "image", "not a PNG or JPEG image"),
    (png_bomb(40, 40, rgb=False)[:50], "image", "not a readable PNG or JPEG image"),
    (png_bomb(40, 40, rgb=False), "qr-not-found", "no QR code found in the image"),
])
def test_unreadable_photos_say_why(data: bytes, rule: str, message: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        read_photo(data, name="photo.png")
    p = caught.value.problems[0]
    assert (p.field, p.rule) == ("photo.png", rule) and p.message.startswith(message)


def test_two_seals_in_one_photo_are_refused_but_another_code_beside_one_is_not() -> None:
    def side_by_side(*texts: str) -> bytes:
        images = [Image.open(io.BytesIO(qr_png(t, scale=4))).convert("L") for t in texts]
        canvas = Image.new("L", (sum(i.width for i in images) + 40, max(i.height for i in images)), 255)
        x = 0
        for i in images:
            canvas.paste(i, (x, 0))
            x += i.width + 40
        out = io.BytesIO()
        canvas.save(out, format="PNG")
        return out.getvalue()

    with pytest.raises(InvalidInput) as caught:
        read_photo(side_by_side(SEALS[0], SEALS[1]))
    assert caught.value.problems[0].rule == "qr-several"
    assert read_photo(side_by_side(SEALS[0], "HTTPS://EXAMPLE.COM/")) == SEALS[0]


def test_the_cli_gives_the_same_reasons(tmp_path: Path, bombs: dict[str, bytes]) -> None:
    cases = {"bomb.png": (bombs["12000 rgb"], "144 MP); a photo of a QR code needs at most 20 MP"),
             "blank.png": (png_bomb(40, 40, rgb=False), "no QR code found in the image"),
             "text.jpg": (b"hello", "not a PNG or JPEG image")}
    # the photo is read before any chain is opened: the RPC URL here answers nothing
    for name, (data, reason) in cases.items():
        (tmp_path / name).write_bytes(data)
        r = CliRunner().invoke(app, ["verify", str(tmp_path / name), "--chain", "rpc", "--rpc-url",
                                     "http://127.0.0.1:9"])
        assert r.exit_code == 2, (name, r.output)
        assert reason in " ".join(r.output.split()), (name, r.output)
        assert "Traceback" not in r.output
