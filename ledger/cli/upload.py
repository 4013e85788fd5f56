"""``ebill upload``: invoice files sent to a running service over HTTP, in chunks, with a progress bar.

Exit status 1 when the service refused any item (each refusal named by file and line),
2 for a usage error; ``--wait`` waits until every acknowledged invoice is anchored.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Annotated, Any

import typer

from ledger.cli import support as _cli
from ledger.errors import ChainUnavailable, InvalidInput


def register(app: typer.Typer) -> None:
    """Add ``upload`` to ``app``."""
    app.command()(upload)


def upload(
    files: Annotated[list[Path], typer.Argument(help="invoices: .json, .ndjson, .csv (flat, or invoices.csv + "
                                                     "fee_lines.csv), or a FHIR bundle .json")],
    url: Annotated[str, typer.Option(envvar="EBILL_URL", help="service URL")] = "http://127.0.0.1:8000",
    token: Annotated[str | None, typer.Option(envvar="EBILL_TOKEN", help="the hospital's API token")] = None,
    chunk: Annotated[int, typer.Option(min=1, max=5000, help="invoices per request (NDJSON/JSON)")] = 500,
    report: Annotated[Path | None, typer.Option(help="write every item's result here (NDJSON)")] = None,
    wait: Annotated[bool, typer.Option(help="wait until the uploaded invoices are anchored")] = False,
) -> None:
    """Upload invoice files to the service with a progress bar; exit 1 if any item was refused."""
    import httpx
    from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn, TransferSpeedColumn

    if not token:
        _cli.fail("no API token: pass --token or set EBILL_TOKEN", 2)
    for f in files:
        if not f.is_file():
            _cli.fail(f"no such file: {f}", 2)
    bad = [f for f in files if f.suffix.lower() not in (".json", ".ndjson", ".jsonl", ".csv")]
    if bad:
        _cli.fail(f"{bad[0]}: expected a .json, .ndjson, .jsonl or .csv file", 2)
    # lazily: NDJSON is read one chunk at a time, so a year of invoices never sits in memory
    requests = _requests(files, chunk)
    total_bytes = sum(f.stat().st_size for f in files)
    counts: dict[str, int] = {}
    # every invoice the service acknowledged (created, or a duplicate of an earlier upload: a
    # re-run after a lost answer or a crash) — what --wait waits for
    acknowledged: set[str] = set()
    sink = report.open("w") if report else None
    refused: list[str] = []
    headers = {"Authorization": f"Bearer {token}"}
    with httpx.Client(base_url=url, headers=headers, timeout=300) as client, Progress(
        TextColumn("[bold]upload[/]"), BarColumn(), TransferSpeedColumn(), TimeRemainingColumn(),
        TextColumn("{task.fields[summary]}"), console=_cli.err,
    ) as progress:
        task = progress.add_task("upload", total=total_bytes, summary="")
        for make, size, relabel in requests:
            kind, body = make()
            try:
                resp = client.post("/v1/invoices", **body)
            except httpx.HTTPError as exc:
                _cli.fail(f"cannot reach the service at {url}: {exc}")
            if resp.status_code >= 400 and not resp.headers.get("content-type", "").startswith("application/json"):
                problem = _problem(resp)
                if resp.status_code in (409, 422) and kind == "single":
                    status = "rejected" if resp.status_code == 422 else "conflict"
                    ref = relabel("upload.json")
                    refused.append(f"{ref}: {problem}")
                    if sink:  # one report line per item, this one too
                        sink.write(json.dumps({"index": 0, "ref": ref, "status": status, "invoice": None,
                                               "problems": _problem_list(resp)}, ensure_ascii=False) + "\n")
                    counts[status] = counts.get(status, 0) + 1
                    progress.advance(task, size)
                    continue
                _cli.fail(f"the service refused the upload ({resp.status_code}): {problem}")
            doc = resp.json()
            for k, v in doc["counts"].items():
                counts[k] = counts.get(k, 0) + v
            for item in doc["items"]:
                item["ref"] = relabel(item["ref"])
                for p in item["problems"]:
                    if "source" in p:
                        p["source"] = relabel(p["source"])
                if sink:
                    sink.write(json.dumps(item, ensure_ascii=False) + "\n")
                if item["status"] in ("rejected", "conflict"):
                    first = item["problems"][0] if item["problems"] else {"message": (
                        f"{item.get('problemCount', 'some')} problems, not listed: the service lists a limited "
                        "number per upload; fix the ones listed and upload again")}
                    # a problem's source already names the item ("x.ndjson line 16: totalFen")
                    where = first.get("source") or f"{item['ref']}: {first.get('field')}"
                    refused.append(f"{where}: {first['message']}")
                elif item["status"] in ("created", "duplicate"):
                    acknowledged.add(item["invoice"]["fingerprint"])
            progress.advance(task, size)
            progress.update(task, summary=" ".join(f"{k} {v:,}" for k, v in counts.items() if v))
        if wait and acknowledged:
            with _cli.errors():
                _wait_anchored(client, acknowledged)
    if sink:
        sink.close()
    _cli.out.print("uploaded: " + ", ".join(f"{k} {v:,}" for k, v in counts.items()))
    for line in refused[:20]:
        _cli.err.print(f"[red]refused[/] {line}", highlight=False)
    if len(refused) > 20:
        _cli.err.print(f"… and {len(refused) - 20} more (see --report)")
    if refused:
        raise typer.Exit(1)


def _problem(resp: Any) -> str:
    try:
        doc = resp.json()
    except ValueError:
        return str(resp.text[:300])
    errors = "; ".join(f"{e['field']}: {e['message']}" for e in doc.get("errors", [])[:5])
    return f"{doc.get('detail', '')} {errors}".strip()


def _problem_list(resp: Any) -> list[dict[str, Any]]:
    try:
        return list(resp.json().get("errors", []))
    except ValueError:
        return []


def _wait_anchored(client: Any, fingerprints: set[str], timeout: float = 300.0) -> None:
    """Wait until none of ``fingerprints`` is still waiting for its anchor.

    Every acknowledged invoice counts, duplicates too: after a lost answer or a crash the
    operator re-runs the upload, gets duplicates back, and they may not be anchored yet.
    The hospital's not-yet-anchored invoices are listed (``state=stored``, paged), so the
    wait costs a request per 1,000 waiting invoices, not one per uploaded invoice.
    """
    deadline = time.monotonic() + timeout
    while True:
        waiting: set[str] = set()
        after: str | None = None
        while True:
            params = {"state": "stored", "limit": 1000, **({"after": after} if after else {})}
            r = client.get("/v1/invoices", params=params)
            if r.status_code != 200:
                raise ChainUnavailable(f"cannot list the invoices waiting for their anchor: {r.status_code} "
                                       f"{_problem(r)}")
            page = r.json()
            waiting |= {i["fingerprint"] for i in page["items"]} & fingerprints
            after = page.get("next")
            if not after:
                break
        if not waiting:
            _cli.out.print(f"anchored: all {len(fingerprints):,} uploaded invoices")
            return
        if time.monotonic() > deadline:
            raise ChainUnavailable(f"{len(waiting):,} of {len(fingerprints):,} invoices not anchored within "
                                   f"{timeout:.0f} s")
        time.sleep(0.5)


def _relabel(name: str, line_offset: int | None = None) -> Callable[[str], str]:
    """Rewrites the service's item refs so they point into the user's file.

    The service sees one request body: it calls it ``upload.ndjson`` (``upload.json``, …)
    and counts lines from the start of the body, so without this a refusal in the second
    NDJSON chunk named line 6 of "upload.ndjson" instead of line 16 of the user's file.
    """
    if line_offset is None:
        generic = re.compile(r"^(?:upload\.json|upload\.ndjson|bundle\.json|invoices\.csv)\b")
        return lambda text: generic.sub(lambda _: name, text, count=1)
    numbered = re.compile(r"^\S+ line (\d+)")
    return lambda text: numbered.sub(lambda m: f"{name} line {int(m[1]) + line_offset}", text, count=1)


def _same(text: str) -> str:
    return text


def _requests(files: list[Path], chunk: int) -> Iterator[tuple[Any, int, Callable[[str], str]]]:
    """(make request kwargs, bytes covered, ref rewriter) for each HTTP request of the upload."""
    names = {f.name.lower(): f for f in files}
    if "invoices.csv" in names and "fee_lines.csv" in names:
        inv, lines = names["invoices.csv"], names["fee_lines.csv"]
        size = inv.stat().st_size + lines.stat().st_size

        def pair() -> tuple[str, dict[str, Any]]:
            return "bulk", {"files": {"invoices": ("invoices.csv", inv.read_bytes(), "text/csv"),
                                      "fee_lines": ("fee_lines.csv", lines.read_bytes(), "text/csv")}}
        yield pair, size, _same  # the parts carry their file names
        files = [f for f in files if f not in (inv, lines)]
    for f in files:
        suffix = f.suffix.lower()
        if suffix in (".ndjson", ".jsonl"):
            yield from _ndjson_chunks(f, chunk)
        elif suffix == ".csv":
            yield (lambda f=f: ("bulk", {"content": f.read_bytes(), "headers": {"Content-Type": "text/csv"}})), \
                f.stat().st_size, _relabel(f.name)
        elif suffix == ".json":
            head = f.open("rb").read(4096).lstrip()
            if b'"resourceType"' in head and b'"Bundle"' in head:
                yield (lambda f=f: ("bulk", {"content": f.read_bytes(),
                                             "headers": {"Content-Type": "application/fhir+json"}})), \
                    f.stat().st_size, _relabel(f.name)
            else:
                single = head[:1] == b"{"
                yield (lambda f=f, single=single: ("single" if single else "bulk", {
                    "content": f.read_bytes(), "headers": {"Content-Type": "application/json"}})), \
                    f.stat().st_size, _relabel(f.name)
        else:
            raise InvalidInput.single(str(f), "file-type", "expected .json, .ndjson, .jsonl or .csv")


def _ndjson_chunks(path: Path, chunk: int) -> Iterator[tuple[Any, int, Callable[[str], str]]]:
    """Chunks of ``chunk`` lines, read lazily so memory stays flat for a year of invoices."""
    lines_before = 0
    with path.open("rb") as f:
        while True:
            lines = []
            for _ in range(chunk):
                line = f.readline()
                if not line:
                    break
                lines.append(line)
            if not lines:
                return
            body = b"".join(lines)
            yield (lambda body=body: ("bulk", {"content": body,
                                               "headers": {"Content-Type": "application/x-ndjson"}})), len(body), \
                _relabel(path.name, lines_before)
            lines_before += len(lines)
