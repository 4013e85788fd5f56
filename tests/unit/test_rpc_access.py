"""Reaching a JSON-RPC node: its credentials (:class:`RpcAccess`) and who pays for gas (:func:`funder_for`)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import jwt
import pytest

from ledger.adapters import chains
from ledger.adapters.besu import pki
from ledger.adapters.jsonrpc import JsonRpcHttp
from ledger.adapters.rpc_access import RpcAccess
from ledger.errors import InvalidInput

NOW = dt.datetime(2026, 12, 1, tzinfo=dt.UTC)
SIGNING, PUBLIC = pki.new_signing_key()


def _token(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "rpc.jwt"
    path.write_text(text)
    return path


@pytest.mark.parametrize(("url", "token", "ca", "field"), [
    ("ftp://node:8545", None, None, "rpc-url"),
    ("node:8545", None, None, "rpc-url"),
    ("http://node:8545", None, "ca.pem", "EBILL_RPC_CA_FILE"),            # a CA is for TLS
    ("https://node:8545", None, "absent.pem", "EBILL_RPC_CA_FILE"),
    ("https://node:8545", "absent.jwt", None, "EBILL_RPC_TOKEN_FILE"),
    ("https://node:8545", "", None, "EBILL_RPC_TOKEN_FILE"),              # an empty file
    ("https://node:8545", "a.b", None, "EBILL_RPC_TOKEN_FILE"),           # not three parts
    ("https://node:8545", "a.b.c d", None, "EBILL_RPC_TOKEN_FILE"),       # a space inside
])
def test_access_is_refused_naming_the_setting(tmp_path: Path, url: str, token: str | None, ca: str | None,
                                             field: str) -> None:
    (tmp_path / "ca.pem").write_text("-----BEGIN CERTIFICATE-----\n")
    token_file = None if token is None else (tmp_path / token if token.endswith(".jwt") else _token(tmp_path, token))
    with pytest.raises(InvalidInput) as refused:
        RpcAccess.from_files(url, token_file=token_file, ca_file=None if ca is None else tmp_path / ca)
    assert refused.value.problems[0].field == field


def test_headers_and_clients_carry_the_token(tmp_path: Path) -> None:
    token = pki.issue_token(SIGNING, permissions=["eth:*"], days=30, subject="t", now=NOW)
    access = RpcAccess.from_files("https://node.example:8545/rpc", token_file=_token(tmp_path, f"\n{token}\n"))
    assert access.token == token and access.tls and access.ssl_context() is not None
    assert access.headers() == {"Content-Type": "application/json", "Authorization": f"Bearer {token}"}
    provider: Any = access.provider(timeout=5)
    assert provider.endpoint_uri == "https://node.example:8545/rpc"
    assert dict(provider.get_request_kwargs())["headers"]["Authorization"] == f"Bearer {token}"
    raw = JsonRpcHttp(access.url, headers=access.headers(), ssl_context=access.ssl_context())
    assert raw._port == 8545 and f"Authorization: Bearer {token}\r\n".encode() in raw._head
    assert "token" not in repr(access) and token not in repr(access)         # never printed
    assert RpcAccess("http://127.0.0.1:8545").headers() == {"Content-Type": "application/json"}
    assert RpcAccess("http://127.0.0.1:8545").ssl_context() is None
    with pytest.raises(ValueError, match="line break"):
        JsonRpcHttp("http://node", headers={"Authorization": "Bearer x\r\nX-Evil: 1"})


@pytest.mark.parametrize(("days_left", "expected"), [
    (60, None), (10, "expires in 10.0 days"), (0.5, "expires in 12.0 hours"), (-2, "expired 2.0 days ago"),
])
def test_an_expiring_token_is_reported(tmp_path: Path, days_left: float, expected: str | None) -> None:
    token = pki.issue_token(SIGNING, permissions=["eth:*"], days=days_left, subject="t", now=NOW)
    notes = RpcAccess("https://node:8545", token).notes(now=NOW.timestamp())
    if expected is None:
        assert notes == []
    else:
        assert len(notes) == 1 and expected in notes[0], notes


def test_a_token_without_expiry_or_not_a_jwt_is_reported() -> None:
    no_exp = jwt.encode({"permissions": ["eth:*"]}, "k" * 32, algorithm="HS256")
    assert "no expiry" in RpcAccess("https://node:8545", no_exp).notes()[0]
    assert "not a readable JWT" in RpcAccess("https://node:8545", "a.b.c").notes()[0]


@pytest.mark.parametrize(("gas_price", "kind", "funds"), [
    (0, "anvil", None),            # anvil's besu profile: free gas, no anvil_setBalance
    (0, "rpc", None),              # Besu, zero base fee and min-gas-price 0
    (10**9, "anvil", "anvil"),     # anvil's defaults: a balance is set directly
    (10**9, "rpc", None),          # a priced production chain: its operator funds the accounts
])
def test_gas_money_is_decided_by_the_gas_price(gas_price: int, kind: str, funds: str | None) -> None:
    calls: list[tuple[str, list[object]]] = []
    w3: Any = SimpleNamespace(eth=SimpleNamespace(gas_price=gas_price),
                              provider=SimpleNamespace(make_request=lambda m, p: calls.append((m, p))))
    funder = chains.funder_for(w3, kind)
    assert (funder is not None) == (funds is not None)
    if funder is not None:
        funder("0x" + "11" * 20, 5)
        assert calls == [("anvil_setBalance", ["0x1111111111111111111111111111111111111111", "0x5"])]
