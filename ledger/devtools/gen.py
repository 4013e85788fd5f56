"""``ebill gen``: write a synthetic data set as upload files, deterministically, in flat memory.

Layout under the output directory (with ``per_hospital``, the same under one directory
per institution code, e.g. ``H33060210123/invoices.ndjson``)::

    invoices.ndjson              ndjson: one upload document per line (the default)
    csv/invoices.csv             csv: one row per invoice, amounts in fen
    csv/fee_lines.csv                 one row per fee line, keyed by issuer, code, number
    fhir/bundle-0001.json        fhir: collection Bundles of at most 500 Invoices each

Files hold only what the documents hold (no time stamps), so the same data set (same
seed and sizes) gives byte-identical files. Invoices are built one at a time from the
lazy :class:`~ledger.devtools.synth.Dataset` and written straight out: the whole year (15,605
invoices, 1.332 M fee lines, ~260 MB of NDJSON) runs in constant memory.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Protocol

import orjson

from ledger.devtools.synth import Dataset, iter_documents
from ledger.formats.fhir import BundleWriter
from ledger.formats.his_csv_write import CsvPairWriter

__all__ = ["BUNDLE_SIZE", "GEN_FORMATS", "GenReport", "write_dataset"]

GEN_FORMATS = ("ndjson", "csv", "fhir")
BUNDLE_SIZE = 500
_BUFFER = 1 << 20
#: open files per hospital and format, for the per-hospital file budget
_FILES_PER_FORMAT = {"ndjson": 1, "csv": 2, "fhir": 1}


@dataclass(frozen=True)
class GenReport:
    """What :func:`write_dataset` wrote."""

    out_dir: Path
    files: tuple[Path, ...]
    invoices: int
    fee_lines: int
    total_fen: int
    bytes: int
    seconds: float

    def to_json(self) -> dict[str, Any]:
        return {"outDir": str(self.out_dir), "files": [str(f) for f in self.files], "invoices": self.invoices,
                "feeLines": self.fee_lines, "totalFen": self.total_fen, "bytes": self.bytes,
                "seconds": round(self.seconds, 3)}


class _Sink(Protocol):
    def write(self, doc: Mapping[str, Any]) -> None: ...
    def close(self) -> list[Path]: ...


class _NdjsonSink:
    def __init__(self, directory: Path) -> None:
        self.path = directory / "invoices.ndjson"
        self._f = _open_binary(self.path)

    def write(self, doc: Mapping[str, Any]) -> None:
        self._f.write(orjson.dumps(doc, option=orjson.OPT_APPEND_NEWLINE))

    def close(self) -> list[Path]:
        self._f.close()
        return [self.path]


class _CsvSink:
    def __init__(self, directory: Path) -> None:
        (directory / "csv").mkdir(parents=True, exist_ok=True)
        self.paths = [directory / "csv" / "invoices.csv", directory / "csv" / "fee_lines.csv"]
        self._files = [p.open("w", encoding="utf-8", newline="", buffering=_BUFFER) for p in self.paths]
        self._w = CsvPairWriter(*self._files)

    def write(self, doc: Mapping[str, Any]) -> None:
        self._w.write(doc)

    def close(self) -> list[Path]:
        for f in self._files:
            f.close()
        return self.paths


class _FhirSink:
    """Bundles of at most ``size`` invoices: bundle-0001.json, bundle-0002.json, ..."""

    def __init__(self, directory: Path, size: int) -> None:
        self.dir, self.size = directory / "fhir", size
        self.dir.mkdir(parents=True, exist_ok=True)
        self.paths: list[Path] = []
        self._f: IO[bytes] | None = None
        self._w: BundleWriter | None = None

    def write(self, doc: Mapping[str, Any]) -> None:
        if self._w is None or self._w.count >= self.size:
            self._finish()
            path = self.dir / f"bundle-{len(self.paths) + 1:04d}.json"
            self.paths.append(path)
            self._f = _open_binary(path)
            self._w = BundleWriter(self._f)
        self._w.write(doc)

    def _finish(self) -> None:
        if self._w is not None and self._f is not None:
            self._w.close()
            self._f.close()
        self._w = self._f = None

    def close(self) -> list[Path]:
        self._finish()
        return self.paths


def _open_binary(path: Path) -> IO[bytes]:
    path.parent.mkdir(parents=True, exist_ok=True)
    return path.open("wb", buffering=_BUFFER)


def _sinks(directory: Path, formats: Iterable[str], bundle_size: int) -> list[_Sink]:
    out: list[_Sink] = []
    for fmt in formats:
        if fmt == "ndjson":
            out.append(_NdjsonSink(directory))
        elif fmt == "csv":
            out.append(_CsvSink(directory))
        else:
            out.append(_FhirSink(directory, bundle_size))
    return out


def write_dataset(dataset: Dataset, out_dir: Path | str, *, formats: Iterable[str] = ("ndjson",),
                  per_hospital: bool = False, bundle_size: int = BUNDLE_SIZE,
                  progress: Callable[[int, int], None] | None = None) -> GenReport:
    """Write every invoice of ``dataset`` in each of ``formats`` under ``out_dir``.

    ``progress(invoices, fee_lines)`` is called after each invoice. Files of the same
    names are overwritten. Raises ValueError for an unknown format or a bundle size < 1,
    OSError when the files cannot be written.
    """
    fmts = tuple(dict.fromkeys(formats))
    unknown = [f for f in fmts if f not in GEN_FORMATS]
    if unknown or not fmts:
        raise ValueError(f"formats must be among {', '.join(GEN_FORMATS)}, got {', '.join(unknown) or 'none'}")
    if bundle_size < 1:
        raise ValueError(f"bundle_size must be at least 1, got {bundle_size}")
    out = Path(out_dir)
    if per_hospital:
        _check_file_budget(len(dataset.hospitals) * sum(_FILES_PER_FORMAT[f] for f in fmts))
    started = time.perf_counter()
    out.mkdir(parents=True, exist_ok=True)
    sinks: dict[str, list[_Sink]] = {}
    invoices = lines = total = 0
    try:
        for doc in iter_documents(dataset):
            where = doc["issuer"] if per_hospital else ""
            group = sinks.get(where)
            if group is None:
                group = sinks[where] = _sinks(out / where if where else out, fmts, bundle_size)
            for sink in group:
                sink.write(doc)
            invoices += 1
            lines += len(doc["feeLines"])
            total += doc["totalFen"]
            if progress is not None:
                progress(invoices, lines)
    finally:
        files = [path for key in sorted(sinks) for sink in sinks[key] for path in sink.close()]
    return GenReport(out_dir=out, files=tuple(files), invoices=invoices, fee_lines=lines, total_fen=total,
                     bytes=sum(f.stat().st_size for f in files), seconds=time.perf_counter() - started)


def _check_file_budget(needed: int) -> None:
    """Per-hospital files stay open while the invoices (in issue order) are written."""
    try:
        import resource
    except ImportError:  # pragma: no cover - not on POSIX
        return
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and needed > soft - 64:
        raise ValueError(f"per-hospital output needs {needed} open files, the limit is {soft} "
                         f"(raise it with `ulimit -n`, or use fewer hospitals or formats)")
