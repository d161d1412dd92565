"""Vector tiles (Mapbox Vector Tile) of the collections, in the WebMercatorQuad grid.

A tile holds the features of one collection that intersect it, found through the spatial
index, at most :data:`MAX_FEATURES` of them (in key order), each simplified to what the zoom
shows and clipped to the tile with a small buffer, with a few properties (:func:`properties`).
On PostGIS the database makes the tile (``ST_AsMVTGeom``, ``ST_AsMVT``); on the GeoPackage
the features are read as any query reads them and encoded by ``mapbox-vector-tile``, with
the same grid, extent, buffer and simplification.

Tiles are cached in the process, each with the *stamp* it was made at: the change counters
of its collection's tables (:func:`geo.features.stamp`). A kept tile is served while a fresh
read of the stamp still equals its own, so a write through any process (an import, an API
edit, a coverage run, QGIS editing the GeoPackage) makes new tiles. On PostGIS a tile is
always read with its stamp in one statement, so the two belong to one snapshot.
"""

from __future__ import annotations

import functools
from typing import Any

import mapbox_vector_tile
import morecantile
import numpy as np
from sqlalchemy import Float, Integer, bindparam, func, literal_column, select
from sqlalchemy.orm import Session

import shapely

from geo import features, queries
from geo.store.backend import backend_of

TMS = morecantile.tms.get("WebMercatorQuad")
EXTENT = 4096
"""Tile coordinates run 0..4096 (the MVT default)."""
BUFFER = 64
"""Coordinates kept beyond the tile's edge, so strokes join across tiles."""
MAX_FEATURES = 20_000
"""The most features one tile holds (the first in key order); a client zooms in for more."""
MAX_ZOOM = 22
HEAVY_ZOOM = 10
"""Up to this zoom a tile of a province holds thousands of boundaries (tuned for on PostGIS)."""
CACHE_TILES = 2_048
_PROPERTIES = {
    "area": ("code", "name", "kind"),
    "asset": ("id", "name", "village_code"),
    "measurement": ("id", "village_code"),
    "register": ("code", "name", "connectivity_class", "population_uncovered"),
    "blank_spot": ("id", "village_code", "area_km2"),
}


class TileOutOfRange(ValueError):
    """A tile that is not in the WebMercatorQuad grid (zoom 0-22, column and row in range)."""


def properties(collection: features.Collection) -> tuple[str, ...]:
    """The properties a tile carries of each feature (the rest: read the feature)."""
    return _PROPERTIES[collection.kind]


def check_tile(z: int, x: int, y: int) -> None:
    """Refuse a tile outside the grid."""
    if not 0 <= z <= MAX_ZOOM:
        raise TileOutOfRange(f"zoom {z} is outside 0..{MAX_ZOOM}")
    side = 1 << z
    if not (0 <= x < side and 0 <= y < side):
        raise TileOutOfRange(f"tile column {x} or row {y} is outside 0..{side - 1} at zoom {z}")


_CACHE = features.Kept()


def tile(
    session: Session, collection: features.Collection, z: int, x: int, y: int
) -> tuple[bytes, str]:
    """The tile's bytes (MVT, one layer named as the collection) and its stamp.

    A tile made is kept with the stamp it was made at; asked again, the stamp is read (one
    indexed query) and the kept bytes served while it holds. A tile made on PostGIS is
    read with its stamp in one statement (one round trip, one snapshot).
    """
    check_tile(z, x, y)
    where = (str(session.get_bind().url), collection.id, z, x, y)
    kept = _CACHE.get(where)
    version = None
    if kept is not None:
        version = features.stamp(session, collection)
        if kept[0] == version:
            return kept[1], version
    if backend_of(session).makes_vector_tiles:
        data, version = _postgis_tile(session, collection, z, x, y)
    else:
        version = version if version is not None else features.stamp(session, collection)
        data = _encoded_tile(session, collection, z, x, y)
    _CACHE.put(where, (version, data), CACHE_TILES)
    return data, version


def _bounds(z: int, x: int, y: int) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """The tile's box in Web Mercator metres, and that box grown by the buffer in lon/lat."""
    box = TMS.xy_bounds(morecantile.Tile(x, y, z))
    metres = (box.left, box.bottom, box.right, box.top)
    left, bottom, right, top = _grown(metres)
    west, south = TMS.lnglat(left, bottom)
    east, north = TMS.lnglat(right, top)
    return metres, (west, max(south, -85.06), east, min(north, 85.06))


def _tolerance(z: int) -> float:
    """Half a tile coordinate, in metres: what a zoom cannot show."""
    return 2 * 20_037_508.342789244 / (1 << z) / EXTENT / 2


def _columns(collection: features.Collection) -> list[Any]:
    queryable = collection.queryables()
    return [queryable[name].label(name) for name in properties(collection)]


_HEAVY = select(func.set_config("jit", "off", True), func.set_config("work_mem", "64MB", True))
"""Thousands of boundaries in a tile: JIT compiling costs more than it saves, and the sort by
key (with the tile geometries) spills to disk at the default work_mem."""


def _postgis_tile(
    session: Session, collection: features.Collection, z: int, x: int, y: int
) -> tuple[bytes, str]:
    """The tile's bytes and the collection's stamp, read in one statement.

    ``ST_AsMVT`` over the features whose box meets the tile's (GiST), simplified, clipped.
    """
    _, (west, south, east, north) = _bounds(z, x, y)
    params = {
        "z": z, "x": x, "y": y, "tolerance": _tolerance(z),
        "west": west, "south": south, "east": east, "north": north, "most": MAX_FEATURES,
    }  # fmt: skip
    if z <= HEAVY_ZOOM:
        session.execute(_HEAVY)
    row = session.execute(_tile_statement(collection), params).one()
    return bytes(row.data or b""), str(row.stamp)


@functools.cache
def _tile_statement(collection: features.Collection) -> Any:
    """The tile query of a collection, built once, its tile and box bound parameters.

    The box test is the PostGIS backend's ``within_bbox`` with the box as bound parameters.
    """
    z, x, y = (
        bindparam("z", type_=Integer),
        bindparam("x", type_=Integer),
        bindparam("y", type_=Integer),
    )
    envelope = func.ST_TileEnvelope(z, x, y)
    projected = func.ST_Transform(collection.geom, 3857)
    if collection.geometry_type != "Point":
        projected = func.ST_Simplify(projected, bindparam("tolerance", type_=Float), True)
    geometry = func.ST_AsMVTGeom(projected, envelope, EXTENT, BUFFER, True).label("geom")
    box = func.ST_MakeEnvelope(
        *(bindparam(side, type_=Float) for side in ("west", "south", "east", "north")), 4326
    )
    inner = collection.select_from(select(geometry, *_columns(collection)))
    inner = inner.where(func.ST_Intersects(collection.geom, box))
    inner = inner.order_by(collection.key).limit(bindparam("most", type_=Integer)).subquery("tile")
    data = (
        select(func.ST_AsMVT(literal_column("tile"), collection.id, EXTENT, "geom"))
        .select_from(inner)
        .scalar_subquery()
        .label("data")
    )
    return select(data, features.stamp_of(collection))


def _encoded_tile(
    session: Session, collection: features.Collection, z: int, x: int, y: int
) -> bytes:
    """The features read through the R*Tree, made Web Mercator, encoded by mapbox-vector-tile."""
    metres, lonlat = _bounds(z, x, y)
    geometry = func.ST_AsBinary(collection.geom).label("geometry")
    stmt = collection.select_from(select(geometry, *_columns(collection)))
    stmt = backend_of(session).within_bbox(stmt, collection.model, collection.geom, lonlat)
    frame = queries.geo_frame(session, stmt.order_by(collection.key).limit(MAX_FEATURES))
    if frame.empty:
        return b""
    frame = frame.to_crs(3857)
    geoms = frame.geometry.to_numpy()
    if collection.geometry_type != "Point":
        geoms = shapely.simplify(geoms, _tolerance(z), preserve_topology=True)
    grown = shapely.box(*_grown(metres))
    geoms = shapely.intersection(geoms, grown)
    keep = ~shapely.is_empty(geoms)
    records = frame.drop(columns="geometry").astype(object).where(frame.notna(), None)
    items = [
        {"geometry": geom, "properties": {k: _plain(v) for k, v in props.items() if v is not None}}
        for geom, props, kept in zip(geoms, records.to_dict("records"), keep, strict=True)
        if kept
    ]
    if not items:
        return b""
    # tile coordinates made here, all at once (the encoder's own quantize goes feature by
    # feature through a deprecated shapely function)
    west, south, east, north = metres
    scale = np.array([EXTENT / (east - west), EXTENT / (north - south)])
    origin = np.array([west, south])
    for item in items:
        item["geometry"] = shapely.transform(
            item["geometry"], lambda xy: np.round((xy - origin) * scale)
        )
    return mapbox_vector_tile.encode(
        [{"name": collection.id, "features": items}], default_options={"extents": EXTENT}
    )


def _grown(metres: tuple[float, ...]) -> tuple[float, ...]:
    grow = (metres[2] - metres[0]) * BUFFER / EXTENT
    return (metres[0] - grow, metres[1] - grow, metres[2] + grow, metres[3] + grow)


def _plain(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    return value
