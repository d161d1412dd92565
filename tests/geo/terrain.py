"""The ridge terrain of the coverage tests: rasters and villages built by construction.

The terrain is a plain at 100 m with, in the ``ridge`` variant, a wall 400 m high and one 30 m
cell wide along x = 603,000-603,030 (EPSG:32749, near Malang). Villages, in metres::

    y 9,112,000  +----- WEST -----+#+------ EAST ------+
                 |   T (tower)    |#|                  |      T at (601,500, 9,111,500)
    y 9,111,000  +----------------+#+------------------+
                 |        +-- SPLIT --#--------+            SPLIT: x 601,500-604,560
    y 9,110,010  |        +-----------#--------+
    FARWEST: x 597,030-599,970, y 9,111,000-9,112,000 (west of WEST)
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from affine import Affine
from sqlalchemy import Engine

import rasterio
import shapely
from pyproj import Transformer
from shapely.geometry import Point, box

from geo.store.db import transaction
from tests.geo.helpers import add_areas, add_asset

UTM = "EPSG:32749"
TO_WGS84 = Transformer.from_crs(UTM, "EPSG:4326", always_xy=True).transform
ORIGIN = (597_000.0, 9_114_000.0)  # top left of every test raster
STEP = 30.0
WIDTH, HEIGHT = 400, 200  # 12 km x 6 km
RIDGE_COL = 200  # x 603,000-603,030
TOWER = (601_500.0, 9_111_500.0)

WEST, EAST, SPLIT, FARWEST = "35.07.01.2001", "35.07.01.2002", "35.07.01.2003", "35.07.01.2004"
SHAPES_M = {
    WEST: box(600_000, 9_111_000, 603_000, 9_112_000),
    EAST: box(603_030, 9_111_000, 606_000, 9_112_000),
    SPLIT: box(601_500, 9_110_010, 604_560, 9_111_000),
    FARWEST: box(597_030, 9_111_000, 599_970, 9_112_000),
}


def wgs84(geom):
    """A geometry in metres (EPSG:32749) in lon/lat."""
    return shapely.transform(geom, lambda xy: np.column_stack(TO_WGS84(xy[:, 0], xy[:, 1])))


def write_raster(path: Path, data: np.ndarray, *, crs=UTM, nodata=None, transform=None) -> Path:
    profile = {
        "driver": "GTiff",
        "width": data.shape[1],
        "height": data.shape[0],
        "count": 1,
        "dtype": str(data.dtype),
        "transform": transform or Affine(STEP, 0, ORIGIN[0], 0, -STEP, ORIGIN[1]),
        "nodata": nodata,
    }
    if crs is not None:
        profile["crs"] = crs
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(data, 1)
    return path


def dem(tmp_path: Path, ridge: bool = True) -> Path:
    heights = np.full((HEIGHT, WIDTH), 100.0, dtype=np.float32)
    if ridge:
        heights[:, RIDGE_COL] = 400.0
    return write_raster(tmp_path / ("ridge.tif" if ridge else "plain.tif"), heights, nodata=-9999.0)


def population(tmp_path: Path) -> Path:
    """10 people in every cell of SPLIT's west half (x 601,500-603,000), nobody elsewhere."""
    people = np.zeros((HEIGHT, WIDTH), dtype=np.float32)
    people[100:133, 150:200] = 10.0
    return write_raster(tmp_path / "people.tif", people, nodata=-1.0)


def build_registry(engine: Engine) -> Engine:
    """The province, regency and district around the four villages, and the villages."""
    outline = shapely.unary_union([wgs84(s) for s in SHAPES_M.values()]).envelope
    with transaction(engine) as session:
        add_areas(
            session,
            {
                "35": outline,
                "35.07": outline,
                "35.07.01": outline,
                **{code: wgs84(shape) for code, shape in SHAPES_M.items()},
            },
        )
    return engine


def add_tower(engine: Engine, at=TOWER, **columns) -> None:
    columns = {"technologies": "4G", "height_m": 30.0, "status": "on-air", **columns}
    with transaction(engine) as session:
        add_asset(session, "tower", wgs84(Point(*at)), village_code=WEST, **columns)
