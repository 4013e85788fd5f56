"""Pepper versions in the store (``pepper_versions``; :mod:`ledger.peppers`).

Adding a version is one transaction: the version (its pepper sealed by the caller), the first
version's id if not recorded yet, every known person's pseudonym under the new version
(derived from theirs under the one before, in ``person_pseudonyms``), a generation number
every process watches, and the audit entry. So a rotation is all there or not at all, and no
person is known under one version but not the next.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import Connection, func, insert, select

from ledger.adapters.sql import schema as s
from ledger.adapters.sql.base import M, StoreBase, _aware, utcnow
from ledger.errors import Conflict, InvalidInput
from ledger.peppers import StoredPepper

PV = s.PepperVersion.__table__  # type: ignore[attr-defined]
PP = s.PersonPseudonym.__table__  # type: ignore[attr-defined]
#: meta key: moves whenever a pepper version is added
PEPPER_GENERATION = "pepper.generation"
#: persons whose next pseudonym is written per statement
_CHUNK = 1000


class PepperVersions(StoreBase):
    """The pepper versions after the first, and what a rotation writes."""

    def pepper_versions(self) -> list[StoredPepper]:
        """The recorded versions, oldest first (empty until the first rotation)."""
        with self._read() as conn:
            return [_stored(r) for r in conn.execute(select(PV).order_by(PV.c.version))]

    def pepper_generation(self) -> int:
        """A number that moves whenever a pepper version is added."""
        return int(self.get_meta(PEPPER_GENERATION) or 0)

    def persons_by_version(self) -> dict[int, int]:
        """How many persons this store knows a pseudonym of, per pepper version."""
        with self._read() as conn:
            return {int(v): int(n) for v, n in conn.execute(
                select(PP.c.version, func.count()).group_by(PP.c.version))}

    def add_pepper_version(self, *, version: int, pepper_id: str, sealed: str, first_id: str,
                           advance: Callable[[bytes], bytes], actor: str) -> int:
        """Record pepper ``version`` and every known person's pseudonym under it (``advance`` of theirs
        under ``version - 1``); how many persons. :class:`Conflict` if another version ``version``
        was added meanwhile or this pepper is a version already; :class:`InvalidInput` if
        ``first_id`` is not the recorded first version's (``EBILL_PEPPER`` changed)."""
        now = utcnow()
        with self._tx() as conn:
            have = {r.version: r.pepper_id for r in conn.execute(select(PV.c.version, PV.c.pepper_id))}
            if 1 not in have:
                conn.execute(insert(PV).values(version=1, pepper_id=first_id, sealed=None, created_at=now,
                                               created_by="EBILL_PEPPER"))
                have[1] = first_id
            elif have[1] != first_id:
                raise InvalidInput.single("EBILL_PEPPER", "pepper-version",
                                          f"EBILL_PEPPER (id {first_id}) is not the first pepper of this database "
                                          f"(id {have[1]}): set the pepper its pseudonyms were made with")
            if max(have) != version - 1:
                raise Conflict(f"pepper version {max(have)} is the newest already: version {version} cannot follow "
                               f"{version - 1} (another rotation ran meanwhile)")
            if pepper_id in have.values():
                known = next(v for v, i in have.items() if i == pepper_id)
                raise Conflict(f"this pepper (id {pepper_id}) is version {known} already")
            conn.execute(insert(PV).values(version=version, pepper_id=pepper_id, sealed=sealed, created_at=now,
                                           created_by=actor[:80]))
            persons = self._advance_persons(conn, version, advance)
            current = conn.execute(select(M.c.value).where(M.c.key == PEPPER_GENERATION)).scalar_one_or_none()
            self.set_meta(PEPPER_GENERATION, str(int(current or 0) + 1), conn)
            self.audit(conn, actor=actor, action="pepper.rotate", subject=f"pepper v{version}",
                       detail={"version": version, "pepperId": pepper_id, "persons": persons})
        return persons

    def _advance_persons(self, conn: Connection, version: int, advance: Callable[[bytes], bytes]) -> int:
        """Every person's pseudonym of ``version - 1`` carried to ``version``, a page at a time (a city's
        payer knows millions: they are never all in memory)."""
        done, after = 0, b""
        while True:
            page = conn.execute(select(PP.c.pseudonym, PP.c.person)
                                .where(PP.c.version == version - 1, PP.c.pseudonym > after)
                                .order_by(PP.c.pseudonym).limit(_CHUNK)).all()
            if not page:
                return done
            conn.execute(self._insert(PP).values([
                {"pseudonym": advance(bytes(r.pseudonym)), "person": bytes(r.person), "version": version}
                for r in page]).on_conflict_do_nothing(index_elements=["pseudonym"]))
            done += len(page)
            after = bytes(page[-1].pseudonym)


def _stored(row: Any) -> StoredPepper:
    return StoredPepper(int(row.version), row.pepper_id, row.sealed, _aware(row.created_at),  # type: ignore[arg-type]
                        row.created_by)
