"""Reading CSV text in bounded memory: encoding detection, line splitting, records.

**Encoding**: a UTF-8 or GB18030 byte order mark decides. Otherwise the bytes are read as
ASCII until the first chunk that is not; that chunk is decoded as UTF-8 if it is valid
UTF-8, else the file is GB18030 (a superset of GBK and GB2312, which Chinese HIS exports
often use). Either way decoding is strict from then on: a file is in one encoding, and
a byte that does not decode refuses the file, naming the line.

**Dialect**: RFC 4180 (comma, double quotes; CRLF, LF or CR line ends); a header row with
tabs and no commas makes the file tab-separated. Quoting is strict (``a,"b"c`` is an
error, not a guess).

**Row numbers** count records with the header as row 1, as a spreadsheet shows them
(equal to the line number unless a quoted cell spans lines).
"""

from __future__ import annotations

import codecs
import csv
import io
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from itertools import chain
from operator import itemgetter
from typing import IO, Any, NoReturn

from ledger.errors import InvalidInput
from ledger.formats.items import Limits

__all__ = ["Lines", "Row", "Rows", "first_line", "records"]

Row = list[str]
_BOM_UTF8, _BOM_GB18030 = b"\xef\xbb\xbf", b"\x84\x31\x95\x33"
_CHUNK = 1 << 16


class Lines:
    """Decoded lines of a byte stream, line ends kept (for the csv module); see the module doc.

    Reads fixed-size chunks, so memory stays flat; ``lineno`` counts the lines decoded
    before the current chunk, ``consumed`` the bytes read.
    """

    def __init__(self, stream: IO[bytes], *, file: str, limits: Limits) -> None:
        self.stream, self.file, self.cap = stream, file, limits.max_item_bytes
        self.encoding: str | None = None
        self.lineno = 0
        self.consumed = 0
        self._decoder: codecs.IncrementalDecoder | None = None

    def __iter__(self) -> Iterator[str]:
        # lines are split and handed out by C code (StringIO, chain): no Python frame per line
        return chain.from_iterable(self._chunks())

    def _chunks(self) -> Iterator[Iterable[str]]:
        read, cap = self.stream.read, self.cap
        carry = ""
        first = True
        while True:
            raw = read(_CHUNK)
            self.consumed += len(raw)
            if first:
                first = False
                if raw.startswith(_BOM_UTF8):
                    self._use("utf-8")
                    raw = raw[3:]
                elif raw.startswith(_BOM_GB18030):
                    self._use("gb18030")
                    raw = raw[4:]
            text = carry + self._decode(raw, final=not raw, before=carry)
            if not raw:
                if text:
                    yield _split(text)
                return
            # a line ends at \n or \r; a \r at the very end may be the first half of a \r\n
            cut = max(text.rfind("\n"), text.rfind("\r", 0, len(text) - 1)) + 1
            if cut == 0:
                carry = text
                if len(carry) > cap:
                    raise InvalidInput.single(f"{self.file} line {self.lineno + 1}", "max-item-bytes",
                                              f"is longer than {cap:,} characters")
                continue
            carry = text[cut:]
            done = text[:cut]
            yield _split(done)
            self.lineno += done.count("\n")

    def _use(self, encoding: str) -> None:
        self.encoding = encoding
        self._decoder = codecs.getincrementaldecoder(encoding)("strict")

    def _decode(self, raw: bytes, *, final: bool, before: str) -> str:
        if self._decoder is None:
            if raw.isascii():
                return raw.decode("ascii")
            try:
                self._use("utf-8")
                assert self._decoder is not None
                return self._decoder.decode(raw, final)
            except UnicodeDecodeError as exc:
                if not raw[:exc.start].isascii():  # valid UTF-8 text, then something else
                    self._fail(raw, exc, before)
                self._use("gb18030")  # nothing but ASCII before: a GB18030/GBK file
        assert self._decoder is not None
        try:
            return self._decoder.decode(raw, final)
        except UnicodeDecodeError as exc:
            self._fail(raw, exc, before)

    def _fail(self, raw: bytes, exc: UnicodeDecodeError, before: str) -> NoReturn:
        line = self.lineno + before.count("\n") + raw[:exc.start].count(b"\n") + 1
        raise InvalidInput.single(
            f"{self.file} line {line}", "encoding",
            f"is not valid {(self.encoding or 'utf-8').upper()} (byte {raw[exc.start]:#04x}); the file must be in "
            f"one encoding: UTF-8 (with or without BOM) or GB18030/GBK") from None


def _split(text: str) -> Iterable[str]:
    """Lines with their ends, split at \\n, \\r\\n and \\r exactly as ``open(newline="")`` does."""
    lines = text.splitlines(True)  # fast, but also splits at \v, \f, \x1c-\x1e, \x85, \u2028, \u2029
    if len(lines) == text.count("\n") + (not text.endswith("\n")):
        return lines
    return io.StringIO(text, newline="")


def records(stream: IO[bytes], *, file: str, limits: Limits) -> tuple[Row, Rows, Lines]:
    """The header row and the (row number, row) records of a CSV stream."""
    lines = Lines(stream, file=file, limits=limits)
    it = iter(lines)
    first = next(it, None)
    if first is None or not first.strip():
        raise InvalidInput.single(f"{file} row 1", "header-row", "the file is empty: it needs a header row")
    delimiter = "\t" if "\t" in first and "," not in first else ","
    reader = csv.reader(chain((first,), it), delimiter=delimiter, strict=True)
    try:
        header = next(reader)
    except csv.Error as exc:
        raise InvalidInput.single(f"{file} row 1", "csv-syntax", f"is not valid CSV: {exc}") from None
    return header, Rows(reader, file), lines


class Rows:
    """(row number, row) of the records after the header; blank rows are skipped.

    Iterate inside ``with rows.errors():`` so that broken CSV is reported as
    :class:`InvalidInput` naming the line. The iteration is all C (no Python frame per row).
    """

    def __init__(self, reader: Any, file: str) -> None:
        self.reader, self.file = reader, file

    def __iter__(self) -> Iterator[tuple[int, Row]]:
        return filter(itemgetter(1), enumerate(self.reader, 2))

    @contextmanager
    def errors(self) -> Iterator[None]:
        try:
            yield
        except csv.Error as exc:
            raise InvalidInput.single(f"{self.file} line {self.reader.line_num}", "csv-syntax",
                                      f"is not valid CSV: {exc}") from None


def first_line(head: bytes) -> str | None:
    """The first line of ``head`` (the start of a file) decoded as the file would be, if it decodes."""
    line = head.split(b"\n", 1)[0].removesuffix(b"\r")
    if line.startswith(_BOM_GB18030):
        encodings: tuple[str, ...] = ("gb18030",)
        line = line[4:]
    else:
        encodings = ("utf-8-sig", "gb18030")
    for enc in encodings:
        try:
            return line.decode(enc)
        except UnicodeDecodeError:
            continue
    return None
