"""The registry snapshot behind POST /v1/verify: re-dated to the head while the registry is
unchanged, read again in full when a hospital or key appears."""

from __future__ import annotations

from api_stack import Stack

from api.routers.verify import _advance_snapshot
from ledger.adapters.registry_export import export_snapshot


def test_the_snapshot_is_redated_until_the_registry_changes(stack: Stack) -> None:
    ledger = stack.session.ledger
    stack.worker.drain()                                   # both test hospitals registered on chain
    old = export_snapshot(ledger)
    assert _advance_snapshot(ledger, old) is old           # no new block: the same snapshot
    stack.post_invoice("a", stack.docs["a"][0])
    stack.worker.drain()                                   # an anchor: new blocks, no registry event
    moved = _advance_snapshot(ledger, old)
    assert moved.block_number > old.block_number and moved.block_hash != old.block_hash
    assert moved.hospitals == old.hospitals and moved == export_snapshot(ledger, block=moved.block_number)
    stack.session.ensure_hospitals(["H99000000001"])       # a registry event
    fresh = _advance_snapshot(ledger, moved)
    assert fresh.keys_of("H99000000001") is not None and fresh.block_number > moved.block_number
