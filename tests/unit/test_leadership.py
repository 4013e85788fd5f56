"""The lease rules (ledger/leadership.py) and a worker's side of its lease (ledger/app/leader.py), table-driven."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta

import pytest

from ledger.app.leader import Leader
from ledger.errors import FencedOut
from ledger.leadership import (
    MIGRATION_LOCK,
    Grant,
    LeaseRow,
    admits,
    advisory_grant,
    grant,
    lock_key,
    stamper_lease,
)

NOW = datetime(2026, 12, 10, 9, 0, tzinfo=UTC)
LATER = NOW + timedelta(seconds=30)
EARLIER = NOW - timedelta(seconds=1)


@pytest.mark.parametrize(("row", "holder", "dead", "expected"), [
    # nobody ever held it: the first holder has epoch 1
    (None, "a", False, Grant(1, True)),
    # its holder renews: same token, no takeover
    (LeaseRow("a", 7, LATER), "a", False, Grant(7, False)),
    (LeaseRow("a", 7, EARLIER), "a", False, Grant(7, False)),     # renewing late, nobody took it meanwhile
    # another's lease runs: refused
    (LeaseRow("b", 7, LATER), "a", False, None),
    # another's lease expired, or its holder is dead, or it was released: taken over with the next epoch
    (LeaseRow("b", 7, EARLIER), "a", False, Grant(8, True)),
    (LeaseRow("b", 7, NOW), "a", False, Grant(8, True)),         # expiring now counts as expired
    (LeaseRow("b", 7, LATER), "a", True, Grant(8, True)),
    (LeaseRow("", 7, LATER), "a", False, Grant(8, True)),        # released (the row keeps its epoch)
    (LeaseRow("b", 0, EARLIER), "a", False, Grant(1, True)),     # a row from before migration 0019
])
def test_grant(row: LeaseRow | None, holder: str, dead: bool, expected: Grant | None) -> None:
    assert grant(row, holder=holder, now=NOW, holder_dead=dead) == expected


@pytest.mark.parametrize(("row", "epoch"), [
    (None, 1),
    (LeaseRow("", 0, None), 1),
    (LeaseRow("b", 4, LATER), 5),       # a holder whose session ended: its row still says it holds
    (LeaseRow("a", 4, LATER), 5),       # this process again, on a new session: a new token all the same
])
def test_advisory_grant_always_takes_over(row: LeaseRow | None, epoch: int) -> None:
    assert advisory_grant(row) == Grant(epoch, True)


@pytest.mark.parametrize(("current", "token", "admitted"), [
    (3, 3, True),
    (4, 3, False),      # taken over since
    (2, 3, False),      # (cannot happen: epochs only grow) refused all the same
    (None, 3, False),   # no row
    (3, None, False),   # not leading
    (None, None, False),
])
def test_admits(current: int | None, token: int | None, admitted: bool) -> None:
    assert admits(current, token) is admitted


@pytest.mark.parametrize(("name", "key"), [
    # pinned: two versions of the service must lock the same key for a name (rolling upgrades)
    ("chain-worker", -2777625559533547911),
    ("notifications", -7143050947116078749),
    ("claims-stamper:330600-ybj", -7223597116509645139),
    ("schema-migrations", -4825164547087730799),
])
def test_lock_keys_are_pinned(name: str, key: int) -> None:
    assert lock_key(name) == key
    assert -(2 ** 63) <= key < 2 ** 63


def test_named_keys() -> None:
    assert lock_key("schema-migrations") == MIGRATION_LOCK
    assert stamper_lease("330600-ybj") == "claims-stamper:330600-ybj"
    assert len(stamper_lease("p" * 32)) <= 64   # (the lease name column's length, migration 0019)


class FakeLeadership:
    """Answers ``lead()`` from a script; records step-downs and releases."""

    name = "chain-worker"

    def __init__(self, answers: list[int | None]) -> None:
        self.answers = answers
        self.calls: list[str] = []
        self.current: int | None = None

    def lead(self) -> int | None:
        return self.answers.pop(0)

    @contextmanager
    def fenced(self) -> Iterator[None]:
        self.calls.append("fenced")
        yield

    def check(self) -> None:
        if self.current is not None:
            raise FencedOut(self.name, 1, self.current)

    def step_down(self) -> None:
        self.calls.append("step_down")

    def release(self) -> None:
        self.calls.append("release")


@pytest.mark.parametrize(("answers", "leading", "logged"), [
    ([None, None], [False, False], []),
    ([1, 1, 1], [True, True, True], ["INFO leading lease chain-worker (fencing token 1)"]),
    ([None, 2, None], [False, True, False],
     ["INFO leading lease chain-worker (fencing token 2)", "WARNING no longer leading lease chain-worker (token 2)"]),
    ([1, 3], [True, True],          # lost and retaken between two rounds: a new token, said so
     ["INFO leading lease chain-worker (fencing token 1)", "INFO leading lease chain-worker (fencing token 3)"]),
])
def test_leader_logs_each_change(answers: list[int | None], leading: list[bool], logged: list[str],
                                 caplog: pytest.LogCaptureFixture) -> None:
    leader = Leader(FakeLeadership(answers), what="chain worker", log=logging.getLogger("test.leader"))
    with caplog.at_level(logging.INFO, logger="test.leader"):
        assert [leader.leading() for _ in leading] == leading
    assert [f"{r.levelname} {r.getMessage().removeprefix('chain worker: ')}".split(": following")[0]
            for r in caplog.records] == logged


def test_fenced_out_steps_down_and_says_so(caplog: pytest.LogCaptureFixture) -> None:
    fake = FakeLeadership([5, None])
    leader = Leader(fake, what="claims stamper", log=logging.getLogger("test.leader"))
    assert leader.leading() and leader.epoch == 5
    fake.current = 6
    with pytest.raises(FencedOut) as caught:
        leader.check()
    with caplog.at_level(logging.ERROR, logger="test.leader"):
        leader.fenced_out(caught.value)
    assert leader.epoch is None and leader.fenced_outs == 1 and fake.calls == ["step_down"]
    (record,) = caplog.records
    assert "fenced out of lease chain-worker" in record.getMessage()
    assert "fencing token 1 is stale (epoch 6)" in record.getMessage()
    assert "stops acting" in record.getMessage()
    assert not leader.leading()
