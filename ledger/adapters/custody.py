"""Which custodian makes and keeps the signing keys: the file keystore (default) or a PKCS#11 token.

``EBILL_SIGNER`` says which: unset or ``file`` keeps new keys sealed under the keystore
passphrase (:class:`~ledger.adapters.signers.FileCustody`); ``pkcs11:module=…;token=…;pin-env=…``
makes them on the token (:class:`~ledger.adapters.pkcs11_token.Pkcs11Custody`). Keys made
before a switch keep working: :class:`Custody` opens every stored key by its kind (a sealed
key with the passphrase, a token reference on the token), and only new keys (a hospital
registered, a key rotated, a new deployment's relayer) go where ``EBILL_SIGNER`` says.
"""

from __future__ import annotations

import threading

from ledger.adapters.pkcs11_token import Pkcs11Config, Pkcs11Custody, Pkcs11Token, is_reference
from ledger.adapters.signers import FileCustody
from ledger.errors import InvalidInput, KeysUnavailable, SignerUnavailable
from ledger.ports import KeySealer
from ledger.signature import DigestSigner, HeldKey

_tokens: dict[Pkcs11Config, Pkcs11Token] = {}
_tokens_lock = threading.Lock()


def signer_config(uri: str | None, *, setting: str = "EBILL_SIGNER") -> Pkcs11Config | None:
    """The token ``uri`` names, or None for the file keystore (unset, empty or ``file``)."""
    if uri is None or uri.strip() in ("", "file"):
        return None
    if not uri.strip().startswith("pkcs11:"):
        raise InvalidInput.single(setting, "signer-uri", f"expected file or pkcs11:module=…;token=…;pin-env=…, "
                                                         f"got {uri!r}")
    return Pkcs11Config.parse(uri.strip(), setting=setting)


def token_for(config: Pkcs11Config) -> Pkcs11Token:
    """This process's one session holder for ``config``'s token (shared by every custodian)."""
    with _tokens_lock:
        token = _tokens.get(config)
        if token is None:
            token = _tokens[config] = Pkcs11Token(config)
        return token


class Custody:
    """A :class:`~ledger.ports.KeyCustody` that makes new keys on the token if there is one (else
    sealed under ``sealer``), and opens each stored key by its kind."""

    def __init__(self, *, sealer: KeySealer | None, token: Pkcs11Token | None = None) -> None:
        self._file = FileCustody(sealer) if sealer is not None else None
        self._token = Pkcs11Custody(token) if token is not None else None

    @property
    def on_token(self) -> bool:
        """Whether new keys are made on a PKCS#11 token."""
        return self._token is not None

    def create(self, *, owner: str) -> HeldKey:
        if self._token is not None:
            return self._token.create(owner=owner)
        return self._require_file(owner).create(owner=owner)

    def open(self, reference: str, *, owner: str, address: str) -> DigestSigner:
        if is_reference(reference):
            if self._token is None:
                raise SignerUnavailable(f"the key of {owner} ({address}) is on a PKCS#11 token, and this service has "
                                        "no token configured (EBILL_SIGNER=pkcs11:module=…;token=…)")
            return self._token.open(reference, owner=owner, address=address)
        return self._require_file(owner).open(reference, owner=owner, address=address)

    def _require_file(self, owner: str) -> FileCustody:
        if self._file is None:
            raise KeysUnavailable(f"the key of {owner} is sealed under the keystore passphrase, which this session "
                                  "was not given")
        return self._file


def open_custody(uri: str | None, sealer: KeySealer | None) -> Custody:
    """The custodian ``EBILL_SIGNER`` (``uri``) names, opening sealed keys with ``sealer``."""
    config = signer_config(uri)
    return Custody(sealer=sealer, token=token_for(config) if config is not None else None)
