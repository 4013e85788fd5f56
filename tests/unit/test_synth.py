"""ledger.devtools.synth: deterministic, valid and realistic synthetic e-invoices."""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import sys
from collections import Counter
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal

import pytest

from ledger.devtools import synth
from ledger.identity import national_id_problem
from ledger.invoice import (
    CHECK_CODE_RE,
    INVOICE_CODE_RE,
    INVOICE_NUMBER_RE,
    ISSUER_RE,
    ITEM_CODE_RE,
    FeeCategory,
    Invoice,
    VisitType,
)
from ledger.invoice_check import parse_invoice

PEPPER = b"synthetic-test-pepper-0123456789"
UNITS = {"盒", "支", "片", "瓶", "次", "项", "袋", "个", "日"}
CODE_SHAPES = {
    "western": re.compile(r"^X[A-Z0-9]{22}$"),
    "chinese": re.compile(r"^Z[A-Z0-9]{19,22}$"),
    "consumable": re.compile(r"^C\d{26}$"),
    "service": re.compile(r"^\d{15}-[A-Z0-9]{4,9}$"),
}


@pytest.fixture(scope="module")
def small() -> synth.Dataset:
    return synth.generate(11, invoices=300, fee_lines=None, pepper=PEPPER)


@pytest.fixture(scope="module")
def small_list(small: synth.Dataset) -> list[tuple[Invoice, str]]:
    return small.to_list()


@pytest.fixture(scope="module")
def mid() -> list[tuple[Invoice, str]]:
    return synth.generate(5, invoices=500, fee_lines=500 * 85, pepper=PEPPER).to_list()


def _docs(ds: synth.Dataset, n: int) -> list[dict[str, object]]:
    out = []
    for doc in synth.iter_documents(ds):
        out.append(doc)
        if len(out) == n:
            break
    return out


# --------------------------------------------------------------------------- determinism


def test_same_seed_same_documents() -> None:
    a = synth.generate(3, invoices=120, fee_lines=120 * 60, pepper=PEPPER)
    b = synth.generate(3, invoices=120, fee_lines=120 * 60, pepper=PEPPER)
    assert _docs(a, 120) == _docs(b, 120)
    assert a.hospitals == b.hospitals and a.patients == b.patients
    # re-iterating the same (lazy) data set gives the same invoices again
    assert [inv for inv, _ in a] == [inv for inv, _ in a]


def test_other_seed_other_documents() -> None:
    a = synth.generate(3, invoices=50, fee_lines=None, pepper=PEPPER)
    b = synth.generate(4, invoices=50, fee_lines=None, pepper=PEPPER)
    assert _docs(a, 50) != _docs(b, 50)


def test_random_access_matches_iteration(small: synth.Dataset,
                                         small_list: list[tuple[Invoice, str]]) -> None:
    assert len(small) == len(small_list) == 300
    for i in (0, 1, 150, 299, -1):
        assert small[i] == small_list[i]
    with pytest.raises(IndexError):
        small[300]


_DIGEST_SCRIPT = """
import hashlib, json
from ledger.devtools import synth
ds = synth.generate(9, invoices=40, fee_lines=3000, pepper=b"synthetic-test-pepper-0123456789")
h = hashlib.sha256()
for doc in synth.iter_documents(ds):
    h.update(json.dumps(doc, sort_keys=True, ensure_ascii=False).encode())
print(h.hexdigest())
"""


def test_deterministic_across_processes() -> None:
    """No dependence on hash randomisation, time or global random state."""
    digests = set()
    for hashseed in ("1", "2"):
        env = {**os.environ, "PYTHONHASHSEED": hashseed}
        out = subprocess.run([sys.executable, "-c", _DIGEST_SCRIPT], env=env, check=True,
                             capture_output=True, text=True)
        digests.add(out.stdout.strip())
    ds = synth.generate(9, invoices=40, fee_lines=3000, pepper=PEPPER)
    h = hashlib.sha256()
    for doc in synth.iter_documents(ds):
        h.update(json.dumps(doc, sort_keys=True, ensure_ascii=False).encode())
    digests.add(h.hexdigest())
    assert len(digests) == 1


# --------------------------------------------------------------------------- line totals


@pytest.mark.parametrize(("invoices", "fee_lines"), [
    (200, 200 * 85), (200, 3_000), (37, 9_999), (7, 7), (3, 50_000),
])
def test_exact_fee_line_total(invoices: int, fee_lines: int) -> None:
    ds = synth.generate(2, invoices=invoices, fee_lines=fee_lines, pepper=PEPPER)
    assert ds.fee_line_count == fee_lines == sum(ds.line_counts)
    assert len(ds) == invoices
    if fee_lines <= 20_000:
        assert sum(len(inv.fee_lines) for inv, _ in ds) == fee_lines


def test_default_plan_has_exact_city_figures() -> None:
    ds = synth.generate(1, pepper=PEPPER)  # plans only; building is measured elsewhere
    assert len(ds) == 15_605 and ds.fee_line_count == 1_332_000
    assert len(ds.hospitals) == 132
    counts = ds.line_counts
    assert max(counts) > 1_500 and min(counts) >= 3


def test_free_line_counts_are_heavy_tailed(small_list: list[tuple[Invoice, str]]) -> None:
    by_type: dict[VisitType, list[int]] = {}
    for inv, _ in small_list:
        by_type.setdefault(inv.visit_type, []).append(len(inv.fee_lines))
    assert set(by_type) == set(VisitType)
    assert all(3 <= n <= 40 for n in by_type[VisitType.OUTPATIENT] + by_type[VisitType.PHARMACY])
    assert all(10 <= n <= 80 for n in by_type[VisitType.EMERGENCY])
    assert all(n >= 60 for n in by_type[VisitType.INPATIENT])
    mean = sum(map(len, (inv.fee_lines for inv, _ in small_list))) / len(small_list)
    assert 50 < mean < 130


def test_bad_arguments() -> None:
    with pytest.raises(ValueError):
        synth.generate(1, invoices=10, fee_lines=9, pepper=PEPPER)
    with pytest.raises(ValueError):
        synth.generate(1, invoices=0, pepper=PEPPER)
    with pytest.raises(ValueError):
        synth.generate(1, invoices=5, fee_lines=None, start="2024-02-01", end="2024-01-01",
                       pepper=PEPPER)
    with pytest.raises(ValueError):
        synth.generate(1, invoices=5, fee_lines=None, pepper=b"short")


# --------------------------------------------------------------------------- validity


def test_invoices_reparse_to_themselves(small_list: list[tuple[Invoice, str]]) -> None:
    for inv, pid in small_list:
        doc = json.loads(json.dumps(inv.to_json(patient_id=pid), ensure_ascii=False))
        assert parse_invoice(doc, pepper=PEPPER) == inv


def test_header_fields(small: synth.Dataset, small_list: list[tuple[Invoice, str]]) -> None:
    regions = {h.code: h.region for h in small.hospitals}
    keys = set()
    numbers: dict[str, set[str]] = {}
    issued = []
    for inv, pid in small_list:
        assert ISSUER_RE.match(inv.issuer) and inv.issuer in regions
        assert INVOICE_CODE_RE.match(inv.invoice_code)
        assert inv.invoice_code[:4] == regions[inv.issuer][:4]
        assert inv.invoice_code[4:6] == "24"
        assert INVOICE_NUMBER_RE.match(inv.invoice_number)
        assert CHECK_CODE_RE.match(inv.check_code)
        assert inv.issued_at.endswith("+08:00")
        assert "2024-01-01" <= inv.issue_date <= "2024-12-31"
        assert inv.fund_paid_fen == 0
        assert inv.account_paid_fen + inv.cash_paid_fen == inv.total_fen > 0
        assert 0 <= inv.account_paid_fen <= inv.total_fen
        assert national_id_problem(pid) is None
        assert inv.key not in keys
        keys.add(inv.key)
        seen = numbers.setdefault(inv.issuer, set())
        assert inv.invoice_number not in seen
        seen.add(inv.invoice_number)
        issued.append(inv.issued_at)
    assert issued == sorted(issued)  # issue order
    assert any(inv.account_paid_fen for inv, _ in small_list)


def test_fee_lines(small_list: list[tuple[Invoice, str]]) -> None:
    for inv, _ in small_list:
        issue = date.fromisoformat(inv.issue_date)
        dates = [line.service_date for line in inv.fee_lines]
        assert dates == sorted(dates)
        assert dates[-1] <= inv.issue_date
        span = (issue - date.fromisoformat(dates[0])).days
        if inv.visit_type is VisitType.INPATIENT:
            assert span <= 93
        else:
            assert span <= 1
        assert [line.seq for line in inv.fee_lines] == list(range(1, len(inv.fee_lines) + 1))
        assert sum(line.amount_fen for line in inv.fee_lines) == inv.total_fen
        for line in inv.fee_lines:
            q = Decimal(line.quantity)
            assert q > 0 and format(q.normalize(), "f") == line.quantity
            expected = (Decimal(line.unit_price_fen) * q).quantize(Decimal(1), ROUND_HALF_UP)
            assert line.amount_fen == int(expected)
            assert ITEM_CODE_RE.match(line.item_code)
            assert line.unit in UNITS


def test_inpatient_stays_span_days(mid: list[tuple[Invoice, str]]) -> None:
    spans = [len({line.service_date for line in inv.fee_lines})
             for inv, _ in mid if inv.visit_type is VisitType.INPATIENT]
    assert spans and min(spans) >= 1 and sum(spans) / len(spans) > 4


# --------------------------------------------------------------------------- realism


def test_amounts_plausible(mid: list[tuple[Invoice, str]]) -> None:
    """~¥1,354 an invoice in the city's figures (¥21.1 M over 15,605 invoices)."""
    mean_yuan = sum(inv.total_fen for inv, _ in mid) / len(mid) / 100
    assert 1_354 * 0.7 < mean_yuan < 1_354 * 1.3
    by_type: dict[VisitType, list[int]] = {}
    for inv, _ in mid:
        by_type.setdefault(inv.visit_type, []).append(inv.total_fen)

    def avg(vt: VisitType) -> float:
        return sum(by_type[vt]) / len(by_type[vt]) / 100

    assert 80 < avg(VisitType.OUTPATIENT) < 1_000
    assert 2_000 < avg(VisitType.INPATIENT) < 15_000


def test_line_category_mix(mid: list[tuple[Invoice, str]]) -> None:
    cats = Counter(line.category for inv, _ in mid for line in inv.fee_lines)
    n = sum(cats.values())
    for cat, share in synth.CATEGORY_MIX.items():
        assert abs(cats[cat] / n - share) < 0.08, (cat, cats[cat] / n)


def test_quantities_mostly_integers(mid: list[tuple[Invoice, str]]) -> None:
    qs = Counter(line.quantity for inv, _ in mid for line in inv.fee_lines)
    n = sum(qs.values())
    fractional = sum(c for q, c in qs.items() if "." in q)
    assert qs["1"] / n > 0.5 and 0 < fractional / n < 0.15
    assert qs["0.5"] and qs["2.5"]


def test_out_of_city_share_and_repeat_patients(mid: list[tuple[Invoice, str]]) -> None:
    out = sum(1 for inv, _ in mid if inv.issuer[1:5] != synth.CITY_PREFIX)
    assert 0.50 < out / len(mid) < 0.72
    per_patient = Counter(pid for _, pid in mid)
    assert 1 < max(per_patient.values()) < 40
    assert sum(1 for c in per_patient.values() if c > 1) > 20
    # the same patient always carries the same pseudonym
    pseudonyms: dict[str, bytes] = {}
    for inv, pid in mid:
        assert pseudonyms.setdefault(pid, inv.patient) == inv.patient


def test_patients_never_treated_before_birth(mid: list[tuple[Invoice, str]]) -> None:
    for inv, pid in mid:
        born = f"{pid[6:10]}-{pid[10:12]}-{pid[12:14]}"
        assert born <= inv.fee_lines[0].service_date


# --------------------------------------------------------------------------- parts


def test_hospitals() -> None:
    hs = synth.make_hospitals(132, seed=4)
    assert hs == synth.make_hospitals(132, seed=4)
    assert len(hs) == 132
    assert len({h.code for h in hs}) == 132 and len({h.name for h in hs}) == 132
    for h in hs:
        assert ISSUER_RE.match(h.code) and h.code[1:7] == h.region
        assert h.level in ("三级", "二级", "一级")
        assert h.name.endswith(("院", "服务中心"))
    out = sum(1 for h in hs if not h.in_city)
    assert out == round(132 * 0.4)
    assert sum(1 for h in hs if h.in_city and h.level == "三级") >= 1
    assert all(len(synth.make_hospitals(n, seed=1)) == n for n in (1, 2, 3, 500))


def test_catalogue() -> None:
    cat = synth.make_catalogue()
    assert 1_500 <= len(cat) <= 3_000
    assert len(cat.by_code) == len(cat)  # codes unique
    kinds = Counter(it.kind for it in cat.items)
    assert set(kinds) == set(CODE_SHAPES) and min(kinds.values()) > 150
    for it in cat.items:
        assert ITEM_CODE_RE.match(it.code), it.code
        assert CODE_SHAPES[it.kind].match(it.code), it.code
        if it.kind == "service":
            assert len(it.code) >= 20
        assert it.unit in UNITS
        assert 0 < it.unit_price_fen <= 10**7
        assert it.name.strip() and len(it.name) <= 200
    canonical = [it for it in cat.items if not it.is_alias]
    cats = Counter(it.category for it in canonical)
    for c, share in synth.CATEGORY_MIX.items():
        assert abs(cats[c] / len(canonical) - share) < 0.01
    # names are unique except the deliberate duplicate codes of one drug
    names = Counter(it.name for it in canonical)
    assert names.most_common(1)[0][1] == 1
    assert len(cat.aliases) >= 5
    for first, codes in cat.aliases.items():
        assert codes[0] == first and len(codes) >= 2
        items = [cat.by_code[c] for c in codes]
        assert len({(it.name, it.unit, it.unit_price_fen, it.category) for it in items}) == 1
        assert all(cat.normalise(c) == first for c in codes)
        assert items[0].kind == "western"


def test_duplicate_drug_codes_occur_in_invoices(mid: list[tuple[Invoice, str]]) -> None:
    cat = synth.make_catalogue()
    used = {line.item_code for inv, _ in mid for line in inv.fee_lines}
    assert all(code in cat.by_code for code in used)
    assert sum(1 for code in used if cat.by_code[code].is_alias) >= 3


def test_patients() -> None:
    ps = synth.make_patients(2_000, seed=6)
    assert len({p.national_id for p in ps}) == 2_000
    for p in ps:
        assert national_id_problem(p.national_id) is None
        assert p.national_id[14] == "9"  # synthetic sequence block 900-999
        assert p.national_id[6:14] == p.birth_date.replace("-", "")
        assert "1930-01-01" <= p.birth_date <= "2024-12-31"
        assert (int(p.national_id[16]) % 2 == 1) == (p.sex == "M")
    years = Counter(int(p.birth_date[:4]) for p in ps)
    assert years[2024] > 20 and sum(c for y, c in years.items() if y < 1965) > 300


def test_other_period() -> None:
    ds = synth.generate(3, invoices=60, fee_lines=None, hospitals=5, start="2025-03-01",
                        end=date(2025, 3, 31), pepper=PEPPER)
    for inv, _ in ds:
        assert "2025-03-01" <= inv.issue_date <= "2025-03-31"
        assert inv.invoice_code[4:6] == "25"
        assert date.fromisoformat(inv.fee_lines[0].service_date) >= date(2025, 3, 1) - timedelta(93)
    assert {inv.issuer for inv, _ in ds} <= {h.code for h in ds.hospitals}
    assert all(inv.fee_lines[0].category in FeeCategory for inv, _ in ds)


def test_registered_hospitals_issue_every_invoice() -> None:
    """``issuers`` (``ebill gen --issuer``): every invoice is issued by one of the given hospitals,
    with invoice codes of its region, and reparses as valid."""
    codes = ["H33010200001", "H31011500042"]
    ds = synth.generate(5, invoices=60, fee_lines=600, pepper=PEPPER, issuers=codes)
    assert [h.code for h in ds.hospitals] == codes
    assert [h.region for h in ds.hospitals] == ["330102", "310115"]
    docs = list(synth.iter_documents(ds))
    assert {d["issuer"] for d in docs} == set(codes)
    for d in docs:
        assert d["invoiceCode"][:4] == d["issuer"][1:5]
        parse_invoice(d, pepper=PEPPER)
    # deterministic, as every data set
    assert docs == list(synth.iter_documents(synth.generate(5, invoices=60, fee_lines=600, pepper=PEPPER,
                                                            issuers=codes)))


@pytest.mark.parametrize(("codes", "message"), [
    ([], "at least one"),
    (["H3301020000"], "H followed by 11 digits"),
    (["h33010200001"], "H followed by 11 digits"),
    (["H33010200001", "H33010200001"], "given twice"),
])
def test_registered_hospitals_refuse_bad_codes(codes: list[str], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        synth.registered_hospitals(codes)
