"""Which catalogue items an invoice charges, and how many: per visit type and hospital level, a table
of items weighted by popularity (cheap items are charged more often) and, per item, a table of
quantities."""

from __future__ import annotations

from bisect import bisect
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from ledger.devtools.synth.catalogue import Catalogue, CatalogueItem
from ledger.devtools.synth.hospitals import LEVELS
from ledger.invoice import VisitType

#: service-item prices by hospital level (provincial price tiers); drugs and
#: consumables sell at the same (zero-markup, centrally procured) price everywhere
SERVICE_PRICE_FACTOR = {"三级": 1.0, "二级": 0.9, "一级": 0.8}

_Q = {  # quantity tables by (use, unit): picked uniformly, so repeats are weights
    "box": ["1"] * 12 + ["2"] * 6 + ["3"] * 2 + ["4", "6", "0.5"],
    "special": ["1"] * 6 + ["2"],
    "oral": ["1"] * 6 + ["2"] * 2,
    "dose片": ["1"] * 8 + ["2"] * 5 + ["3"] * 2 + ["0.5", "0.5", "1.5", "4", "0.25"],
    "dose袋": ["1"] * 6 + ["2"] * 4 + ["3"] * 2,
    "inj支": ["1"] * 8 + ["2"] * 5 + ["3"] * 2 + ["4", "0.5", "0.5", "2.5"],
    "inj瓶": ["1"] * 10 + ["2"] * 4 + ["3"],
    "basic": ["1"] * 10 + ["2"] * 5 + ["3"] * 2 + ["4", "5", "10"],
    "ward": ["1"] * 10 + ["2"] * 3 + ["3"],
    "implant": ["1"] * 5 + ["2"],
    "treat": ["1"] * 8 + ["2"] * 3 + ["3", "4", "6", "8"],
    "one": ["1"],
}


def _qty_table(item: CatalogueItem) -> tuple[tuple[str, int], ...]:
    key = (item.use + item.unit if item.use in ("dose", "inj") else
           item.use if item.use in _Q else "one")
    values = _Q.get(key) or _Q["inj支" if item.use == "inj" else "one"]
    return tuple((q, round(float(q) * 1000)) for q in values)


# random-line mix per visit type: use -> share, and how strongly cheap items dominate
_MIX = {
    VisitType.OUTPATIENT: {"box": 0.52, "lab": 0.20, "imaging": 0.05, "treat": 0.07,
                           "basic": 0.07, "inj": 0.07, "oral": 0.02},
    VisitType.PHARMACY: {"box": 0.97, "special": 0.01, "oral": 0.02},
    VisitType.EMERGENCY: {"inj": 0.25, "lab": 0.25, "imaging": 0.07, "treat": 0.13,
                          "basic": 0.18, "box": 0.10, "oral": 0.02},
    VisitType.INPATIENT: {"inj": 0.30, "dose": 0.12, "lab": 0.21, "imaging": 0.02,
                          "treat": 0.15, "basic": 0.14, "ward": 0.03, "box": 0.02,
                          "oral": 0.01},
}
_ALPHA = 0.7   # item popularity ~ weight / price^alpha: cheap items are charged more often
SURGERY_P = 0.30


@dataclass(frozen=True, slots=True)
class Pool:
    rows: tuple[tuple[Any, ...], ...]   # (code, name, category, unit, price, qtable, nq)
    cum: tuple[float, ...]

    def pick(self, u: float) -> tuple[Any, ...]:
        return self.rows[bisect(self.cum, u * self.cum[-1])]


def _row(item: CatalogueItem, factor: float) -> tuple[Any, ...]:
    price = item.unit_price_fen
    if item.kind == "service":
        price = max(1, round(price * factor))
    q = _qty_table(item)
    return (item.code, item.name, item.category, item.unit, price, q, len(q))


def _pool(items: Sequence[CatalogueItem], shares: dict[str, float], weights: dict[str, float],
          factor: float, alpha: float = _ALPHA) -> Pool:
    by_use: dict[str, list[CatalogueItem]] = {}
    for it in items:
        by_use.setdefault(it.use, []).append(it)
    rows: list[tuple[Any, ...]] = []
    cum: list[float] = []
    acc = 0.0
    for use, share in shares.items():
        group = by_use.get(use, [])
        if not group:
            continue
        w = [weights[it.code] / (it.unit_price_fen / 100) ** alpha for it in group]
        total = sum(w)
        for it, wi in zip(group, w, strict=True):
            acc += share * wi / total
            rows.append(_row(it, factor))
            cum.append(acc)
    return Pool(tuple(rows), tuple(cum))


@lru_cache(maxsize=8)
def pools_of(catalogue: Catalogue) -> dict[tuple[Any, str], Pool]:
    weights = catalogue.weights
    items = catalogue.items
    out: dict[tuple[Any, str], Pool] = {}
    for level in LEVELS:
        f = SERVICE_PRICE_FACTOR[level]
        for vt, shares in _MIX.items():
            out[(vt, level)] = _pool(items, shares, weights, f)
        for use in ("diag_op", "diag_er", "diag_ip", "bed", "nursing", "surgery",
                    "anaesthesia", "implant"):
            out[(use, level)] = _pool(items, {use: 1.0}, weights, f, alpha=0.0)
    return out
