"""Versioned reimbursement rule sets, loaded strictly from JSON data files.

A payer changes its rules a few times a year (a new deductible, a drug added to the
negative list); a claim must be judged by the rules in force on the invoice's issue
date, not on the day it is claimed. Rules are therefore *data*, one JSON file per
version, and a :class:`RuleBook` picks the version for (payer, scheme, date).

File format (money in integer fen, ratios in basis points, 10000 = 100 %)::

    {"id": "sx-pharmacy-pooling", "version": 1, "payer": "330600-ybj",
     "scheme": "pharmacy-pooling", "description": "...",
     "effectiveFrom": "2024-01-01", "effectiveTo": "2025-01-01",   # or null: open
     "persons": {"employee": {"deductibleFen": 60000, "ratioBp": 7000,
                              "annualCapFen": 200000,
                              "negativeList": {"codes": [...], "prefixes": [...]}},
                 "retired": {...}, "resident": {...}},             # any subset
     "classBFirstSelfPay": [{"fromUnitPriceFen": 0, "selfPayBp": 1000},
                            {"fromUnitPriceFen": 10000, "selfPayBp": 2000}],
     "quantityLimits": {"<canonical code>": {"maxPerLine": "2", "maxPerDay": "4"}},
     "codeAliases": {"<alias code>": "<canonical code>"}}

Dates: ``effectiveFrom`` is inclusive and ``effectiveTo`` exclusive, so a version
ending on the day the next one starts leaves neither a gap nor an overlap. Loading
is strict: an unknown key, a wrong type, a bad date or an overlap raises
:class:`InvalidInput` listing every problem, each naming its JSON path
(``persons.retired.ratioBp``) with the rule set id in the message.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Set
from dataclasses import dataclass
from datetime import date
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from importlib import resources
from pathlib import Path
from typing import Any

from ledger.errors import FieldProblem, InvalidInput, NotFound

BP = 10_000  # basis points in 100 %
_MAX_FEN = 10**12


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


class RuleBook:
    """All known rule-set versions; answers "which rules judged an invoice of this date?"."""

    def __init__(self, rulesets: Iterable[RuleSet]) -> None:
        """Refuses two versions of one (payer, scheme) whose date ranges overlap, or a repeated id+version."""
        self._sets = tuple(sorted(rulesets, key=lambda r: (r.payer, r.scheme, r.effective_from)))
        problems: list[FieldProblem] = []
        seen: set[tuple[str, int]] = set()
        for r in self._sets:
            if (r.id, r.version) in seen:
                problems.append(FieldProblem("version", "unique-version", f"{r.label} is loaded twice"))
            seen.add((r.id, r.version))
        for a, b in zip(self._sets, self._sets[1:], strict=False):
            same = (a.payer, a.scheme) == (b.payer, b.scheme)
            if same and (a.effective_to is None or a.effective_to > b.effective_from):
                problems.append(FieldProblem(
                    "effectiveFrom", "no-overlap",
                    f"{b.label} starts {b.effective_from} but {a.label} is in force until "
                    f"{a.effective_to or 'further notice'} (effectiveTo is exclusive)"))
        if problems:
            raise InvalidInput(problems)

    @classmethod
    def shipped(cls) -> RuleBook:
        """The example rule sets shipped in ``ledger/rules/data``."""
        folder = resources.files("ledger.rules") / "data"
        docs = sorted((p for p in folder.iterdir() if p.name.endswith(".json")), key=lambda p: p.name)
        return cls(load_ruleset(json.loads(p.read_text(encoding="utf-8")), source=p.name) for p in docs)

    @classmethod
    def from_files(cls, paths: Iterable[Path]) -> RuleBook:
        return cls(load_ruleset(json.loads(p.read_text(encoding="utf-8")), source=p.name) for p in paths)

    def __iter__(self) -> Any:
        return iter(self._sets)

    def __len__(self) -> int:
        return len(self._sets)

    def in_force(self, *, payer: str, scheme: str, on: date | str) -> RuleSet:
        """The version in force on ``on`` (an invoice's issue date); NotFound if none is."""
        day = date.fromisoformat(on) if isinstance(on, str) else on
        for r in self._sets:
            if r.payer == payer and r.scheme == scheme and r.in_force(day):
                return r
        raise NotFound(f"no rule set of payer {payer!r} for scheme {scheme!r} is in force on {day}")


# --------------------------------------------------------------------------- strict loading

_TOP = {"id", "version", "payer", "scheme", "description", "effectiveFrom", "effectiveTo", "persons",
        "classBFirstSelfPay", "quantityLimits", "codeAliases"}
_OPTIONAL = {"description", "quantityLimits", "codeAliases"}
_PERSON = {"deductibleFen", "ratioBp", "annualCapFen", "negativeList"}
_NEGATIVE = {"codes", "prefixes"}
_TIER = {"fromUnitPriceFen", "selfPayBp"}
_LIMIT = {"maxPerLine", "maxPerDay"}


class _Reader:
    """Collects every problem of one document, each with its JSON path."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.problems: list[FieldProblem] = []

    def add(self, path: str, rule: str, message: str) -> None:
        self.problems.append(FieldProblem(path, rule, f"rule set {self.name}: {message}"))

    def obj(self, v: Any, path: str, keys: set[str], optional: Set[str] = frozenset()) -> Mapping[str, Any] | None:
        if not isinstance(v, dict):
            self.add(path, "type", f"must be an object, got {type(v).__name__}")
            return None
        for k in sorted(set(v) - keys):
            self.add(f"{path}.{k}" if path else str(k), "unknown-key", "is not a rule set key (misspelt?)")
        for k in sorted(keys - optional - set(v)):
            self.add(f"{path}.{k}" if path else k, "required", "is required")
        return v

    def int_(self, v: Any, path: str, *, lo: int = 0, hi: int = _MAX_FEN) -> int | None:
        if type(v) is not int:
            self.add(path, "type", f"must be an integer, got {type(v).__name__} {v!r}")
            return None
        if not lo <= v <= hi:
            self.add(path, "range", f"must be between {lo} and {hi}, got {v}")
            return None
        return v

    def str_(self, v: Any, path: str) -> str | None:
        if not isinstance(v, str) or not v.strip():
            self.add(path, "type", f"must be a non-empty string, got {v!r}")
            return None
        return v

    def date_(self, v: Any, path: str) -> date | None:
        try:
            if not isinstance(v, str) or len(v) != 10:
                raise ValueError
            return date.fromisoformat(v)
        except ValueError:
            self.add(path, "date", f"must be a date YYYY-MM-DD, got {v!r}")
            return None

    def qty(self, v: Any, path: str) -> Decimal | None:
        if v is None:
            return None
        try:
            if not isinstance(v, str):
                raise InvalidOperation
            q = Decimal(v)
            if not q.is_finite() or q <= 0:
                raise InvalidOperation
        except InvalidOperation:
            self.add(path, "decimal-quantity", f"must be a positive decimal string or null, got {v!r}")
            return None
        return q

    def codes(self, v: Any, path: str) -> list[str]:
        if not isinstance(v, list):
            self.add(path, "type", f"must be an array of codes, got {type(v).__name__}")
            return []
        return [c for i, x in enumerate(v) if (c := self.str_(x, f"{path}[{i}]")) is not None]


def load_ruleset(doc: Any, *, source: str = "<rule set>") -> RuleSet:
    """Validate one rule-set document; raises InvalidInput naming every bad path."""
    name = doc.get("id") if isinstance(doc, dict) else None
    r = _Reader(name if isinstance(name, str) else source)
    top = r.obj(doc, "", _TOP, _OPTIONAL)
    if top is None:
        raise InvalidInput(r.problems)
    rid = r.str_(top.get("id"), "id")
    version = r.int_(top.get("version"), "version", lo=1, hi=10**6)
    payer = r.str_(top.get("payer"), "payer")
    scheme = r.str_(top.get("scheme"), "scheme")
    description = top.get("description", "")
    if not isinstance(description, str):
        r.add("description", "type", "must be a string")
    start = r.date_(top.get("effectiveFrom"), "effectiveFrom")
    end = None if top.get("effectiveTo") is None else r.date_(top["effectiveTo"], "effectiveTo")
    if start and end and end <= start:
        r.add("effectiveTo", "after-start", f"must be after effectiveFrom {start} (it is exclusive), got {end}")

    persons: dict[PersonCategory, PersonRules] = {}
    raw_persons = r.obj(top.get("persons"), "persons", {c.value for c in PersonCategory},
                        {c.value for c in PersonCategory})
    if raw_persons is not None:
        if not raw_persons:
            r.add("persons", "non-empty", "must cover at least one person category")
        for key in sorted(set(raw_persons) & {c.value for c in PersonCategory}):
            rules = _person(r, raw_persons[key], f"persons.{key}")
            if rules is not None:
                persons[PersonCategory(key)] = rules

    tiers = _tiers(r, top.get("classBFirstSelfPay"))
    limits = _limits(r, top.get("quantityLimits", {}))
    aliases: dict[str, str] = {}
    raw_aliases = r.obj(top.get("codeAliases", {}), "codeAliases", set(top.get("codeAliases", {})) if
                        isinstance(top.get("codeAliases", {}), dict) else set())
    for alias, canonical in (raw_aliases or {}).items():
        if r.str_(canonical, f"codeAliases.{alias}") is not None:
            aliases[alias] = canonical
    for alias, canonical in aliases.items():
        if canonical in aliases:
            r.add(f"codeAliases.{alias}", "canonical-target", f"points to {canonical}, itself an alias")
    # rules are matched after normalisation, so a rule naming an alias would never apply
    for code in sorted(set(limits) & set(aliases)):
        r.add(f"quantityLimits.{code}", "canonical-code", f"is an alias of {aliases[code]}; name the canonical code")
    for cat, rules in persons.items():
        for code in sorted(rules.negative_codes & set(aliases)):
            r.add(f"persons.{cat.value}.negativeList.codes", "canonical-code",
                  f"{code} is an alias of {aliases[code]}; name the canonical code")

    if r.problems:
        raise InvalidInput(r.problems)
    assert rid and version and payer and scheme and start
    return RuleSet(id=rid, version=version, payer=payer, scheme=scheme, description=description,
                   effective_from=start, effective_to=end, persons=persons, class_b_tiers=tiers,
                   quantity_limits=limits, code_aliases=aliases)


def _person(r: _Reader, v: Any, path: str) -> PersonRules | None:
    p = r.obj(v, path, _PERSON, {"negativeList"})
    if p is None:
        return None
    deductible = r.int_(p.get("deductibleFen"), f"{path}.deductibleFen")
    ratio = r.int_(p.get("ratioBp"), f"{path}.ratioBp", hi=BP)
    cap = r.int_(p.get("annualCapFen"), f"{path}.annualCapFen")
    codes: list[str] = []
    prefixes: list[str] = []
    neg = r.obj(p.get("negativeList", {}), f"{path}.negativeList", _NEGATIVE, _NEGATIVE)
    if neg is not None:
        codes = r.codes(neg.get("codes", []), f"{path}.negativeList.codes")
        prefixes = r.codes(neg.get("prefixes", []), f"{path}.negativeList.prefixes")
    if deductible is None or ratio is None or cap is None:
        return None
    return PersonRules(deductible, ratio, cap, frozenset(codes), tuple(prefixes))


def _tiers(r: _Reader, v: Any) -> tuple[ClassBTier, ...]:
    path = "classBFirstSelfPay"
    if not isinstance(v, list) or not v:
        r.add(path, "type", f"must be a non-empty array of tiers, got {v!r}")
        return ()
    tiers: list[ClassBTier] = []
    for i, raw in enumerate(v):
        t = r.obj(raw, f"{path}[{i}]", _TIER)
        if t is None:
            continue
        start = r.int_(t.get("fromUnitPriceFen"), f"{path}[{i}].fromUnitPriceFen")
        bp = r.int_(t.get("selfPayBp"), f"{path}[{i}].selfPayBp", hi=BP)
        if start is not None and bp is not None:
            if i == 0 and start != 0:
                r.add(f"{path}[0].fromUnitPriceFen", "starts-at-zero", f"the first tier must start at 0, got {start}")
            if tiers and start <= tiers[-1].from_unit_price_fen:
                r.add(f"{path}[{i}].fromUnitPriceFen", "ascending",
                      f"must be above the previous tier's {tiers[-1].from_unit_price_fen}, got {start}")
            tiers.append(ClassBTier(start, bp))
    return tuple(tiers)


def _limits(r: _Reader, v: Any) -> dict[str, QuantityLimit]:
    raw = r.obj(v, "quantityLimits", set(v) if isinstance(v, dict) else set())
    out: dict[str, QuantityLimit] = {}
    for code, spec in (raw or {}).items():
        path = f"quantityLimits.{code}"
        s = r.obj(spec, path, _LIMIT, _LIMIT)
        if s is None:
            continue
        if not s:
            r.add(path, "non-empty", "must set maxPerLine, maxPerDay or both")
            continue
        out[code] = QuantityLimit(r.qty(s.get("maxPerLine"), f"{path}.maxPerLine"),
                                  r.qty(s.get("maxPerDay"), f"{path}.maxPerDay"))
    return out
