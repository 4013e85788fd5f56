"""ledger.identity: GB 11643 resident-ID validation and the HMAC pseudonym.

The check character is recomputed here from the ISO 7064 MOD 11-2 definition (weights
``2**(n-1) mod 11`` counted from the right, check value ``(12 - sum mod 11) mod 11``,
10 written ``X``), sharing nothing with the production table of weights.
"""

from __future__ import annotations

import hashlib
import hmac
from datetime import date, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ledger.identity import (
    MIN_PEPPER_BYTES,
    check_character,
    national_id_problem,
    normalise_national_id,
    pseudonymise,
)

PEPPER = b"deployment-pepper-0123456789abcd"
VALID_ID = "11010519491231002X"  # the textbook example of GB 11643-1999


def iso7064_mod11_2(first17: str) -> str:
    """Independent ISO 7064 MOD 11-2 check character (pure definition)."""
    assert len(first17) == 17 and first17.isascii() and first17.isdigit()
    # position i counted from the right, the check character itself being position 1
    weights = [pow(2, 17 - k, 11) for k in range(17)]
    s = sum(int(d) * w for d, w in zip(first17, weights, strict=True))
    value = (12 - s % 11) % 11
    return "X" if value == 10 else str(value)


def make_id(region: str, birth: date, sequence: int) -> str:
    first17 = f"{region}{birth:%Y%m%d}{sequence:03d}"
    return first17 + iso7064_mod11_2(first17)


# --- check_character ----------------------------------------------------------------


def test_textbook_vector_by_hand() -> None:
    # digits:   1  1  0  1  0  5  1  9  4  9  1  2  3  1  0  0  2
    # weights:  7  9 10  5  8  4  2  1  6  3  7  9 10  5  8  4  2
    # products: 7  9  0  5  0 20  2  9 24 27  7 18 30  5  0  0  4   -> sum 167
    # 167 mod 11 = 2; (12 - 2) mod 11 = 10 -> "X"
    products = [7, 9, 0, 5, 0, 20, 2, 9, 24, 27, 7, 18, 30, 5, 0, 0, 4]
    assert sum(products) == 167 and 167 % 11 == 2
    assert [pow(2, 17 - k, 11) for k in range(17)] == [
        7,
        9,
        10,
        5,
        8,
        4,
        2,
        1,
        6,
        3,
        7,
        9,
        10,
        5,
        8,
        4,
        2,
    ]
    assert iso7064_mod11_2("11010519491231002") == "X"
    assert check_character("11010519491231002") == "X"
    assert national_id_problem(VALID_ID) is None


@pytest.mark.parametrize(
    "first17",
    [
        "11010519491231002",
        "44030419900101123",
        "33010220000229456",  # leap day
        "00000000000000000",
        "99999999999999999",
        "51010119801231001",
    ],
)
def test_check_character_matches_definition(first17: str) -> None:
    assert check_character(first17) == iso7064_mod11_2(first17)


@given(st.text(alphabet="0123456789", min_size=17, max_size=17))
@settings(max_examples=300, deadline=None)
def test_check_character_property(first17: str) -> None:
    assert check_character(first17) == iso7064_mod11_2(first17)


def test_every_check_value_is_reachable() -> None:
    # vary the last digit of the sequence number: weight 2, so all 11 residues occur
    seen = {iso7064_mod11_2(f"1101051949123100{d}") for d in range(10)}
    seen |= {iso7064_mod11_2(f"110105194912310{d}0") for d in range(10)}
    assert seen == set("0123456789X")


@given(
    st.dates(min_value=date(1900, 1, 1), max_value=date(2024, 12, 31)),
    st.integers(0, 999),
    st.sampled_from(["110105", "330102", "440304", "510101"]),
)
@settings(max_examples=200, deadline=None)
def test_synthetic_valid_ids_are_accepted(birth: date, sequence: int, region: str) -> None:
    nid = make_id(region, birth, sequence)
    assert national_id_problem(nid) is None
    assert national_id_problem(nid.lower()) is None


# --- national_id_problem --------------------------------------------------------------


def test_lower_case_x_accepted() -> None:
    assert national_id_problem("11010519491231002x") is None
    assert normalise_national_id("11010519491231002x") == VALID_ID


def test_blanks_are_normalised_away() -> None:
    assert national_id_problem(" 110105 19491231 002X ") is None
    assert normalise_national_id(" 110105 19491231 002x\n") == VALID_ID


@pytest.mark.parametrize(
    ("raw", "needle"),
    [
        ("11010519491231002", "17 digits"),  # 17 characters
        ("11010519491231002X1", "17 digits"),  # 19 characters
        ("", "17 digits"),
        ("1101051949123100XX", "17 digits"),  # X only as the check character
        ("A1010519491231002X", "17 digits"),  # letter
        ("110105194912310O2X", "17 digits"),  # letter O for zero
        ("11010519491231002Y", "17 digits"),  # bad check letter
        ("1101051949-231002X", "17 digits"),
        ("110105" + "19990230" + "0010", "19990230"),  # 30 February
        ("110105" + "19991301" + "0010", "19991301"),  # month 13
        ("110105" + "00000101" + "0010", "00000101"),  # year 0
    ],
)
def test_national_id_problems(raw: str, needle: str) -> None:
    why = national_id_problem(raw)
    assert why is not None and needle in why


def test_bad_birth_date_reported_before_check_character() -> None:
    first17 = "110105" + "19990230" + "001"
    nid = first17 + iso7064_mod11_2(first17)  # correct check character, impossible date
    why = national_id_problem(nid)
    assert why is not None and "19990230" in why and "calendar" in why


def test_wrong_check_character() -> None:
    for wrong in "0123456789":  # the right one is X
        why = national_id_problem("11010519491231002" + wrong)
        assert why is not None and "expected X" in why and f"is {wrong}" in why


@given(st.dates(min_value=date(1900, 1, 1), max_value=date(2024, 12, 31)), st.integers(0, 999))
@settings(max_examples=100, deadline=None)
def test_every_wrong_check_character_rejected(birth: date, sequence: int) -> None:
    nid = make_id("330102", birth, sequence)
    for c in "0123456789X":
        if c != nid[17]:
            assert national_id_problem(nid[:17] + c) is not None


@pytest.mark.parametrize("raw", [None, 11010519491231002, b"11010519491231002X", ["x"]])
def test_non_strings_rejected(raw: object) -> None:
    why = national_id_problem(raw)
    assert why is not None and "string" in why


def test_non_ascii_digits_rejected() -> None:
    fullwidth = "".join(chr(ord(c) + 0xFEE0) if c.isdigit() else c for c in VALID_ID)
    assert national_id_problem(fullwidth) is not None


def test_birth_date_boundaries() -> None:
    d = date(2000, 2, 28)
    for _ in range(3):  # 28 Feb, 29 Feb (leap), 1 Mar
        assert national_id_problem(make_id("110105", d, 7)) is None
        d += timedelta(days=1)
    first17 = "110105" + "19000229" + "007"  # 1900 is not a leap year
    assert national_id_problem(first17 + iso7064_mod11_2(first17)) is not None


# --- pseudonymise ---------------------------------------------------------------------


def test_pseudonym_is_hmac_sha256_of_normalised_id() -> None:
    expected = hmac.new(PEPPER, VALID_ID.encode("ascii"), hashlib.sha256).digest()
    assert pseudonymise(VALID_ID, pepper=PEPPER) == expected
    assert len(expected) == 32


def test_pseudonym_deterministic() -> None:
    assert pseudonymise(VALID_ID, pepper=PEPPER) == pseudonymise(VALID_ID, pepper=PEPPER)


def test_pseudonym_depends_on_pepper() -> None:
    other = PEPPER[:-1] + b"!"
    assert pseudonymise(VALID_ID, pepper=PEPPER) != pseudonymise(VALID_ID, pepper=other)


def test_pseudonym_depends_on_id() -> None:
    other = make_id("110105", date(1949, 12, 31), 3)
    assert other != VALID_ID
    assert pseudonymise(VALID_ID, pepper=PEPPER) != pseudonymise(other, pepper=PEPPER)


def test_lower_and_upper_x_same_pseudonym() -> None:
    assert pseudonymise("11010519491231002x", pepper=PEPPER) == pseudonymise(
        VALID_ID, pepper=PEPPER
    )
    assert pseudonymise(" 11010519491231002x ", pepper=PEPPER) == pseudonymise(
        VALID_ID, pepper=PEPPER
    )


@pytest.mark.parametrize("size", [0, 1, MIN_PEPPER_BYTES - 1])
def test_short_pepper_rejected(size: int) -> None:
    with pytest.raises(ValueError, match="pepper"):
        pseudonymise(VALID_ID, pepper=b"p" * size)


def test_minimum_pepper_accepted() -> None:
    pepper = b"p" * MIN_PEPPER_BYTES
    assert (
        pseudonymise(VALID_ID, pepper=pepper)
        == hmac.new(pepper, VALID_ID.encode(), hashlib.sha256).digest()
    )


def test_pseudonym_does_not_contain_the_id() -> None:
    p = pseudonymise(VALID_ID, pepper=PEPPER)
    assert p.find(VALID_ID.encode()) == -1 and VALID_ID.lower() not in p.hex()
