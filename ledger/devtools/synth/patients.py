"""Synthetic patients: resident IDs valid in form (region, birth date, ISO 7064 check character)
with sequence numbers from the 900-999 block, and the ages of sporadic claimants."""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import date

from ledger.devtools.synth.draws import derive
from ledger.devtools.synth.hospitals import IN_CITY_REGIONS
from ledger.identity import check_character


@dataclass(frozen=True, slots=True)
class Patient:
    national_id: str  # 18 characters, valid check character; synthetic
    birth_date: str
    sex: str          # "M" / "F"


_OTHER_ID_REGIONS = ("330102", "330203", "330302", "310104", "320102", "341221", "360102",
                     "362201", "430102", "511302", "522121", "412723")


def make_patients(n: int, seed: int, *, as_of: date = date(2024, 12, 31)) -> list[Patient]:
    """``n`` synthetic patients with valid resident IDs (sequence numbers 900-999).

    Ages are those of sporadic claimants: newborns and infants, children, adults and
    many elderly; born 1930 at the earliest and not after ``as_of``.
    """
    rng = random.Random(derive("patients", seed))
    earliest = date(1930, 1, 1).toordinal()
    latest = as_of.toordinal()
    seen: set[str] = set()
    out: list[Patient] = []
    while len(out) < n:
        u = rng.random()
        age_days = (rng.randint(0, 364) if u < 0.06 else
                    rng.randint(365, 14 * 365) if u < 0.18 else
                    rng.randint(15 * 365, 59 * 365) if u < 0.67 else
                    rng.randint(60 * 365, 94 * 365))
        born = date.fromordinal(max(earliest, latest - age_days))
        region = (rng.choice(IN_CITY_REGIONS)[0] if rng.random() < 0.85
                  else rng.choice(_OTHER_ID_REGIONS))
        male = rng.random() < 0.5
        seq = 900 + 2 * rng.randrange(50) + (1 if male else 0)   # odd = male
        first17 = f"{region}{born:%Y%m%d}{seq:03d}"
        if first17 in seen:
            continue
        seen.add(first17)
        out.append(Patient(first17 + check_character(first17), born.isoformat(),
                           "M" if male else "F"))
    return out
