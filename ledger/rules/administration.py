"""Rule sets as an office administers them: proposed, approved by a second admin, retired.

A payer's rules change a few times a year and decide money, so a new version goes
through two people (maker-checker): one admin imports it (``proposed``), another
approves it (``active``). Only active versions judge claims, each from its
``effectiveFrom`` date. A version is never edited: changed rules are a new version, and
an active version leaves service by being retired (a proposed one by being withdrawn).

This module is the office's logic, pure: which state a version may move to and by whom,
the content digest that tells a re-import of the same file from a changed one, the
rule book a set of documents makes, and the difference between two versions. The
store keeps the entries (``ledger.ports.RuleSetRepository``); the use case
(``ledger.app.rule_office``) runs the steps.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum
from importlib import resources
from typing import Any, TypeVar

from ledger.canonical import canonical_json
from ledger.errors import Conflict, FieldProblem, Forbidden, InvalidInput
from ledger.rules.book import RuleBook
from ledger.rules.loading import load_ruleset
from ledger.rules.ruleset import RuleSet


class RuleSetState(StrEnum):
    """Where a version stands: only ``active`` ones judge claims."""

    PROPOSED = "proposed"     # imported, waiting for a second admin
    ACTIVE = "active"         # approved: judges invoices dated from its effectiveFrom
    RETIRED = "retired"       # was active, taken out of service
    WITHDRAWN = "withdrawn"   # was proposed, never approved


@dataclass(frozen=True)
class RuleSetEntry:
    """One version of a rule set as the office holds it: what it is, where it stands, who acted."""

    id: str
    version: int
    payer: str
    scheme: str
    effective_from: date
    effective_to: date | None
    state: RuleSetState
    digest: str                   # sha256 of the document's RFC 8785 form
    source: str                   # the file (or request) it came from
    imported_by: str
    imported_at: datetime
    approved_by: str | None = None
    approved_at: datetime | None = None
    retired_by: str | None = None
    retired_at: datetime | None = None

    @property
    def label(self) -> str:
        return f"{self.id} v{self.version}"

    @property
    def ref(self) -> str:
        """How commands name it: ``id@version``."""
        return f"{self.id}@{self.version}"


@dataclass(frozen=True)
class Difference:
    """One JSON path whose value differs between two versions (None: absent on that side)."""

    path: str
    before: Any
    after: Any


def json_schema(*, inline: bool = False) -> dict[str, Any]:
    """The published JSON Schema of a rule-set document (``docs/rule-set.schema.json`` is a
    copy); ``inline``: with its ``$defs`` written in place, for embedding in an OpenAPI document."""
    schema: dict[str, Any] = json.loads((resources.files("ledger.rules") / "rule-set.schema.json")
                                        .read_text(encoding="utf-8"))
    if not inline:
        return schema
    defs = schema.pop("$defs", {})

    def resolve(node: Any) -> Any:
        if isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str) and ref.startswith("#/$defs/"):
                return resolve({**defs[ref.removeprefix("#/$defs/")],
                                **{k: v for k, v in node.items() if k != "$ref"}})
            return {k: resolve(v) for k, v in node.items()}
        if isinstance(node, list):
            return [resolve(v) for v in node]
        return node

    return {k: v for k, v in resolve(schema).items() if k not in ("$schema", "$id")}


#: a rule set's id (as the loader holds it) and a version named as ``id@version``
ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$"
REF_PATTERN = ID_PATTERN.removesuffix("$") + r"@[1-9][0-9]{0,6}$"


def parse_ref(text: str) -> tuple[str, int]:
    """``id@version`` (as ``ebill rules`` and the admin API name a version) -> (id, version)."""
    if not re.fullmatch(REF_PATTERN, text.strip()):
        raise InvalidInput.single("ruleSet", "ref", f"name a rule-set version as id@version, got {text!r}")
    rid, _, ver = text.strip().rpartition("@")
    return rid, int(ver)


def digest(doc: Any) -> str:
    """The document's content digest: equal for the same rules however the file is formatted."""
    return hashlib.sha256(canonical_json(doc)).hexdigest()


#: the largest rule file read (a city's full rule library is a few hundred KiB)
MAX_RULE_FILE_BYTES = 8 * 1024 * 1024


def parse_rule_file(raw: bytes, *, source: str) -> Any:
    """A rule file's JSON; a file that is not UTF-8 JSON, is too large, or gives a key twice
    (the second silently winning is exactly the slip a hand-edited file must not make) is
    refused naming the file."""
    if len(raw) > MAX_RULE_FILE_BYTES:
        raise InvalidInput.single("", "size", f"{source}: {len(raw):,} bytes is above the limit of "
                                              f"{MAX_RULE_FILE_BYTES:,}")

    def pairs(items: list[tuple[str, Any]]) -> dict[str, Any]:
        seen: dict[str, Any] = {}
        for k, v in items:
            if k in seen:
                raise InvalidInput.single(k, "duplicate-key", f"{source}: the key {k!r} is given twice")
            seen[k] = v
        return seen

    try:
        return json.loads(raw.decode("utf-8"), object_pairs_hook=pairs)
    except UnicodeDecodeError:
        raise InvalidInput.single("", "utf-8", f"{source}: not UTF-8 text") from None
    except json.JSONDecodeError as exc:
        raise InvalidInput.single("", "json", f"{source}: not JSON: {exc.msg} at line {exc.lineno} column "
                                              f"{exc.colno}") from None
    except RecursionError:
        raise InvalidInput.single("", "json", f"{source}: nested too deeply") from None


def read_document(doc: Any, *, source: str) -> RuleSet:
    """One rule-set document, validated strictly; problems name ``source``, the JSON path and the rule."""
    try:
        return load_ruleset(doc, source=source)
    except InvalidInput as exc:
        raise InvalidInput([FieldProblem(p.field, p.rule, f"{source}: {p.message}") for p in exc.problems]) from None


def entry_for(ruleset: RuleSet, *, digest_: str, source: str, by: str, at: datetime) -> RuleSetEntry:
    """The entry a newly imported version starts as: proposed by ``by``."""
    return RuleSetEntry(ruleset.id, ruleset.version, ruleset.payer, ruleset.scheme, ruleset.effective_from,
                        ruleset.effective_to, RuleSetState.PROPOSED, digest_, source[:200], by, at)


def check_new(existing: RuleSetEntry | None, digest_: str) -> bool:
    """True if the version must be stored; False for a re-import of the very same document.

    A version is immutable: the same id and version with other content is refused, so what
    judged a claim can always be read back exactly.
    """
    if existing is None:
        return True
    if existing.digest == digest_:
        return False
    raise Conflict(f"{existing.label} was imported before with other content ({existing.state.value}, "
                   f"digest {existing.digest[:12]}…): changed rules are a new version")


def person_of(actor: str) -> str:
    """Who an actor (``role:subject:credential``) is, whichever of their credentials they used."""
    return actor.rsplit(":", 1)[0] if actor.count(":") >= 2 else actor


def check_approval(entry: RuleSetEntry, approver: str) -> None:
    """A proposed version may be approved, by an admin other than the one who imported it
    (with any of their credentials: the check is on the person, not the key)."""
    if entry.state is not RuleSetState.PROPOSED:
        raise Conflict(f"{entry.label} is {entry.state.value}: only a proposed version can be approved")
    if person_of(entry.imported_by) == person_of(approver):
        raise Forbidden(f"{entry.label} was imported by {person_of(approver)}: a second admin must approve it "
                        "(maker-checker)")


def retirement_state(entry: RuleSetEntry) -> RuleSetState:
    """What retiring ``entry`` makes it: an active version is retired, a proposed one withdrawn."""
    if entry.state is RuleSetState.ACTIVE:
        return RuleSetState.RETIRED
    if entry.state is RuleSetState.PROPOSED:
        return RuleSetState.WITHDRAWN
    raise Conflict(f"{entry.label} is already {entry.state.value}")


def book_of(documents: Iterable[tuple[str, Any]]) -> RuleBook:
    """The rule book of (source, document) pairs; raises InvalidInput naming every problem,
    of a document or of the versions together (two in force at once, a gap).

    A version is never edited, so an open-ended version (``effectiveTo`` null) cannot be
    given an end afterwards: a later version of the same rule set ends it instead, from the
    later one's ``effectiveFrom`` (see :func:`superseded`).
    """
    sets: list[RuleSet] = []
    problems: list[FieldProblem] = []
    for source, doc in documents:
        try:
            sets.append(read_document(doc, source=source))
        except InvalidInput as exc:
            problems.extend(exc.problems)
    if problems:
        raise InvalidInput(problems)
    return RuleBook(superseded(sets))


_V = TypeVar("_V", RuleSet, RuleSetEntry)


def superseded(sets: Sequence[_V]) -> list[_V]:
    """The versions with each open-ended one ended where the next version of the same rule
    set (same id, payer and scheme, higher version) starts later. An explicit
    ``effectiveTo`` is kept as written: one that runs past its successor's start stays an
    overlap for the book to refuse. (Given entries, pass the active ones: what the book holds.)"""
    by_id: dict[tuple[str, str, str], list[_V]] = {}
    for r in sets:
        by_id.setdefault((r.id, r.payer, r.scheme), []).append(r)
    out: list[_V] = []
    for group in by_id.values():
        ordered: list[_V] = sorted(group, key=lambda v: v.version)
        for this, nxt in zip(ordered, [*ordered[1:], None], strict=True):
            if nxt is not None and this.effective_to is None and nxt.effective_from > this.effective_from:
                this = dataclasses.replace(this, effective_to=nxt.effective_from)
            out.append(this)
    return out


def in_force_until(entries: Sequence[RuleSetEntry]) -> dict[tuple[str, int], date | None]:
    """For each active entry, the first day it is no longer in force (None: open), as the
    book holds it: its own ``effectiveTo`` or, if open, where its successor starts."""
    active = [e for e in entries if e.state is RuleSetState.ACTIVE]
    return {(e.id, e.version): e.effective_to for e in superseded(active)}


def differences(before: Any, after: Any, path: str = "") -> list[Difference]:
    """Every JSON path whose value differs between two documents, in document order.

    Objects are compared key by key; arrays of plain values as sets of members (a code
    added to a negative list is one difference, not a shifted list); other arrays item by
    item.
    """
    if isinstance(before, Mapping) and isinstance(after, Mapping):
        out: list[Difference] = []
        for key in [*before, *(k for k in after if k not in before)]:
            sub = f"{path}.{key}" if path else str(key)
            out.extend(differences(before.get(key), after.get(key), sub))
        return out
    if isinstance(before, list) and isinstance(after, list):
        if all(_plain(v) for v in (*before, *after)):
            gone = [v for v in before if v not in after]
            new = [v for v in after if v not in before]
            return [Difference(path, gone or None, new or None)] if gone or new else []
        out = []
        for i in range(max(len(before), len(after))):
            out.extend(differences(before[i] if i < len(before) else None,
                                   after[i] if i < len(after) else None, f"{path}[{i}]"))
        return out
    if before == after and type(before) is type(after):
        return []
    return [Difference(path, before, after)]


def _plain(v: Any) -> bool:
    return v is None or isinstance(v, (str, int, float, bool))


def describe(diffs: Sequence[Difference]) -> list[str]:
    """The differences as lines a reviewer reads (``persons.retired.ratioBp: 7000 → 7500``)."""
    lines = []
    for d in diffs:
        if isinstance(d.before, list) or isinstance(d.after, list):
            parts = []
            if d.after:
                parts.append("added " + ", ".join(map(str, d.after)))
            if d.before:
                parts.append("removed " + ", ".join(map(str, d.before)))
            lines.append(f"{d.path}: {'; '.join(parts)}")
        elif d.before is None:
            lines.append(f"{d.path}: added {_show(d.after)}")
        elif d.after is None:
            lines.append(f"{d.path}: removed (was {_show(d.before)})")
        else:
            lines.append(f"{d.path}: {_show(d.before)} → {_show(d.after)}")
    return lines


def _show(v: Any) -> str:
    if isinstance(v, (dict, list)):
        return str(canonical_json(v).decode())[:200]
    return repr(v) if isinstance(v, str) else str(v)
