import functools
import hashlib
import http.server
import shutil
import threading
from pathlib import Path

import pandas as pd
import pytest

import shapely
from geopandas import GeoSeries
from geopandas.testing import assert_geoseries_equal

from geo.codes import InvalidCode
from geo.errors import SourceUnavailable, UnreadableFile
from geo.ingest.sources import FetchResult, fetch_regency, read_code_list, read_upstream_sql
from geo.ingest.sources.cahyadsn import MANIFEST_NAME, boundaries_data_dir, load_manifest, sha256_of
from geo.settings import BoundarySourceSettings

MALANG_FILE = "wilayah_boundaries_kel_35.07.sql"
MALANG_SHA256 = "ee8e1dfa4a4aa571eaad100591cf3c278d26e839e5e9c379e9eff2829a335b7a"
PINNED_COMMIT = "3c5a7960f4d227a38489094d84252bdbb3f978a5"
UNREACHABLE = "http://127.0.0.1:9/"
HEAD = "INSERT INTO wilayah_boundaries(kode,nama,lat,lng,path) VALUES\n"
SQUARE = "[[-8.0,112.0],[-8.0,112.1],[-8.1,112.1],[-8.1,112.0],[-8.0,112.0]]"


@pytest.fixture(scope="module")
def raw_dir(shared_data: Path) -> Path:
    return shared_data / "cahyadsn_wilayah_boundaries" / "raw"


@pytest.fixture(scope="module")
def malang(raw_dir: Path):
    return read_upstream_sql(raw_dir / MALANG_FILE)


@pytest.fixture(scope="module")
def code_list(shared_data: Path) -> pd.DataFrame:
    return read_code_list(shared_data / "cahyadsn_wilayah" / "kode_wilayah.csv")


@pytest.fixture
def settings(tmp_path: Path) -> BoundarySourceSettings:
    return BoundarySourceSettings(cache_dir=tmp_path / "cache", mirror_dir=None, timeout_s=5)


@pytest.fixture
def no_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    for scheme in ("http", "https", "all"):
        monkeypatch.delenv(f"{scheme}_proxy", raising=False)
        monkeypatch.delenv(f"{scheme.upper()}_PROXY", raising=False)


# ---------------------------------------------------------------- upstream boundary SQL


def test_malang_rows_codes_and_kinds(malang):
    assert list(malang.columns) == ["code", "name", "source_lat", "source_lng", "geometry"]
    assert malang.crs == "EPSG:4326"
    assert len(malang) == 390
    assert malang["code"].nunique() == 390
    assert malang["code"].str.startswith("35.07.").all()
    assert malang["code"].str[:8].nunique() == 33
    village_part = malang["code"].str[9]
    assert (village_part == "2").sum() == 378
    assert (village_part == "1").sum() == 12
    assert set(malang.geom_type) == {"MultiPolygon"}


def test_malang_village_name_centroid_and_first_coordinate(malang):
    village = malang.set_index("code").loc["35.07.01.2001"]
    assert village["name"] == "Tulungrejo"
    assert village["source_lat"] == -8.359313066012763
    assert village["source_lng"] == 112.48608825407958
    assert len(village.geometry.geoms) == 3
    # The upstream path starts with [-8.396833239999978,112.48179976600011]: [lat, lng].
    assert village.geometry.geoms[0].exterior.coords[0] == (112.48179976600011, -8.396833239999978)


def test_malang_area_matches_the_regency(malang):
    utm = malang.to_crs("EPSG:32749")
    area_km2 = utm.geometry.make_valid().area.sum() / 1e6
    assert area_km2 == pytest.approx(3473, abs=1)


def test_malang_matches_the_converted_geojson(malang, shared_data):
    import geopandas

    converted = geopandas.read_file(
        shared_data / "cahyadsn_wilayah_boundaries" / "desa_3507_kab_malang.geojson"
    )
    converted = converted.set_index("kode").loc[malang["code"]]
    # The GeoJSON was written with 7 decimals; the raw file has full precision.
    distance = shapely.hausdorff_distance(malang.geometry.values, converted.geometry.values)
    assert distance.max() < 1e-6


def test_polygon_and_multipolygon_nesting():
    hole = "[[-8.02,112.02],[-8.02,112.03],[-8.03,112.03],[-8.03,112.02],[-8.02,112.02]]"
    far = "[[-7.0,113.0],[-7.0,113.1],[-7.1,113.1],[-7.0,113.0]]"  # open-ended, 4 points
    sql = (
        HEAD
        + f"\t('35.07.01.2001','Poly',-8.05,112.05,'[{SQUARE},{hole}]'),\n"
        + f"\t('35.07.01.2002','Multi',-8.05,112.05,'[[{SQUARE}],[{far}]]');\n"
    )
    frame = read_upstream_sql(sql)
    expected = GeoSeries.from_wkt(
        [
            "MULTIPOLYGON (((112 -8, 112.1 -8, 112.1 -8.1, 112 -8.1, 112 -8),"
            " (112.02 -8.02, 112.03 -8.02, 112.03 -8.03, 112.02 -8.03, 112.02 -8.02)))",
            "MULTIPOLYGON (((112 -8, 112.1 -8, 112.1 -8.1, 112 -8.1, 112 -8)),"
            " ((113 -7, 113.1 -7, 113.1 -7.1, 113 -7)))",
        ],
        crs="EPSG:4326",
    )
    assert_geoseries_equal(frame.geometry, expected, check_series_type=False)
    assert [len(m.geoms) for m in frame.geometry] == [1, 2]
    assert len(frame.geometry[0].geoms[0].interiors) == 1


def test_invalid_geometry_is_kept_as_is():
    bowtie = "[[-8.0,112.0],[-8.1,112.1],[-8.0,112.1],[-8.1,112.0],[-8.0,112.0]]"
    frame = read_upstream_sql(HEAD + f"('35.07.01.2001','Bowtie',-8,112,'[{bowtie}]');\n")
    assert not frame.geometry[0].is_valid
    assert len(frame.geometry[0].geoms[0].exterior.coords) == 5


def test_escaped_names_and_sql_noise():
    sql = (
        "/* header with 'quotes' and ; semicolons */\n"
        "DELETE FROM wilayah_boundaries WHERE kode LIKE '35.07.%' AND LENGTH(kode)=13;;\n"
        "-- a line comment with a ' quote\n"
        + HEAD
        + f"('35.07.01.2001','Ta''lim',-8.05,112.05,'[{SQUARE}]'),\n"
        + f"('35.07.01.2002','Ta\\'lim',-8.05,112.05,'[{SQUARE}]'),\n"
        + f"('35.07.01.2003','Koma, ''(titik)''; koma),(x',-8.05,112.05,'[{SQUARE}]'),\n"
        + f"('35.07.01.2004', /* comment */ 'Back\\\\slash \"q\"', NULL, 112.05, '[{SQUARE}]');\n"
        + "INSERT INTO other_table VALUES ('x');\n"
    )
    frame = read_upstream_sql(sql)
    assert frame["name"].tolist() == [
        "Ta'lim",
        "Ta'lim",
        "Koma, '(titik)'; koma),(x",
        'Back\\slash "q"',
    ]
    assert frame["code"].tolist() == [f"35.07.01.200{i}" for i in range(1, 5)]
    assert pd.isna(frame["source_lat"].iloc[3])


@pytest.mark.parametrize(
    ("row", "message"),
    [
        (f"('35.07.01.2001','A',-8,112,'[{SQUARE}')", r"line 2: path is not valid JSON"),
        (f"('35.7.01.2001','A',-8,112,'[{SQUARE}]')", r"line 2: kode '35.7.01.2001' is not"),
        (f"('35.07.01.2001','A',-8,'[{SQUARE}]')", r"line 2: row has 4 values, expected 5"),
        (f"('35.07.01.2001','',-8,112,'[{SQUARE}]')", r"line 2: nama is ''"),
        (
            "('35.07.01.2001','A',-8,112,'[[[112.0,-8.0],[112.1,-8.0],[112.1,-8.1],[112.0,-8.0]]]')",
            r"line 2: ring 1 of part 1 is not in \[lat, lng\] order",
        ),
        (
            "('35.07.01.2001','A',-8,112,'[[[-8.0,112.0],[-8.1,112.1],[-8.0,112.0]]]')",
            r"line 2: ring 1 of part 1 has 3 points",
        ),
        (
            "('35.07.01.2001','A',-8,112,'[[[-8.0,112.0,1.0],[-8.1,112.1,1.0]]]')",
            r"line 2: ring 1 of part 1 is not a list of \[lat, lng\] pairs",
        ),
        ("('35.07.01.2001','A',-8,112,'[]')", r"line 2: path is not a nested array of rings"),
        (f"('35.07.01.2001','A',-8,oops,'[{SQUARE}]')", r"line 2: expected a value, found 'oops'"),
    ],
)
def test_malformed_row_names_the_line(row, message):
    with pytest.raises(UnreadableFile, match=f"^<sql>, {message}"):
        read_upstream_sql(HEAD + row + ";\n")


def _cut_cases(text: str) -> list[tuple[int, int]]:
    """(cut position, line the error must name)."""
    inside_string = len(text) // 2
    after_row = text.index("\n\t('35.07.05") + 1
    inside_last_row = len(text) - 3
    inside_delete = text.index("DELETE") + 10
    return [
        (inside_string, text.count("\n", 0, inside_string) + 1),
        (after_row, text.count("\n", 0, after_row) + 1),
        (inside_last_row, text.count("\n", 0, inside_last_row) + 1),
        (inside_delete, text.count("\n", 0, inside_delete) + 1),
        (100, 1),
    ]


def test_truncated_file_is_an_error_with_its_line(raw_dir, tmp_path):
    text = (raw_dir / MALANG_FILE).read_text(encoding="utf-8")
    for cut, line in _cut_cases(text):
        path = tmp_path / MALANG_FILE
        path.write_text(text[:cut], encoding="utf-8")
        with pytest.raises(UnreadableFile, match=rf"^{MALANG_FILE}, line {line}: .*truncated"):
            read_upstream_sql(path)


def test_file_without_rows_and_missing_file(tmp_path):
    with pytest.raises(UnreadableFile, match="no INSERT INTO wilayah_boundaries rows"):
        read_upstream_sql("DELETE FROM wilayah_boundaries;\n")
    with pytest.raises(UnreadableFile, match="cannot open"):
        read_upstream_sql(tmp_path / "missing.sql")


# ---------------------------------------------------------------- manifest and fetcher


def test_manifest_pins_commit_and_checksum(raw_dir):
    assert (boundaries_data_dir() / MANIFEST_NAME).is_file()
    manifest = load_manifest()
    assert manifest.commit == PINNED_COMMIT
    assert manifest.sha256["35.07"] == MALANG_SHA256 == sha256_of(raw_dir / MALANG_FILE)
    assert manifest.licence == "MIT, Copyright (c) 2024 Cahya DSN"
    assert manifest.url("35.07") == (
        "https://raw.githubusercontent.com/cahyadsn/wilayah_boundaries/"
        f"{PINNED_COMMIT}/db/kel/35/wilayah_boundaries_kel_35.07.sql"
    )


def test_fetch_from_mirror_then_cache(raw_dir, settings):
    first = fetch_regency("35.07", settings=settings, mirror_dir=raw_dir, base_url=UNREACHABLE)
    assert first.origin == "mirror"
    assert first.verified is True
    assert first.sha256 == MALANG_SHA256
    assert first.path.parent == settings.cache_dir
    assert first.path.read_bytes() == (raw_dir / MALANG_FILE).read_bytes()

    second = fetch_regency("3507", settings=settings, base_url=UNREACHABLE)
    assert second == FetchResult("35.07", first.path, "cache", MALANG_SHA256, True, first.url)
    assert len(read_upstream_sql(second.path)) == 390


def test_fetch_uses_mirror_dir_from_settings_and_upstream_layout(raw_dir, tmp_path):
    mirror = tmp_path / "clone" / "db" / "kel" / "35"
    mirror.mkdir(parents=True)
    (mirror / MALANG_FILE).symlink_to(raw_dir / MALANG_FILE)
    settings = BoundarySourceSettings(cache_dir=tmp_path / "cache", mirror_dir=tmp_path / "clone")
    assert fetch_regency("35.07", settings=settings, base_url=UNREACHABLE).origin == "mirror"


def test_fetch_refuses_mirror_file_with_wrong_checksum(raw_dir, settings, tmp_path):
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    data = bytearray((raw_dir / MALANG_FILE).read_bytes())
    data[5000] ^= 1
    (mirror / MALANG_FILE).write_bytes(data)
    got = hashlib.sha256(data).hexdigest()
    with pytest.raises(SourceUnavailable, match=f"expected {MALANG_SHA256}, got {got}"):
        fetch_regency("35.07", settings=settings, mirror_dir=mirror, base_url=UNREACHABLE)
    assert not settings.cache_dir.exists() or list(settings.cache_dir.iterdir()) == []


def test_fetch_refetches_a_corrupted_cache_file(raw_dir, settings):
    first = fetch_regency("35.07", settings=settings, mirror_dir=raw_dir, base_url=UNREACHABLE)
    first.path.write_bytes(b"corrupted")
    again = fetch_regency("35.07", settings=settings, mirror_dir=raw_dir, base_url=UNREACHABLE)
    assert (again.origin, again.sha256) == ("mirror", MALANG_SHA256)


def test_fetch_accepts_unknown_regency_unverified(settings, tmp_path):
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    (mirror / "wilayah_boundaries_kel_35.10.sql").write_bytes(b"-- not in the manifest\n")
    result = fetch_regency("35.10", settings=settings, mirror_dir=mirror, base_url=UNREACHABLE)
    assert (result.origin, result.verified) == ("mirror", False)
    assert result.sha256 == hashlib.sha256(b"-- not in the manifest\n").hexdigest()


@pytest.mark.usefixtures("no_proxy")
def test_fetch_without_mirror_or_network_is_source_unavailable(settings, tmp_path):
    empty = tmp_path / "empty-mirror"
    empty.mkdir()
    pattern = r"could not reach http://127\.0\.0\.1:9/.*; use --mirror DIR or try again online"
    with pytest.raises(SourceUnavailable, match=pattern):
        fetch_regency("35.07", settings=settings, mirror_dir=empty, base_url=UNREACHABLE)
    assert list(settings.cache_dir.iterdir()) == []  # no partial file left behind


def test_fetch_refuses_non_regency_codes(settings):
    with pytest.raises(InvalidCode, match="not a regency code"):
        fetch_regency("35.07.01", settings=settings, base_url=UNREACHABLE)


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format, *args):
        pass


@pytest.fixture
def upstream_server(raw_dir, tmp_path):
    """A local stand-in for raw.githubusercontent.com serving the pinned Malang file."""
    root = tmp_path / "upstream"
    folder = root / PINNED_COMMIT / "db" / "kel" / "35"
    folder.mkdir(parents=True)
    shutil.copyfile(raw_dir / MALANG_FILE, folder / MALANG_FILE)
    handler = functools.partial(_QuietHandler, directory=str(root))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()
    server.server_close()
    thread.join()


@pytest.mark.usefixtures("no_proxy")
def test_fetch_downloads_with_progress(upstream_server, settings):
    calls = []
    result = fetch_regency(
        "35.07",
        settings=settings,
        base_url=upstream_server,
        progress=lambda done, total: calls.append((done, total)),
    )
    size = 2_187_482
    assert (result.origin, result.verified, result.sha256) == ("network", True, MALANG_SHA256)
    assert result.path.stat().st_size == size
    assert calls[-1] == (size, size)
    assert [p.name for p in settings.cache_dir.iterdir()] == [result.path.name]
    again = fetch_regency("35.07", settings=settings, base_url=upstream_server)
    assert again.origin == "cache"


@pytest.mark.usefixtures("no_proxy")
def test_fetch_missing_upstream_file_is_source_unavailable(upstream_server, settings):
    with pytest.raises(SourceUnavailable, match="HTTP 404"):
        fetch_regency("35.99", settings=settings, base_url=upstream_server)


# ---------------------------------------------------------------- Kemendagri code list


def test_code_list_csv_counts(code_list):
    assert list(code_list.columns) == ["code", "name", "level", "kind", "parent_code"]
    assert len(code_list) == 91_599
    assert code_list["level"].value_counts().to_dict() == {
        "village": 83_762,
        "district": 7_285,
        "regency": 514,
        "province": 38,
    }


def test_code_list_kab_malang(code_list):
    under = code_list[code_list["code"].str.startswith("35.07.")]
    assert (under["parent_code"] == "35.07").sum() == 33
    villages = under[under["level"] == "village"]
    assert len(villages) == 390
    assert villages["kind"].value_counts().to_dict() == {"desa": 378, "kelurahan": 12}
    row = code_list.set_index("code").loc["35.07.01.2001"]
    assert row.tolist() == ["Tulungrejo", "village", "desa", "35.07.01"]
    kinds = code_list.set_index("code")["kind"]
    assert (kinds["35"], kinds["35.07"], kinds["35.73"], kinds["35.07.01"]) == (
        "provinsi",
        "kabupaten",
        "kota",
        "kecamatan",
    )
    assert pd.isna(code_list.set_index("code").loc["35", "parent_code"])


def test_code_list_prefix(shared_data):
    path = shared_data / "cahyadsn_wilayah" / "kode_wilayah.csv"
    malang = read_code_list(path, prefix="3507")
    assert len(malang) == 1 + 33 + 390
    assert malang["code"].iloc[0] == "35.07"
    assert malang["code"].str.startswith("35.07.").sum() == 423
    assert len(read_code_list(path, prefix="35")) == 1 + 38 + 666 + 8_494


def test_code_list_sql_form(tmp_path):
    path = tmp_path / "wilayah.sql"
    path.write_text(
        "/*\nfilename : db/wilayah.sql\n*/\n"
        "DROP TABLE IF EXISTS wilayah;\n"
        "CREATE TABLE IF NOT EXISTS wilayah (\n  kode varchar(13) NOT NULL,\n"
        "  nama varchar(255) NOT NULL,\n  PRIMARY KEY (kode)\n);\n"
        "CREATE INDEX wilayah_name_idx ON wilayah (nama);\n"
        "-- Provinsi ACEH\n"
        "INSERT INTO wilayah (kode, nama)\nVALUES\n"
        "('11','Aceh'),('11.01','Kabupaten Aceh Selatan'),\n"
        "('11.01.02','Kluet Utara'),\n"
        "-- comment between rows\n"
        "('11.01.02.2018','Pasi Kuala Ba''u'),('11.01.02.1001','Kota \\'X\\'');\n"
        "INSERT INTO wilayah VALUES ('35.73','Kota Malang');\n",
        encoding="utf-8",
    )
    expected = pd.DataFrame(
        {
            "code": ["11", "11.01", "11.01.02", "11.01.02.2018", "11.01.02.1001", "35.73"],
            "name": [
                "Aceh",
                "Kabupaten Aceh Selatan",
                "Kluet Utara",
                "Pasi Kuala Ba'u",
                "Kota 'X'",
                "Kota Malang",
            ],
            "level": ["province", "regency", "district", "village", "village", "regency"],
            "kind": ["provinsi", "kabupaten", "kecamatan", "desa", "kelurahan", "kota"],
            "parent_code": [None, "11", "11.01", "11.01.02", "11.01.02", "35"],
        }
    )
    pd.testing.assert_frame_equal(read_code_list(path), expected)
    assert read_code_list(path, prefix="11.01")["code"].tolist() == [
        "11.01",
        "11.01.02",
        "11.01.02.2018",
        "11.01.02.1001",
    ]


@pytest.mark.parametrize(
    ("rows", "message"),
    [
        ("35,35,Jawa Timur\n35.7,357,Kab\n", r"line 3: kode '35.7' is not a Kemendagri code"),
        ("35,35,Jawa Timur\n35.07,3507,\n", r"line 3: nama of 35.07 is ''"),
        (
            "35,35,Jawa Timur\n35.07,3507,A\n35.07,3507,B\n",
            r"kode 35.07 appears more than once "
            r"\(lines 3, 4\)",
        ),
    ],
)
def test_code_list_bad_csv_rows(tmp_path, rows, message):
    path = tmp_path / "kode.csv"
    path.write_text("kode,kode_nodot,nama\n" + rows, encoding="utf-8")
    with pytest.raises(UnreadableFile, match=f"^kode.csv, {message}|^kode.csv: {message}"):
        read_code_list(path)


def test_code_list_bad_sql_row(tmp_path):
    path = tmp_path / "wilayah.sql"
    path.write_text(
        "INSERT INTO wilayah (kode,nama) VALUES\n('11','Aceh'),\n('1x','Bad');\n", encoding="utf-8"
    )
    with pytest.raises(UnreadableFile, match=r"^wilayah.sql, line 3: kode '1x' is not"):
        read_code_list(path)
    path.write_text(
        "INSERT INTO wilayah (kode,nama) VALUES\n('11','Aceh'),\n('11.01','Ka", encoding="utf-8"
    )
    with pytest.raises(UnreadableFile, match=r"^wilayah.sql, line 3: unterminated string"):
        read_code_list(path)
