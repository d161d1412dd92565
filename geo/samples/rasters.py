"""Seeded sample rasters for the coverage analysis when the user has no DEM or population grid.

:func:`sample_dem` makes a terrain of hills and ridges over any region (1 arc-second cells,
about 30 m, as SRTM and Copernicus GLO-30 are); :func:`sample_population` makes a population
grid of 3 arc-second cells (about 100 m, as WorldPop's) with people gathered around each
village's label point. Both are GeoTIFFs in EPSG:4326 carrying the metadata item
``PETADESA_SAMPLE`` (:data:`geo.coverage.rasters.SAMPLE_TAG`), which every run that reads them
records, so results made from them say they are samples. The same seed gives the same
rasters, cell for cell. They look like terrain and people; they are neither.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from affine import Affine

import geopandas as gpd
import rasterio

from geo.coverage.rasters import SAMPLE_TAG

ARC_SECOND = 1.0 / 3600.0


def _grid(bounds: tuple[float, ...], step: float, margin: float) -> tuple[Affine, int, int]:
    """A north-up lon/lat grid of ``step`` degrees over ``bounds`` grown by ``margin`` degrees."""
    left = np.floor((bounds[0] - margin) / step) * step
    top = np.ceil((bounds[3] + margin) / step) * step
    width = int(np.ceil((bounds[2] + margin - left) / step))
    height = int(np.ceil((top - (bounds[1] - margin)) / step))
    return Affine(step, 0.0, left, 0.0, -step, top), width, height


def _write(path: Path, data: np.ndarray, transform: Affine, nodata: float, what: str) -> Path:
    """Write one band as a tiled, compressed GeoTIFF in EPSG:4326 marked as a sample."""
    path.parent.mkdir(parents=True, exist_ok=True)
    profile = {
        "driver": "GTiff",
        "width": data.shape[1],
        "height": data.shape[0],
        "count": 1,
        "dtype": str(data.dtype),
        "crs": "EPSG:4326",
        "transform": transform,
        "nodata": nodata,
        "tiled": True,
        "blockxsize": 256,
        "blockysize": 256,
        "compress": "deflate",
    }
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(data, 1)
        dst.update_tags(**{SAMPLE_TAG: what})
    return path


def sample_dem(
    villages: gpd.GeoDataFrame,
    path: str | Path,
    *,
    seed: int = 11,
    margin_deg: float = 0.15,
    arc_seconds: float = 1.0,
) -> Path:
    """Write a seeded terrain over the villages' extent (and ``margin_deg`` around) to ``path``.

    Heights of 0-2,500 m: a few broad hills and two long ridges, so some valleys lie in the
    shadow of every tower nearby. Float32 metres, nodata -9999; cells of ``arc_seconds``
    (1: about 30 m, as SRTM; 3: about 90 m).
    """
    rng = np.random.default_rng(seed)
    bounds = tuple(float(v) for v in villages.to_crs("EPSG:4326").total_bounds)
    transform, width, height = _grid(bounds, arc_seconds * ARC_SECOND, margin_deg)
    # float32 rows and columns broadcast against each other: a regency's 12 million cells
    # never hold more than a few arrays of them at once
    x = (transform.c + (np.arange(width) + 0.5) * transform.a).astype(np.float32)[None, :]
    y = (transform.f + (np.arange(height) + 0.5) * transform.e).astype(np.float32)[:, None]
    z = np.full((height, width), 150.0, dtype=np.float32)
    span = max(bounds[2] - bounds[0], bounds[3] - bounds[1], 0.05)
    for _ in range(6):  # broad hills: separable, an outer product of two profiles
        cx = rng.uniform(bounds[0], bounds[2])
        cy = rng.uniform(bounds[1], bounds[3])
        r = rng.uniform(0.05, 0.15) * span
        top = np.float32(rng.uniform(300, 1500))
        z += top * np.exp(-((y - cy) ** 2) / (2 * r * r)) * np.exp(-((x - cx) ** 2) / (2 * r * r))
    for _ in range(2):  # long ridges
        cx = rng.uniform(bounds[0], bounds[2])
        cy = rng.uniform(bounds[1], bounds[3])
        angle = rng.uniform(0, np.pi)
        width_deg = rng.uniform(0.004, 0.01) * span
        top = np.float32(rng.uniform(300, 800))
        across = (x - cx) * np.float32(np.sin(angle)) - (y - cy) * np.float32(np.cos(angle))
        ridge = np.exp(-(across**2) / np.float32(2 * width_deg**2))
        del across
        along = (x - cx) * np.float32(np.cos(angle)) + (y - cy) * np.float32(np.sin(angle))
        ridge *= np.exp(-(along**2) / np.float32(2 * (0.3 * span) ** 2))
        del along
        z += top * ridge
        del ridge
    z += rng.standard_normal(z.shape, dtype=np.float32) * np.float32(3.0)  # fields and houses
    np.clip(z, 0, 2500, out=z)
    return _write(
        Path(path),
        z,
        transform,
        -9999.0,
        "seeded sample terrain (not a real DEM)",
    )


def sample_population(
    villages: gpd.GeoDataFrame,
    path: str | Path,
    *,
    seed: int = 13,
    people_per_km2: float = 900.0,
) -> Path:
    """Write a seeded population grid (people per ~100 m cell) for the villages to ``path``.

    Each village gets about ``people_per_km2`` times its area, gathered around its label point
    (its settlement) and thinning out to its fields. Float32, nodata -1.
    """
    rng = np.random.default_rng(seed)
    villages = villages.to_crs("EPSG:4326")
    bounds = tuple(float(v) for v in villages.total_bounds)
    step = 3 * ARC_SECOND
    transform, width, height = _grid(bounds, step, 0.0)
    lon = transform.c + (np.arange(width) + 0.5) * transform.a
    lat = transform.f + (np.arange(height) + 0.5) * transform.e
    people = np.zeros((height, width), dtype=np.float64)
    for _, village in villages.iterrows():
        area = float(village.get("area_km2") or 1.0)
        total = people_per_km2 * area * rng.uniform(0.6, 1.4)
        cx, cy = float(village["label_lon"]), float(village["label_lat"])
        r = np.sqrt(area) / 111.0 * rng.uniform(0.15, 0.3)
        # only the cells within four spreads of the settlement: a province has 8,494 of them
        cols = slice(*np.searchsorted(lon, [cx - 4 * r, cx + 4 * r]))
        rows = slice(*np.searchsorted(-lat, [-(cy + 4 * r), -(cy - 4 * r)]))
        dx, dy = lon[cols][None, :] - cx, lat[rows][:, None] - cy
        weight = np.exp(-(dx**2 + dy**2) / (2 * r * r))
        if weight.sum() > 0:
            people[rows, cols] += total * weight / weight.sum()
    people *= rng.uniform(0.8, 1.2, people.shape)
    return _write(
        Path(path),
        people.astype(np.float32),
        transform,
        -1.0,
        "seeded sample population (not a census or WorldPop)",
    )
