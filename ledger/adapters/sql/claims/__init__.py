"""The claims side's tables: see :mod:`ledger.adapters.sql.claims.store`."""

from ledger.adapters.sql.claims.store import ClaimStore

__all__ = ["ClaimStore"]
