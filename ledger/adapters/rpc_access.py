"""How this process reaches a JSON-RPC node: its URL, a bearer token, the CA that signed its TLS certificate.

A production node (Hyperledger Besu, see ``deploy/besu``) serves JSON-RPC over TLS and
answers only requests that carry a JSON Web Token it can verify
(``--rpc-http-authentication-jwt-public-key-file``): ``Authorization: Bearer <jwt>``.
The operator hands the service two files, named by environment variables so that every
process of ``ebill serve`` (the API workers too) reads the same ones:

- ``EBILL_RPC_TOKEN_FILE``: the token (``ebill chain besu-token`` issues one);
- ``EBILL_RPC_CA_FILE``: the PEM certificate of the CA that signed the node's certificate
  (the kit's ``tls/ca.pem``), for an ``https://`` URL.

Both web3's provider and the raw client (:mod:`~ledger.adapters.jsonrpc`) are built from
one :class:`RpcAccess`, so they cannot disagree. The token is read once, when the chain
is opened: a renewed token takes effect at the next start (``docs/besu-runbook.md``).
"""

from __future__ import annotations

import ssl
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from ledger.errors import InvalidInput

TOKEN_ENV = "EBILL_RPC_TOKEN_FILE"
CA_ENV = "EBILL_RPC_CA_FILE"
#: a token that expires sooner than this is reported when the chain is opened
EXPIRY_WARNING_S = 14 * 86400


@dataclass(frozen=True)
class RpcAccess:
    """A JSON-RPC endpoint and the credentials to use it (``token`` and ``ca_file`` optional)."""

    url: str
    token: str | None = field(default=None, repr=False)
    ca_file: Path | None = None

    def __post_init__(self) -> None:
        parts = urlsplit(self.url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise InvalidInput.single("rpc-url", "url", f"expected an http:// or https:// URL, got {self.url!r}")
        if self.ca_file is not None and parts.scheme != "https":
            raise InvalidInput.single(CA_ENV, "tls", f"a CA file is for an https:// node, but the URL is {self.url}")

    @classmethod
    def from_files(cls, url: str, *, token_file: Path | None = None, ca_file: Path | None = None) -> RpcAccess:
        """The access to ``url`` with the token read from ``token_file`` (a JWT, nothing else in it)."""
        token = None
        if token_file is not None:
            try:
                token = Path(token_file).expanduser().read_text().strip()
            except OSError as exc:
                raise InvalidInput.single(TOKEN_ENV, "file", f"cannot read the RPC token {token_file}: "
                                          f"{exc.strerror or exc}") from None
            if not token or any(c.isspace() for c in token) or token.count(".") != 2:
                raise InvalidInput.single(TOKEN_ENV, "jwt", f"{token_file} does not hold one JSON Web Token "
                                          "(three dot-separated parts, no spaces)")
        if ca_file is not None:
            ca_file = Path(ca_file).expanduser()
            if not ca_file.is_file():
                raise InvalidInput.single(CA_ENV, "file", f"no CA certificate file at {ca_file}")
        return cls(url, token, ca_file)

    @property
    def tls(self) -> bool:
        return urlsplit(self.url).scheme == "https"

    def headers(self) -> dict[str, str]:
        """The headers of every request (JSON, and the bearer token if there is one)."""
        head = {"Content-Type": "application/json"}
        if self.token:
            head["Authorization"] = f"Bearer {self.token}"
        return head

    def ssl_context(self) -> ssl.SSLContext | None:
        """Certificate and host name checked against ``ca_file`` (else the system's CAs); None for http://."""
        if not self.tls:
            return None
        return ssl.create_default_context(cafile=str(self.ca_file) if self.ca_file else None)

    def provider(self, *, timeout: float = 30.0) -> Any:
        """web3's HTTP provider for this endpoint.

        It remembers the node's ``eth_chainId`` (web3's request cache, for that method alone): web3 asks
        for it to fill and check every transaction and call, and a node's chain id never changes (a
        different chain behind the same URL shows up as unknown block hashes in the chain index)."""
        from web3 import Web3
        from web3.types import RPCEndpoint

        kwargs: dict[str, Any] = {"timeout": timeout, "headers": self.headers()}
        if self.ca_file is not None:
            kwargs["verify"] = str(self.ca_file)
        return Web3.HTTPProvider(self.url, request_kwargs=kwargs, cache_allowed_requests=True,
                                 cacheable_requests={RPCEndpoint("eth_chainId")})

    def notes(self, *, now: float | None = None) -> list[str]:
        """What an operator should know: a token that has expired or soon will (read, not verified:
        only the node can verify it)."""
        if not self.token:
            return []
        import jwt

        try:
            claims = jwt.decode(self.token, options={"verify_signature": False})
        except jwt.PyJWTError as exc:
            return [f"the RPC token is not a readable JWT ({exc}); the node will refuse it"]
        exp = claims.get("exp")
        if not isinstance(exp, int | float):
            return ["the RPC token has no expiry (exp): Besu refuses such tokens"]
        left = exp - (time.time() if now is None else now)
        if left <= 0:
            return [f"the RPC token expired {_days(-left)} ago: issue a new one (ebill chain besu-token)"]
        if left < EXPIRY_WARNING_S:
            return [f"the RPC token expires in {_days(left)}: issue a new one (ebill chain besu-token) and restart"]
        return []


def _days(seconds: float) -> str:
    return f"{seconds / 86400:.1f} days" if seconds >= 86400 else f"{seconds / 3600:.1f} hours"
