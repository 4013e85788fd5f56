"""Void reason codes: the bytes32 on chain, old free-text reasons, and parsing requests."""

from __future__ import annotations

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from ledger.errors import InvalidInput
from ledger.voids import (
    MAX_NOTE_CHARS,
    VoidReason,
    VoidRequest,
    reason_from_bytes32,
    reason_to_bytes32,
)


@pytest.mark.parametrize("code", list(VoidReason))
def test_every_code_round_trips_through_bytes32(code: VoidReason) -> None:
    raw = reason_to_bytes32(code)
    assert len(raw) == 32 and raw.rstrip(b"\0") == code.value.encode("ascii")
    assert reason_from_bytes32(raw).code is code
    assert code.meaning and code.label_en and code.label_zh


def test_the_bytes_are_the_ascii_code_right_padded() -> None:
    assert reason_to_bytes32("refund").hex() == "726566756e64" + "00" * 26
    with pytest.raises(ValueError):
        reason_to_bytes32("refunded")


@pytest.mark.parametrize(("stamped", "code", "text"), [
    (b"refund", VoidReason.REFUND, "refund"),        # the old API's documented example: a code now
    (b"other", VoidReason.OTHER, "other"),
    ("refund 退费".encode(), None, "refund 退费"),
    (b"Refund", None, "Refund"),                      # codes are exact
    ("患者退费，重新开具发票并作废原票据".encode()[:32], None, "患者退费，重新开具发\ufffd"),  # 32 bytes: cut inside 票
    (b"", None, ""),
])
def test_reasons_stamped_before_codes_read_as_their_text(stamped: bytes, code: VoidReason | None, text: str) -> None:
    got = reason_from_bytes32(stamped.ljust(32, b"\0"))
    assert (got.code, got.text) == (code, text)
    assert got.to_json() == {"reasonCode": code.value if code else None, "reasonOnChain": text}


@given(st.binary(min_size=32, max_size=32))
@example(b"\xff" * 32)
def test_any_bytes32_reads_without_error(raw: bytes) -> None:
    got = reason_from_bytes32(raw)
    assert got.code is None or reason_to_bytes32(got.code) == raw


def test_a_reason_is_32_bytes() -> None:
    with pytest.raises(ValueError):
        reason_from_bytes32(b"refund")


def test_a_request_needs_a_known_code_and_a_short_note() -> None:
    assert VoidRequest.parse(code=" refund ", note="  patient refunded ") == VoidRequest(VoidReason.REFUND,
                                                                                        "patient refunded")
    assert VoidRequest.parse(code="duplicate", note=None) == VoidRequest(VoidReason.DUPLICATE, "")
    with pytest.raises(InvalidInput) as bad:
        VoidRequest.parse(code="refunded", note="x" * (MAX_NOTE_CHARS + 1))
    assert [(p.field, p.rule) for p in bad.value.problems] == [("reason", "max-length"), ("reasonCode", "enum")]
    assert all(c.value in bad.value.problems[1].message for c in VoidReason)
    for missing in (None, "", "  "):
        with pytest.raises(InvalidInput) as bad:
            VoidRequest.parse(code=missing, note="text")
        assert bad.value.problems[0].rule == "required"
    assert VoidRequest.parse(code="other", note="x" * MAX_NOTE_CHARS).note == "x" * MAX_NOTE_CHARS


def test_the_old_body_is_a_code_or_a_note_under_other() -> None:
    assert VoidRequest.legacy("refund") == VoidRequest(VoidReason.REFUND)
    assert VoidRequest.legacy(" refund 退费 ") == VoidRequest(VoidReason.OTHER, "refund 退费")
    with pytest.raises(InvalidInput):
        VoidRequest.legacy(" ")
    with pytest.raises(InvalidInput):
        VoidRequest.legacy("x" * (MAX_NOTE_CHARS + 1))


def test_a_repeat_asks_for_nothing_new() -> None:
    recorded = {"code": VoidReason.DUPLICATE, "note": "issued twice"}
    assert VoidRequest(VoidReason.DUPLICATE, "issued twice").repeats(**recorded)
    assert VoidRequest(VoidReason.DUPLICATE).repeats(**recorded)
    assert not VoidRequest(VoidReason.DUPLICATE, "another").repeats(**recorded)
    assert not VoidRequest(VoidReason.REFUND, "issued twice").repeats(**recorded)
    assert VoidReason.parse("amount-error") is VoidReason.AMOUNT_ERROR
    with pytest.raises(InvalidInput):
        VoidReason.parse("amount")


@pytest.mark.parametrize("strings", ["api/web/console/strings.js", "api/web/app/strings.js"])
def test_the_web_labels_are_the_codes_labels(strings: str) -> None:
    """The console and the citizens' app name each code as ledger/voids.py does (English table
    first, then Chinese), so a new or renamed code cannot go unlabelled."""
    import re
    from pathlib import Path

    text = (Path(__file__).resolve().parents[2] / strings).read_text(encoding="utf-8")
    for code in VoidReason:
        found = re.findall(rf"""['"]?void_{re.escape(code.value)}['"]?\s*:\s*'([^']*)'""", text)
        assert found == [code.label_en, code.label_zh], code


def test_the_hospital_desk_offers_every_code_with_its_meaning() -> None:
    """The hospital desk's void form lists the codes of VoidReason in its order, and says what each means
    in English and Chinese, so a new code cannot be missing from the form."""
    import json
    import re
    from pathlib import Path

    web = Path(__file__).resolve().parents[2] / "api/web/console"
    desk = (web / "desk-invoice.js").read_text(encoding="utf-8")
    listed = re.search(r"export const VOID_CODES = (\[[^\]]*\]);", desk)
    assert listed is not None
    assert json.loads(listed.group(1).replace("'", '"')) == [r.value for r in VoidReason]
    strings = (web / "strings.js").read_text(encoding="utf-8")
    for code in VoidReason:
        hints = re.findall(rf"""['"]desk_voidHint_{re.escape(code.value)}['"]\s*:\s*'([^']*)'""", strings)
        assert len(hints) == 2 and all(hints), code
