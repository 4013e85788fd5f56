"""QR codes of a seal's text (``SignedSeal.encode()``): drawn with segno, read from photos with zxing-cpp.

Drawing: always error-correction level M (recovers ~15% damage: a stamp or crease across
a printed invoice) and alphanumeric mode, the mode the Base45 text is made for: the
183-character version-1 seal is a version 8-M symbol (49 x 49 modules). The quiet zone
is the 4 modules ISO/IEC 18004 asks for.

Reading (:func:`read_photo`, for ``POST /v1/verify`` and ``ebill verify``): a photo is
public input, and a few hundred KB of compressed zero rows can declare 16,000 x 16,000
pixels (256 MP, 1 GB once decoded; 12,000 x 12,000 RGB took 1.4 GB and 11 s before it
was found to hold no QR code). So the declared format and size are read from the header
first (Pillow opens lazily) and a photo is refused beyond :data:`MAX_PHOTO_PIXELS` (a
phone's 12 MP camera, with room) or :data:`MAX_PHOTO_BYTES`, before anything is
decoded; the picture is then decoded to greyscale (JPEG straight from its luma channel,
PNG converted at once, the colour planes dropped), which is all zxing-cpp reads.
"""

from __future__ import annotations

import io

import segno

from ledger.errors import InvalidInput, PhotoTooLarge
from ledger.qr import PREFIX

QUIET_ZONE = 4
#: pixels a photo of an invoice's QR code may have (a 12 MP phone photo is 4032 x 3024)
MAX_PHOTO_PIXELS = 20_000_000
#: bytes of a photo (a 12 MP JPEG from a phone is 3-5 MB)
MAX_PHOTO_BYTES = 8 * 2**20
PHOTO_FORMATS = ("PNG", "JPEG")


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
    """A standalone SVG document of the QR code; ``scale`` is the module size in user units.

    The root element has a ``viewBox`` of the whole symbol with its quiet zone, besides its
    natural ``width`` and ``height``: a page that sizes it (``width: 34mm``) scales the whole
    symbol into that box instead of clipping it to the box's top-left corner. The quiet
    zone is painted white, so the symbol reads on any background.
    """
    symbol = qr_symbol(text)
    side = (symbol.symbol_size(scale=1, border=0)[0] + 2 * QUIET_ZONE) * scale
    out = io.BytesIO()
    symbol.save(out, kind="svg", scale=scale, border=QUIET_ZONE, xmldecl=False, svgclass=None, lineclass=None,
                omitsize=True, light="#fff")
    svg = out.getvalue().decode("utf-8")
    box = f'viewBox="0 0 {side} {side}"'
    if box not in svg:  # segno changed how it writes the root element: better to fail than to clip again
        raise RuntimeError(f"segno's SVG has no {box}: {svg[:120]}")
    return svg.replace(box, f'width="{side}" height="{side}" {box}', 1)


def qr_png(text: str, *, scale: int = 4) -> bytes:
    """A 1-bit greyscale PNG of the QR code; ``scale`` is the module size in pixels."""
    out = io.BytesIO()
    qr_symbol(text).save(out, kind="png", scale=scale, border=QUIET_ZONE)
    return out.getvalue()


def read_photo(data: bytes, *, name: str = "(body)") -> str:
    """The text of the invoice's QR code in a PNG or JPEG photo.

    Raises :class:`PhotoTooLarge` for more than :data:`MAX_PHOTO_BYTES` bytes or
    :data:`MAX_PHOTO_PIXELS` pixels (checked on the header, before decoding), and
    :class:`InvalidInput` naming ``name`` for anything else: not a PNG or JPEG image
    (rule ``image``), no QR code in it (``qr-not-found``), several seals (``qr-several``).
    When the photo shows other QR codes besides one seal (``EBILL:…``), the seal is read.
    """
    import zxingcpp
    from PIL import Image, UnidentifiedImageError

    if len(data) > MAX_PHOTO_BYTES:
        raise PhotoTooLarge(f"the image is {len(data):,} bytes; a photo of a QR code needs at most "
                            f"{MAX_PHOTO_BYTES:,}")
    try:
        with Image.open(io.BytesIO(data), formats=PHOTO_FORMATS) as image:
            width, height = image.size
            if width * height > MAX_PHOTO_PIXELS:
                raise PhotoTooLarge(f"the image is {width:,} x {height:,} pixels ({width * height / 1e6:,.0f} MP); "
                                    f"a photo of a QR code needs at most {MAX_PHOTO_PIXELS / 1e6:.0f} MP")
            if image.format == "JPEG":
                image.draft("L", image.size)  # the decoder keeps the luma plane only
            grey = image.convert("L")
    except Image.DecompressionBombError:  # Pillow's own check, at open: more than twice its MAX_IMAGE_PIXELS
        raise PhotoTooLarge(f"the image declares more than {2 * (Image.MAX_IMAGE_PIXELS or 0):,} pixels; a photo "
                            f"of a QR code needs at most {MAX_PHOTO_PIXELS / 1e6:.0f} MP") from None
    except UnidentifiedImageError:
        raise InvalidInput.single(name, "image", "not a PNG or JPEG image") from None
    except (OSError, ValueError, SyntaxError) as exc:  # truncated or corrupt data, broken chunks
        raise InvalidInput.single(name, "image", f"not a readable PNG or JPEG image: {exc}") from None
    found = zxingcpp.read_barcodes(grey, formats=zxingcpp.BarcodeFormats(zxingcpp.BarcodeFormat.QRCode))
    texts = [str(code.text) for code in found]
    if not texts:
        raise InvalidInput.single(name, "qr-not-found", "no QR code found in the image")
    seals = [t for t in texts if t.startswith(PREFIX)] or texts
    if len(seals) > 1:
        raise InvalidInput.single(name, "qr-several", f"the image holds {len(seals)} QR codes; crop it to the "
                                                      "invoice's seal")
    return seals[0]
