"""``GET /v1/feed/batches``: anchored batches with their sealed invoices, for payers' mirrors.

Payers run their own service and database; they pull the hospitals' invoices from here
(see :mod:`ledger.app.mirror`), verify every fingerprint and root themselves and check
the anchor on chain. The salts are in the feed: a payer needs them to verify the fee
lines it adjudicates, and payers may read every invoice anyway.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query

from api.deps import PrincipalDep, ServiceDep
from api.routers.invoices import _PROBLEMS
from ledger.errors import InvalidInput

router = APIRouter(prefix="/v1/feed", tags=["feed"])

#: the largest block number a cursor may name (block numbers are stored as BIGINT)
MAX_BLOCK = 2**63 - 1


@router.get("/batches", responses=_PROBLEMS,
            summary="Anchored batches after a cursor, with hospitals and sealed invoices (payer, auditor)")
def feed_batches(service: ServiceDep, principal: PrincipalDep,
                 after: Annotated[str | None, Query(pattern=r"^[0-9]{1,19}:0x[0-9a-fA-F]{64}$",
                                                    description="<block>:<root> from the previous page")] = None,
                 limit: Annotated[int, Query(ge=1, le=32)] = 4) -> dict[str, Any]:
    cursor = None
    if after:
        block, _, root = after.partition(":")
        try:
            cursor = (int(block), bytes.fromhex(root.removeprefix("0x")))
            if len(cursor[1]) != 32 or not 0 <= cursor[0] <= MAX_BLOCK:  # the column is a signed 64-bit integer
                raise ValueError
        except ValueError:
            raise InvalidInput.single("after", "cursor", "expected <block>:<0x root> from the previous page, the "
                                      f"block a number from 0 to {MAX_BLOCK}") from None
    batches = service.feed(principal, after=cursor, limit=limit)
    last = batches[-1] if batches else None
    return {"batches": batches, "next": f"{last['anchoredBlock']}:{last['root']}" if last else after}
