"""Importing asset layers and linking them to villages, on real and sample data, both backends."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from sqlalchemy import Engine, event, func, select

import geopandas as gpd
import shapely

from geo.errors import CRSProblem, ImportRejected
from geo.ingest.assets import import_assets
from geo.ingest.boundaries import count_areas, import_boundaries, import_code_list
from geo.samples import SAMPLE_SOURCE, sample_assets, sample_region
from geo.store.db import transaction
from geo.store.models import ASSET_LAYERS, Asset, Destination, Facility, Tower, Village

PODES_CSV = "podes2024_kota_batu/podes2024_3579_desa_telekom_produk.csv"
DAMPIT_GEOJSON = "wisatadampit2021/wisata_dampit_kab_malang.geojson"
DAMPIT_SOURCE = "wisatadampit2021"
DAMPIT_VILLAGES = {
    "Coban Tombhu": "35.07.05.2001",
    "Coban Kincir": "35.07.05.2001",
    "Coban Pletes": "35.07.05.2001",
    "Coban Pandawa": "35.07.05.2001",
    "Waduk Kaliungkal": "35.07.05.2001",
    "Kampung Bunga Grangsil": "35.07.05.2012",
    "Kampung Banyu River Tubing": "35.07.05.2008",
    # Addressed to "Desa Polaman" / "Desa Sumberkembar", hamlets in Kelurahan Dampit.
    "Pemandian Riung Gunung": "35.07.05.1007",
    "Tubing X-Tempur": "35.07.05.1007",
}
SAMPLE_COUNTS = {
    "tower": 16,
    "fibre_route": 3,
    "fibre_node": 11,
    "hotspot": 8,
    "destination": 20,
    "product_site": 24,
    "facility": 70,
}
NO_LINK_PROBLEMS = {"outside": [], "mismatched": []}


# ------------------------------------------------------------------------------------ helpers


def load_boundaries(engine: Engine, shared_data: Path, file_name: str) -> None:
    import_code_list(engine, shared_data / "cahyadsn_wilayah" / "kode_wilayah.csv", prefix="35")
    import_boundaries(engine, shared_data / "cahyadsn_wilayah_boundaries" / file_name)


def load_sample_region(engine: Engine) -> gpd.GeoDataFrame:
    region = sample_region()
    import_code_list(engine, region.code_list)
    import_boundaries(engine, region.villages)
    return region.villages


def assets(engine: Engine, model: type[Asset]) -> gpd.GeoDataFrame:
    """Every row of one asset layer (geometry as shapely), in id order."""
    columns = [c for c in model.__table__.columns if c.name != "geom"]
    stmt = select(*columns, func.ST_AsBinary(model.geom).label("wkb")).order_by(model.id)
    with transaction(engine) as session:
        rows = session.execute(stmt).mappings().all()
    frame = pd.DataFrame(
        [{k: v for k, v in r.items() if k != "wkb"} for r in rows],
        columns=[c.name for c in columns],
    )
    return gpd.GeoDataFrame(
        frame, geometry=shapely.from_wkb([bytes(r["wkb"]) for r in rows]), crs=4326
    )


def village_names(engine: Engine) -> dict[str, str]:
    with transaction(engine) as session:
        return dict(session.execute(select(Village.code, Village.name)).all())


def table_counts(engine: Engine) -> dict[str, int]:
    """Rows of every registry table: the four area levels and each asset layer."""
    counts = count_areas(engine)
    with transaction(engine) as session:
        for name, info in ASSET_LAYERS.items():
            counts[name] = session.scalar(select(func.count()).select_from(info.model))
    return counts


def link_counts(report, layer: str) -> dict[str, int]:
    return report.link["layers"][layer]


# ------------------------------------------------------------------- Kota Batu village offices


def test_batu_village_offices_link_to_the_census_village(engine, shared_data):
    load_boundaries(engine, shared_data, "desa_3579_kota_batu.geojson")
    census = pd.read_csv(shared_data / PODES_CSV, dtype=str)

    report = import_assets(
        engine, "facility", shared_data / PODES_CSV, defaults={"facility_type": "village_office"}
    )

    assert (report.read, report.inserted, report.updated, report.unchanged, report.rejected) == (
        24,
        24,
        0,
        0,
        0,
    )
    assert report.errors == [] and report.repaired == []
    assert [w.reason.split(":")[0] for w in report.warnings] == [
        "CSV coordinates are read as WGS 84 longitude/latitude; no CRS named",
        "columns not stored (no matching layer column)",
    ]
    assert link_counts(report, "facility") == {
        "total": 24,
        "linked": 24,
        "changed": 24,
        "unlinked": 0,
        "mismatched": 0,
    }
    assert {k: report.link[k] for k in NO_LINK_PROBLEMS} == NO_LINK_PROBLEMS
    rows = assets(engine, Facility)
    assert len(rows) == 24
    assert (rows["village_code"] == rows["claimed_village_code"]).all()
    assert sorted(rows["claimed_village_code"]) == sorted(census["kode_kemendagri"])
    assert sorted(rows["name"]) == sorted(census["NAMA_DESA"])
    assert set(rows["facility_type"]) == {"village_office"}
    assert set(rows["source"]) == {"file:podes2024_3579_desa_telekom_produk.csv"}
    assert set(rows["version"]) == {1}
    expected = shapely.points(
        census["kantor_desa_lon"].astype(float), census["kantor_desa_lat"].astype(float)
    )
    by_name = dict(zip(census["NAMA_DESA"], expected, strict=True))
    assert all(
        shapely.equals(geom, by_name[name])
        for name, geom in zip(rows["name"], rows.geometry, strict=True)
    )


# -------------------------------------------------------------------- Dampit tourist points


def import_dampit(engine: Engine, path: Path):
    return import_assets(engine, "destination", path, source_name=DAMPIT_SOURCE)


def test_dampit_destinations_link_as_documented(engine, shared_data):
    load_boundaries(engine, shared_data, "desa_3507_kab_malang.geojson")
    points = gpd.read_file(shared_data / DAMPIT_GEOJSON)

    report = import_dampit(engine, shared_data / DAMPIT_GEOJSON)

    assert (report.read, report.inserted, report.updated, report.rejected) == (9, 9, 0, 0)
    assert link_counts(report, "destination") == {
        "total": 9,
        "linked": 9,
        "changed": 9,
        "unlinked": 0,
        "mismatched": 0,
    }
    rows = assets(engine, Destination)
    assert dict(zip(rows["name"], rows["village_code"], strict=True)) == DAMPIT_VILLAGES
    assert rows["claimed_village_code"].isna().all()
    names = village_names(engine)
    address = dict(zip(points["name"], points["desa_in_address"], strict=True))
    in_named_village = [n for n, code in DAMPIT_VILLAGES.items() if names[code] == address[n]]
    assert len(in_named_village) == 7
    assert names["35.07.05.1007"] == "Dampit"
    assert set(DAMPIT_VILLAGES) - set(in_named_village) == {
        "Pemandian Riung Gunung",
        "Tubing X-Tempur",
    }
    assert (
        rows["description"] == points.set_index("name")["address"].loc[rows["name"]].values
    ).all()
    assert set(rows["version"]) == {1}


def test_reimport_changes_nothing(engine, shared_data):
    load_boundaries(engine, shared_data, "desa_3507_kab_malang.geojson")
    import_dampit(engine, shared_data / DAMPIT_GEOJSON)
    before = assets(engine, Destination)

    again = import_dampit(engine, shared_data / DAMPIT_GEOJSON)

    assert (again.inserted, again.updated, again.unchanged, again.rejected) == (0, 0, 9, 0)
    assert link_counts(again, "destination")["changed"] == 0
    after = assets(engine, Destination)
    assert set(after["version"]) == {1}
    pd.testing.assert_frame_equal(
        pd.DataFrame(after.drop(columns="geometry")), pd.DataFrame(before.drop(columns="geometry"))
    )


def test_changed_attribute_updates_exactly_that_row(engine, shared_data, tmp_path):
    load_boundaries(engine, shared_data, "desa_3507_kab_malang.geojson")
    import_dampit(engine, shared_data / DAMPIT_GEOJSON)
    before = assets(engine, Destination).set_index("name")
    edited = gpd.read_file(shared_data / DAMPIT_GEOJSON)
    edited.loc[edited["name"] == "Coban Kincir", "address"] = "Dusun Krajan, Desa Sukodono"
    edited.to_file(tmp_path / "wisata_dampit_edited.geojson")

    report = import_dampit(engine, tmp_path / "wisata_dampit_edited.geojson")

    assert (report.inserted, report.updated, report.unchanged, report.rejected) == (0, 1, 8, 0)
    after = assets(engine, Destination).set_index("name")
    assert after.loc["Coban Kincir", "description"] == "Dusun Krajan, Desa Sukodono"
    assert after.loc["Coban Kincir", "version"] == 2
    assert after.loc["Coban Kincir", "village_code"] == "35.07.05.2001"
    others = after.drop(index="Coban Kincir")
    assert set(others["version"]) == {1}
    assert (others["updated_at"] == before.drop(index="Coban Kincir")["updated_at"]).all()


def test_moved_asset_is_relinked_in_one_version(engine):
    villages = load_sample_region(engine)
    towers = sample_assets(villages)["tower"]
    import_assets(engine, "tower", towers)
    target = villages.set_index("code").geometry
    moved = towers.copy()
    old_code = moved.loc[0, "claimed_village_code"]
    new_code = next(c for c in sorted(target.index) if c != old_code)
    moved.loc[0, "geometry"] = target[new_code].representative_point()
    moved.loc[0, "claimed_village_code"] = new_code

    report = import_assets(engine, "tower", moved)

    assert (report.inserted, report.updated, report.unchanged) == (0, 1, 15)
    assert link_counts(report, "tower") == {
        "total": 1,
        "linked": 1,
        "changed": 1,
        "unlinked": 0,
        "mismatched": 0,
    }
    rows = assets(engine, Tower).set_index("source_id")
    assert rows.loc["sample-tower-0001", "village_code"] == new_code
    assert rows.loc["sample-tower-0001", "version"] == 2
    assert set(rows.drop(index="sample-tower-0001")["version"]) == {1}


# --------------------------------------------------------------------------------- sample data


def test_sample_assets_import_for_every_layer(engine):
    villages = load_sample_region(engine)
    layers = sample_assets(villages)

    reports = {layer: import_assets(engine, layer, frame) for layer, frame in layers.items()}

    assert {layer: r.inserted for layer, r in reports.items()} == SAMPLE_COUNTS
    assert all(r.issues == [] for r in reports.values())
    assert {layer: link_counts(r, layer)["linked"] for layer, r in reports.items()} == SAMPLE_COUNTS
    assert {
        layer: link_counts(r, layer)["mismatched"] for layer, r in reports.items()
    } == dict.fromkeys(SAMPLE_COUNTS, 0)
    counts = table_counts(engine)
    assert {layer: counts[layer] for layer in SAMPLE_COUNTS} == SAMPLE_COUNTS
    for layer, info in ASSET_LAYERS.items():
        rows = assets(engine, info.model)
        assert set(rows["source"]) == {SAMPLE_SOURCE}, layer
        assert set(rows["version"]) == {1}, layer
        assert list(rows["source_id"]) == list(layers[layer]["source_id"]), layer
        claimed = rows["claimed_village_code"].notna()
        assert (
            rows.loc[claimed, "village_code"] == rows.loc[claimed, "claimed_village_code"]
        ).all()
        assert claimed.sum() == (0 if layer == "fibre_route" else SAMPLE_COUNTS[layer]), layer

    again = {layer: import_assets(engine, layer, frame) for layer, frame in layers.items()}
    assert {layer: (r.inserted, r.updated, r.unchanged) for layer, r in again.items()} == {
        layer: (0, 0, n) for layer, n in SAMPLE_COUNTS.items()
    }


# ------------------------------------------------------------------------------- refusals


def test_csv_with_swapped_lat_lon_is_refused(engine, shared_data, tmp_path):
    load_boundaries(engine, shared_data, "desa_3579_kota_batu.geojson")
    census = pd.read_csv(shared_data / PODES_CSV, dtype=str)
    swapped = census.rename(
        columns={"kantor_desa_lat": "kantor_desa_lon", "kantor_desa_lon": "kantor_desa_lat"}
    )
    swapped.to_csv(tmp_path / "offices_swapped.csv", index=False)
    before = table_counts(engine)

    with pytest.raises(CRSProblem) as caught:
        import_assets(engine, "facility", tmp_path / "offices_swapped.csv")

    assert "look like latitude/longitude in swapped order" in str(caught.value)
    assert "x holds latitudes, y holds longitudes" in str(caught.value)
    assert table_counts(engine) == before


def test_type_errors_name_the_feature_and_the_field(engine, tmp_path):
    villages = load_sample_region(engine)
    towers = sample_assets(villages)["tower"].head(5).astype({"height_m": object})
    towers.loc[2, "height_m"] = "tinggi"
    towers.loc[3, "technologies"] = "4G,6G"
    towers.loc[4, "status"] = "rusak"
    towers.to_file(tmp_path / "towers_bad_types.geojson")
    before = table_counts(engine)

    with pytest.raises(ImportRejected) as caught:
        import_assets(engine, "tower", tmp_path / "towers_bad_types.geojson")

    report = caught.value.report
    assert str(caught.value) == "3 of 5 features refused; nothing was imported"
    found = {(e.index, e.field, e.feature_id): e.reason for e in report.errors}
    assert set(found) == {
        (2, "height_m", "sample-tower-0003"),
        (3, "technologies", "sample-tower-0004"),
        (4, "status", "sample-tower-0005"),
    }
    assert (
        "could not convert string to float: 'tinggi'" in found[(2, "height_m", "sample-tower-0003")]
    )
    assert (
        found[(3, "technologies", "sample-tower-0004")]
        == "unknown technology 6G; use 2G, 3G, 4G, 5G"
    )
    assert (
        found[(4, "status", "sample-tower-0005")] == "status 'rusak' is not one of planned, on-air"
    )
    assert report.committed is False
    assert table_counts(engine) == before


def test_every_row_with_a_repeated_bad_value_is_refused_and_good_repeats_are_typed(
    engine, tmp_path
):
    """Values are converted once per distinct value; errors still go to every row having one."""
    villages = load_sample_region(engine)
    towers = sample_assets(villages)["tower"].head(6)
    towers["technologies"] = ["6G", "lte", "6G", "LTE", "lte", "6G"]
    towers["status"] = ["aktif", "aktif", "on air", "rencana", "aktif", "aktif"]
    towers.to_file(tmp_path / "towers_repeats.geojson")

    with pytest.raises(ImportRejected) as caught:
        import_assets(engine, "tower", tmp_path / "towers_repeats.geojson")

    report = caught.value.report
    assert [(e.index, e.field) for e in report.errors] == [
        (0, "technologies"),
        (2, "technologies"),
        (5, "technologies"),
    ]
    report = import_assets(engine, "tower", towers.iloc[[1, 3, 4]].copy())
    with transaction(engine) as session:
        stored = session.execute(
            select(Tower.technologies, Tower.status).order_by(Tower.source_id)
        ).all()
    assert report.inserted == 3
    assert stored == [("4G", "on-air"), ("4G", "planned"), ("4G", "on-air")]


def test_thousands_of_new_towers_are_found_again_in_one_query(engine):
    """Upsert keys are looked up in one statement on PostGIS (two arrays joined), not a list
    of row values PostgreSQL compares with every row: re-reading 200,000 new towers took 7
    minutes that way. Re-importing the same file then changes nothing."""
    villages = load_sample_region(engine)
    points = shapely.points(
        shapely.get_coordinates(villages.geometry.sample_points(125, rng=7).explode())
    )
    frame = gpd.GeoDataFrame(
        {"id": [f"bts-{i}" for i in range(len(points))], "operator": "Telkomsel"},
        geometry=points,
        crs=4326,
    )
    assert len(frame) == 5000
    statements: list[str] = []

    def count(_conn, _cursor, statement, *_args) -> None:  # noqa: ANN001
        if "FROM tower" in statement and "source_id" in statement:
            statements.append(statement)

    event.listen(engine, "before_cursor_execute", count)
    try:
        first = import_assets(engine, "tower", frame, source_name="operator-list")
        second = import_assets(engine, "tower", frame, source_name="operator-list")
    finally:
        event.remove(engine, "before_cursor_execute", count)

    assert (first.inserted, first.updated, first.unchanged) == (5000, 0, 0)
    assert (second.inserted, second.updated, second.unchanged) == (0, 0, 5000)
    assert first.link["layers"]["tower"]["total"] == 5000
    # The first load looks up no key (the layer is empty) and links the whole layer; the
    # second looks up the 5,000 existing rows and writes none: on the GeoPackage 2,000 keys
    # per IN list, so 3 statements for 5,000 keys.
    assert len(statements) == (1 if engine.dialect.name == "postgresql" else 3)
