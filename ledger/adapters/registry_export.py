"""Exporting the hospitals registry from a node as a :class:`~verifier.registry.RegistrySnapshot`.

The keys come from the contract's events (``MemberRegistered``, ``KeyAdded``,
``KeyRevoked``) up to one block, and each account is then read back with
``accountInfo`` *at that same block*: the two must agree (member, kind, revocation),
and ``addedAt`` comes from the contract's state. Any disagreement raises
:class:`~ledger.errors.ChainStateMismatch` rather than producing a snapshot an
offline verifier would trust. :func:`advance_snapshot` brings a snapshot to the head
cheaply while the registry has not changed (a verification service's refresh).
"""

from __future__ import annotations

from typing import Any, cast

from eth_typing import ABIEvent, HexStr
from eth_utils.abi import event_abi_to_log_topic
from eth_utils.address import to_checksum_address

from ledger.adapters.contract_codec import bytes32_to_id, id_to_bytes32
from ledger.adapters.events import EventReader
from ledger.adapters.web3_chain import Web3Ledger
from ledger.errors import ChainStateMismatch, ChainUnavailable
from verifier.registry import HospitalKeys, RegistryKey, RegistrySnapshot

_HOSPITAL = 1  # IEbillLedger.MemberKind.Hospital
#: the events that change the hospitals registry
_REGISTRY_EVENTS = ("MemberRegistered", "KeyAdded", "KeyRevoked")


def export_snapshot(ledger: Web3Ledger, *, block: int | None = None, from_block: int = 0) -> RegistrySnapshot:
    """The hospitals registry of ``ledger`` as of ``block`` (default: the current head).

    Events are read from ``from_block``: pass the deployment's block on a long chain.

    Raises :class:`ChainUnavailable` when the node does not answer and
    :class:`ChainStateMismatch` when its events and state disagree.
    """
    reader = EventReader(ledger)
    head = reader.head() if block is None else block
    block_hash = reader.block_hash(head)
    if block_hash is None:
        raise ChainUnavailable(f"the node has no block {head}")
    hospitals: dict[str, dict[str, int]] = {}  # institution id -> account -> revokedAt from the events
    for event in reader.read(from_block, head):
        name, args = event["name"], event["args"]
        if name == "MemberRegistered" and args["kind"] == _HOSPITAL:
            hospitals.setdefault(args["memberId"], {})
        elif name == "KeyAdded" and args["memberId"] in hospitals:
            hospitals[args["memberId"]][to_checksum_address(args["account"])] = 0
        elif name == "KeyRevoked" and args["memberId"] in hospitals:
            hospitals[args["memberId"]][to_checksum_address(args["account"])] = int(args["revokedAt"])
    entries = []
    for institution_id, accounts in sorted(hospitals.items()):
        keys = []
        for account, revoked_at in accounts.items():
            member, kind, added_at, state_revoked = _account_info(ledger, account, head)
            if (member, kind, state_revoked) != (id_to_bytes32(institution_id), _HOSPITAL, revoked_at) or not added_at:
                raise ChainStateMismatch(
                    f"at block {head} the events bind {account} to hospital {institution_id} (revokedAt {revoked_at}) "
                    f"but accountInfo says member {bytes32_to_id(member)!r} kind {kind} addedAt {added_at} "
                    f"revokedAt {state_revoked}"
                )
            keys.append(RegistryKey(account, int(added_at), int(state_revoked)))
        entries.append(HospitalKeys(institution_id, tuple(keys)))
    return RegistrySnapshot(chain_id=ledger.chain_id, contract=ledger.contract_address, block_number=head,
                            block_hash=block_hash, hospitals=tuple(entries))


def advance_snapshot(ledger: Web3Ledger, old: RegistrySnapshot | None) -> tuple[RegistrySnapshot, bool]:
    """The registry snapshot at the chain's head, and whether ``old``'s block is still on the chain.

    A full export reads every event of the contract from block 0 and decodes them: tens
    to hundreds of ms of CPU on a busy chain, every few seconds for a verification
    service. Registry changes are rare, so when ``old`` is still on the chain (its block
    hash unchanged) and no registry event was logged after it, the same keys are re-dated
    to the head instead (one filtered ``eth_getLogs`` and two block reads). When ``old``'s
    block is gone, the caller must also forget what it learnt from the chain since.
    """
    if old is None:
        return export_snapshot(ledger), True
    reader = EventReader(ledger)
    head = reader.head()
    if reader.block_hash(old.block_number) != old.block_hash:
        return export_snapshot(ledger), False
    if head == old.block_number:
        return old, True
    topics = ["0x" + event_abi_to_log_topic(cast(ABIEvent, abi)).hex() for abi in ledger.contract.abi
              if abi.get("type") == "event" and abi.get("name") in _REGISTRY_EVENTS]
    try:
        changed = ledger.w3.eth.get_logs({"address": ledger.contract.address, "fromBlock": old.block_number + 1,
                                          "toBlock": head, "topics": [cast(list[HexStr], topics)]})
    except Exception as exc:  # provider-specific connection errors
        raise ChainUnavailable(f"cannot read registry events: {exc}") from exc
    block_hash = reader.block_hash(head)
    if changed or block_hash is None:
        return export_snapshot(ledger), True
    return RegistrySnapshot(chain_id=old.chain_id, contract=old.contract, block_number=head, block_hash=block_hash,
                            hospitals=old.hospitals), True


def _account_info(ledger: Web3Ledger, account: str, block: int) -> tuple[Any, ...]:
    try:
        member, kind, added_at, revoked_at = ledger.contract.functions.accountInfo(account).call(
            block_identifier=block)
    except Exception as exc:  # provider-specific connection errors
        raise ChainUnavailable(f"cannot read accountInfo({account}) at block {block}: {exc}") from exc
    return bytes(member), int(kind), int(added_at), int(revoked_at)
