"""Hospitals and API credentials in the store."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import insert, select, update

from ledger.adapters.sql.base import C, H, StoreBase, _aware, log, utcnow
from ledger.adapters.sql.hospital_keys import add_current_key
from ledger.errors import Conflict, NotFound
from ledger.records import (
    CredentialRecord,
    HospitalRecord,
    Role,
)


class Members(StoreBase):
    """Hospitals (keys sealed at rest) and credentials (secrets hashed)."""

    def add_hospital(self, h: HospitalRecord, *, actor: str) -> None:
        with self._tx() as conn:
            if conn.execute(select(H.c.institution_id).where(H.c.institution_id == h.institution_id)).first():
                raise Conflict(f"hospital {h.institution_id} is already registered")
            conn.execute(insert(H).values(
                institution_id=h.institution_id, name=h.name, region=h.region, account=h.account,
                keystore=h.sealed_key, created_at=h.created_at, registered_block=h.registered_block))
            if h.sealed_key:
                add_current_key(conn, institution_id=h.institution_id, account=h.account, keystore=h.sealed_key)
            self.audit(conn, actor=actor, action="hospital.register", subject=h.institution_id,
                       detail={"name": h.name, "region": h.region, "account": h.account})

    def hospital(self, institution_id: str) -> HospitalRecord:
        with self._read() as conn:
            row = conn.execute(select(H).where(H.c.institution_id == institution_id)).first()
        if row is None:
            raise NotFound(f"no hospital {institution_id} is registered here")
        return _hospital(row)

    def hospitals(self) -> list[HospitalRecord]:
        with self._read() as conn:
            return [_hospital(r) for r in conn.execute(select(H).order_by(H.c.institution_id))]

    def set_registered(self, institution_id: str, block: int | None) -> None:
        with self._tx() as conn:
            conn.execute(update(H).where(H.c.institution_id == institution_id).values(registered_block=block))

    def add_credential(self, cred: CredentialRecord, *, label: str, actor: str) -> None:
        with self._tx() as conn:
            conn.execute(insert(C).values(key_id=cred.key_id, role=cred.role.value, subject=cred.subject,
                                          secret_sha256=cred.secret_sha256, label=label, created_at=utcnow()))
            self.audit(conn, actor=actor, action="credential.create", subject=cred.subject,
                       detail={"keyId": cred.key_id, "role": cred.role.value, "label": label})

    def credential(self, key_id: str) -> CredentialRecord | None:
        with self._read() as conn:
            row = conn.execute(select(C).where(C.c.key_id == key_id)).first()
        if row is None:
            return None
        try:
            role = Role(row.role)
        except ValueError:
            # a role this version does not know (a newer release wrote it, or the row was edited):
            # such a credential can do nothing, so it authenticates as nobody
            log.warning("credential %s has an unknown role %r: refused", row.key_id, row.role)
            return None
        return CredentialRecord(row.key_id, role, row.subject, bytes(row.secret_sha256), row.revoked_at is not None)

    def credential_labels(self, key_ids: Sequence[str]) -> dict[str, str]:
        """The labels given to the credentials ``key_ids`` (those with one), by key id (one query)."""
        wanted = sorted(set(key_ids))
        if not wanted:
            return {}
        with self._read() as conn:
            return {r.key_id: r.label for r in conn.execute(select(C.c.key_id, C.c.label).where(C.c.key_id.in_(wanted)))
                    if r.label}

    def revoke_credential(self, key_id: str, *, actor: str) -> None:
        with self._tx() as conn:
            done = conn.execute(update(C).where(C.c.key_id == key_id, C.c.revoked_at.is_(None))
                                .values(revoked_at=utcnow())).rowcount
            if not done:
                raise NotFound(f"no active credential {key_id}")
            self.audit(conn, actor=actor, action="credential.revoke", subject=key_id, detail={})


def _hospital(row: Any) -> HospitalRecord:
    return HospitalRecord(row.institution_id, row.name, row.region, row.account, row.keystore,
                          _aware(row.created_at), row.registered_block)  # type: ignore[arg-type]
