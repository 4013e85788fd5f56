"""The claims dashboard's raw figures, in SQL: claims per day and state, refusals, payout
times, claw-backs, what was blocked, and the anchoring lag hospitals see."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from sqlalchemy import Table, Text, func, select

from ledger.adapters.sql import schema as s
from ledger.adapters.sql.claims.rows import CL, ClaimTables
from ledger.adapters.sql.store import CB, A, B, E, I, _aware
from ledger.claims.states import ClaimState

_COUNTERS: Table = s.metadata.tables["counters"]


class ClaimFigures(ClaimTables):
    """Counts and sums over the claims tables."""

    def stats(self, *, since: datetime | None = None) -> dict[str, Any]:
        """Counts and sums for the dashboard (per day and state, refusals, payout times)."""
        day = func.substr(func.cast(CL.c.created_at, Text) if self.store.dialect == "postgresql"
                          else CL.c.created_at, 1, 10)
        cond = [CL.c.created_at >= since] if since else []
        with self.store._read() as conn:
            per_day = [dict(r._mapping) for r in conn.execute(
                select(day.label("day"), CL.c.state, func.count().label("claims"),
                       func.sum(CL.c.requested_fen).label("requestedFen"),
                       func.sum(CL.c.amount_fen).label("amountFen"))
                .where(*cond).group_by(day, CL.c.state).order_by(day))]
            refusals = [dict(r._mapping) for r in conn.execute(
                select(CL.c.refusal.label("reason"), func.count().label("claims"))
                .where(CL.c.refusal.is_not(None), *cond).group_by(CL.c.refusal).order_by(func.count().desc()))]
            paid = [(_aware(r.created_at), _aware(r.paid_at)) for r in conn.execute(
                select(CL.c.created_at, CL.c.paid_at).where(CL.c.paid_at.is_not(None), *cond))]
            decisions = [json.loads(r.decision) for r in conn.execute(
                select(CL.c.decision).where(*cond).order_by(CL.c.created_at.desc()).limit(2000))]
            claw = conn.execute(select(func.count(), func.coalesce(func.sum(CL.c.amount_fen), 0))
                                .where(CL.c.state == ClaimState.CLAWBACK.value)).one()
            voids = conn.execute(select(func.count()).select_from(E).where(E.c.name == "InvoiceVoided")).scalar_one()
            blocked = {f"{action}:{subject}": n for action, subject, n in conn.execute(
                select(A.c.action, A.c.subject, func.count()).where(A.c.action == "claim.blocked")
                .group_by(A.c.action, A.c.subject))}
            # forged codes at the public verifier are counted, not audited (ledger.app.event_counts)
            blocked.update({name: int(n) for name, n in conn.execute(
                select(_COUNTERS.c.name, _COUNTERS.c.count).where(_COUNTERS.c.name.startswith("verify.refused:")))})
            # anchoring lag: from the first acknowledged upload of a batch to its anchor, recent batches
            first = (select(I.c.batch_root, func.min(I.c.received_at).label("first"))
                     .where(I.c.batch_root.is_not(None)).group_by(I.c.batch_root).subquery())
            # (block timestamps are whole seconds, so a batch anchored within the second of its
            # first upload can look anchored "before" it: such lags count as 0)
            lags = [max(0.0, (anchored - acked).total_seconds())
                    for anchored, acked in ((_aware(a), _aware(f)) for a, f in conn.execute(
                        select(B.c.anchored_at, first.c.first).join(first, first.c.batch_root == B.c.root)
                        .where(B.c.anchored_at.is_not(None)).order_by(B.c.anchored_at.desc()).limit(500)))
                    if anchored is not None and acked is not None]
            clawbacks_chain = conn.execute(select(func.count()).select_from(CB)).scalar_one()
        return {"perDay": per_day, "refusals": refusals, "paid": paid, "decisions": decisions,
                "clawbacks": {"claims": claw[0], "amountFen": int(claw[1])}, "voidsOnChain": voids,
                "blocked": blocked, "anchoringLagSeconds": sorted(lags),
                "clawbackEventsOnChain": clawbacks_chain}
