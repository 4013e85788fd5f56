"""The payers' rule sets in SQL: every version as imported, its state, and who acted.

A change of which versions are active (an approval, a retirement) is one transaction
that first takes the rule-set generation row (``FOR UPDATE`` on PostgreSQL; SQLite's
one writer at a time), then asks the caller's ``check`` about the active versions as
they would stand, and only then writes: two admins approving overlapping versions at
the same moment cannot both succeed. The generation (a meta counter) tells the API
workers that the rule book changed.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from datetime import date, datetime
from typing import Any

from sqlalchemy import Connection, insert, select, update
from sqlalchemy.exc import IntegrityError

from ledger.adapters.sql import schema as s
from ledger.adapters.sql.base import M, StoreBase, _aware
from ledger.errors import Conflict, NotFound
from ledger.rules.administration import RuleSetEntry, RuleSetState

RS = s.RuleSetRow.__table__  # type: ignore[attr-defined]

#: meta key of the rule-set generation: +1 whenever the active versions change
RULES_GENERATION = "rules.generation"


class RuleSets(StoreBase):
    """Rule-set versions: propose, move between states under a check, read."""

    def rule_set(self, rid: str, version: int) -> RuleSetEntry | None:
        with self._read() as conn:
            row = conn.execute(select(RS).where(RS.c.id == rid, RS.c.version == version)).first()
        return None if row is None else _entry(row)

    def rule_set_document(self, rid: str, version: int) -> Any:
        with self._read() as conn:
            doc = conn.execute(select(RS.c.document).where(RS.c.id == rid, RS.c.version == version)).scalar()
        if doc is None:
            raise NotFound(f"no rule set {rid} v{version}")
        return json.loads(doc)

    def rule_sets(self, *, payer: str | None = None,
                  states: Sequence[RuleSetState] | None = None) -> list[RuleSetEntry]:
        q = select(RS).order_by(RS.c.payer, RS.c.scheme, RS.c.effective_from, RS.c.id, RS.c.version)
        if payer is not None:
            q = q.where(RS.c.payer == payer)
        if states is not None:
            q = q.where(RS.c.state.in_([st.value for st in states]))
        with self._read() as conn:
            return [_entry(r) for r in conn.execute(q)]

    def active_rule_documents(self) -> list[tuple[str, Any]]:
        """(label, document) of every active version."""
        with self._read() as conn:
            rows = conn.execute(select(RS.c.id, RS.c.version, RS.c.document)
                                .where(RS.c.state == RuleSetState.ACTIVE.value)).all()
        return [(f"{r.id} v{r.version}", json.loads(r.document)) for r in rows]

    def rules_generation(self) -> int:
        value = self.get_meta(RULES_GENERATION)
        return int(value) if value else 0

    def propose_rule_sets(self, versions: Sequence[tuple[RuleSetEntry, Any]], *, actor: str,
                          activate: bool = False) -> None:
        """Store new versions in one transaction, each audited: proposed, or (``activate``:
        the seed data of a first start) active at once."""
        with self._tx() as conn:
            if activate:
                self._next_generation(conn)
            for e, doc in versions:
                state = RuleSetState.ACTIVE if activate else RuleSetState.PROPOSED
                try:
                    conn.execute(insert(RS).values(
                        id=e.id, version=e.version, payer=e.payer, scheme=e.scheme,
                        effective_from=e.effective_from.isoformat(),
                        effective_to=e.effective_to.isoformat() if e.effective_to else None,
                        state=state.value, digest=e.digest, source=e.source,
                        document=json.dumps(doc, ensure_ascii=False, sort_keys=True),
                        imported_by=e.imported_by, imported_at=e.imported_at,
                        approved_by=e.imported_by if activate else None,
                        approved_at=e.imported_at if activate else None))
                except IntegrityError:
                    raise Conflict(f"{e.label} was imported at the same moment by another request") from None
                self.audit(conn, actor=actor, action="rules.seeded" if activate else "rules.imported",
                           subject=e.ref[:80], detail={"payer": e.payer, "scheme": e.scheme, "digest": e.digest,
                                                       "source": e.source,
                                                       "effectiveFrom": e.effective_from.isoformat(),
                                                       "effectiveTo": e.effective_to.isoformat()
                                                       if e.effective_to else None})

    def move_rule_sets(self, refs: Sequence[tuple[str, int]], *, to: Callable[[RuleSetEntry], RuleSetState],
                       check_active: Callable[[list[tuple[str, Any]]], None], by: str,
                       at: datetime) -> list[RuleSetEntry]:
        """Move each version to ``to(entry)`` (which raises if the move is not allowed) in one
        transaction, if ``check_active`` (given the active documents as they would stand) raises
        nothing; audited; the generation moves when the active set does."""
        with self._tx() as conn:
            self._lock_generation(conn)
            entries = []
            for rid, version in refs:
                row = conn.execute(select(RS).where(RS.c.id == rid, RS.c.version == version)).first()
                if row is None:
                    raise NotFound(f"no rule set {rid} v{version}")
                entries.append(_entry(row))
            targets = {(e.id, e.version): to(e) for e in entries}
            rows = conn.execute(select(RS.c.id, RS.c.version, RS.c.document, RS.c.state)).all()
            would_be = [(f"{r.id} v{r.version}", json.loads(r.document)) for r in rows
                        if targets.get((r.id, r.version), RuleSetState(r.state)) is RuleSetState.ACTIVE]
            check_active(would_be)
            for e in entries:
                new = targets[(e.id, e.version)]
                values: dict[str, Any] = {"state": new.value}
                if new is RuleSetState.ACTIVE:
                    values |= {"approved_by": by, "approved_at": at}
                else:
                    values |= {"retired_by": by, "retired_at": at}
                done = conn.execute(update(RS).where(RS.c.id == e.id, RS.c.version == e.version,
                                                     RS.c.state == e.state.value).values(**values))
                if done.rowcount != 1:   # (the generation lock makes this unreachable; a guard, not a path)
                    raise Conflict(f"{e.label} changed while this request ran; try again")
                self.audit(conn, actor=by, action=f"rules.{new.value}", subject=e.ref[:80],
                           detail={"payer": e.payer, "scheme": e.scheme, "from": e.state.value, "digest": e.digest})
            if any(e.state is RuleSetState.ACTIVE or targets[(e.id, e.version)] is RuleSetState.ACTIVE
                   for e in entries):
                self._next_generation(conn)
            return [self._entry_in(conn, e.id, e.version) for e in entries]

    def _entry_in(self, conn: Connection, rid: str, version: int) -> RuleSetEntry:
        return _entry(conn.execute(select(RS).where(RS.c.id == rid, RS.c.version == version)).one())

    def _lock_generation(self, conn: Connection) -> int:
        """The generation row, locked for this transaction (made at 0 on first use)."""
        q = select(M.c.value).where(M.c.key == RULES_GENERATION)
        if self.dialect == "postgresql":
            q = q.with_for_update()
        value = conn.execute(q).scalar_one_or_none()
        if value is None:
            conn.execute(self._insert(M).values(key=RULES_GENERATION, value="0").on_conflict_do_nothing())
            value = conn.execute(q).scalar_one()
        return int(value)

    def _next_generation(self, conn: Connection) -> None:
        self.set_meta(RULES_GENERATION, str(self._lock_generation(conn) + 1), conn)


def _entry(row: Any) -> RuleSetEntry:
    return RuleSetEntry(
        id=row.id, version=row.version, payer=row.payer, scheme=row.scheme,
        effective_from=date.fromisoformat(row.effective_from),
        effective_to=date.fromisoformat(row.effective_to) if row.effective_to else None,
        state=RuleSetState(row.state), digest=row.digest, source=row.source,
        imported_by=row.imported_by, imported_at=_aware(row.imported_at),  # type: ignore[arg-type]
        approved_by=row.approved_by, approved_at=_aware(row.approved_at),
        retired_by=row.retired_by, retired_at=_aware(row.retired_at))
