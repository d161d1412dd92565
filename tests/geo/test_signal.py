"""Operators' coverage and signal rasters merged into the modelled coverage, both backends."""

from __future__ import annotations

import json

import numpy as np
import pytest
from sqlalchemy import select

from geo.coverage.register import run_coverage
from geo.coverage.signal import SignalInput
from geo.errors import ConfigurationError, RasterRejected, UnreadableFile
from geo.store.db import transaction
from geo.store.models import CoverageRun
from tests.geo.terrain import (
    EAST,
    HEIGHT,
    SPLIT,
    WEST,
    WIDTH,
    add_tower,
    build_registry,
    dem,
    write_raster,
)

EAST_OF_RIDGE = 201  # first column east of the ridge (x 603,030)


@pytest.fixture
def registry(engine):
    engine = build_registry(engine)
    add_tower(engine)  # west of the ridge: covers WEST and SPLIT's west half, not EAST
    return engine


def east_raster(tmp_path, inside, outside, dtype="float32", name="operator.tif"):
    values = np.full((HEIGHT, WIDTH), outside, dtype=dtype)
    values[:, EAST_OF_RIDGE:] = inside
    return write_raster(tmp_path / name, values, nodata=-9999 if dtype == "float32" else None)


def rows_of(summary):
    return summary.register.set_index("code")


def test_an_operator_mask_covers_what_the_ridge_hides(registry, tmp_path):
    mask = east_raster(tmp_path, 1, 0, dtype="uint8")

    summary = run_coverage(
        registry, dem=dem(tmp_path), signals=[SignalInput(mask, "3G")], output_dir=tmp_path / "o"
    )

    rows = rows_of(summary)
    assert rows.loc[EAST, "area_share_3g"] == pytest.approx(1.0)
    assert rows.loc[EAST, "model_class"] == "3G only"
    assert rows.loc[SPLIT, "area_share_4g"] == pytest.approx(0.5, abs=1e-9)
    assert rows.loc[SPLIT, "area_share_3g"] == pytest.approx(0.5, abs=1e-9)
    assert rows.loc[SPLIT, "model_class"] == "4G"  # 4G reaches half of it
    assert rows.loc[WEST, "area_share_3g"] == pytest.approx(0.0, abs=1e-9)  # 4G is better
    [signal] = [r for r in summary.inputs if r["kind"] == "signal"]
    assert (signal["technology"], signal["values"]) == ("3G", "coverage mask")
    with transaction(registry) as session:
        method = session.execute(select(CoverageRun.method)).scalar_one()
    assert method == (
        "line of sight (GDAL viewshed) within a range per technology; operator rasters merged, "
        "the better per cell: 3G operator.tif"
    )
    source = json.loads(rows.loc[EAST, "provenance"])["model_class"]["source"]
    assert (
        source.startswith("ridge.tif (sha256:") and "; operator rasters: 3G operator.tif" in source
    )


def test_a_signal_in_dbm_counts_from_the_usable_minimum(registry, tmp_path):
    dbm = east_raster(tmp_path, -100.0, -120.0)

    default = rows_of(
        run_coverage(
            registry, dem=dem(tmp_path), signals=[SignalInput(dbm, "4G")], output_dir=tmp_path
        )
    )
    stricter = rows_of(
        run_coverage(
            registry,
            dem=dem(tmp_path),
            signals=[SignalInput(dbm, "4G", min_dbm=-95.0)],
            output_dir=tmp_path,
        )
    )

    assert default.loc[EAST, "area_share_4g"] == pytest.approx(1.0)  # -100 >= -110
    assert stricter.loc[EAST, "covered_area_share"] == pytest.approx(0.0, abs=1e-9)
    assert default.loc[WEST, "area_share_4g"] == pytest.approx(1.0)  # the tower, not -120 dBm


def test_a_raster_of_other_values_is_refused_and_nothing_written(registry, tmp_path):
    percent = east_raster(tmp_path, 80, 10, dtype="uint8", name="percent.tif")

    with pytest.raises(RasterRejected) as caught:
        run_coverage(
            registry, dem=dem(tmp_path), signals=[SignalInput(percent, "4G")], output_dir=tmp_path
        )

    assert str(caught.value) == (
        "percent.tif is neither a coverage mask (0 and 1) nor a signal in dBm (-160 to -20): "
        "its values run from 10 to 80 over the region; is its nodata value set?"
    )
    with transaction(registry) as session:
        assert session.execute(select(CoverageRun.id)).all() == []
    assert list(tmp_path.glob("coverage-run-*")) == []


def test_an_operator_raster_needs_the_dem_and_a_known_technology(registry, tmp_path):
    mask = east_raster(tmp_path, 1, 0, dtype="uint8")
    with pytest.raises(ConfigurationError, match="give a DEM too"):
        run_coverage(registry, dem=None, signals=[SignalInput(mask, "4G")])
    with pytest.raises(ValueError, match="technology 'LTE' is not one of 2G, 3G, 4G, 5G"):
        SignalInput(mask, "LTE")


def test_a_missing_operator_raster_is_found_before_any_tower_is_modelled(registry, tmp_path):
    modelled = []

    with pytest.raises(UnreadableFile, match="no such file: .*absent.tif"):
        run_coverage(
            registry,
            dem=dem(tmp_path),
            signals=[SignalInput(tmp_path / "absent.tif", "4G")],
            output_dir=tmp_path,
            tower_progress=lambda done, total: modelled.append(done),
        )

    assert modelled == []
    with transaction(registry) as session:
        assert session.execute(select(CoverageRun.id)).all() == []
