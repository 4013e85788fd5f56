"""QR images drawn by ledger.adapters.qr_image, read back by zxing-cpp (a reader no one here wrote).

Pillow and numpy are not dependencies, so the PNG is decoded, scaled and rotated here in
plain Python (segno writes 1-bit greyscale PNGs) and handed to zxing-cpp as a greyscale
buffer; the SVG is rasterised from its path (segno draws each module row as horizontal
line segments).
"""

from __future__ import annotations

import json
import math
import re
import struct
import zlib
from pathlib import Path

import pytest
import zxingcpp

from ledger.adapters.qr_image import qr_png, qr_svg, qr_symbol
from ledger.errors import InvalidInput
from ledger.qr import decode_qr

VECTORS = Path(__file__).resolve().parents[1] / "vectors" / "qr"
TEXTS = [v["qr"] for v in json.loads((VECTORS / "valid.json").read_text(encoding="utf-8"))["vectors"]]

Image = tuple[int, int, bytearray]  # width, height, 8-bit grey pixels (0 black, 255 white)


def png_to_grey(png: bytes) -> Image:
    """Decode the PNG subset segno writes: greyscale, bit depth 1 or 8, no interlace, any filter."""
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat, header = 8, b"", None
    while pos < len(png):
        (length,) = struct.unpack(">I", png[pos : pos + 4])
        kind, body = png[pos + 4 : pos + 8], png[pos + 8 : pos + 8 + length]
        pos += 12 + length
        if kind == b"IHDR":
            header = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            idat += body
    assert header is not None
    width, height, depth, colour, _, _, interlace = header
    assert colour == 0 and depth in (1, 8) and interlace == 0, header
    stride = (width * depth + 7) // 8
    raw, prev, out = zlib.decompress(idat), bytearray(stride), bytearray()
    for y in range(height):
        filt, line = raw[y * (stride + 1)], bytearray(raw[y * (stride + 1) + 1 : (y + 1) * (stride + 1)])
        bpp = max(1, depth // 8)
        for i in range(stride):
            a = line[i - bpp] if i >= bpp else 0
            b, c = prev[i], prev[i - bpp] if i >= bpp else 0
            if filt == 1:
                line[i] = (line[i] + a) & 0xFF
            elif filt == 2:
                line[i] = (line[i] + b) & 0xFF
            elif filt == 3:
                line[i] = (line[i] + (a + b) // 2) & 0xFF
            elif filt == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 0xFF
        prev = line
        if depth == 8:
            out += line
        else:
            out += bytes(255 if line[x >> 3] >> (7 - (x & 7)) & 1 else 0 for x in range(width))
    return width, height, out


def svg_to_grey(svg: str) -> Image:
    """Rasterise segno's SVG: one path of 1-unit-wide horizontal strokes, scaled by ``scale(k)``."""
    width = int(re.search(r'width="(\d+)"', svg).group(1))  # type: ignore[union-attr]
    height = int(re.search(r'height="(\d+)"', svg).group(1))  # type: ignore[union-attr]
    match = re.search(r'transform="scale\((\d+)\)"', svg)
    k = int(match.group(1)) if match else 1
    path = re.search(r'<path stroke="#000" d="([^"]+)"', svg).group(1)  # type: ignore[union-attr]  # not the background
    pixels = bytearray([255]) * (width * height)
    x = y = 0.0
    for op, args in re.findall(r"([MmHh])([-0-9. ]+)", path):
        nums = [float(n) for n in args.split()]
        if op == "M":
            x, y = nums
        elif op == "m":
            x, y = x + nums[0], y + nums[1]
        else:
            end = nums[0] if op == "H" else x + nums[0]
            row = int(y - 0.5)  # the stroke is centred on y, one unit wide
            for py in range(row * k, (row + 1) * k):
                for px in range(int(min(x, end)) * k, int(max(x, end)) * k):
                    pixels[py * width + px] = 0
            x = end
    return width, height, pixels


def scaled(img: Image, factor: float) -> Image:
    """Box-filtered resampling to ``factor`` times the size (a cheap printer / camera)."""
    w, h, px = img
    nw, nh = max(1, round(w * factor)), max(1, round(h * factor))
    out = bytearray(nw * nh)
    for y in range(nh):
        y0, y1 = int(y / factor), max(int(y / factor) + 1, int((y + 1) / factor))
        for x in range(nw):
            x0, x1 = int(x / factor), max(int(x / factor) + 1, int((x + 1) / factor))
            total = sum(px[yy * w + xx] for yy in range(y0, min(y1, h)) for xx in range(x0, min(x1, w)))
            out[y * nw + x] = total // ((min(y1, h) - y0) * (min(x1, w) - x0))
    return nw, nh, out


def rotated(img: Image, degrees: float) -> Image:
    """Rotate about the centre with bilinear sampling onto a white canvas big enough for the result."""
    w, h, px = img
    t = math.radians(degrees)
    cos, sin = math.cos(t), math.sin(t)
    nw = nh = math.ceil(abs(w * cos) + abs(h * sin)) + 2
    cx, cy, ncx, ncy = w / 2, h / 2, nw / 2, nh / 2
    out = bytearray([255]) * (nw * nh)

    def at(x: int, y: int) -> int:
        return px[y * w + x] if 0 <= x < w and 0 <= y < h else 255

    for y in range(nh):
        for x in range(nw):
            sx = cos * (x - ncx) + sin * (y - ncy) + cx
            sy = -sin * (x - ncx) + cos * (y - ncy) + cy
            x0, y0 = math.floor(sx), math.floor(sy)
            fx, fy = sx - x0, sy - y0
            top = at(x0, y0) * (1 - fx) + at(x0 + 1, y0) * fx
            bottom = at(x0, y0 + 1) * (1 - fx) + at(x0 + 1, y0 + 1) * fx
            out[y * nw + x] = int(top * (1 - fy) + bottom * fy)
    return nw, nh, out


def read(img: Image) -> list[str]:
    w, h, px = img
    found = zxingcpp.read_barcodes(memoryview(px).cast("B", (h, w)), formats=zxingcpp.BarcodeFormat.QRCode)
    return [b.text for b in found]


@pytest.mark.parametrize("text", TEXTS)
def test_png_reads_back_to_the_same_text(text: str) -> None:
    img = png_to_grey(qr_png(text))
    assert read(img) == [text]
    assert decode_qr(read(img)[0]).encode() == text


@pytest.mark.parametrize("transform", [
    pytest.param(lambda i: scaled(i, 0.6), id="downscaled-0.6"),
    pytest.param(lambda i: scaled(i, 0.45), id="downscaled-0.45"),
    pytest.param(lambda i: rotated(i, 4), id="rotated-4deg"),
    pytest.param(lambda i: rotated(i, -7), id="rotated-minus-7deg"),
    pytest.param(lambda i: rotated(scaled(i, 0.7), 3), id="downscaled-and-rotated"),
])
def test_png_survives_downscaling_and_rotation(transform: object) -> None:
    text = TEXTS[0]
    img = transform(png_to_grey(qr_png(text, scale=4)))  # type: ignore[operator]
    assert read(img) == [text]


def test_symbol_is_version_8_level_m_alphanumeric() -> None:
    for text in TEXTS:
        symbol = qr_symbol(text)
        assert (symbol.designator, symbol.mode, symbol.symbol_size(border=0)) == ("8-M", "alphanumeric", (49, 49))
    width, height, _ = png_to_grey(qr_png(TEXTS[0], scale=3))
    assert width == height == (49 + 2 * 4) * 3  # 4-module quiet zone


def test_zxing_reads_level_m() -> None:
    w, h, px = png_to_grey(qr_png(TEXTS[0]))
    (barcode,) = zxingcpp.read_barcodes(memoryview(px).cast("B", (h, w)))
    assert barcode.format == zxingcpp.BarcodeFormat.QRCode and barcode.ec_level == "M"


def test_svg_reads_back_to_the_same_text() -> None:
    svg = qr_svg(TEXTS[0], scale=4)
    assert svg.startswith("<svg") and 'xmlns="http://www.w3.org/2000/svg"' in svg
    assert read(svg_to_grey(svg)) == [TEXTS[0]]


@pytest.mark.parametrize("scale", [1, 4, 7])
def test_svg_has_a_viewbox_of_the_whole_symbol_and_a_white_quiet_zone(scale: int) -> None:
    """A page that sizes the SVG (34 mm) must scale the whole symbol, not clip it to its top-left corner."""
    svg = qr_svg(TEXTS[0], scale=scale)
    side = (49 + 2 * 4) * scale                                  # version 8: 49 modules, 4 of quiet zone each side
    root = svg[:svg.index(">")]
    assert f'width="{side}"' in root and f'height="{side}"' in root and f'viewBox="0 0 {side} {side}"' in root
    assert '<path fill="#fff" d="M0 0h57v57h-57z"/>' in svg     # the quiet zone is painted white, not transparent
    assert "M4 4.5h7" in svg                                     # the first dark module sits 4 modules in


@pytest.mark.parametrize("text", ["EBILL:abc", "EBILL:\u00e9", "EBILL:" + "A" * 5000])
def test_refuses_text_that_is_not_an_alphanumeric_qr(text: str) -> None:
    with pytest.raises(InvalidInput) as info:
        qr_png(text)
    assert info.value.problems[0].rule == "qr-alphanumeric"
