"""The national insurance e-voucher: a citizen's bearer token, an ES256 JWT.

The e-voucher platform signs a compact JWS with its P-256 key; the claims API accepts
it as ``Authorization: Bearer <token>`` and learns who is calling from ``sub`` (the
18-character resident ID). :class:`VoucherVerifier` holds only the platform's public
key and accepts nothing else: ES256 alone, the key configured (never one named or
carried by the token: ``jwk``/``jku``/``x5u``/``x5c`` are refused and nothing is
fetched), ``iss``/``aud``/``sub``/``iat``/``exp`` required, a bounded lifetime.
:class:`VoucherIssuer` holds a private key and mints tokens for development and
tests (:func:`ledger.devtools.vouchers.dev_issuer` keeps one in ``$EBILL_HOME/secrets``).

Errors::

    LedgerError
    ├── InvalidInput       mint: not a resident ID, non-positive ttl; a key that is not P-256
    └── InvalidVoucher     verify: the token is refused; ``reason`` names the check, the message says why
"""

from __future__ import annotations

import base64
import json
import math
import re
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from ledger.errors import InvalidInput, InvalidVoucher
from ledger.identity import national_id_problem, normalise_national_id

AUDIENCE = "ebill-ledger"
ALGORITHM = "ES256"
MAX_TOKEN_BYTES = 4096

# the signature may be empty here so that an unsigned (alg "none") token is refused by name
_COMPACT_JWS = re.compile(r"[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*\Z")
# header parameters a verifier may see; anything else changes how the token must be
# read (crit, b64, cty) or where the key comes from (jwk, jku, x5u, x5c) and is refused
_ALLOWED_HEADER = frozenset({"alg", "typ", "kid"})
_KEY_HEADERS = frozenset({"jwk", "jku", "x5u", "x5c"})
_REQUIRED_CLAIMS = ("iss", "aud", "sub", "iat", "exp")
_ES256_SIGNATURE_BYTES = 64  # r || s, 32 bytes each (RFC 7518 §3.4), not DER


@dataclass(frozen=True)
class Voucher:
    """What a verified e-voucher says: who (the normalised resident ID) and for how long."""

    national_id: str
    name: str | None
    issued_at: datetime
    expires_at: datetime
    token_id: str | None


class VoucherIssuer:
    """Mints e-vouchers with a P-256 private key (development and tests only)."""

    def __init__(self, key: ec.EllipticCurvePrivateKey, *, issuer: str) -> None:
        _require_p256(key.curve, "private key")
        if not issuer:
            raise InvalidInput.single("issuer", "non-empty", "the e-voucher issuer must not be empty")
        self._key = key
        self.issuer = issuer

    @classmethod
    def generate(cls, issuer: str = "dev-evoucher") -> VoucherIssuer:
        """A fresh random P-256 key."""
        return cls(ec.generate_private_key(ec.SECP256R1()), issuer=issuer)

    @classmethod
    def from_pem(cls, pem: bytes, issuer: str) -> VoucherIssuer:
        """The key from an unencrypted PKCS#8 (or SEC1) PEM; raises InvalidInput unless it is P-256."""
        try:
            key = serialization.load_pem_private_key(pem, password=None)
        except (ValueError, TypeError) as exc:
            raise InvalidInput.single("evoucher key", "pem", f"not an unencrypted PEM private key: {exc}") from exc
        if not isinstance(key, ec.EllipticCurvePrivateKey):
            raise InvalidInput.single("evoucher key", "p-256", f"expected an EC P-256 key, got {type(key).__name__}")
        return cls(key, issuer=issuer)

    def private_pem(self) -> bytes:
        """The private key as unencrypted PKCS#8 PEM."""
        return self._key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )

    def public_pem(self) -> bytes:
        """The public key as SubjectPublicKeyInfo PEM, what a :class:`VoucherVerifier` is given."""
        return self._key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )

    def mint(self, national_id: str, *, name: str | None = None, ttl: timedelta = timedelta(hours=12),
             now: datetime | None = None) -> str:
        """A signed e-voucher for ``national_id`` valid from ``now`` for ``ttl``.

        Requires a valid resident ID (InvalidInput otherwise) and ``ttl`` > 0.
        """
        problem = national_id_problem(national_id)
        if problem is not None:
            raise InvalidInput.single("national_id", "resident-id", problem)
        if ttl <= timedelta(0):
            raise InvalidInput.single("ttl", "positive", f"the lifetime must be positive, got {ttl}")
        issued = math.floor(_aware(now or datetime.now(UTC), "now").timestamp())
        claims: dict[str, Any] = {
            "iss": self.issuer, "aud": AUDIENCE, "sub": normalise_national_id(national_id),
            "iat": issued, "nbf": issued, "exp": issued + math.ceil(ttl.total_seconds()),
            "jti": secrets.token_urlsafe(16),
        }
        if name is not None:
            claims["name"] = name
        return jwt.encode(claims, self._key, algorithm=ALGORITHM, headers={"typ": "JWT"})


class VoucherVerifier:
    """Checks e-vouchers against the e-voucher platform's public key; nothing is ever fetched."""

    def __init__(self, public_pem: bytes, *, issuer: str, audience: str = AUDIENCE,
                 leeway: timedelta = timedelta(seconds=30), max_ttl: timedelta = timedelta(days=1)) -> None:
        try:
            key = serialization.load_pem_public_key(public_pem)
        except (ValueError, TypeError) as exc:
            raise InvalidInput.single("evoucher public key", "pem", f"not a PEM public key: {exc}") from exc
        if not isinstance(key, ec.EllipticCurvePublicKey):
            raise InvalidInput.single("evoucher public key", "p-256",
                                      f"expected an EC P-256 key, got {type(key).__name__}")
        _require_p256(key.curve, "public key")
        if not issuer or not audience:
            raise InvalidInput.single("issuer", "non-empty", "the issuer and the audience must not be empty")
        if leeway < timedelta(0) or max_ttl <= timedelta(0):
            raise InvalidInput.single("leeway", "range", f"need leeway >= 0 and max_ttl > 0, got {leeway}, {max_ttl}")
        self._key = key
        self._jws = jwt.PyJWS(algorithms=[ALGORITHM])
        self.issuer = issuer
        self.audience = audience
        self.leeway = leeway
        self.max_ttl = max_ttl

    def verify(self, token: str, *, now: datetime | None = None) -> Voucher:
        """The voucher ``token`` stands for; raises :class:`InvalidVoucher` saying which check failed."""
        size = len(token.encode("utf-8", "surrogatepass"))
        if size > MAX_TOKEN_BYTES:
            raise InvalidVoucher("oversized", f"the token is {size} bytes, more than the {MAX_TOKEN_BYTES} allowed")
        if not _COMPACT_JWS.match(token):
            raise InvalidVoucher("malformed", "not a compact JWS (three base64url segments separated by dots)")
        header_b64, _, signature_b64 = token.split(".")
        self._check_header(_json_object(header_b64, "header"))
        _check_signature_encoding(signature_b64)
        try:
            payload = self._jws.decode_complete(token, self._key, algorithms=[ALGORITHM])["payload"]
        except jwt.InvalidSignatureError:
            raise InvalidVoucher("signature", "signed by another key than the configured e-voucher key") from None
        except jwt.PyJWTError as exc:  # pragma: no cover - the checks above leave PyJWT nothing to object to
            raise InvalidVoucher("malformed", str(exc)) from exc
        claims = _json_object(payload, "payload")
        return self._check_claims(claims, _aware(now or datetime.now(UTC), "now"))

    def _check_header(self, header: dict[str, Any]) -> None:
        alg = header.get("alg")
        if alg != ALGORITHM:
            raise InvalidVoucher("algorithm",
                                 f"algorithm {alg!r} is not accepted: e-vouchers are signed with ES256 only")
        for name in sorted(header):
            if name in _KEY_HEADERS:
                raise InvalidVoucher("header", f"header parameter {name!r} is refused: the verification key is "
                                               "configured, never taken from the token")
            if name not in _ALLOWED_HEADER:
                raise InvalidVoucher("header", f"header parameter {name!r} is not supported "
                                               f"(allowed: {', '.join(sorted(_ALLOWED_HEADER))})")

    def _check_claims(self, claims: dict[str, Any], now: datetime) -> Voucher:
        missing = [c for c in _REQUIRED_CLAIMS if c not in claims]
        if missing:
            raise InvalidVoucher("claims", f"required claims missing: {', '.join(missing)}")
        if claims["iss"] != self.issuer:
            raise InvalidVoucher("issuer", f"issuer {claims['iss']!r} is not the configured e-voucher issuer "
                                           f"{self.issuer!r}")
        aud = claims["aud"]
        audiences = aud if isinstance(aud, list) else [aud]
        if self.audience not in audiences:
            raise InvalidVoucher("audience", f"audience {aud!r} does not include {self.audience!r}")
        problem = national_id_problem(claims["sub"])
        if problem is not None:
            raise InvalidVoucher("subject", f"subject is not a resident ID: {problem}")
        for optional in ("name", "jti"):
            if claims.get(optional) is not None and not isinstance(claims[optional], str):
                raise InvalidVoucher("claims", f"claim {optional!r} must be a string, "
                                               f"got {type(claims[optional]).__name__}")
        issued, expires = _numeric_date(claims, "iat"), _numeric_date(claims, "exp")
        if expires <= issued:
            raise InvalidVoucher("lifetime", f"expires at {_iso(expires)}, not after it was issued at {_iso(issued)}")
        if expires - issued > self.max_ttl:
            raise InvalidVoucher("lifetime", f"lifetime {_seconds(expires - issued)} exceeds the maximum "
                                             f"{_seconds(self.max_ttl)} (issued {_iso(issued)}, expires "
                                             f"{_iso(expires)})")
        if "nbf" in claims and _numeric_date(claims, "nbf") > now + self.leeway:
            raise InvalidVoucher("not-yet-valid", f"not valid before {_iso(_numeric_date(claims, 'nbf'))} "
                                                  f"(now {_iso(now)})")
        if issued > now + self.leeway:
            raise InvalidVoucher("not-yet-valid", f"issued at {_iso(issued)}, in the future (now {_iso(now)})")
        if expires <= now - self.leeway:
            raise InvalidVoucher("expired", f"expired at {_iso(expires)} (now {_iso(now)})")
        return Voucher(national_id=normalise_national_id(claims["sub"]), name=claims.get("name"),
                       issued_at=issued, expires_at=expires, token_id=claims.get("jti"))


def _require_p256(curve: ec.EllipticCurve, what: str) -> None:
    if not isinstance(curve, ec.SECP256R1):
        raise InvalidInput.single("evoucher key", "p-256", f"the {what} is on {curve.name}, expected P-256 (secp256r1)")


def _aware(t: datetime, name: str) -> datetime:
    if t.tzinfo is None or t.utcoffset() is None:
        raise ValueError(f"{name} must be timezone-aware, got {t!r}")
    return t


def _b64decode(segment: str) -> bytes:
    return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))


def _check_signature_encoding(segment: str) -> None:
    """The signature segment must be the one base64url spelling of 64 bytes (r || s)."""
    try:
        raw = _b64decode(segment)
    except ValueError:
        raise InvalidVoucher("malformed", "the signature is not base64url") from None
    if len(raw) != _ES256_SIGNATURE_BYTES:
        raise InvalidVoucher("signature", f"the signature is {len(raw)} bytes, expected {_ES256_SIGNATURE_BYTES} "
                                          "(ES256 r || s)")
    # the unused low bits of the last character must be zero, or one signature has several spellings
    if base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii") != segment:
        raise InvalidVoucher("malformed", "the signature is not canonical base64url")


def _json_object(segment: str | bytes, part: str) -> dict[str, Any]:
    """A JSON object, UTF-8, no duplicate names, no NaN/Infinity."""
    try:
        raw = _b64decode(segment) if isinstance(segment, str) else segment
        value = json.loads(raw.decode("utf-8"), object_pairs_hook=_no_duplicates, parse_constant=_no_constant)
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidVoucher("malformed", f"the {part} is not a JSON object: {exc}") from None
    if not isinstance(value, dict):
        raise InvalidVoucher("malformed", f"the {part} is not a JSON object but {type(value).__name__}")
    return value


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj: dict[str, Any] = {}
    for name, value in pairs:
        if name in obj:
            raise ValueError(f"duplicate member {name!r}")
        obj[name] = value
    return obj


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def _numeric_date(claims: dict[str, Any], name: str) -> datetime:
    value = claims[name]
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidVoucher("claims", f"claim {name!r} must be a NumericDate (seconds since the epoch), "
                                       f"got {type(value).__name__}")
    try:
        return datetime.fromtimestamp(value, UTC)
    except (OverflowError, OSError, ValueError):
        raise InvalidVoucher("claims", f"claim {name!r} = {value} is out of range") from None


def _iso(t: datetime) -> str:
    return t.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _seconds(d: timedelta) -> str:
    return f"{d.total_seconds():g} s"
