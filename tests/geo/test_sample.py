import datetime as dt
import itertools
import math
import re

import pandas as pd
import pytest

import geopandas as gpd
import shapely
from geopandas.testing import assert_geodataframe_equal

from geo.codes import kind_of, level_of, normalize_code, parent_of
from geo.errors import CRSProblem
from geo.ingest.sources.codelist import CODE_LIST_COLUMNS
from geo.samples import sample_assets, sample_region
from geo.store.models import ASSET_LAYERS

VILLAGE_CODE = re.compile(r"^99\.01\.0[1-4]\.[12]\d{3}$")
NOT_IN_A_FILE = {"id", "created_at", "updated_at", "version", "village_code", "geom"}
"""Model columns the registry fills itself (``geom`` is ``geometry`` in a GeoDataFrame)."""


def expected_counts(n: int) -> dict[str, int]:
    """The documented rule of sample_assets, for n villages."""
    reached = n // 4
    return {
        "tower": 2 * n // 5,
        "fibre_route": max(1, math.isqrt(reached)),
        "fibre_node": 1 + reached,
        "hotspot": n // 5,
        "destination": n // 2,
        "product_site": 3 * n // 5,
        "facility": n + n // 2 + n // 4,
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
MALANG_COUNTS = {
    "tower": 156,
    "fibre_route": 9,
    "fibre_node": 98,
    "hotspot": 78,
    "destination": 195,
    "product_site": 234,
    "facility": 682,
}


@pytest.fixture(scope="module")
def region():
    return sample_region(7)


@pytest.fixture(scope="module")
def assets(region):
    return sample_assets(region.villages, 7)


@pytest.fixture(scope="module")
def malang(shared_data):
    path = shared_data / "cahyadsn_wilayah_boundaries" / "desa_3507_kab_malang.geojson"
    frame = gpd.read_file(path)[["kode", "nama", "geometry"]]
    return frame.rename(columns={"kode": "code", "nama": "name"})


# ----------------------------------------------------------------------------------- region --


def test_region_same_seed_same_output(region):
    again = sample_region(7)
    assert_geodataframe_equal(region.villages, again.villages)
    pd.testing.assert_frame_equal(region.code_list, again.code_list)
    assert region.outline.equals_exact(again.outline, 0.0)


def test_region_other_seed_differs(region):
    other = sample_region(8)
    with pytest.raises(AssertionError):
        assert_geodataframe_equal(region.villages, other.villages)
    assert not region.villages.geometry.geom_equals(other.villages.geometry).any()
    assert not region.outline.equals(other.outline)


def test_code_list_hierarchy(region):
    codes = region.code_list
    assert list(codes.columns) == list(CODE_LIST_COLUMNS)
    assert len(codes) == 46
    assert codes["code"].is_unique
    assert codes["level"].value_counts().to_dict() == {
        "village": 40,
        "district": 4,
        "regency": 1,
        "province": 1,
    }
    assert codes["kind"].value_counts().to_dict() == {
        "desa": 37,
        "kecamatan": 4,
        "kelurahan": 3,
        "kabupaten": 1,
        "provinsi": 1,
    }
    names = dict(zip(codes["code"], codes["name"], strict=True))
    assert names["99"] == "Provinsi Contoh (sampel)"
    assert names["99.01"] == "Kabupaten Contoh (sampel)"
    assert [names[f"99.01.0{i}"] for i in range(1, 5)] == [
        "Kecamatan Sampel Satu",
        "Kecamatan Sampel Dua",
        "Kecamatan Sampel Tiga",
        "Kecamatan Sampel Empat",
    ]
    for row in codes.itertuples():
        assert normalize_code(row.code) == row.code
        assert level_of(row.code) == row.level
        assert kind_of(row.code) == row.kind
        assert (row.parent_code if row.code != "99" else None) == parent_of(row.code)
    assert set(codes["parent_code"].dropna()) <= set(codes["code"])


def test_villages_codes_and_names(region):
    villages, codes = region.villages, region.code_list
    assert list(villages.columns) == ["code", "name", "source", "geometry"]
    assert len(villages) == 40
    assert villages["code"].is_unique
    assert all(VILLAGE_CODE.match(code) for code in villages["code"])
    assert (villages["code"].str[9] == "1").sum() == 3
    listed = codes[codes["level"] == "village"].set_index("code")["name"]
    assert villages.set_index("code")["name"].sort_index().equals(listed.sort_index())
    districts = set(codes.loc[codes["level"] == "district", "code"])
    assert {parent_of(code) for code in villages["code"]} == districts
    assert villages["name"].is_unique
    assert villages["name"].str.endswith(" (sampel)").all()
    assert (villages["source"] == "sample").all()


def test_village_geometry_partitions_the_regency(region):
    villages = region.villages
    assert villages.crs == "EPSG:4326"
    assert (villages.geom_type == "MultiPolygon").all()
    assert villages.is_valid.all()
    overlap = sum(a.intersection(b).area for a, b in itertools.combinations(villages.geometry, 2))
    assert overlap < 1e-9
    union = shapely.union_all(villages.geometry.values)
    assert union.area == pytest.approx(region.outline.area, rel=1e-12)
    assert union.symmetric_difference(region.outline).area < 1e-12
    minx, miny, maxx, maxy = villages.total_bounds
    assert 112.0 < minx < maxx < 112.4
    assert -7.9 < miny < maxy < -7.6


def test_exactly_one_village_has_two_parts(region):
    parts = shapely.get_num_geometries(region.villages.geometry.values)
    assert sorted(parts.tolist()) == [1] * 39 + [2]


def test_districts_are_contiguous(region):
    villages = region.villages.assign(district=region.villages["code"].str[:8])
    island_district = villages.loc[
        shapely.get_num_geometries(villages.geometry.values) == 2, "district"
    ].item()
    districts = villages.dissolve("district")
    parts = dict(
        zip(districts.index, shapely.get_num_geometries(districts.geometry.values), strict=True)
    )
    assert parts == {d: 2 if d == island_district else 1 for d in districts.index}


# ----------------------------------------------------------------------------------- assets --


def check_layers(assets, villages):
    """What every sample asset set must satisfy, whatever the villages."""
    assert list(assets) == list(ASSET_LAYERS)
    by_code = villages.set_index("code").geometry
    for layer, frame in assets.items():
        model = ASSET_LAYERS[layer].model
        expected = set(model.__table__.columns.keys()) - NOT_IN_A_FILE | {"geometry"}
        assert set(frame.columns) == expected, layer
        assert frame.crs == "EPSG:4326"
        geometry_type = {"POINT": "Point", "MULTILINESTRING": "MultiLineString"}
        assert (frame.geom_type == geometry_type[model.geometry_type]).all(), layer
        assert (frame["source"] == "sample").all()
        assert frame["source_id"].is_unique
        assert frame["source_id"].str.startswith(f"sample-{layer.replace('_', '-')}-").all()
        assert frame["name"].str.contains("Sampel|sampel").all(), layer
        if model.geometry_type == "POINT":
            assert frame["claimed_village_code"].notna().all()
            claimed = by_code.loc[frame["claimed_village_code"]].values
            assert shapely.within(frame.geometry.values, claimed).all(), layer
        else:
            assert frame["claimed_village_code"].isna().all()


def check_village_rules(assets, villages):
    """One office per village, distinct villages per layer, blank spots without towers."""
    n = len(villages)
    facilities = assets["facility"]
    offices = facilities[facilities["facility_type"] == "village_office"]
    assert sorted(offices["claimed_village_code"]) == sorted(villages["code"])
    assert facilities["facility_type"].value_counts().to_dict() == {
        "village_office": n,
        "school": n // 2,
        "health_post": n // 4,
    }
    for layer in ("tower", "hotspot", "destination", "product_site"):
        assert assets[layer]["claimed_village_code"].is_unique, layer
    blank = set(offices.loc[offices["internet_status"] == "none", "claimed_village_code"])
    assert len(blank) == n // 5
    assert blank.isdisjoint(assets["tower"]["claimed_village_code"])
    assert blank.isdisjoint(assets["fibre_node"]["claimed_village_code"])


def check_fibre(assets):
    """Nodes sit where route legs end; planned routes have no commissioning date."""
    routes, nodes = assets["fibre_route"], assets["fibre_node"]
    assert nodes["node_type"].value_counts().to_dict() == {"ODC": len(nodes) - 1, "POP": 1}
    legs = shapely.get_parts(routes.geometry.values)
    assert len(legs) == len(nodes) - 1
    ends = shapely.get_coordinates(shapely.get_point(legs, -1)).tolist()
    odc = nodes[nodes["node_type"] == "ODC"]
    assert sorted(shapely.get_coordinates(odc.geometry.values).tolist()) == sorted(ends)
    assert set(routes["status"]) <= {"active", "planned"}
    for status, date in zip(routes["status"], routes["commissioned_on"], strict=True):
        if status == "planned":
            assert date is None
        else:
            assert dt.date(2016, 1, 1) <= date <= dt.date(2024, 12, 31)


def test_assets_same_seed_same_output(region, assets):
    again = sample_assets(region.villages, 7)
    for layer in ASSET_LAYERS:
        assert_geodataframe_equal(assets[layer], again[layer])


def test_assets_other_seed_differs(region, assets):
    other = sample_assets(region.villages, 8)
    for layer in ASSET_LAYERS:
        with pytest.raises(AssertionError):
            assert_geodataframe_equal(assets[layer], other[layer])


def test_assets_ignore_village_order(region, assets):
    shuffled = region.villages.sample(frac=1.0, random_state=3)
    again = sample_assets(shuffled, 7)
    for layer in ASSET_LAYERS:
        assert_geodataframe_equal(assets[layer], again[layer])


def test_assets_refuse_villages_without_crs(region):
    with pytest.raises(CRSProblem):
        sample_assets(region.villages.set_crs(None, allow_override=True))


def test_sample_region_assets(region, assets):
    assert expected_counts(40) == SAMPLE_COUNTS
    assert {layer: len(frame) for layer, frame in assets.items()} == SAMPLE_COUNTS
    check_layers(assets, region.villages)
    check_village_rules(assets, region.villages)
    check_fibre(assets)


def test_kab_malang_assets(malang):
    assert len(malang) == 390
    assets = sample_assets(malang, 7)
    assert expected_counts(390) == MALANG_COUNTS
    assert {layer: len(frame) for layer, frame in assets.items()} == MALANG_COUNTS
    check_layers(assets, malang)
    check_village_rules(assets, malang)
    check_fibre(assets)
