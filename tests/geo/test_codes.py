import re

import pytest

from geo.codes import (
    LEVELS,
    InvalidCode,
    Level,
    ancestors_of,
    code_pattern,
    kind_of,
    level_of,
    normalize_code,
    parent_of,
)


@pytest.mark.parametrize(
    ("raw", "code"),
    [
        ("35", "35"),
        ("3507", "35.07"),
        ("350701", "35.07.01"),
        ("3507012001", "35.07.01.2001"),
        (" 35.07.01.2001 ", "35.07.01.2001"),
        (3507, "35.07"),
    ],
)
def test_normalize_accepts_dotted_and_plain(raw, code):
    assert normalize_code(raw) == code


@pytest.mark.parametrize("raw", ["", None, "35.7", "35.07.01.201", "350701200", "35-07", "ab"])
def test_normalize_refuses_non_codes(raw):
    with pytest.raises(InvalidCode):
        normalize_code(raw)


# Arabic-Indic, fullwidth, Devanagari, superscript digits: str.isdigit() and \d take them all.
NON_ASCII_DIGITS = [
    "\u0663\u0665.\u0660\u0667",  # ٣٥.٠٧
    "\uff13\uff15.\uff10\uff17",  # ３５.０７
    "\uff13\uff15\uff10\uff17",  # ３５０７
    "\u0663\u0665\u0660\u0667",  # ٣٥٠٧
    "35.0\u0667",  # one Arabic-Indic digit among ASCII ones
    "\u0969\u096b",  # ३५ (Devanagari)
    "\u00b3\u2075",  # ³⁵ (superscripts)
]


@pytest.mark.parametrize("raw", NON_ASCII_DIGITS)
def test_normalize_refuses_non_ascii_digits(raw):
    with pytest.raises(InvalidCode, match="is not a Kemendagri code"):
        normalize_code(raw)


def test_refusal_does_not_echo_a_huge_value():
    with pytest.raises(InvalidCode) as refused:
        normalize_code("3" * 10_000)
    assert len(str(refused.value)) < 200
    assert "(10000 characters)" in str(refused.value)
    with pytest.raises(InvalidCode, match=r"^'35\.7' is not a Kemendagri code"):
        normalize_code("35.7")  # short values are shown whole


def test_code_patterns():
    assert [code_pattern(level) for level in LEVELS] == [
        r"^[0-9]{2}$",
        r"^([0-9]{2}\.[0-9]{2}|[0-9]{4})$",
        r"^([0-9]{2}\.[0-9]{2}\.[0-9]{2}|[0-9]{6})$",
        r"^([0-9]{2}\.[0-9]{2}\.[0-9]{2}\.[0-9]{4}|[0-9]{10})$",
    ]


CANDIDATES = [
    "35", "3507", "35.07", "350701", "35.07.01", "3507012001", "35.07.01.2001",
    "35.0701", "3507.01", "35.07.012001", "35.7", "357", "35.07.01.201", "350701200",
    "35-07", "ab", "", "35.07.", ".35", "35..07", "35.07.01.2001.01", *NON_ASCII_DIGITS,
]  # fmt: skip
# (normalize_code also strips surrounding blanks; the patterns, written for clients, do not.)


@pytest.mark.parametrize("raw", CANDIDATES)
def test_code_pattern_matches_exactly_what_normalize_code_accepts(raw):
    try:
        accepted = level_of(normalize_code(raw))
    except InvalidCode:
        accepted = None
    matched = [level for level in LEVELS if re.fullmatch(code_pattern(level), raw)]
    assert matched == ([] if accepted is None else [accepted])


def test_levels_kinds_parents():
    assert [level_of(c) for c in ("35", "35.07", "35.07.01", "35.07.01.2001")] == [
        Level.PROVINCE,
        Level.REGENCY,
        Level.DISTRICT,
        Level.VILLAGE,
    ]
    assert kind_of("35.07") == "kabupaten"
    assert kind_of("35.73") == "kota"
    assert kind_of("35.07.01.2001") == "desa"
    assert kind_of("35.07.05.1007") == "kelurahan"
    assert parent_of("35.07.01.2001") == "35.07.01"
    assert parent_of("35") is None
    assert ancestors_of("35.07.01.2001") == ["35.07.01", "35.07", "35"]
