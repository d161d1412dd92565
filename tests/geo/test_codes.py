import pytest

from geo.codes import InvalidCode, Level, ancestors_of, kind_of, level_of, normalize_code, parent_of


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
