"""Speed tests: Ookla's open tiles read by window, single tests, and their measured class."""

from __future__ import annotations

import datetime as dt
import json
import zipfile
from pathlib import Path

import morecantile
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from sqlalchemy import select

import geopandas as gpd
import shapely
from shapely.geometry import Point, box

from geo import queries
from geo.coverage.measured import speed_class, village_measurements
from geo.coverage.register import reconcile, run_coverage
from geo.errors import AreaNotFound, ImportRejected, UnreadableFile
from geo.ingest.assets import import_assets
from geo.ingest.census import import_census
from geo.ingest.sources.ookla import (
    import_ookla_tiles,
    period_and_network,
    quadkey_tiles,
    read_ookla_tiles,
)
from geo.store.db import transaction
from geo.store.models import SpeedTest, SpeedTile
from tests.geo.helpers import add_areas, add_asset
from tests.geo.terrain import EAST, SHAPES_M, SPLIT, WEST, build_registry, wgs84

TMS = morecantile.tms.get("WebMercatorQuad")
NAME = "2024-07-01_performance_mobile_tiles.parquet"


def quadkey_at(x_m: float, y_m: float) -> str:
    """The zoom-16 quadkey of the tile holding a point of the terrain (metres, EPSG:32749)."""
    point = wgs84(Point(x_m, y_m))
    return TMS.quadkey(TMS.tile(point.x, point.y, 16))


WEST_TILE = quadkey_at(601_500, 9_111_500)
EAST_TILE = quadkey_at(604_500, 9_111_500)
FAR_TILE = TMS.quadkey(TMS.tile(120.0, -3.0, 16))  # Sulawesi: outside the region


def tiles_file(path: Path, rows: list[tuple], *, wkt: bool = True) -> Path:
    """An Ookla Parquet file of (quadkey, avg_d_kbps, avg_u_kbps, avg_lat_ms, tests, devices)."""
    columns = list(zip(*rows, strict=True))
    data = {
        "quadkey": pa.array(columns[0], pa.string()),
        "avg_d_kbps": pa.array(columns[1], pa.int64()),
        "avg_u_kbps": pa.array(columns[2], pa.int64()),
        "avg_lat_ms": pa.array(columns[3], pa.int64()),
        "tests": pa.array(columns[4], pa.int64()),
        "devices": pa.array(columns[5], pa.int64()),
    }
    if wkt:  # as published; the reader builds the square from the quadkey
        data["tile"] = pa.array(["POLYGON EMPTY"] * len(rows), pa.string())
    pq.write_table(pa.table(data), path, row_group_size=2)
    return path


ROWS = [
    (WEST_TILE, 25_000, 8_000, 30, 40, 12),
    (EAST_TILE, 1_200, 400, 80, 10, 4),
    (FAR_TILE, 9_000, 3_000, 40, 5, 2),
]


def region() -> tuple[float, ...]:
    return tuple(wgs84(box(597_000, 9_108_000, 609_000, 9_114_000)).bounds)


def test_quadkeys_decode_as_morecantile_encodes_them():
    tiles = [TMS.tile(112.6, -7.9, 16), TMS.tile(95.3, 5.5, 16), TMS.tile(141.0, -9.0, 16)]
    quadkeys = pd.Series([TMS.quadkey(t) for t in tiles] + ["0123", "01234567012345670", "0a"])

    x, y, valid = quadkey_tiles(quadkeys)

    assert valid.tolist() == [True, True, True, False, False, False]
    assert list(zip(x[:3].tolist(), y[:3].tolist(), strict=True)) == [(t.x, t.y) for t in tiles]


def test_the_tiles_over_the_region_are_read_with_their_squares(tmp_path):
    tiles, report = read_ookla_tiles(tiles_file(tmp_path / NAME, ROWS), bbox=region())

    assert tiles["quadkey"].tolist() == [WEST_TILE, EAST_TILE]
    assert tiles["avg_d_kbps"].tolist() == [25_000, 1_200]
    assert tiles["tests"].tolist() == [40, 10]
    assert set(tiles["network"]) == {"mobile"} and set(tiles["period_start"]) == {
        dt.date(2024, 7, 1)
    }
    square = TMS.bounds(TMS.quadkey_to_tile(WEST_TILE))
    assert tiles.geometry.iloc[0].bounds == pytest.approx(tuple(square), abs=1e-12)
    assert tiles.attrs["source_name"] == (
        "Speedtest by Ookla Open Data (CC BY-NC-SA 4.0) 2024-07-01 mobile"
    )
    assert report.read == 2  # the far tile is outside the quadkey ranges: not read
    assert [str(i) for i in report.warnings] == []


def shapefile_zip(tmp_path: Path, rows: list[tuple]) -> Path:
    """The same tiles as Ookla's zipped shapefile, with their squares."""
    frame = gpd.GeoDataFrame(
        pd.DataFrame(
            rows, columns=["quadkey", "avg_d_kbps", "avg_u_kbps", "avg_lat_ms", "tests", "devices"]
        ),  # fmt: skip
        geometry=[box(*TMS.bounds(TMS.quadkey_to_tile(q))) for q, *_ in rows],
        crs="EPSG:4326",
    )
    folder = tmp_path / "shp"
    folder.mkdir()
    frame.to_file(folder / "2024-07-01_performance_mobile_tiles.shp")
    archive = tmp_path / "2024-07-01_performance_mobile_tiles.zip"
    with zipfile.ZipFile(archive, "w") as zipped:
        for part in folder.iterdir():
            zipped.write(part, part.name)
    return archive


def test_a_zipped_shapefile_gives_the_same_tiles(tmp_path):
    parquet, _ = read_ookla_tiles(tiles_file(tmp_path / NAME, ROWS), bbox=region())

    shapefile, report = read_ookla_tiles(shapefile_zip(tmp_path, ROWS), bbox=region())

    assert shapefile["quadkey"].tolist() == parquet["quadkey"].tolist()
    assert shapely.equals_exact(
        shapefile.geometry.to_numpy(), parquet.geometry.to_numpy(), 1e-12
    ).all()
    assert report.read == 2  # by GDAL's spatial filter: the far tile is not read
    assert [str(i) for i in report.warnings] == []


def test_the_quarter_and_network_come_from_the_name_or_must_be_given(tmp_path):
    assert period_and_network(Path("type=fixed/2023-10-01_performance_fixed_tiles.zip")) == (
        dt.date(2023, 10, 1),
        "fixed",
    )
    path = tiles_file(tmp_path / "tiles.parquet", ROWS)
    with pytest.raises(UnreadableFile, match="quarter and network are not in the file name"):
        read_ookla_tiles(path, bbox=region())
    tiles, _ = read_ookla_tiles(path, bbox=region(), period=dt.date(2024, 1, 1), network="fixed")
    assert set(tiles["network"]) == {"fixed"}
    with pytest.raises(UnreadableFile, match="2024-08-15 is not the first day of a quarter"):
        read_ookla_tiles(path, bbox=region(), period=dt.date(2024, 8, 15), network="mobile")
    with pytest.raises(UnreadableFile, match="2024-13-01 is not a date"):
        period_and_network(Path("2024-13-01_performance_mobile_tiles.parquet"))


def test_bad_quadkeys_are_refused_naming_them(tmp_path):
    # in the region's quadkey ranges: a 7, a digit too many, a letter beyond ASCII
    seven, long, accent = WEST_TILE[:-1] + "7", WEST_TILE + "1", WEST_TILE[:-1] + "é"
    bad = [(q, 1, 1, 1, 1, 1) for q in (seven, long, accent)]
    path = tiles_file(tmp_path / NAME, [*ROWS[:2], *bad])

    with pytest.raises(ImportRejected, match="3 of 5 tiles refused") as caught:
        read_ookla_tiles(path, bbox=None)

    assert [(i.feature_id, i.field, i.reason) for i in caught.value.report.errors] == [
        (q, "quadkey", f"quadkey '{q}' is not a zoom-16 quadkey (16 digits 0-3)")
        for q in (seven, long, accent)
    ]


def test_a_quadkey_column_read_as_numbers_keeps_its_tiles(tmp_path):
    path = tmp_path / NAME
    table = pa.table(
        {
            "quadkey": pa.array([int(WEST_TILE), None], pa.float64()),
            **{c: pa.array([1, 1], pa.int64()) for c in ("avg_d_kbps", "avg_u_kbps")},
            **{c: pa.array([1, 1], pa.int64()) for c in ("avg_lat_ms", "tests", "devices")},
        }
    )
    pq.write_table(table, path)

    tiles, report = read_ookla_tiles(path, bbox=region(), skip_invalid=True)

    assert tiles["quadkey"].tolist() == [WEST_TILE]
    assert report.rejected == 1  # the empty one


def test_a_file_that_is_not_of_tiles_is_refused(tmp_path):
    path = tmp_path / NAME
    pq.write_table(pa.table({"quadkey": ["0"], "speed": [1]}), path)
    with pytest.raises(UnreadableFile, match="not an Ookla tile file: no column avg_d_kbps"):
        read_ookla_tiles(path)
    path.write_text("not parquet")
    with pytest.raises(UnreadableFile, match="not a readable Parquet file"):
        read_ookla_tiles(path)


@pytest.fixture
def registry(engine):
    return build_registry(engine)


def test_tiles_are_imported_linked_and_again_change_nothing(registry, tmp_path):
    path = tiles_file(tmp_path / NAME, ROWS)

    rows, first = import_ookla_tiles(registry, path, bbox=region())
    _, again = import_ookla_tiles(registry, path, bbox=region())

    assert (rows.read, first.inserted, again.inserted, again.unchanged) == (2, 2, 0, 2)
    with transaction(registry) as session:
        stored = session.execute(
            select(SpeedTile.quadkey, SpeedTile.village_code, SpeedTile.tests).order_by(
                SpeedTile.id
            )
        ).all()
    assert [tuple(r) for r in stored] == [(WEST_TILE, WEST, 40), (EAST_TILE, EAST, 10)]


def test_only_tiles_over_the_registrys_regencies_are_kept(engine, tmp_path):
    villages = {code: wgs84(shape) for code, shape in SHAPES_M.items()}
    outline = shapely.unary_union(list(villages.values()))  # no corner south of FARWEST
    with transaction(engine) as session:
        add_areas(session, {"35": outline, "35.07": outline, "35.07.01": outline, **villages})
    corner = quadkey_at(598_500, 9_110_300)  # in the regency's box, not in the regency
    path = tiles_file(tmp_path / NAME, [*ROWS[:2], (corner, 1, 1, 1, 1, 1)])

    rows, report = import_ookla_tiles(engine, path, regency="35.07")

    assert report.inserted == 2
    assert [str(i) for i in rows.warnings] == [
        "file: 1 tiles over no regency of the registry left out"
    ]
    with pytest.raises(AreaNotFound, match="no regency 35.99 in the registry"):
        import_ookla_tiles(engine, path, regency="35.99")


def test_a_tile_value_out_of_range_refuses_the_import(registry, tmp_path):
    path = tiles_file(tmp_path / NAME, [ROWS[0], (EAST_TILE, 1_200, 400, 80, 0, 4)])

    with pytest.raises(ImportRejected) as caught:
        import_ookla_tiles(registry, path, bbox=region())

    [issue] = caught.value.report.errors
    assert (issue.feature_id, issue.field, issue.reason) == (
        EAST_TILE,
        "tests",
        "0 is outside 1..1e+09",
    )
    with transaction(registry) as session:
        assert session.execute(select(SpeedTile.id)).all() == []


def test_speed_tests_at_points_are_typed_and_checked(registry, tmp_path):
    west, east = wgs84(Point(601_000, 9_111_500)), wgs84(Point(605_000, 9_111_500))
    csv = tmp_path / "survey.csv"
    csv.write_text(
        "id,lat,lon,date,radio,rsrp,download_kbps,network\n"
        f"a,{west.y},{west.x},2024-08-02,LTE-A,-95,18000,mobile\n"
        f"b,{east.y},{east.x},2024-08-03,,-118,,mobile\n"
        f"c,{east.y},{east.x},2024-08-04,HSPA+,-101,2500,\n"
    )
    report = import_assets(registry, "speed_test", csv)
    assert (report.inserted, report.link["layers"]["speed_test"]["linked"]) == (3, 3)
    with transaction(registry) as session:
        stored = session.execute(
            select(
                SpeedTest.village_code, SpeedTest.technology, SpeedTest.signal_dbm,
                SpeedTest.measured_on,
            ).order_by(SpeedTest.source_id)
        ).all()  # fmt: skip
    assert [tuple(r) for r in stored] == [
        (WEST, "4G", -95.0, dt.date(2024, 8, 2)),
        (EAST, None, -118.0, dt.date(2024, 8, 3)),
        (EAST, "3G", -101.0, dt.date(2024, 8, 4)),
    ]

    bad = tmp_path / "bad.csv"
    bad.write_text(
        "id,lat,lon,radio,network,rsrp\n"
        f"c,{west.y},{west.x},3G/4G,mobile,-90\n"
        f"d,{west.y},{west.x},4G,satellite,-90\n"
        f"e,{west.y},{west.x},4G,mobile,-10\n"
    )
    with pytest.raises(ImportRejected) as caught:
        import_assets(registry, "speed_test", bad)
    assert [(i.feature_id, i.field, i.reason) for i in caught.value.report.errors] == [
        ("c", "radio", "one technology per test, not 3G,4G"),
        ("d", "network", "network 'satellite' is not one of mobile, fixed"),
        ("e", "rsrp", "-10 is outside -160..-20"),
    ]


def measurements(rows: list[tuple]) -> pd.DataFrame:
    return pd.DataFrame(
        rows,
        columns=[
            "village_code",
            "kind",
            "taken_on",
            "technology",
            "download_kbps",
            "tests",
            "source",
        ],  # fmt: skip
    )


def test_the_measured_class_is_what_half_the_tests_reach():
    frame = village_measurements(
        measurements(
            [
                # A: 30 tests at 4G speed, 70 at 3G speed -> 3G only; median download 1,200
                ("A", "tile", dt.date(2024, 7, 1), None, 9_000.0, 30, "ookla"),
                ("A", "tile", dt.date(2024, 7, 1), None, 1_200.0, 70, "ookla"),
                # B: a tile and a test on 4G; an old tile out of the window is not read
                ("B", "tile", dt.date(2024, 4, 1), None, 300.0, 1, "ookla"),
                ("B", "test", dt.date(2024, 9, 3), "4G", 200.0, 1, "survey"),
                ("B", "tile", dt.date(2023, 4, 1), None, 100.0, 500, "ookla"),
            ]
        )
    )
    rows = frame.set_index("code")
    assert rows["measured_class"].to_dict() == {"A": "3G only", "B": "4G"}
    assert rows["measured_tests"].to_dict() == {"A": 100, "B": 2}
    assert rows.loc["A", "measured_download_kbps"] == 1_200.0
    assert rows.loc["B", "measured_download_kbps"] == 200.0
    assert rows["measured_period"].to_dict() == {
        "A": "2024-07-01..2024-09-30",
        "B": "2024-04-01..2024-09-03",
    }
    assert rows.loc["B", "measured_sources"] == ["ookla", "survey"]
    assert [speed_class(v) for v in (4_999.0, 5_000.0, 499.0, 500.0)] == [2, 3, 1, 2]


@pytest.mark.parametrize(
    ("census", "measured", "model", "sample", "expected"),
    [
        (None, "4G", None, False, ("4G", "measurements", "medium", None)),
        (None, "4G", "4G", False, ("4G", "measurements+model", "high", None)),
        (None, "4G", "4G", True, ("4G", "measurements+model", "medium", None)),
        ("4G", "4G", "4G", False, ("4G", "census+measurements+model", "high", None)),
        (
            "blank spot",
            "3G only",
            "3G only",
            False,
            (
                "blank spot",
                "census",
                "low",
                "census (PODES 2024) says blank spot; speed tests say 3G only; "
                "the model says 3G only",
            ),
        ),
        (
            None,
            "3G only",
            "blank spot",
            False,
            (
                "3G only",
                "measurements",
                "low",
                "speed tests say 3G only; the model says blank spot",
            ),
        ),
    ],
)
def test_reconcile_with_measurements(census, measured, model, sample, expected):
    decided = reconcile(census, model, False, sample=sample, survey="PODES 2024", measured=measured)
    assert tuple(decided.values()) == expected


def test_a_run_reads_the_tests_and_records_each_fields_provenance(registry, tmp_path):
    from tests.geo.terrain import add_tower, dem

    add_tower(registry)
    import_ookla_tiles(registry, tiles_file(tmp_path / NAME, ROWS), bbox=region())
    census = pd.DataFrame({"kode_kemendagri": [EAST], "R1005C": ["2"], "R1005D": ["1"]})
    census.attrs["label"] = "podes2024_test.csv"
    import_census(registry, census)

    summary = run_coverage(registry, dem=dem(tmp_path), output_dir=tmp_path / "o")

    with transaction(registry) as session:
        stored = queries.connectivity(session).set_index("code")
    west, east = stored.loc[WEST], stored.loc[EAST]
    assert (west["measured_class"], west["measured_tests"], west["measured_download_kbps"]) == (
        "4G",
        40,
        25_000.0,
    )
    assert (west["connectivity_class"], west["class_source"], west["confidence"]) == (
        "4G",
        "measurements+model",
        "high",
    )
    assert west["measured_period"] == "2024-07-01..2024-09-30"
    # EAST: the census says 4G, the tiles (1.2 Mbit/s) 3G only, the ridge hides the tower
    assert (east["connectivity_class"], east["class_source"], east["confidence"]) == (
        "4G",
        "census",
        "low",
    )
    assert east["disagreement"] == (
        "census (PODES 2024) says 4G; speed tests say 3G only; the model says blank spot"
    )
    assert pd.isna(stored.loc[SPLIT, "measured_class"])

    provenance = json.loads(west["provenance"])
    assert provenance["measured_class"] == {
        "source": "Speedtest by Ookla Open Data (CC BY-NC-SA 4.0) 2024-07-01 mobile",
        "method": "40 speed tests, class by technology or download speed, the best reached by "
        "half of them (geo.coverage.measured)",
        "date": "2024-07-01..2024-09-30",
        "confidence": "medium",
    }
    assert provenance["covered_area_share"]["source"].startswith("ridge.tif (sha256:")
    assert provenance["covered_area_share"]["confidence"] == "medium"
    assert provenance["connectivity_class"]["source"] == "measurements+model"
    assert "census_class" not in provenance
    east_census = json.loads(east["provenance"])["census_class"]
    assert east_census == {
        "source": "PODES 2024 (file:podes2024_test.csv)",
        "method": "survey: reported by the village",
        "date": "2024",
        "confidence": "medium",
    }
    assert summary.register.set_index("code").loc[WEST, "measured_class"] == "4G"
    assert np.isnan(stored.loc[SPLIT, "measured_download_kbps"])


def test_what_the_measurements_read_leaves_out(registry):
    west = wgs84(Point(601_000, 9_111_500))
    square = shapely.MultiPolygon([wgs84(box(600_500, 9_111_100, 601_100, 9_111_700))])
    tiles = [("mobile", None, 9e3), ("mobile", 3, None), ("fixed", 3, 9e3), ("mobile", 2, 700.0)]
    with transaction(registry) as session:
        for network, tests, speed in tiles:  # only the last one tells anything
            add_asset(
                session, "speed_tile", square, village_code=WEST, period_start=dt.date(2024, 7, 1),
                network=network, tests=tests, avg_d_kbps=speed,
            )  # fmt: skip
        add_asset(session, "speed_test", west, village_code=WEST, signal_dbm=-90.0)  # no class
        add_asset(session, "speed_test", west, village_code=WEST, network="fixed", technology="4G")
        add_asset(session, "speed_test", west, village_code=WEST, technology="4G")  # network unsaid

        frame = queries.speed_measurements(session)

    assert frame["kind"].tolist() == ["tile", "test"]
    assert frame["tests"].tolist() == [2, 1]
    assert frame["download_kbps"].iloc[0] == 700.0 and np.isnan(frame["download_kbps"].iloc[1])
    assert frame["technology"].iloc[1] == "4G"
    [row] = village_measurements(frame).to_dict("records")
    assert (row["measured_class"], row["measured_tests"], row["measured_download_kbps"]) == (
        "3G only",  # two tests at 0.7 Mbit/s, one on 4G: 4G reaches a third
        3,
        700.0,
    )
