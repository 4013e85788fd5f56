"""The accounts this process signs transactions with, each through its signer.

A signer holds its key in memory (:class:`~ledger.adapters.signers.LocalSigner`: development
chains, keys opened from the sealed keystore) or on a PKCS#11 token
(:class:`~ledger.adapters.pkcs11_token.Pkcs11Signer`); the keyring signs through either the
same way, and nothing here writes a key anywhere. It implements :class:`ledger.ports.Signers`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from eth_utils.address import to_checksum_address

from ledger.adapters.signers import LocalSigner, sign_transaction, sign_typed_data
from ledger.errors import NotFound
from ledger.hashing import to_hex
from ledger.onchain import Address
from ledger.signature import DigestSigner


class Keyring:
    """The signers of the accounts this process signs for.

    ``new_signer`` makes the key of :meth:`new` (default: a random key in memory; a token's
    custodian when new keys must be made on it).
    """

    def __init__(self, keys: Iterable[str] = (), *, new_signer: Callable[[str], DigestSigner] | None = None) -> None:
        self._signers: dict[str, DigestSigner] = {}
        self._new_signer = new_signer
        for key in keys:
            self.add(key)

    def add(self, private_key: str) -> Address:
        """Hold ``private_key`` (0x-hex) in memory; its account's address."""
        return self.hold(LocalSigner(bytes.fromhex(private_key.removeprefix("0x"))))

    def hold(self, signer: DigestSigner) -> Address:
        """Sign for ``signer``'s account from now on; its address."""
        address = to_checksum_address(signer.address)
        self._signers[address] = signer
        return str(address)

    def new(self, owner: str = "account") -> Address:
        """A fresh key for ``owner``, held; its account's address."""
        signer = self._new_signer(owner) if self._new_signer is not None else LocalSigner.random()
        return self.hold(signer)

    def signer(self, address: Address) -> DigestSigner:
        """The signer of ``address``; :class:`NotFound` if this keyring holds none."""
        try:
            return self._signers[to_checksum_address(address)]
        except KeyError:
            raise NotFound(f"no private key for account {address} in this keyring") from None

    def sign_transaction(self, address: Address, tx: dict[str, Any]) -> bytes:
        """``tx`` signed by ``address``'s key: the raw transaction to send."""
        return sign_transaction(self.signer(address), tx)

    def sign_typed_data(self, address: Address, full_message: dict[str, Any]) -> bytes:
        """``address``'s 65-byte EIP-712 signature of ``full_message``."""
        return sign_typed_data(self.signer(address), full_message)

    def __contains__(self, address: object) -> bool:
        return isinstance(address, str) and to_checksum_address(address) in self._signers

    def export(self) -> dict[Address, str]:
        """Address -> hex private key of the keys held in memory (development keyrings and the
        sealed deployment record; keys on a token are not exportable and are not listed)."""
        return {a: to_hex(s.secret) for a, s in self._signers.items() if isinstance(s, LocalSigner)}
