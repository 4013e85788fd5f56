"""Payers, the persons insured with them, and delegations (who may claim for whom), in SQL."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError

from ledger.adapters.sql.claims.rows import PE, ClaimTables, D, P
from ledger.adapters.sql.store import _aware, utcnow
from ledger.claims.languages import Language
from ledger.claims.model import PayerRecord, PersonRecord
from ledger.errors import Conflict, NotFound

#: persons written per statement when enrolling many
_ENROL_CHUNK = 1000


class Members(ClaimTables):
    """Payers, enrolment and delegations."""

    # ------------------------------------------------------------------ payers

    def add_payer(self, p: PayerRecord, *, actor: str) -> None:
        """Record a new payer and its sealed chain key; :class:`Conflict` if it exists."""
        try:
            with self.store._tx() as conn:
                if conn.execute(select(P.c.payer_id).where(P.c.payer_id == p.payer_id)).first():
                    raise Conflict(f"payer {p.payer_id} is already registered")
                conn.execute(P.insert().values(payer_id=p.payer_id, name=p.name, account=p.account,
                                               keystore=p.sealed_key, created_at=p.created_at, registered_block=None))
                self.store.audit(conn, actor=actor, action="payer.register", subject=p.payer_id,
                                 detail={"name": p.name, "account": p.account})
        except IntegrityError as exc:   # (PostgreSQL: another process registered it at the same moment)
            raise Conflict(f"payer {p.payer_id} is already registered") from exc

    def payer(self, payer_id: str) -> PayerRecord:
        """The payer; :class:`NotFound` if this store has none of that id."""
        with self.store._read() as conn:
            row = conn.execute(select(P).where(P.c.payer_id == payer_id)).first()
        if row is None:
            raise NotFound(f"no payer {payer_id!r} is registered in this store (`ebill payer register`)")
        return _payer(row)

    def payers(self) -> list[PayerRecord]:
        """Every payer, by id."""
        with self.store._read() as conn:
            return [_payer(r) for r in conn.execute(select(P).order_by(P.c.payer_id))]

    def set_payer_registered(self, payer_id: str, block: int | None) -> None:
        """Record the block the payer's registration on chain is in (None: not on chain)."""
        with self.store._tx() as conn:
            conn.execute(update(P).where(P.c.payer_id == payer_id).values(registered_block=block))

    # ------------------------------------------------------------------ persons and delegations

    def enrol(self, persons: Sequence[PersonRecord], *, actor: str) -> int:
        """Add or update enrolments; returns how many rows were written."""
        now = utcnow()
        with self.store._tx() as conn:
            for start in range(0, len(persons), _ENROL_CHUNK):
                rows = [{"pseudonym": p.pseudonym, "name": p.name, "category": p.category, "enrolled_at": now,
                         "insured_region": p.insured_region, "offsite_registered": p.offsite_registered,
                         "language": p.language.value if p.language else None}
                        for p in persons[start:start + _ENROL_CHUNK]]
                stmt = self.store._insert(PE).values(rows)
                # enrolling again replaces the payer's record of the person (region and registration too);
                # a language left out keeps the one recorded (the person may have chosen it in the app)
                conn.execute(stmt.on_conflict_do_update(
                    index_elements=["pseudonym"],
                    set_={"name": stmt.excluded.name, "category": stmt.excluded.category,
                          "insured_region": stmt.excluded.insured_region,
                          "offsite_registered": stmt.excluded.offsite_registered,
                          "language": func.coalesce(stmt.excluded.language, PE.c.language)}))
            self.store.audit(conn, actor=actor, action="person.enrol", subject=f"{len(persons)} persons",
                             detail={"count": len(persons)})
        return len(persons)

    def person(self, pseudonym: bytes) -> PersonRecord | None:
        """The person enrolled under ``pseudonym``, or None."""
        with self.store._read() as conn:
            row = conn.execute(select(PE).where(PE.c.pseudonym == pseudonym)).first()
        return _person(row) if row else None

    def persons_of(self, pseudonyms: Sequence[bytes]) -> dict[bytes, PersonRecord]:
        """The enrolled ones of ``pseudonyms``, by pseudonym (one query)."""
        wanted = sorted({bytes(p) for p in pseudonyms})
        if not wanted:
            return {}
        with self.store._read() as conn:
            return {bytes(r.pseudonym): _person(r) for r in conn.execute(select(PE).where(PE.c.pseudonym.in_(wanted)))}

    def delegate(self, *, holder: bytes, person: bytes, relation: str, actor: str) -> None:
        """Record (or renew) that ``holder`` may act for ``person``."""
        now = utcnow()
        with self.store._tx() as conn:
            stmt = self.store._insert(D).values(holder=holder, person=person, relation=relation, created_at=now,
                                                created_by=actor, revoked_at=None)
            conn.execute(stmt.on_conflict_do_update(
                index_elements=["holder", "person"],
                set_={"relation": relation, "created_at": now, "created_by": actor, "revoked_at": None}))
            self.store.audit(conn, actor=actor, action="delegation.grant", subject="0x" + person.hex()[:16],
                             detail={"holder": "0x" + holder.hex(), "person": "0x" + person.hex(),
                                     "relation": relation})

    def delegations_of(self, holder: bytes) -> list[tuple[PersonRecord, str]]:
        """The persons ``holder`` may act for, with the relation."""
        with self.store._read() as conn:
            rows = conn.execute(select(PE, D.c.relation).join(D, D.c.person == PE.c.pseudonym)
                                .where(D.c.holder == holder, D.c.revoked_at.is_(None)).order_by(PE.c.name)).all()
        return [(_person(r), r.relation) for r in rows]

    def relation(self, holder: bytes, person: bytes) -> str | None:
        """How ``holder`` may act for ``person`` (a recorded, unrevoked delegation), or None."""
        with self.store._read() as conn:
            found: str | None = conn.execute(select(D.c.relation).where(
                D.c.holder == holder, D.c.person == person, D.c.revoked_at.is_(None))).scalar_one_or_none()
        return found


def _person(row: Any) -> PersonRecord:
    language = row.language if row.language in {lang.value for lang in Language} else None
    return PersonRecord(bytes(row.pseudonym), row.name, row.category, row.insured_region,
                        bool(row.offsite_registered), Language(language) if language else None)


def _payer(row: Any) -> PayerRecord:
    created = _aware(row.created_at)
    assert created is not None   # a NOT NULL column
    return PayerRecord(row.payer_id, row.name, row.account, row.keystore, created, row.registered_block)
