"""What a monthly report reads (``ledger.ports.MonthlyClaims``): the claims filed in a time
range, page by page from one snapshot, and the names of a few fee items.

The claims are read state by state along the index ``ix_claims_state (state, created_at)``:
for one state, the claims filed in a range are one contiguous run of that index, read in
its order, so a month costs what the month holds, not what the table holds, and needs no
index of its own (a table scan sorted by time would not do at 400 k claims). Each page
starts where the last one stopped (the last (created_at, id)), so no page re-reads the
ones before it. All pages are read in one transaction — a snapshot (SQLite's WAL read
transaction; PostgreSQL ``REPEATABLE READ``) — so a claim that changes state while the
report is read is counted once, as it stood when the reading began.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Select, or_, select, tuple_

from ledger.adapters.sql.claims.rows import CL, CLAIM_COLS, ClaimTables, claim_of
from ledger.adapters.sql.store import I, L
from ledger.claims.model import Claim
from ledger.claims.states import ClaimState

#: fee lines named per query
_NAMES_PER_QUERY = 500


def page_query(state: ClaimState, *, start: datetime, end: datetime, issuer: str | None,
               after: tuple[datetime, str] | None, limit: int) -> Select[Any]:
    """The next ``limit`` claims in ``state`` filed in [``start``, ``end``) after ``after``
    (the last (created_at, id) read), in the order of ``ix_claims_state``."""
    cond = [CL.c.state == state.value, CL.c.created_at < end]
    if issuer is not None:
        cond.append(CL.c.issuer == issuer)
    if after is None:
        cond.append(CL.c.created_at >= start)
    else:   # the range starts at the last time read; of the claims filed then, those after the last id
        cond += [CL.c.created_at >= max(start, after[0]), or_(CL.c.created_at > after[0], CL.c.id > after[1])]
    return (select(*CLAIM_COLS).join(I, I.c.fingerprint == CL.c.fingerprint).where(*cond)
            .order_by(CL.c.created_at, CL.c.id).limit(limit))


class ReportReads(ClaimTables):
    """The monthly report's reads over the claims tables."""

    def claims_filed(self, *, start: datetime, end: datetime, issuer: str | None = None,
                     page: int = 500) -> Iterator[Claim]:
        """Every claim filed in [``start``, ``end``) — at ``issuer``'s invoices only, if given —
        with its reviews, state by state and by time within a state, from one snapshot.

        The connection stays open until the iterator is exhausted or closed: consume it at once.
        """
        if start.tzinfo is None or end.tzinfo is None:
            raise ValueError("the range of a report is given in aware times")
        with self.store._read() as conn:
            if self.store.dialect == "postgresql":
                conn.execution_options(isolation_level="REPEATABLE READ")
            for state in ClaimState:
                yield from self._filed_in(conn, state, start, end, issuer, page)

    def _filed_in(self, conn: Connection, state: ClaimState, start: datetime, end: datetime, issuer: str | None,
                  page: int) -> Iterator[Claim]:
        after: tuple[datetime, str] | None = None
        while True:
            q = page_query(state, start=start, end=end, issuer=issuer, after=after, limit=page)
            found = self._with_reviews(conn, [claim_of(r) for r in conn.execute(q)])
            yield from found
            if len(found) < page:
                return
            after = (found[-1].created_at, found[-1].id)

    def fee_item_names(self, lines: Sequence[tuple[bytes, int]]) -> dict[tuple[bytes, int], str]:
        """The item name of each fee line ``(invoice fingerprint, seq)`` (lines not stored are left out)."""
        wanted = sorted({(bytes(fp), int(seq)) for fp, seq in lines})
        out: dict[tuple[bytes, int], str] = {}
        with self.store._read() as conn:
            for i in range(0, len(wanted), _NAMES_PER_QUERY):
                chunk = wanted[i:i + _NAMES_PER_QUERY]
                ids = {bytes(fp): n for fp, n in conn.execute(
                    select(I.c.fingerprint, I.c.id).where(I.c.fingerprint.in_(sorted({fp for fp, _ in chunk}))))}
                by_id = {n: fp for fp, n in ids.items()}
                keys = [(ids[fp], seq) for fp, seq in chunk if fp in ids]
                if not keys:
                    continue
                lines_q = select(L.c.invoice_id, L.c.seq, L.c.item_name).where(
                    tuple_(L.c.invoice_id, L.c.seq).in_(keys))
                for invoice_id, seq, name in conn.execute(lines_q):
                    out[(by_id[invoice_id], seq)] = name
        return out
