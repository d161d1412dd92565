"""Modelled coverage: where each tower's signal reaches over the terrain, best technology per cell.

For every tower (on air, or of unknown status) the model asks GDAL's viewshed
(``gdal.ViewshedGenerate``, the algorithm of ``gdal_viewshed``) which cells of the DEM a
receiver 1.5 m above ground could see from the antenna, with the earth's curvature and
atmospheric refraction (:data:`CURVATURE_COEFF`), within the tower's reach. Line of sight is
the model: a cell the antenna sees within the range of a technology is covered by it. Ranges
are planning defaults per technology (:data:`DEFAULT_RANGE_KM`), overridden by a tower's
``range_km``; a tower with an ``azimuth_deg`` covers only its sector (``beamwidth_deg`` wide,
default 120). No propagation model grades the signal: a cell is covered or not.

Each tower is computed on its own window of the DEM (its reach and a cell), on as many
threads as there are cores (GDAL releases the GIL), and folded into one array of the best
technology per cell: 0 no signal, 1 2G, 2 3G, 3 4G, 4 5G, 255 outside the DEM.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pandas as pd

import geopandas as gpd

from geo.coverage.grid import Grid

TECHNOLOGY_CODES: dict[str, int] = {"2G": 1, "3G": 2, "4G": 3, "5G": 4}
"""Code of each technology in a coverage array; higher is better."""
NO_SIGNAL, OUTSIDE = 0, 255
TECHNOLOGY_OF_CODE = {code: name for name, code in TECHNOLOGY_CODES.items()}

DEFAULT_RANGE_KM: dict[str, float] = {"2G": 15.0, "3G": 8.0, "4G": 10.0, "5G": 2.0}
"""Reach of a site per technology where the tower gives no ``range_km``: planning figures for a
macro site in rural Java (2G on 900 MHz, 3G on 2100 MHz, 4G mostly on 900/1800 MHz, 5G on
2300 MHz and above). Line of sight usually ends sooner in hilly terrain."""
DEFAULT_HEIGHT_M = 30.0
"""Antenna height above ground of a tower that gives none (a typical greenfield BTS mast)."""
RECEIVER_HEIGHT_M = 1.5
"""A phone in a hand."""
CURVATURE_COEFF = 0.75
"""GDAL's curvature coefficient, ``1 - refraction``: radio waves bend with an effective earth
radius of 4/3 of the true one (refraction coefficient 0.25); GDAL's own default (0.85714) is
for visible light."""
DEFAULT_BEAMWIDTH_DEG = 120.0
UNKNOWN_TECHNOLOGY = "2G"
"""What a tower listing no technology is modelled as: the least it can be."""


@dataclass(frozen=True)
class ModelParameters:
    """Everything a coverage run depends on besides its inputs (recorded with the run)."""

    range_km: Mapping[str, float] = field(default_factory=lambda: dict(DEFAULT_RANGE_KM))
    default_height_m: float = DEFAULT_HEIGHT_M
    receiver_height_m: float = RECEIVER_HEIGHT_M
    curvature_coeff: float = CURVATURE_COEFF
    default_beamwidth_deg: float = DEFAULT_BEAMWIDTH_DEG
    include_planned: bool = False
    """Model planned towers too (what coverage would be once they are built)."""

    def to_dict(self) -> dict[str, Any]:
        """Plain data for the run's record."""
        data = asdict(self)
        data["range_km"] = dict(self.range_km)
        return data


@dataclass(frozen=True)
class Site:
    """One tower as the model sees it, in the grid's CRS."""

    x: float
    y: float
    height_m: float
    ranges_m: dict[int, float]
    """Reach in metres per technology code."""
    azimuth_deg: float | None
    beamwidth_deg: float


@dataclass
class ModelResult:
    """The best technology per cell, and what happened to each tower."""

    best: np.ndarray
    modelled: int = 0
    skipped: dict[str, int] = field(default_factory=dict)
    """Towers not modelled, by reason (``planned``, ``outside the DEM``)."""
    outcomes: dict[Any, str] = field(default_factory=dict)
    """Each tower's id and ``modelled`` or the reason it was not (to merge grids' results)."""


def sites(towers: gpd.GeoDataFrame, grid: Grid, params: ModelParameters) -> Iterator[Site | str]:
    """Each tower as a :class:`Site`, or the reason it is not modelled."""
    if towers.empty:
        return
    points = towers.geometry.to_crs(grid.crs)
    for (_, tower), point in zip(towers.iterrows(), points, strict=True):
        status = tower.get("status")
        if status == "planned" and not params.include_planned:
            yield "planned"
            continue
        techs = _technologies(tower.get("technologies"))
        own_range = _number(tower.get("range_km"))
        ranges = {
            TECHNOLOGY_CODES[t]: 1000.0 * (own_range if own_range else params.range_km[t])
            for t in techs
        }
        height = _number(tower.get("height_m")) or params.default_height_m
        beam = _number(tower.get("beamwidth_deg")) or params.default_beamwidth_deg
        yield Site(point.x, point.y, height, ranges, _number(tower.get("azimuth_deg")), beam)


def model_coverage(
    dem: np.ndarray,
    grid: Grid,
    towers: gpd.GeoDataFrame,
    params: ModelParameters | None = None,
    *,
    progress: Callable[[int, int], None] | None = None,
    workers: int | None = None,
) -> ModelResult:
    """Model the towers over ``dem`` (float32 heights on ``grid``, NaN where unknown).

    ``towers``: a GeoDataFrame of the registry's tower layer (any CRS). ``progress(done,
    total)`` is called as towers finish. Returns the best technology code per cell.
    """
    params = params or ModelParameters()
    off_dem = np.isnan(dem)
    best = np.zeros(grid.shape, dtype=np.uint8)
    best[off_dem] = OUTSIDE  # the highest code: folding by maximum keeps it
    result = ModelResult(best)
    ground = np.where(off_dem, np.float32(-1000.0), dem).astype(np.float32)
    del off_dem
    jobs: list[Site] = []
    ids = towers["id"].tolist() if "id" in towers.columns else list(range(len(towers)))
    for tower_id, site in zip(ids, sites(towers, grid, params), strict=True):
        if not isinstance(site, str):
            row, col = grid.cell_of(np.array([site.x]), np.array([site.y]))
            r, c = int(row[0]), int(col[0])
            if not (0 <= r < grid.height and 0 <= c < grid.width) or np.isnan(dem[r, c]):
                site = "outside the DEM"
        if isinstance(site, str):
            result.skipped[site] = result.skipped.get(site, 0) + 1
            result.outcomes[tower_id] = site
            continue
        result.outcomes[tower_id] = "modelled"
        jobs.append(site)
    total = len(jobs)
    workers = workers or os.cpu_count() or 1
    with ThreadPoolExecutor(max_workers=workers) as pool:
        pending: list[Future] = []
        done = 0
        for site in jobs:
            pending.append(pool.submit(tower_coverage, ground, grid, site, params))
            if len(pending) >= 2 * workers:
                done += _fold(pending.pop(0), best)
                if progress:
                    progress(done, total)
        for future in pending:
            done += _fold(future, best)
            if progress:
                progress(done, total)
    result.modelled = total
    return result


def _fold(future: Future, best: np.ndarray) -> int:
    """Fold one tower's coverage into ``best`` (the maximum code per cell); 1."""
    rows, cols, codes = future.result()
    window = best[rows, cols]
    np.maximum(window, codes, out=window)
    return 1


def tower_coverage(
    ground: np.ndarray, grid: Grid, site: Site, params: ModelParameters
) -> tuple[slice, slice, np.ndarray]:
    """One tower's technology code per cell of its window (GDAL's viewshed, then ranges)."""
    from osgeo import gdal, gdal_array  # noqa: PLC0415 - GDAL's own bindings, only here

    gdal.UseExceptions()
    reach = max(site.ranges_m.values())
    step = grid.step
    rows, cols = _window(grid, site, reach)
    window = np.ascontiguousarray(ground[rows, cols])
    left = grid.transform.c + cols.start * step
    top = grid.transform.f - rows.start * step
    source = gdal_array.OpenArray(window)
    source.SetGeoTransform((left, step, 0.0, top, 0.0, -step))
    # without a CRS GDAL cannot tell metres from degrees and skips curvature and refraction
    source.SetProjection(grid.crs.to_wkt())
    seen = gdal.ViewshedGenerate(
        source.GetRasterBand(1),
        "MEM",
        "",
        [],
        site.x,
        site.y,
        site.height_m,
        params.receiver_height_m,
        1,  # visible
        0,  # invisible
        0,  # out of range
        -1,  # nodata
        params.curvature_coeff,
        gdal.GVM_Edge,
        reach,
    )
    gt = seen.GetGeoTransform()
    visible = seen.GetRasterBand(1).ReadAsArray() == 1
    # the viewshed comes back cropped to the reach: place it back in the window
    r0 = round((top - gt[3]) / step) + rows.start
    c0 = round((gt[0] - left) / step) + cols.start
    out_rows = slice(r0, r0 + visible.shape[0])
    out_cols = slice(c0, c0 + visible.shape[1])
    ys = grid.transform.f - (np.arange(out_rows.start, out_rows.stop) + 0.5) * step
    xs = grid.transform.c + (np.arange(out_cols.start, out_cols.stop) + 0.5) * step
    dx, dy = xs[None, :] - site.x, ys[:, None] - site.y
    distance = np.hypot(dx, dy)
    reached = visible
    if site.azimuth_deg is not None and site.beamwidth_deg < 360:
        bearing = np.degrees(np.arctan2(dx, dy)) % 360.0
        off = np.abs((bearing - site.azimuth_deg + 180.0) % 360.0 - 180.0)
        reached = reached & ((off <= site.beamwidth_deg / 2) | (distance < step))
    codes = np.zeros(visible.shape, dtype=np.uint8)
    for code in sorted(site.ranges_m):
        codes[reached & (distance <= site.ranges_m[code])] = code
    return out_rows, out_cols, codes


def _window(grid: Grid, site: Site, reach: float) -> tuple[slice, slice]:
    """Rows and columns of the grid within ``reach`` metres of the site (and a cell)."""
    row, col = grid.cell_of(np.array([site.x]), np.array([site.y]))
    cells = math.ceil(reach / grid.step) + 1
    r, c = int(row[0]), int(col[0])
    return (
        slice(max(0, r - cells), min(grid.height, r + cells + 1)),
        slice(max(0, c - cells), min(grid.width, c + cells + 1)),
    )


def _technologies(value: Any) -> list[str]:
    """A tower's technologies as a list of :data:`TECHNOLOGY_CODES` names."""
    if value is None or pd.isna(value):
        return [UNKNOWN_TECHNOLOGY]
    found = [t.strip().upper() for t in str(value).split(",")]
    found = [t for t in found if t in TECHNOLOGY_CODES]
    return found or [UNKNOWN_TECHNOLOGY]


def _number(value: Any) -> float | None:
    """A float, or ``None`` for a missing value."""
    if value is None or pd.isna(value):
        return None
    return float(value)
