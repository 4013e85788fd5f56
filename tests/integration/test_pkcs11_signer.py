"""Keys on a PKCS#11 token (SoftHSM2): they sign QR seals, EIP-712 data and transactions, and never leave it.

What the token signs is checked by code no one here wrote: eth-account recovers the signer
of the typed data and of the transactions, the embedded EVM mines a transaction sent from a
token account, and the existing verifier (``verify_seal_signature``, ``verify_offline``)
accepts the seals. The private key object is asked for its value and must refuse.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from eth_account import Account
from eth_account.messages import encode_typed_data
from eth_account.typed_transactions.typed_transaction import TypedTransaction
from hexbytes import HexBytes
from softhsm import OTHER_TOKEN, PIN_ENV, SoftHsm

from ledger.adapters.chains import open_embedded
from ledger.adapters.custody import open_custody, signer_config, token_for
from ledger.adapters.pkcs11_token import Pkcs11Config, Pkcs11Custody, Pkcs11Signer, Pkcs11Token
from ledger.adapters.signers import sign_transaction
from ledger.batch import Batch
from ledger.errors import SignerUnavailable, VerificationError
from ledger.hashing import Fingerprint, keccak256
from ledger.qr import EIP712_TYPES, InvoiceSeal, QrDomain, decode_qr, seal_digest, sign_seal_with, verify_seal_signature
from ledger.signature import HALF_N
from verifier.registry import HospitalKeys, RegistryKey, RegistrySnapshot
from verifier.seal_check import verify_offline

DOMAIN = QrDomain(chain_id=1337, verifying_contract="0x83d485e1176966A961f3A3e9d67D45745aae6742")
H1 = "H33010200001"


def _seal(n: int) -> InvoiceSeal:
    return InvoiceSeal(issuer=H1, invoice_code="33060124", invoice_number=f"{n:010d}", issue_date="2024-03-05",
                       total_fen=2500 + n, fingerprint=Fingerprint(keccak256(f"invoice {n}".encode())))


@pytest.fixture(scope="module")
def token(softhsm_tokens: SoftHsm) -> Pkcs11Token:
    config = signer_config(softhsm_tokens.signer_uri())
    assert config is not None
    return token_for(config)


@pytest.fixture(scope="module")
def signer(token: Pkcs11Token) -> Pkcs11Signer:
    custody = Pkcs11Custody(token)
    held = custody.create(owner=f"hospital:{H1}")
    return custody.open(held.reference, owner=f"hospital:{H1}", address=held.address)


def test_the_private_key_is_sensitive_and_never_extractable(token: Pkcs11Token, signer: Pkcs11Signer) -> None:
    import pkcs11
    from pkcs11 import Attribute, ObjectClass

    session = token._open()
    key = session.get_key(object_class=ObjectClass.PRIVATE_KEY, id=signer.key_id)
    assert key[Attribute.EXTRACTABLE] is False
    assert key[Attribute.SENSITIVE] is True
    assert key[Attribute.NEVER_EXTRACTABLE] is True and key[Attribute.ALWAYS_SENSITIVE] is True
    assert key[Attribute.EC_PARAMS] == bytes.fromhex("06052b8104000a")   # secp256k1's OID
    with pytest.raises(pkcs11.exceptions.AttributeSensitive):
        key[Attribute.VALUE]
    with pytest.raises(pkcs11.exceptions.AttributeReadOnly):   # and it cannot be made extractable later
        key[Attribute.EXTRACTABLE] = True


def test_the_reference_the_store_keeps_holds_no_key_material(signer: Pkcs11Signer) -> None:
    doc = json.loads(signer.reference)
    assert set(doc) == {"v", "alg", "token", "id", "address"}
    assert doc["alg"] == "pkcs11" and doc["address"] == signer.address and len(bytes.fromhex(doc["id"])) == 16


def test_qr_seals_signed_on_the_token_verify_with_the_existing_verifier_and_eth_account(
        signer: Pkcs11Signer) -> None:
    """40 seals: the token's raw s is high about half the time, and both recovery ids occur."""
    parities = set()
    snapshot = RegistrySnapshot(chain_id=DOMAIN.chain_id, contract=DOMAIN.verifying_contract, block_number=1,
                                block_hash="0x" + "ab" * 32,
                                hospitals=(HospitalKeys(H1, (RegistryKey(signer.address, 1, 0),)),))
    for n in range(40):
        seal = _seal(n)
        signed = decode_qr(sign_seal_with(seal, signer=signer, domain=DOMAIN).encode())
        assert int.from_bytes(signed.signature[32:64], "big") <= HALF_N
        parities.add(signed.signature[64])
        verify_seal_signature(signed, domain=DOMAIN, expected_signer=signer.address)
        assert verify_offline(signed.encode(), snapshot).status == "valid-offline"
        typed = {"types": EIP712_TYPES, "primaryType": "InvoiceSeal", "domain": DOMAIN.as_eip712(),
                 "message": {"issuer": seal.issuer, "invoiceCode": seal.invoice_code,
                             "invoiceNumber": seal.invoice_number, "issueDate": int(seal.issue_date.replace("-", "")),
                             "totalFen": seal.total_fen, "fingerprint": bytes(seal.fingerprint)}}
        assert Account.recover_message(encode_typed_data(full_message=typed), signature=signed.signature) \
            == signer.address
        assert bytes(seal_digest(seal, DOMAIN)) == keccak256(b"\x19\x01" + encode_typed_data(full_message=typed).header
                                                            + encode_typed_data(full_message=typed).body)
    assert parities == {27, 28}


def _eip1559(nonce: int, **extra: Any) -> dict[str, Any]:
    return {"type": 2, "chainId": 1337, "nonce": nonce, "to": "0x" + "11" * 20, "value": 12_345, "gas": 21_000,
            "maxFeePerGas": 3 * 10**9, "maxPriorityFeePerGas": 10**9, "data": b"", **extra}


def test_an_eip1559_transaction_signed_on_the_token_recovers_to_its_account(signer: Pkcs11Signer) -> None:
    for nonce in range(6):
        raw = sign_transaction(signer, _eip1559(nonce))
        assert raw[0] == 2   # an EIP-2718 envelope of type 2
        assert Account.recover_transaction(raw) == signer.address
        decoded = TypedTransaction.from_bytes(HexBytes(raw)).as_dict()
        assert decoded["nonce"] == nonce and decoded["value"] == 12_345 and decoded["s"] <= HALF_N


def test_a_legacy_transaction_gets_eip155_replay_protection(signer: Pkcs11Signer) -> None:
    raw = sign_transaction(signer, {"chainId": 1337, "nonce": 0, "to": "0x" + "22" * 20, "value": 1, "gas": 21_000,
                                    "gasPrice": 10**9, "data": b""})
    assert Account.recover_transaction(raw) == signer.address
    with pytest.raises(ValueError, match="from"):
        sign_transaction(signer, {"from": "0x" + "33" * 20, **_eip1559(0)})


def test_the_chain_mines_what_token_keys_sign_anchoring_and_a_type_2_transfer(signer: Pkcs11Signer,
                                                                               token: Pkcs11Token) -> None:
    """A hospital whose key is on the token authorises a batch (EIP-712); the relayer anchors it; a
    type-2 transaction from a token account is mined by the embedded EVM."""
    session = open_embedded()
    session.keyring.hold(signer)
    session.ledger.register_hospital(H1, signer.address)
    batch = Batch(H1, ((Fingerprint(keccak256(b"leaf one")), 100), (Fingerprint(keccak256(b"leaf two")), 200)))
    auth = session.ledger.authorise_batch(signer=signer.address, root=batch.root, leaf_count=2)
    session.ledger.anchor_authorised([[auth]])
    anchored = session.ledger.batch(batch.root)
    assert anchored is not None and anchored.institution_id == H1 and anchored.leaf_count == 2

    w3 = session.ledger.w3
    payer = Pkcs11Custody(token)
    held = payer.create(owner="transfer test")
    sender = payer.open(held.reference, owner="transfer test", address=held.address)
    w3.eth.send_transaction({"from": w3.eth.accounts[0], "to": sender.address, "value": 10**18})
    block = w3.eth.get_block("latest")
    tx = _eip1559(0, chainId=int(w3.eth.chain_id), maxFeePerGas=2 * int(block["baseFeePerGas"]) + 10**9,
                  maxPriorityFeePerGas=10**9)
    receipt = w3.eth.wait_for_transaction_receipt(w3.eth.send_raw_transaction(sign_transaction(sender, tx)))
    assert receipt["status"] == 1 and receipt["type"] == 2
    assert receipt["from"] == sender.address
    assert w3.eth.get_balance("0x" + "11" * 20) == 12_345


def test_a_reference_opens_only_the_key_it_names(signer: Pkcs11Signer, token: Pkcs11Token,
                                                 softhsm_tokens: SoftHsm) -> None:
    custody = Pkcs11Custody(token)
    with pytest.raises(VerificationError, match="not 0x"):
        custody.open(signer.reference, owner="someone", address="0x" + "44" * 20)
    other = Pkcs11Custody(Pkcs11Token(Pkcs11Config(softhsm_tokens.module, OTHER_TOKEN, PIN_ENV)))
    with pytest.raises(SignerUnavailable, match="is on token 'ebill'"):
        other.open(signer.reference, owner=f"hospital:{H1}", address=signer.address)
    gone = json.loads(signer.reference) | {"id": "00" * 16}
    with pytest.raises(SignerUnavailable, match="no single key pair"):
        custody.open(json.dumps(gone), owner=f"hospital:{H1}", address=signer.address)


@pytest.mark.parametrize(("config", "env", "message"), [
    ("pkcs11:module={module};token=ebill;pin-env=EBILL_NO_SUCH_PIN", {}, "export EBILL_NO_SUCH_PIN"),
    # (the other token: PKCS#11 logs a process in per token, and this process is logged in to "ebill")
    ("pkcs11:module={module};token=" + OTHER_TOKEN + ";pin-env=EBILL_WRONG_PIN", {"EBILL_WRONG_PIN": "000000"},
     "refused the PIN"),
    ("pkcs11:module={module};token=no-such-token;pin-env=" + PIN_ENV, {}, "no token labelled 'no-such-token'"),
    ("pkcs11:module=/nonexistent/libpkcs11.so;token=ebill", {}, "does not exist"),
    ("pkcs11:module={module};token=ebill;pin-file=/nonexistent/pin", {}, "cannot be read"),
])
def test_a_token_that_cannot_be_used_says_why(config: str, env: dict[str, str], message: str,
                                              softhsm_tokens: SoftHsm, monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    parsed = signer_config(config.format(module=softhsm_tokens.module))
    assert parsed is not None
    with pytest.raises(SignerUnavailable, match=message):
        Pkcs11Custody(Pkcs11Token(parsed)).create(owner="nobody")


def test_the_routing_custodian_opens_sealed_and_token_keys_alike(softhsm_tokens: SoftHsm, tmp_path: Path) -> None:
    from ledger.adapters.keystore import KeyVault

    vault = KeyVault("a passphrase of some length")
    sealed = open_custody(None, vault).create(owner="payer:P1")
    on_token = open_custody(softhsm_tokens.signer_uri(), vault)
    assert on_token.on_token
    held = on_token.create(owner="payer:P2")
    assert on_token.open(sealed.reference, owner="payer:P1", address=sealed.address).address == sealed.address
    assert on_token.open(held.reference, owner="payer:P2", address=held.address).address == held.address
    with pytest.raises(SignerUnavailable, match="no token configured"):
        open_custody(None, vault).open(held.reference, owner="payer:P2", address=held.address)


@pytest.mark.anvil
def test_a_deployment_made_with_a_token_keeps_its_relayer_there(softhsm_tokens: SoftHsm, tmp_path: Path) -> None:
    """The governance/relayer key of a new deployment is made on the token; the record names it
    (``tokenKey``) and holds no key; reopened, the relayer registers members from the token."""
    from ledger.adapters.anvil import AnvilConfig, AnvilNode, free_port
    from ledger.adapters.chains import open_node
    from ledger.errors import SignerUnavailable as Unavailable

    uri = softhsm_tokens.signer_uri()
    with AnvilNode(AnvilConfig(data_dir=tmp_path / "node", port=free_port())) as node:
        session = open_node("anvil", url=node.url, home=tmp_path, passphrase="token deployment passphrase",
                            signer=uri)
        session.ensure_hospital(H1)
        assert session.keyring.export() == {}   # nothing of it is in memory to export
        record = json.loads(session.record_path.read_text())  # type: ignore[union-attr]
        for entry in (record["governance"], record["hospitals"][H1]):
            assert "sealedKey" not in entry and entry["tokenKey"]["alg"] == "pkcs11"
            assert entry["tokenKey"]["address"] == entry["address"]
        again = open_node("anvil", url=node.url, home=tmp_path, passphrase="token deployment passphrase",
                          signer=uri)
        assert again.governance == session.governance
        again.ensure_payer("P330100")
        assert again.ledger.account_info(again.payers["P330100"]).kind == "payer"
        with pytest.raises(Unavailable, match="EBILL_SIGNER"):
            open_node("anvil", url=node.url, home=tmp_path, passphrase="token deployment passphrase")
