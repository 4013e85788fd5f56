"""Leader election and fencing on a real database (ledger/adapters/sql/leadership.py).

PostgreSQL: two stores on separate engines stand for two worker processes. While the first holds
the advisory lock the second cannot lead; once the first's session is gone (terminated by the
server, as for a dead or cut-off host) the second leads with the next epoch, and the first's
fenced writes are refused although it still believes it leads. A takeover waits for the writes
the old leader has in flight. SQLite: the same with the time-limited lease.
"""

from __future__ import annotations

import threading
import time
from datetime import timedelta

import pytest
from sqlalchemy import text

from ledger.adapters.sql.engine import upgrade
from ledger.adapters.sql.leadership import AdvisoryLeadership, TtlLeadership
from ledger.adapters.sql.store import SqlStore
from ledger.errors import FencedOut

TTL = timedelta(seconds=60)


def _epoch(store: SqlStore, name: str) -> int | None:
    row = store.lease_row(name)
    return row.epoch if row is not None else None


@pytest.mark.postgres
def test_second_cannot_lead_while_first_holds_the_lock(fresh_postgres_url: str) -> None:
    upgrade(fresh_postgres_url)
    a_store, b_store = SqlStore.open(fresh_postgres_url), SqlStore.open(fresh_postgres_url)
    a, b = a_store.leadership("chain-worker", "host-a:1", ttl=TTL), b_store.leadership("chain-worker", "host-b:2",
                                                                                       ttl=TTL)
    try:
        assert isinstance(a, AdvisoryLeadership) and isinstance(b, AdvisoryLeadership)
        assert a.lead() == 1
        for _ in range(3):
            assert b.lead() is None
        with a.fenced():
            a_store.set_meta("probe", "a")            # the leader's fenced write commits
        a.check()
        # other leases are independent
        assert b_store.leadership("notifications", "host-b:2", ttl=TTL).lead() == 1
        # a clean release: the follower takes over at its next try, with the next epoch
        a.release()
        assert b.lead() == 2
        assert b_store.lease_row("chain-worker").holder == "host-b:2"  # type: ignore[union-attr]
    finally:
        a.release(), b.release()
        a_store.close(), b_store.close()


@pytest.mark.postgres
def test_stale_leader_is_fenced_out_after_takeover(fresh_postgres_url: str) -> None:
    upgrade(fresh_postgres_url)
    a_store, b_store = SqlStore.open(fresh_postgres_url), SqlStore.open(fresh_postgres_url)
    a = a_store.leadership("claims-stamper:p1", "host-a:1", ttl=TTL)
    b = b_store.leadership("claims-stamper:p1", "host-b:2", ttl=TTL)
    try:
        assert isinstance(a, AdvisoryLeadership)
        assert a.lead() == 1 and b.lead() is None
        # the server ends the leader's lock session (a host cut off, a kill): the leader does not know yet
        assert a._conn is not None
        pid = a._conn.execute(text("SELECT pg_backend_pid()")).scalar_one()
        a._conn.commit()
        with b_store.engine.connect() as admin:
            assert admin.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid}).scalar_one()
        started = time.monotonic()
        while b.lead() is None:
            assert time.monotonic() - started < 5, "the follower did not take over"
            time.sleep(0.05)
        assert b.epoch == 2 == _epoch(b_store, "claims-stamper:p1")
        # the stale leader still holds token 1: its fenced writes and its check are refused
        assert a.epoch == 1
        with pytest.raises(FencedOut) as refused, a.fenced():
            a_store.set_meta("probe", "stale")
        assert (refused.value.token, refused.value.current) == (1, 2)
        assert a_store.get_meta("probe") is None            # nothing of the refused write was stored
        with pytest.raises(FencedOut):
            a.check()
        # the leader's own confirmation finds it out too
        a._confirm_at = 0.0
        assert a.lead() is None
        with b.fenced():
            b_store.set_meta("probe", "b")
        assert b_store.get_meta("probe") == "b"
        # unfenced writes (the API's) are not affected by anyone's lease
        a_store.set_meta("api", "x")
    finally:
        a.release(), b.release()
        a_store.close(), b_store.close()


@pytest.mark.postgres
def test_takeover_waits_for_the_old_leaders_write_in_flight(fresh_postgres_url: str) -> None:
    """The fence reads the lease row FOR SHARE: the new leader's epoch bump waits until the old
    leader's transaction ends, so that write is either before the takeover or refused."""
    upgrade(fresh_postgres_url)
    a_store, b_store = SqlStore.open(fresh_postgres_url), SqlStore.open(fresh_postgres_url)
    a, b = a_store.leadership("notifications", "a", ttl=TTL), b_store.leadership("notifications", "b", ttl=TTL)
    try:
        assert a.lead() == 1
        assert isinstance(a, AdvisoryLeadership)
        took: list[tuple[float, int | None]] = []
        assert a._conn is not None
        pid = a._conn.execute(text("SELECT pg_backend_pid()")).scalar_one()
        a._conn.commit()
        with a.fenced(), a_store._tx() as conn:             # the old leader's write, fenced, in flight
            conn.execute(text("INSERT INTO meta (key, value) VALUES ('in-flight', 'a')"))
            with b_store.engine.connect() as admin:         # its lock session ends; its transaction stays open
                assert admin.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid}).scalar_one()
            def take_over() -> None:
                epoch = b.lead()
                took.append((time.monotonic(), epoch))

            thread = threading.Thread(target=take_over)
            thread.start()
            time.sleep(1.0)
            assert not took, "the takeover did not wait for the old leader's transaction"
            committed = time.monotonic()
        thread.join(timeout=10)
        assert took and took[0][1] == 2 and took[0][0] >= committed
        assert b_store.get_meta("in-flight") == "a"
    finally:
        a.step_down(), b.release()
        a_store.close(), b_store.close()


def test_ttl_lease_on_sqlite_is_fenced_too(tmp_path: object) -> None:
    url = f"sqlite:///{tmp_path}/ebill.sqlite"
    upgrade(url)
    a_store, b_store = SqlStore.open(url), SqlStore.open(url)
    short = timedelta(seconds=0.3)
    a, b = a_store.leadership("chain-worker", "host-a:1", ttl=short), b_store.leadership("chain-worker", "host-b:2",
                                                                                         ttl=short)
    try:
        assert isinstance(a, TtlLeadership)
        assert a.lead() == 1 and b.lead() is None
        with a.fenced():
            a_store.set_meta("probe", "a")
        time.sleep(0.4)                                     # the leader paused past its lease
        assert b.lead() == 2
        with pytest.raises(FencedOut), a.fenced():
            a_store.set_meta("probe", "stale")
        assert a_store.get_meta("probe") == "a"
        b.release()
        assert _epoch(b_store, "chain-worker") == 2         # released: the row keeps its epoch
        assert a.lead() == 3
    finally:
        a_store.close(), b_store.close()
