"""The payer's rule office: rule sets validated, imported, approved by a second admin,
retired, read and compared; and the live rule book every claims worker judges by.

The office's logic (states, maker-checker, digests, differences) is pure in
:mod:`ledger.rules.administration`; this module runs its steps over the rule-set
repository port. Every step that changes which versions are active re-checks the whole
active set as it would stand (two versions in force at once, a gap: see
:class:`~ledger.rules.book.RuleBook`) inside the repository's transaction, so the rule
book in force is always one the checks accepted.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from typing import Any

from ledger.app.access import Principal, authorize
from ledger.errors import Conflict, FieldProblem, InvalidInput, NotFound
from ledger.ports import Clock, RuleSetRepository
from ledger.rules import RuleBook
from ledger.rules.administration import (
    Difference,
    RuleSetEntry,
    RuleSetState,
    book_of,
    check_approval,
    check_new,
    differences,
    digest,
    entry_for,
    read_document,
    retirement_state,
)
from ledger.rules.ruleset import RuleSet

#: who imports the shipped rule sets at a first start
SEED_ACTOR = "system:seed"


class RuleOffice:
    """Rule administration for the payer ``payer_id`` (None: a service for no payer, which
    administers any payer's sets)."""

    def __init__(self, repo: RuleSetRepository, *, clock: Clock, payer_id: str | None) -> None:
        self.repo = repo
        self.clock = clock
        self.payer_id = payer_id

    # ------------------------------------------------------------------ reading

    def entries(self, principal: Principal, *, states: Sequence[RuleSetState] | None = None) -> list[RuleSetEntry]:
        authorize(principal, "rules.read", payer_id=self.payer_id)
        return self.repo.rule_sets(payer=self.payer_id, states=states)

    def show(self, principal: Principal, rid: str, version: int) -> tuple[RuleSetEntry, Any]:
        """A version's entry and its document, exactly as imported."""
        authorize(principal, "rules.read", payer_id=self.payer_id)
        entry = self._entry(rid, version)
        return entry, self.repo.rule_set_document(rid, version)

    def diff(self, principal: Principal, a: tuple[str, int], b: tuple[str, int]) -> list[Difference]:
        """What changed from version ``a`` to version ``b`` (by JSON path)."""
        _, before = self.show(principal, *a)
        _, after = self.show(principal, *b)
        return differences(before, after)

    # ------------------------------------------------------------------ changing

    def validate(self, principal: Principal, documents: Sequence[tuple[str, Any]]) -> list[RuleSet]:
        """Each (source, document) read strictly and all of them checked with the active
        versions as if activated together; raises InvalidInput naming every problem."""
        authorize(principal, "rules.read", payer_id=self.payer_id)
        sets = self._read_all(documents)
        self._check_with_active(documents)
        return sets

    def import_(self, principal: Principal, documents: Sequence[tuple[str, Any]]) -> list[RuleSetEntry]:
        """Propose the documents' versions (a second admin approves them). A version imported
        before with the same content is not stored again; with other content it is refused.
        Nothing is stored if any document or the set as it would stand has a problem."""
        authorize(principal, "rules.import", payer_id=self.payer_id)
        if not documents:
            raise InvalidInput.single("ruleSets", "non-empty", "give at least one rule-set document")
        sets = self._read_all(documents)
        now = self.clock.now()
        fresh: list[tuple[RuleSetEntry, Any]] = []
        result: list[RuleSetEntry] = []
        for (source, doc), ruleset in zip(documents, sets, strict=True):
            d = digest(doc)
            existing = self.repo.rule_set(ruleset.id, ruleset.version)
            if check_new(existing, d):
                entry = entry_for(ruleset, digest_=d, source=source, by=principal.actor, at=now)
                fresh.append((entry, doc))
                result.append(entry)
            else:
                assert existing is not None
                result.append(existing)
        self._check_with_active([(e.source or e.label, doc) for e, doc in fresh])
        if fresh:
            self.repo.propose_rule_sets(fresh, actor=principal.actor)
        return result

    def approve(self, principal: Principal, refs: Sequence[tuple[str, int]]) -> list[RuleSetEntry]:
        """Activate proposed versions together, each approved by an admin who did not import it."""
        authorize(principal, "rules.approve", payer_id=self.payer_id)

        def to(entry: RuleSetEntry) -> RuleSetState:
            self._own(entry)
            check_approval(entry, principal.actor)
            return RuleSetState.ACTIVE

        return self.repo.move_rule_sets(self._refs(refs), to=to, check_active=_check_book, by=principal.actor,
                                        at=self.clock.now())

    def retire(self, principal: Principal, refs: Sequence[tuple[str, int]]) -> list[RuleSetEntry]:
        """Take active versions out of service (proposed ones are withdrawn), if what stays
        active leaves no gap."""
        authorize(principal, "rules.retire", payer_id=self.payer_id)

        def to(entry: RuleSetEntry) -> RuleSetState:
            self._own(entry)
            return retirement_state(entry)

        return self.repo.move_rule_sets(self._refs(refs), to=to, check_active=_check_book, by=principal.actor,
                                        at=self.clock.now())

    def seed(self, documents: Sequence[tuple[str, Any]]) -> list[RuleSetEntry]:
        """At a first start (no rule set at all): the shipped sets, active at once and audited
        as seed data. Afterwards the office's own steps are the only way in."""
        if self.repo.rule_sets():
            return []
        if self.payer_id is not None:   # this payer's sets only
            documents = [(s, d) for s, d in documents if isinstance(d, dict) and d.get("payer") == self.payer_id]
        if not documents:
            return []
        sets = self._read_all(documents)
        _check_book(list(documents))
        now = self.clock.now()
        versions = [(entry_for(r, digest_=digest(doc), source=source, by=SEED_ACTOR, at=now), doc)
                    for (source, doc), r in zip(documents, sets, strict=True)]
        try:
            self.repo.propose_rule_sets(versions, actor=SEED_ACTOR, activate=True)
        except Conflict:   # another process of this service seeded at the same moment
            return []
        return [e for e, _ in versions]

    # ------------------------------------------------------------------ helpers

    def _read_all(self, documents: Sequence[tuple[str, Any]]) -> list[RuleSet]:
        sets: list[RuleSet] = []
        problems: list[FieldProblem] = []
        for source, doc in documents:
            try:
                r = read_document(doc, source=source)
            except InvalidInput as exc:
                problems.extend(exc.problems)
                continue
            if self.payer_id is not None and r.payer != self.payer_id:
                problems.append(FieldProblem("payer", "this-payer", f"{source}: {r.label} is payer {r.payer}'s; "
                                                                    f"this service acts for {self.payer_id}"))
            sets.append(r)
        if problems:
            raise InvalidInput(problems)
        return sets

    def _check_with_active(self, documents: Sequence[tuple[str, Any]]) -> None:
        """The book the active versions and ``documents`` (source, document) would make together;
        a problem about one of ``documents`` (a gap it opens, an overlap) names its file too."""
        try:
            _check_book([*self.repo.active_rule_documents(), *documents])
        except InvalidInput as exc:
            sources = {f"{doc.get('id')} v{doc.get('version')}": source for source, doc in documents
                       if isinstance(doc, dict)}
            raise InvalidInput([_named(p, sources) for p in exc.problems]) from None

    def _entry(self, rid: str, version: int) -> RuleSetEntry:
        entry = self.repo.rule_set(rid, version)
        if entry is None or (self.payer_id is not None and entry.payer != self.payer_id):
            raise NotFound(f"no rule set {rid} v{version}")
        return entry

    def _own(self, entry: RuleSetEntry) -> None:
        if self.payer_id is not None and entry.payer != self.payer_id:
            raise NotFound(f"no rule set {entry.label}")

    @staticmethod
    def _refs(refs: Sequence[tuple[str, int]]) -> list[tuple[str, int]]:
        if not refs:
            raise InvalidInput.single("ruleSets", "non-empty", "name at least one rule-set version (id@version)")
        return list(dict.fromkeys(refs))


def _named(problem: FieldProblem, sources: dict[str, str]) -> FieldProblem:
    """``problem`` with the file of the first new version it names in front, if any does."""
    for label, source in sources.items():
        if label in problem.message and source != label and not problem.message.startswith(source):
            return FieldProblem(problem.field, problem.rule, f"{source}: {problem.message}")
    return problem


def _check_book(documents: list[tuple[str, Any]]) -> None:
    """Raises InvalidInput if these documents, active together, are not a consistent rule book."""
    book_of(documents)


class LiveRuleBook:
    """The rule book of the active versions, reloaded when they change.

    Every claims worker process holds one: it asks the repository for the rule-set
    generation at most every ``ttl`` seconds (one small read) and reloads the book when
    it moved, so an approval takes effect in every API worker within ``ttl`` without a
    restart; the version judges invoices dated from its own ``effectiveFrom``.
    """

    def __init__(self, repo: RuleSetRepository, *, ttl: float = 1.0) -> None:
        self.repo = repo
        self.ttl = ttl
        self._lock = threading.Lock()
        self._generation = -1
        self._checked = float("-inf")
        self._book = RuleBook(())

    def book(self) -> RuleBook:
        """The rule book in force (at most ``ttl`` seconds old)."""
        now = time.monotonic()
        if now - self._checked < self.ttl:
            return self._book
        with self._lock:
            if now - self._checked >= self.ttl:
                generation = self.repo.rules_generation()
                if generation != self._generation:
                    # the repository's checks accepted this set when it became active
                    self._book = book_of(self.repo.active_rule_documents())
                    self._generation = generation
                self._checked = time.monotonic()
            return self._book
