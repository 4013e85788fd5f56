"""POST /v1/verify: a distinct verdict for every way an invoice can fail, from text or a photo."""

from __future__ import annotations

import copy
import io
import struct
import time
import zlib

from api_stack import Stack
from PIL import Image

from ledger.adapters.qr_image import qr_png
from ledger.hashing import parse_hash32
from ledger.qr import InvoiceSeal, decode_qr, sign_seal


def _verify(stack: Stack, payload: str) -> dict:
    r = stack.client.post("/v1/verify", json={"payload": payload})      # public: no credential
    assert r.status_code == 200, r.text
    return r.json()


def _upload(stack: Stack, doc: dict) -> dict:
    return stack.post_invoice("a", doc).json()["items"][0]["invoice"]


def test_verdicts_from_stored_to_voided(stack: Stack) -> None:
    docs = copy.deepcopy(stack.docs["a"][:3])
    stack.worker.drain()                                  # hospitals registered on chain
    inv = _upload(stack, docs[0])
    v = _verify(stack, inv["qr"])
    assert v["offline"]["status"] == "valid-offline"
    assert (v["valid"], v["status"]) == (False, "not-anchored")
    stack.worker.drain()
    v = _verify(stack, inv["qr"])
    assert (v["valid"], v["status"]) == (True, "anchored") and v["online"]["anchor"]["issuer"] == docs[0]["issuer"]
    stack.client.post(f"/v1/invoices/{inv['fingerprint']}/void", json={"reason": "refund"}, headers=stack.auth("a"))
    stack.worker.drain()
    assert _verify(stack, inv["qr"])["status"] == "voided"


def test_forged_tampered_malformed_and_unknown(stack: Stack) -> None:
    stack.worker.drain()
    inv = _upload(stack, stack.docs["a"][1])
    stack.worker.drain()
    signed = decode_qr(inv["qr"])
    seal = signed.seal
    # the amount altered: the signature no longer recovers the hospital's key
    more = InvoiceSeal(seal.issuer, seal.invoice_code, seal.invoice_number, seal.issue_date, seal.total_fen + 100,
                       seal.fingerprint)
    from ledger.qr import SignedSeal

    assert _verify(stack, SignedSeal(more, signed.signature).encode())["status"] == "tampered-or-forged"
    # signed by a key that is not the hospital's
    forged = sign_seal(seal, private_key=b"\x42" * 32, domain=stack.service.qr_domain).encode()
    assert _verify(stack, forged)["status"] == "tampered-or-forged"
    # an issuer the registry does not know
    stranger = InvoiceSeal("H99999999999", seal.invoice_code, seal.invoice_number, seal.issue_date, seal.total_fen,
                           seal.fingerprint)
    unknown = sign_seal(stranger, private_key=b"\x42" * 32, domain=stack.service.qr_domain).encode()
    assert _verify(stack, unknown)["status"] == "unknown-issuer"
    bad = _verify(stack, inv["qr"][:-3])
    assert bad["status"] == "malformed" and bad["offline"]["rule"]
    assert _verify(stack, "http://example.com/evil")["status"] == "malformed"
    # a genuine seal whose fingerprint was swapped: tampered
    other = InvoiceSeal(seal.issuer, seal.invoice_code, seal.invoice_number, seal.issue_date, seal.total_fen,
                        parse_hash32("0x" + "11" * 32))
    assert _verify(stack, SignedSeal(other, signed.signature).encode())["status"] == "tampered-or-forged"


def test_a_photo_of_the_qr_code_verifies(stack: Stack) -> None:
    stack.worker.drain()
    inv = _upload(stack, stack.docs["a"][2])
    stack.worker.drain()
    image = Image.open(io.BytesIO(qr_png(inv["qr"], scale=6))).convert("L").rotate(5, expand=True, fillcolor=255)
    photo = io.BytesIO()
    image.save(photo, format="JPEG", quality=50)
    r = stack.client.post("/v1/verify", content=photo.getvalue(), headers={"Content-Type": "image/jpeg"})
    assert r.status_code == 200 and r.json()["status"] == "anchored"
    blank = io.BytesIO()
    Image.new("L", (200, 200), 255).save(blank, format="PNG")
    r = stack.client.post("/v1/verify", content=blank.getvalue(), headers={"Content-Type": "image/png"})
    assert r.status_code == 422 and r.json()["errors"][0]["rule"] == "qr-not-found"
    r = stack.client.post("/v1/verify", content=b"not an image", headers={"Content-Type": "image/png"})
    assert r.status_code == 422
    assert stack.client.post("/v1/verify", content=b"x", headers={"Content-Type": "text/plain"}).status_code == 415


def test_the_fast_route_answers_like_the_documented_one(stack: Stack) -> None:
    spec = stack.client.get("/openapi.json").json()
    assert list(spec["paths"]["/v1/verify"]) == ["post"]              # documented once
    assert stack.client.get("/v1/verify").status_code == 405
    bad = stack.client.post("/v1/verify", content=b'{"payload": 5}', headers={"Content-Type": "application/json"})
    assert bad.status_code == 422 and bad.headers["content-type"].startswith("application/problem+json")
    assert bad.json()["errors"][0]["rule"] == "json"
    r = stack.client.post("/v1/verify", json={"payload": "EBILL:"})
    assert r.status_code == 200 and r.headers["content-type"] == "application/json"
    assert r.json()["status"] == "malformed"


def png_bomb(width: int, height: int, *, rgb: bool) -> bytes:
    """A valid PNG of ``width`` x ``height`` black pixels: zlib-compressed zero rows, a few hundred KB."""
    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    row, z = b"\x00" * (1 + width * (3 if rgb else 1)), zlib.compressobj(9)
    idat = b"".join(z.compress(row) for _ in range(height)) + z.flush()
    header = struct.pack(">IIBBBBB", width, height, 8, 2 if rgb else 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


def test_image_bombs_answer_413_at_once(stack: Stack) -> None:
    # before: 16,000 x 16,000 answered 500 (Pillow's DecompressionBombError escaped); 12,000 x 12,000 RGB
    # took 1.4 GB and seconds to find no QR code
    for data in (png_bomb(16_000, 16_000, rgb=False), png_bomb(12_000, 12_000, rgb=True)):
        start = time.perf_counter()
        r = stack.client.post("/v1/verify", content=data, headers={"Content-Type": "image/png"})
        assert time.perf_counter() - start < 2.0
        assert r.status_code == 413 and r.headers["content-type"] == "application/problem+json", r.text
        assert r.json()["type"].endswith("/image-too-large")
        assert "a photo of a QR code needs at most 20 MP" in r.json()["detail"]
    r = stack.client.post("/v1/verify", content=b"GIF89a" + b"\0" * 64, headers={"Content-Type": "image/png"})
    assert r.status_code == 422 and r.json()["errors"][0]["message"] == "not a PNG or JPEG image"
