"""The kit's TLS and RPC-token keys: a private CA, node certificates in PKCS#12, and ES256 JSON Web Tokens.

TLS (``--rpc-http-tls-*``): Besu reads its certificate and key from a PKCS#12 keystore
unlocked by a password file. The kit makes its own CA (EC P-256), signs one server
certificate per node for the names clients use (subject alternative names, checked by
clients against the URL's host), and gives clients the CA's certificate (``tls/ca.pem``,
``EBILL_RPC_CA_FILE``). The CA's private key stays in ``secrets/``, to re-issue
certificates (``ebill chain besu-tls``).

Tokens (``--rpc-http-authentication-jwt-public-key-file`` with
``--rpc-http-authentication-jwt-algorithm=ES256``): Besu verifies a token's signature with
the public key, requires an ``exp`` claim, and allows a method when one of the token's
``permissions`` is ``*:*``, ``<namespace>:*`` or ``<namespace>:<method>`` (``eth:call``
for ``eth_call``). The signing key stays in ``secrets/``; tokens are issued with
``ebill chain besu-token``. Everything here uses the ``cryptography`` package and PyJWT.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import jwt
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

#: what the service needs of a node: reading and sending transactions (the eth namespace), the
#: network id and client version; no admin, permissioning, QBFT, txpool or debug methods
SERVICE_PERMISSIONS: tuple[str, ...] = ("eth:*", "net:version", "web3:clientVersion")
#: an operator's token: the service's plus what the runbook uses on a node
OPERATOR_PERMISSIONS: tuple[str, ...] = (*SERVICE_PERMISSIONS, "net:*", "qbft:*", "perm:*", "admin:*", "txpool:*")
JWT_ALGORITHM = "ES256"


@dataclass(frozen=True)
class Issued:
    """A private key and its certificate, PEM-encoded."""

    key_pem: bytes
    cert_pem: bytes


def new_ca(name: str, *, days: int) -> Issued:
    """A self-signed CA (EC P-256) that may sign server certificates only (path length 0)."""
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = dt.datetime.now(dt.UTC)
    cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=days))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(x509.KeyUsage(digital_signature=False, content_commitment=False, key_encipherment=False,
                                         data_encipherment=False, key_agreement=False, key_cert_sign=True,
                                         crl_sign=True, encipher_only=False, decipher_only=False), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
            .sign(key, hashes.SHA256()))
    return Issued(_private_pem(key), cert.public_bytes(serialization.Encoding.PEM))


def server_certificate(ca: Issued, *, names: Sequence[str], days: int) -> Issued:
    """A TLS server certificate for ``names`` (host names and IP addresses), signed by ``ca``."""
    if not names:
        raise ValueError("a server certificate needs at least one name")
    ca_key = serialization.load_pem_private_key(ca.key_pem, password=None)
    ca_cert = x509.load_pem_x509_certificate(ca.cert_pem)
    if not isinstance(ca_key, ec.EllipticCurvePrivateKey):
        raise ValueError("the kit's CA key is not an EC key")
    key = ec.generate_private_key(ec.SECP256R1())
    now = dt.datetime.now(dt.UTC)
    sans: list[x509.GeneralName] = []
    for name in dict.fromkeys(names):
        try:
            sans.append(x509.IPAddress(ipaddress.ip_address(name)))
        except ValueError:
            sans.append(x509.DNSName(name))
    cert = (x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0])]))
            .issuer_name(ca_cert.subject).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(min(now + dt.timedelta(days=days), ca_cert.not_valid_after_utc))
            .add_extension(x509.SubjectAlternativeName(sans), critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
            .sign(ca_key, hashes.SHA256()))
    return Issued(_private_pem(key), cert.public_bytes(serialization.Encoding.PEM))


def pkcs12_keystore(issued: Issued, ca: Issued, *, alias: str) -> tuple[bytes, str]:
    """A PKCS#12 keystore (Besu's ``--rpc-http-tls-keystore-file``) holding ``issued`` and the CA
    certificate, and the random password that opens it."""
    password = secrets.token_urlsafe(24)
    key = serialization.load_pem_private_key(issued.key_pem, password=None)
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise ValueError("expected an EC key")
    data = pkcs12.serialize_key_and_certificates(
        alias.encode(), key, x509.load_pem_x509_certificate(issued.cert_pem),
        [x509.load_pem_x509_certificate(ca.cert_pem)], serialization.BestAvailableEncryption(password.encode()))
    return data, password


def open_keystore(data: bytes, password: str) -> tuple[x509.Certificate, list[x509.Certificate]]:
    """The certificate in a PKCS#12 keystore, and the other certificates with it (``ValueError`` if it
    does not open with ``password``, or holds no key and certificate)."""
    key, cert, more = pkcs12.load_key_and_certificates(data, password.encode())
    if key is None or cert is None:
        raise ValueError("the keystore holds no key and certificate")
    return cert, list(more)


def certificate_names(cert: x509.Certificate) -> set[str]:
    """The DNS names and IP addresses a certificate is valid for."""
    try:
        sans = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return set()
    return {*sans.get_values_for_type(x509.DNSName), *(str(ip) for ip in sans.get_values_for_type(x509.IPAddress))}


def new_signing_key() -> tuple[bytes, bytes]:
    """An ES256 key pair for RPC tokens: (private key PEM, public key PEM as Besu reads it)."""
    key = ec.generate_private_key(ec.SECP256R1())
    public = key.public_key().public_bytes(serialization.Encoding.PEM,
                                          serialization.PublicFormat.SubjectPublicKeyInfo)
    return _private_pem(key), public


def issue_token(signing_key_pem: bytes, *, permissions: Sequence[str], days: float, subject: str,
                now: dt.datetime | None = None) -> str:
    """A JWT Besu accepts for ``permissions`` until ``days`` from now."""
    if not permissions:
        raise ValueError("a token without permissions allows nothing")
    when = now or dt.datetime.now(dt.UTC)
    claims: dict[str, Any] = {"sub": subject, "iat": int(when.timestamp()),
                              "exp": int((when + dt.timedelta(days=days)).timestamp()),
                              "permissions": list(permissions)}
    return jwt.encode(claims, serialization.load_pem_private_key(signing_key_pem, password=None),  # type: ignore[arg-type]
                      algorithm=JWT_ALGORITHM)


def verify_token(token: str, public_key_pem: bytes) -> dict[str, Any]:
    """The claims of ``token`` if it verifies with ``public_key_pem`` and has not expired
    (``jwt.PyJWTError`` otherwise); Besu also refuses a token without ``exp``."""
    claims: dict[str, Any] = jwt.decode(token, public_key_pem, algorithms=[JWT_ALGORITHM],
                                        options={"require": ["exp"]})
    return claims


def permits(permissions: Sequence[str], method: str) -> bool:
    """Whether a token holding ``permissions`` may call ``method`` (Besu's rule: ``*:*``,
    ``namespace:*`` or ``namespace:name`` for ``namespace_name``)."""
    namespace = method.partition("_")[0]
    return any(p in ("*:*", f"{namespace}:*", method.replace("_", ":")) for p in permissions)


def _private_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())
