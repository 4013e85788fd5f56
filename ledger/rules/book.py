"""The rule book: every known version of the payers' rule sets, and the one in force on a day.

A claim is judged by the rules in force on the invoice's issue date (``effectiveFrom``
inclusive, ``effectiveTo`` exclusive), so the book refuses two versions of one
(payer, scheme) whose dates overlap. Its versions come from the JSON files shipped in
``ledger/rules/data`` and any a payer adds, each read strictly by :func:`load_ruleset`.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from datetime import date
from importlib import resources
from pathlib import Path
from typing import Any, Protocol

from ledger.errors import FieldProblem, InvalidInput, NotFound
from ledger.rules.loading import load_ruleset
from ledger.rules.ruleset import RuleSet


def shipped_documents() -> list[tuple[str, Any]]:
    """(file name, document) of the rule sets shipped in ``ledger/rules/data``: the seed data a
    payer's service imports at its first start (``ledger.app.rule_office.RuleOffice.seed``)."""
    folder = resources.files("ledger.rules") / "data"
    files = sorted((p for p in folder.iterdir() if p.name.endswith(".json")), key=lambda p: p.name)
    return [(p.name, json.loads(p.read_text(encoding="utf-8"))) for p in files]


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
        return cls(load_ruleset(doc, source=name) for name, doc in shipped_documents())

    @classmethod
    def from_files(cls, paths: Iterable[Path]) -> RuleBook:
        """Rule sets from JSON files (one version per file); strict, like :func:`load_ruleset`."""
        return cls(load_ruleset(json.loads(p.read_text(encoding="utf-8")), source=p.name) for p in paths)

    def __iter__(self) -> Iterator[RuleSet]:
        return iter(self._sets)

    def __len__(self) -> int:
        return len(self._sets)

    def book(self) -> RuleBook:
        """A fixed book is its own :class:`RuleSource`."""
        return self

    def in_force(self, *, payer: str, scheme: str, on: date | str) -> RuleSet:
        """The version in force on ``on`` (an invoice's issue date); NotFound if none is."""
        day = date.fromisoformat(on) if isinstance(on, str) else on
        for r in self._sets:
            if r.payer == payer and r.scheme == scheme and r.in_force(day):
                return r
        raise NotFound(f"no rule set of payer {payer!r} for scheme {scheme!r} is in force on {day}")


class RuleSource(Protocol):
    """Where a claims service gets the rule book in force: a fixed :class:`RuleBook`, or the
    active versions of the rule office, reloaded when they change
    (``ledger.app.rule_office.LiveRuleBook``)."""

    def book(self) -> RuleBook:
        """The rule book in force now."""
        ...
