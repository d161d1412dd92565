"""``petadesa coverage``: sample inputs, a modelled run and the register as JSON, both backends."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from typer.testing import CliRunner

import rasterio

from cli.main import EXIT_REFUSED, app
from geo.ingest.assets import import_assets
from geo.ingest.boundaries import import_boundaries, import_code_list
from geo.samples import sample_assets, sample_region

runner = CliRunner()


def invoke(database_url: str, *args: str):
    return runner.invoke(app, ["--database", database_url, *args], catch_exceptions=False)


def test_model_then_show_gives_every_village_its_class_and_shares(database_url, engine, tmp_path):
    region = sample_region()
    import_code_list(engine, region.code_list)
    import_boundaries(engine, region.villages)
    import_assets(engine, "tower", sample_assets(region.villages)["tower"])
    samples = tmp_path / "samples"

    made = invoke(database_url, "coverage", "sample-inputs", "-o", str(samples))
    modelled = invoke(
        database_url,
        "coverage",
        "model",
        "--dem",
        str(samples / "sample_dem.tif"),
        "--population",
        str(samples / "sample_population.tif"),
        "--output-dir",
        str(tmp_path / "coverage"),
        "--json",
    )
    shown = invoke(database_url, "coverage", "show", "--regency", "99.01", "--json")

    assert made.exit_code == 0 and "SAMPLE DEM" in made.output
    assert modelled.exit_code == 0, modelled.output
    run = json.loads(modelled.output)
    assert (run["sample"], run["villages"], run["towers_modelled"]) == (True, 40, 10)
    assert run["towers_skipped"] == {"planned": 6}
    assert sum(run["classes"].values()) == 40
    assert Path(run["coverage_path"]).is_file()
    assert shown.exit_code == 0, shown.output
    rows = json.loads(shown.output)
    assert len(rows) == 40 and {r["run_id"] for r in rows} == {run["run_id"]}
    classes = {"fibre", "4G", "3G only", "2G only", "blank spot", "unknown"}
    for row in rows:
        assert row["connectivity_class"] in classes
        assert 0.0 <= row["covered_area_share"] <= 1.0
        by_tech = row["covered_area_share_by_technology"]
        assert set(by_tech) == {"2G", "3G", "4G", "5G"}
        assert abs(sum(by_tech.values()) - row["covered_area_share"]) < 1e-9
        assert 0.0 <= row["population_uncovered"] <= row["population"] + 1e-6
    blank = sorted(r["code"] for r in rows if r["connectivity_class"] == "blank spot")
    assert blank == sorted(run["blank_spot_villages"])
    total = sum(r["population_uncovered"] for r in rows)
    assert abs(total - run["population_uncovered"]) < 0.1


def test_model_refuses_a_dem_that_misses_the_region(database_url, engine, tmp_path):
    region = sample_region()
    import_code_list(engine, region.code_list)
    import_boundaries(engine, region.villages)
    other = tmp_path / "other"
    invoke(database_url, "coverage", "sample-inputs", "-o", str(other))
    # a second registry-independent DEM: the sample region's own, shifted far away
    from affine import Affine  # noqa: PLC0415

    with rasterio.open(other / "sample_dem.tif") as src:
        data, profile = src.read(1), src.profile
    profile["transform"] = Affine.translation(20.0, 0.0) @ profile["transform"]
    far = tmp_path / "far_dem.tif"
    with rasterio.open(far, "w", **profile) as dst:
        dst.write(data, 1)

    result = invoke(database_url, "coverage", "model", "--dem", str(far))
    shown = invoke(database_url, "coverage", "show", "--json")

    assert result.exit_code == EXIT_REFUSED
    assert "far_dem.tif does not overlap the region" in " ".join(result.output.split())
    assert json.loads(shown.output) == []


def test_plan_towers_and_fibre_on_the_sample_region(database_url, engine, tmp_path):
    region = sample_region()
    import_code_list(engine, region.code_list)
    import_boundaries(engine, region.villages)
    for layer in ("tower", "fibre_node", "fibre_route", "facility"):
        import_assets(engine, layer, sample_assets(region.villages)[layer])
    samples = tmp_path / "samples"
    invoke(database_url, "coverage", "sample-inputs", "-o", str(samples))
    sites_file = tmp_path / "sites.geojson"

    towers = invoke(
        database_url,
        "plan",
        "towers",
        "-k",
        "3",
        "--dem",
        str(samples / "sample_dem.tif"),
        "--population",
        str(samples / "sample_population.tif"),
        "--spacing-km",
        "3",
        "-o",
        str(sites_file),
        "--json",
    )
    fibre = invoke(database_url, "plan", "fibre", "--within-km", "2", "--json")

    assert towers.exit_code == 0, towers.output
    sites = json.loads(towers.output)
    assert [s["rank"] for s in sites] == [1, 2, 3]
    gains = [s["gain"] for s in sites]
    assert gains == sorted(gains, reverse=True) and gains[-1] > 0
    assert all(s["village_code"].startswith("99.01.") for s in sites)
    assert Path(sites_file).is_file()
    assert fibre.exit_code == 0, fibre.output
    plan = json.loads(fibre.output)
    assert all(v["distance_m"] <= 2_000 for v in plan["near"])
    assert len(plan["near"]) + len(plan["order"]) == 40
    joined = {v["code"] for v in plan["near"]}
    for step in plan["order"]:  # every link goes to the network or to a village already joined
        assert step["connect_to"] == "network" or step["connect_to"] in joined
        joined.add(step["code"])


def test_export_diff_and_impact_of_runs(database_url, engine, tmp_path):
    import pandas as pd  # noqa: PLC0415

    import geopandas as gpd  # noqa: PLC0415

    region = sample_region()
    import_code_list(engine, region.code_list)
    import_boundaries(engine, region.villages)
    generated = sample_assets(region.villages)
    for layer in ("tower", "destination", "product_site"):
        import_assets(engine, layer, generated[layer])
    samples = tmp_path / "samples"
    invoke(database_url, "coverage", "sample-inputs", "-o", str(samples))
    model = ["coverage", "model", "--dem", str(samples / "sample_dem.tif")]
    model += ["--population", str(samples / "sample_population.tif"), "--output-dir", str(tmp_path)]
    assert invoke(database_url, *model).exit_code == 0
    assert invoke(database_url, *model).exit_code == 0

    diff = json.loads(invoke(database_url, "coverage", "diff", "--json").output)
    impact = json.loads(invoke(database_url, "coverage", "impact", "--json").output)
    for name in ("register.csv", "register.gpkg", "blank.geojson", "coverage.tif"):
        args = ["coverage", "export", "-o", str(tmp_path / name)]
        if name.startswith("blank"):
            args += ["--what", "blank-spots"]
        assert invoke(database_url, *args).exit_code == 0, name

    assert (diff["before"], diff["after"], diff["changes"]) == (1, 2, [])  # same inputs
    assert len(impact["villages"]) == 40
    needs = [v["population_uncovered"] for v in impact["villages"]]
    assert needs == sorted(needs, reverse=True)
    register = pd.read_csv(tmp_path / "register.csv", dtype={"code": str})
    assert len(register) == 40 and set(register["run_id"]) == {2}
    assert len(gpd.read_file(tmp_path / "register.gpkg")) == 40
    spots = gpd.read_file(tmp_path / "blank.geojson")
    blank = register.loc[register["connectivity_class"] == "blank spot", "code"]
    assert set(blank) <= set(spots["village_code"])
    with rasterio.open(tmp_path / "coverage.tif") as tif:
        assert tif.dtypes[0] == "uint8" and tif.tags()["PETADESA_SAMPLE"]


def test_an_operator_raster_is_merged_and_a_bad_signal_option_is_a_usage_error(
    database_url, engine, tmp_path
):

    import rasterio

    region = sample_region()
    import_code_list(engine, region.code_list)
    import_boundaries(engine, region.villages)
    samples = tmp_path / "samples"
    invoke(database_url, "coverage", "sample-inputs", "-o", str(samples))
    with rasterio.open(samples / "sample_dem.tif") as src:
        profile = {**src.profile, "dtype": "uint8", "nodata": None}
        shape = src.shape
    mask = tmp_path / "operator_5g.tif"
    with rasterio.open(mask, "w", **profile) as dst:
        dst.write(np.ones(shape, dtype="uint8"), 1)
    dem = str(samples / "sample_dem.tif")

    modelled = invoke(
        database_url, "coverage", "model", "--dem", dem, "--signal", f"5g={mask}",
        "--output-dir", str(tmp_path / "coverage"), "--json",
    )  # fmt: skip
    shown = invoke(database_url, "coverage", "show", "--json")
    unknown = invoke(database_url, "coverage", "model", "--dem", dem, "--signal", f"LTE={mask}")
    unpaired = invoke(database_url, "coverage", "model", "--dem", dem, "--signal", str(mask))

    assert modelled.exit_code == 0, modelled.output
    rows = json.loads(shown.output)
    assert len(rows) == 40
    assert {round(r["covered_area_share_by_technology"]["5G"], 9) for r in rows} == {1.0}
    assert "blank spot" not in {r["connectivity_class"] for r in rows}
    assert unknown.exit_code == 2
    assert "technology 'LTE' is not one of 2G, 3G, 4G, 5G" in " ".join(unknown.output.split())
    assert unpaired.exit_code == 2 and "is not TECH=FILE" in " ".join(unpaired.output.split())
