"""ledger.adapters.invoice_record and .jsonrpc: the raw invoiceRecord eth_call, against a tiny
in-process HTTP server, awaited and blocking.

Content-Length and chunked answers, keep-alive reuse, a node that closes idle
connections, JSON-RPC errors, garbage and a dead port. The real node is exercised in
tests/api/test_verify_anvil.py.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from contracts import load_artifact
from ledger.adapters.invoice_record import (
    CONTRACT_LAYOUT,
    DEFAULT_LAYOUT,
    INVOICE_RECORD,
    AsyncInvoiceReader,
    InvoiceRecordCall,
    decode_invoice_record,
    record_layout,
)
from ledger.adapters.jsonrpc import JsonRpcHttp
from ledger.errors import ChainError, ChainUnavailable, ContractReverted
from ledger.hashing import Fingerprint
from ledger.onchain import InvoiceChainState

CONTRACT = "0x5FbDB2315678afecb367f032d93F642f64180aa3"
FP = Fingerprint(bytes(range(32)))


def words(*values: int) -> str:
    return "0x" + b"".join(v.to_bytes(32, "big") for v in values).hex()


Handler = Callable[[dict[str, Any], int], Awaitable[bytes]]


async def serve(handler: Handler) -> tuple[asyncio.AbstractServer, str, list[dict[str, Any]], list[int]]:
    """An HTTP/1.1 server answering each JSON-RPC request with ``handler(request, connection number)``."""
    seen: list[dict[str, Any]] = []
    connections: list[int] = []

    async def client(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        connections.append(len(connections))
        number = connections[-1]
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = int(head.lower().split(b"content-length:")[1].split(b"\r\n")[0])
                doc = json.loads(await reader.readexactly(length))
                seen.append(doc)
                writer.write(await handler(doc, number))
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(client, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    return server, f"http://127.0.0.1:{port}", seen, connections


def answer(result: str, *, chunked: bool = False, close: bool = False) -> bytes:
    body = json.dumps({"jsonrpc": "2.0", "id": 1, "result": result}).encode()
    extra = b"Connection: close\r\n" if close else b""
    if chunked:
        half = len(body) // 2
        chunks = b"".join(b"%x\r\n%s\r\n" % (len(c), c) for c in (body[:half], body[half:])) + b"0\r\n\r\n"
        return b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n" + extra + b"\r\n" + chunks
    return b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n" + extra + b"Content-Length: %d\r\n\r\n%s" % (
        len(body), body)


def run(coro: Awaitable[Any]) -> Any:
    return asyncio.run(coro)  # type: ignore[arg-type]


def test_reads_the_record_and_reuses_one_connection() -> None:
    async def main() -> None:
        async def handler(doc: dict[str, Any], _: int) -> bytes:
            return answer(words(700, 300, 1))

        server, url, seen, connections = await serve(handler)
        reader = AsyncInvoiceReader(url, contract=CONTRACT)
        for _ in range(3):
            state = await reader.invoice_state("H33010200001", FP)
            assert (state.reserved_fen, state.paid_fen, state.voided) == (700, 300, True)
        assert len(connections) == 1
        call = seen[0]
        assert call["method"] == "eth_call" and call["params"][1] == "latest"
        assert call["params"][0] == {"to": CONTRACT, "data": "0x" + (
            INVOICE_RECORD + b"H33010200001".ljust(32, b"\0") + bytes(FP)).hex()}
        reader.close()
        server.close()

    run(main())


def test_chunked_answers_a_node_closing_connections_and_a_four_word_record() -> None:
    async def main() -> None:
        async def handler(doc: dict[str, Any], number: int) -> bytes:
            return answer(words(5, 6, 999, 0), chunked=number % 2 == 0, close=True)

        server, url, _, connections = await serve(handler)
        fields = [{"name": "reservedFen"}, {"name": "paidFen"}, {"name": "totalFen"}, {"name": "voided"}]
        layout = record_layout([{"type": "function", "name": "invoiceRecord",
                                 "outputs": [{"type": "tuple", "components": fields}]}])
        reader = AsyncInvoiceReader(url, contract=CONTRACT, layout=layout)
        for _ in range(3):
            state = await reader.invoice_state("H1", FP)
            assert (state.reserved_fen, state.paid_fen, state.voided) == (5, 6, False)
        assert len(connections) == 3      # "Connection: close" is honoured
        server.close()

    run(main())


def test_a_pooled_connection_the_node_dropped_is_retried_once() -> None:
    async def main() -> None:
        async def handler(doc: dict[str, Any], number: int) -> bytes:
            return answer(words(1, 2, 0))

        server, url, seen, connections = await serve(handler)
        reader = AsyncInvoiceReader(url, contract=CONTRACT)
        await reader.invoice_state("H1", FP)
        # the node drops the idle keep-alive connection without saying so (a restart, an idle timeout)
        for _, writer in reader._rpc._idle:
            writer.transport.abort()
        await asyncio.sleep(0.01)
        state = await reader.invoice_state("H1", FP)
        assert (state.reserved_fen, state.paid_fen, len(connections), len(seen)) == (1, 2, 2, 2)
        server.close()

    run(main())


@pytest.mark.parametrize("reply, error", [
    (b'HTTP/1.1 200 OK\r\nContent-Length: 58\r\n\r\n{"jsonrpc":"2.0","id":1,"error":{"code":3,"message":"no"}}',
     ChainError),
    (answer(words(1, 2)), ChainError),                                  # a record of the wrong size
    (b"HTTP/1.1 500 Internal Server Error\r\nContent-Length: 0\r\n\r\n", ChainUnavailable),
    (b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello", ChainUnavailable),
    (b"HTTP/1.1 200 OK\r\n\r\n{}", ChainUnavailable),                   # neither length nor chunks
])
def test_errors_are_chain_errors_never_crashes(reply: bytes, error: type[Exception]) -> None:
    async def main() -> None:
        async def handler(doc: dict[str, Any], number: int) -> bytes:
            return reply

        server, url, _, _ = await serve(handler)
        with pytest.raises(error):
            await AsyncInvoiceReader(url, contract=CONTRACT, timeout=2).invoice_state("H1", FP)
        server.close()

    run(main())


def test_a_dead_node_is_chain_unavailable_and_only_http_or_https_is_accepted() -> None:
    with pytest.raises(ChainUnavailable):
        run(AsyncInvoiceReader("http://127.0.0.1:9", contract=CONTRACT, timeout=2).invoice_state("H1", FP))
    AsyncInvoiceReader("https://node.example", contract=CONTRACT)   # a Besu node behind TLS (deploy/besu)
    for url in ("ws://127.0.0.1:8545", "not a url", "https://"):
        with pytest.raises(ValueError):
            AsyncInvoiceReader(url, contract=CONTRACT)
    assert DEFAULT_LAYOUT == (0, 1, 2, 3)


def test_the_contracts_record_layout_is_the_one_decoded_by_default() -> None:
    assert record_layout(load_artifact().abi) == CONTRACT_LAYOUT
    assert decode_invoice_record(bytes.fromhex(words(5, 6, 11, 1)[2:])) == InvoiceChainState(5, 6, True, 11)
    with pytest.raises(ValueError):   # a member the decoder would misread as the total
        record_layout([{"type": "function", "name": "invoiceRecord", "outputs": [
            {"name": n} for n in ("reservedFen", "paidFen", "voided", "claimCount")]}])


def test_the_awaited_read_keeps_the_pinned_total() -> None:
    """The contract's four-word record read awaited has its totalFen (the reader used to drop it)."""
    async def main() -> None:
        async def handler(doc: dict[str, Any], _: int) -> bytes:
            return answer(words(5, 6, 999, 0))

        server, url, _, _ = await serve(handler)
        reader = AsyncInvoiceReader(url, contract=CONTRACT, layout=CONTRACT_LAYOUT)
        assert await reader.invoice_state("H1", FP) == InvoiceChainState(5, 6, False, 999)
        reader.close()
        server.close()

    run(main())


def test_a_revert_the_abi_names_is_contract_reverted() -> None:
    call = InvoiceRecordCall(CONTRACT, errors=lambda data: ("UnknownMember", (data[4:].hex(),)))
    with pytest.raises(ContractReverted) as caught:
        call.state({"error": {"code": 3, "message": "execution reverted", "data": "0x12345678" + "00" * 32}})
    assert caught.value.error == "UnknownMember"
    with pytest.raises(ChainError):
        call.state({"result": words(1, 2, 3, 2, 0)[:-64]})   # voided = 2: not a bool


def test_the_blocking_side_keeps_one_connection_per_thread_and_reconnects_once() -> None:
    """JsonRpcHttp.post (Web3Ledger's raw reads): keep-alive reuse, a dropped connection
    re-opened once, and a node's HTTP error or garbage as ChainUnavailable."""
    async def main() -> None:
        replies = [answer(words(1, 2, 3, 0)), answer(words(1, 2, 3, 0), close=True), answer(words(4, 5, 6, 1)),
                   b"HTTP/1.1 500 Internal Server Error\r\nContent-Length: 0\r\n\r\n",
                   b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello"]

        async def handler(doc: dict[str, Any], _: int) -> bytes:
            return replies.pop(0)

        server, url, seen, connections = await serve(handler)
        rpc = JsonRpcHttp(url)
        call = InvoiceRecordCall(CONTRACT)

        def read() -> InvoiceChainState:
            return call.state(rpc.post(call.request("H1", FP)))

        assert await asyncio.to_thread(lambda: [read(), read()]) == [InvoiceChainState(1, 2, False, 3)] * 2
        assert len(connections) == 1                 # the second read reused the first connection
        assert await asyncio.to_thread(read) == InvoiceChainState(4, 5, True, 6)
        assert len(connections) == 2                 # the node had closed it: one fresh connection
        for _ in range(2):
            with pytest.raises(ChainUnavailable):
                await asyncio.to_thread(read)
        assert seen[0]["params"][0]["data"] == "0x" + (INVOICE_RECORD + b"H1".ljust(32, b"\0") + bytes(FP)).hex()
        rpc.close()
        server.close()

    run(main())
