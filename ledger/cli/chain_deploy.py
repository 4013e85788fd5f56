"""``ebill chain deploy`` and ``ebill chain admin``: the ledger on a production chain, governed by a timelock.

Deploying is an explicit step, once per chain: the consortium's OpenZeppelin
``TimelockController`` and the ledger whose admin role it holds
(:mod:`ledger.adapters.governance`), recorded in ``$EBILL_HOME/chains/rpc-<chain id>/
deployment.json`` as ``ebill serve --chain rpc`` expects it, the relayer's key sealed with
the keystore passphrase. An admin action afterwards is scheduled by a proposer, waits out
the delay, and is executed by an executor: ``ebill chain admin schedule|execute|cancel|status``.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Annotated, Any

import typer

from ledger.cli import support as _cli
from ledger.cli.support import HomeOpt

admin_app = typer.Typer(help="Admin actions through the consortium's timelock: schedule, wait, execute.",
                        no_args_is_help=True)

RpcUrlOpt = Annotated[str, typer.Option("--rpc-url", help="JSON-RPC URL of a node of the chain "
                                        "(credentials: EBILL_RPC_TOKEN_FILE, EBILL_RPC_CA_FILE)")]
ActionArg = Annotated[str, typer.Argument(help="grant-registrar | revoke-registrar | update-delay")]
ValueArg = Annotated[str, typer.Argument(help="the account (registrar actions) or the new delay in seconds")]
SaltOpt = Annotated[str, typer.Option("--salt", help="tells apart two operations with the same call "
                                      "(e.g. granting an account again after revoking it)")]
SignerKeyOpt = Annotated[Path | None, typer.Option(
    "--key-file", help="file holding the private key of a proposer (schedule, cancel) or executor (execute); "
                       "else EBILL_ADMIN_KEY")]


def deploy(
    rpc_url: RpcUrlOpt,
    proposer: Annotated[list[str], typer.Option("--proposer", help="a consortium account that proposes and may "
                                                "cancel admin actions (repeat for each)")],
    executor: Annotated[list[str], typer.Option("--executor", help="a consortium account that executes them once "
                                                "their delay is over (repeat for each)")],
    min_delay: Annotated[int, typer.Option("--min-delay", min=0, help="seconds an admin action waits between "
                                           "schedule and execute (e.g. 172800: two days)")],
    relayer_key_file: Annotated[Path | None, typer.Option(
        "--relayer-key-file", help="file holding the relayer's private key (the kit's secrets/relayer.key); "
                                   "else EBILL_CHAIN_KEY")] = None,
    home: HomeOpt = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Deploy the ledger with its admin behind an OpenZeppelin TimelockController, and record it.

    The relayer deploys, then keeps only the registrar role (registering hospitals and
    payers); the timelock, whose proposers and executors are the consortium's accounts,
    holds the admin role. Refuses to replace an existing deployment record.
    """
    from web3 import Web3

    from ledger.adapters import chains, governance
    from ledger.adapters.keyring import Keyring

    with _cli.errors():
        consortium = governance.Consortium(tuple(proposer), tuple(executor), min_delay)
        key = _read_key(relayer_key_file, "EBILL_CHAIN_KEY", "--relayer-key-file")
        passphrase = _cli.keystore_passphrase(home)
        access = _cli.rpc_access(rpc_url, home)
        w3 = Web3(access.provider(timeout=60))
        chain_id = _chain_id(w3, rpc_url)
        name = f"rpc-{chain_id}"
        record = _cli.home_dir(home) / "chains" / name / "deployment.json"
        if record.exists():
            _cli.fail(f"{record} already records a deployment on chain {chain_id}: the service uses it; move it "
                      "away first if you really mean to deploy a second ledger")
        keyring = Keyring()
        relayer = keyring.add(key)
        deployed = governance.deploy_governed(w3, keyring=keyring, relayer=relayer, consortium=consortium,
                                              funder=chains.funder_for(w3, "rpc"), access=access)
        chains.record_deployment(name=name, ledger=deployed.ledger, keyring=keyring, governance=relayer,
                                 home=_cli.home_dir(home), passphrase=passphrase, admin=deployed.record())
    doc = {"chainId": chain_id, "ledger": deployed.ledger.contract_address, "relayer": relayer,
           "record": str(record), "admin": deployed.record()}
    if as_json:
        _cli.out.print_json(json.dumps(doc))
        return
    _cli.out.print(f"ledger {doc['ledger']} on chain {chain_id}; admin: timelock {deployed.timelock} "
                   f"(delay {min_delay} s, {len(consortium.proposers)} proposer(s), {len(consortium.executors)} "
                   f"executor(s)); relayer {relayer} registers members\nrecorded in {record} (relayer key sealed "
                   f"with the keystore passphrase): `ebill serve --chain rpc --rpc-url {rpc_url}` uses it")


def relayer(
    rpc_url: RpcUrlOpt,
    key_file: Annotated[Path, typer.Option("--key-file", help="file holding the new relayer's private key")],
    home: HomeOpt = None,
) -> None:
    """Make the deployment record's relayer the account of --key-file (rotating the relayer).

    The timelock must have granted that account the registrar role first (``ebill chain
    admin schedule|execute grant-registrar``); stop the services before, start them after.
    The old relayer keeps its role until the timelock revokes it (``revoke-registrar``).
    """
    from ledger.adapters.governance import REGISTRAR_ROLE

    with _cli.errors():
        key = _read_key(key_file, "EBILL_ADMIN_KEY", "--key-file")
        session = _cli.open_session("rpc", rpc_url, None, home, deploy=False,
                                    passphrase=lambda: _cli.keystore_passphrase(home))
        new = session.keyring.add(key)
        old = session.governance
        if new == old:
            _cli.fail(f"{new} is the relayer already")
        if not session.ledger._tx.call(session.ledger.contract.functions.hasRole(REGISTRAR_ROLE, new)):
            _cli.fail(f"{new} does not hold the ledger's registrar role: grant it through the timelock first "
                      f"(ebill chain admin schedule grant-registrar {new} …, then execute)")
        session.governance = new
        session.save()
    _cli.out.print(f"the relayer is now {new} (its key sealed in {session.record_path}); {old} keeps the registrar "
                   f"role until `ebill chain admin schedule revoke-registrar {old}` is executed", highlight=False)


@admin_app.command("status")
def admin_status(action: ActionArg, value: ValueArg, rpc_url: RpcUrlOpt, salt: SaltOpt = "",
                 home: HomeOpt = None, as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """Show an admin action's operation, its state, and the call data a multisig or any wallet sends to the
    timelock to schedule, execute or cancel it."""
    with _cli.errors():
        lock, op, _ = _operation(action, value, rpc_url, salt, home)
        doc: dict[str, Any] = {**_describe(op), "state": lock.state(op), "readyAt": lock.ready_at(op),
                               "minDelay": lock.min_delay, "timelock": lock.address,
                               "calldata": lock.calldata(op)}   # for a multisig proposer or executor
    _show(doc, as_json)


@admin_app.command("schedule")
def admin_schedule(action: ActionArg, value: ValueArg, rpc_url: RpcUrlOpt, salt: SaltOpt = "",
                   delay: Annotated[int | None, typer.Option("--delay", min=0, help="seconds (default: the "
                                                             "timelock's minimum delay)")] = None,
                   key_file: SignerKeyOpt = None, home: HomeOpt = None) -> None:
    """Schedule an admin action (a proposer's key); it becomes executable after the delay."""
    with _cli.errors():
        lock, op, signer = _operation(action, value, rpc_url, salt, home, key_file=key_file)
        receipt = lock.schedule(op, proposer=_signer(signer), delay=delay)
        ready = lock.ready_at(op)
    _cli.out.print(f"scheduled {op.label} (operation {_describe(op)['id']}) in block {receipt.block_number}; "
                   f"executable from {time.strftime('%Y-%m-%d %H:%M:%S %Z', time.localtime(ready))}")


@admin_app.command("execute")
def admin_execute(action: ActionArg, value: ValueArg, rpc_url: RpcUrlOpt, salt: SaltOpt = "",
                  key_file: SignerKeyOpt = None, home: HomeOpt = None) -> None:
    """Execute a scheduled admin action whose delay is over (an executor's key)."""
    with _cli.errors():
        lock, op, signer = _operation(action, value, rpc_url, salt, home, key_file=key_file)
        state, when = lock.state(op), lock.ready_at(op)
        # (the state is read at the last block: on a quiet chain a due operation still reads "waiting")
        if state in ("unset", "done") or (state == "waiting" and when > time.time()):
            detail = {"unset": "it was never scheduled (or was cancelled)", "done": "it was executed already",
                      "waiting": f"its delay ends at {time.strftime('%Y-%m-%d %H:%M:%S %Z', time.localtime(when))}"}
            _cli.fail(f"{op.label} is not ready: {detail[state]}")
        receipt = lock.execute(op, executor=_signer(signer))
    _cli.out.print(f"executed {op.label} in block {receipt.block_number}")


@admin_app.command("cancel")
def admin_cancel(action: ActionArg, value: ValueArg, rpc_url: RpcUrlOpt, salt: SaltOpt = "",
                 key_file: SignerKeyOpt = None, home: HomeOpt = None) -> None:
    """Cancel a scheduled admin action before it is executed (a proposer's key: proposers cancel)."""
    with _cli.errors():
        lock, op, signer = _operation(action, value, rpc_url, salt, home, key_file=key_file)
        receipt = lock.cancel(op, canceller=_signer(signer))
    _cli.out.print(f"cancelled {op.label} in block {receipt.block_number}")


# ------------------------------------------------------------------ helpers


def _operation(action: str, value: str, rpc_url: str, salt: str, home: Path | None,
               *, key_file: Path | None = None) -> tuple[Any, Any, str | None]:
    """The timelock of the deployment recorded for the chain at ``rpc_url``, the action's operation,
    and the consortium account that signs this step (None: no key given)."""
    from web3 import Web3

    from ledger.adapters import governance
    from ledger.adapters.keyring import Keyring

    access = _cli.rpc_access(rpc_url, home)
    w3 = Web3(access.provider(timeout=60))
    chain_id = _chain_id(w3, rpc_url)
    record = _cli.home_dir(home) / "chains" / f"rpc-{chain_id}" / "deployment.json"
    try:
        doc = json.loads(record.read_text())
        admin, ledger = doc["admin"], doc["contract"]
        if admin.get("kind") != governance.TIMELOCK_KIND:
            raise KeyError("kind")
    except FileNotFoundError:
        _cli.fail(f"no deployment recorded for chain {chain_id} in {record}: `ebill chain deploy` writes it "
                  "(or copy the consortium's deployment.json there)")
    except (OSError, ValueError, KeyError, TypeError):
        _cli.fail(f"{record} records no timelock (a development deployment, or not a deployment record)")
    keyring, signer = Keyring(), None
    if key_file is not None or os.environ.get("EBILL_ADMIN_KEY"):
        signer = keyring.add(_read_key(key_file, "EBILL_ADMIN_KEY", "--key-file"))
    lock = governance.Timelock(w3, admin["timelock"], keyring=keyring)
    return lock, governance.admin_action(ledger, admin["timelock"], action, value, salt=salt), signer


def _signer(signer: str | None) -> str:
    if signer is None:
        _cli.fail("this step is signed by a consortium account: give its key with --key-file or EBILL_ADMIN_KEY", 2)
    return signer


def _read_key(path: Path | None, env: str, option: str) -> str:
    raw = os.environ.get(env, "") if path is None else ""
    if path is not None:
        try:
            raw = path.expanduser().read_text().strip()
        except OSError as exc:
            _cli.fail(f"cannot read the key file {path}: {exc.strerror or exc}", 2)
    raw = raw.strip()
    if not raw:
        _cli.fail(f"give the private key with {option} FILE or {env}", 2)
    hexpart = raw.removeprefix("0x")
    if len(hexpart) != 64 or any(c not in "0123456789abcdefABCDEF" for c in hexpart):
        _cli.fail(f"the key ({option} or {env}) is not a 32-byte hex private key", 2)
    return "0x" + hexpart


def _chain_id(w3: Any, url: str) -> int:
    from ledger.errors import ChainUnavailable

    try:
        return int(w3.eth.chain_id)
    except Exception as exc:  # connection refused, TLS, 401: the node cannot be used
        raise ChainUnavailable(f"no chain node answers at {url} ({type(exc).__name__}: {exc})") from exc


def _describe(op: Any) -> dict[str, str]:
    from ledger.adapters.governance import describe

    return describe(op)


def _show(doc: dict[str, Any], as_json: bool) -> None:
    if as_json:
        _cli.out.print_json(json.dumps(doc))
        return
    for key, value in doc.items():
        _cli.out.print(f"{key:>12}: {value}", highlight=False)
