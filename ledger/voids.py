"""Void (red-letter reversal, 冲红) reasons: the code stamped on chain, the note kept off it.

When a hospital voids an invoice it says why. The chain needs only a reason a payer or
an auditor can act on, so the contract's ``bytes32 reason`` carries one of a short list
of **reason codes** (:class:`VoidReason`); the hospital's own words (a **note**, up to
500 characters, which may name the patient or the treatment) stay in the hospital's
database and never go on chain.

On chain a code is its ASCII text right-padded with zero bytes to 32 bytes, as member ids
are (readable in any block explorer): ``refund`` is ``0x726566756e64000…``. Voids stamped
before reason codes existed carry the hospital's free text instead (UTF-8, cut at 32
bytes); :func:`reason_from_bytes32` reads both, giving the code when the text is one and
the text otherwise.

A request is parsed once, here, for the API and the CLI alike (:meth:`VoidRequest.parse`).
The API's first body, ``{"reason": "<text>"}``, is still accepted (:meth:`VoidRequest.legacy`):
a text that is exactly a code is that code (it is what the old API stamped on chain), any
other text becomes the note under the code ``other``.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from ledger.errors import FieldProblem, InvalidInput

#: the longest note a hospital may keep with a void (characters; the ``voids.reason`` column)
MAX_NOTE_CHARS = 500


class VoidReason(StrEnum):
    """Why an invoice was voided, in words a hospital's billing office and a payer both use."""

    REFUND = "refund"
    RESETTLED = "resettled"
    ISSUED_IN_ERROR = "issued-in-error"
    DUPLICATE = "duplicate"
    AMOUNT_ERROR = "amount-error"
    PATIENT_DETAILS_ERROR = "patient-details-error"
    OTHER = "other"

    @property
    def meaning(self) -> str:
        """What the code says, in a sentence (English)."""
        return _MEANINGS[self][0]

    @property
    def label_en(self) -> str:
        return _MEANINGS[self][1]

    @property
    def label_zh(self) -> str:
        return _MEANINGS[self][2]

    @classmethod
    def parse(cls, text: str, *, field: str = "reasonCode") -> VoidReason:
        """The code spelled ``text``; raises :class:`InvalidInput` naming every allowed code."""
        try:
            return cls(text.strip())
        except ValueError:
            raise InvalidInput([_unknown_code(field, text)]) from None


# (meaning, English label, Chinese label): the web console and the citizen app show the labels
_MEANINGS: dict[VoidReason, tuple[str, str, str]] = {
    VoidReason.REFUND: (
        "the patient was refunded (treatment cancelled, medicine returned): the charge no longer stands",
        "Refunded", "退费"),
    VoidReason.RESETTLED: (
        "the bill was settled again through medical insurance at the counter (it should have been swiped); "
        "a new invoice replaces this self-paid one",
        "Re-settled through insurance", "改为医保结算"),
    VoidReason.ISSUED_IN_ERROR: (
        "the invoice should not have been issued at all (wrong visit, wrong patient account, a test issue)",
        "Issued in error", "误开票"),
    VoidReason.DUPLICATE: (
        "the same charges were invoiced twice; this copy is withdrawn",
        "Duplicate invoice", "重复开票"),
    VoidReason.AMOUNT_ERROR: (
        "fee lines, amounts or the payment split were wrong; a corrected invoice is issued",
        "Wrong amounts or items", "金额或项目有误"),
    VoidReason.PATIENT_DETAILS_ERROR: (
        "the patient's name, ID number or insurance category was wrong; a corrected invoice is issued",
        "Wrong patient details", "患者信息有误"),
    VoidReason.OTHER: (
        "none of the above; the hospital's note says why",
        "Other", "其他原因"),
}

ALLOWED_CODES = ", ".join(r.value for r in VoidReason)


def _unknown_code(field: str, text: str) -> FieldProblem:
    return FieldProblem(field, "enum", f"expected one of {ALLOWED_CODES}; got {text!r}")


def reason_to_bytes32(code: VoidReason | str) -> bytes:
    """The contract's ``bytes32 reason`` for ``code``: its ASCII, right-padded with zeros."""
    raw = VoidReason(code).value.encode("ascii")
    return raw.ljust(32, b"\0")


@dataclass(frozen=True)
class ChainVoidReason:
    """A void's ``bytes32 reason`` as read from chain.

    ``code`` is None for a void stamped before reason codes whose free text is not a code;
    ``text`` is the bytes as text either way (the code itself, or that old free text).
    """

    code: VoidReason | None
    text: str

    def to_json(self) -> dict[str, str | None]:
        return {"reasonCode": self.code.value if self.code else None, "reasonOnChain": self.text}

    def describe(self) -> str:
        """The reason in words, for a verdict's message."""
        if self.code is None:
            return f"reason stamped as free text (before reason codes): {self.text!r}"
        return f"reason {self.code.value}: {self.code.meaning}"


def reason_from_bytes32(raw: bytes) -> ChainVoidReason:
    """Read a void's ``bytes32 reason``; requires ``len(raw) == 32``."""
    if len(raw) != 32:
        raise ValueError(f"a void reason is 32 bytes, got {len(raw)}")
    # old free text was cut at 32 bytes, possibly inside a character: show what is left
    text = bytes(raw).rstrip(b"\0").decode("utf-8", errors="replace")
    try:
        return ChainVoidReason(VoidReason(text), text)
    except ValueError:
        return ChainVoidReason(None, text)


@dataclass(frozen=True)
class VoidRequest:
    """What a hospital asks for when it voids an invoice: the code for the chain, a note for itself."""

    code: VoidReason
    #: the hospital's own words ("" when none); never on chain
    note: str = ""

    @classmethod
    def parse(cls, *, code: str | None, note: str | None) -> VoidRequest:
        """A request from a code and an optional note; raises :class:`InvalidInput` naming
        every problem (an unknown code lists the allowed ones)."""
        problems: list[FieldProblem] = []
        text = (note or "").strip()
        if len(text) > MAX_NOTE_CHARS:
            problems.append(FieldProblem("reason", "max-length", f"the note has {len(text)} characters; at most "
                                                                 f"{MAX_NOTE_CHARS}"))
        reason: VoidReason | None = None
        if code is None or not code.strip():
            problems.append(FieldProblem("reasonCode", "required", f"give a reason code, one of {ALLOWED_CODES}"))
        else:
            try:
                reason = VoidReason(code.strip())
            except ValueError:
                problems.append(_unknown_code("reasonCode", code))
        if problems:
            raise InvalidInput(problems)
        assert reason is not None
        return cls(reason, text)

    @classmethod
    def legacy(cls, text: str) -> VoidRequest:
        """A request in the API's first form, ``{"reason": "<text>"}`` (no code).

        The old API stamped that text on chain, so a text that is exactly a code means
        that code (and says nothing more); any other text is kept as the note, under ``other``.
        """
        stripped = text.strip()
        if not stripped:
            raise InvalidInput.single("reasonCode", "required", f"give a reason code, one of {ALLOWED_CODES}")
        try:
            return cls(VoidReason(stripped))
        except ValueError:
            return cls.parse(code=VoidReason.OTHER.value, note=stripped)

    def repeats(self, *, code: VoidReason, note: str) -> bool:
        """Whether this request asks for nothing beyond a recorded void (``code``, ``note``),
        so that answering with the recorded void is right: the same code, and no note or
        the same note. A retry after a lost answer is one; another code or another note is not."""
        return self.code == code and self.note in ("", note)
