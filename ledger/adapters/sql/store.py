"""The store adapter: the hospitals' record and the anchoring outbox in SQL.

Every write that acknowledges something to a caller (an upload, a void request) is
one transaction: it commits whole or not at all, so nothing partial is ever stored.
The invoice rows themselves are the anchoring outbox: an invoice without a batch is
waiting; closing a batch assigns its invoices and records the batch in the same
transaction, so a batch's leaves never change once it may have been sent.

The table names and time helpers are re-exported for the claims side of the same
database (``ledger/adapters/sql/claims/``).
"""

from __future__ import annotations

from ledger.adapters.sql.base import (
    CB,
    CT,
    LS,
    ST,
    A,
    B,
    C,
    E,
    H,
    I,
    L,
    M,
    StoreBase,
    V,
    _aware,
    utcnow,
)
from ledger.adapters.sql.calendar import CalendarYears
from ledger.adapters.sql.chain_index import INDEX_GENERATION, INDEXER_BLOCK, INDEXER_HASH, ChainIndex
from ledger.adapters.sql.hospital_keys import HospitalKeys
from ledger.adapters.sql.invoices import Invoices
from ledger.adapters.sql.leases import Leases
from ledger.adapters.sql.members import Members
from ledger.adapters.sql.outbox import AnchoringOutbox
from ledger.adapters.sql.peppers import PepperVersions
from ledger.adapters.sql.rule_sets import RuleSets


class SqlStore(Members, HospitalKeys, PepperVersions, Invoices, AnchoringOutbox, ChainIndex, Leases, RuleSets,
               CalendarYears, StoreBase):
    """The upload service's store on SQLite or PostgreSQL: one object, one concern per part
    (:mod:`~ledger.adapters.sql.base`, :mod:`~ledger.adapters.sql.members`, :mod:`~ledger.adapters.sql.hospital_keys`,
    :mod:`~ledger.adapters.sql.peppers`,
    :mod:`~ledger.adapters.sql.invoices`, :mod:`~ledger.adapters.sql.outbox`,
    :mod:`~ledger.adapters.sql.chain_index`, :mod:`~ledger.adapters.sql.leases`,
    :mod:`~ledger.adapters.sql.rule_sets`, :mod:`~ledger.adapters.sql.calendar`)."""


__all__ = ["CB", "CT", "INDEXER_BLOCK", "INDEXER_HASH", "INDEX_GENERATION", "LS", "ST", "A", "B", "C", "E", "H", "I",
           "L",
           "M", "SqlStore", "V", "_aware", "utcnow"]
