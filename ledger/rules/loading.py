"""Strict loading of one rule-set JSON document (the format is in :mod:`ledger.rules.ruleset`).

Rule files are edited by hand at the payer's office; a typo must fail loudly when the
file is loaded, not silently pay the wrong amount months later. So every key is
known, every type exact (``true`` is not an integer, ``600.0`` is not fen), and every
problem is reported at once with its JSON path and the rule it breaks.
"""

from __future__ import annotations

from collections.abc import Mapping, Set
from datetime import date
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from types import MappingProxyType
from typing import Any, TypeVar

from ledger.errors import FieldProblem, InvalidInput
from ledger.invoice import VisitType
from ledger.rules.ruleset import BP, ClassBTier, PersonCategory, PersonRules, QuantityLimit, RuleSet
from ledger.rules.scope import EVERYTHING, AppliesTo, InsuredStatus

_MAX_FEN = 10**12

_TOP = {"id", "version", "payer", "scheme", "description", "effectiveFrom", "effectiveTo", "persons",
        "classBFirstSelfPay", "quantityLimits", "codeAliases", "appliesTo", "endsCoverage"}
_OPTIONAL = {"description", "quantityLimits", "codeAliases", "appliesTo", "endsCoverage"}
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

    applies_to = _applies_to(r, top.get("appliesTo", "*"))
    ends_coverage = _ends_coverage(r, top.get("endsCoverage", False), end)

    if r.problems:
        raise InvalidInput(r.problems)
    assert rid and version and payer and scheme and start
    # read-only views: a loaded rule set is a value shared by every adjudication
    return RuleSet(id=rid, version=version, payer=payer, scheme=scheme, description=description,
                   effective_from=start, effective_to=end, persons=MappingProxyType(persons),
                   class_b_tiers=tiers, quantity_limits=MappingProxyType(limits),
                   code_aliases=MappingProxyType(aliases), applies_to=applies_to, ends_coverage=ends_coverage)


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


_SCOPE = {"visitTypes", "insuredStatus"}
E = TypeVar("E", bound=StrEnum)


def _applies_to(r: _Reader, v: Any) -> AppliesTo:
    """``appliesTo``: ``"*"`` (or absent) for everything, else an object whose ``visitTypes`` and
    ``insuredStatus`` are each ``"*"`` (or absent) or a non-empty array of known values."""
    if v == "*":
        return EVERYTHING
    scope = r.obj(v, "appliesTo", _SCOPE, _SCOPE)
    if scope is None:
        return EVERYTHING
    visits = _names(r, scope.get("visitTypes", "*"), "appliesTo.visitTypes", VisitType)
    statuses = _names(r, scope.get("insuredStatus", "*"), "appliesTo.insuredStatus", InsuredStatus)
    return AppliesTo(visits, statuses)


def _names(r: _Reader, v: Any, path: str, enum: type[E]) -> frozenset[E] | None:
    if v == "*":
        return None
    known = ", ".join(e.value for e in enum)
    if not isinstance(v, list) or not v:
        r.add(path, "type", f'must be "*" or a non-empty array of {known}; got {v!r}')
        return None
    out: set[E] = set()
    for i, name in enumerate(v):
        if name not in {e.value for e in enum}:
            r.add(f"{path}[{i}]", "enum", f"must be one of {known}; got {name!r}")
        elif enum(name) in out:
            r.add(f"{path}[{i}]", "unique", f"{name} is listed twice")
        else:
            out.add(enum(name))
    return frozenset(out)


def _ends_coverage(r: _Reader, v: Any, end: date | None) -> bool:
    """``endsCoverage``: true says that ``effectiveTo`` ends this coverage on purpose, so the
    book does not ask for a successor; it needs an ``effectiveTo``."""
    if type(v) is not bool:
        r.add("endsCoverage", "type", f"must be true or false, got {v!r}")
        return False
    if v and end is None:
        r.add("endsCoverage", "needs-end", "is true, but effectiveTo is null: say the day the coverage ends")
    return v is True
