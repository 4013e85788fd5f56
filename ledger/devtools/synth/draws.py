"""What every part of the generator draws with: generators seeded from the arguments, log-normal and
weighted draws, and the spelling of invented names (Chinese ordinals, two-character places).

Every random draw of the package comes from a ``random.Random`` seeded by :func:`derive`
(SHA-256 of the parts, never the clock or the global generator), so the same arguments
give the same data on any machine and in any process.
"""

from __future__ import annotations

import hashlib
import math
import random
from collections.abc import Sequence
from typing import Any


def derive(*parts: object) -> int:
    """A 128-bit seed derived from the parts (stable across processes and platforms)."""
    text = ":".join(str(p) for p in ("ebill-ledger/synth", *parts))
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:16], "big")


def lognormal(rng: random.Random, median: float, sigma: float) -> float:
    """A log-normal draw around ``median`` (``sigma``: the spread of its logarithm)."""
    return median * math.exp(rng.gauss(0.0, sigma))


def weighted(rng: random.Random, items: Sequence[Any], weight_index: int) -> Any:
    """One of ``items`` (tuples), drawn by the weight each holds at ``weight_index``."""
    return rng.choices(items, weights=[it[weight_index] for it in items])[0]


_NUM = "一二三四五六七八九十"
# invented two-character place names for towns and streets
_PLACE_A = "清安平东西南北枫梅竹兰桂云溪石金玉青白新长永宁福华"
_PLACE_B = "溪桥山湖泉塘浦港岭湾川阳林埠堰墩渡口"


def ordinal(k: int) -> str:
    """``k`` in Chinese numerals as names use them (二, 十一, 二十三; from 100 on in digits)."""
    if k <= 10:
        return _NUM[k - 1]
    if k >= 100:
        return str(k)
    return ("" if k < 20 else _NUM[k // 10 - 1]) + "十" + ("" if k % 10 == 0 else _NUM[k % 10 - 1])


def place(rng: random.Random) -> str:
    """An invented two-character place name."""
    return rng.choice(_PLACE_A) + rng.choice(_PLACE_B)
