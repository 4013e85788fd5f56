"""ledger.invoice_fastpath: the fast path for plainly valid fee lines, against the pre-optimisation code.

``parse_invoice`` accepts plainly valid fee lines without the careful per-field checker
and falls back to it for anything else. The claim is that this changes nothing but
speed: the same documents are accepted, with equal invoices, and every other document
is refused with the same problems (field, rule, message, order). ``invoice_reference``
is the validation as it was before the fast path; hypothesis mutates valid documents
(realistic ones from ``ledger.devtools.synth``) and both must agree on every result.
"""

from __future__ import annotations

import copy
import dataclasses
import re
from collections import OrderedDict
from collections.abc import Callable, Iterator, Mapping
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import invoice_reference  # tests/unit is on sys.path (rootdir-relative import)
import pytest
from hypothesis import HealthCheck, event, example, given, settings
from hypothesis import strategies as st

from ledger import invoice, invoice_check, invoice_fastpath
from ledger.devtools import synth
from ledger.errors import InvalidInvoice
from ledger.invoice import (
    MAX_AMOUNT_FEN,
    MAX_FEE_LINES,
    MAX_TEXT,
    MAX_UNIT_PRICE_FEN,
    QUANTITY_RE,
    FeeCategory,
    FeeLine,
)
from ledger.invoice_check import parse_invoice

PEPPER = b"fastpath-test-pepper-0123456789ab"

# --- what both implementations make of a document -----------------------------------


def outcome(parse: Callable[..., Any], doc: Any) -> tuple[Any, ...]:
    """The invoice (with the exact type of every field), the problems, or the exception."""
    try:
        inv = parse(copy.deepcopy(doc), pepper=PEPPER)
    except InvalidInvoice as exc:
        return ("invalid", exc.problems)
    except Exception as exc:  # e.g. TypeError from unorderable keys: must be the same too
        return ("raised", type(exc), str(exc))
    types = [tuple(type(getattr(li, f.name)) for f in dataclasses.fields(li)) for li in inv.fee_lines]
    return ("valid", inv, types)


def assert_same_as_reference(doc: Any) -> tuple[Any, ...]:
    got, want = outcome(parse_invoice, doc), outcome(invoice_reference.parse_invoice, doc)
    assert got == want
    return got


def record(result: tuple[Any, ...]) -> None:
    """What the examples covered: ``pytest --hypothesis-show-statistics``."""
    if result[0] == "invalid":
        for problem in result[1]:
            event(f"refused: {problem.rule}")
    else:
        event(result[0])


# --- valid documents to start from --------------------------------------------------

_DATASET = synth.generate(seed=11, hospitals=4, invoices=60, fee_lines=None, pepper=PEPPER)
REALISTIC = list(synth.iter_documents(_DATASET))


def _unusual() -> dict[str, Any]:
    """Valid, but spelt unusually; the no-break space sends the last line the careful way."""
    lines = [
        ("007", 300, 2100),          # leading zeros: normal form "7"
        ("2.50", 1250, 3125),        # trailing zero
        (3, 150, 450),               # integer quantity
        ("0.333", 1000, 333),        # 333.0 exactly
        ("0.005", 101, 1),           # 0.505 rounds half up to 1
        ("9999999.999", 0, 0),       # largest quantity
        ("1.000", 99, 99),           # integral with decimals
    ]
    fee_lines = [
        {"seq": i + 1, "itemCode": "FWB-0010000000000-01A", "itemName": "门诊诊查费(普通)",
         "category": "ABC"[i % 3], "quantity": q, "unit": "次", "unitPriceFen": price,
         "amountFen": amount, "serviceDate": "2024-03-0" + str(1 + i % 5)}
        for i, (q, price, amount) in enumerate(lines)
    ]
    fee_lines[-1]["itemName"] = "门诊诊查费\u00a0(普通)"
    total = sum(line["amountFen"] for line in fee_lines)
    return {
        "schemaVersion": 1, "issuer": "H33010200001", "invoiceCode": "33060124",
        "invoiceNumber": "0001234567", "checkCode": "a1B2c3",
        "issuedAt": "2024-03-05T10:21:33+08:00", "visitType": "outpatient",
        "patientId": "11010519491231002X", "totalFen": total, "fundPaidFen": 0,
        "accountPaidFen": 0, "cashPaidFen": total, "feeLines": fee_lines,
    }


UNUSUAL = _unusual()
# for hypothesis: small documents (speed), one with several service dates, the unusual one
BASES = [
    *[doc for doc in REALISTIC if len(doc["feeLines"]) <= 40][:10],
    min((doc for doc in REALISTIC if len({li["serviceDate"] for li in doc["feeLines"]}) >= 3),
        key=lambda doc: len(doc["feeLines"])),
    UNUSUAL,
]


def test_bases_are_valid_and_varied() -> None:
    for doc in BASES:
        assert assert_same_as_reference(doc)[0] == "valid"
    lines = [li for doc in BASES for li in doc["feeLines"]]
    assert any("-" in li["itemCode"] for li in lines)
    assert sum(isinstance(li["quantity"], str) and "." in li["quantity"] for li in lines) >= 5
    assert {doc["visitType"] for doc in BASES} >= {"outpatient", "inpatient"}


# --- mutations ----------------------------------------------------------------------

HEADER_FIELDS = sorted(invoice.INVOICE_FIELDS)
LINE_FIELDS = sorted(invoice.LINE_FIELDS)

# characters that break formats, or look as if they should: controls, invisible format
# characters, Unicode spaces and digits, quotes
ODD_CHARS = [
    "\n", "\r", "\t", " ", "\x00", "\x1f", "\x7f", "\x85", "\x9f", "\u200b", "\u200d", "\u200f",
    "\u202a", "\u202e", "\u2060", "\u2065", "\u2066", "\ufeff", "\ud800", "\udfff", "０", "９", "٣",
    "²", "-", "X", "x", "a", "Z", ".", "0", "9", "e", "+", "é", "药", "\U0001f600", '"', "\\", ":",
]
# not printable, so never plain, but not refused by the text rule either
ALLOWED_ODD_CHARS = ["\u00a0", "\u3000", "\u00ad", "\u2028", "\u2029", "\U000e0001", "\u0600", "\ue000"]
BLANKS = ["", " ", "   ", "\u3000", "\t", "\u00a0", "\n"]


class StrSub(str):
    """A str that is not exactly str: valid for the careful checker, never plain."""


class LineMapping(Mapping[str, Any]):
    """A fee line that is a Mapping but not a dict."""

    def __init__(self, data: Mapping[str, Any]) -> None:
        self._data = dict(data)

    def __getitem__(self, key: str) -> Any:
        return self._data[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._data)

    def __len__(self) -> int:
        return len(self._data)


NUMBER_EDGES: dict[str, list[Any]] = {
    "seq": [0, 1, 2, MAX_FEE_LINES * 5, MAX_FEE_LINES * 5 + 1, -1],
    "unitPriceFen": [0, 1, MAX_UNIT_PRICE_FEN, MAX_UNIT_PRICE_FEN + 1, -1],
    "amountFen": [0, 1, MAX_AMOUNT_FEN, MAX_AMOUNT_FEN + 1, -1],
    "totalFen": [0, 1, MAX_AMOUNT_FEN, MAX_AMOUNT_FEN + 1, -1],
    "fundPaidFen": [0, MAX_AMOUNT_FEN + 1, -1],
    "accountPaidFen": [0, MAX_AMOUNT_FEN + 1, -1],
    "cashPaidFen": [0, MAX_AMOUNT_FEN + 1, -1],
    "schemaVersion": [0, 1, 2],
}
QUANTITIES: list[Any] = [
    "1", "7", "007", "0", "00", "0.000", "2.50", "1.000", "10", "100", "0.001", "0.005", "9999999",
    "9999999.999", "10000000", "12345678", "1.2345", "1e3", "NaN", "Infinity", ".5", "5.", "+1", "-1",
    "1_0", " 1", "1 ", "1\n", "١", "１", "²", "",
    0, 1, 7, -1, 9_999_999, 10_000_000, True, False, 1.0, 2.5,
]
DATES = [
    "2024-01-01", "2024-02-29", "2023-02-29", "2024-02-30", "2024-13-01", "2024-00-10", "0000-01-01",
    "0001-01-01", "9999-12-31", "2024-1-01", "20240101", "2024-01-01T00:00", "2024-W01-1", "2024-001",
    "2024-01-01\n", "２０２４-01-01", "2030-01-01",
]
ISSUED_AT = [
    "2024-03-05T10:21:33Z", "2024-03-05T00:30:00+08:00", "2024-03-04T23:59:59-05:00",
    "2024-03-05T10:21:33.999999+08:00", "2024-03-05", "2024-03-05T10:21:33", "2024-02-30T10:21:33+08:00",
    "1999-12-31T10:21:33+08:00", "2024-03-05T10:21:33+05:30:15", "2024-12-31T23:59:59+14:00",
]


def edited(draw: st.DrawFn, text: str, chars: list[str]) -> str:
    """``text`` with one character inserted, replaced or deleted, or cut, or repeated."""
    pos = draw(st.integers(0, len(text)))
    char = draw(st.sampled_from(chars))
    kind = draw(st.sampled_from(["insert", "append", "prepend", "replace", "delete", "cut", "repeat"]))
    if kind == "insert":
        return text[:pos] + char + text[pos:]
    if kind == "append":
        return text + char
    if kind == "prepend":
        return char + text
    if kind == "replace":
        return text[:pos] + char + text[pos + 1 :]
    if kind == "delete":
        return text[:pos] + text[pos + 1 :]
    if kind == "cut":
        return text[:pos]
    return text * draw(st.integers(2, 20))


def other_types(draw: st.DrawFn, current: Any) -> Any:
    """The value as another JSON type, a Python-only look-alike, or null."""
    return draw(st.sampled_from([
        None, [], {}, [current], {"v": current}, True, False, 1.0, 0.5, float("nan"), float("inf"),
        str(current), StrSub(current) if isinstance(current, str) else current, b"x", (current,),
    ]))


def near_miss(draw: st.DrawFn, field: str, current: Any) -> Any:
    """A value for ``field`` close to a valid one: a boundary, a spelling, a type."""
    if draw(st.integers(0, 5)) == 0:
        return other_types(draw, current)
    if field in NUMBER_EDGES:
        n = current if type(current) is int else 1
        return draw(st.sampled_from([*NUMBER_EDGES[field], n + 1, n - 1, -n, n * 100, True, False,
                                     float(n), str(n), 2**63, 10**30]))
    if field == "quantity":
        return draw(st.sampled_from(QUANTITIES) | st.from_regex(QUANTITY_RE, fullmatch=True)
                    | st.decimals(min_value=0, max_value=10**7, places=3, allow_nan=False).map(str))
    if field == "serviceDate":
        return draw(st.sampled_from(DATES) | st.dates().map(str))
    if field == "issuedAt":
        return draw(st.sampled_from(ISSUED_AT))
    if field in ("category", "visitType"):
        return draw(st.sampled_from(["a", "b", "D", "", "A ", " A", "AB", "A\n", "Ａ", StrSub("A"),
                                     FeeCategory.CLASS_A, "outpatient", "Outpatient", "inpatient\n"]))
    text = current if isinstance(current, str) else "x"
    if field in ("itemName", "unit"):
        limit = MAX_TEXT if field == "itemName" else invoice.MAX_UNIT_TEXT
        if draw(st.booleans()):
            return draw(st.sampled_from(["药" * limit, "药" * (limit + 1), "x" * (limit + 1), *BLANKS]))
        return edited(draw, text, ODD_CHARS + ALLOWED_ODD_CHARS)
    # codes, the patient ID: one character off, ASCII look-alikes, a trailing newline
    return edited(draw, text, ODD_CHARS)


def rederive_amount(line: dict[str, Any]) -> None:
    """amountFen = round-half-up(price x quantity), where both are numbers, so that only
    the mutated field is wrong."""
    price, quantity = line.get("unitPriceFen"), line.get("quantity")
    try:
        exact = Decimal(price) * Decimal(quantity if isinstance(quantity, str) else int(quantity))
        line["amountFen"] = int(exact.quantize(Decimal(1), ROUND_HALF_UP))
    except Exception:
        return


def rebalance(doc: dict[str, Any]) -> None:
    """Make the totals agree with the lines again, where they can."""
    lines = doc.get("feeLines")
    if not isinstance(lines, list):
        return
    amounts = [li.get("amountFen") for li in lines if isinstance(li, Mapping)]
    if all(type(a) is int for a in amounts):
        doc["totalFen"] = sum(amounts)
        doc["fundPaidFen"], doc["accountPaidFen"], doc["cashPaidFen"] = 0, 0, sum(amounts)


def mutate_line(draw: st.DrawFn, doc: dict[str, Any], line: dict[str, Any]) -> None:
    field = draw(st.sampled_from(LINE_FIELDS))
    op = draw(st.sampled_from(["near-miss", "near-miss", "near-miss", "delete", "unknown", "swap"]))
    if op == "near-miss":
        line[field] = near_miss(draw, field, line.get(field))
    elif op == "delete":
        line.pop(field, None)
    elif op == "unknown":
        line[draw(st.sampled_from(["discountFen", "item_code", "Seq", 1]))] = 0
    else:
        other = draw(st.sampled_from(LINE_FIELDS))
        line[field], line[other] = line.get(other), line.get(field)
    if field != "amountFen" and draw(st.booleans()):
        rederive_amount(line)


def respell_line(draw: st.DrawFn, doc: dict[str, Any], line: dict[str, Any]) -> None:
    """A change that keeps a valid line valid, but may take it off the fast path."""
    op = draw(st.sampled_from(["quantity", "text", "subclass", "mapping", "price", "date", "category"]))
    if op == "quantity":
        q = line.get("quantity")
        line["quantity"] = draw(st.sampled_from(
            [int(q), "0" + q, q + ".0", q + ".000"] if isinstance(q, str) and q.isdigit() else ["2.50", "0.001", 3]
        ))
    elif op == "text":
        field = draw(st.sampled_from(["itemName", "unit"]))
        if isinstance(line.get(field), str):
            line[field] = edited(draw, line[field], [*ALLOWED_ODD_CHARS, "é", "\U0001f600", '"', "\\", " ", "盒"])
    elif op == "subclass":
        field = draw(st.sampled_from(["itemCode", "itemName", "category", "quantity", "unit", "serviceDate"]))
        if isinstance(line.get(field), str):
            line[field] = StrSub(line[field])
    elif op == "mapping":
        lines = doc["feeLines"]
        lines[lines.index(line)] = draw(st.sampled_from([LineMapping, OrderedDict]))(line)
    elif op == "price":
        line["unitPriceFen"] = draw(st.sampled_from([0, 1, MAX_UNIT_PRICE_FEN]))
    elif op == "date":
        line["serviceDate"] = draw(st.sampled_from(["2024-01-01", "2023-12-31", "2020-02-29", "2000-01-01"]))
    else:
        line["category"] = draw(st.sampled_from(["A", "B", "C"]))
    rederive_amount(line)


def mutate_lines(draw: st.DrawFn, doc: dict[str, Any], line: dict[str, Any]) -> None:
    lines = doc["feeLines"]
    op = draw(st.sampled_from(["dup-seq", "same-dict", "remove", "non-dict", "container"]))
    if op == "dup-seq":
        line["seq"] = draw(st.sampled_from([li for li in lines if isinstance(li, dict)])).get("seq")
    elif op == "same-dict":
        lines.append(line)
    elif op == "remove":
        lines.remove(line)
    elif op == "non-dict":
        lines[lines.index(line)] = draw(st.sampled_from([None, "line", 1, [line], ()]))
    else:
        doc["feeLines"] = draw(st.sampled_from([[], {}, tuple(lines), None]))


def mutate_header(draw: st.DrawFn, doc: dict[str, Any]) -> None:
    field = draw(st.sampled_from(HEADER_FIELDS))
    op = draw(st.sampled_from(["near-miss", "near-miss", "delete", "unknown"]))
    if op == "near-miss":
        doc[field] = near_miss(draw, field, doc.get(field))
    elif op == "delete":
        doc.pop(field, None)
    else:
        doc[draw(st.sampled_from(["patientName", "feeLine", "total"]))] = 0


@st.composite
def mutated(draw: st.DrawFn) -> Any:
    """A valid document with one to three changes; usually the totals are made to agree
    again, so that a changed line is the only problem."""
    doc = copy.deepcopy(draw(st.sampled_from(BASES)))
    for _ in range(draw(st.integers(1, 3))):
        lines = doc.get("feeLines")
        dict_lines = [li for li in lines if type(li) is dict] if isinstance(lines, list) else []
        target = draw(st.sampled_from(["line", "line", "line", "respell", "respell", "lines", "header"]))
        if not dict_lines or target == "header":
            mutate_header(draw, doc)
            continue
        line = draw(st.sampled_from(dict_lines))
        {"line": mutate_line, "respell": respell_line, "lines": mutate_lines}[target](draw, doc, line)
    if draw(st.integers(0, 3)):
        rebalance(doc)
    return doc


# --- the equivalence ------------------------------------------------------------------


@settings(max_examples=1000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated())
@example(UNUSUAL)
def test_mutated_documents_give_the_same_result(doc: Any) -> None:
    record(assert_same_as_reference(doc))


@st.composite
def one_field_changed(draw: st.DrawFn) -> Any:
    """A valid document with one field of one line changed, and the amount and totals
    made to agree again: if the change breaks a rule, it is the only problem."""
    doc = copy.deepcopy(draw(st.sampled_from(BASES)))
    line = draw(st.sampled_from(doc["feeLines"]))
    field = draw(st.sampled_from(LINE_FIELDS))
    line[field] = near_miss(draw, field, line.get(field))
    if field != "amountFen":
        rederive_amount(line)
    rebalance(doc)
    return doc


@settings(max_examples=1000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(one_field_changed())
def test_one_changed_field_gives_the_same_result(doc: Any) -> None:
    record(assert_same_as_reference(doc))


def _near_misses() -> Iterator[tuple[str, Any]]:
    """Every listed edge value of every fee-line field."""
    for field in ("seq", "unitPriceFen", "amountFen"):
        for v in [*NUMBER_EDGES[field], True, False, 1.0, "1", None, 2**63]:
            yield field, v
    for q in QUANTITIES:
        yield "quantity", q
    for d in DATES:
        yield "serviceDate", d
    for c in ["A", "B", "C", "a", "D", "", "A ", "AB", "A\n", "Ａ", StrSub("A"), FeeCategory.CLASS_A, ["A"]]:
        yield "category", c
    code = "FWB-0010000000000-01A"
    for c in [code, code.lower(), "-" + code[1:], code[:-1] + "-", "X" * 19, "X" * 20, "X" * 40, "X" * 41,
              StrSub(code), code.replace("0", "０", 1)]:
        yield "itemCode", c
    for char in ODD_CHARS + ALLOWED_ODD_CHARS:
        yield "itemCode", code[:5] + char + code[5:]
        yield "itemCode", code + char
        for field, text in (("itemName", "门诊诊查费"), ("unit", "盒")):
            yield field, text[:1] + char + text[1:]
            yield field, text + char
    for field, limit in (("itemName", MAX_TEXT), ("unit", invoice.MAX_UNIT_TEXT)):
        for text in ["药" * limit, "药" * (limit + 1), " 药", "药 ", StrSub("药"), *BLANKS]:
            yield field, text


_PLAIN = next(d for d in REALISTIC if len(d["feeLines"]) >= 3 and d["feeLines"][1]["quantity"].isdigit())


@pytest.mark.parametrize(("field", "value"), list(_near_misses()))
def test_every_listed_near_miss_gives_the_same_result(field: str, value: Any) -> None:
    doc = copy.deepcopy(_PLAIN)
    line = doc["feeLines"][1]
    line[field] = value
    if field != "amountFen":
        rederive_amount(line)
    rebalance(doc)
    assert_same_as_reference(doc)


def _set(doc: dict[str, Any], line: int, **values: Any) -> dict[str, Any]:
    doc = copy.deepcopy(doc)
    doc["feeLines"][line].update(values)
    return doc


@pytest.mark.parametrize(
    "doc",
    [
        _set(UNUSUAL, 0, quantity="7"),            # plain spelling of the same line
        _set(UNUSUAL, 2, quantity=True),            # bool is not an int quantity
        _set(UNUSUAL, 2, quantity=3.0),             # nor is a float
        _set(UNUSUAL, 0, seq=True),
        _set(UNUSUAL, 0, unitPriceFen=True),
        _set(UNUSUAL, 0, amountFen=2100.0),
        _set(UNUSUAL, 0, itemCode="FWB-0010000000000-01A\n"),
        _set(UNUSUAL, 0, itemCode="FWB-００１0000000000-01A"),
        _set(UNUSUAL, 0, itemCode="-FWB0010000000000-01A"),
        _set(UNUSUAL, 0, itemCode=StrSub("FWB-0010000000000-01A")),
        _set(UNUSUAL, 0, itemName="门诊\u200b诊查费"),  # zero-width space: refused
        _set(UNUSUAL, 0, itemName="门诊\u00ad诊查费"),  # soft hyphen: not printable, yet allowed
        _set(UNUSUAL, 0, itemName="门诊\u3000诊查费"),  # ideographic space: allowed
        _set(UNUSUAL, 0, itemName="药" * MAX_TEXT),
        _set(UNUSUAL, 0, itemName="药" * (MAX_TEXT + 1)),
        _set(UNUSUAL, 0, itemName=" \u3000 "),
        _set(UNUSUAL, 0, unit="盒" * 16),
        _set(UNUSUAL, 0, unit="盒" * 17),
        _set(UNUSUAL, 0, category=StrSub("A")),
        _set(UNUSUAL, 0, category=["A"]),
        _set(UNUSUAL, 0, serviceDate="2024-03-06"),  # after the issue date
        _set(UNUSUAL, 0, serviceDate="2024-02-30"),
        _set(UNUSUAL, 0, serviceDate=["2024-03-01"]),
        _set(UNUSUAL, 5, quantity="9999999.9990"),
        _set(UNUSUAL, 4, amountFen=0),              # 0.505 must round half up to 1
        _set(UNUSUAL, 0, quantity="0007"),
        _set(UNUSUAL, 0, quantity="12345678"),
        _set(UNUSUAL, 0, quantity=10_000_000, amountFen=3_000_000_000),
        _set(UNUSUAL, 0, quantity=-7),
    ],
)
def test_edge_cases_give_the_same_result(doc: Any) -> None:
    assert_same_as_reference(doc)


def test_realistic_documents_are_accepted_on_the_fast_path(monkeypatch: pytest.MonkeyPatch) -> None:
    careful = invoice_check._fee_line
    calls: list[str] = []

    def counting(item: Any, at: str, *args: Any) -> Any:
        calls.append(at)
        return careful(item, at, *args)

    monkeypatch.setattr(invoice_check, "_fee_line", counting)
    for doc in REALISTIC:
        assert assert_same_as_reference(doc)[0] == "valid"
    assert calls == []  # not one realistic line needed the careful checker


def test_only_lines_that_are_not_plain_go_the_careful_way(monkeypatch: pytest.MonkeyPatch) -> None:
    careful = invoice_check._fee_line
    calls: list[str] = []
    monkeypatch.setattr(invoice_check, "_fee_line", lambda item, at, *a: calls.append(at) or careful(item, at, *a))
    inv = parse_invoice(copy.deepcopy(UNUSUAL), pepper=PEPPER)
    assert [li.quantity for li in inv.fee_lines] == ["7", "2.5", "3", "0.333", "0.005", "9999999.999", "1"]
    assert calls == ["feeLines[6]"]  # the no-break space: not plain, yet allowed


# --- the facts the fast path relies on ---------------------------------------------------


def test_printable_text_has_no_character_the_control_pattern_refuses() -> None:
    control = invoice_check._CONTROL_RE
    for cp in range(0x110000):
        c = chr(cp)
        if control.match(c):
            assert not c.isprintable(), f"U+{cp:04X}"


@given(st.from_regex(r"[1-9][0-9]{0,6}", fullmatch=True))
def test_plain_integer_quantity_is_its_own_normal_form(q: str) -> None:
    assert format(Decimal(q).normalize(), "f") == q
    assert invoice.normal_quantity(q) == q


@given(
    price=st.integers(0, MAX_UNIT_PRICE_FEN),
    quantity=st.from_regex(QUANTITY_RE, fullmatch=True).filter(lambda q: Decimal(q) > 0),
)
@example(price=101, quantity="0.005")
@example(price=MAX_UNIT_PRICE_FEN, quantity="9999999.999")
def test_price_times_quantity_equals_the_decimal_formula(price: int, quantity: str) -> None:
    normal = invoice.normal_quantity(quantity)
    assert normal is not None
    expected = int((Decimal(price) * Decimal(normal)).quantize(Decimal(1), ROUND_HALF_UP))
    assert invoice.price_times_quantity(price, normal) == expected


def test_new_fee_line_equals_the_constructor() -> None:
    values = (3, "XJ01CAA040A001010104465", "阿莫西林胶囊", FeeCategory.CLASS_B, "2.5", "盒", 1250, 3125,
              "2024-03-05")
    fast, slow = invoice_fastpath._new_fee_line(*values), FeeLine(*values)
    assert type(fast) is FeeLine
    assert fast == slow and hash(fast) == hash(slow) and repr(fast) == repr(slow)
    assert dataclasses.astuple(fast) == values
    with pytest.raises(dataclasses.FrozenInstanceError):
        fast.seq = 4  # type: ignore[misc]


def test_limits_are_the_references() -> None:
    for name in ("SCHEMA_VERSION", "MAX_FEE_LINES", "MAX_AMOUNT_FEN", "MAX_UNIT_PRICE_FEN", "MAX_TEXT"):
        assert getattr(invoice, name) == getattr(invoice_reference, name), name
    for name in ("ISSUER_RE", "INVOICE_CODE_RE", "INVOICE_NUMBER_RE", "CHECK_CODE_RE", "ITEM_CODE_RE",
                 "QUANTITY_RE", "DATE_RE", "_CONTROL_RE"):
        pattern: re.Pattern[str] = getattr(invoice_check, name)  # the patterns the checker uses
        assert pattern.pattern == getattr(invoice_reference, name).pattern, name
