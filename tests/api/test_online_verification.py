"""Online facts of an invoice, checked against the chain with proofs from the service's public endpoint."""

from __future__ import annotations

import copy

import httpx
from api_stack import Stack

from ledger.adapters.events import EventReader
from ledger.hashing import parse_hash32
from ledger.proofdoc import InvoiceInclusion
from verifier.online import OnlineStatus, check_online
from verifier.proofs import HttpProofSource


class _Tampered:
    """A proof source that lies: one more sibling hash than the real path."""

    def __init__(self, inner: HttpProofSource) -> None:
        self.inner = inner

    def inclusion(self, fingerprint):  # type: ignore[no-untyped-def]
        doc = self.inner.inclusion(fingerprint)
        assert doc is not None
        return InvoiceInclusion(doc.fingerprint, doc.total_fen, doc.issuer, doc.batch_root,
                                (*doc.proof, b"\x01" * 32), doc.chain)  # type: ignore[arg-type]


def _check(stack: Stack, doc: dict, *, proofs=None, total=None):  # type: ignore[no-untyped-def]
    fp = stack.client.post("/v1/invoices", json=doc, headers=stack.auth("a")).json()["items"][0]["invoice"][
        "fingerprint"]
    source = proofs or HttpProofSource("http://testserver", client=stack.client)  # type: ignore[arg-type]
    return fp, check_online(fingerprint=parse_hash32(fp), total_fen=total or doc["totalFen"], issuer=doc["issuer"],
                            chain=stack.session.ledger, proofs=source, stamps=EventReader(stack.session.ledger))


def test_each_online_outcome_has_its_own_status(stack: Stack) -> None:
    docs = copy.deepcopy(stack.docs["a"][:5])
    _, facts = _check(stack, docs[0])
    assert facts.status is OnlineStatus.NOT_ANCHORED
    stack.worker.drain()
    fp, facts = _check(stack, docs[0])
    assert facts.status is OnlineStatus.ANCHORED and facts.batch is not None
    assert facts.to_json()["anchor"]["issuer"] == docs[0]["issuer"]

    _, facts = _check(stack, docs[0], total=docs[0]["totalFen"] - 1)
    assert facts.status is OnlineStatus.PROOF_MISMATCH

    source = HttpProofSource("http://testserver", client=stack.client)  # type: ignore[arg-type]
    _, facts = _check(stack, docs[0], proofs=_Tampered(source))
    assert facts.status is OnlineStatus.PROOF_INVALID

    # a payer reserves the whole total: nothing is left to claim
    got = stack.client.get(f"/v1/invoices/{fp}", headers=stack.auth("payer")).json()["inclusionProof"]
    payer = stack.session.ensure_payer("P330100")
    stack.session.ledger.reserve(payer=payer, claim_id=b"\x07" * 32, issuer=docs[0]["issuer"],
                                 fingerprint=parse_hash32(fp), total_fen=docs[0]["totalFen"],
                                 amount_fen=docs[0]["totalFen"], batch_root=parse_hash32(got["batchRoot"]),
                                 proof=[parse_hash32(p) for p in got["proof"]])
    _, facts = _check(stack, docs[0])
    assert facts.status is OnlineStatus.FULLY_REIMBURSED
    assert [(s.payer_id, s.status, s.amount_fen) for s in facts.stamps] == [("P330100", "reserved",
                                                                               docs[0]["totalFen"])]

    fp1, _ = _check(stack, docs[1])
    stack.worker.drain()
    stack.client.post(f"/v1/invoices/{fp1}/void", json={"reason": "refund"}, headers=stack.auth("a"))
    stack.worker.drain()
    _, facts = _check(stack, docs[1])
    assert facts.status is OnlineStatus.VOIDED


def test_the_proof_service_being_down_is_not_a_verdict(stack: Stack) -> None:
    import pytest

    from ledger.errors import ChainUnavailable

    dead = HttpProofSource("http://127.0.0.1:9", timeout=0.5)
    with pytest.raises(ChainUnavailable):
        dead.inclusion(parse_hash32("0x" + "ab" * 32))
    _ = httpx
