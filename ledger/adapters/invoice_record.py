"""The contract's ``invoiceRecord``: the one read every verification and every claim makes.

``invoiceRecord(bytes32 issuer, bytes32 fingerprint)`` returns the invoice's record, a
struct of static members, one 32-byte word each. The contract's (see the committed
ABI) is ``(uint80 reservedFen, uint80 paidFen, uint80 totalFen, bool voided)``. Here:

- :func:`record_layout` reads where the words are from an ABI, and
  :func:`decode_invoice_record` is the one decoder of the result, used by every path
  (web3's in-process call, the blocking raw call, the awaited one);
- :class:`InvoiceRecordCall` is the raw ``eth_call`` of one contract: its JSON-RPC
  request, and the state (or the error) its answer holds;
- :class:`AsyncInvoiceReader` awaits it on an event loop (``POST /v1/verify``), over
  :class:`~ledger.adapters.jsonrpc.JsonRpcHttp`, the client :class:`Web3Ledger
  <ledger.adapters.web3_chain.Web3Ledger>` also reads it with from threads.

Errors: a node that cannot be reached or answers garbage raises
:class:`~ledger.errors.ChainUnavailable`; a JSON-RPC error, a record of the wrong size
or out of its types' range raises :class:`~ledger.errors.ChainError` (a revert the
ABI names: :class:`~ledger.errors.ContractReverted`).
"""

from __future__ import annotations

import ssl
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from ledger.adapters.jsonrpc import JsonRpcHttp
from ledger.errors import ChainError, ContractReverted
from ledger.hashing import Fingerprint, keccak256
from ledger.onchain import InvoiceChainState

#: selector of ``invoiceRecord(bytes32 issuer, bytes32 fingerprint)``
INVOICE_RECORD = keccak256(b"invoiceRecord(bytes32,bytes32)")[:4]

#: word positions of reservedFen, paidFen and voided in the result, and its word count. A
#: record of four words has totalFen in the remaining one (:func:`record_layout` allows no other member).
RecordLayout = tuple[int, int, int, int]
#: a record of reservedFen, paidFen, voided (no pinned total): the reader's default
DEFAULT_LAYOUT: RecordLayout = (0, 1, 2, 3)
#: the contract's record, reservedFen, paidFen, totalFen, voided: ``record_layout`` of the
#: committed ABI (tests/unit/test_invoice_record.py checks they agree)
CONTRACT_LAYOUT: RecordLayout = (0, 1, 3, 4)
#: bytes of the contract's record
INVOICE_RECORD_SIZE = 32 * CONTRACT_LAYOUT[3]
_MEMBERS = ("reservedFen", "paidFen", "voided")
#: the amounts are uint80 on chain
_AMOUNT_LIMIT = 2**80

ErrorDecoder = Callable[[bytes], tuple[str, tuple[Any, ...]]]


def record_layout(abi: Sequence[Mapping[str, Any]]) -> RecordLayout:
    """Where ``invoiceRecord``'s result holds reservedFen, paidFen and voided, from the
    contract ABI (a struct of static members: one word each, in declaration order).

    Raises ``ValueError`` when the ABI has no such function, or its record lacks one of
    those members or has another besides totalFen.
    """
    for item in abi:
        if item.get("type") == "function" and item.get("name") == "invoiceRecord":
            outputs = item["outputs"]
            members = outputs[0]["components"] if len(outputs) == 1 and outputs[0]["type"] == "tuple" else outputs
            names = [m["name"] for m in members]
            if any(n not in (*_MEMBERS, "totalFen") for n in names) or len(set(names)) != len(names):
                raise ValueError(f"invoiceRecord returns {names}: members other than reservedFen, paidFen, "
                                 "totalFen and voided")
            try:
                return names.index("reservedFen"), names.index("paidFen"), names.index("voided"), len(names)
            except ValueError:
                raise ValueError(f"invoiceRecord returns {names}, not reservedFen, paidFen and voided") from None
    raise ValueError("the ABI has no invoiceRecord function")


def decode_invoice_record(out: bytes, layout: RecordLayout = CONTRACT_LAYOUT) -> InvoiceChainState:
    """The ABI-encoded result of ``invoiceRecord`` laid out as ``layout`` (default: the contract's).

    Raises :class:`ChainError` for a result of another size than the layout's, a ``voided``
    word other than 0 or 1, or an amount beyond uint80.
    """
    reserved, paid, voided, count = layout
    if len(out) != 32 * count:
        raise ChainError(f"invoiceRecord returned {len(out)} bytes, expected {32 * count}")
    words = [int.from_bytes(out[i:i + 32], "big") for i in range(0, 32 * count, 32)]
    total = next((words[i] for i in range(count) if i not in (reserved, paid, voided)), 0)
    if words[voided] > 1 or max(words[reserved], words[paid], total) >= _AMOUNT_LIMIT:
        raise ChainError(f"invoiceRecord returned a malformed record 0x{out.hex()}")
    return InvoiceChainState(words[reserved], words[paid], words[voided] == 1, total)


def calldata(issuer: str, fingerprint: Fingerprint) -> bytes:
    """``invoiceRecord(issuer, fingerprint)`` encoded: the selector, the issuer's id as bytes32, the fingerprint."""
    raw_issuer = issuer.encode("ascii")
    if not raw_issuer or len(raw_issuer) > 32:
        raise ValueError(f"issuer must be 1-32 ASCII characters, got {issuer!r}")
    return INVOICE_RECORD + raw_issuer.ljust(32, b"\0") + bytes(fingerprint)


class InvoiceRecordCall:
    """The raw ``invoiceRecord`` eth_call of the contract at ``contract``.

    ``errors`` names a revert from its data (the contract's ABI); without it a reverted
    call is a plain :class:`ChainError`.
    """

    def __init__(self, contract: str, *, layout: RecordLayout = CONTRACT_LAYOUT,
                 errors: ErrorDecoder | None = None) -> None:
        # the request is built by concatenation: the hot path's JSON encoder is not needed for two hex strings
        self._prefix = (b'{"jsonrpc":"2.0","id":1,"method":"eth_call","params":[{"to":"' + contract.encode()
                        + b'","data":"0x')
        self.layout = layout
        self._errors = errors

    def request(self, issuer: str, fingerprint: Fingerprint) -> bytes:
        """The JSON-RPC request body."""
        return self._prefix + calldata(issuer, fingerprint).hex().encode() + b'"},"latest"]}'

    def state(self, answer: Mapping[str, object]) -> InvoiceChainState:
        """The record a JSON-RPC answer holds; raises for an error answer."""
        if "error" in answer:
            err = answer["error"]
            data = err.get("data") if isinstance(err, dict) else None
            if self._errors is not None and isinstance(data, str) and data.startswith("0x") and len(data) >= 10:
                name, args = self._errors(bytes.fromhex(data[2:]))
                raise ContractReverted(name, args, function="invoiceRecord")
            raise ChainError(f"invoiceRecord call failed: {err}")
        result = answer.get("result")
        try:
            out = bytes.fromhex(result[2:]) if isinstance(result, str) and result.startswith("0x") else b""
        except ValueError:
            out = b""
        return decode_invoice_record(out, self.layout)


class AsyncInvoiceReader:
    """``invoiceRecord`` of one ledger contract, awaited, over kept-alive HTTP connections.

    Its connections belong to the event loop that opened them (a uvicorn worker has one);
    used from another loop, it forgets them and opens new ones. ``ValueError`` at
    construction for anything but an ``http://`` or ``https://`` URL.
    """

    def __init__(self, url: str, *, contract: str, layout: RecordLayout = DEFAULT_LAYOUT,
                 timeout: float = 10.0, errors: ErrorDecoder | None = None,
                 headers: Mapping[str, str] | None = None, ssl_context: ssl.SSLContext | None = None) -> None:
        self._rpc = JsonRpcHttp(url, timeout=timeout, headers=headers, ssl_context=ssl_context)
        self._call = InvoiceRecordCall(contract, layout=layout, errors=errors)

    async def invoice_state(self, issuer: str, fingerprint: Fingerprint) -> InvoiceChainState:
        """The contract's reserved / paid / voided record (and pinned total) of ``issuer``'s invoice ``fingerprint``."""
        return self._call.state(await self._rpc.apost(self._call.request(issuer, fingerprint)))

    def close(self) -> None:
        """Close the idle connections (on the event loop that opened them)."""
        self._rpc.close()
