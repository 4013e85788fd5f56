"""How the ledger contract spells members and errors: ids as ``bytes32``, reverts by name.

Member ids (institution and payer codes) are ASCII right-padded with zeros to 32 bytes,
so they stay readable in a block explorer. A revert carries a custom error's 4-byte
selector and ABI-encoded arguments; :class:`ContractErrors` names it from the ABI, so
callers see ``ContractReverted("InvoiceAlreadyVoided", …)`` rather than raw bytes.
"""

from __future__ import annotations

import ast
import contextlib
import re
from collections.abc import Mapping, Sequence
from typing import Any, cast

from eth_abi.abi import decode as abi_decode
from eth_typing import ABIElement
from eth_utils.abi import function_abi_to_4byte_selector

from ledger.errors import ContractReverted
from ledger.hashing import to_hex

_PANIC = bytes.fromhex("4e487b71")
_ERROR_STRING = bytes.fromhex("08c379a0")


def id_to_bytes32(text: str) -> bytes:
    """Institution / payer id as bytes32: its ASCII, right-padded with zeros (readable in explorers)."""
    raw = text.encode("ascii")
    if not raw or len(raw) > 32:
        raise ValueError(f"id must be 1-32 ASCII characters, got {text!r}")
    return raw.ljust(32, b"\0")


def bytes32_to_id(raw: bytes) -> str:
    """The member id a ``bytes32`` holds (its zero padding dropped)."""
    return bytes(raw).rstrip(b"\0").decode("ascii", errors="replace")


def selector_of(entry: Mapping[str, Any]) -> bytes:
    """The 4-byte selector of an ABI function or error entry."""
    return bytes(function_abi_to_4byte_selector(cast(ABIElement, entry)))


class ContractErrors:
    """The custom errors of a contract's ABI, by selector."""

    def __init__(self, abi: Sequence[Mapping[str, Any]]) -> None:
        self._table: dict[bytes, tuple[str, list[str]]] = {
            selector_of(e): (str(e["name"]), [i["type"] for i in e["inputs"]]) for e in abi if e.get("type") == "error"}

    def name_of(self, selector: bytes) -> str:
        """The name of the custom error with this selector (0x-hex when the ABI has none)."""
        entry = self._table.get(bytes(selector))
        return entry[0] if entry is not None else "0x" + bytes(selector).hex()

    def decode(self, data: bytes) -> tuple[str, tuple[Any, ...]]:
        """(custom error name, decoded arguments) of revert ``data``."""
        selector, body = data[:4], data[4:]
        if selector == _ERROR_STRING:
            return "Error", tuple(abi_decode(["string"], body))
        if selector == _PANIC:
            return "Panic", tuple(abi_decode(["uint256"], body))
        if selector in self._table:
            name, types = self._table[selector]
            return name, tuple(abi_decode(types, body))
        return f"unknown error 0x{data[:4].hex()}", (to_hex(data),)

    def reverted(self, exc: BaseException, label: str) -> ContractReverted:
        """The :class:`ContractReverted` a web3 or eth-tester revert exception stands for."""
        data = revert_data(exc)
        if data is not None and len(data) >= 4:
            name, args = self.decode(data)
            return ContractReverted(name, args, function=label)
        return ContractReverted(str(exc) or type(exc).__name__, function=label)


def revert_data(exc: BaseException) -> bytes | None:
    """Raw revert data: web3's ``.data`` (JSON-RPC nodes) or, for eth-tester, the raw
    bytes its provider wrapper leaves in the original exception (``__context__``)."""
    data = getattr(exc, "data", None)
    if isinstance(data, str) and data.startswith("0x"):
        return bytes.fromhex(data[2:])
    ctx: BaseException | None = exc
    while ctx is not None:
        first = ctx.args[0] if ctx.args else None
        if isinstance(first, Exception) and first.args:
            first = first.args[0]
        if isinstance(first, bytes | bytearray):
            return bytes(first)
        if isinstance(first, str) and (shown := _BYTES_SHOWN.fullmatch(first)):
            # eth-tester's eth_call leaves the data only as the bytes' repr in its message
            with contextlib.suppress(ValueError, SyntaxError):
                raw = ast.literal_eval(shown.group(1))
                if isinstance(raw, bytes):
                    return raw
        ctx = ctx.__context__
    return None


#: a message holding revert data as Python shows bytes (``execution reverted: b"..."``)
_BYTES_SHOWN = re.compile(r"""(?:execution reverted: )?(b(['"]).*\2)""", re.S)


def decode_selector(abi: Sequence[Mapping[str, Any]], selector: bytes) -> str:
    """Name of the custom error with this 4-byte selector (for StampRefused events)."""
    return ContractErrors(abi).name_of(selector)
