"""The signed QR payload printed on every invoice (spec: ``docs/qr-payload.md``).

The text is ``EBILL:`` + Base45 of 118 bytes (183 characters, a version 8-M QR code).
Layout of version 1, every field big-endian and fixed-width::

    0  version       u8     1
    1  issuer        u40    the 11 digits after "H" (institution code H + 11 digits)
    6  invoiceCode   u32    8 digits, < 10**8
    10 invoiceNumber u40    10 digits, < 10**10
    15 issueDate     u16    days since 1970-01-01 (1970-01-01 .. 2149-06-06)
    17 totalFen      u40    1 .. 10**12 fen
    22 fingerprint   32 B   keccak256(JCS(invoice header))
    54 signature     64 B   EIP-2098 compact: r, then yParity << 255 | s (low s)

The signature is the issuing hospital's secp256k1 ECDSA signature over the EIP-712
typed data :data:`EIP712_TYPES` under the domain ("EbillLedger Invoice", "1", chainId,
ledger contract), so ethers, viem or eth-account verify it unchanged. The domain is not
in the payload: a verifier brings it from its registry snapshot, so a seal signed for a
test deployment does not verify against production.

Decoding refuses every non-canonical text (wrong prefix, non-Base45, wrong version or
length, out-of-range field, high-s signature) with :class:`InvalidInput` naming the
rule; checking the signer raises :class:`SignatureInvalid`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from functools import lru_cache
from typing import TYPE_CHECKING, Any, TypeVar

import coincurve

from ledger.base45 import b45decode, b45encode
from ledger.errors import FieldProblem, InvalidInput, SignatureInvalid
from ledger.hashing import Fingerprint, Hash32, keccak256
from ledger.invoice import DATE_RE, INVOICE_CODE_RE, INVOICE_NUMBER_RE, ISSUER_RE, MAX_AMOUNT_FEN
from ledger.signature import SECP256K1_N, checksum_address

if TYPE_CHECKING:
    from ledger.fingerprint import SealedInvoice
    from ledger.signature import DigestSigner

PREFIX = "EBILL:"
VERSION = 1
PAYLOAD_BYTES = 118
DOMAIN_NAME = "EbillLedger Invoice"
DOMAIN_VERSION = "1"

#: EIP-712 types, as ethers' ``TypedDataEncoder`` and eth-account's ``encode_typed_data`` take them
EIP712_TYPES: dict[str, list[dict[str, str]]] = {
    "EIP712Domain": [
        {"name": "name", "type": "string"},
        {"name": "version", "type": "string"},
        {"name": "chainId", "type": "uint256"},
        {"name": "verifyingContract", "type": "address"},
    ],
    "InvoiceSeal": [
        {"name": "issuer", "type": "string"},
        {"name": "invoiceCode", "type": "string"},
        {"name": "invoiceNumber", "type": "string"},
        {"name": "issueDate", "type": "uint32"},
        {"name": "totalFen", "type": "uint256"},
        {"name": "fingerprint", "type": "bytes32"},
    ],
}


def _type_string(name: str) -> bytes:
    fields = ",".join(f"{f['type']} {f['name']}" for f in EIP712_TYPES[name])
    return f"{name}({fields})".encode()


_DOMAIN_TYPEHASH = keccak256(_type_string("EIP712Domain"))
_SEAL_TYPEHASH = keccak256(_type_string("InvoiceSeal"))

#: secp256k1 group order; EIP-2 allows only s <= n/2
_HALF_N = SECP256K1_N // 2
_EPOCH = date(1970, 1, 1).toordinal()
_LAST_DAY = date.fromordinal(_EPOCH + 0xFFFF).isoformat()  # 2149-06-06
_ADDRESS_RE = re.compile(r"0x[0-9a-fA-F]{40}\Z")


def _address_bytes(text: object, field: str) -> bytes:
    """20 bytes of a 0x address; mixed case must be a valid EIP-55 checksum."""
    if not isinstance(text, str) or not _ADDRESS_RE.match(text):
        raise InvalidInput.single(field, "address", f"must be 0x followed by 40 hex digits, got {text!r}")
    body = text[2:]
    raw = bytes.fromhex(body)
    if body != body.lower() and body != body.upper() and checksum_address(raw) != text:
        raise InvalidInput.single(field, "address-checksum", f"{text} fails its EIP-55 checksum")
    return raw


@dataclass(frozen=True)
class QrDomain:
    """The EIP-712 domain a seal is signed under: the chain and ledger contract of a deployment."""

    chain_id: int
    verifying_contract: str

    def __post_init__(self) -> None:
        if type(self.chain_id) is not int or not 0 < self.chain_id < 2**256:
            raise InvalidInput.single("chainId", "range", f"must be an integer in 1 .. 2**256-1, got {self.chain_id!r}")
        _address_bytes(self.verifying_contract, "verifyingContract")

    def as_eip712(self) -> dict[str, Any]:
        """The domain as ethers / eth-account take it."""
        return {"name": DOMAIN_NAME, "version": DOMAIN_VERSION, "chainId": self.chain_id,
                "verifyingContract": self.verifying_contract}


@lru_cache(maxsize=64)
def _digest_prefix(domain: QrDomain) -> bytes:
    """``0x1901 || domainSeparator``, computed once per domain."""
    return b"\x19\x01" + _domain_separator(domain)


def _domain_separator(domain: QrDomain) -> bytes:
    return keccak256(
        _DOMAIN_TYPEHASH + keccak256(DOMAIN_NAME.encode()) + keccak256(DOMAIN_VERSION.encode())
        + domain.chain_id.to_bytes(32, "big")
        + _address_bytes(domain.verifying_contract, "verifyingContract").rjust(32, b"\0")
    )


@dataclass(frozen=True)
class InvoiceSeal:
    """What the QR code states about an invoice; every field has exactly one valid spelling."""

    issuer: str
    invoice_code: str
    invoice_number: str
    issue_date: str
    total_fen: int
    fingerprint: Fingerprint

    def __post_init__(self) -> None:
        problems = [p for p in _seal_problems(self) if p is not None]
        if problems:
            raise InvalidInput(problems)

    @classmethod
    def of_invoice(cls, sealed: SealedInvoice) -> InvoiceSeal:
        """The seal of a fingerprinted invoice; the date is the issue time's local date."""
        inv = sealed.invoice
        return cls(issuer=inv.issuer, invoice_code=inv.invoice_code, invoice_number=inv.invoice_number,
                   issue_date=inv.issue_date, total_fen=inv.total_fen, fingerprint=sealed.fingerprint)

    def as_eip712(self) -> dict[str, Any]:
        """The ``InvoiceSeal`` message as ethers / eth-account take it (issueDate as yyyymmdd)."""
        return {"issuer": self.issuer, "invoiceCode": self.invoice_code, "invoiceNumber": self.invoice_number,
                "issueDate": int(self.issue_date.replace("-", "")), "totalFen": self.total_fen,
                "fingerprint": "0x" + self.fingerprint.hex()}


def _seal_problems(seal: InvoiceSeal) -> list[FieldProblem | None]:
    def code(field: str, value: object, regex: Any, shape: str) -> FieldProblem | None:
        if isinstance(value, str) and regex.match(value):
            return None
        return FieldProblem(field, "format", f"must be {shape}, got {value!r}")

    problems = [
        code("issuer", seal.issuer, ISSUER_RE, "H followed by 11 digits"),
        code("invoiceCode", seal.invoice_code, INVOICE_CODE_RE, "8 digits"),
        code("invoiceNumber", seal.invoice_number, INVOICE_NUMBER_RE, "10 digits"),
    ]
    d = seal.issue_date
    if not isinstance(d, str) or not DATE_RE.match(d):
        problems.append(FieldProblem("issueDate", "format", f"must be YYYY-MM-DD, got {d!r}"))
    elif not _is_calendar_date(d):
        problems.append(FieldProblem("issueDate", "calendar-date", f"{d} is not a calendar date"))
    elif not "1970-01-01" <= d <= _LAST_DAY:
        problems.append(FieldProblem("issueDate", "range", f"must be 1970-01-01 .. {_LAST_DAY}, got {d}"))
    t = seal.total_fen
    if type(t) is not int or not 0 < t <= MAX_AMOUNT_FEN:
        problems.append(FieldProblem("totalFen", "range", f"must be an integer in 1 .. {MAX_AMOUNT_FEN}, got {t!r}"))
    f = seal.fingerprint
    if not isinstance(f, bytes) or len(f) != 32:
        problems.append(FieldProblem("fingerprint", "format", f"must be 32 bytes, got {f!r}"))
    return problems


def _is_calendar_date(text: str) -> bool:
    try:
        date.fromisoformat(text)
    except ValueError:
        return False
    return True


def seal_digest(seal: InvoiceSeal, domain: QrDomain) -> Hash32:
    """The EIP-712 digest ``keccak256(0x1901 || domainSeparator || hashStruct(seal))``."""
    struct_hash = keccak256(
        _SEAL_TYPEHASH + keccak256(seal.issuer.encode()) + keccak256(seal.invoice_code.encode())
        + keccak256(seal.invoice_number.encode())
        + int(seal.issue_date.replace("-", "")).to_bytes(32, "big")
        + seal.total_fen.to_bytes(32, "big") + seal.fingerprint
    )
    return Hash32(keccak256(_digest_prefix(domain) + struct_hash))


@dataclass(frozen=True)
class SignedSeal:
    """A seal with its signature as every Ethereum tool takes it: 65 bytes r || s || v (v 27/28, low s)."""

    seal: InvoiceSeal
    signature: bytes

    def __post_init__(self) -> None:
        sig = self.signature
        if not isinstance(sig, bytes) or len(sig) != 65:
            raise InvalidInput.single("signature", "signature-length", f"must be 65 bytes r||s||v, got {sig!r}")
        if sig[64] not in (27, 28):
            raise InvalidInput.single("signature", "signature-v", f"v must be 27 or 28, got {sig[64]}")
        _check_rs(int.from_bytes(sig[:32], "big"), int.from_bytes(sig[32:64], "big"))

    def encode(self) -> str:
        """The QR text: ``EBILL:`` + Base45 of the version-1 binary layout."""
        s = self.seal
        y_parity_and_s = ((self.signature[64] - 27) << 255) | int.from_bytes(self.signature[32:64], "big")
        payload = (
            bytes([VERSION]) + int(s.issuer[1:]).to_bytes(5, "big") + int(s.invoice_code).to_bytes(4, "big")
            + int(s.invoice_number).to_bytes(5, "big")
            + (date.fromisoformat(s.issue_date).toordinal() - _EPOCH).to_bytes(2, "big")
            + s.total_fen.to_bytes(5, "big") + s.fingerprint
            + self.signature[:32] + y_parity_and_s.to_bytes(32, "big")
        )
        return PREFIX + b45encode(payload)

    def signer(self, domain: QrDomain) -> str:
        """The EIP-55 address that signed this seal under ``domain``.

        Raises :class:`SignatureInvalid` when the signature recovers to no key at all.
        """
        return checksum_address(self.signer_bytes(domain))

    def signer_bytes(self, domain: QrDomain) -> bytes:
        """The 20-byte account that signed this seal under ``domain`` (no EIP-55 spelling: the fast path).

        Raises :class:`SignatureInvalid` when the signature recovers to no key at all.
        """
        sig = self.signature[:64] + bytes((self.signature[64] - 27,))
        try:
            key = coincurve.PublicKey.from_signature_and_message(sig, seal_digest(self.seal, domain), hasher=None)
        except ValueError as exc:
            raise SignatureInvalid(f"the seal's signature recovers to no public key: {exc}") from exc
        return keccak256(key.format(compressed=False)[1:])[12:]


def _check_rs(r: int, s: int) -> None:
    if not 0 < r < SECP256K1_N or not 0 < s < SECP256K1_N:
        raise InvalidInput.single("signature", "signature-range", f"r and s must be in 1 .. n-1, got r={r:#x} s={s:#x}")
    if s > _HALF_N:
        raise InvalidInput.single("signature", "signature-high-s", f"s = {s:#x} is above n/2 (EIP-2 allows low s only)")


def sign_seal_with(seal: InvoiceSeal, *, signer: DigestSigner, domain: QrDomain) -> SignedSeal:
    """Sign ``seal`` under ``domain`` with the hospital's key wherever it is held (in memory, on a
    PKCS#11 token): the signer signs the EIP-712 digest and returns a low-s recoverable signature."""
    return SignedSeal(seal, signer.sign_digest(seal_digest(seal, domain)).rsv())


def sign_seal(seal: InvoiceSeal, *, private_key: bytes, domain: QrDomain) -> SignedSeal:
    """Sign ``seal`` under ``domain`` with a hospital's 32-byte secp256k1 key (deterministic, RFC 6979).

    Raises ``ValueError`` when ``private_key`` is not a secp256k1 secret (32 bytes, 1 .. n-1).
    """
    rsv = coincurve.PrivateKey(private_key).sign_recoverable(seal_digest(seal, domain), hasher=None)
    return SignedSeal(seal, rsv[:64] + bytes([27 + rsv[64]]))  # libsecp256k1 always gives low s


# (field, offset, width, largest value), the numeric fields of version 1 after the version byte
_FIELDS = (("issuer", 1, 5, 10**11 - 1), ("invoiceCode", 6, 4, 10**8 - 1), ("invoiceNumber", 10, 5, 10**10 - 1),
           ("issueDate", 15, 2, 0xFFFF), ("totalFen", 17, 5, MAX_AMOUNT_FEN))


def decode_qr(text: str) -> SignedSeal:
    """Parse and check a QR text; the result re-encodes to exactly ``text``.

    Raises :class:`InvalidInput` naming the first broken rule: ``type``, ``qr-prefix``,
    ``base45``, ``qr-version``, ``qr-length``, ``range`` (a field), ``signature-range``,
    ``signature-high-s``. Does not check who signed: see :func:`verify_seal_signature`.
    """
    if not isinstance(text, str):
        raise InvalidInput.single("qr", "type", f"must be a string, got {type(text).__name__}")
    if not text.startswith(PREFIX):
        raise InvalidInput.single("qr", "qr-prefix", f"must start with {PREFIX!r}, got {text[:8]!r}")
    try:
        raw = b45decode(text[len(PREFIX):])
    except ValueError as exc:
        raise InvalidInput.single("qr", "base45", f"not canonical Base45 after the prefix: {exc}") from exc
    if not raw:
        raise InvalidInput.single("qr", "qr-length", "the payload is empty")
    if raw[0] != VERSION:
        raise InvalidInput.single("qr", "qr-version", f"payload version {raw[0]} is not supported (only {VERSION})")
    if len(raw) != PAYLOAD_BYTES:
        what = "truncated" if len(raw) < PAYLOAD_BYTES else "trailing bytes"
        raise InvalidInput.single(
            "qr", "qr-length", f"a version {VERSION} payload has {PAYLOAD_BYTES} bytes, got {len(raw)} ({what})"
        )
    n: dict[str, int] = {}
    for field, offset, width, top in _FIELDS:
        n[field] = int.from_bytes(raw[offset : offset + width], "big")
        if n[field] > top:
            raise InvalidInput.single(field, "range", f"encodes {n[field]}, above the largest value {top}")
    if n["totalFen"] == 0:
        raise InvalidInput.single("totalFen", "range", "encodes 0; a total is at least 1 fen")
    r = int.from_bytes(raw[54:86], "big")
    y_parity_and_s = int.from_bytes(raw[86:118], "big")
    s = y_parity_and_s & ((1 << 255) - 1)
    _check_rs(r, s)
    # Every field was range-checked above and is formatted to its one valid spelling, so
    # the constructors' re-validation (regexes, calendar parsing) is skipped: it was a
    # third of the decoding time.
    seal = _trusted(
        InvoiceSeal, issuer=f"H{n['issuer']:011d}", invoice_code=f"{n['invoiceCode']:08d}",
        invoice_number=f"{n['invoiceNumber']:010d}",
        issue_date=date.fromordinal(_EPOCH + n["issueDate"]).isoformat(), total_fen=n["totalFen"],
        fingerprint=Fingerprint(raw[22:54]),
    )
    return _trusted(SignedSeal, seal=seal,
                    signature=raw[54:86] + s.to_bytes(32, "big") + bytes([27 + (y_parity_and_s >> 255)]))


_T = TypeVar("_T")


def _trusted(cls: type[_T], **fields: Any) -> _T:
    """An instance of frozen dataclass ``cls`` built without ``__post_init__`` (fields already valid)."""
    obj = object.__new__(cls)
    for name, value in fields.items():
        object.__setattr__(obj, name, value)
    return obj


def verify_seal_signature(signed: SignedSeal, *, domain: QrDomain, expected_signer: str) -> None:
    """Check that ``expected_signer`` (a hospital key from the registry snapshot) signed ``signed``.

    Raises :class:`SignatureInvalid` saying which account was expected and which signed.
    """
    expected = _address_bytes(expected_signer, "expectedSigner")
    recovered = signed.signer(domain)
    if bytes.fromhex(recovered[2:]) != expected:
        s = signed.seal
        raise SignatureInvalid(
            f"seal of invoice {s.issuer}/{s.invoice_code}/{s.invoice_number} was signed by {recovered}, "
            f"expected {checksum_address(expected)} (chain {domain.chain_id}, ledger {domain.verifying_contract})"
        )
