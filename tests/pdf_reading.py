"""Reading the printable PDFs back as a reader, a printer and a phone would (shared by the unit,
API and browser tests): their text, their fonts, where each run of text is drawn, and the
pages rasterised by poppler's ``pdftoppm`` with the QR codes zxing-cpp finds on them.

``pdftoppm`` comes with Debian's poppler-utils, which ``./dev test`` installs with chromium;
without it the rasterising tests skip, unless ``EBILL_REQUIRE_CHROMIUM=1`` (set in CI once
that install worked), which makes them fail.
"""

from __future__ import annotations

import io
import os
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import zxingcpp
from PIL import Image
from pypdf import PdfReader

#: a font subset's name: six capital letters and "+" before the font's own name (ISO 32000-1, 9.6.4)
SUBSET = re.compile(r"^[A-Z]{6}\+")


def pages_text(pdf: bytes) -> list[str]:
    return [page.extract_text() for page in PdfReader(io.BytesIO(pdf)).pages]


@dataclass(frozen=True)
class PdfFont:
    name: str            # /BaseFont without the slash
    subtype: str         # /TrueType, /Type0, /Type1, ...
    embedded: str | None  # /FontFile, /FontFile2 or /FontFile3 (None: not embedded)
    used: bool           # selected with Tf in some page's content


def fonts(pdf: bytes) -> list[PdfFont]:
    """Every font of every page's resources, whether it is embedded, and whether the content uses it."""
    reader = PdfReader(io.BytesIO(pdf))
    found: dict[str, PdfFont] = {}
    for page in reader.pages:
        content = page.get_contents()
        data = content.get_data() if content is not None else b""
        for key, ref in page["/Resources"].get("/Font", {}).items():
            font = ref.get_object()
            descriptor = font.get("/FontDescriptor")
            if descriptor is None and "/DescendantFonts" in font:
                descriptor = font["/DescendantFonts"][0].get_object().get("/FontDescriptor")
            descriptor = descriptor.get_object() if descriptor is not None else {}
            embedded = next((k for k in ("/FontFile", "/FontFile2", "/FontFile3") if k in descriptor), None)
            name = str(font["/BaseFont"]).lstrip("/")
            used = (key.encode() + b" ") in data
            old = found.get(name)
            found[name] = PdfFont(name, str(font["/Subtype"]), embedded, used or (old is not None and old.used))
    return list(found.values())


@dataclass(frozen=True)
class Run:
    """A run of text as drawn: its left edge and baseline (points, from the page's lower left), font and size."""

    x: float
    y: float
    font: str
    size: float
    text: str


def runs(pdf: bytes, page: int = 0) -> list[Run]:
    """The runs of text on ``page`` where pypdf sees them drawn (the text matrix times the CTM)."""
    reader = PdfReader(io.BytesIO(pdf))
    out: list[Run] = []

    def visit(text: str, cm: list[float], tm: list[float], font: Any, size: float) -> None:
        if not text.strip():
            return
        x = tm[4] * cm[0] + tm[5] * cm[2] + cm[4]
        y = tm[4] * cm[1] + tm[5] * cm[3] + cm[5]
        name = str(font["/BaseFont"]).lstrip("/") if font is not None else ""
        out.append(Run(x, y, name, size * abs(tm[0] or 1), text))

    reader.pages[page].extract_text(visitor_text=visit)
    return out


def pdftoppm_or_skip() -> str:
    found = shutil.which("pdftoppm")
    if found:
        return found
    why = "no pdftoppm (Debian's poppler-utils, which `./dev test` installs as root)"
    if os.environ.get("EBILL_REQUIRE_CHROMIUM", "") == "1":
        pytest.fail(f"EBILL_REQUIRE_CHROMIUM=1 but {why}", pytrace=False)
    pytest.skip(f"rasterising skipped: {why}")


def rasterise(pdf: bytes, *, dpi: int = 150, grey: bool = True, save_as: Path | None = None) -> list[Image.Image]:
    """The pages as images at ``dpi`` (greyscale, or RGB), as a printer would put them on paper (pdftoppm).

    ``save_as`` (``…/name``) keeps them as ``name-1.png``, ``name-2.png``, … (screenshots).
    """
    tool = pdftoppm_or_skip()
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "in.pdf"
        src.write_bytes(pdf)
        subprocess.run([tool, "-r", str(dpi), *(["-gray"] if grey else []), "-png", str(src), str(Path(tmp) / "page")],
                       check=True, capture_output=True, timeout=120)
        paths = sorted(Path(tmp).glob("page-*.png"), key=lambda p: int(p.stem.rsplit("-", 1)[1]))
        images = [Image.open(p).convert("L" if grey else "RGB") for p in paths]
        if save_as is not None:
            save_as.parent.mkdir(parents=True, exist_ok=True)
            for old in save_as.parent.glob(f"{save_as.name}-*.png"):     # a longer print's pages from before
                if old.stem.rsplit("-", 1)[1].isdigit():
                    old.unlink()
            for i, image in enumerate(images, 1):
                image.save(save_as.with_name(f"{save_as.name}-{i}.png"))
    return images


def qr_codes(image: Image.Image) -> list[str]:
    """The texts of the QR codes zxing-cpp finds in ``image``."""
    return [c.text for c in zxingcpp.read_barcodes(image) if c.format == zxingcpp.BarcodeFormat.QRCode]
