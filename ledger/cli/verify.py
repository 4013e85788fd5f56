"""``ebill registry export`` and ``ebill verify``: offline checks of an invoice's QR seal.

Registered on the ``ebill`` app by :func:`register`. ``ebill verify`` exits 0 when the
seal is valid, 1 for any failure verdict (malformed, unknown issuer, tampered or forged,
revoked key) and 2 for a usage error or input it cannot read (no such file, no QR code
in the image, an invalid registry snapshot).
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer
from rich.markup import escape

from ledger.cli import support as _cli
from ledger.qr import PREFIX

__all__ = ["register", "registry_export", "verify"]

_FINGERPRINT = re.compile(r"0x[0-9a-fA-F]{64}")

registry_app = typer.Typer(help="The hospitals registry: export a snapshot for offline verification.",
                           no_args_is_help=True)
_IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg"}


def register(app: typer.Typer) -> None:
    """Add ``registry export`` and ``verify`` to ``app``."""
    app.add_typer(registry_app, name="registry")
    app.command("verify")(verify)


@registry_app.command("export")
def registry_export(
    chain: Annotated[str, typer.Option("--chain", help="anvil | rpc")] = "anvil",
    rpc_url: _cli.UrlOpt = None,
    home: _cli.HomeOpt = None,
    output: Annotated[Path | None, typer.Option("-o", "--output", help="snapshot file (default: stdout)")] = None,
) -> None:
    """Write a snapshot of the hospitals registry (keys, when added and revoked) as JSON."""
    if chain not in ("anvil", "rpc"):
        _cli.fail(f"--chain must be anvil or rpc (an embedded chain has no registry to export), got {chain!r}", 2)
    with _cli.errors():
        from ledger.adapters.registry_export import export_snapshot

        session = _cli.open_session(chain, rpc_url, None, home, deploy=False)
        snapshot = export_snapshot(session.ledger)
    text = json.dumps(snapshot.to_json(), indent=1) + "\n"
    if output is None:
        sys.stdout.write(text)
        return
    try:
        output.write_text(text)
    except OSError as exc:
        _cli.fail(f"cannot write {output}: {exc}", 1)
    keys = sum(len(h.keys) for h in snapshot.hospitals)
    _cli.err.print(f"wrote {output}: {len(snapshot.hospitals)} hospitals, {keys} keys, chain {snapshot.chain_id} "
                   f"block {snapshot.block_number}", highlight=False)


def verify(
    payload: Annotated[str, typer.Argument(metavar="PAYLOAD_OR_FILE",
                                           help="the QR text (EBILL:…) or a PNG/JPEG image of the QR code")],
    offline: Annotated[bool, typer.Option("--offline", help="check the seal against a registry snapshot only")] = False,
    registry: Annotated[Path | None, typer.Option("--registry",
                                                  help="registry snapshot (ebill registry export); online, "
                                                       "default: read the registry from the chain")] = None,
    proofs: Annotated[str | None, typer.Option(
        "--proofs", envvar="EBILL_PROOFS",
        help="online: where inclusion proofs come from: a service URL (its public /v1/proofs) or a proof "
             "file/folder (ebill proof --json); default: the local service http://127.0.0.1:8000")] = None,
    chain: Annotated[str, typer.Option("--chain", help="online: anvil | rpc")] = "anvil",
    rpc_url: Annotated[str | None, typer.Option("--rpc-url", help="online: JSON-RPC URL of the chain")] = None,
    home: Annotated[Path | None, typer.Option("--home", envvar="EBILL_HOME", help="data directory")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print the verdict as JSON")] = False,
) -> None:
    """Verify an invoice's QR seal: who signed it, whether that key was valid then, and (online, the
    default) whether it is anchored on chain, voided, and how much payers reimbursed.

    Exit 0 valid (online: anchored and still claimable), 1 any failure verdict, 2 unusable input.
    The payload never decides where anything is fetched from: the chain and the proof
    source are this command's options.
    """
    from verifier.registry import RegistrySnapshot
    from verifier.seal_check import verify_offline

    if offline and registry is None:
        _usage("--offline needs --registry FILE (a snapshot written by `ebill registry export`)")
    snapshot = None
    if registry is not None:
        try:
            doc = json.loads(registry.read_text())
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            _usage(f"cannot read the registry snapshot {registry}: {exc}")
        with _cli.errors():
            snapshot = RegistrySnapshot.from_json(doc)
    if _FINGERPRINT.fullmatch(payload):
        # a bare fingerprint has no seal to check: the chain's facts about it only
        if offline:
            _usage("a fingerprint alone cannot be verified offline: give the QR text or its image")
        with _cli.errors():
            result = _facts_of_fingerprint(payload, proofs, chain, rpc_url, home)
        _print_result(result, as_json)
        raise typer.Exit(0 if result["valid"] else 1)
    text = _qr_text(payload)
    if offline:
        assert snapshot is not None
        verdict = verify_offline(text, snapshot)
        _print_offline(verdict, as_json)
        raise typer.Exit(0 if verdict.valid else 1)
    with _cli.errors():
        result = _verify_online(text, snapshot, proofs, chain, rpc_url, home)
    _print_result(result, as_json)
    raise typer.Exit(0 if result["valid"] else 1)


def _print_result(result: dict[str, Any], as_json: bool) -> None:
    if as_json:
        sys.stdout.write(json.dumps(result, default=str) + "\n")
        return
    style = "bold green" if result["valid"] else "bold red"
    _cli.out.print(f"[{style}]{result['status']}[/]", highlight=False)
    _cli.out.print(result["reason"], markup=False, highlight=False, soft_wrap=True)
    for st in (result.get("online") or {}).get("stamps", []):
        _cli.out.print(f"  {st['status']} {st['amountFen']} fen by {st['payerId']} (block {st['block']})",
                       highlight=False)


def _proof_source(proofs: str | None) -> Any:
    from verifier.proofs import FileProofSource, HttpProofSource

    source = proofs or "http://127.0.0.1:8000"
    if source.startswith(("http://", "https://")):
        return HttpProofSource(source)
    path = Path(source)
    if not path.exists():
        _usage(f"--proofs: no such file or folder: {source}")
    return FileProofSource(path)


def _facts_of_fingerprint(fingerprint: str, proofs: str | None, chain: str, rpc_url: str | None,
                          home: Path | None) -> dict[str, Any]:
    from ledger.adapters.events import EventReader
    from ledger.hashing import Fingerprint, parse_hash32
    from verifier.online import check_online

    if chain not in ("anvil", "rpc"):
        _usage("--chain must be anvil or rpc for online verification")
    fp = Fingerprint(parse_hash32(fingerprint, what="fingerprint"))
    source = _proof_source(proofs)
    doc = source.inclusion(fp)
    if doc is None:
        return {"valid": False, "status": "not-anchored", "offline": None, "online": None,
                "reason": f"no inclusion proof for {fingerprint}: not anchored yet, or unknown to the proof source"}
    ledger = _cli.open_session(chain, rpc_url, None, home, deploy=False).ledger
    events = EventReader(ledger)
    facts = check_online(fingerprint=fp, total_fen=doc.total_fen, issuer=doc.issuer, chain=ledger, proofs=source,
                         stamps=events, voids=events)
    return {"valid": facts.ok, "status": facts.status.value, "reason": facts.reason, "offline": None,
            "online": facts.to_json()}


def _print_offline(verdict: Any, as_json: bool) -> None:
    if as_json:
        sys.stdout.write(json.dumps(verdict.to_json()) + "\n")
        return
    style = "bold green" if verdict.valid else "bold red"
    _cli.out.print(f"[{style}]{verdict.status}[/]" + (escape(f" [{verdict.rule}]") if verdict.rule else ""),
                   highlight=False)
    _cli.out.print(verdict.reason, markup=False, highlight=False, soft_wrap=True)


def _verify_online(text: str, snapshot: Any, proofs: str | None, chain: str, rpc_url: str | None,
                   home: Path | None) -> dict[str, Any]:
    from ledger.adapters.events import EventReader
    from ledger.adapters.registry_export import export_snapshot
    from verifier.seal_check import verify_offline
    from verifier.verdict import full_verdict

    if chain not in ("anvil", "rpc"):
        _usage("--chain must be anvil or rpc for online verification")
    session = _cli.open_session(chain, rpc_url, None, home, deploy=False)
    ledger = session.ledger
    verdict = verify_offline(text, snapshot if snapshot is not None else export_snapshot(ledger))
    if not verdict.valid or verdict.seal is None:   # no proof source needed (nor opened) for a refused seal
        return full_verdict(verdict, chain=ledger, proofs=None)  # type: ignore[arg-type]
    # the same verdict document as POST /v1/verify (verifier.verdict)
    events = EventReader(ledger)
    return full_verdict(verdict, chain=ledger, proofs=_proof_source(proofs), stamps=events, voids=events)


def _qr_text(argument: str) -> str:
    """The QR text itself, or the text of the one seal QR code in the image at ``argument``."""
    if argument.startswith(PREFIX):
        return argument
    path = Path(argument)
    if path.is_file():
        return _read_image(path)
    if path.suffix.lower() in _IMAGE_SUFFIXES or "/" in argument:
        _usage(f"no such file: {argument}")
    return argument  # some other text: verify_offline says why it is not a seal


def _read_image(path: Path) -> str:
    """The seal's text in the photo at ``path``, read by the same rules as ``POST /v1/verify``."""
    from ledger.adapters.qr_image import read_photo
    from ledger.errors import InvalidInput, PhotoTooLarge

    try:
        return read_photo(path.read_bytes(), name=str(path))
    except OSError as exc:
        _usage(f"cannot read {path}: {exc.strerror or exc}")
    except PhotoTooLarge as exc:
        _usage(f"{path}: {exc}")
    except InvalidInput as exc:
        _usage(f"{path}: {exc.problems[0].message}")


def _usage(message: str) -> NoReturn:
    _cli.fail(message, 2)
