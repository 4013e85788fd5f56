"""Strict loading of one rule-set JSON document (the format is in :mod:`ledger.rules.ruleset`).

Rule files are edited by hand at the payer's office; a typo must fail loudly when the
file is loaded, not silently pay the wrong amount months later. So every key is
known, every type exact (``true`` is not an integer, ``600.0`` is not fen), and every
problem is reported at once with its JSON path and the rule it breaks.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Set
from datetime import date
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from types import MappingProxyType
from typing import Any, TypeVar

from ledger.errors import FieldProblem, InvalidInput
from ledger.invoice import VisitType
from ledger.rules.ruleset import (
    BP,
    COORDINATION_BASES,
    ClassBTier,
    Coordination,
    DuplicateItems,
    PeriodLimit,
    PersonCategory,
    PersonRules,
    QuantityLimit,
    RuleSet,
)
from ledger.rules.scope import EVERYTHING, AppliesTo, InsuredStatus

_MAX_FEN = 10**12

_TOP = {"id", "version", "payer", "scheme", "description", "effectiveFrom", "effectiveTo", "persons",
        "classBFirstSelfPay", "quantityLimits", "codeAliases", "duplicateItems", "periodLimits", "appliesTo",
        "endsCoverage"}
_OPTIONAL = {"description", "quantityLimits", "codeAliases", "duplicateItems", "periodLimits", "appliesTo",
             "endsCoverage"}
_PERSON = {"deductibleFen", "ratioBp", "annualCapFen", "invoiceCapFen", "visitCapFen", "negativeList"}
_PERSON_OPTIONAL = {"invoiceCapFen", "visitCapFen", "negativeList"}
# payers in order: optional, read by _coordination (kept apart so other keys can be added beside it)
_TOP |= {"coordination"}
_OPTIONAL |= {"coordination"}
_COORDINATION = {"rank", "base", "after", "waitDays"}
_NEGATIVE = {"codes", "prefixes"}
_TIER = {"fromUnitPriceFen", "toUnitPriceFen", "selfPayBp"}
_VISIT_TYPES = {v.value for v in VisitType}
_LIMIT = {"maxPerLine", "maxPerDay"}
_PERIOD = {"days", "maxQuantity"}
_MAX_PERIOD_DAYS = 366


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
        if v > hi:
            self.add(path, "range", f"{v} is above {hi}")
            return None
        if v < lo:
            self.add(path, "range", f"{v} is below {lo}")
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
    if rid is not None and not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}", rid):
        r.add("id", "pattern", f"{rid!r} is not an id: 1-64 letters, digits, '.', '_' or '-', starting with a "
                               "letter or digit")
        rid = None
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
    duplicates = _duplicates(r, top.get("duplicateItems"))
    periods = _periods(r, top.get("periodLimits", {}))
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
    for code in sorted(set(periods) & set(aliases)):
        r.add(f"periodLimits.{code}", "canonical-code", f"is an alias of {aliases[code]}; name the canonical code")
    for cat, rules in persons.items():
        for code in sorted(rules.negative_codes & set(aliases)):
            r.add(f"persons.{cat.value}.negativeList.codes", "canonical-code",
                  f"{code} is an alias of {aliases[code]}; name the canonical code")

    applies_to = _applies_to(r, top.get("appliesTo", "*"))
    ends_coverage = _ends_coverage(r, top.get("endsCoverage", False), end)
    coordination = _coordination(r, top["coordination"], payer) if "coordination" in top else None

    if r.problems:
        raise InvalidInput(r.problems)
    assert rid and version and payer and scheme and start
    # read-only views: a loaded rule set is a value shared by every adjudication
    return RuleSet(id=rid, version=version, payer=payer, scheme=scheme, description=description,
                   effective_from=start, effective_to=end, persons=MappingProxyType(persons),
                   class_b_tiers=tiers, quantity_limits=MappingProxyType(limits),
                   code_aliases=MappingProxyType(aliases), duplicate_items=duplicates,
                   period_limits=MappingProxyType(periods), applies_to=applies_to, ends_coverage=ends_coverage,
                   coordination=coordination)


def _person(r: _Reader, v: Any, path: str) -> PersonRules | None:
    p = r.obj(v, path, _PERSON, _PERSON_OPTIONAL)
    if p is None:
        return None
    deductible = r.int_(p.get("deductibleFen"), f"{path}.deductibleFen")
    ratio = r.int_(p.get("ratioBp"), f"{path}.ratioBp", hi=BP)
    cap = r.int_(p.get("annualCapFen"), f"{path}.annualCapFen")
    invoice_cap = None if "invoiceCapFen" not in p else r.int_(p["invoiceCapFen"], f"{path}.invoiceCapFen")
    visit_caps: dict[VisitType, int] = {}
    raw_visits = r.obj(p.get("visitCapFen", {}), f"{path}.visitCapFen", _VISIT_TYPES, _VISIT_TYPES)
    for visit in sorted(set(raw_visits or {}) & _VISIT_TYPES):
        assert raw_visits is not None
        if (fen := r.int_(raw_visits[visit], f"{path}.visitCapFen.{visit}")) is not None:
            visit_caps[VisitType(visit)] = fen
    codes: list[str] = []
    prefixes: list[str] = []
    neg = r.obj(p.get("negativeList", {}), f"{path}.negativeList", _NEGATIVE, _NEGATIVE)
    if neg is not None:
        codes = r.codes(neg.get("codes", []), f"{path}.negativeList.codes")
        prefixes = r.codes(neg.get("prefixes", []), f"{path}.negativeList.prefixes")
    if deductible is None or ratio is None or cap is None:
        return None
    return PersonRules(deductible, ratio, cap, frozenset(codes), tuple(prefixes), invoice_cap,
                       MappingProxyType(visit_caps))


def _tiers(r: _Reader, v: Any) -> tuple[ClassBTier, ...]:
    """The Class B bands: from 0 up, each starting where the previous one ends, the last open."""
    path = "classBFirstSelfPay"
    if not isinstance(v, list) or not v:
        r.add(path, "type", f"must be a non-empty array of tiers, got {v!r}")
        return ()
    tiers: list[ClassBTier] = []
    at: list[int] = []   # the index in the file of each tier read
    for i, raw in enumerate(v):
        t = r.obj(raw, f"{path}[{i}]", _TIER, {"toUnitPriceFen"})
        if t is None:
            continue
        here = f"{path}[{i}]"
        start = r.int_(t.get("fromUnitPriceFen"), f"{here}.fromUnitPriceFen")
        bp = r.int_(t.get("selfPayBp"), f"{here}.selfPayBp", hi=BP)
        end = None if t.get("toUnitPriceFen") is None else r.int_(t["toUnitPriceFen"], f"{here}.toUnitPriceFen")
        if start is None or bp is None or (t.get("toUnitPriceFen") is not None and end is None):
            continue
        if end is not None and end < start:
            r.add(f"{here}.toUnitPriceFen", "band-order",
                  f"must be at or above fromUnitPriceFen {start} (both are inclusive), got {end}")
        if i == 0 and start != 0:
            r.add(f"{path}[0].fromUnitPriceFen", "starts-at-zero", f"the first tier must start at 0, got {start}")
        previous = tiers[-1] if tiers else None
        if previous is not None and previous.to_unit_price_fen is not None:
            # the previous band says where it ends: this one must start at the next fen
            follows = previous.to_unit_price_fen + 1
            if start < follows:
                r.add(f"{here}.fromUnitPriceFen", "band-overlap",
                      f"starts at {start} but {path}[{at[-1]}] runs up to and including "
                      f"{previous.to_unit_price_fen}; start at {follows}")
            elif start > follows:
                r.add(f"{here}.fromUnitPriceFen", "band-gap",
                      f"starts at {start} but {path}[{at[-1]}] ends at {previous.to_unit_price_fen}: unit prices "
                      f"{follows} to {start - 1} have no band; start at {follows}")
        elif previous is not None and start <= previous.from_unit_price_fen:
            r.add(f"{here}.fromUnitPriceFen", "ascending",
                  f"must be above the previous tier's {previous.from_unit_price_fen}, got {start}")
        tiers.append(ClassBTier(start, bp, end))
        at.append(i)
    if tiers and at[-1] == len(v) - 1 and tiers[-1].to_unit_price_fen is not None:
        r.add(f"{path}[{at[-1]}].toUnitPriceFen", "band-gap",
              f"the last band must be open (no toUnitPriceFen): unit prices above "
              f"{tiers[-1].to_unit_price_fen} would have no band")
    return tuple(tiers)


def _periods(r: _Reader, v: Any) -> dict[str, PeriodLimit]:
    raw = r.obj(v, "periodLimits", set(v) if isinstance(v, dict) else set())
    out: dict[str, PeriodLimit] = {}
    for code, spec in (raw or {}).items():
        path = f"periodLimits.{code}"
        s = r.obj(spec, path, _PERIOD)
        if s is None:
            continue
        days = r.int_(s.get("days"), f"{path}.days", lo=1, hi=_MAX_PERIOD_DAYS)
        most = None
        if s.get("maxQuantity") is None:
            if "maxQuantity" in s:
                r.add(f"{path}.maxQuantity", "decimal-quantity", "must be a positive decimal string, got None")
        else:
            most = r.qty(s["maxQuantity"], f"{path}.maxQuantity")
        if days is not None and most is not None:
            out[code] = PeriodLimit(days, most)
    return out


def _duplicates(r: _Reader, v: Any) -> DuplicateItems | None:
    if v is None:
        return None
    if not isinstance(v, str) or v not in {d.value for d in DuplicateItems}:
        r.add("duplicateItems", "enum",
              f"must be one of {', '.join(repr(d.value) for d in DuplicateItems)} or absent, got {v!r}")
        return None
    return DuplicateItems(v)


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
        if not isinstance(name, str) or name not in {e.value for e in enum}:
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


def _coordination(r: _Reader, v: Any, payer: str | None) -> Coordination | None:
    """The payer's place in the order of payers (format in :mod:`ledger.rules.ruleset`)."""
    path = "coordination"
    c = r.obj(v, path, _COORDINATION, {"after", "waitDays"})
    if c is None:
        return None
    # a missing key is reported once, as required, by r.obj
    rank = r.int_(c["rank"], f"{path}.rank", lo=1, hi=9) if "rank" in c else None
    base = c.get("base")
    if "base" in c and base not in COORDINATION_BASES:
        r.add(f"{path}.base", "enum", f"must be one of {', '.join(COORDINATION_BASES)}, got {base!r}")
    after = r.codes(c.get("after", []), f"{path}.after")
    if len(set(after)) != len(after):
        r.add(f"{path}.after", "unique", "names a payer twice")
    if payer is not None and payer in after:
        r.add(f"{path}.after", "not-itself", f"names this rule set's own payer {payer}")
    wait_days = r.int_(c.get("waitDays", 0), f"{path}.waitDays", hi=366)
    if rank is not None:
        if rank == 1 and after:
            r.add(f"{path}.after", "first-waits-for-none", "rank 1 is the first payer: it waits for no one")
        if rank > 1 and not after:
            r.add(f"{path}.after", "required", f"rank {rank} must name the payers that decide before it")
    if rank == 1 and base == "left-by-earlier":
        r.add(f"{path}.base", "first-pays-own", "rank 1 has no earlier payer: its base is own-eligible")
    if after and "waitDays" not in c:
        r.add(f"{path}.waitDays", "required", "is required when the set waits for earlier payers")
    if rank is None or base not in COORDINATION_BASES or wait_days is None:
        return None
    return Coordination(rank=rank, base=base, after=tuple(after), wait_days=wait_days)
