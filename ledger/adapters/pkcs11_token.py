"""Signing keys on a PKCS#11 token (an HSM; SoftHSM2 in tests), through python-pkcs11.

A key is generated *on* the token as a secp256k1 EC key pair (``CKA_EC_PARAMS`` = the named
curve's OID 1.3.132.0.10) whose private half is ``CKA_SENSITIVE`` and not ``CKA_EXTRACTABLE``:
the token signs with it (``CKM_ECDSA``, raw ``r || s`` over the 32-byte digest it is given)
and never shows it. Ethereum's low s and recovery id are computed outside, from the public
half (:func:`ledger.signature.complete`).

What the store keeps of such a key is a *reference*, a small JSON document::

    {"v": 1, "alg": "pkcs11", "token": "ebill", "id": "<CKA_ID hex>", "address": "0x…"}

``id`` finds the key pair on the token; the public key found there must hash to ``address``,
so a reference never opens another key than the one it names.

Configuration (``EBILL_SIGNER``): ``pkcs11:module=/usr/lib/softhsm/libsofthsm2.so;token=ebill;
pin-env=EBILL_HSM_PIN`` (or ``pin-file=PATH``). python-pkcs11 is an optional dependency
(``pip install 'ebill-ledger[hsm]'``), imported only when a token is used.
"""

from __future__ import annotations

import json
import os
import secrets
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ledger.errors import InvalidInput, SignerUnavailable, VerificationError
from ledger.signature import HeldKey, Signature, address_of, complete

#: the DER encoding of secp256k1's OID (1.3.132.0.10) as CKA_EC_PARAMS takes it (namedCurve)
SECP256K1_PARAMS = bytes.fromhex("06052b8104000a")
REFERENCE_ALG = "pkcs11"


@dataclass(frozen=True)
class Pkcs11Config:
    """Which PKCS#11 module and token, and where its user PIN comes from."""

    module: str
    token: str
    pin_env: str | None = "EBILL_HSM_PIN"
    pin_file: str | None = None

    @classmethod
    def parse(cls, uri: str, *, setting: str = "EBILL_SIGNER") -> Pkcs11Config:
        """``pkcs11:module=…;token=…;pin-env=…`` (or ``pin-file=…``); :class:`InvalidInput` naming
        ``setting`` for anything else."""
        if not uri.startswith("pkcs11:"):
            raise InvalidInput.single(setting, "signer-uri", f"expected pkcs11:module=…;token=…, got {uri!r}")
        fields: dict[str, str] = {}
        for part in uri.removeprefix("pkcs11:").split(";"):
            if not part.strip():
                continue
            name, eq, value = part.partition("=")
            name = name.strip()
            if not eq or not value.strip() or name not in ("module", "token", "pin-env", "pin-file") or name in fields:
                raise InvalidInput.single(setting, "signer-uri",
                                          f"{part!r} is not one of module=, token=, pin-env=, pin-file= (each once)")
            fields[name] = value.strip()
        missing = [n for n in ("module", "token") if n not in fields]
        if missing:
            raise InvalidInput.single(setting, "signer-uri",
                                      f"a pkcs11 signer needs {' and '.join(missing)}= "
                                      "(e.g. module=/usr/lib/softhsm/libsofthsm2.so;token=ebill)")
        if "pin-env" in fields and "pin-file" in fields:
            raise InvalidInput.single(setting, "signer-uri", "give pin-env= or pin-file=, not both")
        if "pin-file" in fields:
            return cls(fields["module"], fields["token"], None, fields["pin-file"])
        return cls(fields["module"], fields["token"], fields.get("pin-env", "EBILL_HSM_PIN"))

    def pin(self) -> str:
        """The token's user PIN; :class:`SignerUnavailable` saying where it was looked for."""
        if self.pin_file is not None:
            try:
                return Path(self.pin_file).expanduser().read_text().strip()
            except OSError as exc:
                raise SignerUnavailable(f"the PIN file {self.pin_file} of token {self.token!r} cannot be read: "
                                        f"{exc.strerror}") from None
        value = os.environ.get(self.pin_env or "")
        if not value:
            raise SignerUnavailable(f"the PIN of token {self.token!r} is not set: export {self.pin_env}")
        return value


def _pkcs11() -> Any:
    try:
        import pkcs11
    except ImportError:
        raise SignerUnavailable("signing on a PKCS#11 token needs python-pkcs11: pip install "
                                "'ebill-ledger[hsm]'") from None
    return pkcs11


class Pkcs11Token:
    """One logged-in session on a token, opened on first use and shared by this process's
    threads (one signature at a time: a PKCS#11 session runs one operation at once)."""

    def __init__(self, config: Pkcs11Config) -> None:
        self.config = config
        self._lock = threading.Lock()
        self._session: Any = None
        self._pid = 0
        #: private key handles found on the token, by CKA_ID (valid for the session they were found in)
        self._handles: dict[bytes, Any] = {}

    @property
    def label(self) -> str:
        return self.config.token

    def _open(self) -> Any:
        """The logged-in session (reopened in a forked child: PKCS#11 state does not survive fork)."""
        if self._session is not None and self._pid == os.getpid():
            return self._session
        p11 = _pkcs11()
        if not Path(self.config.module).is_file():
            raise SignerUnavailable(f"the PKCS#11 module {self.config.module} does not exist (Debian's SoftHSM2: "
                                    "apt-get install softhsm2)")
        try:
            lib = p11.lib(self.config.module)
            if self._pid and self._pid != os.getpid():
                lib.reinitialize()
            self._handles.clear()
            token = lib.get_token(token_label=self.config.token)
            try:
                self._session = token.open(rw=True, user_pin=self.config.pin())
            except p11.exceptions.UserAlreadyLoggedIn:
                # PKCS#11 logs a process in per token, not per session: another holder of this token in
                # this process (another configuration naming it) logged in already, and so is this session
                self._session = token.open(rw=True)
        except p11.exceptions.NoSuchToken:
            raise SignerUnavailable(f"no token labelled {self.config.token!r} in {self.config.module}") from None
        except (p11.exceptions.PinIncorrect, p11.exceptions.PinInvalid, p11.exceptions.PinLenRange):
            raise SignerUnavailable(f"token {self.config.token!r} refused the PIN") from None
        except p11.exceptions.PinLocked:
            raise SignerUnavailable(f"token {self.config.token!r} is locked (too many wrong PINs)") from None
        except p11.exceptions.PKCS11Error as exc:
            raise SignerUnavailable(f"token {self.config.token!r} cannot be opened: {type(exc).__name__} "
                                    f"{exc}") from exc
        self._pid = os.getpid()
        return self._session

    def generate(self, *, label: str) -> tuple[bytes, bytes]:
        """A new secp256k1 key pair on the token, private half sensitive and never extractable;
        its ``CKA_ID`` and uncompressed public key."""
        p11 = _pkcs11()
        a = p11.Attribute
        key_id = secrets.token_bytes(16)
        with self._lock:
            session = self._open()
            try:
                params = session.create_domain_parameters(p11.KeyType.EC, {a.EC_PARAMS: SECP256K1_PARAMS}, local=True)
                public, _ = params.generate_keypair(
                    id=key_id, label=label[:64], store=True,
                    public_template={a.VERIFY: True, a.TOKEN: True},
                    private_template={a.SIGN: True, a.TOKEN: True, a.PRIVATE: True, a.SENSITIVE: True,
                                      a.EXTRACTABLE: False})
                point = public[a.EC_POINT]
            except p11.exceptions.PKCS11Error as exc:
                raise SignerUnavailable(f"token {self.label!r} could not generate a secp256k1 key: "
                                        f"{type(exc).__name__} {exc}") from exc
        return key_id, _uncompressed(point)

    def public_key(self, key_id: bytes) -> bytes:
        """The uncompressed public key of the key pair ``key_id``; :class:`SignerUnavailable` if absent."""
        p11 = _pkcs11()
        with self._lock:
            session = self._open()
            try:
                key = session.get_key(object_class=p11.ObjectClass.PUBLIC_KEY, id=key_id)
                return _uncompressed(key[p11.Attribute.EC_POINT])
            except (p11.exceptions.NoSuchKey, p11.exceptions.MultipleObjectsReturned) as exc:
                raise SignerUnavailable(f"token {self.label!r} has no single key pair with id {key_id.hex()} "
                                        f"({type(exc).__name__})") from None

    def sign_raw(self, key_id: bytes, digest: bytes) -> bytes:
        """``CKM_ECDSA`` with the private key ``key_id`` over ``digest`` as is: raw ``r || s``."""
        p11 = _pkcs11()
        with self._lock:
            session = self._open()
            key = self._handles.get(key_id)
            try:
                if key is None:
                    key = self._handles[key_id] = session.get_key(object_class=p11.ObjectClass.PRIVATE_KEY,
                                                                  id=key_id)
                return bytes(key.sign(digest, mechanism=p11.Mechanism.ECDSA))
            except (p11.exceptions.NoSuchKey, p11.exceptions.MultipleObjectsReturned) as exc:
                raise SignerUnavailable(f"token {self.label!r} has no single private key with id {key_id.hex()} "
                                        f"({type(exc).__name__})") from None
            except p11.exceptions.PKCS11Error as exc:
                self._handles.pop(key_id, None)
                raise SignerUnavailable(f"token {self.label!r} refused to sign with key {key_id.hex()}: "
                                        f"{type(exc).__name__} {exc}") from exc


def _uncompressed(ec_point: bytes) -> bytes:
    """The 65-byte point of ``CKA_EC_POINT`` (DER OCTET STRING wrapping it, as PKCS#11 v2.40 says;
    some tokens give the bare point)."""
    raw = bytes(ec_point)
    if len(raw) == 67 and raw[0] == 0x04 and raw[1] == 65:
        raw = raw[2:]
    if len(raw) != 65 or raw[0] != 0x04:
        raise SignerUnavailable(f"the token's EC point is not an uncompressed secp256k1 point ({len(raw)} bytes)")
    return raw


class Pkcs11Signer:
    """One account whose key lives on a token: it signs digests there; the low s and the
    recovery id are computed here against its public key."""

    def __init__(self, token: Pkcs11Token, key_id: bytes, public_key: bytes) -> None:
        self.token = token
        self.key_id = key_id
        self.public_key = public_key
        self.address = address_of(public_key)

    @property
    def reference(self) -> str:
        """How the store finds this key again (the module docstring's JSON)."""
        return json.dumps({"v": 1, "alg": REFERENCE_ALG, "token": self.token.label, "id": self.key_id.hex(),
                           "address": self.address})

    def sign_digest(self, digest: bytes) -> Signature:
        return complete(digest, self.token.sign_raw(self.key_id, digest), public_key=self.public_key)

    def __repr__(self) -> str:
        return f"Pkcs11Signer({self.address} on {self.token.label!r})"


class Pkcs11Custody:
    """Members' keys made and kept on one token (a :class:`~ledger.ports.KeyCustody`)."""

    def __init__(self, token: Pkcs11Token) -> None:
        self.token = token

    def create(self, *, owner: str) -> HeldKey:
        key_id, public_key = self.token.generate(label=f"ebill {owner}")
        signer = Pkcs11Signer(self.token, key_id, public_key)
        return HeldKey(signer.address, signer.reference)

    def open(self, reference: str, *, owner: str, address: str) -> Pkcs11Signer:
        doc = parse_reference(reference)
        if doc["token"] != self.token.label:
            raise SignerUnavailable(f"the key of {owner} ({address}) is on token {doc['token']!r}, but this service "
                                    f"signs with token {self.token.label!r} (EBILL_SIGNER)")
        signer = Pkcs11Signer(self.token, bytes.fromhex(doc["id"]), self.token.public_key(bytes.fromhex(doc["id"])))
        if signer.address.lower() != address.lower() or doc["address"].lower() != address.lower():
            raise VerificationError(f"the token key {doc['id']} named for {owner} is {signer.address}'s, not "
                                    f"{address}'s")
        return signer


def is_reference(text: str) -> bool:
    """Whether a stored key is a token reference (rather than a key sealed in the store)."""
    try:
        doc = json.loads(text)
    except ValueError:
        return False
    return isinstance(doc, dict) and doc.get("alg") == REFERENCE_ALG


def parse_reference(text: str) -> dict[str, str]:
    """A token reference's fields; :class:`InvalidInput` when it is not one."""
    try:
        doc = json.loads(text)
        if doc.get("v") != 1 or doc.get("alg") != REFERENCE_ALG:
            raise ValueError("not a version-1 pkcs11 reference")
        for name in ("token", "id", "address"):
            if not isinstance(doc.get(name), str):
                raise ValueError(f"{name} missing")
        bytes.fromhex(doc["id"])
    except (ValueError, AttributeError) as exc:
        raise InvalidInput.single("keystore", "token-reference", f"not a PKCS#11 key reference: {exc}") from None
    return {k: doc[k] for k in ("token", "id", "address")}
