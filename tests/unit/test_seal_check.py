"""verifier.seal_check and verifier.registry: every verdict, the key-rotation boundary, strict snapshots.

No chain here: snapshots are built by hand with keys derived from labels (test keys only).
The chain export is tested in tests/integration/test_registry_export.py.
"""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import coincurve
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from ledger.base45 import ALPHABET, b45decode, b45encode
from ledger.errors import InvalidInput
from ledger.hashing import Fingerprint, keccak256
from ledger.qr import PREFIX, InvoiceSeal, QrDomain, checksum_address, sign_seal
from verifier.registry import SNAPSHOT_FORMAT, HospitalKeys, RegistryKey, RegistrySnapshot
from verifier.seal_check import issue_day_start, verify_offline

VECTORS = Path(__file__).resolve().parents[1] / "vectors" / "qr"
PROPERTY = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])

H1, H2 = "H33010200001", "H33010200002"
OLD_KEY, NEW_KEY, H2_KEY, STRANGER = (keccak256(f"seal-check test key {n}".encode()) for n in range(4))
ISSUE_DATE = "2024-03-05"
DAY_START = 1709568000  # 2024-03-05 00:00 UTC+8 = 2024-03-04 16:00 UTC
OLD_REVOKED_AT = DAY_START + 3600  # revoked during the issue date: seals of that day stay valid


def account(private_key: bytes) -> str:
    public = coincurve.PrivateKey(private_key).public_key.format(compressed=False)[1:]
    return checksum_address(keccak256(public)[12:])


def snapshot(*, old_revoked_at: int = OLD_REVOKED_AT, chain_id: int = 1337) -> RegistrySnapshot:
    return RegistrySnapshot(
        chain_id=chain_id, contract="0x" + "5a" * 20, block_number=77, block_hash="0x" + "ab" * 32,
        hospitals=(
            HospitalKeys(H1, (RegistryKey(account(OLD_KEY), 1_600_000_000, old_revoked_at),
                              RegistryKey(account(NEW_KEY), 1_700_000_000, 0))),
            HospitalKeys(H2, (RegistryKey(account(H2_KEY), 1_600_000_000, 0),)),
        ),
    )


SNAP = snapshot()


def seal(*, issuer: str = H1, issue_date: str = ISSUE_DATE, total_fen: int = 2500) -> InvoiceSeal:
    return InvoiceSeal(issuer=issuer, invoice_code="33060124", invoice_number="0001234567", issue_date=issue_date,
                       total_fen=total_fen, fingerprint=Fingerprint(keccak256(b"invoice header")))


def qr(key: bytes, *, snap: RegistrySnapshot = SNAP, **fields: Any) -> str:
    return sign_seal(seal(**fields), private_key=key, domain=snap.domain).encode()


VALID = qr(NEW_KEY)


# --- verdicts ----------------------------------------------------------------------------

def test_valid_offline_reports_the_seal_the_signer_and_the_snapshot_block() -> None:
    verdict = verify_offline(VALID, SNAP)
    assert verdict.status == "valid-offline" and verdict.valid and verdict.rule is None
    assert verdict.signer == account(NEW_KEY) and verdict.seal == seal()
    doc = json.loads(json.dumps(verdict.to_json()))
    assert doc["seal"] == {"issuer": H1, "invoiceCode": "33060124", "invoiceNumber": "0001234567",
                           "issueDate": ISSUE_DATE, "totalFen": 2500,
                           "fingerprint": "0x" + keccak256(b"invoice header").hex()}
    assert doc["snapshot"] == {"chainId": 1337, "contract": SNAP.contract, "blockNumber": 77,
                               "blockHash": "0x" + "ab" * 32}
    assert doc["key"] == {"account": account(NEW_KEY), "addedAt": 1_700_000_000, "revokedAt": 0}


def test_a_key_revoked_after_the_issue_date_still_vouches_for_the_seal() -> None:
    verdict = verify_offline(qr(OLD_KEY, issue_date="2024-01-10"), SNAP)
    assert verdict.status == "valid-offline" and verdict.signer == account(OLD_KEY)
    assert "revoked later" in verdict.reason


def test_issue_day_starts_at_midnight_china_time() -> None:
    china = timezone(timedelta(hours=8))
    assert issue_day_start(ISSUE_DATE) == DAY_START == int(datetime(2024, 3, 5, tzinfo=china).timestamp())
    assert issue_day_start("1970-01-01") == -8 * 3600
    assert datetime.fromtimestamp(DAY_START, UTC) == datetime(2024, 3, 4, 16, tzinfo=UTC)


@pytest.mark.parametrize(("revoked_at", "status"), [
    (DAY_START - 1, "revoked-issuer"),   # revoked the evening before (UTC+8)
    (DAY_START, "revoked-issuer"),       # revoked exactly as the issue date began
    (DAY_START + 1, "valid-offline"),    # revoked during the issue date: the seal may predate it
    (DAY_START + 86399, "valid-offline"),
])
def test_key_rotation_boundary_is_the_start_of_the_issue_date_in_china_time(revoked_at: int, status: str) -> None:
    snap = snapshot(old_revoked_at=revoked_at)
    verdict = verify_offline(qr(OLD_KEY, snap=snap), snap)
    assert verdict.status == status
    if status == "revoked-issuer":
        assert verdict.signer == account(OLD_KEY)
        assert str(revoked_at) in verdict.reason and str(DAY_START) in verdict.reason


def test_seals_after_revocation_are_refused_but_the_new_key_still_signs() -> None:
    later = "2024-03-06"
    assert verify_offline(qr(OLD_KEY, issue_date=later), SNAP).status == "revoked-issuer"
    assert verify_offline(qr(NEW_KEY, issue_date=later), SNAP).status == "valid-offline"


def test_unknown_issuer() -> None:
    verdict = verify_offline(qr(NEW_KEY, issuer="H99999999999"), SNAP)
    assert verdict.status == "unknown-issuer" and "H99999999999" in verdict.reason and verdict.signer is None


def test_a_key_outside_the_registry_is_tampered_or_forged() -> None:
    verdict = verify_offline(qr(STRANGER), SNAP)
    assert (verdict.status, verdict.rule, verdict.signer) == ("tampered-or-forged", "signer-unbound", account(STRANGER))


def test_another_hospitals_key_is_named() -> None:
    verdict = verify_offline(qr(H2_KEY), SNAP)
    assert (verdict.status, verdict.rule) == ("tampered-or-forged", "signer-of-other-issuer")
    assert H2 in verdict.reason and verdict.signer == account(H2_KEY)


def test_a_seal_of_another_deployment_does_not_verify() -> None:
    other = snapshot(chain_id=31337)
    assert verify_offline(qr(NEW_KEY, snap=other), other).valid
    assert verify_offline(qr(NEW_KEY, snap=other), SNAP).status == "tampered-or-forged"


@pytest.mark.parametrize(("offset", "what"), [(17, "totalFen"), (30, "fingerprint"), (16, "issueDate"), (14, "number")])
def test_an_altered_field_is_tampered_or_forged(offset: int, what: str) -> None:
    raw = bytearray(b45decode(VALID[len(PREFIX):]))
    raw[offset] ^= 0x01
    verdict = verify_offline(PREFIX + b45encode(bytes(raw)), SNAP)
    assert (verdict.status, verdict.rule) == ("tampered-or-forged", "signer-unbound"), what
    assert verdict.seal is not None and verdict.seal != seal()


def test_a_signature_that_recovers_to_no_key() -> None:
    raw = bytearray(b45decode(VALID[len(PREFIX):]))
    for r in range(1, 100):  # about half of all r are not the x of a curve point
        raw[54:86] = r.to_bytes(32, "big")
        verdict = verify_offline(PREFIX + b45encode(bytes(raw)), SNAP)
        if verdict.rule == "no-public-key":
            break
    assert (verdict.status, verdict.rule) == ("tampered-or-forged", "no-public-key")
    assert verdict.signer is None and "no public key" in verdict.reason


INVALID = json.loads((VECTORS / "invalid.json").read_text())


@pytest.mark.parametrize("vector", INVALID["decode"], ids=lambda v: v["name"])
def test_every_invalid_decode_vector_is_malformed_with_its_rule(vector: dict[str, Any]) -> None:
    verdict = verify_offline(vector["qr"], SNAP)
    assert (verdict.status, verdict.rule) == ("malformed", vector["rule"])
    assert vector["field"] in verdict.reason and verdict.seal is None


def test_a_non_string_is_malformed() -> None:
    assert verify_offline(b"EBILL:" + VALID.encode(), SNAP).rule == "type"  # type: ignore[arg-type]


@pytest.mark.parametrize("vector", INVALID["verify"], ids=lambda v: v["name"])
def test_every_invalid_verify_vector_is_tampered_or_forged(vector: dict[str, Any]) -> None:
    d = vector["domain"]
    snap = RegistrySnapshot(chain_id=d["chainId"], contract=d["verifyingContract"], block_number=1,
                            block_hash="0x" + "00" * 32,
                            hospitals=(HospitalKeys(vector["seal"]["issuer"],
                                                    (RegistryKey(vector["expectedSigner"], 1, 0),)),))
    verdict = verify_offline(vector["qr"], snap)
    assert (verdict.status, verdict.signer) == ("tampered-or-forged", vector["recoveredSigner"])


def test_every_valid_vector_verifies_against_its_own_domain() -> None:
    for vector in json.loads((VECTORS / "valid.json").read_text())["vectors"]:
        d = vector["domain"]
        keys = (RegistryKey(vector["signer"], 1, 0),)
        snap = RegistrySnapshot(chain_id=d["chainId"], contract=d["verifyingContract"], block_number=1,
                                block_hash="0x" + "00" * 32, hospitals=(HospitalKeys(vector["seal"]["issuer"], keys),))
        assert verify_offline(vector["qr"], snap).status == "valid-offline", vector["name"]


# --- never raises -------------------------------------------------------------------------

@PROPERTY
@given(st.text(max_size=250) | st.text(alphabet=ALPHABET, max_size=200).map(lambda t: PREFIX + t))
@example("")
@example(PREFIX)
@example(PREFIX + "00")
def test_any_text_gets_a_verdict(text: str) -> None:
    verdict = verify_offline(text, SNAP)
    assert verdict.status in {"malformed", "unknown-issuer", "tampered-or-forged"} and verdict.reason


@PROPERTY
@given(st.data())
def test_any_mutation_of_a_valid_seal_gets_a_verdict_and_is_never_valid(data: st.DataObject) -> None:
    text = VALID
    for _ in range(data.draw(st.integers(1, 3))):
        i = data.draw(st.integers(0, len(text)))
        kind = data.draw(st.sampled_from(["replace", "insert", "delete", "truncate", "swap-case"]))
        ch = data.draw(st.sampled_from(ALPHABET + "ab\n#é"))
        if kind == "replace":
            text = text[:i] + ch + text[i + 1:]
        elif kind == "insert":
            text = text[:i] + ch + text[i:]
        elif kind == "delete":
            text = text[:i] + text[i + 1:]
        elif kind == "truncate":
            text = text[:i]
        else:
            text = text[:i] + text[i:i + 1].swapcase() + text[i + 1:]
    verdict = verify_offline(text, SNAP)
    assert verdict.reason
    # decoding is canonical (one text per payload), so another text is another payload
    assert verdict.valid == (text == VALID)


# --- the snapshot's JSON -----------------------------------------------------------------

def test_snapshot_json_round_trips_and_canonicalises_addresses() -> None:
    doc = json.loads(json.dumps(SNAP.to_json()))
    assert doc["format"] == SNAPSHOT_FORMAT and RegistrySnapshot.from_json(doc) == SNAP
    lower = copy.deepcopy(doc)
    lower["contract"] = lower["contract"].lower()
    lower["hospitals"][0]["keys"][0]["account"] = lower["hospitals"][0]["keys"][0]["account"].lower()
    assert RegistrySnapshot.from_json(lower).to_json() == doc
    assert SNAP.domain == QrDomain(chain_id=1337, verifying_contract=SNAP.contract)


def _broken(path: list[Any], value: Any) -> dict[str, Any]:
    doc = SNAP.to_json()
    target = doc
    for step in path[:-1]:
        target = target[step]
    if value is _DELETE:
        del target[path[-1]]
    else:
        target[path[-1]] = value
    return doc


_DELETE = object()
KEY0 = ["hospitals", 0, "keys", 0]


@pytest.mark.parametrize(("path", "value", "field", "rule"), [
    (["extra"], 1, "extra", "unknown-field"),
    (["hospitals", 0, "name"], "x", "hospitals[0].name", "unknown-field"),
    ([*KEY0, "note"], "x", "hospitals[0].keys[0].note", "unknown-field"),
    (["blockHash"], _DELETE, "blockHash", "required"),
    ([*KEY0, "revokedAt"], _DELETE, "hospitals[0].keys[0].revokedAt", "required"),
    (["format"], "ebill-registry-snapshot/v2", "format", "format-id"),
    (["chainId"], "1337", "chainId", "range"),
    (["chainId"], 0, "chainId", "range"),
    (["blockNumber"], True, "blockNumber", "range"),
    (["blockHash"], "0x1234", "blockHash", "hash"),
    (["contract"], "0x1234", "contract", "address"),
    (["contract"], "0x" + "5A" * 19 + "5a", "contract", "address-checksum"),
    (["hospitals"], {}, "hospitals", "type"),
    (["hospitals", 0], [], "hospitals[0]", "type"),
    (["hospitals", 0, "keys"], [], "hospitals[0].keys", "required"),
    (["hospitals", 0, "keys"], "0x", "hospitals[0].keys", "type"),
    (["hospitals", 1, "institutionId"], H1, "hospitals[1].institutionId", "duplicate"),
    (["hospitals", 1, "institutionId"], "", "hospitals[1].institutionId", "member-id"),
    ([*KEY0, "account"], "0xZZ" + "00" * 19, "hospitals[0].keys[0].account", "address"),
    ([*KEY0, "account"], account(H2_KEY), "hospitals[1].keys[0].account", "duplicate"),
    ([*KEY0, "addedAt"], 1.5, "hospitals[0].keys[0].addedAt", "range"),
    ([*KEY0, "addedAt"], 0, "hospitals[0].keys[0].addedAt", "range"),
    ([*KEY0, "revokedAt"], -1, "hospitals[0].keys[0].revokedAt", "range"),
    ([*KEY0, "revokedAt"], 1_500_000_000, "hospitals[0].keys[0].revokedAt", "range"),
])
def test_snapshot_json_is_strict(path: list[Any], value: Any, field: str, rule: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        RegistrySnapshot.from_json(_broken(path, value))
    assert (field, rule) in [(p.field, p.rule) for p in caught.value.problems], caught.value


@pytest.mark.parametrize("doc", [None, [], "{}", 3])
def test_snapshot_json_must_be_an_object(doc: object) -> None:
    with pytest.raises(InvalidInput, match="must be an object"):
        RegistrySnapshot.from_json(doc)
