"""ledger.adapters.bank: the simulated bank pays each request id once, even across processes."""

from __future__ import annotations

import multiprocessing
import random
import re
import sqlite3
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from ledger.adapters.bank import Payment, PayoutPort, SimulatedBank
from ledger.errors import BankUnavailable, Conflict, InvalidInput

PAYEE = "6222020200112233445"


@pytest.fixture
def bank(tmp_path: Path) -> SimulatedBank:
    return SimulatedBank(tmp_path / "bank.sqlite")


def test_pay_returns_the_payment(bank: SimulatedBank) -> None:
    before = datetime.now(UTC)
    payment = bank.pay(request_id="pay-clm_1", payee=PAYEE, amount_fen=48230, memo="claim clm_1")
    assert (payment.request_id, payment.amount_fen, payment.payee) == ("pay-clm_1", 48230, PAYEE)
    assert before <= payment.paid_at <= datetime.now(UTC) and payment.paid_at.tzinfo is not None
    assert re.fullmatch(r"SIMBANK-\d{8}-000001", payment.reference)
    china_date = (payment.paid_at + timedelta(hours=8)).strftime("%Y%m%d")
    assert payment.reference == f"SIMBANK-{china_date}-000001"
    assert bank.payment("pay-clm_1") == payment
    assert bank.payments() == [payment]


def test_references_count_up(bank: SimulatedBank) -> None:
    refs = [bank.pay(request_id=f"r{i}", payee=PAYEE, amount_fen=100, memo="").reference for i in range(3)]
    assert [r[-6:] for r in refs] == ["000001", "000002", "000003"]


def test_paying_the_same_request_id_again_returns_the_original(bank: SimulatedBank) -> None:
    first = bank.pay(request_id="pay-clm_1", payee=PAYEE, amount_fen=48230, memo="claim clm_1")
    again = bank.pay(request_id="pay-clm_1", payee=PAYEE, amount_fen=48230, memo="retry after a crash")
    assert again == first
    assert bank.payments() == [first] and bank.total_paid() == 48230


@pytest.mark.parametrize(("payee", "amount"), [(PAYEE, 48231), ("6222020200999999999", 48230)])
def test_same_request_id_with_another_amount_or_payee_conflicts(bank: SimulatedBank, payee: str,
                                                                  amount: int) -> None:
    first = bank.pay(request_id="pay-clm_1", payee=PAYEE, amount_fen=48230, memo="")
    with pytest.raises(Conflict) as info:
        bank.pay(request_id="pay-clm_1", payee=payee, amount_fen=amount, memo="")
    assert str(info.value) == (f"request 'pay-clm_1' was paid as 48230 fen to {PAYEE!r} ({first.reference}); "
                               f"this call asks for {amount} fen to {payee!r}")
    assert bank.payments() == [first]


def test_the_payment_survives_reopening(tmp_path: Path) -> None:
    first = SimulatedBank(tmp_path / "bank.sqlite").pay(request_id="r", payee=PAYEE, amount_fen=1, memo="")
    reopened = SimulatedBank(tmp_path / "bank.sqlite")
    assert reopened.payment("r") == first
    assert reopened.pay(request_id="r", payee=PAYEE, amount_fen=1, memo="") == first


def test_the_file_is_wal(tmp_path: Path) -> None:
    SimulatedBank(tmp_path / "bank.sqlite")
    with sqlite3.connect(tmp_path / "bank.sqlite") as db:
        assert db.execute("PRAGMA journal_mode").fetchone() == ("wal",)


@pytest.mark.parametrize(("kwargs", "field", "rule"), [
    ({"amount_fen": 0}, "amount_fen", "positive"),
    ({"amount_fen": -5}, "amount_fen", "positive"),
    ({"amount_fen": 1.5}, "amount_fen", "positive"),
    ({"amount_fen": True}, "amount_fen", "positive"),
    ({"request_id": ""}, "request_id", "length"),
    ({"request_id": "x" * 129}, "request_id", "length"),
    ({"payee": "  "}, "payee", "required"),
])
def test_invalid_requests_pay_nothing(bank: SimulatedBank, kwargs: dict[str, Any], field: str, rule: str) -> None:
    request: dict[str, Any] = {"request_id": "r", "payee": PAYEE, "amount_fen": 100, "memo": "", **kwargs}
    with pytest.raises(InvalidInput) as info:
        bank.pay(**request)
    assert [(p.field, p.rule) for p in info.value.problems] == [(field, rule)]
    assert bank.payments() == []


def test_lookups_of_unknown_request_ids(bank: SimulatedBank) -> None:
    assert bank.payment("never") is None
    assert bank.payments() == [] and bank.total_paid() == 0 and bank.total_paid(PAYEE) == 0


def test_total_paid_per_payee(bank: SimulatedBank) -> None:
    bank.pay(request_id="a", payee="p1", amount_fen=100, memo="")
    bank.pay(request_id="b", payee="p2", amount_fen=250, memo="")
    bank.pay(request_id="c", payee="p1", amount_fen=7, memo="")
    bank.pay(request_id="c", payee="p1", amount_fen=7, memo="")  # a replay pays nothing
    totals = (bank.total_paid(), bank.total_paid("p1"), bank.total_paid("p2"), bank.total_paid("p3"))
    assert totals == (357, 107, 250, 0)


def test_fail_every_fails_before_paying(tmp_path: Path) -> None:
    bank = SimulatedBank(tmp_path / "bank.sqlite", fail_every=3)
    outcomes: list[str] = []
    for i in range(7):
        try:
            outcomes.append(bank.pay(request_id=f"r{i}", payee=PAYEE, amount_fen=100, memo="").request_id)
        except BankUnavailable as exc:
            assert exc.kind == "unavailable"
            assert str(exc) == f"simulated bank outage on call {i + 1} (fail_every=3); nothing was paid"
            assert bank.payment(f"r{i}") is None
            outcomes.append("down")
    assert outcomes == ["r0", "r1", "down", "r3", "r4", "down", "r6"]
    assert bank.total_paid() == 500


def test_retrying_after_an_outage_pays_once(tmp_path: Path) -> None:
    bank = SimulatedBank(tmp_path / "bank.sqlite", fail_every=2)
    paid = bank.pay(request_id="r", payee=PAYEE, amount_fen=100, memo="")      # call 1
    with pytest.raises(BankUnavailable):
        bank.pay(request_id="r", payee=PAYEE, amount_fen=100, memo="")         # call 2: down
    assert bank.pay(request_id="r", payee=PAYEE, amount_fen=100, memo="") == paid
    assert bank.total_paid() == 100


def test_latency_delays_the_answer_not_the_payment(tmp_path: Path) -> None:
    bank = SimulatedBank(tmp_path / "bank.sqlite", latency=0.3)
    observer = SimulatedBank(tmp_path / "bank.sqlite")
    seen: list[Payment | None] = []
    timer = threading.Timer(0.15, lambda: seen.append(observer.payment("r")))
    timer.start()
    paid = bank.pay(request_id="r", payee=PAYEE, amount_fen=100, memo="")
    timer.join()
    assert seen == [paid]  # committed while the caller was still waiting for the answer


def test_simulated_bank_is_a_payout_port(bank: SimulatedBank) -> None:
    port: PayoutPort = bank
    assert port.payment("r") is None


def test_bad_arguments() -> None:
    with pytest.raises(ValueError, match="must be >= 0"):
        SimulatedBank(Path("unused"), latency=-1)


def test_an_unusable_database_is_unavailable(tmp_path: Path) -> None:
    with pytest.raises(BankUnavailable, match="unusable"):
        SimulatedBank(tmp_path / "no-such-dir" / "bank.sqlite")


def test_threads_paying_the_same_ids_pay_once(bank: SimulatedBank) -> None:
    results: list[Payment] = []
    errors: list[BaseException] = []
    lock = threading.Lock()

    def work() -> None:
        try:
            for i in random.sample(range(20), 20):
                p = bank.pay(request_id=f"r{i}", payee=PAYEE, amount_fen=100 + i, memo="")
                with lock:
                    results.append(p)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert len(bank.payments()) == 20
    assert {p.request_id: p for p in results} == {p.request_id: p for p in bank.payments()}
    assert bank.total_paid() == sum(100 + i for i in range(20))


REQUEST_IDS = 30


def _pay_all(path: str, seed: int, barrier: Any, out: Any) -> None:
    bank = SimulatedBank(Path(path))
    order = list(range(REQUEST_IDS))
    random.Random(seed).shuffle(order)
    barrier.wait()
    out.put([(i, bank.pay(request_id=f"r{i}", payee=PAYEE, amount_fen=100 + i, memo=f"from {seed}").reference)
             for i in order])


def test_processes_paying_the_same_ids_concurrently_pay_once(tmp_path: Path) -> None:
    ctx = multiprocessing.get_context("spawn")
    workers = 6
    barrier, out = ctx.Barrier(workers), ctx.Queue()
    procs = [ctx.Process(target=_pay_all, args=(str(tmp_path / "bank.sqlite"), seed, barrier, out))
             for seed in range(workers)]
    for p in procs:
        p.start()
    for p in procs:  # the answers are small: the children can exit before the queue is read
        p.join(timeout=120)
    assert [p.exitcode for p in procs] == [0] * workers
    answers = [out.get(timeout=5) for _ in procs]
    bank = SimulatedBank(tmp_path / "bank.sqlite")
    payments = bank.payments()
    assert sorted(p.request_id for p in payments) == sorted(f"r{i}" for i in range(REQUEST_IDS))
    assert bank.total_paid() == sum(100 + i for i in range(REQUEST_IDS))
    reference_of = {p.request_id: p.reference for p in payments}
    for answer in answers:  # every process was told the one reference of each request id
        assert {f"r{i}": ref for i, ref in answer} == reference_of
    assert len(set(reference_of.values())) == REQUEST_IDS
