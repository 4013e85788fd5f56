"""Offline QR seal verification speed on one core: decode, decode + recover, verify_offline.

Usage: ``.venv/bin/python scripts/bench_verify.py [--n 20000]``. Prints payloads per
second (best of 5 runs) over distinct seals signed by test keys; the target is
>= 10,000 payloads/s for ``verify_offline``.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ledger.hashing import Fingerprint, keccak256
from ledger.qr import InvoiceSeal, checksum_address, decode_qr, sign_seal
from verifier.registry import HospitalKeys, RegistryKey, RegistrySnapshot
from verifier.seal_check import verify_offline

HOSPITALS = 50


def _account(private_key: bytes) -> str:
    import coincurve

    return checksum_address(keccak256(coincurve.PrivateKey(private_key).public_key.format(compressed=False)[1:])[12:])


def build(n: int) -> tuple[RegistrySnapshot, list[str]]:
    """A snapshot of ``HOSPITALS`` hospitals and ``n`` seals spread over them."""
    keys = [keccak256(f"bench hospital {i}".encode()) for i in range(HOSPITALS)]
    snapshot = RegistrySnapshot(
        chain_id=1337, contract="0x" + "ab" * 20, block_number=1, block_hash="0x" + "00" * 32,
        hospitals=tuple(HospitalKeys(f"H330102{i:05d}", (RegistryKey(_account(k), 1_700_000_000, 0),))
                        for i, k in enumerate(keys)),
    )
    texts = []
    for j in range(n):
        i = j % HOSPITALS
        seal = InvoiceSeal(issuer=f"H330102{i:05d}", invoice_code="33060124", invoice_number=f"{j:010d}",
                           issue_date="2024-03-05", total_fen=1 + j * 7, fingerprint=Fingerprint(keccak256(b"%d" % j)))
        texts.append(sign_seal(seal, private_key=keys[i], domain=snapshot.domain).encode())
    return snapshot, texts


def rate(label: str, texts: list[str], fn: Callable[[str], object]) -> float:
    best = float("inf")
    for _ in range(5):
        start = time.perf_counter()
        for text in texts:
            fn(text)
        best = min(best, time.perf_counter() - start)
    per_s = len(texts) / best
    print(f"{label:<22} {per_s:>10,.0f} payloads/s  ({best / len(texts) * 1e6:.1f} µs each)")
    return per_s


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=20_000, help="distinct seals (default 20000)")
    args = parser.parse_args()
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})  # one core
    snapshot, texts = build(args.n)
    domain = snapshot.domain
    rate("decode only", texts, decode_qr)
    rate("decode + recover", texts, lambda t: decode_qr(t).signer_bytes(domain))
    verified = rate("verify_offline", texts, lambda t: verify_offline(t, snapshot))
    assert all(verify_offline(t, snapshot).valid for t in texts[:100])
    print("target 10,000/s:", "met" if verified >= 10_000 else "NOT met")


if __name__ == "__main__":
    main()
