"""The data set: :func:`generate` plans every invoice (visit type, line count, hospital, patient, issue
time and invoice number, ~0.4 s for a year) and the fee lines are drawn when an invoice is built,
each invoice from its own seeded generator. Iterating twice gives identical invoices;
``ds.to_list()`` materialises them.
"""

from __future__ import annotations

import random
from bisect import bisect
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date
from functools import lru_cache
from operator import attrgetter
from typing import Any

from ledger.devtools.synth.catalogue import Catalogue, make_catalogue
from ledger.devtools.synth.draws import derive, lognormal
from ledger.devtools.synth.hospitals import Hospital, make_hospitals, registered_hospitals
from ledger.devtools.synth.patients import Patient, make_patients
from ledger.devtools.synth.sampling import SURGERY_P, pools_of
from ledger.hashing import Hash32
from ledger.identity import pseudonymise
from ledger.invoice import MAX_FEE_LINES, FeeLine, Invoice, VisitType

OUT_OF_CITY_INVOICES = 0.61     # share of invoices (claims) from hospitals outside the city

_VISIT_MIX = (  # visit type, share of invoices, (median lines, log sigma, min, max)
    (VisitType.OUTPATIENT, 0.50, (8.0, 0.60, 3, 40)),
    (VisitType.PHARMACY, 0.12, (5.0, 0.50, 3, 40)),
    (VisitType.EMERGENCY, 0.18, (22.0, 0.50, 10, 80)),
    (VisitType.INPATIENT, 0.20, (250.0, 0.90, 60, 5000)),
)
_LINE_BOUNDS = {vt: (lo, hi) for vt, _, (_, _, lo, hi) in _VISIT_MIX}
_ALNUM = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_TZ = "+08:00"


@dataclass(frozen=True, eq=False)
class Dataset:
    """A planned synthetic data set; iterate it for ``(Invoice, patient_id)`` pairs."""

    seed: int
    start: date
    end: date
    hospitals: tuple[Hospital, ...]
    patients: tuple[Patient, ...]
    catalogue: Catalogue
    fee_line_count: int
    _plans: tuple[tuple[Any, ...], ...] = field(repr=False)
    _pseudonyms: dict[int, Hash32] = field(repr=False)
    _base_seed: int = field(repr=False)

    def __len__(self) -> int:
        return len(self._plans)

    def __iter__(self) -> Iterator[tuple[Invoice, str]]:
        build = self._build
        for i in range(len(self._plans)):
            yield build(i)

    def __getitem__(self, i: int) -> tuple[Invoice, str]:
        if not -len(self._plans) <= i < len(self._plans):
            raise IndexError(i)
        return self._build(i % len(self._plans))

    def to_list(self) -> list[tuple[Invoice, str]]:
        return list(self)

    @property
    def line_counts(self) -> tuple[int, ...]:
        return tuple(p[1] for p in self._plans)

    def patient_id(self, i: int) -> str:
        return self.patients[int(self._plans[i][3])].national_id

    # ------------------------------------------------------------------ one invoice

    def _build(self, i: int) -> tuple[Invoice, str]:
        vt, n, h_idx, p_idx, issue_ord, hms, days, lag, inv_code, inv_no = self._plans[i]
        hospital = self.hospitals[h_idx]
        level = hospital.level
        pools = pools_of(self.catalogue)
        rng = random.Random(self._base_seed + i)
        r = rng.random
        dates = _date_strings(issue_ord - lag - days + 1, days)
        lines: list[FeeLine] = []
        append = lines.append
        FL = FeeLine

        def emit(row: tuple[Any, ...], day: str) -> None:
            code, name, cat, unit, price, qt, nq = row
            qs, qm = qt[int(r() * nq)]
            # round half up of price x quantity, in integers (quantity in thousandths)
            amount = price if qm == 1000 else (price * qm + 500) // 1000
            append(FL(len(lines) + 1, code, name, cat, qs, unit, price, amount, day))

        pool = pools[(vt, level)]
        rows, cum = pool.rows, pool.cum
        top = cum[-1]

        def fill(count: int, day: str) -> None:  # the hot loop: emit() inlined
            seq = len(lines)
            for _ in range(count):
                code, name, cat, unit, price, qt, nq = rows[bisect(cum, r() * top)]
                qs, qm = qt[int(r() * nq)]
                seq += 1
                append(FL(seq, code, name, cat, qs, unit, price,
                          price if qm == 1000 else (price * qm + 500) // 1000, day))

        if vt is VisitType.INPATIENT:
            fixed = [pools[("bed", level)].pick(r()), pools[("nursing", level)].pick(r()),
                     pools[("diag_ip", level)].pick(r())]
            per_day = min(len(fixed), n // days) if days else 0
            fixed = fixed[:per_day]
            extra: dict[int, list[tuple[Any, ...]]] = {}
            n_rand = n - per_day * days
            if n_rand >= 4 and days >= 2 and r() < SURGERY_P:
                op_day = 1 + int(r() * (days - 1))
                ops = [pools[("anaesthesia", level)].pick(r()), pools[("surgery", level)].pick(r())]
                if r() < 0.3:
                    ops.append(pools[("implant", level)].pick(r()))
                extra[op_day] = ops
                n_rand -= len(ops)
            counts = [0] * days
            for _ in range(n_rand):
                counts[int(r() * days)] += 1
            for d in range(days):
                day = dates[d]
                for row in fixed:
                    emit(row, day)
                for row in extra.get(d, ()):
                    emit(row, day)
                fill(counts[d], day)
        else:
            k = 0
            if vt is VisitType.OUTPATIENT:
                emit(pools[("diag_op", level)].pick(r()), dates[-1])
                k = 1
            elif vt is VisitType.EMERGENCY:
                emit(pools[("diag_er", level)].pick(r()), dates[0])
                k = 1
            if days == 1:
                fill(n - k, dates[0])
            else:  # overnight emergency observation: lines on both days, in date order
                first = sum(1 for _ in range(n - k) if r() < 0.6)
                fill(first, dates[0])
                fill(n - k - first, dates[-1])
        total = sum(map(_AMOUNT, lines))
        account = 0
        counter = vt in (VisitType.OUTPATIENT, VisitType.PHARMACY)
        if total >= 1000 and r() < (0.18 if counter else 0.06):
            account = min(total, round(total * (0.05 + 0.5 * r())))
        check = "".join(rng.choices(_ALNUM, k=6))
        pid = self.patients[p_idx].national_id
        invoice = Invoice(
            issuer=hospital.code, invoice_code=inv_code, invoice_number=inv_no,
            check_code=check, issued_at=f"{_date_str(issue_ord)}T{hms}{_TZ}", visit_type=vt,
            patient=self._pseudonyms[p_idx], total_fen=total, fund_paid_fen=0,
            account_paid_fen=account, cash_paid_fen=total - account, fee_lines=tuple(lines),
        )
        return invoice, pid


_AMOUNT = attrgetter("amount_fen")


@lru_cache(maxsize=8192)
def _date_str(ordinal: int) -> str:
    return date.fromordinal(ordinal).isoformat()


@lru_cache(maxsize=65536)
def _date_strings(first: int, days: int) -> tuple[str, ...]:
    return tuple(_date_str(first + d) for d in range(days))


def _as_date(v: str | date) -> date:
    return v if isinstance(v, date) else date.fromisoformat(v)


def _line_counts(rng: random.Random, visits: list[VisitType], fee_lines: int | None) -> list[int]:
    params = {vt: p for vt, _, p in _VISIT_MIX}
    raw = []
    for vt in visits:
        median, sigma, lo, hi = params[vt]
        raw.append(min(hi, max(lo, round(lognormal(rng, median, sigma)))))
    if fee_lines is None:
        return raw
    n = len(raw)
    lo_sum = sum(_LINE_BOUNDS[vt][0] for vt in visits)
    hi_sum = sum(_LINE_BOUNDS[vt][1] for vt in visits)
    # keep each visit type's realistic range when the target allows it, else 1..MAX
    feasible = lo_sum <= fee_lines <= hi_sum
    bounds = [_LINE_BOUNDS[vt] for vt in visits] if feasible else [(1, MAX_FEE_LINES)] * n
    f = fee_lines / sum(raw)
    counts = [min(b[1], max(b[0], round(x * f))) for x, b in zip(raw, bounds, strict=True)]
    rest = fee_lines - sum(counts)
    while rest:  # one line more (or less) for the last invoices that have room, pass by pass
        step = 1 if rest > 0 else -1
        moved = False
        for i in range(n - 1, -1, -1):
            if rest == 0:
                break
            lo, hi = bounds[i]
            if lo <= counts[i] + step <= hi:
                counts[i] += step
                rest -= step
                moved = True
        if not moved:  # pragma: no cover - ruled out by the bounds checks above
            raise ValueError("cannot distribute the fee lines")
    return counts


def generate(
    seed: int,
    *,
    hospitals: int = 132,
    invoices: int = 15_605,
    fee_lines: int | None = 1_332_000,
    start: str | date = "2024-01-01",
    end: str | date = "2024-12-31",
    pepper: bytes,
    issuers: Sequence[str] | None = None,
) -> Dataset:
    """Plan a synthetic data set; iterating it builds the invoices (in issue order).

    With ``fee_lines`` the total number of fee lines over all invoices is exactly that
    (the draws are scaled, then the last invoices get a line more or less); with None
    the counts are drawn freely (mean ~85). With ``issuers`` (institution codes) the
    invoices are issued by those hospitals instead of ``hospitals`` invented ones (see
    :func:`~ledger.devtools.synth.hospitals.registered_hospitals`).
    """
    if invoices < 1:
        raise ValueError(f"need at least one invoice, got {invoices}")
    if fee_lines is not None and not invoices <= fee_lines <= invoices * MAX_FEE_LINES:
        raise ValueError(f"fee_lines must be between {invoices} and {invoices * MAX_FEE_LINES}")
    d0, d1 = _as_date(start), _as_date(end)
    if d1 < d0:
        raise ValueError(f"end {d1} is before start {d0}")
    rng = random.Random(derive("plan", seed))
    r = rng.random
    hosp = tuple(registered_hospitals(issuers) if issuers is not None else make_hospitals(hospitals, seed))
    catalogue = make_catalogue()
    pools_of(catalogue)  # build the sampling tables once, up front

    visit_types = [vt for vt, _, _ in _VISIT_MIX]
    visit_weights = [w for _, w, _ in _VISIT_MIX]
    visits = rng.choices(visit_types, weights=visit_weights, k=invoices)
    counts = _line_counts(rng, visits, fee_lines)

    # hospital choice: 61 % of invoices outside the city; bigger hospitals see more
    size = {"三级": 5.0, "二级": 2.0, "一级": 0.6}
    inpatient_size = {"三级": 5.0, "二级": 2.0, "一级": 0.05}
    groups = ([i for i, h in enumerate(hosp) if h.in_city],
              [i for i, h in enumerate(hosp) if not h.in_city])

    def chooser(sizes: dict[str, float]) -> list[tuple[list[int], list[float]]]:
        out = []
        for g in groups:
            cum, acc = [], 0.0
            for i in g:
                acc += sizes[hosp[i].level]
                cum.append(acc)
            out.append((g, cum))
        return out

    pick_normal, pick_inpatient = chooser(size), chooser(inpatient_size)

    n_pat = max(1, round(invoices * 0.6))
    patients = tuple(make_patients(n_pat, seed, as_of=d1))
    births = [date.fromisoformat(p.birth_date).toordinal() for p in patients]

    first_day, n_days = d0.toordinal(), d1.toordinal() - d0.toordinal() + 1
    plans: list[list[Any]] = []
    for vt, n in zip(visits, counts, strict=True):
        while True:  # fewer visits at weekends, except emergencies
            day = first_day + int(r() * n_days)
            if vt is VisitType.EMERGENCY or date.fromordinal(day).weekday() < 5 or r() < 0.5:
                break
        if vt is VisitType.INPATIENT:
            days = max(1, min(90, round(n / (25 + 35 * r()))))
            lag = 0 if r() < 0.9 else 1 + int(r() * 3)
            secs = 8 * 3600 + 1800 + int(r() * 8 * 3600)
        elif vt is VisitType.EMERGENCY:
            days, lag = (2 if r() < 0.2 else 1), 0
            secs = int(r() * 86400)
        else:
            days, lag = 1, 0
            secs = 8 * 3600 + int(r() * (9.5 if vt is VisitType.OUTPATIENT else 13) * 3600)
        outside = 1 if r() < OUT_OF_CITY_INVOICES else 0
        table = pick_inpatient if vt is VisitType.INPATIENT else pick_normal
        g, cum = table[outside] if table[outside][0] else table[1 - outside]
        h_idx = g[bisect(cum, r() * cum[-1])]
        first_service = day - lag - days + 1
        for _ in range(20):  # a frequent claimant now and then; never before birth
            p_idx = int(n_pat * r() ** 1.4)
            if births[p_idx] <= first_service:
                break
        else:
            p_idx = min(range(n_pat), key=births.__getitem__)
        hms = f"{secs // 3600:02d}:{secs // 60 % 60:02d}:{secs % 60:02d}"
        plans.append([vt, n, h_idx, p_idx, day, hms, days, lag])

    # issue order; invoice numbers run on per hospital (other, insured bills in between)
    plans.sort(key=lambda p: (p[4], p[5]))
    next_no: dict[int, int] = {}
    for p in plans:
        h = hosp[p[2]]
        year = date.fromordinal(p[4]).year % 100
        kind = "02" if p[0] is VisitType.INPATIENT else "01"
        code = f"{h.region[:4]}{year:02d}{kind}"
        number = next_no.get(p[2], 1 + int(r() * 5_000_000)) + 1 + int(r() * 400)
        next_no[p[2]] = number
        p.extend((code, f"{number:010d}"))

    used = {p[3] for p in plans}
    pseudonyms = {i: pseudonymise(patients[i].national_id, pepper=pepper) for i in sorted(used)}
    return Dataset(
        seed=seed, start=d0, end=d1, hospitals=hosp, patients=patients, catalogue=catalogue,
        fee_line_count=sum(p[1] for p in plans), _plans=tuple(tuple(p) for p in plans),
        _pseudonyms=pseudonyms, _base_seed=derive("invoices", seed),
    )


def iter_documents(dataset: Dataset) -> Iterator[dict[str, Any]]:
    """Upload-format JSON documents (with the patient ID), in issue order."""
    for invoice, patient_id in dataset:
        yield invoice.to_json(patient_id=patient_id)
