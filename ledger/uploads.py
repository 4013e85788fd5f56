"""Preparing an uploaded invoice for storage: validate, seal, sign its QR payload.

This is the pure part of an upload (no SQL, no HTTP): the service calls
:func:`prepare_invoice` for every item and stores what comes back in one transaction.

Idempotency: an invoice is identified by (issuer, invoice code, invoice number). The
*content digest* is keccak-256 over the canonical parsed invoice (patient pseudonym,
not the ID), so the same invoice re-sent in another format or with different key
order is recognised as a retry, while the same key with different content is a
conflict (a hospital corrects an invoice by voiding it and issuing a new one, 冲红).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import orjson

from ledger.errors import FieldProblem, InvalidInvoice
from ledger.fingerprint import SealedInvoice, seal
from ledger.hashing import Hash32, keccak256
from ledger.invoice import Invoice
from ledger.invoice_check import parse_invoice
from ledger.peppers import PepperRing
from ledger.qr import InvoiceSeal

#: signs an invoice's QR seal with the issuing hospital's key, returning the QR text
QrSigner = Callable[[InvoiceSeal], str]


@dataclass(frozen=True)
class PreparedInvoice:
    """A validated, sealed invoice with its QR payload, ready to be stored."""

    sealed: SealedInvoice
    content_digest: Hash32
    qr: str

    @property
    def invoice(self) -> Invoice:
        return self.sealed.invoice


def content_digest(invoice: Invoice) -> Hash32:
    """keccak-256 of the invoice content (the pseudonym stands in for the ID).

    Only compared within one store, so any deterministic encoding of the parsed values
    serves: orjson encodes the frozen dataclasses field by field in C (≈ 0.2 µs per
    fee line, against ≈ 3 µs for building the upload-format dicts first).
    """
    return Hash32(keccak256(orjson.dumps(invoice, default=_hex)))


def _hex(value: object) -> str:
    if isinstance(value, bytes):
        return value.hex()
    raise TypeError(f"cannot encode {type(value).__name__}")


def prepare_invoice(doc: Any, *, pepper: bytes | PepperRing, issuer: str, sign_qr: QrSigner) -> PreparedInvoice:
    """Validate ``doc`` as an upload by hospital ``issuer``, seal it and sign its QR payload.

    Raises :class:`InvalidInvoice` naming every broken rule, including an ``issuer``
    other than the uploading hospital (a hospital uploads only its own invoices).
    """
    invoice = parse_invoice(doc, pepper=pepper)
    if invoice.issuer != issuer:
        raise InvalidInvoice([FieldProblem(
            "issuer", "issuer-is-uploader",
            f"invoice is issued by {invoice.issuer} but uploaded by {issuer}: a hospital uploads only its own invoices",
        )])
    sealed = seal(invoice)
    return PreparedInvoice(sealed, content_digest(invoice), sign_qr(InvoiceSeal.of_invoice(sealed)))
