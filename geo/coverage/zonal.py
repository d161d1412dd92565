"""Per-village statistics of a coverage array, and the blank-spot areas.

Shares and people are summed with ``exactextract``: each cell counts by the fraction of it
inside the village (partial-pixel weights), so villages that overlap slightly, as real ones do,
each get their part and nothing is counted by cell centre. People come from a population grid
warped onto the analysis grid as a density (people per square metre, so no one is created or
lost by the change of grid) times the cell's area.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd
from affine import Affine

import geopandas as gpd
import rasterio
import shapely
from rasterio.enums import Resampling
from rasterio.features import shapes, sieve
from rasterio.vrt import WarpedVRT

from geo.coverage.grid import Grid
from geo.coverage.model import NO_SIGNAL, OUTSIDE, TECHNOLOGY_CODES
from geo.coverage.rasters import Raster

SHARE_COLUMNS = {code: f"area_share_{name.lower()}" for name, code in TECHNOLOGY_CODES.items()}
PEOPLE_COLUMNS = {code: f"population_{name.lower()}" for name, code in TECHNOLOGY_CODES.items()}
MIN_BLANK_SPOT_KM2 = 0.05
"""Blank-spot areas smaller than this (5 ha) are not listed: slivers behind a house-sized
ridge of the DEM say nothing to a planner."""


def people_on_grid(population: Raster, grid: Grid) -> np.ndarray:
    """The population grid on ``grid``: people per analysis cell (float32, 0 where unknown).

    Counts are turned into a density with each source cell's true area (geographic grids'
    cells shrink away from the equator), warped by averaging, and multiplied by the analysis
    cell's area, so the total is kept within resampling at the edges.
    """
    with rasterio.open(population.path) as src:
        window = population.window  # the region's part only, never the whole file
        # rasterio's window_transform multiplies affines with `*`, which affine deprecates
        transform = src.transform @ Affine.translation(window.col_off, window.row_off)
        counts = src.read(1, window=window, masked=True).astype(np.float64).filled(0.0)
        counts[~np.isfinite(counts)] = 0.0
        density = counts / _cell_areas_m2(src.crs, transform, counts.shape[0])
        with rasterio.MemoryFile() as memory:
            profile = {
                "driver": "GTiff",
                "width": counts.shape[1],
                "height": counts.shape[0],
                "count": 1,
                "dtype": "float64",
                "crs": src.crs,
                "transform": transform,
            }
            with memory.open(**profile) as dst:
                dst.write(density, 1)
            with (
                memory.open() as dense,
                WarpedVRT(
                    dense,
                    crs=grid.crs,
                    transform=grid.transform,
                    width=grid.width,
                    height=grid.height,
                    resampling=Resampling.average,
                    nodata=0.0,
                    dtype="float64",
                ) as vrt,
            ):
                warped = vrt.read(1)
    return (warped * grid.step * grid.step).astype(np.float32)


def _cell_areas_m2(crs: Any, transform: Any, rows: int) -> np.ndarray:
    """Area of each row's cells in m² (one column: broadcast over the row)."""
    if crs.is_projected:
        return np.full((rows, 1), abs(transform.a * transform.e))
    lat = transform.f + transform.e * (np.arange(rows) + 0.5)
    dx = abs(transform.a) * 111_320.0 * np.cos(np.radians(lat))
    dy = abs(transform.e) * 110_574.0
    return (dx * dy)[:, None]


def village_stats(
    villages: gpd.GeoDataFrame, best: np.ndarray, grid: Grid, people: np.ndarray | None
) -> pd.DataFrame:
    """One row per village: shares of its modelled area and its people per best technology.

    Columns: code, covered_area_share (any technology), ``area_share_<tech>`` (the share whose
    best technology it is: they add up to covered_area_share), population, population_covered,
    population_uncovered, ``population_<tech>``. Shares and the covered or uncovered people are
    of the village's part on the DEM (``population`` is all its people); ``NaN`` where none of
    it is on the DEM, and people are ``NaN`` without a population grid.
    """
    from exactextract import exact_extract  # noqa: PLC0415 - a C++ extension, loaded when used

    vec = villages[["code", "geometry"]].to_crs(grid.crs).reset_index(drop=True)
    best_source = _source(best, grid, "best", nodata=OUTSIDE)
    ops = ["unique", "frac"]
    weights = None
    if people is not None:
        ops.append("weighted_frac")
        weights = _source(people, grid, "people")
    found = exact_extract(best_source, vec, ops, weights=weights, output="pandas")
    out = pd.DataFrame({"code": vec["code"]})
    codes = [NO_SIGNAL, *TECHNOLOGY_CODES.values()]
    fractions = _by_code(found["unique"], found["frac"], codes)
    valid = found["unique"].map(len).to_numpy() > 0
    for code in TECHNOLOGY_CODES.values():
        out[SHARE_COLUMNS[code]] = np.where(valid, fractions[code], np.nan)
    covered = sum(fractions[code] for code in TECHNOLOGY_CODES.values())
    out["covered_area_share"] = np.where(valid, covered, np.nan)
    if people is None:
        out["population"] = np.nan
        out["population_covered"] = np.nan
        out["population_uncovered"] = np.nan
        for code in TECHNOLOGY_CODES.values():
            out[PEOPLE_COLUMNS[code]] = np.nan
        return out
    on_dem = np.where(best == OUTSIDE, np.float32(0), people)
    sums = exact_extract(
        [_source(people, grid, "all"), _source(on_dem, grid, "modelled")],
        vec,
        ["sum"],
        output="pandas",
    )
    weighted = _by_code(found["unique"], found["weighted_frac"], codes)
    # a village off the DEM has no modelled people: unknown, not nobody without signal
    modelled = np.where(valid, sums["modelled_sum"].to_numpy(), np.nan)
    out["population"] = sums["all_sum"].to_numpy()
    for code in TECHNOLOGY_CODES.values():
        out[PEOPLE_COLUMNS[code]] = weighted[code] * modelled
    out["population_uncovered"] = weighted[NO_SIGNAL] * modelled
    out["population_covered"] = modelled - out["population_uncovered"]
    return out


def _source(array: np.ndarray, grid: Grid, name: str, nodata: Any = None) -> Any:
    """An ``exactextract`` raster source over an array on ``grid``."""
    from exactextract.raster import NumPyRasterSource  # noqa: PLC0415

    left, top = grid.transform.c, grid.transform.f
    right, bottom = left + grid.width * grid.step, top - grid.height * grid.step
    return NumPyRasterSource(
        array, left, bottom, right, top, nodata=nodata, srs_wkt=grid.crs.to_wkt(), name=name
    )


def _by_code(uniques: pd.Series, values: pd.Series, codes: list[int]) -> dict[int, np.ndarray]:
    """Per code, each village's value from the parallel lists ``exactextract`` returns."""
    out = {code: np.zeros(len(uniques)) for code in codes}
    for i, (found, fractions) in enumerate(zip(uniques, values, strict=True)):
        for code, fraction in zip(np.asarray(found).tolist(), np.asarray(fractions), strict=True):
            if int(code) in out and not math.isnan(fraction):
                out[int(code)][i] = fraction
    return out


def no_blank_spots() -> gpd.GeoDataFrame:
    """An empty frame of blank spots (the columns :func:`blank_spots` returns)."""
    columns = ["village_code", "area_km2", "population"]
    return gpd.GeoDataFrame(columns=columns, geometry=[], crs="EPSG:4326")


def blank_spots(
    villages: gpd.GeoDataFrame,
    best: np.ndarray,
    grid: Grid,
    people: np.ndarray | None,
    min_area_km2: float = MIN_BLANK_SPOT_KM2,
) -> gpd.GeoDataFrame:
    """Where no modelled signal reaches, cut by village, as MultiPolygons in EPSG:4326.

    Patches with no signal (on the DEM) smaller than ``min_area_km2`` are first sieved into
    their surroundings (GDAL's sieve: specks behind a roof-sized bump, or a lone covered cell in
    a dead valley, say nothing); the rest are vectorised, cut by each village, and the village
    parts smaller than ``min_area_km2`` dropped. One row per village that has any: village_code,
    area_km2, population (people living there, ``NaN`` without a population grid), geometry.
    """
    empty = no_blank_spots()
    min_cells = max(1, math.ceil(min_area_km2 * 1e6 / (grid.step * grid.step)))
    quiet = sieve((best == NO_SIGNAL).astype(np.uint8), size=min_cells)
    mask = (quiet == 1) & (best != OUTSIDE)
    if not mask.any():
        return empty
    patches = np.array(
        [
            shapely.Polygon(rings[0], rings[1:])
            for geom, _ in shapes(mask.astype(np.uint8), mask=mask, transform=grid.transform)
            for rings in [geom["coordinates"]]
        ],
        dtype=object,
    )
    vec = villages[["code", "geometry"]].to_crs(grid.crs).reset_index(drop=True)
    outlines = vec.geometry.to_numpy()
    village_index, patch_index = shapely.STRtree(patches).query(outlines, predicate="intersects")
    pieces = shapely.intersection(outlines[village_index], patches[patch_index])
    parts: dict[int, list[Any]] = {}
    for i, piece in zip(village_index.tolist(), pieces, strict=True):
        for polygon in shapely.get_parts(_polygonal(piece) or shapely.MultiPolygon()):
            if polygon.area >= min_area_km2 * 1e6:
                parts.setdefault(i, []).append(polygon)
    if not parts:
        return empty
    order = sorted(parts)
    geoms = [shapely.MultiPolygon(parts[i]) for i in order]
    spots = gpd.GeoDataFrame(
        {
            "village_code": vec["code"].to_numpy()[order],
            "area_km2": [g.area / 1e6 for g in geoms],
        },
        geometry=geoms,
        crs=grid.crs,
    )
    if people is not None:
        from exactextract import exact_extract  # noqa: PLC0415

        found = exact_extract(_source(people, grid, "p"), spots, ["sum"], output="pandas")
        spots["population"] = found["sum"].to_numpy()
    else:
        spots["population"] = np.nan
    return spots.to_crs("EPSG:4326").reset_index(drop=True)


def _polygonal(geom: Any) -> Any:
    """The polygon parts of a geometry as one MultiPolygon; ``None`` when it has none."""
    if geom is None or geom.is_empty:
        return None
    parts = [g for g in shapely.get_parts(geom) if g.geom_type in ("Polygon", "MultiPolygon")]
    if not parts:
        return None
    return shapely.MultiPolygon([p for part in parts for p in shapely.get_parts(part)])
