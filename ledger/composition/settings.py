"""Service settings, from the command line, ``EBILL_*`` environment variables and defaults.

Secrets (the pseudonym pepper, the keystore passphrase) are never defaults: in
``development`` the service generates them once into ``$EBILL_HOME/secrets`` (mode
0600) so that ``ebill serve`` works with no set-up; in ``production`` it refuses to
start unless they are given (``EBILL_PEPPER``, ``EBILL_KEYSTORE_PASSPHRASE``).
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from pydantic import AliasChoices, Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from ledger.errors import InvalidInput

if TYPE_CHECKING:
    from ledger.adapters.rpc_access import RpcAccess


def default_home() -> Path:
    """The data directory: ``$EBILL_HOME`` or ``~/.ebill``."""
    return Path(os.environ.get("EBILL_HOME") or Path.home() / ".ebill").expanduser()


class Settings(BaseSettings):
    """Everything ``ebill serve`` and the API workers need to agree on."""

    model_config = SettingsConfigDict(env_prefix="EBILL_", extra="ignore")

    environment: Literal["development", "production"] = "development"
    home: Path = Field(default_factory=default_home)
    db: str | None = None                         # default: SQLite in $EBILL_HOME/ebill.sqlite
    chain: Literal["embedded", "anvil", "rpc"] = "anvil"
    rpc_url: str | None = None
    chain_key: str | None = None
    #: the JSON-RPC node's credentials (a Besu node of ``deploy/besu``): a file holding the JWT it
    #: verifies, and the PEM of the CA that signed its TLS certificate (see ledger/adapters/rpc_access.py)
    rpc_token_file: Path | None = None
    rpc_ca_file: Path | None = None
    pepper: str | None = None                     # hex, >= 16 bytes
    keystore_passphrase: str | None = None
    #: where new signing keys are made and kept: ``file`` (sealed under the keystore passphrase, the
    #: default) or ``pkcs11:module=…;token=…;pin-env=…`` (a PKCS#11 token they never leave)
    signer: str | None = None
    batch_max_leaves: int = Field(default=1024, ge=1, le=65536)
    batch_max_age: float = Field(default=2.0, gt=0, le=3600)   # seconds
    worker_interval: float = Field(default=0.25, gt=0, le=60)
    max_body_bytes: int = Field(default=64 * 2**20, ge=1024)
    max_items: int = Field(default=5000, ge=1)
    #: per client address, for callers without a credential at the public endpoints (``limits`` notation)
    public_rate_limit: str = "20/second;600/minute"
    #: per client address, requests with no valid credential before 401 becomes 429
    auth_failure_rate_limit: str = "30/minute;300/hour"
    # claims (issue 5): the payer this instance acts for, its rules and thresholds
    payer_id: str | None = "330600-ybj"           # None: no claims API
    payer_name: str = "Shaoxing Medical Insurance Bureau (development)"
    instant_max_fen: int = Field(default=50_000, ge=0)
    #: above this a claim has a final review by a second reviewer (``EBILL_TWO_REVIEWERS_FROM_FEN``, its
    #: name before review stages, is still read)
    final_review_from_fen: int = Field(default=500_000, ge=0, validation_alias=AliasChoices(
        "final_review_from_fen", "EBILL_FINAL_REVIEW_FROM_FEN",
        "two_reviewers_from_fen", "EBILL_TWO_REVIEWERS_FROM_FEN"))
    #: the share of instantly paid claims drawn for a post-payment audit, in basis points (200: 2 %); the
    #: draw's key is derived from the pepper, so it is secret and the same in every API worker
    post_audit_share_bp: int = Field(default=200, ge=0, le=10_000)
    claim_wait: float = Field(default=10.0, ge=0, le=120)   # seconds POST /v1/claims waits for the chain
    voucher_issuer: str = "dev-evoucher"
    voucher_public_key: str | None = None         # PEM, or a path to a PEM file (production: required)
    bank_path: Path | None = None                 # the simulated bank's file (default $EBILL_HOME/bank.sqlite)
    #: who delivers the citizens' messages: "development" keeps them in the outbox (ledger/adapters/notify.py;
    #: production SMS gateways plug in there later)
    notify_adapter: Literal["development"] = "development"

    # operating it: log lines as JSON (one object a line, for a log pipeline) or as text for a person
    log_format: Literal["json", "console"] = "json"
    log_level: Literal["debug", "info", "warning", "error"] = "info"

    def rpc_access(self, url: str) -> RpcAccess:
        """How to reach the JSON-RPC node at ``url`` with this deployment's credentials."""
        from ledger.adapters.rpc_access import RpcAccess

        return RpcAccess.from_files(url, token_file=self.rpc_token_file, ca_file=self.rpc_ca_file)

    @property
    def db_url(self) -> str:
        return self.db or f"sqlite:///{self.home / 'ebill.sqlite'}"

    def voucher_public_pem(self) -> bytes | None:
        """The e-voucher issuer's public key; in development, the local dev issuer's."""
        if self.voucher_public_key:
            text = self.voucher_public_key.strip()
            if text.startswith("-----BEGIN"):
                return text.encode()
            return Path(text).expanduser().read_bytes()
        if self.environment == "production":
            return None
        from ledger.devtools.vouchers import dev_issuer

        return dev_issuer(self.home, self.voucher_issuer).public_pem()

    def pepper_bytes(self) -> bytes:
        raw = self.pepper or self._dev_secret("pepper", lambda: secrets.token_hex(32))
        try:
            value = bytes.fromhex(raw.removeprefix("0x"))
        except ValueError:
            raise InvalidInput.single("EBILL_PEPPER", "hex", "the pepper must be hex") from None
        if len(value) < 16:
            raise InvalidInput.single("EBILL_PEPPER", "min-length", "the pepper needs at least 16 bytes")
        return value

    def passphrase(self) -> str:
        return self.keystore_passphrase or self._dev_secret("keystore-passphrase", lambda: secrets.token_urlsafe(32))

    def _dev_secret(self, name: str, make: Callable[[], str]) -> str:
        env = f"EBILL_{name.upper().replace('-', '_')}"
        if self.environment == "production":
            raise InvalidInput.single(env, "required", f"{env} must be set in production (no generated secrets)")
        path = self.home / "secrets" / name
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            # a private temporary name, published with link(): of several processes starting
            # at once exactly one publishes, and every one then reads the published secret
            # (os.replace would let a later writer overwrite a secret already in use)
            tmp = path.with_name(f".{name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as f:
                f.write(make())
                f.flush()
                os.fsync(f.fileno())
            try:
                os.link(tmp, path)
            except FileExistsError:
                pass
            finally:
                tmp.unlink()
        return path.read_text().strip()
