"""Node keys of a Besu network: secp256k1 key pairs, their addresses and enode URLs, written 0600.

A Besu node's identity is its ``key`` file: the 32-byte private key as 0x-hex (Besu's
``KeyPairUtil`` reads and writes it so). The public key (64 bytes, uncompressed without
the 0x04 prefix) names the node in its enode URL, ``enode://<public key hex>@<ip>:<port>``;
the address derived from it (last 20 bytes of its keccak-256) is, for a QBFT validator,
the validator address listed in the genesis ``extraData``. Keys come from the operating
system's CSPRNG and are checked by ``eth-keys`` (coincurve underneath); files holding a
private key are created with mode 0600, never briefly wider.
"""

from __future__ import annotations

import ipaddress
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from eth_keys.datatypes import PrivateKey

#: the secp256k1 group order: a private key is an integer in [1, N - 1]
SECP256K1_N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141


@dataclass(frozen=True)
class NodeKey:
    """One secp256k1 key pair (a node's, or an account's)."""

    private: bytes

    def __post_init__(self) -> None:
        if len(self.private) != 32 or not 0 < int.from_bytes(self.private, "big") < SECP256K1_N:
            raise ValueError("a secp256k1 private key is 32 bytes, in [1, n - 1]")

    @classmethod
    def generate(cls) -> NodeKey:
        while True:  # the chance of a draw outside [1, n-1] is about 2^-128: loop rather than bias
            candidate = secrets.token_bytes(32)
            if 0 < int.from_bytes(candidate, "big") < SECP256K1_N:
                return cls(candidate)

    @classmethod
    def read(cls, path: Path) -> NodeKey:
        """The key in a Besu ``key`` file (0x-hex, surrounding whitespace ignored)."""
        text = Path(path).read_text().strip().removeprefix("0x")
        try:
            return cls(bytes.fromhex(text))
        except ValueError as exc:
            raise ValueError(f"{path} does not hold a secp256k1 private key: {exc}") from None

    @property
    def public_key(self) -> bytes:
        """64 bytes: x and y, uncompressed, without the 0x04 prefix (as in an enode URL)."""
        return bytes(PrivateKey(self.private).public_key.to_bytes())

    @property
    def address(self) -> str:
        """The checksummed account (for a validator: validator) address."""
        return str(PrivateKey(self.private).public_key.to_checksum_address())

    def enode(self, host: str, port: int) -> str:
        """The node's enode URL at ``host`` (an IP address: Besu resolves names only with --Xdns-enabled)."""
        return enode_url(self.public_key, host, port)

    def write(self, path: Path) -> None:
        """Write the Besu ``key`` file (mode 0600) and ``key.pub`` beside it."""
        write_secret(path, "0x" + self.private.hex())
        Path(path).with_name(Path(path).name + ".pub").write_text("0x" + self.public_key.hex())


def enode_url(public_key: bytes, host: str, port: int) -> str:
    ip = ipaddress.ip_address(host)   # ValueError for a name
    where = f"[{ip}]" if ip.version == 6 else str(ip)
    return f"enode://{public_key.hex()}@{where}:{port}"


def parse_enode(url: str) -> tuple[bytes, str, int]:
    """(public key, host, port) of an enode URL; :class:`ValueError` if it is not one."""
    if not url.startswith("enode://") or "@" not in url:
        raise ValueError(f"not an enode URL: {url!r}")
    node_id, _, where = url[len("enode://"):].partition("@")
    where = where.split("?", 1)[0]
    host, _, port = where.rpartition(":")
    try:
        public = bytes.fromhex(node_id)
        number = int(port)
    except ValueError:
        raise ValueError(f"not an enode URL: {url!r}") from None
    if len(public) != 64 or not 0 < number < 65536 or not host:
        raise ValueError(f"not an enode URL: {url!r}")
    return public, host.strip("[]"), number


def write_secret(path: Path, text: str) -> None:
    """Create ``path`` with mode 0600 and ``text`` in it (refusing to overwrite a file: keys are never replaced)."""
    path = Path(path)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    os.chmod(path, 0o600)   # whatever the umask took away, no more than 0600


def write_secret_bytes(path: Path, data: bytes) -> None:
    """As :func:`write_secret`, for binary content (a PKCS#12 keystore)."""
    fd = os.open(Path(path), os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.chmod(path, 0o600)
