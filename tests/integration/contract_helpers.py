"""Helpers for testing EbillLedger on the in-process EVM (eth-tester + py-evm).

- :func:`decode_revert` turns a reverted call into ``(error name, args)`` using the ABI,
  so tests assert the exact custom error and its arguments, as OpenZeppelin's tests do.
- :class:`Ledger` sends transactions and decodes *every* log of a receipt, so tests
  assert the exact list of events (and that a refused transaction emitted none).
- :func:`sign_anchor_batch` and :func:`anchor_batch_digest` build the EIP-712
  ``AnchorBatch`` authorisation with eth-account, independently of the contract.
"""

from __future__ import annotations

import ast
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pytest
from eth_abi import decode as abi_decode
from eth_account import Account
from eth_account.messages import _hash_eip191_message, encode_typed_data
from eth_utils import function_abi_to_4byte_selector, to_checksum_address
from eth_utils.abi import collapse_if_tuple
from web3 import Web3
from web3.contract import Contract
from web3.exceptions import ContractCustomError, ContractPanicError

from ledger.hashing import keccak256

#: gas limit for transactions sent without estimation (estimation would hide reverts)
TX_GAS = 5_000_000

#: Solidity's built-in errors, which are not part of a contract's ABI
_BUILTIN_ERRORS: tuple[dict[str, Any], ...] = (
    {"type": "error", "name": "Error", "inputs": [{"name": "message", "type": "string"}]},
    {"type": "error", "name": "Panic", "inputs": [{"name": "code", "type": "uint256"}]},
)


def member_id(code: str) -> bytes:
    """bytes32 id of a hospital or payer: the ASCII code right-padded with zeros."""
    raw = code.encode("ascii")
    assert len(raw) <= 32, code
    return raw.ljust(32, b"\0")


def role(name: str) -> bytes:
    """OpenZeppelin role id ``keccak256(name)``."""
    return keccak256(name.encode())


DEFAULT_ADMIN_ROLE = b"\0" * 32
HOSPITAL_ROLE = role("HOSPITAL_ROLE")
PAYER_ROLE = role("PAYER_ROLE")
REGISTRAR_ROLE = role("REGISTRAR_ROLE")
REGISTRY_ONLY = role("REGISTRY_ONLY")
ZERO_ADDRESS = "0x" + "00" * 20
ZERO32 = b"\0" * 32


# --- reverts ----------------------------------------------------------------------------


def _errors_by_selector(abi: Sequence[Mapping[str, Any]]) -> dict[bytes, Mapping[str, Any]]:
    entries = [e for e in abi if e.get("type") == "error"] + list(_BUILTIN_ERRORS)
    return {function_abi_to_4byte_selector(e): e for e in entries}


def error_selector(abi: Sequence[Mapping[str, Any]], name: str) -> bytes:
    """4-byte selector of the custom error ``name`` declared in ``abi``."""
    for selector, entry in _errors_by_selector(abi).items():
        if entry["name"] == name:
            return selector
    raise KeyError(f"no error {name!r} in the ABI")


def revert_data(exc: BaseException) -> bytes:
    """The raw revert data carried by a web3 / eth-tester exception.

    web3 8 on eth-tester raises eth-tester's ``TransactionFailed`` whose message is
    ``"execution reverted: <python bytes literal>"`` for custom errors; JSON-RPC
    providers raise ``ContractCustomError`` / ``ContractPanicError`` with hex ``data``.
    """
    if isinstance(exc, ContractCustomError | ContractPanicError) and isinstance(exc.data, str):
        return bytes.fromhex(exc.data.removeprefix("0x"))
    message = exc.args[0] if exc.args else ""
    if isinstance(message, bytes):
        return message
    if isinstance(message, str):
        literal = message.removeprefix("execution reverted: ")
        if literal.startswith(("b'", 'b"')):
            value = ast.literal_eval(literal)
            if isinstance(value, bytes):
                return value
    raise AssertionError(f"cannot find revert data in {exc!r}")


def _normalise(typ: str, value: Any) -> Any:
    if typ == "address":
        return to_checksum_address(value)
    if typ.endswith("[]"):
        return tuple(_normalise(typ[:-2], v) for v in value)
    return value


def decode_revert(
    exc: BaseException, abi: Sequence[Mapping[str, Any]]
) -> tuple[str, tuple[Any, ...]]:
    """``(error name, decoded args)`` of the revert carried by ``exc``.

    Addresses come back checksummed, so they compare equal to web3's accounts.
    """
    data = revert_data(exc)
    entry = _errors_by_selector(abi).get(data[:4])
    if entry is None:
        raise AssertionError(f"revert data {data.hex()} matches no error of the ABI")
    types = [collapse_if_tuple(i) for i in entry["inputs"]]
    values = abi_decode(types, data[4:])
    return entry["name"], tuple(_normalise(t, v) for t, v in zip(types, values, strict=True))


# --- events -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Event:
    """A decoded log: event name and its arguments (``bytes`` for byte values)."""

    name: str
    args: dict[str, Any]


def _plain(value: Any) -> Any:
    # HexBytes compares equal to bytes but prints less readably in assertion diffs
    if isinstance(value, bytes):
        return bytes(value)
    return value


# --- the contract under test ------------------------------------------------------------


@dataclass
class Ledger:
    """An EbillLedger deployment on an eth-tester chain."""

    w3: Web3
    contract: Contract

    @property
    def abi(self) -> list[dict[str, Any]]:
        return self.contract.abi

    @property
    def fn(self) -> Any:
        """``contract.functions``."""
        return self.contract.functions

    def send(self, call: Any, sender: str) -> Any:
        """Mine ``call`` from ``sender`` and return its receipt; fail the test on a revert."""
        tx = call.transact({"from": sender, "gas": TX_GAS})
        receipt = self.w3.eth.wait_for_transaction_receipt(tx)
        if receipt.status != 1:
            try:
                call.call({"from": sender})
            except Exception as exc:
                pytest.fail(f"transaction reverted: {decode_revert(exc, self.abi)}")
            pytest.fail("transaction reverted (the replayed call did not)")
        return receipt

    def events(self, receipt: Any) -> list[Event]:
        """Every log of ``receipt``, decoded against the ledger's ABI, in order."""
        by_topic = {
            Web3.keccak(text=_event_signature(e)): e["name"]
            for e in self.abi
            if e["type"] == "event"
        }
        out: list[Event] = []
        for log in receipt.logs:
            assert log.address == self.contract.address, "log from another contract"
            name = by_topic[bytes(log.topics[0])]
            decoded = getattr(self.contract.events, name)().process_log(log)
            out.append(Event(name, {k: _plain(v) for k, v in decoded.args.items()}))
        return out

    def transact_events(self, call: Any, sender: str) -> list[Event]:
        """Mine ``call`` and return the events it emitted."""
        return self.events(self.send(call, sender))

    def revert_of(self, call: Any, sender: str) -> tuple[str, tuple[Any, ...]]:
        """The custom error ``call`` from ``sender`` reverts with (fails if it does not)."""
        try:
            call.call({"from": sender})
        except Exception as exc:
            return decode_revert(exc, self.abi)
        pytest.fail("call did not revert")

    def assert_reverts(self, call: Any, sender: str, error: str, *args: Any) -> None:
        """``call`` from ``sender`` reverts with ``error(*args)``, mined or not.

        The transaction is also mined (explicit gas, no estimation) to check that the
        chain records it as failed and that it emitted no event.
        """
        assert self.revert_of(call, sender) == (error, args)
        tx = call.transact({"from": sender, "gas": TX_GAS})
        receipt = self.w3.eth.wait_for_transaction_receipt(tx)
        assert receipt.status == 0
        assert receipt.logs == []

    def selector(self, error: str) -> bytes:
        return error_selector(self.abi, error)


def _event_signature(entry: Mapping[str, Any]) -> str:
    return f"{entry['name']}({','.join(collapse_if_tuple(i) for i in entry['inputs'])})"


# --- EIP-712 AnchorBatch ----------------------------------------------------------------

ANCHOR_BATCH_TYPES = {
    "AnchorBatch": [
        {"name": "root", "type": "bytes32"},
        {"name": "leafCount", "type": "uint32"},
    ]
}


def _domain(*, chain_id: int, verifying_contract: str) -> dict[str, Any]:
    return {
        "name": "EbillLedger",
        "version": "1",
        "chainId": chain_id,
        "verifyingContract": verifying_contract,
    }


def anchor_batch_digest(
    *, chain_id: int, verifying_contract: str, root: bytes, leaf_count: int
) -> bytes:
    """The EIP-712 digest of ``AnchorBatch(root, leafCount)``, computed by eth-account."""
    message = encode_typed_data(
        _domain(chain_id=chain_id, verifying_contract=verifying_contract),
        ANCHOR_BATCH_TYPES,
        {"root": root, "leafCount": leaf_count},
    )
    return bytes(_hash_eip191_message(message))


def sign_anchor_batch(
    private_key: Any, *, chain_id: int, verifying_contract: str, root: bytes, leaf_count: int
) -> bytes:
    """65-byte ``r || s || v`` EIP-712 signature of ``AnchorBatch(root, leafCount)``."""
    signed = Account.sign_typed_data(
        private_key,
        _domain(chain_id=chain_id, verifying_contract=verifying_contract),
        ANCHOR_BATCH_TYPES,
        {"root": root, "leafCount": leaf_count},
    )
    return bytes(signed.signature)
