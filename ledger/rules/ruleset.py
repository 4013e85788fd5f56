"""Versioned reimbursement rule sets, loaded strictly from JSON data files.

A payer changes its rules a few times a year (a new deductible, a drug added to the
negative list); a claim must be judged by the rules in force on the invoice's issue
date, not on the day it is claimed. Rules are therefore *data*, one JSON file per
version, and a :class:`~ledger.rules.book.RuleBook` picks the version that judges a claim
from (payer, visit type, insured status, person category, date).

File format (money in integer fen, ratios in basis points, 10000 = 100 %)::

    {"id": "sx-pharmacy-pooling", "version": 1, "payer": "330600-ybj",
     "scheme": "pharmacy-pooling", "description": "...",
     "appliesTo": {"visitTypes": ["outpatient", "pharmacy"],       # optional; "*" or absent: all
                   "insuredStatus": "*"},
     "effectiveFrom": "2024-01-01", "effectiveTo": "2025-01-01",   # or null: open
     "endsCoverage": false,                                        # optional
     "persons": {"employee": {"deductibleFen": 60000, "ratioBp": 7000,
                              "annualCapFen": 200000,
                              "negativeList": {"codes": [...], "prefixes": [...]}},
                 "retired": {...}, "resident": {...}},             # any subset
     "classBFirstSelfPay": [{"fromUnitPriceFen": 0, "selfPayBp": 1000},
                            {"fromUnitPriceFen": 10000, "selfPayBp": 2000}],
     "quantityLimits": {"<canonical code>": {"maxPerLine": "2", "maxPerDay": "4"}},
     "codeAliases": {"<alias code>": "<canonical code>"}}

``scheme`` names the pot the person's year-to-date deductible and payments count in.
``appliesTo`` says which claims the set judges (:mod:`ledger.rules.scope`): ``visitTypes``
(``outpatient``, ``inpatient``, ``emergency``, ``pharmacy``) and ``insuredStatus``
(``local``, ``offsite-registered``, ``offsite-unregistered``, ``emergency``), each ``"*"``
(or absent) for all or a non-empty array; ``"appliesTo": "*"`` (or no ``appliesTo``)
applies to everything. The person categories it judges are the keys of ``persons``. Of
one payer's sets in force that apply to a claim, the most specific judges it: naming both
dimensions beats naming one, naming one beats naming none; two that apply to one
(visit type, insured status, person category) on one day with the same specificity are an
overlap, and the book refuses them.

Dates: ``effectiveFrom`` is inclusive and ``effectiveTo`` exclusive, so a version
ending on the day the next one starts leaves neither a gap nor an overlap. A combination
one of the payer's versions covers must stay covered on every later day (by its next
version or any other set): the book refuses a collection with days between versions, a
later version dropping a person category, visit type or insured status, or a version
that ends with no successor. To end coverage on purpose (a scheme abolished), the ending
version says ``"endsCoverage": true`` (it needs an ``effectiveTo``): then nothing is
expected to follow it.

Loading is strict (:mod:`ledger.rules.loading`): an unknown key, a wrong type, a bad date
raises :class:`InvalidInput` listing every problem, each naming its JSON path
(``persons.retired.ratioBp``) with the rule set id in the message;
:class:`~ledger.rules.book.RuleBook` refuses overlaps and gaps the same way, each problem
worded for the clerk who edits the files ("retired persons of scheme pharmacy-pooling have
no rule set in force from 2026-01-01: sx-pharmacy-pooling v3 does not cover them").
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from enum import StrEnum

from ledger.rules.scope import EVERYTHING, AppliesTo

BP = 10_000  # basis points in 100 %


class PersonCategory(StrEnum):
    """Insured-person category: each has its own deductible, ratio, cap and negative list."""

    EMPLOYEE = "employee"   # 在职职工
    RETIRED = "retired"     # 退休人员
    RESIDENT = "resident"   # 城乡居民


@dataclass(frozen=True, slots=True)
class ClassBTier:
    """Class B lines whose unit price is at or above ``from_unit_price_fen`` first self-pay ``self_pay_bp``."""

    from_unit_price_fen: int
    self_pay_bp: int


@dataclass(frozen=True, slots=True)
class QuantityLimit:
    """Most quantity reimbursed per fee line and per service day (None: no limit)."""

    max_per_line: Decimal | None
    max_per_day: Decimal | None


@dataclass(frozen=True, slots=True)
class PersonRules:
    """One person category's parameters; the negative list holds canonical codes and code prefixes."""

    deductible_fen: int
    ratio_bp: int
    annual_cap_fen: int
    negative_codes: frozenset[str]
    negative_prefixes: tuple[str, ...]

    def negative_entry(self, code: str) -> str | None:
        """The negative-list entry (exact code, else longest prefix) that excludes ``code``."""
        if code in self.negative_codes:
            return code
        hits = [p for p in self.negative_prefixes if code.startswith(p)]
        return max(hits, key=len) if hits else None


@dataclass(frozen=True, slots=True)
class RuleSet:
    """One version of one payer's rules for one scheme, in force on [effective_from, effective_to)."""

    id: str
    version: int
    payer: str
    scheme: str
    description: str
    effective_from: date
    effective_to: date | None
    persons: Mapping[PersonCategory, PersonRules]
    class_b_tiers: tuple[ClassBTier, ...]
    quantity_limits: Mapping[str, QuantityLimit]
    code_aliases: Mapping[str, str]
    #: which visit types and insured statuses it applies to (``appliesTo``; :mod:`ledger.rules.scope`)
    applies_to: AppliesTo = EVERYTHING
    #: its ``effectiveTo`` ends the coverage on purpose: no successor is expected (``endsCoverage``)
    ends_coverage: bool = False

    def in_force(self, day: date) -> bool:
        return self.effective_from <= day and (self.effective_to is None or day < self.effective_to)

    def normalise(self, code: str) -> str:
        """The canonical catalogue code for ``code`` (itself when it is not an alias)."""
        return self.code_aliases.get(code, code)

    def class_b_tier(self, unit_price_fen: int) -> ClassBTier:
        """The tier for a unit price: the last whose threshold is at or below it."""
        chosen = self.class_b_tiers[0]
        for tier in self.class_b_tiers:
            if unit_price_fen >= tier.from_unit_price_fen:
                chosen = tier
        return chosen

    @property
    def label(self) -> str:
        return f"{self.id}@v{self.version}"
