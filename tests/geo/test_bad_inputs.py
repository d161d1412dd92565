"""Awkward and broken files: each refused (or repaired) with a precise diagnosis, on both backends.

The corpus is written at test time by ``tests/fixtures/bad_inputs.py``. The registry is seeded
with the sample regency and its sample assets, and the row count of every table is compared
before and after: a refused file writes nothing.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from fixtures import bad_inputs
from sqlalchemy import Engine, func, select

import geopandas as gpd
import shapely

from geo.errors import CRSProblem, FileTooLarge, ImportRejected, UnreadableFile
from geo.ingest.assets import import_assets
from geo.ingest.boundaries import count_areas, import_boundaries, import_code_list
from geo.ingest.report import Severity
from geo.samples import sample_assets, sample_region
from geo.settings import ImportSettings
from geo.store.db import transaction
from geo.store.models import ASSET_LAYERS, AreaCode, Destination, Facility, Village

SEEDED = {
    "province": 1,
    "regency": 1,
    "district": 4,
    "village": 40,
    "area_code": 46,
    "tower": 16,
    "fibre_route": 3,
    "fibre_node": 11,
    "hotspot": 8,
    "destination": 20,
    "product_site": 24,
    "facility": 70,
}


def table_counts(engine: Engine) -> dict[str, int]:
    """Rows of every registry table: areas per level, the code list, each asset layer."""
    counts = count_areas(engine)
    with transaction(engine) as session:
        counts["area_code"] = session.scalar(select(func.count()).select_from(AreaCode))
        for name, info in ASSET_LAYERS.items():
            counts[name] = session.scalar(select(func.count()).select_from(info.model))
    return counts


@pytest.fixture
def villages(engine: Engine) -> gpd.GeoDataFrame:
    """Seed the registry with the sample regency and every sample asset layer."""
    region = sample_region()
    import_code_list(engine, region.code_list)
    import_boundaries(engine, region.villages)
    for layer, frame in sample_assets(region.villages).items():
        import_assets(engine, layer, frame)
    assert table_counts(engine) == SEEDED
    return region.villages


@pytest.fixture
def village(villages: gpd.GeoDataFrame):
    """The first sample village: (code, name, a point inside it)."""
    first = villages.iloc[0]
    return first["code"], first["name"], first.geometry.representative_point()


def stored_village(engine: Engine, code: str) -> tuple[shapely.Geometry, int, str | None]:
    stmt = select(func.ST_AsBinary(Village.boundary), Village.version, Village.geometry_note).where(
        Village.code == code
    )
    with transaction(engine) as session:
        wkb, version, note = session.execute(stmt).one()
    return shapely.from_wkb(bytes(wkb)), version, note


def only_error(report):
    assert len(report.errors) == 1, report.errors
    return report.errors[0]


# ------------------------------------------------------------------ unreadable before any row


@pytest.mark.parametrize("importer", ["boundaries", "assets"])
def test_truncated_geojson_is_unreadable(engine, villages, tmp_path, importer):
    path = bad_inputs.truncated_geojson(tmp_path, villages)

    with pytest.raises(UnreadableFile) as caught:
        if importer == "boundaries":
            import_boundaries(engine, path)
        else:
            import_assets(engine, "tower", path)

    assert str(caught.value).startswith("truncated.geojson: cannot be read (Failed to read GeoJSON")
    assert table_counts(engine) == SEEDED


def test_zip_that_is_not_a_zip_is_unreadable(engine, villages, tmp_path):
    with pytest.raises(UnreadableFile) as caught:
        import_boundaries(engine, bad_inputs.not_a_zip(tmp_path))

    assert str(caught.value) == "villages.zip: not a valid zip archive"
    assert table_counts(engine) == SEEDED


def test_file_over_the_limit_is_refused_before_reading(engine, villages, tmp_path):
    path = bad_inputs.oversized_file(tmp_path, 100_000)  # not even JSON: reading it would fail

    with pytest.raises(FileTooLarge) as caught:
        import_boundaries(engine, path, settings=ImportSettings(max_file_bytes=1024))

    assert str(caught.value) == (
        "huge.geojson is 100,010 bytes, over the import limit of 1,024 bytes "
        "(PETADESA_IMPORT_MAX_FILE_BYTES)"
    )
    assert table_counts(engine) == SEEDED


# ---------------------------------------------------------------------------- CRS diagnosis


def test_shapefile_without_prj_in_lonlat_is_accepted_with_a_warning(engine, villages, tmp_path):
    frame = villages.set_crs(None, allow_override=True)
    path = bad_inputs.shapefile_zip(tmp_path, frame, "villages_lonlat", with_prj=False)

    report = import_boundaries(engine, path)

    assert (report.read, report.inserted, report.updated, report.unchanged) == (40, 0, 0, 40)
    assert [(w.severity, w.index, w.reason) for w in report.issues] == [
        (
            Severity.WARNING,
            None,
            "villages_lonlat.shp has no .prj file; no CRS named: coordinates are plainly "
            "longitude/latitude inside Indonesia, read as EPSG:4326",
        )
    ]
    assert table_counts(engine) == SEEDED


def test_shapefile_without_prj_in_utm_metres_is_refused(engine, villages, tmp_path):
    path = bad_inputs.shapefile_zip(
        tmp_path, bad_inputs.to_utm(villages), "villages_utm", with_prj=False
    )

    with pytest.raises(CRSProblem) as caught:
        import_boundaries(engine, path)

    message = str(caught.value)
    assert message.startswith(
        "villages_utm.shp has no .prj file; the coordinates look like projected metres (x 6"
    )
    assert "they look like UTM south (EPSG:32748-32754, EPSG:32749 for Malang)" in message
    assert message.endswith(
        "but the file names no CRS. Add the CRS (.prj) or pass --crs EPSG:NNNNN"
    )
    assert table_counts(engine) == SEEDED


@pytest.mark.parametrize("writer", ["utm_geojson_without_crs", "utm_geopackage_without_crs"])
def test_layer_in_utm_metres_without_crs_is_refused(engine, villages, tmp_path, writer):
    path = getattr(bad_inputs, writer)(tmp_path, villages)

    with pytest.raises(CRSProblem) as caught:
        import_boundaries(engine, path)

    message = str(caught.value)
    assert "coordinates look like projected metres (x 6" in message
    assert "they look like UTM south (EPSG:32748-32754, EPSG:32749 for Malang)" in message
    if writer == "utm_geojson_without_crs":  # a GeoJSON is lon/lat by definition
        assert message.startswith("the file says EPSG:4326 but its coordinates")
    else:
        assert message.endswith(
            "but the file names no CRS. Add the CRS (.prj) or pass --crs EPSG:NNNNN"
        )
    assert table_counts(engine) == SEEDED


def test_geojson_in_lat_lon_order_is_refused_as_swapped(engine, villages, tmp_path):
    path = bad_inputs.swapped_geojson(tmp_path, villages)

    with pytest.raises(CRSProblem) as caught:
        import_boundaries(engine, path)

    message = str(caught.value)
    assert message.startswith(
        "every feature's coordinates look like latitude/longitude in swapped order (x -7."
    )
    assert message.endswith("the file says EPSG:4326 but x holds latitudes")
    assert table_counts(engine) == SEEDED


def test_csv_with_lat_lon_columns_swapped_is_refused_as_swapped(
    engine, villages, village, tmp_path
):
    _, _, point = village
    path = bad_inputs.points_csv(
        tmp_path,
        "offices",
        ["nama", "lat", "lon"],
        [["Kantor A", point.x, point.y], ["Kantor B", point.x, point.y]],
    )

    with pytest.raises(CRSProblem) as caught:
        import_assets(engine, "facility", path)

    assert "look like latitude/longitude in swapped order" in str(caught.value)
    assert "x holds latitudes, y holds longitudes" in str(caught.value)
    assert table_counts(engine) == SEEDED


# ---------------------------------------------------------------------------- geometries


def test_bowtie_is_repaired_reported_and_imported(engine, villages, village, tmp_path):
    code, name, point = village
    bowtie = bad_inputs.bowtie(point)
    path = bad_inputs.polygons_geojson(tmp_path, "bowtie", [(code, name, bowtie)])

    report = import_boundaries(engine, path)

    assert (report.inserted, report.updated, report.unchanged, report.rejected) == (0, 1, 0, 0)
    assert report.derived == {"district": 1, "regency": 1, "province": 1}
    repaired = report.repaired
    assert [(r.index, r.feature_id, r.field) for r in repaired] == [(0, code, "geometry")]
    assert repaired[0].reason.startswith("invalid geometry repaired: Self-intersection[")
    assert report.errors == [] and report.warnings == []
    geom, version, note = stored_village(engine, code)
    assert (version, note) == (2, repaired[0].reason)
    assert geom.is_valid and geom.geom_type == "MultiPolygon" and len(geom.geoms) == 2
    expected = shapely.make_valid(bowtie)  # the two triangles of the figure eight
    assert shapely.symmetric_difference(geom, expected).area == pytest.approx(0, abs=1e-15)
    assert geom.area == pytest.approx(0.004**2 / 2)
    assert table_counts(engine) == SEEDED


def test_invalid_polygon_in_a_point_layer_is_refused_not_repaired(
    engine, villages, village, tmp_path
):
    code, name, point = village
    path = bad_inputs.polygons_geojson(
        tmp_path, "tower_bowtie", [(code, name, bad_inputs.bowtie(point))]
    )

    with pytest.raises(ImportRejected) as caught:
        import_assets(engine, "tower", path)

    report = caught.value.report
    error = only_error(report)
    assert (error.index, error.field) == (0, "geometry")
    assert error.reason == "is a Polygon; this layer takes Point or MultiPoint geometries"
    assert report.repaired == []
    assert table_counts(engine) == SEEDED


def test_degenerate_polygon_is_refused(engine, villages, village, tmp_path):
    code, name, point = village
    before = stored_village(engine, code)
    path = bad_inputs.polygons_geojson(
        tmp_path, "degenerate", [(code, name, bad_inputs.degenerate(point))]
    )

    with pytest.raises(ImportRejected) as caught:
        import_boundaries(engine, path)

    error = only_error(caught.value.report)
    assert (error.index, error.feature_id, error.field) == (0, code, "geometry")
    assert error.reason.startswith("invalid geometry (")
    assert error.reason.endswith(") that collapses to nothing when repaired")
    after = stored_village(engine, code)
    assert after[0].equals_exact(before[0], 0) and after[1:] == before[1:] == (1, None)
    assert table_counts(engine) == SEEDED


def test_empty_and_null_geometries_are_refused(engine, villages, tmp_path):
    (a, name_a), (b, name_b) = villages[["code", "name"]].head(2).itertuples(index=False)
    path = bad_inputs.polygons_geojson(
        tmp_path, "empty", [(a, name_a, bad_inputs.empty_multipolygon()), (b, name_b, None)]
    )

    with pytest.raises(ImportRejected) as caught:
        import_boundaries(engine, path)

    report = caught.value.report
    assert str(caught.value) == "2 of 2 features refused; nothing was imported"
    assert [(e.index, e.feature_id, e.field, e.reason) for e in report.errors] == [
        (0, a, "geometry", "empty geometry"),
        (1, b, "geometry", "empty geometry"),
    ]
    assert table_counts(engine) == SEEDED


# ---------------------------------------------------------------------------------- codes


def test_duplicate_codes_are_refused(engine, villages, tmp_path):
    code, name, geom = villages[["code", "name", "geometry"]].iloc[0]
    path = bad_inputs.polygons_geojson(
        tmp_path, "duplicates", [(code, name, geom), (code, name, geom)]
    )

    with pytest.raises(ImportRejected) as caught:
        import_boundaries(engine, path)

    error = only_error(caught.value.report)
    assert (error.index, error.feature_id, error.field) == (1, code, "kode")
    assert error.reason == f"duplicate code {code} (also feature 0)"
    assert table_counts(engine) == SEEDED


def test_code_missing_from_the_code_list_is_refused(engine, villages, tmp_path):
    geom = villages.geometry.iloc[0]
    path = bad_inputs.polygons_geojson(tmp_path, "unknown", [("99.01.07.2001", "Desa Baru", geom)])

    with pytest.raises(ImportRejected) as caught:
        import_boundaries(engine, path)

    error = only_error(caught.value.report)
    assert (error.index, error.feature_id, error.field) == (0, "99.01.07.2001", "kode")
    assert error.reason == "unknown code 99.01.07.2001: not in the Kemendagri code list"
    assert table_counts(engine) == SEEDED


def test_unknown_parent_code_is_refused_without_a_code_list(engine, tmp_path):
    region = sample_region()
    village_row = region.villages.iloc[0]
    path = bad_inputs.polygons_geojson(
        tmp_path, "orphan", [(village_row["code"], village_row["name"], village_row.geometry)]
    )
    before = table_counts(engine)

    with pytest.raises(ImportRejected) as caught:
        import_boundaries(engine, path)

    error = only_error(caught.value.report)
    parent = village_row["code"].rsplit(".", 1)[0]
    assert (error.index, error.feature_id, error.field) == (0, village_row["code"], "kode")
    assert error.reason == (
        f"unknown parent code {parent}: not in the registry, the file or the code list"
    )
    assert table_counts(engine) == before == dict.fromkeys(SEEDED, 0)


def test_invalid_code_string_is_refused(engine, villages, tmp_path):
    code, name, geom = villages[["code", "name", "geometry"]].iloc[0]
    path = bad_inputs.polygons_geojson(
        tmp_path, "bad_code", [(code, name, geom), ("99.1.1.2001", "Desa Salah", geom)]
    )

    with pytest.raises(ImportRejected) as caught:
        import_boundaries(engine, path)

    error = only_error(caught.value.report)
    assert (error.index, error.feature_id, error.field) == (1, "99.1.1.2001", "kode")
    assert error.reason == "'99.1.1.2001' is not a Kemendagri code (expected e.g. 35.07.01.2001)"
    assert table_counts(engine) == SEEDED


# ------------------------------------------------------------------------------ point files


def test_kml_points_are_imported(engine, villages, village, tmp_path):
    code, _, point = village
    path = bad_inputs.kml_points(
        tmp_path,
        [("Air Terjun Sampel", point.x, point.y), ("Bukit Sampel", point.x, point.y + 1e-4)],
    )

    report = import_assets(engine, "destination", path)

    assert (report.read, report.inserted, report.rejected) == (2, 2, 0)
    assert report.errors == [] and report.repaired == []
    assert report.link["layers"]["destination"] == {
        "total": 2,
        "linked": 2,
        "changed": 2,
        "unlinked": 0,
        "mismatched": 0,
    }
    stmt = (
        select(
            Destination.name, Destination.village_code, Destination.description, Destination.version
        )
        .where(Destination.source == "file:destinations.kml")
        .order_by(Destination.name)
    )
    with transaction(engine) as session:
        rows = session.execute(stmt).all()
    assert [tuple(r) for r in rows] == [
        ("Air Terjun Sampel", code, "made for a test", 1),
        ("Bukit Sampel", code, "made for a test", 1),
    ]
    assert table_counts(engine) == {**SEEDED, "destination": SEEDED["destination"] + 2}


def offices_csv(tmp_path: Path, point: shapely.Point, bad_row: list[object]) -> Path:
    rows = [["Kantor A", point.y, point.x], bad_row, ["Kantor C", point.y, point.x + 1e-4]]
    return bad_inputs.points_csv(tmp_path, "offices", ["nama", "lat", "lon"], rows)


def test_csv_row_with_non_numeric_coordinate_is_refused_by_index(
    engine, villages, village, tmp_path
):
    code, _, point = village
    path = offices_csv(tmp_path, point, ["Kantor B", "-7.7x", point.x])

    with pytest.raises(ImportRejected) as caught:
        import_assets(engine, "facility", path)

    assert str(caught.value) == "1 of 3 features refused; nothing was imported"
    error = only_error(caught.value.report)
    assert (error.index, error.field, error.reason) == (1, "lat", "lat '-7.7x' is not a number")
    assert table_counts(engine) == SEEDED

    report = import_assets(engine, "facility", path, skip_invalid=True)
    assert (report.read, report.inserted, report.rejected) == (3, 2, 1)
    assert table_counts(engine) == {**SEEDED, "facility": SEEDED["facility"] + 2}
    with transaction(engine) as session:
        names = session.scalars(
            select(Facility.name)
            .where(Facility.source == "file:offices.csv")
            .order_by(Facility.name)
        ).all()
    assert names == ["Kantor A", "Kantor C"]


def test_csv_row_with_swapped_coordinates_is_refused_by_index(engine, villages, village, tmp_path):
    _, _, point = village
    path = offices_csv(tmp_path, point, ["Kantor B", point.x, point.y])

    with pytest.raises(ImportRejected) as caught:
        import_assets(engine, "facility", path)

    error = only_error(caught.value.report)
    assert (error.index, error.field) == (1, "geometry")
    assert (
        error.reason == "coordinates look like swapped latitude/longitude (x=-7.67203, y=112.222)"
    )
    assert table_counts(engine) == SEEDED

    report = import_assets(engine, "facility", path, skip_invalid=True)
    assert (report.inserted, report.rejected) == (2, 1)
    assert table_counts(engine) == {**SEEDED, "facility": SEEDED["facility"] + 2}
