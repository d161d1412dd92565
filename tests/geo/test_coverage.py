"""Coverage by construction on the ridge terrain (:mod:`tests.geo.terrain`), the register's
rules and bad rasters, both backends."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from affine import Affine
from sqlalchemy import Engine, func, select

import geopandas as gpd
import rasterio
import shapely
from shapely.geometry import Point, box

from geo import queries
from geo.coverage.model import ModelParameters
from geo.coverage.rasters import RasterKind, open_raster
from geo.coverage.register import census_class, model_class, reconcile, run_coverage
from geo.errors import CRSProblem, RasterRejected, UnreadableFile
from geo.ingest.census import import_census
from geo.store.db import transaction
from geo.store.models import BlankSpot, CoverageRun, VillageConnectivity
from tests.geo.helpers import add_asset
from tests.geo.terrain import (
    EAST,
    FARWEST,
    HEIGHT,
    ORIGIN,
    RIDGE_COL,
    SHAPES_M,
    SPLIT,
    STEP,
    TOWER,
    UTM,
    WEST,
    WIDTH,
    add_tower,
    build_registry,
    dem,
    population,
    wgs84,
    write_raster,
)


@pytest.fixture
def registry(engine: Engine) -> Engine:
    return build_registry(engine)


def register_of(summary) -> pd.DataFrame:
    return summary.register.set_index("code")


def test_a_ridge_shadows_the_villages_behind_it(registry, tmp_path):
    add_tower(registry)

    summary = run_coverage(registry, dem=dem(tmp_path), output_dir=tmp_path / "out")

    rows = register_of(summary)
    assert summary.towers_modelled == 1
    assert rows.loc[WEST, "covered_area_share"] == pytest.approx(1.0)
    assert rows.loc[WEST, "area_share_4g"] == pytest.approx(1.0)
    assert rows.loc[EAST, "covered_area_share"] == pytest.approx(0.0, abs=1e-9)
    assert (rows.loc[WEST, "model_class"], rows.loc[EAST, "model_class"]) == ("4G", "blank spot")
    assert rows.loc[EAST, "connectivity_class"] == "blank spot"
    assert (rows.loc[EAST, "class_source"], rows.loc[EAST, "confidence"]) == ("model", "medium")


def test_half_a_village_covered_with_all_its_people_in_the_covered_half(registry, tmp_path):
    add_tower(registry)

    summary = run_coverage(
        registry, dem=dem(tmp_path), population=population(tmp_path), output_dir=tmp_path / "o"
    )

    split = register_of(summary).loc[SPLIT]
    assert split["covered_area_share"] == pytest.approx(0.5, abs=1e-9)
    assert split["population"] == pytest.approx(16_500.0, rel=1e-6)
    assert split["population_uncovered"] == pytest.approx(0.0, abs=1e-6)
    assert split["population_4g"] == pytest.approx(16_500.0, rel=1e-6)
    assert split["model_class"] == "4G"  # by people: all of them are covered
    spots = summary.blank_spots.set_index("village_code")
    assert spots.loc[SPLIT, "area_km2"] == pytest.approx((604_560 - 603_030) * 990 / 1e6, rel=1e-6)
    assert spots.loc[SPLIT, "population"] == pytest.approx(0.0, abs=1e-6)
    assert spots.loc[EAST, "area_km2"] == pytest.approx(2_970 * 1_000 / 1e6, rel=1e-6)
    assert WEST not in spots.index


def test_a_sector_pointing_away_covers_nothing_behind_it(registry, tmp_path):
    add_tower(registry, azimuth_deg=90.0, beamwidth_deg=60.0)  # east, +-30 degrees

    summary = run_coverage(registry, dem=dem(tmp_path, ridge=False), output_dir=tmp_path / "o")

    rows = register_of(summary)
    assert rows.loc[FARWEST, "covered_area_share"] == pytest.approx(0.0, abs=1e-9)
    assert rows.loc[EAST, "covered_area_share"] == pytest.approx(1.0)  # within 18 degrees
    wedge = shapely.Polygon(
        [TOWER, (TOWER[0] + 9_000, TOWER[1] + 5_196), (TOWER[0] + 9_000, TOWER[1] - 5_196)]
    )
    expected = SHAPES_M[WEST].intersection(wedge).area / SHAPES_M[WEST].area
    assert rows.loc[WEST, "covered_area_share"] == pytest.approx(expected, abs=0.02)


def test_an_omnidirectional_tower_on_a_plain_covers_within_its_range_only(registry, tmp_path):
    add_tower(registry, technologies="5G")  # 5G reaches 2 km by default

    summary = run_coverage(registry, dem=dem(tmp_path, ridge=False), output_dir=tmp_path / "o")

    rows = register_of(summary)
    assert rows.loc[WEST, "area_share_5g"] == pytest.approx(1.0)  # every corner within 1.6 km
    reach = Point(*TOWER).buffer(2_000, quad_segs=256)
    for code in (FARWEST, EAST):  # 1.53 km to 4.5 km away: the part within 2 km, to a cell
        expected = SHAPES_M[code].intersection(reach).area / SHAPES_M[code].area
        assert rows.loc[code, "covered_area_share"] == pytest.approx(expected, abs=0.02)


def test_planned_towers_are_modelled_only_when_asked(registry, tmp_path):
    add_tower(registry, status="planned")
    path = dem(tmp_path)

    without = run_coverage(registry, dem=path, output_dir=tmp_path / "a")
    with_planned = run_coverage(
        registry, dem=path, params=ModelParameters(include_planned=True), output_dir=tmp_path / "b"
    )

    assert (without.towers_modelled, without.towers_skipped) == (0, {"planned": 1})
    assert register_of(without).loc[WEST, "covered_area_share"] == pytest.approx(0.0, abs=1e-9)
    assert register_of(with_planned).loc[WEST, "covered_area_share"] == pytest.approx(1.0)


def test_the_run_is_stored_with_its_inputs_and_queries_read_the_latest(registry, tmp_path):
    add_tower(registry)
    first = run_coverage(registry, dem=dem(tmp_path), output_dir=tmp_path / "o")
    add_tower(registry, at=(604_500.0, 9_111_500.0))  # east of the ridge
    second = run_coverage(registry, dem=dem(tmp_path), output_dir=tmp_path / "o")

    with transaction(registry) as session:
        latest = queries.connectivity(session).set_index("code")
        earlier = queries.connectivity(session, run=first.run_id).set_index("code")
        runs = queries.coverage_runs(session)
        spots = queries.blank_spot_areas(session)
    assert list(runs["id"]) == [second.run_id, first.run_id]
    [inputs] = json.loads(runs["inputs"][0])
    assert inputs["kind"] == "dem" and inputs["digest"].startswith("sha256:")
    assert inputs["sample"] is None
    assert json.loads(runs["parameters"][0])["range_km"]["4G"] == 10.0
    assert earlier.loc[EAST, "connectivity_class"] == "blank spot"
    assert latest.loc[EAST, "connectivity_class"] == "4G"
    assert set(latest["run_id"]) == {second.run_id}
    assert EAST not in set(spots["village_code"])
    with rasterio.open(second.coverage_path) as tif:
        assert (tif.crs.to_epsg(), tif.dtypes[0], tif.nodata) == (32749, "uint8", 255.0)
        assert tif.profile["tiled"] and tif.profile["compress"] == "deflate"
        assert json.loads(tif.tags()["PETADESA_LEGEND"])["3"] == "4G"


def test_census_disagreement_is_recorded_and_fibre_wins(registry, tmp_path):
    add_tower(registry)
    with transaction(registry) as session:
        add_asset(session, "fibre_node", wgs84(Point(605_000, 9_111_500)), village_code=EAST)
    census = pd.DataFrame(
        {"kode_kemendagri": [WEST, SPLIT], "R1005C": ["4", "1"], "R1005D": ["4", "1"]}
    )
    census.attrs["label"] = "podes2024_test.csv"
    import_census(registry, census)

    rows = register_of(run_coverage(registry, dem=dem(tmp_path), output_dir=tmp_path / "o"))

    west = rows.loc[WEST]
    assert (west["connectivity_class"], west["class_source"], west["confidence"]) == (
        "blank spot",
        "census",
        "low",
    )
    assert west["disagreement"] == "census (PODES 2024) says blank spot; the model says 4G"
    assert (rows.loc[SPLIT, "connectivity_class"], rows.loc[SPLIT, "class_source"]) == (
        "4G",
        "census+model",
    )
    assert rows.loc[SPLIT, "confidence"] == "high"
    assert (rows.loc[EAST, "connectivity_class"], rows.loc[EAST, "has_fibre"]) == ("fibre", True)


def test_distances_from_the_village_office(registry, tmp_path):
    add_tower(registry)
    with transaction(registry) as session:
        add_asset(
            session,
            "facility",
            wgs84(Point(600_500, 9_111_500)),
            village_code=WEST,
            facility_type="Kantor Kepala Desa",
        )
        add_asset(session, "fibre_node", wgs84(Point(600_500, 9_112_500)), village_code=None)

    rows = register_of(run_coverage(registry, dem=dem(tmp_path), output_dir=tmp_path / "o"))

    assert rows.loc[WEST, "office_source"] == "facility"
    assert rows.loc[WEST, "office_to_tower_m"] == pytest.approx(1_000.0, abs=0.5)
    assert rows.loc[WEST, "office_to_fibre_m"] == pytest.approx(1_000.0, abs=0.5)
    assert rows.loc[EAST, "office_source"] == "label point"


@pytest.mark.parametrize(
    ("census", "model", "fibre", "expected"),
    [
        (None, None, False, ("unknown", "none", "none", None)),
        ("4G", None, False, ("4G", "census", "medium", None)),
        (None, "3G only", False, ("3G only", "model", "medium", None)),
        ("2G only", "2G only", False, ("2G only", "census+model", "high", None)),
        (
            "4G",
            "blank spot",
            False,
            ("4G", "census", "low", "census (PODES 2024) says 4G; the model says blank spot"),
        ),
        (
            "blank spot",
            "4G",
            True,
            (
                "fibre",
                "fibre network",
                "high",
                "census (PODES 2024) says blank spot; the model says 4G",
            ),
        ),
    ],
)
def test_reconcile_rules(census, model, fibre, expected):
    decided = reconcile(census, model, fibre, sample=False, survey="PODES 2024")
    assert tuple(decided.values()) == expected


def test_a_model_on_sample_inputs_is_of_low_confidence():
    assert reconcile(None, "4G", False, sample=True, survey=None)["confidence"] == "low"


def test_census_and_model_classes():
    assert census_class("very_strong", "4G") == "4G"
    assert census_class("weak", "2G") == "2G only"
    assert census_class("none", "4G") == "blank spot"
    assert census_class("strong", "none") == "blank spot"
    assert census_class(None, None) is None
    assert model_class({1: 0.1, 2: 0.0, 3: 0.45, 4: 0.05}) == "4G"  # 4G or better reaches half
    assert model_class({1: 0.3, 2: 0.5, 3: 0.0, 4: 0.0}) == "3G only"
    assert model_class({1: 0.3, 2: 0.25, 3: 0.0, 4: 0.0}) == "2G only"
    assert model_class({1: 0.2, 2: 0.1, 3: 0.1, 4: 0.0}) == "blank spot"
    assert model_class({1: float("nan"), 2: 0, 3: 0, 4: 0}) is None


# ------------------------------------------------------------------------------ bad rasters

REGION = wgs84(box(600_000, 9_109_000, 606_000, 9_113_000)).bounds  # inside the test rasters


def test_a_raster_without_crs_is_refused(tmp_path):
    path = write_raster(tmp_path / "nocrs.tif", np.ones((10, 10), np.float32), crs=None)
    with pytest.raises(
        CRSProblem, match=r"nocrs.tif has no CRS: say which it is with gdal_edit.py"
    ):
        open_raster(path, "dem", REGION)


def test_a_raster_far_from_the_region_is_refused(tmp_path):
    far = Affine(STEP, 0, 300_000, 0, -STEP, 9_000_000)
    path = write_raster(tmp_path / "far.tif", np.ones((10, 10), np.float32), transform=far)
    with pytest.raises(RasterRejected, match=r"far.tif does not overlap the region: it covers lon"):
        open_raster(path, "dem", REGION)


def test_a_raster_of_nodata_is_refused(tmp_path):
    path = write_raster(
        tmp_path / "empty.tif", np.full((HEIGHT, WIDTH), -9999.0, np.float32), nodata=-9999.0
    )
    with pytest.raises(RasterRejected, match=r"empty.tif holds only nodata over the region"):
        open_raster(path, "population", REGION)


def test_negative_population_counts_are_refused(tmp_path):
    people = np.zeros((HEIGHT, WIDTH), np.float32)
    people[120, 180] = -5.0
    path = write_raster(tmp_path / "people.tif", people)
    with pytest.raises(RasterRejected, match=r"negative counts \(lowest -5\)"):
        open_raster(path, RasterKind.POPULATION, REGION)


def test_a_dem_with_impossible_heights_is_refused(tmp_path):
    heights = np.full((HEIGHT, WIDTH), 32_767.0, np.float32)  # nodata never declared
    path = write_raster(tmp_path / "srtm.tif", heights)
    with pytest.raises(RasterRejected, match=r"srtm.tif is not a DEM in metres: heights 32767"):
        open_raster(path, "dem", REGION)


def test_a_file_that_is_not_a_raster_is_refused(tmp_path):
    path = tmp_path / "dem.tif"
    path.write_text("not a raster")
    with pytest.raises(UnreadableFile, match=r"dem.tif: not a raster GDAL can read"):
        open_raster(path, "dem", REGION)


def test_a_refused_raster_writes_nothing(registry, tmp_path):
    add_tower(registry)
    people = np.full((HEIGHT, WIDTH), -1.0, np.float32)
    bad = write_raster(tmp_path / "bad_people.tif", people)

    with pytest.raises(RasterRejected, match="negative counts"):
        run_coverage(registry, dem=dem(tmp_path), population=bad, output_dir=tmp_path / "o")

    with transaction(registry) as session:
        for model in (CoverageRun, VillageConnectivity, BlankSpot):
            assert session.execute(select(func.count()).select_from(model)).scalar_one() == 0
    assert not (tmp_path / "o").exists()


def test_kota_batu_by_its_census_alone_is_4g_everywhere_and_nowhere_blank(engine, shared_data):
    from geo.ingest.boundaries import import_boundaries, import_code_list  # noqa: PLC0415

    import_code_list(engine, shared_data / "cahyadsn_wilayah" / "kode_wilayah.csv", prefix="35")
    import_boundaries(
        engine, shared_data / "cahyadsn_wilayah_boundaries" / "desa_3579_kota_batu.geojson"
    )
    import_census(
        engine, shared_data / "podes2024_kota_batu" / "podes2024_3579_desa_telekom_produk.csv"
    )

    summary = run_coverage(engine, dem=None, regency="35.79")

    rows = summary.register
    assert (len(rows), summary.coverage_path, summary.towers_modelled) == (24, None, 0)
    assert rows["connectivity_class"].value_counts().to_dict() == {"4G": 24}
    assert set(rows["class_source"]) == {"census"} and set(rows["confidence"]) == {"medium"}
    assert set(rows["office_source"]) == {"census"}  # the surveyed village-office points
    assert rows["covered_area_share"].isna().all()
    with transaction(engine) as session:
        stored = queries.connectivity(session, regency="35.79")
        runs = queries.coverage_runs(session)
    assert stored["connectivity_class"].tolist() == ["4G"] * 24
    assert runs["method"].tolist() == ["census, speed tests and fibre (no DEM)"]


def test_a_diff_between_runs_lists_what_changed_per_village(registry, tmp_path):
    from geo.coverage.register import compare_runs  # noqa: PLC0415

    add_tower(registry)
    first = run_coverage(registry, dem=dem(tmp_path), output_dir=tmp_path / "o")
    add_tower(registry, at=(604_500.0, 9_111_500.0))
    second = run_coverage(registry, dem=dem(tmp_path), output_dir=tmp_path / "o")
    with transaction(registry) as session:
        changes = compare_runs(
            queries.connectivity(session, run=first.run_id),
            queries.connectivity(session, run=second.run_id),
        )

    classes = changes[changes["field"] == "connectivity_class"]
    assert classes[["code", "before", "after"]].values.tolist() == [[EAST, "blank spot", "4G"]]
    shares = changes[changes["field"] == "covered_area_share"].set_index("code")
    assert sorted(shares.index) == [EAST, SPLIT]
    assert shares.loc[SPLIT, "before"] == pytest.approx(0.5)
    assert shares.loc[SPLIT, "after"] == pytest.approx(1.0)
    assert set(changes.loc[changes["code"] == WEST, "field"]) <= {"office_to_tower_m"}
    assert compare_runs(
        queries_connectivity(registry, first.run_id), queries_connectivity(registry, first.run_id)
    ).empty


def queries_connectivity(engine, run):
    with transaction(engine) as session:
        return queries.connectivity(session, run=run)


def test_destinations_and_products_in_blank_spots_and_villages_by_need(registry, tmp_path):
    add_tower(registry)
    with transaction(registry) as session:
        add_asset(session, "destination", wgs84(Point(605_000, 9_111_500)), village_code=EAST)
        add_asset(session, "destination", wgs84(Point(601_000, 9_111_500)), village_code=WEST)
        add_asset(session, "product_site", wgs84(Point(604_000, 9_110_500)), village_code=SPLIT)
    run_coverage(registry, dem=dem(tmp_path), population=population(tmp_path), output_dir=tmp_path)

    with transaction(registry) as session:
        destinations = queries.assets_in_blank_spots(session, "destination")
        products = queries.assets_in_blank_spots(session, "product_site")
        ranked = queries.villages_by_need(session)

    assert destinations[["village_code", "blank_spot_village"]].values.tolist() == [[EAST, EAST]]
    assert products[["village_code", "blank_spot_village"]].values.tolist() == [[SPLIT, SPLIT]]
    top = ranked.set_index("code")
    assert top.loc[EAST, ["destinations", "destinations_in_blank_spots"]].tolist() == [1, 1]
    assert top.loc[WEST, ["destinations", "destinations_in_blank_spots"]].tolist() == [1, 0]
    assert top.loc[SPLIT, "product_sites_in_blank_spots"] == 1
    assert ranked["code"].tolist()[:2] == [EAST, SPLIT]  # nobody uncovered: by what is affected


def test_the_earth_curves_away_beyond_the_radio_horizon():
    from rasterio.crs import CRS  # noqa: PLC0415

    from geo.coverage.grid import Grid  # noqa: PLC0415
    from geo.coverage.model import model_coverage  # noqa: PLC0415

    grid = Grid(CRS.from_epsg(32749), Affine(50, 0, 550_000, 0, -50, 9_150_000), 1200, 3)
    plain = np.full(grid.shape, 10.0, np.float32)  # 60 km of flat coast
    tower = gpd.GeoDataFrame(
        {"technologies": ["2G"], "height_m": [30.0], "range_km": [60.0]},
        geometry=[Point(550_025, 9_149_925)],
        crs=UTM,
    )

    best = model_coverage(plain, grid, tower).best

    reached = np.flatnonzero(best[1] > 0).max() * 50.0
    # 4/3 earth radius: sqrt(2 R h) for a 30 m mast and a 1.5 m phone, 22.6 + 5.0 km
    horizon = (2 * 6_371_000 / 0.75 * 30) ** 0.5 + (2 * 6_371_000 / 0.75 * 1.5) ** 0.5
    assert reached == pytest.approx(horizon, abs=150)


def test_a_village_off_the_dem_is_unknown_not_covered_or_uncovered(registry, tmp_path):
    add_tower(registry)
    heights = np.full((HEIGHT, WIDTH - 100), 100.0, np.float32)  # starts at x 600,000: no FARWEST
    heights[:, RIDGE_COL - 100] = 400.0
    path = write_raster(
        tmp_path / "cropped.tif",
        heights,
        nodata=-9999.0,
        transform=Affine(STEP, 0, ORIGIN[0] + 3_000, 0, -STEP, ORIGIN[1]),
    )
    people = np.full((HEIGHT, WIDTH), 1.0, np.float32)
    people_path = write_raster(tmp_path / "people_all.tif", people, nodata=-1.0)

    rows = register_of(
        run_coverage(registry, dem=path, population=people_path, output_dir=tmp_path / "o")
    )

    farwest = rows.loc[FARWEST]
    assert np.isnan(farwest["covered_area_share"]) and np.isnan(farwest["population_uncovered"])
    assert farwest["population"] == pytest.approx(2_940 * 1_000 / 900, rel=1e-3)
    assert pd.isna(farwest["model_class"]) and farwest["connectivity_class"] == "unknown"
    assert rows.loc[WEST, "population_uncovered"] == pytest.approx(0.0, abs=1e-6)


def test_a_run_that_fails_when_storing_leaves_no_file_and_no_row(registry, tmp_path, monkeypatch):
    import geo.coverage.register as register  # noqa: PLC0415

    add_tower(registry)

    def broken(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(register, "_store", broken)
    with pytest.raises(RuntimeError, match="disk full"):
        run_coverage(registry, dem=dem(tmp_path), output_dir=tmp_path / "o")

    assert list((tmp_path / "o").iterdir()) == []
    with transaction(registry) as session:
        assert session.execute(select(func.count()).select_from(CoverageRun)).scalar_one() == 0
