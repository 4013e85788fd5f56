"""``ebill report monthly`` on a store with real claims: the same report as the API, in each
format, to standard output or a file; one hospital's; bad options get one line and exit 2,
never a traceback, and leave no file behind."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from claims_stack import PAYER, ClaimsStack, make_claims_stack
from pypdf import PdfReader
from typer.testing import CliRunner

from ledger.cli import app
from ledger.months import Month

runner = CliRunner()


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ClaimsStack, list[str]]]:
    tmp = tmp_path_factory.mktemp("report-cli")
    url = f"sqlite:///{tmp}/ebill.sqlite"
    cs = make_claims_stack(url, tmp)
    cs.upload_all("a")
    cs.upload_all("b")
    for i, (fp, nid) in enumerate(sorted(cs.patients.items())):
        cs.claim(nid, [fp], f"cli-tap-{i:04d}")
    cs.stamper.stop()
    if cs._thread is not None:
        cs._thread.join(timeout=10)
    yield cs, ["--db", url, "--home", str(tmp), "--payer", PAYER]
    cs.service.store.close()


def month() -> str:
    return str(Month.containing(datetime.now(UTC)))


def drop_time(doc: dict[str, object]) -> dict[str, object]:
    return {k: v for k, v in doc.items() if k != "generatedAt"}


def test_json_on_standard_output_is_the_apis_report(stack: tuple[ClaimsStack, list[str]]) -> None:
    cs, opts = stack
    r = runner.invoke(app, ["report", "monthly", "--month", month(), *opts])
    assert r.exit_code == 0, r.output
    doc = json.loads(r.stdout)
    api = cs.client.get("/v1/reports/monthly", params={"month": month()}, headers=cs.auth("auditor")).json()
    assert drop_time(doc) == drop_time(api) and doc["total"]["claims"] > 0
    assert f"{doc['total']['claims']} claim(s) at 2 hospital(s)" in r.stderr and "incomplete" in r.stderr


def test_csv_and_pdf_files(stack: tuple[ClaimsStack, list[str]], tmp_path: Path) -> None:
    cs, opts = stack
    out = tmp_path / "report.csv"
    r = runner.invoke(app, ["report", "monthly", "--month", month(), "--format", "csv", "--out", str(out), *opts])
    assert r.exit_code == 0, r.output
    data = out.read_bytes()
    assert data.startswith(b"\xef\xbb\xbf") and f"written to {out}" in r.stderr.replace("\n", "")
    rows = list(csv.DictReader(io.StringIO(data.decode("utf-8-sig"), newline="")))
    assert int(next(x for x in rows if x["section"] == "total")["claims"]) == len(cs.claims.store.claims(limit=500))
    a = cs.docs["a"][0]["issuer"]
    pdf = tmp_path / "a.pdf"
    r = runner.invoke(app, ["report", "monthly", "--month", month(), "--format", "pdf", "--out", str(pdf),
                            "--hospital", a, *opts])
    assert r.exit_code == 0, r.output
    text = "\n".join(p.extract_text() for p in PdfReader(io.BytesIO(pdf.read_bytes())).pages)
    assert month() in text and a in text and cs.docs["b"][0]["issuer"] not in text
    assert [p.name for p in tmp_path.iterdir()] != [] and not any(p.name.startswith(".") for p in tmp_path.iterdir())


@pytest.mark.parametrize(("args", "words"), [
    (["--month", "2026-13"], "invalid month: a month is written YYYY-MM"),
    (["--month", "2099-12"], "has not begun in China"),
    (["--month", "2026-11", "--format", "xlsx"], "--format must be one of json, csv, pdf"),
    (["--month", "2026-11", "--format", "pdf"], "a PDF is written to a file"),
    (["--month", "2026-11", "--hospital", "H99999999999"], "no hospital H99999999999 is registered here"),
    (["--month", "2026-11", "--out", "/nonexistent-dir/r.json"], "cannot write /nonexistent-dir/r.json"),
])
def test_bad_options_get_one_line_and_leave_nothing(stack: tuple[ClaimsStack, list[str]], tmp_path: Path,
                                                    args: list[str], words: str) -> None:
    _, opts = stack
    r = runner.invoke(app, ["report", "monthly", *args, *opts], env={"COLUMNS": "250"})
    assert r.exit_code in (1, 2) and words in r.output and "Traceback" not in r.output, r.output
    assert r.stdout == ""
