"""Exporting the hospitals registry from a node as a :class:`~verifier.registry.RegistrySnapshot`.

The keys come from the contract's events (``MemberRegistered``, ``KeyAdded``,
``KeyRevoked``) up to one block, and each account is then read back with
``accountInfo`` *at that same block*: the two must agree (member, kind, revocation),
and ``addedAt`` comes from the contract's state. Any disagreement raises
:class:`~ledger.errors.ChainStateMismatch` rather than producing a snapshot an
offline verifier would trust.
"""

from __future__ import annotations

from typing import Any

from eth_utils.address import to_checksum_address

from ledger.adapters.contract_codec import bytes32_to_id, id_to_bytes32
from ledger.adapters.events import EventReader
from ledger.adapters.web3_chain import Web3Ledger
from ledger.errors import ChainStateMismatch, ChainUnavailable
from verifier.registry import HospitalKeys, RegistryKey, RegistrySnapshot

_HOSPITAL = 1  # IEbillLedger.MemberKind.Hospital


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


def _account_info(ledger: Web3Ledger, account: str, block: int) -> tuple[Any, ...]:
    try:
        member, kind, added_at, revoked_at = ledger.contract.functions.accountInfo(account).call(
            block_identifier=block)
    except Exception as exc:  # provider-specific connection errors
        raise ChainUnavailable(f"cannot read accountInfo({account}) at block {block}: {exc}") from exc
    return bytes(member), int(kind), int(added_at), int(revoked_at)
