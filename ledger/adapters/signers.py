"""Signing Ethereum transactions and EIP-712 data with a key wherever it is held.

Every signer is a :class:`~ledger.signature.DigestSigner`: it signs a 32-byte digest and
returns a low-s recoverable signature. What is signed is built here with eth-account, and
only its hash goes to the signer: the key (in memory, or on a PKCS#11 token) never has to
come out for a transaction to be signed.

- :func:`sign_transaction`: a transaction dict as web3 builds it (legacy with EIP-155
  replay protection, or typed: EIP-2930, EIP-1559) → the raw signed transaction.
  eth-account serialises it (``TypedTransaction`` for typed ones) and computes the hash
  that is signed; the signature is then encoded as the type wants it (``v`` = recovery id
  for typed transactions, ``35 + 2·chainId + recovery id`` for legacy ones).
- :func:`sign_typed_data`: EIP-712 typed data → 65 bytes ``r || s || v``.

:class:`LocalSigner` holds a key in memory (development chains, the file keystore);
:class:`FileCustody` makes and opens such keys sealed under the keystore passphrase.
"""

from __future__ import annotations

import secrets
from typing import Any

import coincurve
from eth_account._utils.legacy_transactions import encode_transaction, serializable_unsigned_transaction_from_dict
from eth_account._utils.signing import to_eth_v
from eth_account.messages import _hash_eip191_message, encode_typed_data
from eth_account.typed_transactions.typed_transaction import TypedTransaction

from ledger.errors import VerificationError
from ledger.ports import KeySealer
from ledger.signature import DigestSigner, HeldKey, Signature, address_of, sign_with_secret


class LocalSigner:
    """A secp256k1 key held in this process's memory."""

    def __init__(self, secret: bytes) -> None:
        self._key = coincurve.PrivateKey(secret)
        self.address = address_of(self._key.public_key.format(compressed=False))

    @classmethod
    def random(cls) -> LocalSigner:
        """A fresh key from the operating system's random source."""
        return cls(coincurve.PrivateKey(secrets.token_bytes(32)).secret)

    @property
    def secret(self) -> bytes:
        """The 32-byte private key (for the sealed file keystore and development exports only)."""
        return bytes(self._key.secret)

    @property
    def public_key(self) -> bytes:
        return bytes(self._key.public_key.format(compressed=False))

    def sign_digest(self, digest: bytes) -> Signature:
        return sign_with_secret(digest, self._key.secret)

    def __repr__(self) -> str:  # never the key
        return f"LocalSigner({self.address})"


def transaction_hash(tx: dict[str, Any]) -> tuple[bytes, Any]:
    """The hash a signer signs for the transaction ``tx``, and its unsigned serialisable form."""
    unsigned = serializable_unsigned_transaction_from_dict(tx)
    return bytes(unsigned.hash()), unsigned


def sign_transaction(signer: DigestSigner, tx: dict[str, Any]) -> bytes:
    """The raw signed transaction of ``tx`` (a dict with ``chainId``), signed by ``signer``.

    Typed transactions (``type`` 1, 2, or a dict with ``maxFeePerGas``) go through
    eth-account's ``TypedTransaction``; the signature's ``v`` is its recovery id. A legacy
    transaction must name its ``chainId``: it is signed with EIP-155 replay protection.
    """
    tx = dict(tx)
    sender = tx.pop("from", None)   # as eth-account does: a ``from`` must be the signer's
    if sender is not None and str(sender).lower() != signer.address.lower():
        raise ValueError(f"the transaction is from {sender}, but the key signing it is {signer.address}'s")
    digest, unsigned = transaction_hash(tx)
    sig = signer.sign_digest(digest)
    if isinstance(unsigned, TypedTransaction):
        v = sig.y_parity
    else:
        if "chainId" not in tx:
            raise ValueError("a legacy transaction is signed with EIP-155 replay protection: give its chainId")
        v = to_eth_v(sig.y_parity, int(tx["chainId"]))
    return bytes(encode_transaction(unsigned, vrs=(v, sig.r, sig.s)))


def typed_data_digest(full_message: dict[str, Any]) -> bytes:
    """The EIP-712 digest ``keccak256(0x1901 || domainSeparator || hashStruct(message))``."""
    return bytes(_hash_eip191_message(encode_typed_data(full_message=full_message)))


def sign_typed_data(signer: DigestSigner, full_message: dict[str, Any]) -> bytes:
    """``signer``'s 65-byte ``r || s || v`` signature of EIP-712 typed data (v 27 or 28)."""
    return signer.sign_digest(typed_data_digest(full_message)).rsv()


class FileCustody:
    """Members' keys made in memory and kept sealed under the keystore passphrase
    (a :class:`~ledger.ports.KeyCustody` over a :class:`~ledger.ports.KeySealer`)."""

    def __init__(self, sealer: KeySealer) -> None:
        self._sealer = sealer

    def create(self, *, owner: str) -> HeldKey:
        signer = LocalSigner.random()
        return HeldKey(signer.address, self._sealer.seal(signer.secret, owner=owner, address=signer.address))

    def open(self, reference: str, *, owner: str, address: str) -> LocalSigner:
        signer = LocalSigner(self._sealer.open(reference, owner=owner, address=address))
        if signer.address.lower() != address.lower():  # (the seal binds the address: only a bug gets here)
            raise VerificationError(f"the key sealed for {owner} is {signer.address}'s, not {address}'s")
        return signer
