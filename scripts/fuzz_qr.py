"""Coverage-guided fuzzing of ledger.qr.decode_qr with atheris (libFuzzer); not part of the test suite.

The contract is the one tests/unit/test_qr_fuzz.py checks with hypothesis: for any text,
``decode_qr`` returns a SignedSeal that re-encodes to exactly that text, or raises
InvalidInput; any other exception, or an accepted text that is not canonical, is a crash.
An accepted seal must also recover to an address or raise SignatureInvalid.

atheris is not a project dependency: ``.venv/bin/pip install atheris`` (it ships wheels
for CPython 3.11 on x86-64 Linux). Then, from the repository root::

    .venv/bin/python scripts/fuzz_qr.py --write-seeds /tmp/qr-corpus   # once: the valid vectors
    .venv/bin/python scripts/fuzz_qr.py /tmp/qr-corpus -max_total_time=120

Every argument after the script's own goes to libFuzzer (``-help=1`` lists them). A crash
is written to ``crash-<sha1>``; replay it with ``.venv/bin/python scripts/fuzz_qr.py crash-<sha1>``.

The first input byte chooses how the rest becomes text, so libFuzzer can reach deep
checks without having to discover the prefix and Base45 first:
0 any Unicode; 1 ``EBILL:`` + any Unicode; 2 ``EBILL:`` + Base45 of the bytes;
3 ``EBILL:`` + the bytes mapped onto the Base45 alphabet (which includes invalid groups).
"""

from __future__ import annotations

import contextlib
import json
import sys
from pathlib import Path

import atheris

with atheris.instrument_imports():
    from ledger.base45 import ALPHABET, b45encode
    from ledger.errors import InvalidInput, SignatureInvalid
    from ledger.qr import PREFIX, QrDomain, SignedSeal, decode_qr

REPO = Path(__file__).resolve().parents[1]
VECTORS = REPO / "tests" / "vectors" / "qr" / "valid.json"
DOMAIN = QrDomain(chain_id=20240601, verifying_contract="0x83d485e1176966A961f3A3e9d67D45745aae6742")


def text_of(data: bytes) -> str:
    """The decoder input an atheris input stands for (see the module docstring)."""
    mode, rest = (data[0] % 4, data[1:]) if data else (0, b"")
    if mode == 2:
        return PREFIX + b45encode(rest)
    if mode == 3:
        return PREFIX + "".join(ALPHABET[b % len(ALPHABET)] for b in rest)
    fdp = atheris.FuzzedDataProvider(rest)  # its first byte picks ASCII, UTF-16 or UTF-32 code points
    return ("" if mode == 0 else PREFIX) + fdp.ConsumeUnicode(len(rest))


def test_one_input(data: bytes) -> None:
    """Decode one input; anything but a canonical SignedSeal or InvalidInput escapes as a crash."""
    text = text_of(data)
    try:
        signed = decode_qr(text)
    except InvalidInput:
        return
    if not isinstance(signed, SignedSeal) or signed.encode() != text:
        raise AssertionError(f"decode_qr accepted a text that does not re-encode to itself: {text!r}")
    with contextlib.suppress(SignatureInvalid):  # a signature may recover to no key at all
        signed.signer(DOMAIN)


def write_seeds(folder: Path) -> None:
    """Seed inputs: every valid vector's payload in mode 2 (so the first mutations are near-valid)."""
    folder.mkdir(parents=True, exist_ok=True)
    for vector in json.loads(VECTORS.read_text(encoding="utf-8"))["vectors"]:
        (folder / f"{vector['name']}.bin").write_bytes(b"\x02" + bytes.fromhex(vector["payload"][2:]))


def main() -> None:
    if sys.argv[1:2] == ["--write-seeds"]:
        write_seeds(Path(sys.argv[2]))
        return
    atheris.Setup(sys.argv, test_one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
