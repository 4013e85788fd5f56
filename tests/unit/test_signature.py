"""ledger.signature (a raw r || s made Ethereum's: low s, recovery id) and the signing of transactions and
EIP-712 data through a digest signer, cross-checked against eth-account's own signing of the same key."""

from __future__ import annotations

from typing import Any

import coincurve
import pytest
from eth_account import Account
from eth_account.messages import encode_typed_data

from ledger.adapters.custody import signer_config
from ledger.adapters.pkcs11_token import Pkcs11Config, is_reference, parse_reference
from ledger.adapters.signers import LocalSigner, sign_transaction, sign_typed_data
from ledger.errors import InvalidInput, SignatureInvalid
from ledger.hashing import keccak256
from ledger.signature import HALF_N, SECP256K1_N, Signature, address_of, complete, low_s

KEY = bytes.fromhex("62852affd81809b77b04b1b2a8fd020c3a1f3b35e29f4e84292c2e9ac9e9c841")
OTHER = bytes.fromhex("4c0883a69102937d6231471b5dbb6204fe5129617082792ae468d01a3f362318")
PUBLIC = coincurve.PrivateKey(KEY).public_key.format(compressed=False)


def _raw(digest: bytes, key: bytes = KEY) -> tuple[int, int, int]:
    rsv = coincurve.PrivateKey(key).sign_recoverable(digest, hasher=None)
    return int.from_bytes(rsv[:32], "big"), int.from_bytes(rsv[32:64], "big"), rsv[64]


@pytest.mark.parametrize(("s", "expected"), [
    (1, 1), (HALF_N, HALF_N), (HALF_N + 1, SECP256K1_N - HALF_N - 1), (SECP256K1_N - 1, 1),
])
def test_low_s_mirrors_only_the_upper_half(s: int, expected: int) -> None:
    assert low_s(7, s) == (7, expected)


@pytest.mark.parametrize("message", [b"one", b"two", b"three", b"four", b"five", b"six"])
def test_a_raw_signature_high_or_low_completes_to_the_libsecp256k1_one(message: bytes) -> None:
    digest = keccak256(message)
    r, s, parity = _raw(digest)
    expected = Signature(r, s, parity)
    low = r.to_bytes(32, "big") + s.to_bytes(32, "big")
    high = r.to_bytes(32, "big") + (SECP256K1_N - s).to_bytes(32, "big")   # what a token may return
    assert complete(digest, low, public_key=PUBLIC) == expected
    assert complete(digest, high, public_key=PUBLIC) == expected
    assert complete(digest, high, public_key=coincurve.PublicKey(PUBLIC).format()) == expected   # compressed


def test_both_recovery_ids_occur_and_each_recovers_the_key() -> None:
    seen = set()
    for n in range(24):
        digest = keccak256(n.to_bytes(4, "big"))
        r, s, _ = _raw(digest)
        sig = complete(digest, r.to_bytes(32, "big") + s.to_bytes(32, "big"), public_key=PUBLIC)
        seen.add(sig.y_parity)
        assert Account._recover_hash(digest, vrs=(sig.y_parity + 27, sig.r, sig.s)) == address_of(PUBLIC)
    assert seen == {0, 1}


_DIGEST = keccak256(b"digest")
_R, _S, _ = _raw(_DIGEST)
_R_OTHER, _S_OTHER, _ = _raw(_DIGEST, OTHER)


@pytest.mark.parametrize(("raw", "public", "message"), [
    (_R_OTHER.to_bytes(32, "big") + _S_OTHER.to_bytes(32, "big"), PUBLIC, "recovers to another key"),
    (_R.to_bytes(32, "big") + _S.to_bytes(32, "big"), coincurve.PrivateKey(OTHER).public_key.format(compressed=False),
     "recovers to another key"),
    (_R.to_bytes(32, "big") + _S.to_bytes(32, "big")[1:], PUBLIC, "64 bytes"),
    (bytes(32) + _S.to_bytes(32, "big"), PUBLIC, "1 .. n-1"),
    (SECP256K1_N.to_bytes(32, "big") + _S.to_bytes(32, "big"), PUBLIC, "1 .. n-1"),
    (_R.to_bytes(32, "big") + bytes(32), PUBLIC, "1 .. n-1"),
], ids=["signed-by-another-key", "checked-against-another-key", "short", "r-zero", "r-equals-n", "s-zero"])
def test_a_signature_that_is_not_the_keys_over_the_digest_is_refused(raw: bytes, public: bytes, message: str) -> None:
    with pytest.raises(SignatureInvalid, match=message):
        complete(_DIGEST, raw, public_key=public)


@pytest.mark.parametrize(("r", "s", "parity"), [(0, 1, 0), (1, HALF_N + 1, 0), (1, 1, 2), (SECP256K1_N, 1, 1)])
def test_a_signature_value_is_low_s_and_recoverable_or_refused(r: int, s: int, parity: int) -> None:
    with pytest.raises(SignatureInvalid):
        Signature(r, s, parity)


TYPED: dict[str, Any] = {
    "types": {"EIP712Domain": [{"name": "name", "type": "string"}, {"name": "chainId", "type": "uint256"}],
              "AnchorBatch": [{"name": "root", "type": "bytes32"}, {"name": "leafCount", "type": "uint32"}]},
    "primaryType": "AnchorBatch", "domain": {"name": "EbillLedger", "chainId": 1337},
    "message": {"root": keccak256(b"root"), "leafCount": 3},
}


def test_typed_data_signed_through_the_digest_signer_equals_eth_accounts() -> None:
    signer = LocalSigner(KEY)
    ours = sign_typed_data(signer, TYPED)
    theirs = Account.sign_message(encode_typed_data(full_message=TYPED), private_key=KEY).signature
    assert ours == bytes(theirs)


@pytest.mark.parametrize("tx", [
    {"chainId": 1337, "nonce": 3, "to": "0x" + "11" * 20, "value": 5, "gas": 21_000, "gasPrice": 10**9, "data": b""},
    {"type": 2, "chainId": 1337, "nonce": 4, "to": "0x" + "11" * 20, "value": 5, "gas": 21_000,
     "maxFeePerGas": 2 * 10**9, "maxPriorityFeePerGas": 10**9, "data": b"\x01\x02"},
    {"type": 1, "chainId": 5, "nonce": 0, "to": "0x" + "22" * 20, "value": 0, "gas": 30_000, "gasPrice": 7,
     "data": b"", "accessList": [{"address": "0x" + "33" * 20, "storageKeys": ["0x" + "00" * 32]}]},
], ids=["legacy-eip155", "eip1559", "eip2930"])
def test_transactions_signed_through_the_digest_signer_equal_eth_accounts(tx: dict[str, Any]) -> None:
    signer = LocalSigner(KEY)
    ours = sign_transaction(signer, {**tx, "from": signer.address})
    assert ours == bytes(Account.sign_transaction(tx, KEY).raw_transaction)
    assert Account.recover_transaction(ours) == signer.address


def test_a_legacy_transaction_without_chain_id_is_refused() -> None:
    with pytest.raises(ValueError, match="chainId"):
        sign_transaction(LocalSigner(KEY), {"nonce": 0, "to": "0x" + "11" * 20, "value": 0, "gas": 21_000,
                                            "gasPrice": 1, "data": b""})


@pytest.mark.parametrize(("uri", "expected"), [
    ("pkcs11:module=/usr/lib/softhsm/libsofthsm2.so;token=ebill;pin-env=EBILL_HSM_PIN",
     Pkcs11Config("/usr/lib/softhsm/libsofthsm2.so", "ebill", "EBILL_HSM_PIN")),
    ("pkcs11:module=/m.so;token=t", Pkcs11Config("/m.so", "t", "EBILL_HSM_PIN")),
    ("pkcs11:token=t;module=/m.so;pin-file=/run/pin;", Pkcs11Config("/m.so", "t", None, "/run/pin")),
    ("pkcs11: module = /m.so ; token = t ", Pkcs11Config("/m.so", "t", "EBILL_HSM_PIN")),
])
def test_signer_uris_name_the_module_token_and_pin(uri: str, expected: Pkcs11Config) -> None:
    assert signer_config(uri) == expected


@pytest.mark.parametrize(("uri", "message"), [
    ("hsm", "expected file or pkcs11"),
    ("pkcs11:module=/m.so", "needs token="),
    ("pkcs11:token=t", "needs module="),
    ("pkcs11:module=/m.so;token=t;slot=0", "slot=0"),
    ("pkcs11:module=/m.so;token=t;token=u", "each once"),
    ("pkcs11:module=/m.so;token=", "each once"),
    ("pkcs11:module=/m.so;token=t;pin-env=A;pin-file=/p", "not both"),
])
def test_a_bad_signer_uri_names_the_setting(uri: str, message: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        signer_config(uri)
    assert caught.value.problems[0].field == "EBILL_SIGNER" and message in caught.value.problems[0].message


@pytest.mark.parametrize("uri", [None, "", "file", " file "])
def test_the_file_keystore_is_the_default(uri: str | None) -> None:
    assert signer_config(uri) is None


def test_token_references_are_told_from_sealed_keys() -> None:
    ref = '{"v": 1, "alg": "pkcs11", "token": "ebill", "id": "00ff", "address": "0x' + "11" * 20 + '"}'
    assert is_reference(ref) and parse_reference(ref)["id"] == "00ff"
    assert not is_reference('{"v": 1, "alg": "A256GCM", "nonce": "00", "ct": "00", "tag": "00"}')
    assert not is_reference("not json")
    with pytest.raises(InvalidInput):
        parse_reference('{"v": 1, "alg": "pkcs11", "token": "ebill", "id": "zz", "address": "0x"}')
