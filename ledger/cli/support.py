"""What every ``ebill`` command shares: consoles, error reporting, option types, the chain.

A command wraps its work in :func:`errors` so that a foreseen failure
(:class:`~ledger.errors.LedgerError`) prints one line and exits non-zero (1 = refused or
failed, 2 = bad input naming every field) instead of a traceback.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer
from rich.console import Console
from rich.markup import escape

from ledger.errors import InvalidInput, LedgerError

out = Console()
err = Console(stderr=True)

ChainOpt = Annotated[str, typer.Option("--chain", help="embedded | anvil | rpc")]
UrlOpt = Annotated[str | None, typer.Option("--rpc-url", help="JSON-RPC URL (default: the local anvil node)")]
KeyOpt = Annotated[str | None, typer.Option("--key", envvar="EBILL_CHAIN_KEY",
                                            help="unused: an RPC deployment is made by `ebill chain deploy`")]
HomeOpt = Annotated[Path | None, typer.Option("--home", envvar="EBILL_HOME",
                                              help="data directory (default ~/.ebill)")]
DbOpt = Annotated[str | None, typer.Option("--db", envvar="EBILL_DB",
                                           help="database URL (default: SQLite in the data directory; "
                                                "postgresql://user@host/db for PostgreSQL)")]


def fail(message: str, code: int = 1) -> NoReturn:
    """Print ``message`` as an error and exit with ``code``."""
    err.print(f"[bold red]error:[/] {message}", highlight=False)
    raise typer.Exit(code)


@contextmanager
def errors() -> Iterator[None]:
    """Turn a :class:`LedgerError` into one line on stderr and an exit status."""
    try:
        yield
    except InvalidInput as exc:
        for p in exc.problems:
            err.print(f"[red]invalid[/] {p.field or '(document)'}: {p.message} [dim]\\[{p.rule}][/]", highlight=False)
        raise typer.Exit(2) from None
    except LedgerError as exc:
        # escaped: the kind in brackets (and any bracket in the message) is text, not console markup
        fail(escape(f"{exc} [{exc.kind}]"))


def yuan(fen: int) -> str:
    """An amount in fen as ``¥1,234.56``."""
    return f"¥{fen // 100:,}.{fen % 100:02d}"


def redacted(url: str) -> str:
    """A database URL fit to print: its password hidden."""
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


def home_dir(home: Path | None) -> Path:
    """The data directory: ``--home``, ``$EBILL_HOME`` or ``~/.ebill``."""
    from ledger.composition.settings import default_home

    return (home or default_home()).expanduser()


def keystore_passphrase(home: Path | None) -> str:
    """The keystore passphrase of the data directory (``EBILL_KEYSTORE_PASSPHRASE``, or in
    development the one generated into ``$EBILL_HOME/secrets``)."""
    from ledger.composition.settings import Settings

    return Settings(home=home_dir(home)).passphrase()


def rpc_access(rpc_url: str, home: Path | None) -> Any:
    """The node at ``rpc_url`` with the credentials named by ``EBILL_RPC_TOKEN_FILE`` and
    ``EBILL_RPC_CA_FILE`` (a :class:`~ledger.adapters.rpc_access.RpcAccess`)."""
    from ledger.composition.settings import Settings

    return Settings(home=home_dir(home)).rpc_access(rpc_url)


def open_session(chain: str, rpc_url: str | None, key: str | None, home: Path | None, *, deploy: bool = True,
                 autostart: bool = False, passphrase: Callable[[], str] | None = None) -> Any:
    """The ledger on ``chain`` (a :class:`~ledger.adapters.chains.ChainSession`), starting a
    managed anvil node when ``autostart`` and none runs.

    ``passphrase`` gives the keystore passphrase that opens the keys sealed in the
    deployment record (asked only once the options are known to be usable); without it
    the session only reads the chain (verification, proofs)."""
    from ledger.adapters import chains

    if chain not in chains.CHAIN_KINDS:
        fail(f"--chain must be one of {', '.join(chains.CHAIN_KINDS)}, got {chain!r}", 2)
    if chain == "embedded":
        return chains.open_embedded()
    if chain == "rpc" and not rpc_url:
        fail("--chain rpc needs --rpc-url URL", 2)
    if chain == "anvil" and not rpc_url:
        from ledger.adapters import anvil

        state = anvil.status(home_dir(home) / "node")
        if state is None:
            if not autostart:
                fail("no anvil node is running: start one with `ebill node start`")
            err.print("[dim]starting a local anvil node (stop it with `ebill node stop`)…[/]")
            # EBILL_ANVIL_PORT: run several data directories' nodes side by side (tests, benchmarks)
            port = int(os.environ.get("EBILL_ANVIL_PORT") or chains.DEFAULT_ANVIL_PORT)
            state = anvil.start_detached(anvil.AnvilConfig(data_dir=home_dir(home) / "node", port=port))
        rpc_url = state["url"]
    assert rpc_url is not None
    # EBILL_SIGNER: the PKCS#11 token new accounts are made on and the record's token accounts live on
    session = chains.open_node(chain, url=rpc_url, home=home_dir(home), key=key, deploy=deploy,  # type: ignore[arg-type]
                               passphrase=passphrase() if passphrase else None, access=rpc_access(rpc_url, home),
                               signer=os.environ.get("EBILL_SIGNER"))
    for note in session.notes:
        err.print(f"[yellow]note:[/] {note}", highlight=False)
    return session
