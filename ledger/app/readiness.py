"""Is this instance ready to serve? The database answers, its schema is the one this code needs,
and the chain answered the chain worker lately.

``GET /readyz`` asks :meth:`Readiness.check` (two small reads: the schema's migration and the
chain worker's last :class:`~ledger.app.worker_status.WorkerStatus`, never the chain node
itself); ``GET /v1/health`` reads the same status through :meth:`Readiness.health` (one read).
A load balancer takes an instance that is not ready out of rotation; ``GET /livez`` (no I/O)
only says the process answers at all.

Checks, in order (a check after one that failed says it was not made):

1. ``database``: a read succeeds;
2. ``migrations``: the database is at the newest migration this code ships
   (``ebill db upgrade`` brings it there; ``ebill serve`` does at start);
3. ``chain``: the chain worker reported within ``stale_after`` seconds, and the node answered
   its last round.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any, Protocol

from ledger.app.worker_status import META_KEY, WorkerStatus
from ledger.errors import LedgerError
from ledger.ports import Clock

__all__ = ["Check", "Health", "Readiness", "StatusStore"]

#: the meta rows ``/v1/health`` shows
_CHAIN_KEYS = ("chain.id", "chain.contract", "indexer.block")


class StatusStore(Protocol):
    def schema_revision(self) -> str | None: ...
    def metas(self, keys: Sequence[str]) -> dict[str, str]: ...
    def arrivals(self) -> dict[str, int]: ...


@dataclass(frozen=True)
class Check:
    """One readiness check: its name, whether it passed, and in words what was found."""

    name: str
    ok: bool
    detail: str

    def to_json(self) -> dict[str, Any]:
        return {"ok": self.ok, "detail": self.detail}


@dataclass(frozen=True)
class Health:
    """What ``GET /v1/health`` shows of the store and the chain: the chain worker's last status
    (None: none yet) and the chain this store serves."""

    status: WorkerStatus | None
    chain_id: str | None
    contract: str | None
    indexed_block: str | None
    warnings: tuple[str, ...]


class Readiness:
    """The checks of ``/readyz`` and the figures of ``/v1/health``, over the store."""

    def __init__(self, store: StatusStore, *, schema: str, clock: Clock, stale_after: float = 30.0) -> None:
        self._store = store
        self._schema = schema
        self._clock = clock
        self._stale_after = stale_after

    def check(self) -> tuple[bool, list[Check]]:
        """Whether every check passed, and each check (see the module doc)."""
        try:
            revision = self._store.schema_revision()
        except LedgerError as exc:
            return False, [Check("database", False, str(exc)),
                           Check("migrations", False, "not checked: the database did not answer"),
                           Check("chain", False, "not checked: the database did not answer")]
        checks = [Check("database", True, "answered")]
        if revision != self._schema:
            found = f"is at migration {revision}" if revision else "has no schema"
            checks += [Check("migrations", False, f"the database {found}; this code needs {self._schema}: "
                                                  "run `ebill db upgrade`"),
                       Check("chain", False, "not checked: the schema is not current")]
            return False, checks
        checks.append(Check("migrations", True, f"at {revision}"))
        try:
            status = self._status(self._store.metas([META_KEY]))
        except LedgerError as exc:
            return False, [*checks, Check("chain", False, f"not checked: {exc}")]
        checks.append(self._chain_check(status))
        return all(c.ok for c in checks), checks

    def health(self) -> Health:
        """The chain worker's last status, with what arrived since (the arrival counters: its figures are
        never behind an acknowledged upload), and the chain this store serves, in two small reads;
        warnings an operator must act on (the worker stopped reporting, the chain not answering it; a
        store no worker ever reported on has no figures, and ``/readyz`` says so). Raises the store's
        errors."""
        rows = self._store.metas([META_KEY, *_CHAIN_KEYS])
        status = self._status(rows)
        if status is not None and status.figures is not None:
            status = replace(status, figures=status.figures.updated(self._store.arrivals()))
        chain = self._chain_check(status)
        warned = status is not None and not chain.ok
        return Health(status, rows.get("chain.id"), rows.get("chain.contract"), rows.get("indexer.block"),
                      (chain.detail,) if warned else ())

    def _chain_check(self, status: WorkerStatus | None) -> Check:
        if status is None:
            return Check("chain", False, "no chain worker has reported yet (is `ebill serve` running?)")
        age = status.age(self._clock.now())
        if age > self._stale_after:
            return Check("chain", False, f"the chain worker last reported {age:.0f} s ago (more than "
                                         f"{self._stale_after:g} s): is it running?")
        if not status.chain_ok:
            return Check("chain", False, f"the chain node did not answer the chain worker {age:.0f} s ago: "
                                         f"{status.chain_error or 'no detail'}")
        return Check("chain", True, f"head {status.head}, indexed to {status.indexed}, reported {age:.1f} s ago")

    @staticmethod
    def _status(rows: dict[str, str]) -> WorkerStatus | None:
        text = rows.get(META_KEY)
        if text is None:
            return None
        try:
            return WorkerStatus.from_json(text)
        except ValueError:
            return None
