"""The coverage results as OGC API collections: each village's latest register row, blank spots."""

from __future__ import annotations

import warnings

import pytest

from api.main import create_app
from api.settings import ApiSettings
from geo.coverage.register import run_coverage
from tests.geo.terrain import EAST, SPLIT, WEST, add_tower, build_registry, dem, population

with warnings.catch_warnings():
    warnings.filterwarnings("ignore", message="Using `httpx` with `starlette.testclient`")
    from fastapi.testclient import TestClient


@pytest.fixture
def modelled(engine, database_url, tmp_path):
    build_registry(engine)
    add_tower(engine)
    kwargs = {"dem": dem(tmp_path), "population": population(tmp_path), "output_dir": tmp_path}
    run_coverage(engine, **kwargs)
    run_coverage(engine, **kwargs)  # the latest run is the one served
    app = create_app(database_url=database_url, settings=ApiSettings(_env_file=None))
    with TestClient(app) as client:
        yield client


def test_the_register_is_a_collection_of_villages_with_their_latest_row(modelled):
    body = modelled.get("/collections/village_connectivity/items", params={"limit": 100}).json()

    assert body["numberMatched"] == 4
    rows = {f["id"]: f["properties"] for f in body["features"]}
    assert {code: rows[code]["connectivity_class"] for code in (WEST, EAST)} == {
        WEST: "4G",
        EAST: "blank spot",
    }
    assert {p["run_id"] for p in rows.values()} == {2}
    assert rows[SPLIT]["covered_area_share"] == pytest.approx(0.5, abs=1e-9)
    assert body["features"][0]["geometry"]["type"] == "MultiPolygon"
    one = modelled.get(f"/collections/village_connectivity/items/{EAST}").json()
    assert one["properties"]["population_uncovered"] == 0.0
    assert modelled.get("/collections/village_connectivity").json()["extent"] is not None


def test_the_blank_spots_of_the_latest_run_are_a_collection(modelled):
    body = modelled.get("/collections/blank_spot/items").json()

    assert body["numberMatched"] == 2
    assert sorted(f["properties"]["village_code"] for f in body["features"]) == [EAST, SPLIT]
    assert {f["properties"]["run_id"] for f in body["features"]} == {2}
    first = body["features"][0]
    again = modelled.get(f"/collections/blank_spot/items/{first['id']}").json()
    assert again["properties"] == first["properties"]
