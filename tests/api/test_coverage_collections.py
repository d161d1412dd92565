"""The coverage results as OGC API collections: each village's latest register row, blank spots."""

from __future__ import annotations

import json
import warnings

import pytest
from typer.testing import CliRunner

from shapely import Point

from api.main import create_app
from api.settings import ApiSettings
from cli.main import app as cli
from geo.coverage.register import run_coverage
from geo.store.db import transaction
from tests.geo.helpers import add_asset
from tests.geo.terrain import (
    EAST,
    SPLIT,
    WEST,
    add_tower,
    build_registry,
    dem,
    population,
    wgs84,
)  # fmt: skip

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


def test_the_numbers_behind_a_decision_per_district_and_regency(modelled, engine):
    with transaction(engine) as session:
        add_asset(session, "destination", wgs84(Point(601_000, 9_111_500)), village_code=WEST)
        add_asset(session, "product_site", wgs84(Point(604_000, 9_111_500)), village_code=EAST)
    register = modelled.get("/collections/village_connectivity/items").json()["features"]
    classes = {f["id"]: f["properties"]["connectivity_class"] for f in register}
    uncovered = sum(f["properties"]["population_uncovered"] for f in register)

    districts = modelled.get("/summary/districts", params={"regency": "35.07"})
    regencies = modelled.get("/summary/regencies").json()

    assert districts.status_code == 200, districts.text
    [district] = districts.json()
    blank = sum(c == "blank spot" for c in classes.values())
    at_least_4g = sum(c in ("4G", "fibre") for c in classes.values())
    assert (blank, at_least_4g) == (1, 3)  # the terrain: the tower reaches all but EAST
    assert district == {
        "code": "35.07.01",
        "name": district["name"],
        "villages": 4,
        "with_fibre": 0,
        "without_fibre": 4,
        "with_4g": at_least_4g,
        "without_4g": 4 - at_least_4g,
        "blank_spot": blank,
        "unknown": sum(c == "unknown" for c in classes.values()),
        "people_without_signal": pytest.approx(uncovered, abs=0.1),
        "with_destination": 1,
        "without_destination": 3,
        "with_product": 1,
        "without_product": 3,
    }
    assert [r["code"] for r in regencies] == ["35.07"]
    assert {k: v for k, v in regencies[0].items() if k not in ("code", "name")} == {
        k: v for k, v in district.items() if k not in ("code", "name")
    }
    assert modelled.get("/summary/districts", params={"regency": "x"}).status_code == 400


def test_the_command_line_gives_the_same_numbers(modelled, database_url):
    runner = CliRunner()
    shown = runner.invoke(
        cli, ["--database", database_url, "summary", "--by", "district", "--json"],
        catch_exceptions=False,
    )  # fmt: skip
    table = runner.invoke(
        cli, ["--database", database_url, "summary", "--by", "regency"], catch_exceptions=False
    )

    assert shown.exit_code == 0, shown.output
    assert json.loads(shown.output) == modelled.get("/summary/districts").json()
    assert (
        table.exit_code == 0 and "35.07" in table.output and "Villages per regency" in table.output
    )
