"""The rule book: every known version of the payers' rule sets, and the one that judges a claim.

A claim is judged by the rules in force on the invoice's issue date (``effectiveFrom``
inclusive, ``effectiveTo`` exclusive) that apply to its visit type, the person's insured
status and their category (:meth:`RuleBook.rules_for`); among several, the most specific
(:mod:`ledger.rules.scope`). Its versions come from the JSON files shipped in
``ledger/rules/data`` and any a payer adds, each read strictly by :func:`load_ruleset`.

The book refuses a collection a claim could fall through or be judged twice by, listing
every problem in words a clerk can act on:

- two versions of one rule set id in force on one day;
- two rule sets of one payer that both apply, with the same specificity, to one
  (visit type, insured status, person category) on one day;
- a gap: a combination some version covers on some day that no version covers on a later
  day (days between versions, a later version dropping a person category or a visit
  type, a version retired without successor), unless the version whose ``effectiveTo``
  opens the gap says ``"endsCoverage": true``.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable, Iterator
from datetime import date, timedelta
from importlib import resources
from itertools import product
from pathlib import Path
from typing import Any, Protocol

from ledger.errors import FieldProblem, InvalidInput, NoRulesInForce, NotFound
from ledger.invoice import VisitType
from ledger.rules.loading import load_ruleset
from ledger.rules.ruleset import PersonCategory, RuleSet
from ledger.rules.scope import STATUS_WORDS, InsuredStatus

#: (visit type, insured status, person category): what one claim asks the book about
Combination = tuple[VisitType, InsuredStatus, PersonCategory]
_PAIRS = frozenset(product(VisitType, InsuredStatus))


def shipped_documents() -> list[tuple[str, Any]]:
    """(file name, document) of the rule sets shipped in ``ledger/rules/data``: the seed data a
    payer's service imports at its first start (``ledger.app.rule_office.RuleOffice.seed``)."""
    folder = resources.files("ledger.rules") / "data"
    files = sorted((p for p in folder.iterdir() if p.name.endswith(".json")), key=lambda p: p.name)
    return [(p.name, json.loads(p.read_text(encoding="utf-8"))) for p in files]


class RuleBook:
    """All known rule-set versions; answers "which rules judge this claim?"."""

    def __init__(self, rulesets: Iterable[RuleSet]) -> None:
        """Refuses a repeated id+version, overlaps and gaps (see the module docstring), all at once."""
        self._sets = tuple(sorted(rulesets, key=lambda r: (r.payer, r.id, r.effective_from)))
        self._by_payer: dict[str, list[RuleSet]] = defaultdict(list)
        for r in self._sets:
            self._by_payer[r.payer].append(r)
        problems: list[FieldProblem] = []
        seen: set[tuple[str, int]] = set()
        for r in self._sets:
            if (r.id, r.version) in seen:
                problems.append(FieldProblem("version", "unique-version", f"{r.label} is loaded twice"))
            seen.add((r.id, r.version))
        twice = bool(problems)
        lineage_overlaps: set[frozenset[str]] = set()
        for a, b in zip(self._sets, self._sets[1:], strict=False):
            same = (a.payer, a.id) == (b.payer, b.id) and a.version != b.version
            if same and (a.effective_to is None or a.effective_to > b.effective_from):
                lineage_overlaps.add(frozenset((a.label, b.label)))
                problems.append(FieldProblem(
                    "effectiveFrom", "no-overlap",
                    f"{b.label} starts {b.effective_from} but {a.label} is in force until "
                    f"{a.effective_to or 'further notice'} (effectiveTo is exclusive)"))
        if not twice:  # a set loaded twice would overlap itself everywhere: say it once
            for sets in self._by_payer.values():
                problems += _coverage_problems(sets, lineage_overlaps)
        if problems:
            raise InvalidInput(problems)

    @classmethod
    def shipped(cls) -> RuleBook:
        """The example rule sets shipped in ``ledger/rules/data``."""
        return cls(load_ruleset(doc, source=name) for name, doc in shipped_documents())

    @classmethod
    def from_files(cls, paths: Iterable[Path]) -> RuleBook:
        """Rule sets from JSON files (one version per file); strict, like :func:`load_ruleset`."""
        return cls(read_files(paths))

    def __iter__(self) -> Iterator[RuleSet]:
        return iter(self._sets)

    def __len__(self) -> int:
        return len(self._sets)

    def book(self) -> RuleBook:
        """A fixed book is its own :class:`RuleSource`."""
        return self

    def rules_for(self, *, payer: str, visit_type: VisitType | str, insured_status: InsuredStatus | str,
                  category: PersonCategory | str, on: date | str) -> RuleSet:
        """The rule set that judges a claim on an invoice of ``on`` (its issue date) for care of
        ``visit_type`` by a person of ``category`` with ``insured_status`` (the most specific of
        the payer's versions in force that apply); :class:`NoRulesInForce` if none does."""
        day = date.fromisoformat(on) if isinstance(on, str) else on
        combo = (VisitType(visit_type), InsuredStatus(insured_status), PersonCategory(category))
        chosen = _winners(self._by_payer.get(payer, ()), combo, day)
        if not chosen:
            v, s, c = combo
            raise NoRulesInForce(
                f"payer {payer} has no rules in force on {day} for {v.value} care {STATUS_WORDS[s]} of "
                f"{_article(c)} {c.value} person: the claim cannot be decided until the payer's office "
                "publishes rules for it", payer=payer, visit_type=v.value, insured_status=s.value,
                category=c.value, day=day.isoformat())
        return chosen[0]  # the book refused overlaps: one at most

    def version(self, *, rule_set_id: str, on: date | str) -> RuleSet:
        """The version of rule set ``rule_set_id`` in force on ``on`` (a claim judged again keeps
        the rule set it was filed under); NotFound if none is."""
        day = date.fromisoformat(on) if isinstance(on, str) else on
        for r in self._sets:
            if r.id == rule_set_id and r.in_force(day):
                return r
        raise NotFound(f"no version of rule set {rule_set_id!r} is in force on {day}")

    def in_force(self, *, payer: str, scheme: str, on: date | str) -> RuleSet:
        """The first version of ``scheme`` in force on ``on``, whatever it applies to (for tools and
        tests that name a scheme; claims use :meth:`rules_for`); NotFound if none is."""
        day = date.fromisoformat(on) if isinstance(on, str) else on
        for r in self._sets:
            if r.payer == payer and r.scheme == scheme and r.in_force(day):
                return r
        raise NotFound(f"no rule set of payer {payer!r} for scheme {scheme!r} is in force on {day}")


def read_files(paths: Iterable[Path]) -> list[RuleSet]:
    """Rule sets from JSON files (one version per file), each read strictly, not yet a book."""
    return [load_ruleset(json.loads(p.read_text(encoding="utf-8")), source=p.name) for p in paths]


def _article(category: PersonCategory) -> str:
    return "an" if category.value[0] in "aeiou" else "a"


def _winners(sets: Iterable[RuleSet], combo: Combination, day: date) -> list[RuleSet]:
    """The payer's versions in force on ``day`` that apply to ``combo``, at the highest specificity."""
    visit, status, category = combo
    found = [r for r in sets if r.in_force(day) and category in r.persons and r.applies_to.covers(visit, status)]
    if not found:
        return []
    top = max(r.applies_to.specificity for r in found)
    return [r for r in found if r.applies_to.specificity == top]


def _who(combos: Iterable[Combination], scheme: str | None,
         full: frozenset[tuple[VisitType, InsuredStatus]]) -> list[tuple[str, list[PersonCategory]]]:
    """``combos`` in words, one phrase per group of categories alike (``full``: the pairs that
    read as "all of it")."""
    pairs_of: dict[PersonCategory, set[tuple[VisitType, InsuredStatus]]] = defaultdict(set)
    for v, s, c in combos:
        pairs_of[c].add((v, s))
    by_text: dict[str, list[PersonCategory]] = defaultdict(list)
    for c in PersonCategory:
        if c in pairs_of:
            by_text["" if pairs_of[c] >= full else _care(pairs_of[c])].append(c)
    phrases = []
    for text, cats in by_text.items():
        names = [c.value for c in cats]
        who = (", ".join(names[:-1]) + " and " + names[-1]) if len(names) > 1 else names[0]
        of_scheme = f" of scheme {scheme}" if scheme else ""
        phrases.append((f"{who} persons{of_scheme}" + (f" ({text})" if text else ""), cats))
    return phrases


def _care(pairs: set[tuple[VisitType, InsuredStatus]]) -> str:
    """Pairs in words: ``emergency and outpatient care; inpatient care treated locally or treated
    off-site as an emergency``."""
    statuses: dict[VisitType, set[InsuredStatus]] = defaultdict(set)
    for v, s in pairs:
        statuses[v].add(s)
    visits_of: dict[frozenset[InsuredStatus], list[VisitType]] = defaultdict(list)
    for v in sorted(statuses):
        visits_of[frozenset(statuses[v])].append(v)
    parts = []
    for ss, vs in visits_of.items():
        names = [v.value for v in vs]
        care = (", ".join(names[:-1]) + " and " + names[-1] if len(names) > 1 else names[0]) + " care"
        if len(ss) < len(InsuredStatus):
            care += " " + " or ".join(STATUS_WORDS[s] for s in InsuredStatus if s in ss)
        parts.append(care)
    return "; ".join(parts)


def _label(r: RuleSet) -> str:
    return f"{r.id} v{r.version}"


def _coverage_problems(sets: list[RuleSet], lineage_overlaps: set[frozenset[str]]) -> list[FieldProblem]:
    """Overlaps and gaps among one payer's versions, walking the days on which any of them
    starts or ends (between two such days nothing changes)."""
    days = sorted({r.effective_from for r in sets} | {r.effective_to for r in sets if r.effective_to})
    combos = list(product(VisitType, InsuredStatus, PersonCategory))
    by_label = {r.label: r for r in sets}
    # (label, label) -> first day, combinations both apply to
    overlaps: dict[tuple[str, str], tuple[date, set[Combination]]] = {}
    # (label of the version whose end opens the gap, day) -> combinations left without rules
    gaps: dict[tuple[str, date], set[Combination]] = defaultdict(set)
    covered_by: dict[Combination, list[RuleSet]] = {}
    for day in days:
        for combo in combos:
            now = _winners(sets, combo, day)
            for i, a in enumerate(now):
                for b in now[i + 1:]:
                    if frozenset((a.label, b.label)) not in lineage_overlaps:
                        overlaps.setdefault((a.label, b.label), (day, set()))[1].add(combo)
            before = covered_by.get(combo, [])
            if before and not now and not any(r.ends_coverage for r in before):
                gaps[(before[0].label, day)].add(combo)
            covered_by[combo] = now
    problems = []
    for (la, lb), (day, where) in overlaps.items():
        a, b = by_label[la], by_label[lb]
        for who, _ in _who(where, None, _PAIRS):
            problems.append(FieldProblem(
                "appliesTo", "no-overlap",
                f"{who} would be judged by both {_label(a)} (scheme {a.scheme}) and {_label(b)} (scheme "
                f"{b.scheme}) from {day}: both apply to them "
                "with the same specificity; narrow the appliesTo of one of them, or end one (effectiveTo)"))
    for (ended, day), where in sorted(gaps.items(), key=lambda g: (g[0][1], g[0][0])):
        problems += _gap_problems(by_label[ended], day, where, sets)
    return problems


def _gap_problems(ended: RuleSet, day: date, where: set[Combination], sets: list[RuleSet]) -> list[FieldProblem]:
    """The gap ``ended``'s end opens on ``day`` for ``where``, in words, with what to change."""
    mine = frozenset((v, s) for v, s in _PAIRS if ended.applies_to.covers(v, s))
    successor = next((r for r in sets if r.id == ended.id and r.effective_from == day), None)
    later = sorted(r.effective_from for r in sets if r.effective_from > day
                   and any(r.applies_to.covers(v, s) and c in r.persons for v, s, c in where))
    problems = []
    for who, cats in _who(where, ended.scheme, mine):
        lead = f"{who} have no rule set in force from {day}: "
        if successor is not None:
            dropped = [c for c in cats if c not in successor.persons]
            path = f"persons.{dropped[0].value}" if dropped else "appliesTo"
            problems.append(FieldProblem(path, "no-gap", lead + f"{_label(successor)} does not cover them"))
        elif later:
            problems.append(FieldProblem(
                "effectiveTo", "no-gap",
                lead + f"{_label(ended)}'s last day is {day - timedelta(days=1)} and the next rule set for them "
                f"starts {later[0]}; close the days between"))
        else:
            problems.append(FieldProblem(
                "effectiveTo", "no-gap",
                lead + f"{_label(ended)}'s last day is {day - timedelta(days=1)} and no rule set follows; "
                f'to end this coverage on purpose, say "endsCoverage": true in {_label(ended)}'))
    return problems


class RuleSource(Protocol):
    """Where a claims service gets the rule book in force: a fixed :class:`RuleBook`, or the
    active versions of the rule office, reloaded when they change
    (``ledger.app.rule_office.LiveRuleBook``)."""

    def book(self) -> RuleBook:
        """The rule book in force now."""
        ...
