"""Web3Ledger and EventReader against the contract (embedded EVM): batched stamps matched to
their events, the invoice record with its pinned total, and the issuer in every event."""

from __future__ import annotations

import pytest

from ledger.adapters.chains import open_embedded
from ledger.adapters.events import EventReader
from ledger.adapters.invoice_record import INVOICE_RECORD_SIZE, decode_invoice_record
from ledger.batch import Batch, leaf_reaches_root
from ledger.errors import ChainError
from ledger.hashing import Fingerprint, keccak256
from ledger.merkle import StandardMerkleTree
from ledger.ports import InvoiceChainState, Reservation
from verifier.chain_facts import RecordedChain

HOSPITAL = "H33010200001"
PAYER = "P330100-MEDINS"
FP = Fingerprint(keccak256(b"invoice header 1"))


def claim(text: str) -> bytes:
    return text.encode().ljust(32, b"\0")


def words(*values: int) -> bytes:
    return b"".join(v.to_bytes(32, "big") for v in values)


def test_decode_invoice_record_reads_four_words() -> None:
    assert INVOICE_RECORD_SIZE == 128
    assert decode_invoice_record(words(5, 6, 11, 1)) == InvoiceChainState(5, 6, True, 11)
    assert decode_invoice_record(words(0, 0, 0, 0)) == InvoiceChainState(0, 0, False, 0)
    for bad in (words(5, 6, 1), words(5, 6, 11, 1, 0), words(5, 6, 11, 2), words(2**80, 0, 0, 0)):
        with pytest.raises(ChainError):
            decode_invoice_record(bad)


def test_stamps_name_the_issuer_and_the_record_keeps_the_first_total() -> None:
    session = open_embedded()
    ledger = session.ledger
    hospital, payer = session.ensure_hospital(HOSPITAL), session.ensure_payer(PAYER)
    first = StandardMerkleTree.of([(FP, 10_000), (keccak256(b"other"), 5)], ["bytes32", "uint256"])
    # the hospital anchors the same fingerprint again, with a larger total
    again = StandardMerkleTree.of([(FP, 90_000), (keccak256(b"filler"), 1)], ["bytes32", "uint256"])
    for tree in (first, again):
        ledger.anchor_batch(hospital=hospital, root=tree.root, leaf_count=2)

    def reservation(claim_id: str, tree: StandardMerkleTree, total: int, amount: int) -> Reservation:
        # FP is leaf 0 of both trees
        return Reservation(claim(claim_id), HOSPITAL, FP, total, amount, bytes(tree.root),
                           tuple(bytes(p) for p in tree.proof(0).proof))

    assert ledger.invoice_state(HOSPITAL, FP) == InvoiceChainState(0, 0, False, 0)
    outcomes = ledger.stamp_many(payer, "reserve", [
        reservation("C1", first, 10_000, 6_000),
        reservation("C2", again, 90_000, 50_000),
        reservation("C3", first, 10_000, 4_001),
    ])
    assert [(o.claim_id, o.refused) for o in outcomes] == [
        (claim("C1"), None), (claim("C2"), "TotalMismatch"), (claim("C3"), "ReimbursementExceedsTotal")]
    assert ledger.invoice_state(HOSPITAL, FP) == InvoiceChainState(6_000, 0, False, 10_000)
    assert [o.refused for o in ledger.stamp_many(payer, "finalize", [claim("C1")])] == [None]
    # a void may prove any of the hospital's leaves; it leaves the pinned total alone
    ledger.void_invoice(hospital=hospital, fingerprint=FP, total_fen=90_000, batch_root=again.root,
                        proof=again.proof(0).proof, reason="refund")
    assert ledger.invoice_state(HOSPITAL, FP) == InvoiceChainState(0, 6_000, True, 10_000)

    reader = EventReader(ledger)
    events = [e for e in reader.read(0, reader.head()) if e["fingerprint"] == bytes(FP)]
    assert [(e["name"], e["args"]["institutionId"]) for e in events] == [
        ("ReimbursementReserved", HOSPITAL),
        ("ReimbursementFinalized", HOSPITAL),
        ("InvoiceVoided", HOSPITAL),
        ("ClawbackRequired", HOSPITAL),
    ]
    assert events[0]["args"] == {"fingerprint": "0x" + FP.hex(), "payerId": PAYER, "claimId": "0x" + claim("C1").hex(),
                                 "institutionId": HOSPITAL, "amountFen": 6_000}
    assert (events[3]["args"]["paidFen"], events[3]["args"]["reservedFen"]) == (6_000, 0)
    assert [(s.payer_id, s.amount_fen, s.status) for s in reader.stamps(FP)] == [
        (PAYER, 6_000, "reserved"), (PAYER, 6_000, "finalized")]


def test_the_contracts_is_anchored_and_the_one_leaf_check_agree() -> None:
    """ledger.batch.leaf_reaches_root (what verifiers answer from recorded or prefetched facts)
    against the contract's own isAnchored, on a good proof and on every tampered case."""
    session = open_embedded()
    ledger = session.ledger
    hospital = session.ensure_hospital(HOSPITAL)
    batch = Batch(HOSPITAL, tuple((Fingerprint(keccak256(b"leaf %d" % i)), 100 + i) for i in range(5)))
    ledger.anchor_batch(hospital=hospital, root=batch.root, leaf_count=batch.leaf_count)
    unanchored = Batch(HOSPITAL, batch.leaves[:4])
    (fp, total), (other, _) = batch.leaves[0], batch.leaves[1]
    path = list(batch.proof(fp).proof)
    cases = [
        (fp, total, batch.root, path),                                          # the one that holds
        (fp, total + 1, batch.root, path),
        (Fingerprint(bytes([fp[0] ^ 1]) + fp[1:]), total, batch.root, path),
        (fp, total, batch.root, list(batch.proof(other).proof)),
        (fp, total, batch.root, path[:-1]),
        (fp, total, batch.root, [*path, b"\0" * 32]),
        (fp, total, unanchored.root, list(unanchored.proof(fp).proof)),      # a valid path to a root not on chain
    ]
    anchored = ledger.batch(batch.root)
    assert anchored is not None
    facts = RecordedChain(chain_id=ledger.chain_id, contract=ledger.contract_address, block_number=0,
                          batches=[anchored], invoices={}, stamps={})
    answers = []
    for f, t, root, proof in cases:
        on_chain = ledger.is_anchored(fingerprint=f, total_fen=t, root=root, proof=proof)
        recorded = facts.is_anchored(fingerprint=f, total_fen=t, root=root, proof=proof)
        local = leaf_reaches_root(fingerprint=f, total_fen=t, root=root, proof=proof) and root == batch.root
        assert on_chain == recorded == local
        answers.append(on_chain)
    assert answers == [True] + [False] * (len(cases) - 1)
