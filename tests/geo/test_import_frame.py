"""The import frame shared by boundaries and assets: provenance, blanks, duplicates, one feature."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

import geopandas as gpd
from shapely.geometry import LineString, Point

from geo.errors import CRSProblem, ImportRejected, UnknownLayer
from geo.ingest.assets import import_assets, validate_asset
from geo.ingest.boundaries import import_boundaries, import_code_list
from geo.ingest.frame import is_blank, mark_duplicates
from geo.ingest.report import ImportReport, Severity
from geo.samples import sample_region
from geo.store.db import transaction
from geo.store.models import Destination, Tower, Village

# ---------------------------------------------------------------------------- without a database


@pytest.mark.parametrize(
    ("value", "blank"),
    [(None, True), (float("nan"), True), ("", True), ("  ", True), ("-", True), (" - ", True)]
    + [("0", False), (0, False), ("--", False), ("n/a", False), ("Sawang", False)],
)
def test_one_rule_for_blank_cells(value, blank):
    assert is_blank(value) is blank


def test_duplicates_are_worded_the_same_for_every_key():
    report = ImportReport(target="x", path="f")

    first = mark_duplicates(
        ["35.07", None, "35.07", "35.79", "35.07"], report, what="code", field="kode"
    )

    assert first.tolist() == [True, False, False, True, False]
    assert [str(i) for i in report.issues] == [
        "feature 2 (35.07), field 'kode': duplicate code 35.07 (also feature 0)",
        "feature 4 (35.07), field 'kode': duplicate code 35.07 (also feature 0)",
    ]


def test_one_tower_is_validated_without_a_file():
    row = validate_asset(
        "tower",
        {"nama": " Menara Sampel ", "teknologi": "lte; 2g", "tinggi": "42,5", "status": "aktif"},
        Point(112.6, -8.1),
    )

    assert {k: row[k] for k in ("name", "technologies", "height_m", "status")} == {
        "name": "Menara Sampel",
        "technologies": "2G,4G",
        "height_m": 42.5,
        "status": "on-air",
    }
    assert row["source"] == "file:<feature>"
    assert row["source_id"].startswith("sha1:")
    assert row["geom"].equals(Point(112.6, -8.1))


def test_one_feature_is_refused_with_its_field_and_reason():
    with pytest.raises(ImportRejected) as caught:
        validate_asset(
            "destination",
            {"name": "Coban", "harga_tiket": "-5", "geometry_note": "x"},
            Point(112.6, -8.1),
        )

    assert [str(i) for i in caught.value.report.issues] == [
        "file: columns not stored (no matching layer column): geometry_note",
        "feature 0, field 'harga_tiket': -5 is outside 0..1e+09",
    ]


@pytest.mark.parametrize(
    ("geometry", "error"),
    [
        (LineString([(112.6, -8.1), (112.7, -8.2)]), "is a LineString; this layer takes Point or"),
        (Point(), "empty geometry"),
    ],
)
def test_one_feature_gets_the_geometry_checks_of_a_file(geometry, error):
    with pytest.raises(ImportRejected) as caught:
        validate_asset("tower", {"name": "x"}, geometry)

    [refused] = caught.value.report.errors
    assert (refused.index, refused.field) == (0, "geometry")
    assert refused.reason.startswith(error)


def test_one_feature_with_swapped_coordinates_gets_the_files_diagnosis():
    with pytest.raises(CRSProblem, match="^every feature's coordinates look like latitude/longi"):
        validate_asset("tower", {"name": "x"}, Point(-8.1, 112.6))


def test_an_unknown_layer_is_refused_once_with_one_message():
    with pytest.raises(UnknownLayer, match=r"^unknown layer 'bridge'; layers: tower, "):
        validate_asset("bridge", {"name": "x"}, Point(112.6, -8.1))


# ------------------------------------------------------------------------------ on both backends


def test_assets_honour_the_frames_source_name_as_boundaries_do(engine):
    towers = gpd.GeoDataFrame(
        {"name": ["a", "b"], "source": ["opencellid", "-"]},
        geometry=[Point(112.6, -8.1), Point(112.7, -8.1)],
        crs="EPSG:4326",
    )
    towers.attrs["source_name"] = "survey-2026"

    import_assets(engine, "tower", towers)

    with transaction(engine) as session:
        sources = session.execute(select(Tower.name, Tower.source).order_by(Tower.name)).all()
    assert [tuple(r) for r in sources] == [("a", "opencellid"), ("b", "survey-2026")]


def test_a_dash_in_the_boundary_source_column_is_blank_as_in_assets(engine):
    region = sample_region()
    import_code_list(engine, region.code_list)
    villages = region.villages.copy()
    villages["source"] = ["-"] * 3 + ["sample"] * (len(villages) - 3)

    import_boundaries(engine, villages, source_name="survey-2026")

    with transaction(engine) as session:
        rows = session.execute(
            select(Village.source, Village.code).where(Village.in_force()).order_by(Village.code)
        ).all()
    by_source = {}
    for source, code in rows:
        by_source.setdefault(source, []).append(code)
    assert sorted(by_source["survey-2026"]) == sorted(villages["code"].iloc[:3])
    assert len(by_source["sample"]) == len(villages) - 3
    assert set(by_source) == {"survey-2026", "sample"}


def test_a_refused_feature_is_reported_the_same_way_by_both_importers(engine):
    region = sample_region()
    import_code_list(engine, region.code_list)
    villages = region.villages.iloc[:2].copy()
    villages["code"] = [villages["code"].iloc[0]] * 2
    towers = gpd.GeoDataFrame(
        {"id": ["t1", "t1"]}, geometry=[Point(112.2, -7.75)] * 2, crs="EPSG:4326"
    )

    refused = []
    for run in (
        lambda: import_boundaries(engine, villages),
        lambda: import_assets(engine, "tower", towers),
    ):
        with pytest.raises(ImportRejected) as caught:
            run()
        refused.append(caught.value)

    assert [str(e) for e in refused] == ["1 of 2 features refused; nothing was imported"] * 2
    assert [e.report.errors[0].reason for e in refused] == [
        f"duplicate code {villages['code'].iloc[0]} (also feature 0)",
        "duplicate id 't1' (also feature 0)",
    ]
    assert all(e.report.errors[0].severity is Severity.ERROR for e in refused)
    assert all(e.report.committed is False for e in refused)


def test_text_cells_are_stripped_blanks_take_the_default_and_decimal_commas_read(engine, tmp_path):
    path = tmp_path / "wisata.csv"
    path.write_text(
        "id,nama,kategori,deskripsi,lintang,bujur\n"
        'w1, Coban Rondo ,-,  air terjun ,"-7,88","112,48"\n'
        "w2,Pantai,pantai,-,-8.4,112.7\n"
        "w3,Bukit, , ,-8.1,112.6\n",
        encoding="utf-8",
    )

    report = import_assets(engine, "destination", path, defaults={"category": " alam "})

    assert (report.inserted, report.rejected) == (3, 0)
    with transaction(engine) as session:
        rows = session.execute(
            select(
                Destination.source_id,
                Destination.name,
                Destination.category,
                Destination.description,
                func.ST_X(Destination.geom),
                func.ST_Y(Destination.geom),
            ).order_by(Destination.source_id)
        ).all()
    assert [tuple(r) for r in rows] == [
        ("w1", "Coban Rondo", "alam", "air terjun", 112.48, -7.88),
        ("w2", "Pantai", "pantai", None, 112.7, -8.4),
        ("w3", "Bukit", "alam", None, 112.6, -8.1),
    ]


def test_an_empty_number_column_as_the_id_is_no_crash(engine):
    towers = gpd.GeoDataFrame(
        {"id": [float("nan")] * 2, "name": [float("nan"), "b"], "operator": [None, None]},
        geometry=[Point(112.6, -8.1), Point(112.7, -8.1)],
        crs="EPSG:4326",
    )

    report = import_assets(engine, "tower", towers)

    assert (report.inserted, report.rejected) == (2, 0)
    with transaction(engine) as session:
        rows = session.execute(select(Tower.name, Tower.source_id).order_by(Tower.id)).all()
    assert rows[1][0] == "b"
    assert rows[0][0] == rows[0][1] and rows[0][1].startswith("sha1:")  # named by its digest
