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

from ledger.canonical import canonical_json_flat
from ledger.errors import FieldProblem, InvalidInvoice
from ledger.fingerprint import SealedInvoice, seal
from ledger.hashing import Hash32, keccak256
from ledger.invoice import Invoice, parse_invoice
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
    """keccak-256 of the canonical invoice content (the pseudonym stands in for the ID)."""
    doc: dict[str, Any] = invoice.to_json()
    doc["patient"] = "0x" + bytes(invoice.patient).hex()
    fee_lines = doc.pop("feeLines")
    # flat canonical form: the header, then one document per line (all flat JSON)
    parts = [canonical_json_flat(doc), *(canonical_json_flat(line) for line in fee_lines)]
    return Hash32(keccak256(b"\n".join(parts)))


def seal_of(sealed: SealedInvoice) -> InvoiceSeal:
    """The fields a QR code carries for ``sealed``."""
    inv = sealed.invoice
    return InvoiceSeal(
        issuer=inv.issuer, invoice_code=inv.invoice_code, invoice_number=inv.invoice_number,
        issue_date=inv.issue_date, total_fen=inv.total_fen, fingerprint=sealed.fingerprint,
    )


def prepare_invoice(doc: Any, *, pepper: bytes, issuer: str, sign_qr: QrSigner) -> PreparedInvoice:
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
    return PreparedInvoice(sealed, content_digest(invoice), sign_qr(seal_of(sealed)))
