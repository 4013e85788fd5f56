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
                              "invoiceCapFen": 50000,                  # optional
                              "visitCapFen": {"outpatient": 30000},    # optional
                              "negativeList": {"codes": [...], "prefixes": [...]}},
                 "retired": {...}, "resident": {...},
                 "assistance": {...}, "severe-disability": {...},
                 "special-relief": {...}},                         # any subset
     "classBFirstSelfPay": [{"fromUnitPriceFen": 0, "toUnitPriceFen": 10000, "selfPayBp": 1000},
                            {"fromUnitPriceFen": 10001, "selfPayBp": 2000}],
     "quantityLimits": {"<canonical code>": {"maxPerLine": "2", "maxPerDay": "4"}},
     "periodLimits": {"<canonical code>": {"days": 30, "maxQuantity": "60"}},   # optional
     "duplicateItems": "flag",                                     # optional
     "codeAliases": {"<alias code>": "<canonical code>"},
     "coordination": {"rank": 2, "base": "left-by-earlier",             # optional: payers in order
                      "after": ["330600-ybj"], "waitDays": 10}}

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

Person categories (:class:`PersonCategory`): a rule set covers any non-empty subset; a
claim by a person of a category it does not cover cannot be decided by it.

Caps, per person category, all on what the fund pays (after the deductible and the
ratio), the tightest one binding:

- ``annualCapFen`` (required): the calendar year's total under this scheme, less what
  the person was reimbursed earlier in the year;
- ``invoiceCapFen`` (optional): one invoice;
- ``visitCapFen`` (optional): one visit, per visit type (``outpatient``, ``inpatient``,
  ``emergency``, ``pharmacy``; any subset). **One invoice is one visit**: a medical
  e-invoice is issued per settlement, that is per outpatient or emergency visit, per
  pharmacy purchase, per inpatient stay at discharge, and the invoice model carries no
  visit number that could tie several invoices to one visit. So the visit cap applies
  to each invoice of a listed visit type, and differs from ``invoiceCapFen`` in being
  set per visit type (an outpatient visit ¥300, an emergency visit ¥1,000) as the
  policies word it ("每次就诊限额"). An inpatient stay settled in several invoices (a
  long stay settled part-way) gets the cap per invoice: when the model gains a visit
  number, the cap must count the other invoices of that visit as the annual cap counts
  the year.

Class B bands (``classBFirstSelfPay``): each band starts at ``fromUnitPriceFen``
(inclusive) and may say ``toUnitPriceFen`` ("up to and including"); without it a band
ends just below the next band's start. Bands start at 0, follow each other without a
gap or an overlap (a band after one ending at ``t`` starts at ``t + 1``), and the last
one is open (no ``toUnitPriceFen``), so every unit price has exactly one band.

``duplicateItems`` (optional; absent: off): the same *normalised* item (after
``codeAliases``) on the same service date in more than one line of one invoice, for
any code. ``"flag"`` sends the claim to review naming the lines (amounts unchanged);
``"self-pay-repeats"`` keeps the first line and makes the later ones self-paid in full,
each naming the line it repeats (no review: the payer decided that repeats are not
paid; the citizen can appeal).

``periodLimits`` (optional): the most of an item reimbursed to one person over ``days``
days, counted across every hospital's invoices of that person the payer knows (repeat
prescriptions beyond the days' supply at several hospitals). A line on service date D
counts what the person was supplied in the ``days`` days up to and including D: lines of
other invoices (not voided) with an earlier service date, or the same date and an earlier
issue time, and the earlier lines of this invoice. Quantity beyond the limit is
self-paid, its share of the line amount, naming the other invoices' dates. The person's
earlier lines come in as an argument (:class:`~ledger.rules.decision.EarlierLine`), read
by the claims use case from the claims repository.

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

Payers in order (coordination of benefits): basic insurance pays first (rank 1), then
serious-illness insurance (2), medical assistance (3), commercial insurers (4).
``coordination`` says where this payer stands and what it pays on:

- ``rank``: its place in the order, 1-9 (1: the first payer; it waits for no one);
- ``after``: the payers (ids) that must decide first; required from rank 2, empty at rank 1;
- ``base``: ``"own-eligible"`` (its ratio applies to its own eligible amount, as without
  coordination) or ``"left-by-earlier"`` (its ratio applies to what the earlier payers left
  of the eligible amount: eligible less what they reserved or paid on chain); either way it
  never pays, together with the earlier payers, more than its own eligible amount;
- ``waitDays``: how many days after the invoice's issue time it stops waiting for an earlier
  payer that has not decided, and decides with what the chain shows (0-366).

A set without ``coordination`` pays on its own eligible amount, limited only by what the
invoice has left on chain (:mod:`ledger.claims.coordination` for the order).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from enum import StrEnum
from types import MappingProxyType
from typing import Literal

from ledger.invoice import VisitType
from ledger.rules.scope import EVERYTHING, AppliesTo

BP = 10_000  # basis points in 100 %


class PersonCategory(StrEnum):
    """Insured-person category: each has its own deductible, ratio, cap and negative list."""

    EMPLOYEE = "employee"   # 在职职工
    RETIRED = "retired"     # 退休人员
    RESIDENT = "resident"   # 城乡居民
    ASSISTANCE = "assistance"                # 医疗救助对象: medical assistance recipients
    SEVERE_DISABILITY = "severe-disability"  # 重度残疾人
    SPECIAL_RELIEF = "special-relief"        # 特困供养人员: persons in extreme poverty under special relief


class DuplicateItems(StrEnum):
    """What the general duplicate rule does with one normalised item twice on one service date."""

    FLAG = "flag"                           # send to review, amounts unchanged
    SELF_PAY_REPEATS = "self-pay-repeats"   # the first line counts, the repeats are self-paid


@dataclass(frozen=True, slots=True)
class ClassBTier:
    """Class B lines whose unit price is at or above ``from_unit_price_fen`` (and at most
    ``to_unit_price_fen`` when the band says so) first self-pay ``self_pay_bp``."""

    from_unit_price_fen: int
    self_pay_bp: int
    to_unit_price_fen: int | None = None


@dataclass(frozen=True, slots=True)
class QuantityLimit:
    """Most quantity reimbursed per fee line and per service day (None: no limit)."""

    max_per_line: Decimal | None
    max_per_day: Decimal | None


@dataclass(frozen=True, slots=True)
class PeriodLimit:
    """Most quantity of an item reimbursed to one person in ``days`` days, across all hospitals."""

    days: int
    max_quantity: Decimal


@dataclass(frozen=True, slots=True)
class PersonRules:
    """One person category's parameters; the negative list holds canonical codes and code prefixes."""

    deductible_fen: int
    ratio_bp: int
    annual_cap_fen: int
    negative_codes: frozenset[str]
    negative_prefixes: tuple[str, ...]
    invoice_cap_fen: int | None = None
    #: visit type -> the most the fund pays for one visit (one invoice) of that type
    visit_cap_fen: Mapping[VisitType, int] = field(default_factory=lambda: MappingProxyType({}))

    def negative_entry(self, code: str) -> str | None:
        """The negative-list entry (exact code, else longest prefix) that excludes ``code``."""
        if code in self.negative_codes:
            return code
        hits = [p for p in self.negative_prefixes if code.startswith(p)]
        return max(hits, key=len) if hits else None


CoordinationBase = Literal["own-eligible", "left-by-earlier"]
COORDINATION_BASES: tuple[CoordinationBase, ...] = ("own-eligible", "left-by-earlier")


@dataclass(frozen=True, slots=True)
class Coordination:
    """A payer's place in the order of payers on one invoice (see the module docstring).

    Requires ``rank == 1`` exactly when ``after`` is empty (the loader checks it).
    """

    rank: int
    base: CoordinationBase
    after: tuple[str, ...]
    wait_days: int

    @property
    def waits(self) -> bool:
        """True if earlier payers must decide before this one."""
        return bool(self.after)


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
    duplicate_items: DuplicateItems | None = None
    period_limits: Mapping[str, PeriodLimit] = field(default_factory=lambda: MappingProxyType({}))
    #: which visit types and insured statuses it applies to (``appliesTo``; :mod:`ledger.rules.scope`)
    applies_to: AppliesTo = EVERYTHING
    #: its ``effectiveTo`` ends the coverage on purpose: no successor is expected (``endsCoverage``)
    ends_coverage: bool = False
    #: the payer's place in the order of payers (None: no order, the chain's total only)
    coordination: Coordination | None = None

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
