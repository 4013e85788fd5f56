"""``ebill chain deploy`` on anvil (its besu profile: free gas), and admin actions through the timelock.

The deployment puts the ledger's ``DEFAULT_ADMIN_ROLE`` behind OpenZeppelin 5's
``TimelockController`` (node_modules/@openzeppelin/contracts/governance/TimelockController.sol,
compiled unchanged). What these tests hold it to is that contract's documented behaviour:

- "the caller must have the 'proposer' role" to ``schedule``, the 'executor' role to
  ``execute`` (``onlyRole``/``onlyRoleOrOpenRole``: ``AccessControlUnauthorizedAccount``);
- "The schedule operation doesn't meet the minimum delay": ``TimelockInsufficientDelay(delay, minDelay)``;
- an operation executes only when Ready, and only once
  (``TimelockUnexpectedOperationState(id, _encodeStateBitmap(Ready))``);
- proposers are granted the canceller role by the constructor; ``cancel`` deletes a pending operation;
- with no admin given, the timelock is "self administered": nobody outside it holds its admin role;
- an operation's id is ``hashOperation(target, value, data, predecessor, salt)``.

A direct call of an admin function on the ledger, by the relayer or by a consortium
account, is refused (OpenZeppelin AccessControl, ``AccessControlUnauthorizedAccount``).
"""

from __future__ import annotations

import dataclasses
import json
import time
from pathlib import Path

import pytest
from eth_account import Account
from typer.testing import CliRunner
from web3 import Web3
from web3.logs import DISCARD

from ledger.adapters import governance
from ledger.adapters.anvil import AnvilConfig, AnvilNode, free_port
from ledger.adapters.chains import open_node
from ledger.adapters.keyring import Keyring
from ledger.cli import app
from ledger.errors import ContractReverted, ToolchainError

pytestmark = pytest.mark.anvil

PASSPHRASE = "governed deployment test passphrase"
DELAY = 3
READY_BITMAP = (1 << 2).to_bytes(32, "big")   # TimelockController._encodeStateBitmap(OperationState.Ready)


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory) -> object:
    try:
        config = AnvilConfig.besu_profile(tmp_path_factory.mktemp("node"), port=free_port())
        # mined per transaction (not every 2 s) to keep the test quick: the gas price is what matters here
        with AnvilNode(dataclasses.replace(config, block_time=None)) as running:
            yield running
    except ToolchainError as exc:  # pragma: no cover - depends on the machine
        pytest.skip(f"no anvil binary: {exc}")


def _key(path: Path) -> tuple[str, Path]:
    acct = Account.create()
    path.write_text("0x" + bytes(acct.key).hex())
    path.chmod(0o600)
    return str(acct.address), path


def _cli(home: Path, *args: str, key: Path | None = None) -> tuple[int, str]:
    env = {"EBILL_KEYSTORE_PASSPHRASE": PASSPHRASE, "EBILL_HOME": str(home), "COLUMNS": "300"}
    r = CliRunner().invoke(app, [*args, *(["--key-file", str(key)] if key else [])], env=env)
    assert "Traceback" not in r.output
    return r.exit_code, " ".join(r.output.split())


def _refused(exc: ContractReverted) -> tuple[object, ...]:
    """(error, arguments) of a revert, addresses checksummed (the decoder gives them in lower case)."""
    return (exc.error, *(Web3.to_checksum_address(a) if isinstance(a, str) and len(a) == 42 else a
                         for a in exc.error_args))


def _wait_until(w3: Web3, ready_at: int) -> None:
    """Wait out a delay, then have a block mined: calls and gas estimates see the last block's time, and
    this node mines only on transactions (a real chain's 2 s blocks would do it)."""
    while time.time() < ready_at + 1:   # anvil stamps a block with the wall clock when it mines it
        time.sleep(0.2)
    nobody = Account.create()
    tx = {"to": nobody.address, "value": 0, "gas": 21_000, "gasPrice": 0, "nonce": 0, "chainId": w3.eth.chain_id}
    w3.eth.wait_for_transaction_receipt(w3.eth.send_raw_transaction(nobody.sign_transaction(tx).raw_transaction))


def test_the_admin_role_is_behind_the_timelock(node: AnvilNode, tmp_path: Path) -> None:
    w3 = Web3(Web3.HTTPProvider(node.url))
    assert w3.eth.gas_price == 0   # the besu profile: nobody below holds a wei
    relayer, relayer_file = _key(tmp_path / "relayer.key")
    (p1, p1_file), (p2, p2_file) = _key(tmp_path / "p1.key"), _key(tmp_path / "p2.key")
    e1, e1_file = _key(tmp_path / "e1.key")
    new_relayer, new_relayer_file = _key(tmp_path / "new-relayer.key")

    # ------------------------------------------------------------ the deployment, recorded as the service expects
    code, out = _cli(tmp_path, "chain", "deploy", "--rpc-url", node.url, "--relayer-key-file", str(relayer_file),
                     "--proposer", p1, "--proposer", p2, "--executor", e1, "--min-delay", str(DELAY), "--json")
    assert code == 0, out
    deployed = json.loads(out)
    record = json.loads(Path(deployed["record"]).read_text())
    assert record["governance"]["address"] == relayer and "sealedKey" in record["governance"]
    assert relayer_file.read_text().removeprefix("0x") not in json.dumps(record)
    admin = record["admin"]
    assert (admin["kind"], admin["minDelay"], admin["proposers"], admin["executors"]) == (
        "openzeppelin-timelock", DELAY, [p1, p2], [e1])
    timelock_address = admin["timelock"]
    assert all(w3.eth.get_balance(a) == 0 for a in (relayer, p1, p2, e1))
    # deploying again over the record is refused: a second ledger would split the consortium's
    code, out = _cli(tmp_path, "chain", "deploy", "--rpc-url", node.url, "--relayer-key-file", str(relayer_file),
                     "--proposer", p1, "--executor", e1, "--min-delay", "0")
    assert code == 1 and "already records a deployment" in out

    # the service opens it and registers members with the relayer, which holds the registrar role
    session = open_node("rpc", url=node.url, home=tmp_path, passphrase=PASSPHRASE)
    assert session.admin == admin and session.ledger.contract_address == record["contract"]
    session.ensure_hospital("H33010200001")
    ledger = session.ledger.contract.functions
    assert ledger.hasRole(governance.DEFAULT_ADMIN_ROLE, timelock_address).call()
    assert not ledger.hasRole(governance.DEFAULT_ADMIN_ROLE, relayer).call()

    # ------------------------------------------------------------ a direct admin call is refused
    keys = Keyring([(tmp_path / f).read_text() for f in ("relayer.key", "p1.key", "p2.key", "e1.key")])
    direct = session.ledger._tx
    direct.keyring = keys
    for caller in (relayer, p1, e1):
        with pytest.raises(ContractReverted) as refused:
            direct.transact(caller, session.ledger.contract.functions.grantRole(governance.REGISTRAR_ROLE,
                                                                                new_relayer), "grantRole")
        assert _refused(refused.value) == ("AccessControlUnauthorizedAccount", caller, governance.DEFAULT_ADMIN_ROLE)

    # ------------------------------------------------------------ schedule → wait → execute
    lock = governance.Timelock(w3, timelock_address, keyring=keys)
    assert lock.min_delay == DELAY
    tl = lock.contract.functions
    assert not tl.hasRole(governance.DEFAULT_ADMIN_ROLE, relayer).call()       # self-administered
    assert tl.hasRole(governance.DEFAULT_ADMIN_ROLE, timelock_address).call()
    grant = governance.admin_action(record["contract"], timelock_address, "grant-registrar", new_relayer)
    assert grant.id == bytes(tl.hashOperation(grant.target, 0, grant.data, grant.predecessor, grant.salt).call())

    with pytest.raises(ContractReverted) as refused:           # only proposers schedule
        lock.schedule(grant, proposer=relayer)
    assert _refused(refused.value) == ("AccessControlUnauthorizedAccount", relayer, governance.PROPOSER_ROLE)
    with pytest.raises(ContractReverted) as refused:           # never faster than the minimum delay
        lock.schedule(grant, proposer=p1, delay=DELAY - 1)
    assert _refused(refused.value) == ("TimelockInsufficientDelay", DELAY - 1, DELAY)
    assert lock.state(grant) == "unset"

    lock.schedule(grant, proposer=p1)
    assert lock.state(grant) == "waiting"
    with pytest.raises(ContractReverted) as refused:           # not before the delay is over
        lock.execute(grant, executor=e1)
    assert _refused(refused.value) == ("TimelockUnexpectedOperationState", grant.id, READY_BITMAP)
    _wait_until(w3, lock.ready_at(grant))
    with pytest.raises(ContractReverted) as refused:           # only executors execute
        lock.execute(grant, executor=p1)
    assert _refused(refused.value) == ("AccessControlUnauthorizedAccount", p1, governance.EXECUTOR_ROLE)
    receipt = lock.execute(grant, executor=e1)
    assert lock.state(grant) == "done"
    assert ledger.hasRole(governance.REGISTRAR_ROLE, new_relayer).call()
    executed = lock.contract.events.CallExecuted().process_receipt(w3.eth.get_transaction_receipt(receipt.tx_hash),
                                                                   errors=DISCARD)   # (the ledger's RoleGranted)
    assert [bytes(e["args"]["id"]) for e in executed] == [grant.id]
    with pytest.raises(ContractReverted) as refused:           # exactly once
        lock.execute(grant, executor=e1)
    assert refused.value.error == "TimelockUnexpectedOperationState"

    # ------------------------------------------------------------ a proposer cancels while it waits
    revoke = governance.admin_action(record["contract"], timelock_address, "revoke-registrar", relayer)
    lock.schedule(revoke, proposer=p2)
    lock.cancel(revoke, canceller=p2)
    assert lock.state(revoke) == "unset"
    _wait_until(w3, int(time.time()) + DELAY)
    with pytest.raises(ContractReverted) as refused:
        lock.execute(revoke, executor=e1)
    assert refused.value.error == "TimelockUnexpectedOperationState"
    assert ledger.hasRole(governance.REGISTRAR_ROLE, relayer).call()

    # ------------------------------------------------------------ the same from the command line: rotating the relayer
    # the service's record takes the new relayer (granted above), then the old one is revoked
    code, out = _cli(tmp_path, "chain", "relayer", "--rpc-url", node.url, key=p2_file)
    assert code == 1 and "does not hold the ledger's registrar role" in out, out
    code, out = _cli(tmp_path, "chain", "relayer", "--rpc-url", node.url, key=new_relayer_file)
    assert code == 0 and f"the relayer is now {new_relayer}" in out, out
    assert json.loads(Path(deployed["record"]).read_text())["governance"]["address"] == new_relayer
    code, out = _cli(tmp_path, "chain", "admin", "schedule", "revoke-registrar", relayer, "--rpc-url", node.url,
                     key=p1_file)
    assert code == 0 and "scheduled revokeRole(REGISTRAR_ROLE" in out, out
    code, out = _cli(tmp_path, "chain", "admin", "execute", "revoke-registrar", relayer, "--rpc-url", node.url,
                     key=e1_file)
    assert code == 1 and "is not ready: its delay ends at" in out, out
    code, out = _cli(tmp_path, "chain", "admin", "status", "revoke-registrar", relayer, "--rpc-url", node.url,
                     "--json")
    status = json.loads(out)
    assert status["state"] == "waiting" and status["target"] == record["contract"]
    # a multisig proposer sends this call data to the timelock: the same operation
    revoke_op = governance.admin_action(record["contract"], timelock_address, "revoke-registrar", relayer)
    assert status["calldata"]["to"] == timelock_address and status["id"] == "0x" + revoke_op.id.hex()
    decoded = lock.contract.decode_function_input(status["calldata"]["execute"])
    assert (decoded[0].fn_name, decoded[1]["target"], bytes(decoded[1]["payload"])) == (
        "execute", record["contract"], revoke_op.data)
    _wait_until(w3, status["readyAt"])
    code, out = _cli(tmp_path, "chain", "admin", "execute", "revoke-registrar", relayer, "--rpc-url", node.url,
                     key=e1_file)
    assert code == 0, out
    assert not ledger.hasRole(governance.REGISTRAR_ROLE, relayer).call()
    with pytest.raises(ContractReverted):   # the old relayer registers no one any more
        session.ensure_hospital("H33010200002")
    rotated = open_node("rpc", url=node.url, home=tmp_path, passphrase=PASSPHRASE)
    assert rotated.governance == new_relayer
    rotated.ensure_hospital("H33010200003")   # the new one does, with its key from the record
    assert rotated.ledger.account_info(rotated.hospitals["H33010200003"]).member_id == "H33010200003"
    code, out = _cli(tmp_path, "chain", "admin", "execute", "revoke-registrar", relayer, "--rpc-url", node.url)
    assert code == 1 and "was executed already" in out
    code, out = _cli(tmp_path, "chain", "admin", "schedule", "grant-registrar", "0xnot", "--rpc-url", node.url,
                     key=p1_file)
    assert code == 2 and "not an account address" in out


def test_a_consortium_must_name_proposers_and_executors(node: AnvilNode, tmp_path: Path) -> None:
    _, relayer_file = _key(tmp_path / "relayer.key")
    p1 = Account.create().address
    for args, message in (
        (["--proposer", p1, "--executor", "0x" + "00" * 20, "--min-delay", "0"], "not a non-zero account address"),
        (["--proposer", p1, "--proposer", p1.lower(), "--executor", p1, "--min-delay", "0"], "listed twice"),
        (["--proposer", "nobody", "--executor", p1, "--min-delay", "0"], "not a non-zero account address"),
    ):
        code, out = _cli(tmp_path, "chain", "deploy", "--rpc-url", node.url, "--relayer-key-file", str(relayer_file),
                         *args)
        assert code == 2 and message in out, out
    code, out = _cli(tmp_path, "chain", "deploy", "--rpc-url", node.url, "--proposer", p1, "--executor", p1,
                     "--min-delay", "0")
    assert code == 2 and "--relayer-key-file" in out
    assert not (tmp_path / "chains").exists()   # nothing deployed, nothing recorded
