"""Geometry helpers of the registry: equal-area areas, dissolving children, label points.

Vectorised over shapely arrays; no database and no file here, so notebooks and every importer
use the same measures.
"""

from __future__ import annotations

from typing import Any

import numpy as np

import shapely

SLIVER_HOLE_DEG2 = 1e-6
"""Holes smaller than this (about 1.2 ha) in a dissolved parent are gaps between neighbouring
villages in the source, not enclaves: the source's polygons do not tile exactly."""


def dissolve(parts: list[Any]) -> Any:
    """Union of child boundaries as a MultiPolygon, with sliver gaps between children filled.

    A filled gap may swallow a small part that lay inside it (valid before, nested shells
    after); the filled parts are then unioned once more.
    """
    polygons = []
    for polygon in shapely.get_parts(shapely.union_all(np.array(parts, dtype=object))):
        count = shapely.get_num_interior_rings(polygon)
        if count == 0:
            polygons.append(polygon)
            continue
        holes = shapely.get_interior_ring(polygon, np.arange(count))
        holes = holes[shapely.area(shapely.polygons(holes)) >= SLIVER_HOLE_DEG2]
        polygons.append(shapely.polygons(shapely.get_exterior_ring(polygon), holes=holes))
    result = shapely.multipolygons(polygons)
    if not result.is_valid:
        result = shapely.multipolygons(shapely.get_parts(shapely.union_all(polygons)).tolist())
    return result


_WGS84_A = 6378137.0
_WGS84_E2 = (1 / 298.257223563) * (2 - 1 / 298.257223563)
_WGS84_E = float(np.sqrt(_WGS84_E2))


def _authalic_q(lat: np.ndarray) -> np.ndarray:
    """``q`` of the ellipsoid's authalic latitude (Snyder 1987, eq. 3-12), latitude in radians."""
    sin = np.sin(lat)
    es = _WGS84_E * sin
    return (1 - _WGS84_E2) * (sin / (1 - es * es) + np.arctanh(es) / _WGS84_E)


AREA_BATCH_COORDINATES = 250_000
"""Coordinates measured per batch by :func:`area_km2`: its arrays take ~80 bytes a coordinate,
so a batch stays near 20 MB. All 7,050 parents dissolved from 84,940 villages at once (4
million coordinates) made the import's peak memory 500 MB higher."""


def area_km2(geoms: list[Any] | np.ndarray) -> np.ndarray:
    """Areas in km² on the cylindrical equal-area projection of the WGS 84 ellipsoid.

    The projection is EPSG:6933's (WGS 84 / EASE-Grid 2.0): ``x = a k λ``, ``y = a q / 2k``,
    so an area is ``a²/2`` times the shoelace area in ``(λ, q)``, whatever the scale ``k``.
    Computed on the coordinate arrays of all (multi)polygons at once instead of projecting
    every geometry: about four times faster for the 8,494 Jawa Timur villages, and equal to
    ``to_crs(6933).area`` to 1e-11. Holes are subtracted; missing or empty geometries give 0.
    Measured in batches of about :data:`AREA_BATCH_COORDINATES` coordinates.
    """
    geoms = np.asarray(geoms, dtype=object)
    sizes = np.cumsum(shapely.get_num_coordinates(geoms))
    if len(geoms) > 1 and sizes[-1] > AREA_BATCH_COORDINATES:
        cuts = np.searchsorted(
            sizes, np.arange(1, sizes[-1] // AREA_BATCH_COORDINATES + 1) * AREA_BATCH_COORDINATES
        )
        batches = np.split(geoms, np.unique(np.clip(cuts + 1, 1, len(geoms) - 1)))
        return np.concatenate([_area_km2(batch) for batch in batches])
    return _area_km2(geoms)


def _area_km2(geoms: np.ndarray) -> np.ndarray:
    """:func:`area_km2` of one batch."""
    polygons, polygon_owner = shapely.get_parts(geoms, return_index=True)
    rings, ring_owner = shapely.get_rings(polygons, return_index=True)
    coords, coord_ring = shapely.get_coordinates(rings, return_index=True)
    if not len(rings):
        return np.zeros(len(geoms))
    ring_start = np.searchsorted(coord_ring, np.arange(len(rings) + 1))
    lam = np.radians(coords[:, 0])
    q = _authalic_q(np.radians(coords[:, 1]))
    origin = np.repeat(ring_start[:-1], np.diff(ring_start))
    lam, q = lam - lam[origin], q - q[origin]  # shoelace is translation-invariant: less rounding
    cross = lam[:-1] * q[1:] - lam[1:] * q[:-1]
    cross[ring_start[1:-1] - 1] = 0.0  # pairs that straddle two rings
    ring_area = (
        np.abs(np.add.reduceat(np.r_[cross, 0.0], ring_start[:-1])) / 2 if len(rings) else []
    )
    exterior = np.r_[True, ring_owner[1:] != ring_owner[:-1]][: len(rings)]
    polygon_area = np.bincount(
        ring_owner, weights=np.where(exterior, ring_area, -ring_area), minlength=len(polygons)
    )
    area = np.bincount(polygon_owner, weights=polygon_area, minlength=len(geoms))
    return area * _WGS84_A**2 / 2 / 1e6


def label_points(geoms: list[Any] | np.ndarray) -> np.ndarray:
    """A point inside each polygon (``point_on_surface``, not the centroid), as (lon, lat) rows.

    A centroid may fall outside a crescent-shaped village or in the sea off a coastal one; a
    label or a popup anchor must be on the village itself.
    """
    return shapely.get_coordinates(shapely.point_on_surface(np.asarray(geoms, dtype=object)))


def utm_epsg(lon: float, lat: float) -> int:
    """The EPSG code of the WGS 84 UTM zone of a position (32749 for Malang)."""
    zone = min(60, int((lon + 180.0) // 6.0) + 1)
    return (32700 if lat < 0 else 32600) + zone
