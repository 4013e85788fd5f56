"""The font of the printable PDFs (invoice and monthly report), embedded as a subset.

Every PDF this service draws carries its own glyphs, so a printer or a viewer with no
Chinese font shows the same characters as the screen: the text is set in one TrueType
CJK font, and reportlab embeds in each PDF only the glyphs that PDF uses (``FontFile2``,
subset names such as ``AAAAAA+WenQuanYiMicroHei-0``) with a ToUnicode map, so copying and
text extraction give back the characters.

The font is **WenQuanYi Micro Hei** (文泉驿微米黑), Debian's ``fonts-wqy-microhei``:
a sans-serif with GB 18030's Chinese characters, Latin and the punctuation the prints use
("·", "¥", "（）"), in TrueType outlines (which reportlab can subset; the CFF outlines of
Noto Sans CJK it cannot). Its licence, Apache-2.0 (or GPL-3+ with the font exception),
allows embedding it in documents. The collection's second face, *Micro Hei Mono*, sets
item codes, fingerprints and other machine text.

``./dev setup`` installs the package (as root with apt-get); ``EBILL_PDF_FONT`` names
another TrueType font or collection (``.ttf``/``.ttc``) instead. Without one, printing a
PDF raises :class:`~ledger.errors.PdfFontUnavailable` (503 over HTTP) saying what to
install; nothing falls back to a font that would not be embedded.
"""

from __future__ import annotations

import os
import struct
import threading
from pathlib import Path

from ledger.errors import PdfFontUnavailable

#: the names the fonts are registered under with reportlab (regular text; item codes, hashes)
FONT = "EbillSans"
MONO = "EbillMono"
#: names another TrueType font file (.ttf, or a .ttc collection) to use instead
FONT_ENV = "EBILL_PDF_FONT"
DEBIAN_PACKAGE = "fonts-wqy-microhei"
DEFAULT_PATH = Path("/usr/share/fonts/truetype/wqy/wqy-microhei.ttc")

_lock = threading.Lock()
_registered: Path | None = None


def font_path() -> Path:
    """The font file in use: ``$EBILL_PDF_FONT``, else Debian's WenQuanYi Micro Hei."""
    named = os.environ.get(FONT_ENV, "").strip()
    return Path(named) if named else DEFAULT_PATH


def _faces(path: Path) -> int:
    """How many faces the file holds: a TrueType collection's count, else 1."""
    with path.open("rb") as f:
        head = f.read(12)
    if head[:4] == b"ttcf" and len(head) == 12:
        return int(struct.unpack(">I", head[8:12])[0])
    return 1


def register_fonts() -> None:
    """Register :data:`FONT` and :data:`MONO` with reportlab (once per process; thread-safe).

    :data:`MONO` is the first face of a collection whose name says "Mono" (WenQuanYi's
    second face), else the same face as :data:`FONT`. Raises
    :class:`~ledger.errors.PdfFontUnavailable` when the file is missing or is not a
    TrueType font reportlab can embed.
    """
    global _registered
    path = font_path()
    if _registered == path:
        return
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.ttfonts import TTFError, TTFont

    with _lock:
        if _registered == path:
            return
        if not path.is_file():
            how = (f"set {FONT_ENV} to an existing file" if os.environ.get(FONT_ENV, "").strip() else
                   f"install Debian's {DEBIAN_PACKAGE} (`./dev setup` does, as root) or set {FONT_ENV} to a "
                   "TrueType CJK font (.ttf/.ttc)")
            raise PdfFontUnavailable(f"no font to embed in the PDF: {path} does not exist; {how}")
        try:
            regular = TTFont(FONT, str(path), subfontIndex=0)
            mono = regular
            for i in range(1, _faces(path)):
                face = TTFont(MONO, str(path), subfontIndex=i)
                if b"mono" in bytes(face.face.name).lower():
                    mono = face
                    break
        except (TTFError, OSError, struct.error) as exc:
            raise PdfFontUnavailable(f"cannot embed {path} in a PDF (it must be a TrueType font with glyf "
                                     f"outlines, .ttf or .ttc): {exc}") from exc
        if mono is regular:
            mono = TTFont(MONO, str(path), subfontIndex=0)
        pdfmetrics.registerFont(regular)
        pdfmetrics.registerFont(mono)
        _registered = path
