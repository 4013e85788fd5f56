"""QR code images of a seal's text (``SignedSeal.encode()``), drawn with segno.

Always error-correction level M (recovers ~15% damage: a stamp or crease across a
printed invoice) and alphanumeric mode, the mode the Base45 text is made for: the
183-character version-1 seal is a version 8-M symbol (49 x 49 modules). The quiet zone
is the 4 modules ISO/IEC 18004 asks for.
"""

from __future__ import annotations

import io

import segno

from ledger.errors import InvalidInput

QUIET_ZONE = 4


def qr_symbol(text: str) -> segno.QRCode:
    """The QR symbol of ``text`` at level M in alphanumeric mode.

    Raises :class:`InvalidInput` (rule ``qr-alphanumeric``) when ``text`` has characters
    outside the QR alphanumeric set or is too long for any QR version.
    """
    try:
        return segno.make(text, error="m", mode="alphanumeric", micro=False, boost_error=False)
    except ValueError as exc:  # segno raises its DataOverflowError, a ValueError, for too much data
        raise InvalidInput.single(
            "qr", "qr-alphanumeric", f"cannot be drawn as an alphanumeric QR code: {exc}"
        ) from exc


def qr_svg(text: str, *, scale: int = 4) -> str:
    """A standalone SVG document of the QR code; ``scale`` is the module size in user units."""
    out = io.BytesIO()
    qr_symbol(text).save(out, kind="svg", scale=scale, border=QUIET_ZONE, xmldecl=False, svgclass=None,
                         lineclass=None)
    return out.getvalue().decode("utf-8")


def qr_png(text: str, *, scale: int = 4) -> bytes:
    """A 1-bit greyscale PNG of the QR code; ``scale`` is the module size in pixels."""
    out = io.BytesIO()
    qr_symbol(text).save(out, kind="png", scale=scale, border=QUIET_ZONE)
    return out.getvalue()
