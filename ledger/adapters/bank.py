"""A simulated bank that stands in for a real transfer API behind the payout port.

The claims stamper pays through :class:`ledger.ports.PayoutPort`. Its crash safety rests on one
property every real transfer API offers and :class:`SimulatedBank` reproduces: a
transfer is **idempotent by request id**. The service records the request id before
calling, so after a crash it simply calls again with the same id and gets the original
:class:`Payment` back; the money never moves twice. The same id with another amount
or payee is a bug on our side and raises :class:`~ledger.errors.Conflict`.

Errors::

    LedgerError
    ├── InvalidInput       amount not a positive integer of fen, empty request id or payee
    ├── Conflict           the request id was already paid with another amount or payee
    └── BankUnavailable    the bank did not answer (simulated outage, database unusable); nothing was paid
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

from ledger.errors import BankUnavailable, Conflict, FieldProblem, InvalidInput
from ledger.ports import Payment, PayoutPort
from ledger.workdays import CHINA_TZ

__all__ = ["MAX_REQUEST_ID", "Payment", "PayoutPort", "SimulatedBank"]   # the port's names, as before

MAX_REQUEST_ID = 128

_SCHEMA = """
CREATE TABLE IF NOT EXISTS payments (
    seq        INTEGER PRIMARY KEY,
    request_id TEXT    NOT NULL UNIQUE,
    reference  TEXT    NOT NULL UNIQUE,
    payee      TEXT    NOT NULL,
    amount_fen INTEGER NOT NULL CHECK (amount_fen > 0),
    memo       TEXT    NOT NULL,
    paid_at    TEXT    NOT NULL
)
"""
_COLUMNS = "request_id, reference, amount_fen, payee, paid_at"


class SimulatedBank:
    """A transfer API backed by its own SQLite file, idempotent by request id across processes.

    ``latency`` seconds pass after a transfer is committed and before :meth:`pay`
    returns: the window in which a crash leaves the bank having paid and the caller not
    knowing. ``fail_every=N`` makes every Nth call to :meth:`pay` on this instance raise
    :class:`BankUnavailable` before anything is paid. The memo is recorded but is not
    part of the idempotency check.
    """

    def __init__(self, path: Path, *, latency: float = 0.0, fail_every: int = 0) -> None:
        if latency < 0 or fail_every < 0:
            raise ValueError(f"latency and fail_every must be >= 0, got {latency}, {fail_every}")
        self.path = Path(path)
        self.latency = latency
        self.fail_every = fail_every
        self._calls = 0
        self._lock = threading.Lock()
        self._local = threading.local()
        with self._transaction() as db:
            db.execute(_SCHEMA)

    def pay(self, *, request_id: str, payee: str, amount_fen: int, memo: str) -> Payment:
        """Pay ``amount_fen`` (> 0) to ``payee`` unless ``request_id`` was paid already; see :class:`PayoutPort`."""
        self._count_call()
        _check_request(request_id=request_id, payee=payee, amount_fen=amount_fen, memo=memo)
        with self._transaction() as db:
            row = db.execute(f"SELECT {_COLUMNS} FROM payments WHERE request_id = ?", (request_id,)).fetchone()
            if row is not None:
                payment = _payment(row)
                if (payment.amount_fen, payment.payee) != (amount_fen, payee):
                    raise Conflict(f"request {request_id!r} was paid as {payment.amount_fen} fen to "
                                   f"{payment.payee!r} ({payment.reference}); this call asks for {amount_fen} fen "
                                   f"to {payee!r}")
            else:
                (seq,) = db.execute("SELECT COALESCE(MAX(seq), 0) + 1 FROM payments").fetchone()
                paid_at = datetime.now(UTC)
                reference = f"SIMBANK-{paid_at.astimezone(CHINA_TZ):%Y%m%d}-{seq:06d}"
                db.execute("INSERT INTO payments (seq, request_id, reference, payee, amount_fen, memo, paid_at) "
                           "VALUES (?, ?, ?, ?, ?, ?, ?)",
                           (seq, request_id, reference, payee, amount_fen, memo, paid_at.isoformat()))
                payment = Payment(request_id, reference, amount_fen, payee, paid_at)
        if self.latency:
            time.sleep(self.latency)
        return payment

    def payment(self, request_id: str) -> Payment | None:
        """The payment made for ``request_id``, or None."""
        with self._transaction(write=False) as db:
            row = db.execute(f"SELECT {_COLUMNS} FROM payments WHERE request_id = ?", (request_id,)).fetchone()
        return None if row is None else _payment(row)

    def payments(self) -> list[Payment]:
        """Every payment, in the order the bank made them."""
        with self._transaction(write=False) as db:
            rows = db.execute(f"SELECT {_COLUMNS} FROM payments ORDER BY seq").fetchall()
        return [_payment(r) for r in rows]

    def total_paid(self, payee: str | None = None) -> int:
        """Fen paid in all, or to ``payee``."""
        with self._transaction(write=False) as db:
            if payee is None:
                (total,) = db.execute("SELECT COALESCE(SUM(amount_fen), 0) FROM payments").fetchone()
            else:
                (total,) = db.execute("SELECT COALESCE(SUM(amount_fen), 0) FROM payments WHERE payee = ?",
                                      (payee,)).fetchone()
        return int(total)

    def _count_call(self) -> None:
        with self._lock:
            self._calls += 1
            n = self._calls
        if self.fail_every and n % self.fail_every == 0:
            raise BankUnavailable(f"simulated bank outage on call {n} (fail_every={self.fail_every}); nothing was paid")

    @contextmanager
    def _transaction(self, *, write: bool = True) -> Iterator[sqlite3.Connection]:
        """A connection of its own in one transaction; a writer takes the write lock at once.

        BEGIN IMMEDIATE serialises writers across processes, so the look-up of a request id
        and the insert of its payment cannot interleave with another payer's.
        """
        # one connection per thread, kept open: opening a connection and setting its
        # pragmas cost more than the payment itself (the stamper pays hundreds a second)
        db = getattr(self._local, "db", None)
        try:
            if db is None:
                db = sqlite3.connect(self.path, timeout=30.0, isolation_level=None, check_same_thread=True)
                db.execute("PRAGMA journal_mode = WAL")
                db.execute("PRAGMA synchronous = FULL")
                self._local.db = db
            db.execute("BEGIN IMMEDIATE" if write else "BEGIN")
            try:
                yield db
            except BaseException:
                db.execute("ROLLBACK")
                raise
            db.execute("COMMIT")
        except sqlite3.Error as exc:
            self._local.db = None
            if db is not None:
                db.close()
            raise BankUnavailable(f"simulated bank database {self.path} unusable: {exc}") from exc


def _check_request(*, request_id: str, payee: str, amount_fen: int, memo: str) -> None:
    problems: list[FieldProblem] = []
    if not isinstance(request_id, str) or not request_id.strip() or len(request_id) > MAX_REQUEST_ID:
        problems.append(FieldProblem("request_id", "length",
                                     f"must be a non-blank string of at most {MAX_REQUEST_ID} characters"))
    if not isinstance(payee, str) or not payee.strip():
        problems.append(FieldProblem("payee", "required", "must be a non-blank string"))
    if isinstance(amount_fen, bool) or not isinstance(amount_fen, int) or amount_fen <= 0:
        problems.append(FieldProblem("amount_fen", "positive", f"must be an integer number of fen > 0, "
                                                               f"got {amount_fen!r}"))
    if not isinstance(memo, str):
        problems.append(FieldProblem("memo", "type", f"must be a string, got {type(memo).__name__}"))
    if problems:
        raise InvalidInput(problems)


def _payment(row: tuple[str, str, int, str, str]) -> Payment:
    request_id, reference, amount_fen, payee, paid_at = row
    return Payment(request_id, reference, amount_fen, payee, datetime.fromisoformat(paid_at))
