"""The private keys this process signs transactions with, held in memory only.

Keys arrive sealed (the deployment record, the store's hospital keys: see
:mod:`ledger.adapters.keystore`) and are opened into a :class:`Keyring`; nothing here
writes them anywhere. It implements :class:`ledger.ports.Signers`.
"""

from __future__ import annotations

from collections.abc import Iterable

from eth_account import Account
from eth_account.signers.local import LocalAccount
from eth_utils.address import to_checksum_address

from ledger.errors import NotFound
from ledger.hashing import to_hex
from ledger.onchain import Address


class Keyring:
    """Private keys of the accounts this process signs for."""

    def __init__(self, keys: Iterable[str] = ()) -> None:
        self._accounts: dict[str, LocalAccount] = {}
        for key in keys:
            self.add(key)

    def add(self, private_key: str) -> Address:
        """Hold ``private_key`` (0x-hex); its account's address."""
        acct: LocalAccount = Account.from_key(private_key)
        self._accounts[acct.address] = acct
        return str(acct.address)

    def new(self) -> Address:
        """A fresh random key, held; its account's address."""
        acct: LocalAccount = Account.create()
        self._accounts[acct.address] = acct
        return str(acct.address)

    def __getitem__(self, address: Address) -> LocalAccount:
        try:
            return self._accounts[to_checksum_address(address)]
        except KeyError:
            raise NotFound(f"no private key for account {address} in this keyring") from None

    def __contains__(self, address: object) -> bool:
        return isinstance(address, str) and to_checksum_address(address) in self._accounts

    def export(self) -> dict[Address, str]:
        """Address -> hex private key (development keyrings only; production uses keystores)."""
        return {a: to_hex(bytes(acct.key)) for a, acct in self._accounts.items()}
