"""The registry snapshot behind POST /v1/verify: re-dated to the head while the registry is
unchanged, read again in full when a hospital or key appears."""

from __future__ import annotations

from api_stack import Stack

from ledger.adapters.registry_export import advance_snapshot as _advance_snapshot
from ledger.adapters.registry_export import export_snapshot


def test_the_snapshot_is_redated_until_the_registry_changes(stack: Stack) -> None:
    ledger = stack.session.ledger
    stack.worker.drain()                                   # both test hospitals registered on chain
    old = export_snapshot(ledger)
    assert _advance_snapshot(ledger, old) == (old, True)   # no new block: the same snapshot
    stack.post_invoice("a", stack.docs["a"][0])
    stack.worker.drain()                                   # an anchor: new blocks, no registry event
    moved, continuous = _advance_snapshot(ledger, old)
    assert continuous
    assert moved.block_number > old.block_number and moved.block_hash != old.block_hash
    assert moved.hospitals == old.hospitals and moved == export_snapshot(ledger, block=moved.block_number)
    stack.session.ensure_hospitals(["H99000000001"])       # a registry event
    fresh, _ = _advance_snapshot(ledger, moved)
    assert fresh.keys_of("H99000000001") is not None and fresh.block_number > moved.block_number


def test_a_snapshot_whose_block_is_gone_makes_the_cache_forget_the_chain(stack: Stack) -> None:
    from dataclasses import replace

    stack.worker.drain()
    verification = stack.client.app.state.verification  # type: ignore[attr-defined]
    cache, registry = verification.cache, verification.registry
    inv = stack.post_invoice("a", stack.docs["a"][1]).json()["items"][0]["invoice"]
    stack.worker.drain()
    assert stack.client.post("/v1/verify", json={"payload": inv["qr"]}).json()["status"] == "anchored"
    assert cache._inclusions and cache._roots
    # as if the node had lost the block the snapshot was taken at
    registry._snapshot = replace(registry.snapshot(), block_hash="0x" + "00" * 32)
    registry._taken = 0.0
    registry.snapshot()
    assert not cache._inclusions and not cache._roots
    assert stack.client.post("/v1/verify", json={"payload": inv["qr"]}).json()["status"] == "anchored"
