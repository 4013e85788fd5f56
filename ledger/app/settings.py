"""Service settings, from the command line, ``EBILL_*`` environment variables and defaults.

Secrets (the pseudonym pepper, the keystore passphrase) are never defaults: in
``development`` the service generates them once into ``$EBILL_HOME/secrets`` (mode
0600) so that ``ebill serve`` works with no set-up; in ``production`` it refuses to
start unless they are given (``EBILL_PEPPER``, ``EBILL_KEYSTORE_PASSPHRASE``).
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from ledger.errors import InvalidInput


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
    pepper: str | None = None                     # hex, >= 16 bytes
    keystore_passphrase: str | None = None
    batch_max_leaves: int = Field(default=1024, ge=1, le=65536)
    batch_max_age: float = Field(default=2.0, gt=0, le=3600)   # seconds
    worker_interval: float = Field(default=0.25, gt=0, le=60)
    max_body_bytes: int = Field(default=64 * 2**20, ge=1024)
    max_items: int = Field(default=5000, ge=1)

    @property
    def db_url(self) -> str:
        return self.db or f"sqlite:///{self.home / 'ebill.sqlite'}"

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

    def _dev_secret(self, name: str, make: object) -> str:
        env = f"EBILL_{name.upper().replace('-', '_')}"
        if self.environment == "production":
            raise InvalidInput.single(env, "required", f"{env} must be set in production (no generated secrets)")
        path = self.home / "secrets" / name
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            tmp = path.with_suffix(".tmp")
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w") as f:
                f.write(make())  # type: ignore[operator]
            os.replace(tmp, path)
        return path.read_text().strip()
