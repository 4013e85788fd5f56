"""Hospital signing keys, encrypted at rest.

Each key is sealed with AES-256-GCM under a key-encryption key (KEK) derived once per
process from the operator's passphrase with scrypt (N=2^15, r=8, p=1, a per-store
random salt). The associated data binds a sealed key to its owner and address, so a
sealed key copied to another hospital's row does not open.

Why not one Web3 Secret Storage file per key: each of those runs its own scrypt
(≈ 80 ms here), and every API worker would pay that for each of a city's 132 hospitals
at start-up; one KDF per process gives the same protection at rest. ``export_keystore``
writes a standard Web3 Secret Storage JSON for use in other Ethereum tools.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
from dataclasses import dataclass
from typing import Any

from Crypto.Cipher import AES

from ledger.errors import InvalidInput, VerificationError, WrongPassphrase

_SCRYPT = {"n": 2**15, "r": 8, "p": 1}
_CHECK = b"ebill-ledger keystore check v1"


@dataclass(frozen=True)
class KdfParams:
    """The store-wide KDF salt and a check value sealed under the KEK."""

    salt: bytes
    check: str

    def to_json(self) -> str:
        return json.dumps({"kdf": "scrypt", **_SCRYPT, "salt": self.salt.hex(), "check": self.check})

    @classmethod
    def from_json(cls, text: str) -> KdfParams:
        doc = json.loads(text)
        if doc.get("kdf") != "scrypt" or any(doc.get(k) != v for k, v in _SCRYPT.items()):
            raise InvalidInput.single("keystore", "kdf-params", f"unsupported keystore KDF parameters: {doc}")
        return cls(bytes.fromhex(doc["salt"]), doc["check"])


class KeyVault:
    """Seals and opens private keys under a passphrase-derived key."""

    def __init__(self, passphrase: str, params: KdfParams | None = None) -> None:
        if len(passphrase) < 12:
            raise InvalidInput.single("passphrase", "min-length",
                                      "the keystore passphrase needs at least 12 characters")
        salt = params.salt if params else os.urandom(16)
        self._kek = hashlib.scrypt(passphrase.encode(), salt=salt, maxmem=2**26, dklen=32, **_SCRYPT)
        if params is None:
            self.params = KdfParams(salt, self._encrypt(_CHECK, b"check"))
        else:
            self.params = params
            try:
                ok = self._decrypt(params.check, b"check") == _CHECK
            except ValueError:
                ok = False
            if not ok:
                raise WrongPassphrase("the keystore passphrase is wrong for this store "
                                      "(EBILL_KEYSTORE_PASSPHRASE differs from the one the keys were sealed with)")

    def seal(self, private_key: bytes, *, owner: str, address: str) -> str:
        """``private_key`` encrypted for ``owner``/``address`` (JSON text)."""
        return self._encrypt(private_key, f"{owner}|{address.lower()}".encode())

    def open(self, sealed: str, *, owner: str, address: str) -> bytes:
        """The private key sealed for ``owner``/``address``; raises if it was tampered with or moved."""
        try:
            return self._decrypt(sealed, f"{owner}|{address.lower()}".encode())
        except (ValueError, KeyError) as exc:
            raise VerificationError(
                f"the sealed key of {owner} does not open (tampered, or sealed for another owner)") from exc

    def _encrypt(self, data: bytes, aad: bytes) -> str:
        nonce = os.urandom(12)
        cipher = AES.new(self._kek, AES.MODE_GCM, nonce=nonce)
        cipher.update(aad)
        body, tag = cipher.encrypt_and_digest(data)
        return json.dumps({"v": 1, "alg": "A256GCM", "nonce": nonce.hex(), "ct": body.hex(), "tag": tag.hex()})

    def _decrypt(self, sealed: str, aad: bytes) -> bytes:
        doc = json.loads(sealed)
        if doc.get("v") != 1 or doc.get("alg") != "A256GCM":
            raise ValueError("unknown sealed-key format")
        cipher = AES.new(self._kek, AES.MODE_GCM, nonce=bytes.fromhex(doc["nonce"]))
        cipher.update(aad)
        return cipher.decrypt_and_verify(bytes.fromhex(doc["ct"]), bytes.fromhex(doc["tag"]))


def export_keystore(private_key: bytes, password: str) -> dict[str, object]:
    """A standard Web3 Secret Storage (v3) document for ``private_key``."""
    from eth_account import Account

    from ledger.adapters.recursion_limit import hold_recursion_limit

    hold_recursion_limit()  # eth-account imports py_ecc, which raises it
    return dict(Account.encrypt(private_key, password, kdf="scrypt"))


class StoreKeyVault:
    """The deployment's :class:`KeyVault`: its KDF parameters live in the store's ``meta``
    (``keystore.kdf``), written by the first process, so every process of a deployment
    derives the same key from the passphrase. The KDF runs once per process, on first use
    (a :class:`~ledger.ports.KeySealer`)."""

    def __init__(self, store: Any, passphrase: str) -> None:
        self._store = store
        self._passphrase = passphrase
        self._vault: KeyVault | None = None
        self._lock = threading.Lock()

    @property
    def vault(self) -> KeyVault:
        with self._lock:
            if self._vault is None:
                stored = self._store.get_meta("keystore.kdf")
                if stored is None:
                    self._vault = KeyVault(self._passphrase)
                    self._store.set_meta("keystore.kdf", self._vault.params.to_json())
                else:
                    self._vault = KeyVault(self._passphrase, KdfParams.from_json(stored))
            return self._vault

    def seal(self, secret: bytes, *, owner: str, address: str) -> str:
        return self.vault.seal(secret, owner=owner, address=address)

    def open(self, sealed: str, *, owner: str, address: str) -> bytes:
        return self.vault.open(sealed, owner=owner, address=address)
