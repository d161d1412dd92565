"""Bounded memory: runs too large for one grid go one regency at a time, or coarser."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import rasterio
import shapely

from geo.coverage.grid import region_grid
from geo.coverage.register import run_coverage
from geo.store.db import transaction
from tests.geo.helpers import add_areas
from tests.geo.terrain import SHAPES_M, STEP, add_tower, dem, population, wgs84

# the ridge terrain's villages split over two regencies: WEST, FARWEST | EAST, SPLIT
CODES = {"35.07.01.2001": "WEST", "35.07.01.2004": "FARWEST"}
CODES |= {"35.08.01.2001": "EAST", "35.08.01.2002": "SPLIT"}
BY_NAME = dict(zip(("WEST", "EAST", "SPLIT", "FARWEST"), SHAPES_M.values(), strict=True))
REACH_M = 15_000.0  # the default 2G range: every grid's margin
NUMBERS = ["covered_area_share", "area_share_4g", "population", "population_uncovered"]


def two_regencies(engine):
    shapes = {code: wgs84(BY_NAME[name]) for code, name in CODES.items()}
    west = shapely.unary_union([shapes["35.07.01.2001"], shapes["35.07.01.2004"]]).envelope
    east = shapely.unary_union([shapes["35.08.01.2001"], shapes["35.08.01.2002"]]).envelope
    with transaction(engine) as session:
        add_areas(
            session,
            {
                "35": west.union(east).envelope,
                "35.07": west,
                "35.07.01": west,
                "35.08": east,
                "35.08.01": east,
                **shapes,
            },
        )
    return shapes


def cells(shapes, codes) -> int:
    bounds = shapely.unary_union([shapes[c] for c in codes]).bounds
    grid = region_grid(bounds, STEP, margin=REACH_M)
    return grid.width * grid.height


def test_a_run_too_large_for_one_grid_goes_by_regency_with_the_same_numbers(
    engine, tmp_path, monkeypatch
):
    shapes = two_regencies(engine)
    add_tower(engine)
    whole = run_coverage(
        engine, dem=dem(tmp_path), population=population(tmp_path), output_dir=tmp_path / "one"
    )
    limit = max(cells(shapes, list(CODES)[:2]), cells(shapes, list(CODES)[2:]))
    assert cells(shapes, list(CODES)) > limit  # one grid would not fit, each regency's does
    monkeypatch.setenv("PETADESA_COVERAGE_MAX_GRID_CELLS", str(limit))

    tiled = run_coverage(
        engine, dem=dem(tmp_path), population=population(tmp_path), output_dir=tmp_path / "two"
    )

    assert tiled.coverage_path.is_dir()
    assert sorted(p.name for p in tiled.coverage_path.iterdir()) == ["35.07.tif", "35.08.tif"]
    with rasterio.open(tiled.coverage_path / "35.08.tif") as part:
        assert part.res == (STEP, STEP)
    assert (whole.towers_modelled, tiled.towers_modelled) == (1, 1)  # modelled in both grids
    one = whole.register.set_index("code")[NUMBERS]
    two = tiled.register.set_index("code")[NUMBERS]
    pd.testing.assert_frame_equal(one, two, check_exact=False, rtol=1e-9, atol=1e-9)
    assert two.loc["35.08.01.2002", "covered_area_share"] == pytest.approx(0.5, abs=1e-9)
    assert [i["modelled_by_regency"] for i in tiled.inputs if i["kind"] == "dem"] == [2]
    spots = tiled.blank_spots.set_index("village_code")["area_km2"].sort_index()
    assert np.allclose(spots, whole.blank_spots.set_index("village_code")["area_km2"].sort_index())


def test_one_regency_too_large_is_modelled_at_a_coarser_step(engine, tmp_path, monkeypatch):
    shapes = two_regencies(engine)
    add_tower(engine)
    full = cells(shapes, list(CODES)[:2])
    monkeypatch.setenv("PETADESA_COVERAGE_MAX_GRID_CELLS", str(full // 3))
    messages = []

    summary = run_coverage(
        engine, dem=dem(tmp_path), regency="35.07", output_dir=tmp_path, progress=messages.append
    )

    [record] = [i for i in summary.inputs if i["kind"] == "dem"]
    assert record["modelled_step_m"] == 2 * STEP  # sqrt(3) rounded up: twice as coarse
    with rasterio.open(summary.coverage_path) as raster:
        assert raster.res == (2 * STEP, 2 * STEP)
    assert any(
        m.endswith(
            f"are over the limit of {full // 3:,} (PETADESA_COVERAGE_MAX_GRID_CELLS): "
            "modelling at 60 m"
        )  # fmt: skip
        for m in messages
    )
    assert summary.register.set_index("code").loc["35.07.01.2001", "covered_area_share"] == (
        pytest.approx(1.0)
    )
