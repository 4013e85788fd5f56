"""Registering hospitals (``Web3Ledger.register_hospitals``) says what the contract refuses: a dry run of
``registerHospital`` tells a new id (register) from a known one (add the key); any other refusal is the
contract's own error, raised before anything is sent (embedded EVM)."""

from __future__ import annotations

import pytest

from ledger.adapters.chains import open_embedded
from ledger.errors import ContractReverted

HOSPITAL = "H33010200001"


def test_a_known_id_gets_the_new_key_and_a_new_id_is_registered() -> None:
    session = open_embedded()
    ledger = session.ledger
    first = session.ensure_hospital(HOSPITAL)
    second, other = session.keyring.new("hospital:again"), session.keyring.new("hospital:other")
    ledger.register_hospitals([(HOSPITAL, second), ("H33010200002", other)])
    assert ledger.account_info(first).member_id == ledger.account_info(second).member_id == HOSPITAL
    assert ledger.account_info(other).member_id == "H33010200002"


def test_a_relayer_without_the_registrar_role_is_told_so_and_nothing_is_sent() -> None:
    session = open_embedded()
    ledger = session.ledger
    stranger = ledger.w3.eth.accounts[5]     # one of the EVM's funded accounts, with no role in the contract
    ledger.relayer = stranger
    sent_before = ledger.w3.eth.get_transaction_count(stranger)
    with pytest.raises(ContractReverted) as refused:
        ledger.register_hospitals([(HOSPITAL, session.keyring.new("hospital"))])
    assert refused.value.error == "AccessControlUnauthorizedAccount", refused.value
    assert ledger.w3.eth.get_transaction_count(stranger) == sent_before


def test_an_account_bound_to_another_member_is_refused_by_name() -> None:
    session = open_embedded()
    ledger = session.ledger
    taken = session.ensure_hospital(HOSPITAL)
    with pytest.raises(ContractReverted) as refused:
        ledger.register_hospitals([("H33010200002", taken)])
    assert refused.value.error == "AccountAlreadyBound", refused.value
