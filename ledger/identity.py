"""Patient identity: national resident ID validation and the pseudonym that replaces it.

Patient pseudonym = HMAC-SHA256(deployment pepper, normalised national ID). The pepper
is a deployment secret (never on chain), so the pseudonym cannot be reversed by
enumerating the ~10^11 plausible ID numbers. No name, ID number or diagnosis ever
goes on chain or into a QR code.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from datetime import date

from ledger.hashing import Hash32

_ID_RE = re.compile(r"[0-9]{17}[0-9X]\Z")  # ASCII digits only; \Z rejects a trailing newline
# GB 11643-1999: ISO 7064 MOD 11-2 check digit over the first 17 digits.
_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_CHECK = "10X98765432"

MIN_PEPPER_BYTES = 16


def normalise_national_id(raw: str) -> str:
    """Strip blanks and upper-case the check character ('x' and 'X' are the same ID)."""
    return raw.strip().replace(" ", "").upper()


def national_id_problem(raw: object) -> str | None:
    """Why ``raw`` is not a valid 18-character resident ID number, or None if it is."""
    if not isinstance(raw, str):
        return f"must be a string, got {type(raw).__name__}"
    nid = normalise_national_id(raw)
    if not _ID_RE.match(nid):
        return "must be 17 digits followed by a digit or X (GB 11643 resident ID)"
    try:
        date(int(nid[6:10]), int(nid[10:12]), int(nid[12:14]))
    except ValueError:
        return f"birth date {nid[6:14]} inside the ID is not a calendar date"
    expected = check_character(nid[:17])
    if nid[17] != expected:
        return f"check character is {nid[17]}, expected {expected} (ISO 7064 MOD 11-2)"
    return None


def check_character(first17: str) -> str:
    """ISO 7064 MOD 11-2 check character for the first 17 digits of a resident ID."""
    total = sum(int(d) * w for d, w in zip(first17, _WEIGHTS, strict=True))
    return _CHECK[total % 11]


def pseudonymise(national_id: str, *, pepper: bytes) -> Hash32:
    """HMAC-SHA256(pepper, normalised ID). Requires a valid ID and a pepper of >= 16 bytes."""
    if len(pepper) < MIN_PEPPER_BYTES:
        raise ValueError(f"pepper must have at least {MIN_PEPPER_BYTES} bytes, got {len(pepper)}")
    nid = normalise_national_id(national_id)
    return Hash32(hmac.new(pepper, nid.encode("ascii"), hashlib.sha256).digest())
