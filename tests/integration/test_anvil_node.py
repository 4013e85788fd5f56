"""The managed anvil node against the real anvil binary: lifecycle, persistence, failures."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from web3 import Web3

from ledger.adapters.anvil import (
    BINARY_ENV,
    AnvilConfig,
    AnvilNode,
    anvil_binary,
    free_port,
    status,
    stop_detached,
)
from ledger.errors import ChainUnavailable, InvalidInput, ToolchainError

pytestmark = pytest.mark.anvil

REPO = Path(__file__).resolve().parents[2]

try:
    anvil_binary()
except ToolchainError as exc:  # pragma: no cover - depends on the machine
    pytest.skip(f"no anvil binary: {exc}", allow_module_level=True)

RECIPIENT = Web3.to_checksum_address("0x" + "e1" * 20)
OTHER_RECIPIENT = Web3.to_checksum_address("0x" + "e2" * 20)


@pytest.fixture
def config(tmp_path: Path) -> AnvilConfig:
    return AnvilConfig(data_dir=tmp_path / "chain", port=free_port())


@pytest.fixture
def node(config: AnvilConfig) -> Iterator[AnvilNode]:
    """A node object that is stopped (or reaped) whatever the test does to it."""
    managed = AnvilNode(config)
    yield managed
    managed.stop(timeout=5)


def web3_for(node: AnvilNode) -> Web3:
    return Web3(Web3.HTTPProvider(node.url, request_kwargs={"timeout": 5}))


def transfer(w3: Web3, to: str, wei: int) -> int:
    """Send ``wei`` from dev account 0 (unlocked in anvil) and return the block it landed in."""
    tx_hash = w3.eth.send_transaction({"from": w3.eth.accounts[0], "to": to, "value": wei})
    receipt = w3.eth.wait_for_transaction_receipt(tx_hash, timeout=5)
    assert receipt["status"] == 1
    return int(receipt["blockNumber"])


def dumped_block(state_file: Path) -> int | None:
    """``best_block_number`` in anvil's state file, or None while it is missing or half-written."""
    try:
        number = json.loads(state_file.read_text())["best_block_number"]
    except (OSError, ValueError, KeyError):
        return None
    return number if isinstance(number, int) else int(number, 0)


def run_python(code: str, *args: str) -> str:
    """Run ``code`` in a separate Python process (not a child thread of this one)."""
    done = subprocess.run(
        [sys.executable, "-c", code, *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip().splitlines()[-1]


def process_gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    stat = Path(f"/proc/{pid}/stat").read_text()
    return stat.rsplit(")", 1)[1].split()[0] == "Z"  # killed, not yet reaped by its parent


# -- configuration ------------------------------------------------------------------------


def test_command_line_carries_every_setting(tmp_path: Path) -> None:
    cfg = AnvilConfig(
        data_dir=tmp_path,
        port=9999,
        chain_id=1337,
        block_time=0.5,
        gas_limit=60_000_000,
        state_interval=3,
        accounts=2,
        balance=5,
        extra_args=("--hardfork", "prague"),
    )
    argv = cfg.command(Path("/bin/anvil"))
    pairs = dict(zip(argv[1::2], argv[2::2], strict=False))
    assert argv[0] == "/bin/anvil"
    assert pairs["--state"] == str(tmp_path.resolve() / "anvil-state.json")
    assert pairs["--state-interval"] == "3"
    assert pairs["--block-time"] == "0.5"
    assert pairs["--gas-limit"] == "60000000"
    assert pairs["--chain-id"] == "1337"
    assert argv[-2:] == ["--hardfork", "prague"]
    assert "--block-time" not in AnvilConfig(data_dir=tmp_path).command(Path("anvil"))


def test_the_besu_profile_is_free_gas_interval_blocks_and_cancun(tmp_path: Path) -> None:
    """As the production chain (deploy/besu): anvil's own suggestion of a 1 gwei tip must go too, or
    ``eth_gasPrice`` answers 1 gwei whatever ``--gas-price`` says (seen with anvil 1.7.1)."""
    cfg = AnvilConfig.besu_profile(tmp_path, port=9999)
    argv = cfg.command(Path("/bin/anvil"))
    value = {flag: argv[argv.index(flag) + 1] for flag in ("--base-fee", "--gas-price", "--block-time", "--hardfork")}
    assert value == {"--base-fee": "0", "--gas-price": "0", "--block-time": "2", "--hardfork": "cancun"}
    assert "--disable-min-priority-fee" in argv and cfg.free_gas
    plain = AnvilConfig(data_dir=tmp_path).command(Path("anvil"))
    assert not {"--base-fee", "--gas-price", "--disable-min-priority-fee", "--hardfork"} & set(plain)
    assert not AnvilConfig(data_dir=tmp_path).free_gas


@pytest.mark.parametrize(
    ("field", "value"),
    [("state_interval", 0), ("state_interval", 0.5), ("block_time", 0.0), ("port", 0)],
)
def test_config_rejects_what_anvil_would_refuse(tmp_path: Path, field: str, value: Any) -> None:
    with pytest.raises(InvalidInput, match=field):
        AnvilConfig(data_dir=tmp_path, **{field: value})


# -- lifecycle ----------------------------------------------------------------------------


def test_start_answers_chain_id_and_stop_cleans_up(tmp_path: Path) -> None:
    cfg = AnvilConfig(
        data_dir=tmp_path / "chain", port=free_port(), chain_id=1337, gas_limit=60_000_000
    )
    with AnvilNode(cfg) as node:
        assert node.is_running()
        w3 = web3_for(node)
        assert w3.eth.chain_id == 1337
        assert w3.eth.get_block("latest")["gasLimit"] == 60_000_000
        assert w3.eth.get_balance(w3.eth.accounts[0]) == Web3.to_wei(1_000_000, "ether")
        record = json.loads(cfg.pid_file.read_text())
        assert record["pid"] == node.pid
        assert record["url"] == node.url == f"http://127.0.0.1:{cfg.port}"
        assert {"port", "started_at", "args"} <= record.keys()
        assert status(cfg.data_dir) == {**record, "responding": True}
    assert not node.is_running()
    assert not cfg.pid_file.exists()
    assert status(cfg.data_dir) is None
    assert dumped_block(cfg.state_file) == 0  # SIGTERM made anvil dump its state


def test_interval_mining_with_fractional_block_time(tmp_path: Path) -> None:
    cfg = AnvilConfig(data_dir=tmp_path, port=free_port(), block_time=0.2)
    with AnvilNode(cfg) as node:
        w3 = web3_for(node)
        first = w3.eth.block_number
        time.sleep(0.7)
        assert w3.eth.block_number >= first + 2  # blocks come without any transaction


def test_transfer_survives_sigterm_and_restart(node: AnvilNode) -> None:
    node.start()
    w3 = web3_for(node)
    block = transfer(w3, RECIPIENT, 12_345)
    tx_count = w3.eth.get_transaction_count(w3.eth.accounts[0])
    node.stop()

    node.start()
    assert w3.eth.block_number == block
    assert w3.eth.get_balance(RECIPIENT) == 12_345
    assert w3.eth.get_transaction_count(w3.eth.accounts[0]) == tx_count
    assert transfer(w3, RECIPIENT, 1) > block  # the restarted chain goes on from there


def test_stop_waits_for_pending_transactions_to_be_mined(tmp_path: Path) -> None:
    cfg = AnvilConfig(data_dir=tmp_path, port=free_port(), block_time=1)
    node = AnvilNode(cfg)
    node.start()
    w3 = web3_for(node)
    try:
        w3.eth.send_transaction({"from": w3.eth.accounts[0], "to": RECIPIENT, "value": 5})
        assert w3.provider.make_request("txpool_status", [])["result"]["pending"] == "0x1"
        node.stop()  # drains the mempool (one block time) before SIGTERM
        node.start()
        assert w3.eth.get_balance(RECIPIENT) == 5
    finally:
        node.stop()


def test_pending_transactions_are_not_in_anvils_dump(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    cfg = AnvilConfig(data_dir=tmp_path, port=free_port(), extra_args=("--no-mining",))
    node = AnvilNode(cfg)
    node.start()
    w3 = web3_for(node)
    try:
        w3.eth.send_transaction({"from": w3.eth.accounts[0], "to": RECIPIENT, "value": 5})
        node.stop(drain=0.1)
        assert "1 transactions still pending: they are lost" in caplog.text
        node.start()
        assert w3.eth.get_balance(RECIPIENT) == 0
        assert w3.provider.make_request("txpool_status", [])["result"]["pending"] == "0x0"
    finally:
        node.stop(drain=0)


def test_sigkill_keeps_the_last_interval_dump(node: AnvilNode) -> None:
    cfg = node.config
    node.start()
    w3 = web3_for(node)
    dumped_before = transfer(w3, RECIPIENT, 111)
    deadline = time.monotonic() + cfg.state_interval * 3 + 2
    while (dumped_block(cfg.state_file) or 0) < dumped_before:
        assert time.monotonic() < deadline, "anvil wrote no interval dump"
        time.sleep(0.05)
    maybe_lost = transfer(w3, OTHER_RECIPIENT, 222)

    node.kill()
    assert cfg.pid_file.exists()  # a crash leaves its pid file behind
    assert status(cfg.data_dir) is None  # ... which is seen as stale and removed
    on_disk = dumped_block(cfg.state_file)
    assert on_disk is not None and on_disk >= dumped_before

    node.start()
    assert w3.eth.block_number == on_disk  # exactly the last dump, nothing after it
    assert w3.eth.get_balance(RECIPIENT) == 111
    assert w3.eth.get_balance(OTHER_RECIPIENT) == (222 if maybe_lost <= on_disk else 0)


def test_detached_node_is_managed_across_processes(config: AnvilConfig) -> None:
    started = json.loads(
        run_python(
            "import json, sys\n"
            "from pathlib import Path\n"
            "from ledger.adapters.anvil import AnvilConfig, start_detached\n"
            "cfg = AnvilConfig(data_dir=Path(sys.argv[1]), port=int(sys.argv[2]))\n"
            "print(json.dumps(start_detached(cfg)))\n",
            str(config.data_dir),
            str(config.port),
        )
    )
    pid = started["pid"]
    try:
        # The starting process has exited; the node outlived it.
        seen = status(config.data_dir)
        assert seen is not None and seen["pid"] == pid and seen["responding"]
        assert Web3(Web3.HTTPProvider(seen["url"])).eth.chain_id == config.chain_id

        stopped = run_python(
            "import sys\n"
            "from ledger.adapters.anvil import stop_detached\n"
            "print(stop_detached(sys.argv[1]))\n",
            str(config.data_dir),
        )
        assert stopped == "True"
        assert process_gone(pid)
        assert status(config.data_dir) is None
        assert dumped_block(config.state_file) == 0
        assert stop_detached(config.data_dir) is False
    finally:
        if not process_gone(pid):
            os.kill(pid, 9)


@pytest.mark.parametrize("kind", ["gone", "reused", "garbage"])
def test_stale_pid_file_is_detected_and_removed(config: AnvilConfig, kind: str) -> None:
    config.data_dir.mkdir(parents=True)
    args = config.command(anvil_binary())
    # "reused": the pid is alive but runs something else, which must never be signalled.
    bystander = subprocess.Popen(["sleep", "30"])
    try:
        if kind == "garbage":
            stale = "{not json"
        else:
            if kind == "gone":
                finished = subprocess.Popen(["true"])
                finished.wait()
                pid = finished.pid
            else:
                pid = bystander.pid
            stale = json.dumps({"pid": pid, "url": config.url, "args": args})

        config.pid_file.write_text(stale)
        assert status(config.data_dir) is None
        assert not config.pid_file.exists()

        config.pid_file.write_text(stale)
        assert stop_detached(config.data_dir) is False
        assert not config.pid_file.exists()
        assert bystander.poll() is None

        config.pid_file.write_text(stale)
        with AnvilNode(config) as node:  # a stale pid file does not block a start
            assert web3_for(node).eth.chain_id == config.chain_id
    finally:
        bystander.kill()
        bystander.wait()


# -- failures -----------------------------------------------------------------------------


def test_port_held_by_another_process_is_reported(config: AnvilConfig) -> None:
    with socket.socket() as holder:
        holder.bind((config.host, config.port))
        holder.listen()
        with pytest.raises(ChainUnavailable, match=rf"port {config.port} .* already in use"):
            AnvilNode(config).start()
    assert not config.pid_file.exists()


def test_port_held_by_another_node_names_its_chain(tmp_path: Path, node: AnvilNode) -> None:
    node.start()
    rival = AnvilNode(AnvilConfig(data_dir=tmp_path / "rival", port=node.config.port))
    with pytest.raises(ChainUnavailable, match=r"already in use .*chain id 31337"):
        rival.start()
    assert not rival.is_running()
    assert node.is_running()


def test_second_node_on_the_same_data_dir_is_refused(node: AnvilNode) -> None:
    node.start()
    twin = AnvilNode(AnvilConfig(data_dir=node.config.data_dir, port=free_port()))
    with pytest.raises(ChainUnavailable, match=rf"already runs for .* \(pid {node.pid}"):
        twin.start()


def test_missing_binary_raises_toolchain_error(
    config: AnvilConfig, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    missing = tmp_path / "no" / "anvil"
    monkeypatch.setenv(BINARY_ENV, str(missing))
    with pytest.raises(ToolchainError, match=rf"{BINARY_ENV}={missing} is not an executable"):
        anvil_binary()
    with pytest.raises(ToolchainError):
        AnvilNode(config).start()
    assert not config.data_dir.exists()


def test_truncated_state_file_is_refused_with_a_way_back(node: AnvilNode) -> None:
    cfg = node.config
    node.start()
    transfer(web3_for(node), RECIPIENT, 7)
    node.stop()
    node.start()  # a successful start keeps a copy of the state it loaded
    node.stop()
    assert cfg.prev_state_file.exists()

    good = cfg.state_file.read_bytes()
    cfg.state_file.write_bytes(good[: len(good) // 2])  # as a kill during a dump leaves it
    with pytest.raises(ChainUnavailable, match="refused the state file") as refused:
        node.start()
    assert f"cp {cfg.prev_state_file} {cfg.state_file}" in str(refused.value)
    assert not node.is_running() and not cfg.pid_file.exists()

    cfg.state_file.write_bytes(cfg.prev_state_file.read_bytes())
    node.start()
    assert web3_for(node).eth.get_balance(RECIPIENT) == 7
