"""A payer's copy of the hospitals' invoices, pulled from the service they upload to.

Hospitals upload once, to their platform; every payer runs its own service with its own
database (DESIGN.md: each organisation's database is a fast index of the chain plus the
hospitals' data). The mirror pulls ``GET /v1/feed/batches`` from the platform with a
payer credential and trusts none of it: for every batch it

1. rebuilds each invoice and re-seals it with the salts given: the fingerprint must
   come out as stated (so the fee lines are the ones the hospital anchored);
2. rebuilds the batch's Merkle tree from the invoices: the root must come out as stated;
3. asks the chain: the root must be anchored, by the invoice's issuing hospital.

Only then is the batch stored, with its invoices, as already anchored. The same
fingerprint on the chain is what lets several payers share one invoice's limit: a
copy with other salts would be another fingerprint and another record on chain.
The cursor (last batch's anchored block and root) is kept in the store's meta.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from ledger.app.survival import Survival
from ledger.batch import Batch
from ledger.errors import InvalidInput, LedgerError, MirrorRejected
from ledger.fingerprint import seal
from ledger.hashing import Fingerprint, Hash32
from ledger.invoice import FeeCategory, FeeLine, Invoice, VisitType
from ledger.ports import BatchFeed, ChainReader, Clock
from ledger.records import HospitalRecord
from ledger.uploads import PreparedInvoice, content_digest

log = logging.getLogger("ebill.mirror")
_CURSOR = "mirror.cursor"


@dataclass
class PullReport:
    batches: int = 0
    invoices: int = 0
    rejected: int = 0


class InvoiceMirror:
    """Pulls verified anchored batches from a source service into this store."""

    def __init__(self, store: Any, ledger: ChainReader, feed: BatchFeed, *, source: str, clock: Clock,
                 page: int = 4) -> None:
        self.store = store
        self.clock = clock
        self.ledger = ledger
        self.feed = feed
        self.source = source.rstrip("/")
        self.page = page
        self._stop = threading.Event()

    def run_forever(self, *, interval: float = 1.0) -> None:
        survival = Survival(f"mirror from {self.source}", log=log, stop=self._stop, component="mirror")
        while not self._stop.is_set():
            with survival.round():
                try:
                    report = self.pull()
                    if report.batches:
                        continue   # more may be waiting
                except LedgerError as exc:
                    log.warning("mirror from %s: %s", self.source, exc)
                self._stop.wait(interval)

    def stop(self) -> None:
        self._stop.set()

    def pull(self) -> PullReport:
        """One page of the feed: verify and store each batch, then move the cursor."""
        report = PullReport()
        for b in self.feed.page(after=self.store.get_meta(_CURSOR), limit=self.page):
            try:
                hospital, batch, items, anchored = self.verify(b)
                report.invoices += self.store.save_mirrored(hospital, batch, items, anchored=anchored,
                                                            actor=f"mirror:{self.source}"[:64])
            except (MirrorRejected, InvalidInput) as exc:
                report.rejected += 1
                log.error("mirror: batch %s rejected: %s", b.get("root"), exc)
                self._audit_rejection(b, str(exc))
            report.batches += 1
            self.store.set_meta(_CURSOR, _cursor_of(b))
        return report

    def verify(self, b: dict[str, Any]) -> tuple[HospitalRecord, Batch, list[PreparedInvoice],
                                                 tuple[int, str | None, datetime | None]]:
        """The batch's hospital, batch, invoices and anchoring, once every invoice hashes to its fingerprint,
        they make the stated root, and the chain holds that root from that hospital; MirrorRejected otherwise,
        also for a batch of the wrong shape (the source is another organisation's service: nothing it sends
        may end this thread)."""
        try:
            return self._verify(b)
        except (KeyError, IndexError, TypeError, ValueError, AttributeError) as exc:
            raise MirrorRejected(f"malformed batch in the feed: {exc!r}"[:300]) from None

    def _verify(self, b: dict[str, Any]) -> tuple[HospitalRecord, Batch, list[PreparedInvoice],
                                                  tuple[int, str | None, datetime | None]]:
        issuer = b["issuer"]
        items: list[PreparedInvoice] = []
        for n, d in enumerate(b["invoices"]):
            if d["issuer"] != issuer or d.get("batchIndex") != n:
                raise MirrorRejected(f"invoice {n} is not leaf {n} of {issuer}'s batch")
            invoice = _invoice(d)
            sealed = seal(invoice, salt=bytes.fromhex(d["salt"][2:]), line_key=bytes.fromhex(d["lineKey"][2:]))
            if "0x" + bytes(sealed.fingerprint).hex() != d["fingerprint"]:
                raise MirrorRejected(f"invoice {invoice.invoice_code}/{invoice.invoice_number} does not hash to its "
                                     f"fingerprint {d['fingerprint']}: altered in transit or at the source")
            items.append(PreparedInvoice(sealed, content_digest(invoice), str(d["qr"])))
        if not items:
            raise MirrorRejected("an empty batch")
        batch = Batch(issuer, tuple((Fingerprint(bytes(p.sealed.fingerprint)), p.invoice.total_fen) for p in items))
        if "0x" + bytes(batch.root).hex() != b["root"]:
            raise MirrorRejected(f"the invoices do not make the stated root {b['root']}")
        on_chain = self.ledger.batch(batch.root)
        if on_chain is None:
            raise MirrorRejected(f"batch {b['root']} is not anchored on chain")
        if on_chain.institution_id != issuer:
            raise MirrorRejected(f"batch {b['root']} was anchored by {on_chain.institution_id}, not {issuer}")
        h = b["hospital"]
        hospital = HospitalRecord(issuer, str(h["name"])[:200], str(h["region"])[:64], str(h["account"]), "",
                                  self.clock.now(), None)
        return hospital, batch, items, (on_chain.block_number, b.get("anchoredTx"), None)

    def _audit_rejection(self, b: dict[str, Any], reason: str) -> None:
        with contextlib.suppress(LedgerError):   # best effort: the log has it too
            self.store.audit(actor=f"mirror:{self.source}"[:64], action="mirror.rejected",
                             subject=str(b.get("root"))[:18], detail={"reason": reason[:500]})


def _cursor_of(b: Any) -> str:
    """Where the feed continues after batch ``b``; a batch that cannot say is refused, and the page is read
    again next round (the source must be mended: skipping it could skip anchored invoices)."""
    block, root = (b.get("anchoredBlock"), b.get("root")) if isinstance(b, dict) else (None, None)
    if not isinstance(block, int) or isinstance(block, bool) or not isinstance(root, str) or len(root) > 66:
        raise MirrorRejected(f"a batch in the feed without its block and root: {str(b)[:120]}")
    return f"{block}:{root}"


def _invoice(d: dict[str, Any]) -> Invoice:
    try:
        return Invoice(
            issuer=d["issuer"], invoice_code=d["invoiceCode"], invoice_number=d["invoiceNumber"],
            check_code=d["checkCode"], issued_at=d["issuedAt"], visit_type=VisitType(d["visitType"]),
            patient=Hash32(bytes.fromhex(d["patient"][2:])), total_fen=int(d["totalFen"]),
            fund_paid_fen=int(d["fundPaidFen"]), account_paid_fen=int(d["accountPaidFen"]),
            cash_paid_fen=int(d["cashPaidFen"]), schema_version=int(d["schemaVersion"]),
            fee_lines=tuple(FeeLine(int(li["seq"]), li["itemCode"], li["itemName"], FeeCategory(li["category"]),
                                    li["quantity"], li["unit"], int(li["unitPriceFen"]), int(li["amountFen"]),
                                    li["serviceDate"]) for li in d["feeLines"]),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise MirrorRejected(f"malformed invoice in the feed: {exc!r}") from None
