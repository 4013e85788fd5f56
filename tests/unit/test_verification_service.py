"""verifier.service: the verification service over in-memory ports, no network, no chain.

The chain is the recorded one of tests/vectors/qr/verdicts.json (verifier.chain_facts),
so every verdict vector is checked through the service too; the rest pins what the
service may remember (and what it must ask again) and when it re-reads the registry.
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any, TypeVar

import pytest

from ledger.batch import Batch
from ledger.errors import NotFound
from ledger.hashing import Fingerprint, MerkleRoot
from ledger.onchain import InvoiceChainState, Stamp
from ledger.proofdoc import InvoiceInclusion
from verifier.chain_facts import RecordedChain, RecordedProofs
from verifier.registry import RegistrySnapshot
from verifier.seal_check import verify_offline
from verifier.service import VerificationService
from verifier.snapshots import SNAPSHOT_MIN_AGE, SNAPSHOT_TTL
from verifier.verdict import full_verdict

VERDICTS = json.loads((Path(__file__).resolve().parents[1] / "vectors" / "qr" / "verdicts.json").read_text())
VECTORS = {v["name"]: v for v in VERDICTS["vectors"]}
T = TypeVar("T")


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Live:
    """The awaited invoiceRecord, from the recorded chain; counts the reads."""

    def __init__(self, chain: RecordedChain) -> None:
        self.chain, self.reads = chain, 0

    async def invoice_state(self, issuer: str, fingerprint: Fingerprint) -> InvoiceChainState:
        self.reads += 1
        return self.chain.invoice_state(issuer, fingerprint)


class Chain:
    """An in-memory VerifyingChain: the recorded facts, a registry snapshot that may move, counted reads."""

    def __init__(self) -> None:
        self.facts = RecordedChain.from_json(VERDICTS["chain"])
        self.snapshot = RegistrySnapshot.from_json(VERDICTS["registry"])
        self.live_reader = Live(self.facts)
        self.registry_reads = 0
        self.batch_reads = 0
        self.void_reads = 0
        self.continuous = True
        self.gate: threading.Event | None = None     # set: registry reads wait for it

    chain_id = property(lambda self: self.facts.chain_id)
    contract_address = property(lambda self: self.facts.contract_address)
    live = property(lambda self: self.live_reader)
    background_refresh = False

    def batch(self, root: MerkleRoot) -> Any:
        self.batch_reads += 1
        return self.facts.batch(root)

    def invoice_state(self, issuer: str, fingerprint: Fingerprint) -> InvoiceChainState:
        raise AssertionError("the service awaits the live reader when there is one")

    def is_anchored(self, **kwargs: Any) -> bool:
        return self.facts.is_anchored(**kwargs)

    def void_of(self, issuer: str, fingerprint: Fingerprint) -> Any:
        self.void_reads += 1
        return self.facts.void_of(issuer, fingerprint)

    def advance_registry(self, old: RegistrySnapshot | None) -> tuple[RegistrySnapshot, bool]:
        if self.gate is not None:
            assert self.gate.wait(5)
        self.registry_reads += 1
        return self.snapshot, self.continuous


class Records:
    """An in-memory InvoiceRecords: the vectors' proofs, and the recorded stamps as this store's index."""

    def __init__(self, chain: RecordedChain) -> None:
        self.proofs, self.chain, self.reads = RecordedProofs(VERDICTS["proofs"]), chain, 0
        self.stamps: dict[bytes, list[Stamp]] = {}

    def public_record(self, fingerprint: Fingerprint, *,
                      batch_of: Callable[[MerkleRoot], Batch]) -> tuple[InvoiceInclusion | None, list[Stamp]]:
        self.reads += 1
        found = self.stamps.get(bytes(fingerprint))
        return self.proofs.inclusion(fingerprint), list(self.chain.stamps(fingerprint) if found is None else found)

    def batch_tree(self, root: MerkleRoot) -> Batch:
        raise NotFound("the vectors carry their proofs")


class Threads:
    """The offload of the service: counts the blocking calls (the hot path makes none)."""

    def __init__(self) -> None:
        self.calls: list[str] = []

    async def __call__(self, func: Callable[..., T], /, *args: Any, **kwargs: Any) -> T:
        self.calls.append(getattr(func, "__name__", repr(func)))
        return func(*args, **kwargs)


def service() -> tuple[VerificationService, Chain, Records, Threads, Clock]:
    chain, threads, clock = Chain(), Threads(), Clock()
    records = Records(chain.facts)
    return VerificationService(chain=chain, records=records, offload=threads, clock=clock), chain, records, threads, \
        clock


def verify(svc: VerificationService, name: str) -> dict[str, Any]:
    return asyncio.run(svc.verify(VECTORS[name]["qr"]))


@pytest.mark.parametrize("name", list(VECTORS))
def test_every_verdict_vector_through_the_service(name: str) -> None:
    """The service's document is full_verdict's over the same facts: the one verdict of every front end."""
    svc, chain, _, _, _ = service()
    facts = chain.facts
    expected = full_verdict(verify_offline(VECTORS[name]["qr"], chain.snapshot), chain=facts,
                            proofs=RecordedProofs(VERDICTS["proofs"]), stamps=facts, voids=facts)
    assert verify(svc, name) == expected
    assert verify(svc, name) == expected             # and again, from what it remembered


def test_an_anchored_invoice_seen_before_needs_no_thread_and_one_live_read() -> None:
    svc, chain, records, threads, _ = service()
    first = verify(svc, "anchored")
    assert first["status"] == "anchored" and threads.calls and chain.live_reader.reads == 1
    threads.calls.clear()
    reads = (records.reads, chain.batch_reads, chain.registry_reads)
    assert verify(svc, "anchored") == first
    assert threads.calls == []                                       # the hot path: no thread hop
    assert (records.reads, chain.batch_reads, chain.registry_reads) == reads
    assert chain.live_reader.reads == 2                              # the contract's state: every time


def test_an_unknown_signer_reads_the_registry_again_at_most_once_a_second() -> None:
    svc, chain, _, _, clock = service()
    verify(svc, "unknown-issuer")
    assert chain.registry_reads == 1                 # the first snapshot is fresh: not read again
    clock.now += SNAPSHOT_MIN_AGE + 0.1
    for _ in range(3):
        assert verify(svc, "unknown-issuer")["status"] == "unknown-issuer"
    assert chain.registry_reads == 2                 # one more read for three forged requests
    clock.now += SNAPSHOT_TTL + 0.1
    verify(svc, "anchored")
    assert chain.registry_reads == 3                 # stale: read again (here on the caller's thread)


def test_a_lost_block_makes_the_service_forget_the_chain() -> None:
    svc, chain, _, _, clock = service()
    verify(svc, "anchored")
    assert svc.cache._inclusions and svc.cache._roots
    chain.continuous = False
    clock.now += SNAPSHOT_TTL + 0.1
    verify(svc, "unknown-issuer")
    assert not svc.cache._inclusions and not svc.cache._roots
    assert verify(svc, "anchored")["status"] == "anchored"


def test_stamps_are_remembered_only_while_they_add_up_to_the_chains_state() -> None:
    svc, chain, records, _, clock = service()
    fp = bytes(next(p for p in RecordedProofs(VERDICTS["proofs"])._docs.values()
                    if chain.facts.invoice_state(p.issuer, p.fingerprint).paid_fen).fingerprint)
    records.stamps[fp] = []                          # this store's index has not read the stamp yet
    assert verify(svc, "fully-reimbursed")["status"] == "fully-reimbursed"
    before = records.reads
    verify(svc, "fully-reimbursed")
    assert records.reads == before + 1              # 0 fen of stamps for 12,500 paid: asked again
    del records.stamps[fp]
    doc = verify(svc, "fully-reimbursed")
    assert [s["amountFen"] for s in doc["online"]["stamps"]] == [12_500]
    before = records.reads
    verify(svc, "fully-reimbursed")
    assert records.reads == before                   # they add up: remembered
    clock.now += 31
    verify(svc, "fully-reimbursed")
    assert records.reads == before + 1               # for STAMPS_TTL at most


def test_a_void_is_read_from_the_chain_once() -> None:
    svc, chain, _, _, _ = service()
    first = verify(svc, "voided")
    assert first["status"] == "voided" and first["online"]["void"]["reasonCode"]
    assert verify(svc, "voided") == first
    assert chain.void_reads == 1


def test_the_registry_is_refreshed_in_the_background_when_the_chain_allows() -> None:
    svc, chain, _, threads, clock = service()
    verify(svc, "anchored")
    svc.registry._background = True
    old = chain.snapshot
    chain.snapshot, chain.gate = replace(old, block_number=old.block_number + 1), threading.Event()
    clock.now += SNAPSHOT_TTL + 0.1
    threads.calls.clear()
    doc = verify(svc, "anchored")                    # answered from the previous snapshot meanwhile
    assert doc["offline"]["snapshot"]["blockNumber"] == old.block_number and threads.calls == []
    chain.gate.set()
    for _ in range(500):
        if not svc.registry._refreshing:
            break
        threading.Event().wait(0.01)
    assert chain.registry_reads == 2
    assert verify(svc, "anchored")["offline"]["snapshot"]["blockNumber"] == old.block_number + 1
