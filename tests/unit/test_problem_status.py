"""The HTTP status of each branch of the error tree (api/problems.py): what the client did wrong is 4xx, a
dependency that failed is 502/503, and only the unexpected is 500."""

from __future__ import annotations

import pytest

from api.problems import status_of
from ledger.errors import (
    ChainError,
    ChainStateMismatch,
    ChainUnavailable,
    Conflict,
    ContractReverted,
    InvalidInput,
    LedgerError,
    StoreUnavailable,
)


@pytest.mark.parametrize(("error", "status"), [
    (InvalidInput.single("x", "rule", "bad"), 422),
    (Conflict("taken"), 409),
    (StoreUnavailable("down"), 503),
    (ChainUnavailable("no answer"), 503),
    (ContractReverted("UnknownMember", (b"\0" * 32,), function="invoiceRecord"), 502),
    (ChainStateMismatch("another chain"), 502),
    (ChainError("undecodable"), 502),
    (LedgerError("unclassified"), 500),
])
def test_each_error_has_its_status(error: LedgerError, status: int) -> None:
    assert status_of(error) == status
