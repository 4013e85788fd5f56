"""Readiness (/readyz) and the health figures from the chain worker's last status: every way it fails."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import pytest

from ledger.app.readiness import Readiness
from ledger.app.worker_status import META_KEY, WorkerStatus
from ledger.errors import StoreUnavailable
from ledger.records import BATCHES_SEALED, INVOICES_BATCHED, INVOICES_STORED, VOIDS_REQUESTED, OutboxFigures

NOW = datetime(2026, 12, 6, 12, 0, 0, tzinfo=UTC)
FIGURES = OutboxFigures(invoices=10, unbatched=2, batches_waiting=1, batches_anchored=3, voids_pending=0,
                        oldest_waiting=NOW - timedelta(seconds=7), batches_sealed=4, voids_requested=1)


class _Clock:
    def now(self) -> datetime:
        return NOW


class _Store:
    def __init__(self, *, revision: str | None = "0014", status: WorkerStatus | str | None = None,
                 down: bool = False) -> None:
        self.revision, self.down = revision, down
        self.arrived: dict[str, int] = {}
        self.rows = {"chain.id": "31337", "chain.contract": "0xC0", "indexer.block": "41"}
        if status is not None:
            self.rows[META_KEY] = status if isinstance(status, str) else status.to_json()

    def schema_revision(self) -> str | None:
        if self.down:
            raise StoreUnavailable("database unavailable: unable to open database file")
        return self.revision

    def metas(self, keys: Sequence[str]) -> dict[str, str]:
        if self.down:
            raise StoreUnavailable("database unavailable: unable to open database file")
        return {k: v for k, v in self.rows.items() if k in keys}

    def arrivals(self) -> dict[str, int]:
        return dict(self.arrived)


def _status(age: float = 1.0, *, ok: bool = True, error: str | None = None) -> WorkerStatus:
    return WorkerStatus(at=NOW - timedelta(seconds=age), chain_ok=ok, head=42, indexed=41, figures=FIGURES,
                        chain_error=error)


@pytest.mark.parametrize("store,ready,details", [
    (_Store(status=_status()), True,
     {"database": "answered", "migrations": "at 0014", "chain": "head 42, indexed to 41, reported 1.0 s ago"}),
    (_Store(down=True), False,
     {"database": "database unavailable: unable to open database file",
      "migrations": "not checked: the database did not answer", "chain": "not checked: the database did not answer"}),
    (_Store(revision="0013", status=_status()), False,
     {"database": "answered",
      "migrations": "the database is at migration 0013; this code needs 0014: run `ebill db upgrade`",
      "chain": "not checked: the schema is not current"}),
    (_Store(revision=None), False,
     {"database": "answered", "migrations": "the database has no schema; this code needs 0014: run `ebill db upgrade`",
      "chain": "not checked: the schema is not current"}),
    (_Store(), False,
     {"database": "answered", "migrations": "at 0014",
      "chain": "no chain worker has reported yet (is `ebill serve` running?)"}),
    (_Store(status=_status(age=31)), False,
     {"database": "answered", "migrations": "at 0014",
      "chain": "the chain worker last reported 31 s ago (more than 30 s): is it running?"}),
    (_Store(status=_status(age=3, ok=False, error="index: chain node unreachable")), False,
     {"database": "answered", "migrations": "at 0014",
      "chain": "the chain node did not answer the chain worker 3 s ago: index: chain node unreachable"}),
    (_Store(status="{not json"), False,
     {"database": "answered", "migrations": "at 0014",
      "chain": "no chain worker has reported yet (is `ebill serve` running?)"}),
])
def test_checks(store: _Store, ready: bool, details: dict[str, str]) -> None:
    got_ready, checks = Readiness(store, schema="0014", clock=_Clock()).check()
    assert got_ready is ready
    assert {c.name: c.detail for c in checks} == details
    assert [c.name for c in checks] == ["database", "migrations", "chain"]
    assert all(c.ok for c in checks) is ready


def test_health_shows_the_workers_figures_and_warns_only_of_a_worker_that_went_quiet() -> None:
    h = Readiness(_Store(status=_status()), schema="0014", clock=_Clock()).health()
    assert h.status is not None and h.status.figures == FIGURES and h.warnings == ()
    assert (h.chain_id, h.contract, h.indexed_block) == ("31337", "0xC0", "41")
    # uploads, a closed batch and a void request since the worker's report: seen at once
    store = _Store(status=_status())
    store.arrived = {INVOICES_STORED: 15, INVOICES_BATCHED: 12, BATCHES_SEALED: 5, VOIDS_REQUESTED: 2}
    fresh = Readiness(store, schema="0014", clock=_Clock()).health().status
    assert fresh is not None and fresh.figures is not None
    assert fresh.figures.to_json() == {"invoices": 15, "unbatched": 3, "batchesWaiting": 2, "batchesAnchored": 3,
                                       "voidsPending": 1}
    never = Readiness(_Store(), schema="0014", clock=_Clock()).health()
    assert never.status is None and never.warnings == ()       # (/readyz says no worker reported)
    quiet = Readiness(_Store(status=_status(age=120)), schema="0014", clock=_Clock()).health()
    assert quiet.warnings == ("the chain worker last reported 120 s ago (more than 30 s): is it running?",)


@pytest.mark.parametrize("figures", [FIGURES, None,
                                     OutboxFigures(0, 0, 0, 0, 0, None)])
def test_a_status_survives_its_round_trip(figures: OutboxFigures | None) -> None:
    s = WorkerStatus(at=NOW, chain_ok=False, head=None, indexed=None, figures=figures, chain_error="x")
    assert WorkerStatus.from_json(s.to_json()) == s


@pytest.mark.parametrize("text", ["", "[]", '{"at": "yesterday"}', '{"at": "2026-12-06T12:00:00+00:00"}'])
def test_text_that_is_not_a_status_is_refused(text: str) -> None:
    with pytest.raises(ValueError, match="not a chain worker status"):
        WorkerStatus.from_json(text)


@pytest.mark.parametrize("oldest,lag", [(None, 0.0), (NOW, 0.0), (NOW - timedelta(seconds=90), 90.0),
                                        (NOW + timedelta(seconds=5), 0.0)])
def test_anchoring_lag(oldest: datetime | None, lag: float) -> None:
    f = OutboxFigures(1, 1, 0, 0, 0, oldest)
    assert f.lag(NOW) == lag


@pytest.mark.parametrize("arrivals,expected", [
    ({}, (10, 2, 1, 0)),                                                   # (no counters: as read)
    ({INVOICES_STORED: 10, INVOICES_BATCHED: 8, BATCHES_SEALED: 4, VOIDS_REQUESTED: 1}, (10, 2, 1, 0)),
    ({INVOICES_STORED: 13, INVOICES_BATCHED: 8, BATCHES_SEALED: 4, VOIDS_REQUESTED: 1}, (13, 5, 1, 0)),   # uploads
    ({INVOICES_STORED: 13, INVOICES_BATCHED: 13, BATCHES_SEALED: 6, VOIDS_REQUESTED: 1}, (13, 0, 3, 0)),  # closed
    ({INVOICES_STORED: 10, INVOICES_BATCHED: 8, BATCHES_SEALED: 4, VOIDS_REQUESTED: 4}, (10, 2, 1, 3)),   # voids
])
def test_figures_take_in_what_arrived_since_they_were_read(arrivals: dict[str, int],
                                                          expected: tuple[int, int, int, int]) -> None:
    f = FIGURES.updated(arrivals)
    assert (f.invoices, f.unbatched, f.batches_waiting, f.voids_pending) == expected
    assert f.batches_anchored == FIGURES.batches_anchored and f.oldest_waiting == FIGURES.oldest_waiting
