"""Hospitals' signing keys over time in the store (``hospital_keys``; :mod:`ledger.hospital_keys`).

Each change is one transaction with its audit entry. Binding a pending key makes it the
hospital's current key in the same transaction that retires (or marks for revocation) the
one it replaces and points ``hospitals.account``/``keystore`` at it, and moves a generation
number the chain worker and the API workers watch (:data:`KEYS_GENERATION`), so every
process signs with the new key from its next request or tick on.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, insert, or_, select, update
from sqlalchemy.exc import IntegrityError

from ledger.adapters.sql import schema as s
from ledger.adapters.sql.base import H, M, StoreBase, _aware, utcnow
from ledger.errors import Conflict, NotFound
from ledger.hospital_keys import (
    HospitalKey,
    KeyState,
    RevocationReason,
    check_move,
    current_key,
    pending_key,
    revocation_refusal,
)

K = s.HospitalKeyRow.__table__  # type: ignore[attr-defined]
#: meta key: moves whenever a hospital's current key changes
KEYS_GENERATION = "hospital_keys.generation"


class HospitalKeys(StoreBase):
    """Rotation and revocation of hospitals' keys."""

    def hospital_keys(self, institution_id: str) -> list[HospitalKey]:
        """Every key of the hospital, oldest first; :class:`NotFound` for an unknown hospital."""
        with self._read() as conn:
            return self._keys_of(conn, institution_id)

    def keys_to_settle(self, *, limit: int = 200) -> list[HospitalKey]:
        """Keys the chain must still see to: pending ones to bind, revoking ones to revoke, and
        current ones whose time of binding the store has not read yet."""
        q = select(K).where(or_(K.c.state.in_([KeyState.PENDING.value, KeyState.REVOKING.value]),
                                (K.c.state == KeyState.CURRENT.value) & K.c.added_at.is_(None)))
        with self._read() as conn:
            return [_key(r) for r in conn.execute(q.order_by(K.c.created_at).limit(limit))]

    def keys_generation(self) -> int:
        """A number that moves whenever a hospital's current key changes."""
        return int(self.get_meta(KEYS_GENERATION) or 0)

    def add_pending_key(self, institution_id: str, account: str, keystore: str, *,
                        revoke_previous: RevocationReason | None, actor: str) -> tuple[HospitalKey, bool]:
        """Record a hospital's next key (made by the caller); (the pending key, whether it is this one).

        A rotation already under way (a pending key) is returned instead, and nothing is stored:
        the caller's new key is then discarded, never used.
        """
        try:
            with self._tx() as conn:
                keys = self._keys_of(conn, institution_id)
                waiting = pending_key(keys)
                if waiting is not None:
                    return waiting, False
                if current_key(keys) is None:
                    raise Conflict(f"{institution_id} holds no signing key in this service (its keys are held by the "
                                   "service it is mirrored from): rotate it there")
                conn.execute(insert(K).values(
                    account=account, institution_id=institution_id, keystore=keystore, state=KeyState.PENDING.value,
                    created_at=utcnow(), revoke_previous=revoke_previous.value if revoke_previous else None))
                self.audit(conn, actor=actor, action="hospital.key.rotate", subject=institution_id,
                           detail={"account": account, "revokePrevious": revoke_previous.value
                                   if revoke_previous else None})
                return _key(conn.execute(select(K).where(K.c.account == account)).one()), True
        except IntegrityError:   # another rotation of this hospital committed first
            with self._read() as conn:
                waiting = pending_key(self._keys_of(conn, institution_id))
            if waiting is None:
                raise
            return waiting, False

    def bind_key(self, account: str, *, added_at: int, actor: str) -> HospitalKey:
        """The chain bound the pending key ``account`` at ``added_at``: make it the hospital's current
        key, and retire the one it replaces (or mark it for revocation, if the rotation asked so).
        A repeat (already current) changes nothing."""
        now = utcnow()
        with self._tx() as conn:
            key = self._key(conn, account)
            if key.state is KeyState.CURRENT:
                return key
            check_move(key, KeyState.CURRENT)
            old = current_key(self._keys_of(conn, key.institution_id))
            if old is not None:
                if key.revoke_previous is not None:
                    conn.execute(update(K).where(K.c.account == old.account).values(
                        state=KeyState.REVOKING.value, retired_at=now, revoke_reason=key.revoke_previous.value,
                        revoke_requested_at=now))
                else:
                    conn.execute(update(K).where(K.c.account == old.account).values(
                        state=KeyState.RETIRED.value, retired_at=now))
            conn.execute(update(K).where(K.c.account == account).values(state=KeyState.CURRENT.value,
                                                                           added_at=added_at))
            keystore = conn.execute(select(K.c.keystore).where(K.c.account == account)).scalar_one()
            conn.execute(update(H).where(H.c.institution_id == key.institution_id).values(account=account,
                                                                                          keystore=keystore))
            self._bump_generation(conn)
            self.audit(conn, actor=actor, action="hospital.key.bound", subject=key.institution_id,
                       detail={"account": account, "addedAt": added_at,
                               "replaced": old.account if old else None,
                               "revokeReplaced": key.revoke_previous.value if key.revoke_previous else None})
            return self._key(conn, account)

    def note_added_at(self, account: str, added_at: int) -> None:
        """Record when the chain bound a current key (keys recorded before the store kept it)."""
        with self._tx() as conn:
            conn.execute(update(K).where(K.c.account == account, K.c.added_at.is_(None)).values(added_at=added_at))

    def request_key_revocation(self, institution_id: str, account: str, *, reason: RevocationReason,
                               actor: str) -> tuple[HospitalKey, bool]:
        """Ask for the hospital's key ``account`` to be revoked on chain; (the key, whether this asked).
        A key already revoking or revoked is returned as it is (a repeat)."""
        with self._tx() as conn:
            key = revocation_refusal(self._keys_of(conn, institution_id), institution_id, account)
            if key.state in (KeyState.REVOKING, KeyState.REVOKED):
                return key, False
            check_move(key, KeyState.REVOKING)
            conn.execute(update(K).where(K.c.account == key.account).values(
                state=KeyState.REVOKING.value, revoke_reason=reason.value, revoke_requested_at=utcnow()))
            self.audit(conn, actor=actor, action="hospital.key.revoke", subject=institution_id,
                       detail={"account": key.account, "reason": reason.value})
            return self._key(conn, key.account), True

    def mark_key_revoked(self, account: str, *, revoked_at: int, block: int | None, actor: str) -> HospitalKey:
        """The chain revoked ``account`` at ``revoked_at`` (unix seconds); a repeat changes nothing."""
        with self._tx() as conn:
            key = self._key(conn, account)
            if key.state is KeyState.REVOKED:
                return key
            check_move(key, KeyState.REVOKED)
            conn.execute(update(K).where(K.c.account == account).values(
                state=KeyState.REVOKED.value, revoked_at=revoked_at, revoked_block=block))
            self.audit(conn, actor=actor, action="hospital.key.revoked", subject=key.institution_id,
                       detail={"account": account, "revokedAt": revoked_at, "block": block,
                               "reason": key.revoke_reason.value if key.revoke_reason else None})
            return self._key(conn, account)

    # ------------------------------------------------------------------ helpers

    def _keys_of(self, conn: Connection, institution_id: str) -> list[HospitalKey]:
        if conn.execute(select(H.c.institution_id).where(H.c.institution_id == institution_id)).first() is None:
            raise NotFound(f"no hospital {institution_id} is registered here")
        return [_key(r) for r in conn.execute(select(K).where(K.c.institution_id == institution_id)
                                              .order_by(K.c.created_at, K.c.account))]

    def _key(self, conn: Connection, account: str) -> HospitalKey:
        row = conn.execute(select(K).where(K.c.account == account)).first()
        if row is None:
            raise NotFound(f"no hospital key {account} is recorded here")
        return _key(row)

    def _bump_generation(self, conn: Connection) -> None:
        current = conn.execute(select(M.c.value).where(M.c.key == KEYS_GENERATION)).scalar_one_or_none()
        self.set_meta(KEYS_GENERATION, str(int(current or 0) + 1), conn)


def add_current_key(conn: Connection, *, institution_id: str, account: str, keystore: str) -> None:
    """A new hospital's first key, as current (in the registering transaction)."""
    conn.execute(insert(K).values(account=account, institution_id=institution_id, keystore=keystore,
                                  state=KeyState.CURRENT.value, created_at=utcnow()))


def _key(row: Any) -> HospitalKey:
    return HospitalKey(
        institution_id=row.institution_id, account=row.account, state=KeyState(row.state),
        created_at=_aware(row.created_at),  # type: ignore[arg-type]
        added_at=row.added_at, retired_at=_aware(row.retired_at),
        revoke_previous=RevocationReason(row.revoke_previous) if row.revoke_previous else None,
        revoke_reason=RevocationReason(row.revoke_reason) if row.revoke_reason else None,
        revoke_requested_at=_aware(row.revoke_requested_at), revoked_at=row.revoked_at,
        revoked_block=row.revoked_block)
