"""Two payers, two services, two databases, one chain: no invoice is paid beyond its total.

Payer A (basic insurance) runs the platform the hospital uploads to; payer B (a
commercial supplement insurer) runs its own service and database and mirrors the
anchored invoices from A's feed, verifying every fingerprint, root and anchor. Citizens
claim the same invoices at both, concurrently, with retries; the chain's per-invoice
limit is the only thing the two services share.
"""

from __future__ import annotations

import json
import threading
from collections import defaultdict
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from claims_stack import ClaimsStack, make_claims_stack

from ledger.adapters.chains import open_embedded
from ledger.adapters.clock import SystemClock
from ledger.adapters.feed_client import HttpBatchFeed
from ledger.app.mirror import InvoiceMirror
from ledger.errors import MirrorRejected
from ledger.records import Role

PAYER_B = "sx-huiminbao"


@pytest.fixture
def two(tmp_path: Path) -> Iterator[tuple[ClaimsStack, ClaimsStack, InvoiceMirror]]:
    session = open_embedded()
    a = make_claims_stack(f"sqlite:///{tmp_path}/a.sqlite", tmp_path / "a", session=session,
                          instant_max_fen=10**9)
    b = make_claims_stack(f"sqlite:///{tmp_path}/b.sqlite", tmp_path / "b", session=session, payer=PAYER_B,
                          instant_max_fen=10**9)
    feed_token = a.service.create_credential(role=Role.PAYER, subject=PAYER_B, label="B's mirror")
    mirror = InvoiceMirror(b.service.store, session.ledger,
                           HttpBatchFeed("http://testserver", token=feed_token, client=a.client),
                           source="http://testserver", clock=SystemClock())
    yield a, b, mirror
    a.stop()
    b.stop()


@pytest.fixture(autouse=True)
def _dirs(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()


def _mirror_all(mirror: InvoiceMirror, b: ClaimsStack) -> int:
    n = 0
    while (report := mirror.pull()).batches:
        n += report.invoices
    b.worker.drain()
    return n


def test_mirror_copies_anchored_invoices_with_the_same_fingerprints(two: Any) -> None:
    a, b, mirror = two
    items = a.upload_all()
    assert _mirror_all(mirror, b) == len(items)
    assert _mirror_all(mirror, b) == 0   # the cursor moved: nothing twice
    for item in items[:5]:
        fp = item["invoice"]["fingerprint"]
        got = b.client.get(f"/v1/invoices/{fp}", headers=b.auth("payer")).json()
        at_a = a.client.get(f"/v1/invoices/{fp}", headers=a.auth("payer")).json()
        assert got["state"] == "anchored" and got["batchRoot"] == at_a["batchRoot"]
        assert got["inclusionProof"] == at_a["inclusionProof"] and got["block"] == at_a["block"]
        lines_a = a.client.get(f"/v1/invoices/{fp}/fee-lines", headers=a.auth("payer")).json()
        lines_b = b.client.get(f"/v1/invoices/{fp}/fee-lines", headers=b.auth("payer")).json()
        assert lines_a == lines_b
    # B's chain worker does not try to anchor or register what it mirrored
    report = b.worker.tick()
    assert report.anchored == 0 and not report.errors


def test_mirror_refuses_an_altered_feed(two: Any) -> None:
    a, _, mirror = two
    a.upload_all()
    page = a.client.get("/v1/feed/batches", headers=a.auth("payer")).json()["batches"]
    batch = json.loads(json.dumps(page[0]))
    batch["invoices"][0]["feeLines"][0]["amountFen"] += 100     # a fee line changed at the source
    with pytest.raises(MirrorRejected, match="does not hash to its fingerprint"):
        mirror.verify(batch)
    batch = json.loads(json.dumps(page[0]))
    batch["invoices"] = batch["invoices"][1:]                   # an invoice dropped
    with pytest.raises(MirrorRejected):
        mirror.verify(batch)
    # a hospital's real, signed invoices re-batched into a root nobody anchored
    batch = json.loads(json.dumps(page[0]))
    batch["invoices"] = batch["invoices"][:1]
    batch["invoices"][0]["batchIndex"] = 0
    from ledger.batch import Batch
    from ledger.hashing import Fingerprint

    only = batch["invoices"][0]
    batch["root"] = "0x" + bytes(Batch(batch["issuer"], ((Fingerprint(bytes.fromhex(only["fingerprint"][2:])),
                                                           only["totalFen"]),)).root).hex()
    with pytest.raises(MirrorRejected, match="not anchored on chain"):
        mirror.verify(batch)
    # a batch of the wrong shape is refused in words, never an error that would end the mirror's thread
    for broken in ({}, {**page[0], "issuer": None}, {**page[0], "invoices": "x"}, {**page[0], "hospital": []},
                   {**page[0], "invoices": [None]}, [1, 2]):
        with pytest.raises(MirrorRejected, match=r"malformed batch|not leaf 0"):
            mirror.verify(broken)   # type: ignore[arg-type]
    # the feed is for payers and auditors: a hospital or a citizen may not read it
    assert a.client.get("/v1/feed/batches", headers=a.auth("a")).status_code == 403
    assert a.client.get("/v1/feed/batches", headers=a.citizen(next(iter(a.patients.values())))).status_code == 403
    assert a.client.get("/v1/feed/batches?after=nonsense", headers=a.auth("payer")).status_code == 422


def test_concurrent_claims_at_two_payers_never_exceed_the_invoice_total(two: Any) -> None:
    a, b, mirror = two
    a.upload_all()
    _mirror_all(mirror, b)
    # the invoices with the most to reimburse, one per person
    chosen: dict[str, str] = {}
    for fp, nid in a.patients.items():
        if nid not in chosen.values() and len(chosen) < 6:
            chosen[fp] = nid
    answers: dict[tuple[str, str], list[Any]] = defaultdict(list)
    lock = threading.Lock()

    def tap(stack: ClaimsStack, name: str, fp: str, nid: str, key: str) -> None:
        r = stack.claim(nid, [fp], key)
        with lock:
            answers[(name, fp)].append((key, r.status_code, r.json()))

    jobs = []
    for fp, nid in chosen.items():
        for name, stack in (("A", a), ("B", b)):
            for attempt in range(3):
                jobs.append((stack, name, fp, nid, f"{name}-{fp[2:14]}-{attempt}"))
                jobs.append((stack, name, fp, nid, f"{name}-{fp[2:14]}-{attempt}"))   # the same key twice: a retry
    with ThreadPoolExecutor(12) as pool:
        list(pool.map(lambda j: tap(*j), jobs))
    a.stamper.drain()
    b.stamper.drain()

    limited = 0
    for fp in chosen:
        raw = bytes.fromhex(fp[2:])
        detail = a.client.get(f"/v1/invoices/{fp}", headers=a.auth("payer")).json()
        total, issuer = detail["totalFen"], detail["issuer"]
        state = a.session.ledger.invoice_state(issuer, raw)
        assert state.reserved_fen + state.paid_fen <= total
        paid_sum = 0
        for name, stack in (("A", a), ("B", b)):
            got = answers[(name, fp)]
            # every answer under one key carries one claim id; a key is never two claims
            by_key: dict[str, set[str]] = defaultdict(set)
            for key, status, body in got:
                assert status in (200, 201, 202, 409), body
                if status != 409:
                    by_key[key].add(body["claims"][0]["id"])
            assert all(len(ids) == 1 for ids in by_key.values())
            ids = {i for ids in by_key.values() for i in ids}
            assert len(ids) == 1, f"payer {name} stored {len(ids)} claims for one invoice"
            claim = stack.client.get(f"/v1/claims/{ids.pop()}", headers=stack.auth("auditor")).json()
            if claim["state"] == "paid":
                paid_sum += claim["amountFen"]
                assert claim["stamp"]["status"] == "finalized"
            else:
                assert claim["state"] in ("refused", "nothing-payable"), claim
        # the chain paid exactly what the two services paid out, and never beyond the total
        assert state.paid_fen == paid_sum <= total
        limited += paid_sum == total
    # the supplement insurer pays every eligible fen: on some invoices the limit had to bind
    assert limited >= 1
    assert a.bank.total_paid() + b.bank.total_paid() == sum(
        a.session.ledger.invoice_state(a.client.get(f"/v1/invoices/{fp}", headers=a.auth("payer")).json()["issuer"],
                                       bytes.fromhex(fp[2:])).paid_fen for fp in chosen)
