"""The e-invoice and its fee lines: the model, its limits, the shapes of its codes and the
normal forms of its values.

Upload format (JSON, camelCase, money in integer fen)::

    {"schemaVersion": 1, "issuer": "H33010200001", "invoiceCode": "33060124",
     "invoiceNumber": "0001234567", "checkCode": "a1B2c3",
     "issuedAt": "2024-03-05T10:21:33+08:00", "visitType": "outpatient",
     "patientId": "<18-character resident ID>",
     "totalFen": 2500, "fundPaidFen": 0, "accountPaidFen": 0, "cashPaidFen": 2500,
     "feeLines": [{"seq": 1, "itemCode": "XJ01CAA040A001010104465", "itemName": "阿莫西林胶囊",
                   "category": "A", "quantity": "2", "unit": "盒", "unitPriceFen": 1250,
                   "amountFen": 2500, "serviceDate": "2024-03-05"}]}

An :class:`Invoice` is only made from a document that passed
:func:`ledger.invoice_check.parse_invoice`, which replaces the patient ID by its pseudonym:
the model never holds the ID itself. Its values are in normal form (:func:`format_timestamp`,
:func:`normal_quantity`), so that one invoice has one spelling and one fingerprint.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from enum import StrEnum
from typing import Any

from ledger.hashing import Hash32

SCHEMA_VERSION = 1
MAX_FEE_LINES = 20_000        # the largest inpatient bills run to a few thousand lines
MAX_AMOUNT_FEN = 10**12       # ¥10 bn: anything above is an encoding error, not a bill
MAX_UNIT_PRICE_FEN = 10**10
MAX_TEXT = 200
MAX_UNIT_TEXT = 16


class VisitType(StrEnum):
    OUTPATIENT = "outpatient"
    INPATIENT = "inpatient"
    EMERGENCY = "emergency"
    PHARMACY = "pharmacy"


class FeeCategory(StrEnum):
    """National insurance catalogue class of a fee line."""

    CLASS_A = "A"   # 甲类: fully eligible
    CLASS_B = "B"   # 乙类: the patient first pays a share, the rest is eligible
    SELF_PAY = "C"  # 丙类: not eligible


# National codes: institution H + 6-digit region + 5 digits; e-invoice code 8 digits,
# number 10 digits, check code 6 characters; catalogue item codes (drugs X.../Z...,
# consumables C..., service items with local suffixes) are 20-40 characters of
# upper-case letters, digits and inner hyphens.
# \Z, not $ ($ also matches before a trailing newline), and [0-9], not \d (\d matches
# full-width and other Unicode digits): a code must have exactly one spelling.
ISSUER_RE = re.compile(r"H[0-9]{11}\Z")
INVOICE_CODE_RE = re.compile(r"[0-9]{8}\Z")
INVOICE_NUMBER_RE = re.compile(r"[0-9]{10}\Z")
CHECK_CODE_RE = re.compile(r"[0-9A-Za-z]{6}\Z")
ITEM_CODE_RE = re.compile(r"[A-Z0-9][A-Z0-9-]{18,38}[A-Z0-9]\Z")
QUANTITY_RE = re.compile(r"[0-9]{1,7}(\.[0-9]{1,3})?\Z")
DATE_RE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}\Z")

#: the fields of the upload format (:meth:`Invoice.to_json`, :meth:`FeeLine.to_json`)
INVOICE_FIELDS = frozenset({
    "schemaVersion", "issuer", "invoiceCode", "invoiceNumber", "checkCode", "issuedAt",
    "visitType", "patientId", "totalFen", "fundPaidFen", "accountPaidFen", "cashPaidFen",
    "feeLines",
})
LINE_FIELDS = frozenset({
    "seq", "itemCode", "itemName", "category", "quantity", "unit", "unitPriceFen",
    "amountFen", "serviceDate",
})


@dataclass(frozen=True, slots=True)
class FeeLine:
    """One itemised line of an invoice (费用明细). Quantity is a normalised decimal string."""

    seq: int
    item_code: str
    item_name: str
    category: FeeCategory
    quantity: str
    unit: str
    unit_price_fen: int
    amount_fen: int
    service_date: str

    def to_json(self) -> dict[str, Any]:
        return {
            "seq": self.seq, "itemCode": self.item_code, "itemName": self.item_name,
            "category": self.category.value, "quantity": self.quantity, "unit": self.unit,
            "unitPriceFen": self.unit_price_fen, "amountFen": self.amount_fen,
            "serviceDate": self.service_date,
        }


@dataclass(frozen=True, slots=True)
class Invoice:
    """A validated e-invoice: header fields, pseudonymised patient and fee lines."""

    issuer: str
    invoice_code: str
    invoice_number: str
    check_code: str
    issued_at: str
    visit_type: VisitType
    patient: Hash32
    total_fen: int
    fund_paid_fen: int
    account_paid_fen: int
    cash_paid_fen: int
    fee_lines: tuple[FeeLine, ...]
    schema_version: int = SCHEMA_VERSION

    @property
    def key(self) -> tuple[str, str, str]:
        """(issuer, invoice code, invoice number): the same key is the same invoice."""
        return (self.issuer, self.invoice_code, self.invoice_number)

    @property
    def issue_date(self) -> str:
        return self.issued_at[:10]

    def to_json(self, *, patient_id: str | None = None) -> dict[str, Any]:
        """Upload-format document; ``patient_id`` is needed to make it re-parsable."""
        doc: dict[str, Any] = {
            "schemaVersion": self.schema_version, "issuer": self.issuer,
            "invoiceCode": self.invoice_code, "invoiceNumber": self.invoice_number,
            "checkCode": self.check_code, "issuedAt": self.issued_at,
            "visitType": self.visit_type.value,
            "totalFen": self.total_fen, "fundPaidFen": self.fund_paid_fen,
            "accountPaidFen": self.account_paid_fen, "cashPaidFen": self.cash_paid_fen,
            "feeLines": [line.to_json() for line in self.fee_lines],
        }
        if patient_id is not None:
            doc["patientId"] = patient_id
        return doc


# --------------------------------------------------------------------------- normal forms


def format_timestamp(t: datetime) -> str:
    """Normal form of an issue time: seconds precision with its own ``±HH:MM`` offset."""
    offset = t.utcoffset() or timedelta(0)
    minutes = int(offset.total_seconds()) // 60
    sign = "+" if minutes >= 0 else "-"
    hh, mm = divmod(abs(minutes), 60)
    return t.strftime("%Y-%m-%dT%H:%M:%S") + f"{sign}{hh:02d}:{mm:02d}"


def normal_quantity(v: str) -> str | None:
    """Normal form of a quantity matching QUANTITY_RE, or None if it is zero.

    No trailing zeros, no exponent: ``"2.50"`` -> ``"2.5"``, ``"3.000"`` -> ``"3"``.
    """
    q = Decimal(v)
    if q <= 0:
        return None
    return format(q.normalize(), "f")


def price_times_quantity(price: int, quantity: str) -> int:
    """round-half-up(price x quantity) in fen, for a quantity in normal form: a fee line's amount."""
    if "." not in quantity:  # integral: the exact integer product
        return price * int(quantity)
    return int((Decimal(price) * Decimal(quantity)).quantize(_ONE, ROUND_HALF_UP))


_ONE = Decimal(1)
