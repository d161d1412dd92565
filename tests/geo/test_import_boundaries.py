"""Importing village boundaries and the code list, on real Jawa Timur data, on both backends.

Numbers come from ``shared/data/SOURCES.md`` (counts, invalid geometries, name spellings) and
from the files themselves; every assertion is exact.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import Engine, func, select

import geopandas as gpd
import shapely
from pyproj import Geod

from geo.errors import ImportRejected
from geo.ingest.boundaries import (
    DERIVED,
    area_km2,
    count_areas,
    import_boundaries,
    import_code_list,
)
from geo.ingest.report import Severity
from geo.samples import SAMPLE_SOURCE, sample_region
from geo.samples.region import N_DISTRICTS, N_VILLAGES
from geo.store.db import transaction
from geo.store.models import AREA_MODELS, AdminArea, AreaCode, District, Province, Regency, Village

MALANG_GEOJSON = "desa_3507_kab_malang.geojson"
MALANG_SQL = "raw/wilayah_boundaries_kel_35.07.sql"
JATIM_GPKG = "desa_35_jawa_timur.gpkg"
MALANG_COUNTS = {"province": 1, "regency": 1, "district": 33, "village": 390}
MALANG_DERIVED = {"province": 1, "regency": 1, "district": 33}
MALANG_AREA_KM2 = 3473.37
"""Sum of the village areas (SOURCES.md, measured in EPSG:32749)."""
MALANG_NAME_WARNINGS = {
    ("35.07.09.2005", "name 'Gedog Kulon' differs from the code list's 'Gedok Kulon'"),
    ("35.07.09.2006", "name 'Gedog Wetan' differs from the code list's 'Gedok Wetan'"),
}
"""The Malang villages whose ``nama`` really differs from ``nama_in_wilayah_sql``; the third
that differs, 'Urek - Urek' (code list 'Urek-Urek'), differs only in white space."""
JATIM_INVALID_VILLAGES = {
    "35.05.04.2005",
    "35.09.04.2001",
    "35.12.07.1002",
    "35.19.13.2012",
    "35.25.09.2021",
    "35.25.10.2007",
    "35.77.03.1007",
}
"""The invalid village geometries of the Jatim GeoPackage listed in SOURCES.md."""
SQL_TOLERANCE_DEG = 1e-6
"""The GeoJSON is the upstream SQL rounded to 7 decimals (max shift 2.5e-7 degrees)."""
GEOD = Geod(ellps="WGS84")


# ------------------------------------------------------------------------------------ helpers


@pytest.fixture(scope="module")
def boundaries_dir(shared_data: Path) -> Path:
    return shared_data / "cahyadsn_wilayah_boundaries"


@pytest.fixture(scope="module")
def code_list_csv(shared_data: Path) -> Path:
    return shared_data / "cahyadsn_wilayah" / "kode_wilayah.csv"


@pytest.fixture(scope="module")
def malang_file(boundaries_dir: Path) -> gpd.GeoDataFrame:
    """The Malang GeoJSON as geopandas reads it, indexed by code (the reference to compare to)."""
    return gpd.read_file(boundaries_dir / MALANG_GEOJSON).set_index("kode")


def load_code_list(engine: Engine, path: Path) -> None:
    report = import_code_list(engine, path, prefix="35")
    assert (report.inserted, report.updated, report.unchanged) == (9199, 0, 0)


def stored(engine: Engine, model: type[AdminArea], *columns: str) -> gpd.GeoDataFrame:
    """Current rows of one level (boundary as shapely), indexed by code, in code order."""
    cols = [getattr(model, c) for c in columns]
    stmt = (
        select(model.code, func.ST_AsBinary(model.boundary).label("wkb"), *cols)
        .where(model.valid_to.is_(None))
        .order_by(model.code)
    )
    with transaction(engine) as session:
        rows = session.execute(stmt).mappings().all()
    frame = gpd.GeoDataFrame(
        [{k: v for k, v in row.items() if k != "wkb"} for row in rows],
        geometry=shapely.from_wkb([bytes(r["wkb"]) for r in rows]),
        crs=4326,
    )
    return frame.set_index("code") if len(frame) else frame


def versions(engine: Engine) -> dict[str, set[int]]:
    """Distinct ``version`` values per level."""
    with transaction(engine) as session:
        return {
            str(level): set(session.scalars(select(model.version).distinct()))
            for level, model in AREA_MODELS.items()
        }


def hausdorff(a: gpd.GeoSeries, b: gpd.GeoSeries) -> np.ndarray:
    """Per-row Hausdorff distance, in degrees, of two series aligned by index."""
    return shapely.hausdorff_distance(a.values, b.loc[a.index].values)


def changed_share(a: gpd.GeoSeries, b: gpd.GeoSeries) -> np.ndarray:
    """Per-row area of the symmetric difference as a share of the area of ``a``."""
    b = b.loc[a.index].values
    return shapely.area(shapely.symmetric_difference(a.values, b)) / shapely.area(a.values)


def geodesic_km2(geom: shapely.Geometry) -> float:
    return abs(GEOD.geometry_area_perimeter(geom)[0]) / 1e6


# ----------------------------------------------------------------------------- Kab. Malang


def test_malang_geojson_imports_the_whole_hierarchy(engine, boundaries_dir, code_list_csv):
    load_code_list(engine, code_list_csv)
    report = import_boundaries(engine, boundaries_dir / MALANG_GEOJSON)

    assert (report.read, report.inserted, report.updated, report.unchanged, report.rejected) == (
        390,
        390,
        0,
        0,
        0,
    )
    assert report.derived == MALANG_DERIVED
    assert report.errors == [] and report.repaired == []
    assert report.committed is True
    assert count_areas(engine) == MALANG_COUNTS
    villages = stored(engine, Village, "kind", "area_km2", "parent_code", "source")
    assert villages["kind"].value_counts().to_dict() == {"desa": 378, "kelurahan": 12}
    assert set(villages["source"]) == {f"file:{MALANG_GEOJSON}"}
    assert villages["parent_code"].nunique() == 33
    assert villages["area_km2"].sum() == pytest.approx(MALANG_AREA_KM2, abs=1.0)
    # area_km2 is computed on an equal-area projection: it matches the geodesic area.
    geodesic = villages.geometry.map(geodesic_km2)
    assert np.allclose(villages["area_km2"], geodesic, rtol=1e-4)


def test_malang_reimport_changes_nothing(engine, boundaries_dir, code_list_csv):
    load_code_list(engine, code_list_csv)
    import_boundaries(engine, boundaries_dir / MALANG_GEOJSON)
    before = stored(engine, Village, "updated_at", "version")

    again = import_boundaries(engine, boundaries_dir / MALANG_GEOJSON)

    assert (again.inserted, again.updated, again.unchanged, again.rejected) == (0, 0, 390, 0)
    assert again.derived == {}
    assert again.link is None  # nothing changed, so nothing to relink
    assert versions(engine) == {"province": {1}, "regency": {1}, "district": {1}, "village": {1}}
    after = stored(engine, Village, "updated_at", "version")
    assert after["updated_at"].equals(before["updated_at"])
    assert after.geometry.geom_equals_exact(before.geometry, tolerance=0).all()


def test_malang_stored_geometries_are_the_files(engine, boundaries_dir, code_list_csv, malang_file):
    load_code_list(engine, code_list_csv)
    import_boundaries(engine, boundaries_dir / MALANG_GEOJSON)

    villages = stored(engine, Village)
    assert list(villages.index) == sorted(malang_file.index)
    assert villages.geometry.geom_equals_exact(
        malang_file.geometry.loc[villages.index], tolerance=0
    ).all()


def test_upstream_sql_gives_the_same_villages(engine, boundaries_dir, code_list_csv, malang_file):
    load_code_list(engine, code_list_csv)
    report = import_boundaries(engine, boundaries_dir / MALANG_SQL)

    assert (report.read, report.inserted, report.updated, report.rejected) == (390, 390, 0, 0)
    assert report.repaired == []
    assert count_areas(engine) == MALANG_COUNTS
    villages = stored(engine, Village, "source", "name")
    assert set(villages.index) == set(malang_file.index)
    assert set(villages["source"]) == {"file:wilayah_boundaries_kel_35.07.sql"}
    assert hausdorff(villages.geometry, malang_file.geometry).max() <= SQL_TOLERANCE_DEG
    assert (villages["name"] == malang_file["nama"].loc[villages.index]).all()


def test_geojson_after_sql_moves_no_boundary_beyond_rounding(
    engine, boundaries_dir, code_list_csv, malang_file
):
    """The GeoJSON after the SQL counts as 390 updates, and that is what it should do.

    Both describe the same boundaries, but the GeoJSON is rounded to 7 decimals, so no
    geometry is bitwise equal, and the provenance changes (``source`` names the file). The
    registry stores what the named source says: every row is rewritten once (version 2),
    the parents are dissolved again, and no boundary moves by more than the rounding.
    Re-importing the same GeoJSON after that changes nothing.
    """
    load_code_list(engine, code_list_csv)
    import_boundaries(engine, boundaries_dir / MALANG_SQL)
    from_sql = stored(engine, Village)
    districts_from_sql = stored(engine, District)

    report = import_boundaries(engine, boundaries_dir / MALANG_GEOJSON)

    assert (report.inserted, report.updated, report.unchanged, report.rejected) == (0, 390, 0, 0)
    assert report.derived == MALANG_DERIVED
    villages = stored(engine, Village, "source", "version")
    assert set(villages["source"]) == {f"file:{MALANG_GEOJSON}"}
    assert versions(engine) == {"province": {2}, "regency": {2}, "district": {2}, "village": {2}}
    assert hausdorff(villages.geometry, from_sql.geometry).max() <= SQL_TOLERANCE_DEG
    assert villages.geometry.geom_equals_exact(
        malang_file.geometry.loc[villages.index], tolerance=0
    ).all()
    # Dissolved parents keep the sliver gaps between villages as tiny holes, so a Hausdorff
    # distance (between boundaries) jumps across a hole; the area that differs is what counts.
    districts = stored(engine, District)
    assert changed_share(districts.geometry, districts_from_sql.geometry).max() < 1e-5

    again = import_boundaries(engine, boundaries_dir / MALANG_GEOJSON)
    assert (again.inserted, again.updated, again.unchanged) == (0, 0, 390)


def test_label_points_lie_inside_their_villages(engine, boundaries_dir, code_list_csv, malang_file):
    load_code_list(engine, code_list_csv)
    import_boundaries(engine, boundaries_dir / MALANG_GEOJSON)

    villages = stored(engine, Village, "label_lon", "label_lat")
    labels = shapely.points(villages["label_lon"], villages["label_lat"])
    assert shapely.contains_properly(villages.geometry.values, labels).sum() == 390
    # Why the source's own "centroid" is not used: 12 of them lie outside their village.
    source_points = shapely.points(malang_file["lng"], malang_file["lat"])
    assert (~shapely.covers(malang_file.geometry.values, source_points)).sum() == 12


def test_derived_district_is_named_from_the_code_list(engine, boundaries_dir, code_list_csv):
    load_code_list(engine, code_list_csv)
    import_boundaries(engine, boundaries_dir / MALANG_GEOJSON)

    districts = stored(
        engine,
        District,
        "name",
        "source",
        "kind",
        "area_km2",
        "parent_code",
        "parent_id",
        "geometry_note",
    )
    donomulyo = districts.loc["35.07.01"]
    children = stored(engine, Village, "area_km2", "parent_code", "parent_id")
    children = children[children["parent_code"] == "35.07.01"]
    with transaction(engine) as session:
        district_id = session.scalar(select(District.id).where(District.code == "35.07.01"))
        regency_id = session.scalar(select(Regency.id).where(Regency.code == "35.07"))
        regency = session.execute(select(Regency.name, Regency.source)).one()
        province = session.execute(select(Province.name, Province.source)).one()

    assert (donomulyo["name"], donomulyo["source"], donomulyo["kind"]) == (
        "Donomulyo",
        DERIVED,
        "kecamatan",
    )
    assert (donomulyo["parent_code"], donomulyo["parent_id"]) == ("35.07", regency_id)
    assert donomulyo["geometry_note"] == f"dissolved from {len(children)} village areas"
    assert len(children) == 10
    assert set(children["parent_id"]) == {district_id}
    assert donomulyo["area_km2"] == pytest.approx(children["area_km2"].sum(), rel=0.005)
    union = shapely.union_all(children.geometry.values)
    # the union, with the source's 65 sliver gaps between neighbouring villages filled
    assert sum(len(p.interiors) for p in shapely.get_parts(union)) == 65
    assert sum(len(p.interiors) for p in donomulyo.geometry.geoms) == 0
    assert shapely.difference(union, donomulyo.geometry).area == pytest.approx(0, abs=1e-12)
    assert shapely.difference(donomulyo.geometry, union).area / union.area == pytest.approx(
        9.05e-5, rel=0.01
    )
    assert set(districts["source"]) == {DERIVED}
    assert tuple(regency) == ("Kabupaten Malang", DERIVED)
    assert tuple(province) == ("Jawa Timur", DERIVED)


def test_names_differing_from_the_code_list_are_warned(
    engine, boundaries_dir, code_list_csv, malang_file
):
    load_code_list(engine, code_list_csv)
    report = import_boundaries(engine, boundaries_dir / MALANG_GEOJSON)

    differing = malang_file[malang_file["nama"] != malang_file["nama_in_wilayah_sql"]]
    assert len(differing) == 3
    warned = {(w.feature_id, w.reason) for w in report.warnings}
    assert warned == MALANG_NAME_WARNINGS
    assert {w.field for w in report.warnings} == {"nama"}  # the file's column
    assert {w.index for w in report.warnings} == {104, 105}
    assert {i.severity for i in report.issues} == {Severity.WARNING}
    names = stored(engine, Village, "name")["name"]
    assert names.loc["35.07.09.2005"] == "Gedog Kulon"  # the file's spelling is kept


def test_names_differing_only_in_case_or_spaces_are_not_warned(
    engine, boundaries_dir, code_list_csv, malang_file
):
    load_code_list(engine, code_list_csv)
    frame = malang_file.reset_index()[["kode", "nama", "geometry"]].iloc[:4].copy()
    listed = malang_file["nama_in_wilayah_sql"].iloc[:4].tolist()
    frame["nama"] = [
        listed[0].upper(),
        listed[1].lower(),
        "  ".join(listed[2].split(" ")) + " ",
        listed[3].swapcase().replace(" ", ""),
    ]
    frame.loc[frame.index[3], "nama"] = "Desa " + listed[3]  # a real difference

    report = import_boundaries(engine, frame)

    assert [(w.index, w.reason) for w in report.warnings] == [
        (3, f"name {'Desa ' + listed[3]!r} differs from the code list's {listed[3]!r}")
    ]
    assert report.inserted == 4


# ------------------------------------------------------------------------ no code list / sample


def test_villages_without_parents_or_code_list_are_refused(engine, boundaries_dir):
    with pytest.raises(ImportRejected) as caught:
        import_boundaries(engine, boundaries_dir / MALANG_GEOJSON)

    report = caught.value.report
    assert str(caught.value) == "390 of 390 features refused; nothing was imported"
    assert report.rejected == 390 and report.committed is False
    first = report.errors[0]
    assert (first.index, first.feature_id, first.field) == (0, "35.07.01.2001", "kode")
    assert first.reason.startswith("unknown parent code 35.07.01:")
    assert {e.reason.split(":")[0] for e in report.errors} == {
        f"unknown parent code 35.07.{n:02d}" for n in range(1, 34)
    }
    assert len(report.warnings) == 1
    assert report.warnings[0].reason.startswith("no Kemendagri code list in the registry")
    assert count_areas(engine) == {"province": 0, "regency": 0, "district": 0, "village": 0}


def test_sample_region_imports_from_a_dataframe(engine):
    region = sample_region()
    codes = import_code_list(engine, region.code_list)
    report = import_boundaries(engine, region.villages)

    assert (codes.inserted, codes.updated) == (1 + 1 + N_DISTRICTS + N_VILLAGES, 0)
    assert (report.read, report.inserted, report.updated, report.rejected) == (40, 40, 0, 0)
    assert report.derived == {"province": 1, "regency": 1, "district": 4}
    assert report.issues == []
    assert count_areas(engine) == {
        "province": 1,
        "regency": 1,
        "district": N_DISTRICTS,
        "village": N_VILLAGES,
    }
    villages = stored(engine, Village, "name", "source")
    assert set(villages["source"]) == {SAMPLE_SOURCE}
    expected = region.villages.set_index("code")
    assert (villages["name"] == expected["name"].loc[villages.index]).all()
    districts = stored(engine, District, "name")
    code_names = region.code_list.set_index("code")["name"]
    assert (districts["name"] == code_names.loc[districts.index]).all()
    with transaction(engine) as session:
        assert session.scalar(select(func.count()).select_from(AreaCode)) == 46


# --------------------------------------------------------------------------- Jawa Timur (slow)


@pytest.mark.slow
def test_jatim_geopackage_repairs_exactly_the_listed_invalid_villages(
    engine, boundaries_dir, code_list_csv
):
    load_code_list(engine, code_list_csv)
    report = import_boundaries(engine, boundaries_dir / JATIM_GPKG, file_layer="desa_35")

    assert (report.read, report.inserted, report.updated, report.rejected) == (8494, 8494, 0, 0)
    assert report.derived == {"province": 1, "regency": 38, "district": 666}
    assert count_areas(engine) == {"province": 1, "regency": 38, "district": 666, "village": 8494}
    assert {r.feature_id for r in report.repaired} == JATIM_INVALID_VILLAGES
    assert len(report.repaired) == 7
    assert {r.field for r in report.repaired} == {"geometry"}
    assert all(r.reason.startswith("invalid geometry repaired: ") for r in report.repaired)
    notes = stored(engine, Village, "geometry_note")["geometry_note"].dropna()
    assert set(notes.index) == JATIM_INVALID_VILLAGES
    with transaction(engine) as session:
        for model in AREA_MODELS.values():
            valid = select(func.count()).where(func.ST_IsValid(model.boundary) == True)  # noqa: E712
            total = select(func.count()).select_from(model)
            assert session.scalar(valid) == session.scalar(total), model.__tablename__


def test_imported_parents_keep_their_source(engine, boundaries_dir, code_list_csv):
    load_code_list(engine, code_list_csv)
    districts = import_boundaries(engine, boundaries_dir / "kecamatan_35_jawa_timur.geojson")
    regencies = import_boundaries(engine, boundaries_dir / "kabkota_35_jawa_timur.geojson")
    villages = import_boundaries(engine, boundaries_dir / MALANG_GEOJSON)

    assert (districts.inserted, districts.derived) == (666, {"province": 1, "regency": 38})
    assert len(districts.repaired) == 15
    assert (regencies.inserted, regencies.updated, regencies.derived) == (0, 38, {"province": 1})
    assert len(regencies.repaired) == 8
    assert (villages.inserted, villages.derived) == (390, {})
    assert count_areas(engine) == {"province": 1, "regency": 38, "district": 666, "village": 390}
    with transaction(engine) as session:

        def sources(model: type[AdminArea]) -> dict[str, int]:
            return dict(
                session.execute(select(model.source, func.count()).group_by(model.source)).all()
            )

        assert sources(District) == {"file:kecamatan_35_jawa_timur.geojson": 666}
        assert sources(Regency) == {"file:kabkota_35_jawa_timur.geojson": 38}
        assert sources(Province) == {DERIVED: 1}
        assert session.scalar(select(func.min(District.version))) == 1
        assert session.scalar(select(func.max(District.version))) == 1


def test_dissolved_regency_keeps_the_kota_malang_enclave_and_fills_slivers(
    engine, boundaries_dir, code_list_csv
):
    load_code_list(engine, code_list_csv)
    import_boundaries(engine, boundaries_dir / MALANG_GEOJSON)
    regency = stored(engine, Regency).loc["35.07"].geometry
    # filling a sliver swallows a small part that lay inside it: still one valid geometry
    assert shapely.is_valid_reason(regency) == "Valid Geometry"
    holes = [shapely.Polygon(ring) for part in regency.geoms for ring in part.interiors]
    assert len(holes) == 1
    kota_malang = shapely.union_all(
        gpd.read_file(boundaries_dir / "desa_3573_kota_malang.geojson").geometry.values
    )
    # the hole is Kota Malang (about 111 km2), give or take the slivers along its edge
    assert area_km2(holes)[0] == pytest.approx(area_km2([kota_malang])[0], rel=0.01)
    assert holes[0].intersection(kota_malang).area / holes[0].area == pytest.approx(1.0, abs=0.01)


def test_area_km2_equals_the_equal_area_projection(boundaries_dir):
    """The shoelace sum on (longitude, authalic q) is EPSG:6933's area, holes and parts included."""
    villages = gpd.read_file(boundaries_dir / MALANG_GEOJSON).geometry.to_numpy()
    with_hole = shapely.Polygon(
        [(112.0, -7.0), (112.1, -7.0), (112.1, -7.1), (112.0, -7.1)],
        [[(112.02, -7.02), (112.05, -7.02), (112.05, -7.05), (112.02, -7.05)]],
    )
    two_parts = shapely.MultiPolygon([with_hole, shapely.box(113.0, -8.0, 113.01, -7.99)])
    geoms = np.array([*villages, with_hole, two_parts, None, shapely.Polygon()], dtype=object)
    projected = gpd.GeoSeries(geoms, crs=4326).to_crs(6933).area.fillna(0).to_numpy() / 1e6
    measured = area_km2(geoms)
    assert measured[-2:].tolist() == [0.0, 0.0]
    assert np.allclose(measured, projected, rtol=1e-9, atol=0)
    outer, hole = area_km2(
        [shapely.box(112.0, -7.1, 112.1, -7.0), shapely.box(112.02, -7.05, 112.05, -7.02)]
    )
    assert measured[-4] == pytest.approx(outer - hole, rel=1e-12)
    assert measured[-3] - measured[-4] == pytest.approx(projected[-3] - projected[-4], rel=1e-9)
    assert area_km2([]).tolist() == []
