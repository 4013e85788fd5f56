"""Who acted, in the words the office gave each credential: an actor's label.

The audit trail and a claim's reviews name who acted as ``<role>:<subject>:<key id>`` (see
:attr:`ledger.app.access.Principal.actor`); the admin gave each staff credential a label
when creating it ("reviewer one", "window 1"). Readers of the trail see the label beside
the actor instead of a key id. Citizens' and the system's actors have no label.
"""

from __future__ import annotations

from collections.abc import Iterable

from ledger.ports import InvoiceStore
from ledger.records import Role

#: the roles whose actors name a credential
_STAFF = frozenset(r.value for r in Role if r is not Role.CITIZEN)


def key_id_of(actor: str) -> str | None:
    """The credential key id a staff actor names (``payer:330600-ybj:3f9a…``), else None."""
    parts = actor.split(":")
    if len(parts) == 3 and parts[0] in _STAFF and parts[2]:
        return parts[2]
    return None


def actor_labels(store: InvoiceStore, actors: Iterable[str]) -> dict[str, str]:
    """The label of each of ``actors`` whose credential has one (one read of the store)."""
    keys = {a: k for a in set(actors) if (k := key_id_of(a)) is not None}
    labels = store.credential_labels(sorted(set(keys.values())))
    return {a: labels[k] for a, k in keys.items() if k in labels}
