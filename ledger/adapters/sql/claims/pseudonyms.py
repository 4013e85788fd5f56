"""Who is who across pepper versions (``person_pseudonyms``; :mod:`ledger.peppers`).

Every pseudonym of a person this store has seen, under each pepper version, points at the
pseudonym the person is *known by* here: the first one recorded, which keys their enrolment,
delegations, claims and year-to-date figures and never changes. :meth:`Pseudonyms.identify`
records a person's pseudonyms whenever their resident ID is shown (a citizen's e-voucher, a
clerk, an enrolment, a delegation); a rotation derives every known person's next one
(:meth:`~ledger.adapters.sql.peppers.PepperVersions.add_pepper_version`). A person's invoices
are those whose patient pseudonym is any of theirs (:func:`pseudonyms_of`).
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import ColumnElement, Connection, Table, or_, select

from ledger.adapters.sql import schema as s
from ledger.adapters.sql.claims.rows import ClaimTables
from ledger.adapters.sql.store import I

PP: Table = s.metadata.tables["person_pseudonyms"]
#: pseudonyms looked up per statement
_CHUNK = 500


def pseudonyms_of(person: bytes) -> ColumnElement[bool]:
    """A condition on ``invoices.patient``: any of ``person``'s pseudonyms (or the one they are known by)."""
    return or_(I.c.patient == person, I.c.patient.in_(select(PP.c.pseudonym).where(PP.c.person == person)))


def known_as(conn: Connection, pseudonyms: Sequence[bytes]) -> dict[bytes, bytes]:
    """The person each of ``pseudonyms`` is known to be here (those not recorded are left out)."""
    found: dict[bytes, bytes] = {}
    unique = list(dict.fromkeys(bytes(p) for p in pseudonyms))
    for start in range(0, len(unique), _CHUNK):
        rows = conn.execute(select(PP.c.pseudonym, PP.c.person).where(PP.c.pseudonym.in_(unique[start:start + _CHUNK])))
        found.update((bytes(r.pseudonym), bytes(r.person)) for r in rows)
    return found


class Pseudonyms(ClaimTables):
    """The pseudonyms of persons under every pepper version."""

    def identify(self, versions: Sequence[Sequence[bytes]]) -> list[bytes]:
        """For each person, given as their pseudonyms under every pepper version (version 1 first):
        the pseudonym they are known by here. A person seen before is found under any version; a
        new one is known by their newest. Their pseudonyms not yet recorded are recorded (one
        transaction; nothing is written when all are)."""
        flat = [bytes(p) for vs in versions for p in vs]
        with self.store._read() as conn:
            found = known_as(conn, flat)
        persons = [_person_of(vs, found) for vs in versions]
        missing = [(bytes(p), person, n) for vs, person in zip(versions, persons, strict=True)
                   for n, p in enumerate(vs, start=1) if bytes(p) not in found]
        if missing:
            with self.store._tx() as conn:
                # (another request may have recorded the same person meanwhile: theirs stands, and is read back)
                rows = [{"pseudonym": p, "person": person, "version": n} for p, person, n in missing]
                for start in range(0, len(rows), _CHUNK):
                    conn.execute(self.store._insert(PP).values(rows[start:start + _CHUNK])
                                 .on_conflict_do_nothing(index_elements=["pseudonym"]))
                found = known_as(conn, flat)
            persons = [_person_of(vs, found) for vs in versions]
        return persons

    def person_of(self, pseudonym: bytes) -> bytes:
        """The person ``pseudonym`` (of any pepper version) is known to be here; itself if not recorded."""
        with self.store._read() as conn:
            return known_as(conn, [pseudonym]).get(bytes(pseudonym), bytes(pseudonym))


def _person_of(versions: Sequence[bytes], found: dict[bytes, bytes]) -> bytes:
    """Who a person is here: the person any of their pseudonyms (oldest first) is recorded for, else
    their newest pseudonym."""
    for p in versions:
        person = found.get(bytes(p))
        if person is not None:
            return person
    return bytes(versions[-1])
