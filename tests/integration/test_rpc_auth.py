"""The service's JSON-RPC clients against a node that wants TLS and a token, as the kit's Besu nodes do.

The node is anvil behind :class:`rpc_recorder.RecordingProxy`, which serves the kit's
RPC-node certificate and checks tokens with the kit's public key (HTTP 401 otherwise, as
Besu answers). Both ways the service reaches a node are tried: web3's provider and the
raw client (:mod:`ledger.adapters.jsonrpc`), blocking and awaited.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Iterator
from pathlib import Path

import pytest
from rpc_recorder import RecordingProxy
from web3 import Web3

from ledger.adapters.anvil import AnvilConfig, AnvilNode, free_port
from ledger.adapters.besu import kit, pki
from ledger.adapters.besu.spec import KitSpec
from ledger.adapters.chains import open_node
from ledger.adapters.jsonrpc import JsonRpcHttp
from ledger.adapters.rpc_access import RpcAccess
from ledger.errors import ChainUnavailable, NotFound, ToolchainError

pytestmark = pytest.mark.anvil


@pytest.fixture(scope="module")
def proxy(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[RecordingProxy, Path]]:
    root = tmp_path_factory.mktemp("auth")
    kit.generate(KitSpec(validators=1), root / "kit")
    try:
        config = dataclasses.replace(AnvilConfig.besu_profile(root / "node", port=free_port()), block_time=None)
        with AnvilNode(config) as node, RecordingProxy(node.url, kit=root / "kit") as running:
            yield running, root / "kit"
    except ToolchainError as exc:  # pragma: no cover - depends on the machine
        pytest.skip(f"no anvil binary: {exc}")


def _access(proxy: RecordingProxy, root: Path, *, token: str | None = None, ca: bool = True) -> RpcAccess:
    return RpcAccess(proxy.url, token or (root / kit.SERVICE_TOKEN).read_text().strip(),
                     root / kit.CA_CERT if ca else None)


def _foreign_token() -> str:
    signing, _ = pki.new_signing_key()
    return pki.issue_token(signing, permissions=["*:*"], days=1, subject="intruder")


def test_the_kits_token_and_ca_open_the_node_both_ways(proxy: tuple[RecordingProxy, Path]) -> None:
    server, root = proxy
    access = _access(server, root)
    assert Web3(access.provider()).eth.chain_id == 31337
    raw = JsonRpcHttp(access.url, headers=access.headers(), ssl_context=access.ssl_context())
    assert raw.call("eth_chainId", [])["result"] == "0x7a69"
    assert raw.call("eth_chainId", [])["result"] == "0x7a69"    # the kept-alive TLS connection again

    async def awaited() -> object:
        try:
            return (await raw.acall("eth_gasPrice", []))["result"]
        finally:
            raw.close()

    assert asyncio.run(awaited()) == "0x0"
    # the service's own session: no deployment there yet, and it says how to make one
    with pytest.raises(NotFound, match="ebill chain deploy"):
        open_node("rpc", url=server.url, home=root / "home", access=access)


def test_a_foreign_token_is_refused_with_a_message_that_names_the_token(proxy: tuple[RecordingProxy, Path]) -> None:
    server, root = proxy
    access = _access(server, root, token=_foreign_token())
    raw = JsonRpcHttp(access.url, headers=access.headers(), ssl_context=access.ssl_context())
    with pytest.raises(ChainUnavailable, match=r"refused the request \(HTTP 401\).*EBILL_RPC_TOKEN_FILE"):
        raw.call("eth_chainId", [])
    with pytest.raises(ChainUnavailable, match=r"HTTP 401"):
        asyncio.run(raw.acall("eth_chainId", []))
    with pytest.raises(ChainUnavailable, match="no chain node answers"):
        open_node("rpc", url=server.url, home=root / "home", access=access)
    assert any("no valid token" in r for r in server.refused)


def test_the_node_is_trusted_only_through_the_kits_ca(proxy: tuple[RecordingProxy, Path]) -> None:
    server, root = proxy
    access = _access(server, root, ca=False)      # the system's CAs do not know the kit's
    raw = JsonRpcHttp(access.url, headers=access.headers(), ssl_context=access.ssl_context())
    with pytest.raises(ChainUnavailable, match="CERTIFICATE_VERIFY_FAILED"):
        raw.call("eth_chainId", [])
    with pytest.raises(ChainUnavailable):
        open_node("rpc", url=server.url, home=root / "home", access=access)


def test_a_method_outside_the_tokens_permissions_is_an_rpc_error(proxy: tuple[RecordingProxy, Path]) -> None:
    server, root = proxy
    narrow = pki.issue_token((root / kit.SIGNING_KEY).read_bytes(), permissions=["net:version"], days=1, subject="n")
    access = _access(server, root, token=narrow)
    raw = JsonRpcHttp(access.url, headers=access.headers(), ssl_context=access.ssl_context())
    assert raw.call("net_version", []).get("result") == "31337"
    answer = raw.call("eth_chainId", [])
    assert answer["error"] == {"code": -40100, "message": "Unauthorized"}
