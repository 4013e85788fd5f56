"""ledger.devtools.gen and ``ebill gen``: deterministic upload files that read back to the data set."""

from __future__ import annotations

import hashlib
import io
from pathlib import Path
from typing import Any

import orjson
import pytest
import typer
from typer.testing import CliRunner

from ledger.cli import gen as cli_gen
from ledger.devtools.gen import write_dataset
from ledger.devtools.synth import Dataset, generate, iter_documents
from ledger.formats import UploadPart, read_upload

PEPPER = b"formats-test-pepper-0123456789ab"
SIZES = {"hospitals": 4, "invoices": 40, "fee_lines": 2400}


@pytest.fixture(scope="module")
def dataset() -> Dataset:
    return generate(3, pepper=PEPPER, **SIZES)


def digests(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


def read_back(*paths: Path) -> list[dict[str, Any]]:
    parts = [UploadPart(io.BytesIO(p.read_bytes()), filename=p.name) for p in paths]
    items = list(read_upload(parts))
    assert all(i.ok for i in items), [i.problems for i in items if not i.ok][:3]
    return [i.document for i in items]  # type: ignore[misc]


def test_every_format_reads_back_to_the_data_set(dataset: Dataset, tmp_path: Path) -> None:
    seen: list[tuple[int, int]] = []
    report = write_dataset(dataset, tmp_path, formats=("ndjson", "csv", "fhir"), bundle_size=15,
                           progress=lambda n, lines: seen.append((n, lines)))
    docs = list(iter_documents(dataset))
    assert (report.invoices, report.fee_lines) == (40, 2400) == (len(docs), dataset.fee_line_count)
    assert report.total_fen == sum(d["totalFen"] for d in docs)
    names = [str(f.relative_to(tmp_path)) for f in report.files]
    assert names == ["invoices.ndjson", "csv/invoices.csv", "csv/fee_lines.csv",
                     "fhir/bundle-0001.json", "fhir/bundle-0002.json", "fhir/bundle-0003.json"]
    assert report.bytes == sum(f.stat().st_size for f in report.files)
    assert seen[-1] == (40, 2400) and len(seen) == 40
    assert read_back(tmp_path / "invoices.ndjson") == docs
    assert read_back(tmp_path / "csv/invoices.csv", tmp_path / "csv/fee_lines.csv") == docs
    bundles = [read_back(p) for p in sorted((tmp_path / "fhir").iterdir())]
    assert [len(b) for b in bundles] == [15, 15, 10] and [d for b in bundles for d in b] == docs


def test_same_seed_gives_byte_identical_files(tmp_path: Path) -> None:
    # a different pepper on purpose: the files hold patient IDs, never pseudonyms
    for run, pepper in (("a", PEPPER), ("b", b"another-pepper-0123456789abcdef!")):
        write_dataset(generate(3, pepper=pepper, **SIZES), tmp_path / run, formats=("ndjson", "csv", "fhir"))
    a, b = digests(tmp_path / "a"), digests(tmp_path / "b")
    assert a == b and len(a) == 4
    write_dataset(generate(4, pepper=PEPPER, **SIZES), tmp_path / "c")
    assert digests(tmp_path / "c")["invoices.ndjson"] != a["invoices.ndjson"]


def test_per_hospital_layout(dataset: Dataset, tmp_path: Path) -> None:
    report = write_dataset(dataset, tmp_path, formats=("ndjson", "fhir"), per_hospital=True)
    docs = list(iter_documents(dataset))
    issuers = sorted({d["issuer"] for d in docs})
    assert sorted(p.name for p in tmp_path.iterdir()) == issuers
    for issuer in issuers:
        mine = [d for d in docs if d["issuer"] == issuer]
        assert read_back(tmp_path / issuer / "invoices.ndjson") == mine
        assert read_back(tmp_path / issuer / "fhir" / "bundle-0001.json") == mine
    assert len(report.files) == 2 * len(issuers)


def test_bad_arguments(dataset: Dataset, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="xml"):
        write_dataset(dataset, tmp_path, formats=("ndjson", "xml"))
    with pytest.raises(ValueError, match="bundle_size"):
        write_dataset(dataset, tmp_path, formats=("fhir",), bundle_size=0)


# ------------------------------------------------------------------ the command


@pytest.fixture()
def app() -> typer.Typer:
    app = typer.Typer(pretty_exceptions_enable=False, add_completion=False)

    @app.callback()
    def main() -> None:
        """A stand-in for the ebill app."""

    cli_gen.register(app)
    return app


def test_cli_gen_writes_files_and_a_summary(app: typer.Typer, tmp_path: Path) -> None:
    args = ["gen", "--seed", "3", "--hospitals", "4", "--invoices", "40", "--fee-lines", "2400"]
    result = CliRunner().invoke(app, [*args, "--out", str(tmp_path / "a"), "-f", "csv", "-f", "ndjson"])
    assert result.exit_code == 0, result.output
    assert "wrote 3 files" in result.output and "40 invoices, 2,400 fee lines" in result.output
    result = CliRunner().invoke(app, [*args, "--out", str(tmp_path / "b"), "--format", "ndjson", "--format", "csv",
                                      "--json", "--pepper-hex", "00" * 16])
    assert result.exit_code == 0, result.output
    report = orjson.loads(result.stdout)
    assert (report["invoices"], report["feeLines"], len(report["files"])) == (40, 2400, 3)
    assert digests(tmp_path / "a") == digests(tmp_path / "b")


@pytest.mark.parametrize(("args", "message"), [
    (["-f", "xml"], "--format must be one of"),
    (["--pepper-hex", "zz"], "hexadecimal"),
    (["--pepper-hex", "0011"], "at least 16 bytes"),
    (["--invoices", "10", "--fee-lines", "5"], "fee_lines must be between"),
])
def test_cli_gen_usage_errors(app: typer.Typer, tmp_path: Path, args: list[str], message: str) -> None:
    result = CliRunner().invoke(app, ["gen", "--out", str(tmp_path), *args])
    assert result.exit_code == 2
    assert message in result.output
    assert not any(tmp_path.iterdir())


def test_cli_gen_for_a_registered_hospital(app: typer.Typer, tmp_path: Path) -> None:
    """``--issuer`` (the README's ``ebill gen --issuer H33010200001``): the files hold only that hospital's
    invoices, so its token can upload them all."""
    result = CliRunner().invoke(app, ["gen", "--issuer", "H33010200001", "--invoices", "30", "--fee-lines", "300",
                                      "--out", str(tmp_path), "--json"])
    assert result.exit_code == 0, result.output
    docs = read_back(tmp_path / "invoices.ndjson")
    assert len(docs) == 30 and {d["issuer"] for d in docs} == {"H33010200001"}


@pytest.mark.parametrize(("args", "message"), [
    (["--issuer", "H3301"], "--issuer: an institution code is H followed by 11 digits, got 'H3301'"),
    (["--issuer", "H33010200001", "--issuer", "H33010200001"], "given twice"),
    (["--issuer", "H33010200001", "--hospitals", "3"], "leave out --hospitals"),
])
def test_cli_gen_issuer_usage_errors(app: typer.Typer, tmp_path: Path, args: list[str], message: str) -> None:
    result = CliRunner().invoke(app, ["gen", "--out", str(tmp_path), "--invoices", "5", "--fee-lines", "50", *args])
    assert result.exit_code == 2
    assert message in " ".join(result.output.split())
    assert not any(tmp_path.iterdir())
