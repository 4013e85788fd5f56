"""The one chain read every online verification makes, ``invoiceRecord``, as an asyncio eth_call.

``POST /v1/verify`` awaits this instead of calling web3 in a worker thread: a raw
HTTP/1.1 JSON-RPC request on a pooled keep-alive connection costs a few tens of µs of
CPU, where web3's provider costs about 1 ms and a thread hop more again, and an event
loop can have many calls in flight at once. Plain ``http://`` endpoints only (a node on
the same host or network); anything else is refused at construction so the caller keeps
its synchronous path.

Errors: a node that cannot be reached or answers garbage raises
:class:`~ledger.errors.ChainUnavailable`; a JSON-RPC error raises
:class:`~ledger.errors.ChainError`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import urlsplit

import orjson

from ledger.errors import ChainError, ChainUnavailable
from ledger.hashing import Fingerprint, keccak256
from ledger.ports import InvoiceChainState

#: selector of ``invoiceRecord(bytes32 issuer, bytes32 fingerprint)``
#: ``returns (uint256 reserved, uint256 paid, bool voided)``
INVOICE_RECORD = keccak256(b"invoiceRecord(bytes32,bytes32)")[:4]
MAX_IDLE = 64
_MAX_RESPONSE = 1 << 20

_Conn = tuple[asyncio.StreamReader, asyncio.StreamWriter]
#: word positions of reservedFen, paidFen and voided in the result, and its word count
RecordLayout = tuple[int, int, int, int]
DEFAULT_LAYOUT: RecordLayout = (0, 1, 2, 3)


def record_layout(abi: Sequence[Mapping[str, Any]]) -> RecordLayout:
    """Where ``invoiceRecord``'s result holds reservedFen, paidFen and voided, from the
    contract ABI (a struct of static members: one word each, in declaration order)."""
    for item in abi:
        if item.get("type") == "function" and item.get("name") == "invoiceRecord":
            outputs = item["outputs"]
            members = outputs[0]["components"] if len(outputs) == 1 and outputs[0]["type"] == "tuple" else outputs
            names = [m["name"] for m in members]
            try:
                return names.index("reservedFen"), names.index("paidFen"), names.index("voided"), len(names)
            except ValueError:
                raise ValueError(f"invoiceRecord returns {names}, not reservedFen, paidFen and voided") from None
    raise ValueError("the ABI has no invoiceRecord function")


class AsyncInvoiceReader:
    """``invoiceRecord`` of one ledger contract over a pool of keep-alive HTTP connections.

    Its connections belong to the event loop that opened them (a uvicorn worker has one);
    used from another loop, it forgets them and opens new ones.
    """

    def __init__(self, url: str, *, contract: str, layout: RecordLayout = DEFAULT_LAYOUT,
                 timeout: float = 10.0) -> None:
        parts = urlsplit(url)
        if parts.scheme != "http" or not parts.hostname:
            raise ValueError(f"only plain http:// JSON-RPC endpoints are supported here, got {url!r}")
        self._host, self._port = parts.hostname, parts.port or 80
        path = parts.path or "/"
        self._head = (f"POST {path} HTTP/1.1\r\nHost: {parts.netloc}\r\nContent-Type: application/json\r\n"
                      f"Connection: keep-alive\r\nContent-Length: ").encode()
        self._call_prefix = b'{"jsonrpc":"2.0","id":1,"method":"eth_call","params":[{"to":"' + contract.encode() \
            + b'","data":"0x' + INVOICE_RECORD.hex().encode()
        self._layout = layout
        self._timeout = timeout
        self._idle: list[_Conn] = []
        self._loop: asyncio.AbstractEventLoop | None = None

    async def invoice_state(self, issuer: str, fingerprint: Fingerprint) -> InvoiceChainState:
        """The contract's reserved / paid / voided record of ``issuer``'s invoice ``fingerprint``."""
        raw_issuer = issuer.encode("ascii")
        if not raw_issuer or len(raw_issuer) > 32:
            raise ValueError(f"issuer must be 1-32 ASCII characters, got {issuer!r}")
        body = (self._call_prefix + raw_issuer.ljust(32, b"\0").hex().encode() + bytes(fingerprint).hex().encode()
                + b'"},"latest"]}')
        doc = await self._post(body)
        if "error" in doc:
            raise ChainError(f"invoiceRecord call failed: {doc['error']}")
        result = doc.get("result")
        out = bytes.fromhex(result[2:]) if isinstance(result, str) and result.startswith("0x") else b""
        reserved, paid, voided, words = self._layout
        if len(out) != 32 * words:
            raise ChainError(f"invoiceRecord returned {len(out)} bytes, expected {32 * words}")

        def word(i: int) -> int:
            return int.from_bytes(out[32 * i:32 * i + 32], "big")

        return InvoiceChainState(word(reserved), word(paid), word(voided) == 1)

    async def _post(self, body: bytes) -> dict[str, object]:
        request = self._head + str(len(body)).encode() + b"\r\n\r\n" + body
        loop = asyncio.get_running_loop()
        if loop is not self._loop:  # connections belong to the loop that opened them
            self._idle.clear()
            self._loop = loop
        # a pooled connection may have been closed by the node: one retry on a fresh one
        for attempt in (0, 1):
            fresh = not self._idle
            try:
                async with asyncio.timeout(self._timeout):  # not wait_for: that starts a task per call
                    conn = self._idle.pop() if self._idle else await asyncio.open_connection(self._host, self._port)
            except (OSError, TimeoutError) as exc:
                raise ChainUnavailable(f"chain node {self._host}:{self._port} unreachable: {exc}") from exc
            try:
                async with asyncio.timeout(self._timeout):
                    payload, keep = await self._exchange(conn, request)
            except (OSError, TimeoutError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError) as exc:
                conn[1].close()
                if attempt == 0 and not fresh:
                    continue
                raise ChainUnavailable(f"chain node {self._host}:{self._port} failed during eth_call: "
                                       f"{type(exc).__name__}: {exc}") from exc
            if keep and len(self._idle) < MAX_IDLE:
                self._idle.append(conn)
            else:
                conn[1].close()
            try:
                doc = orjson.loads(payload)
            except orjson.JSONDecodeError as exc:
                raise ChainUnavailable(f"chain node answered non-JSON: {payload[:200]!r}") from exc
            if not isinstance(doc, dict):
                raise ChainUnavailable(f"chain node answered {payload[:200]!r}")
            return doc
        raise AssertionError("unreachable")  # pragma: no cover

    @staticmethod
    async def _exchange(conn: _Conn, request: bytes) -> tuple[bytes, bool]:
        reader, writer = conn
        writer.write(request)
        head = (await reader.readuntil(b"\r\n\r\n")).lower()
        if not head.startswith((b"http/1.1 200 ", b"http/1.0 200 ")):
            raise ValueError(f"HTTP status {head[:40]!r}")
        keep = b"\r\nconnection: close" not in head
        at = head.find(b"\r\ncontent-length:")
        if at >= 0:
            length = int(head[at + 17:head.index(b"\r\n", at + 2)])
            if length > _MAX_RESPONSE:
                raise ValueError(f"response of {length} bytes")
            return await reader.readexactly(length), keep
        if b"\r\ntransfer-encoding: chunked" in head:
            chunks: list[bytes] = []
            size_so_far = 0
            while True:
                size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
                if size == 0:
                    await reader.readuntil(b"\r\n")
                    return b"".join(chunks), keep
                size_so_far += size
                if size_so_far > _MAX_RESPONSE:
                    raise ValueError("response too large")
                chunks.append(await reader.readexactly(size))
                await reader.readexactly(2)
        raise ValueError("response without Content-Length or chunked encoding")

    def close(self) -> None:
        for _, writer in self._idle:
            writer.close()
        self._idle.clear()
