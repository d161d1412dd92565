"""The registry's layers as feature collections, the way OGC API Features serves them.

A collection is one table read as features: the four administrative levels (their versions
in force, keyed by Kemendagri code), the asset layers and the measurement layers (keyed by
row id), and the coverage results: each village's latest connectivity row on its boundary
(``village_connectivity``, by code) and the blank spots of those runs (``blank_spot``).
Collection ids are the registry's layer names. :func:`items` pages through a
collection in key order, filtered by a box through the spatial index on either backend, and
counts what matched; :func:`item` reads one feature by its key; :func:`extent` is the box of a
collection from the spatial index. Everything is returned as GeoDataFrames in EPSG:4326 (CRS84
order: longitude, latitude); rendering and HTTP belong to :mod:`api`.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from threading import Lock
from typing import Any

import pandas as pd
from sqlalchemy import func, select
from sqlalchemy.orm import Session

import geopandas as gpd

from geo import queries
from geo.cql import to_condition
from geo.store.backend import backend_of
from geo.store.models import (
    AREA_MODELS,
    ASSET_LAYERS,
    MEASUREMENT_LAYERS,
    BlankSpot,
    LayerChange,
    Village,
    VillageConnectivity,
)

MAX_LIMIT = 10_000
"""The most features one page holds (OGC API Features' recommended maximum)."""
DEFAULT_LIMIT = 10
MAX_ID = 2**31 - 1
"""The largest row id (a 32-bit integer column on PostGIS)."""
_AREA_TITLES = {
    "province": ("Provinces", "Provinsi"),
    "regency": ("Regencies and cities", "Kabupaten/kota"),
    "district": ("Districts", "Kecamatan"),
    "village": ("Villages", "Desa/kelurahan"),
}
_HIDDEN = {"valid_to"}  # areas: every row served is in force


@dataclass(frozen=True)
class Collection:
    """One table read as features."""

    id: str
    title: str
    title_id: str
    model: type
    """The table holding the geometry (a register's: the village's)."""
    geometry_type: str
    kind: str
    """``area`` (keyed by code, versions in force only), ``asset`` or ``measurement`` (by id),
    ``register`` (each village's latest connectivity row, keyed by code, on its boundary) or
    ``blank_spot`` (the blank-spot areas of each village's latest run, by id)."""

    @property
    def geom(self) -> Any:
        """The geometry column."""
        return self.model.boundary if self.kind in ("area", "register") else self.model.geom

    @property
    def key(self) -> Any:
        """The column a feature's id comes from."""
        return self.model.code if self.kind in ("area", "register") else self.model.id

    @property
    def properties(self) -> list[Any]:
        """The columns published as properties (all but the geometry; areas: not validity)."""
        if self.kind == "register":
            register = VillageConnectivity.__table__
            own = [c for c in register.columns if c.name not in ("id", "village_code")]
            return [Village.code, Village.name, Village.parent_code.label("district_code"), *own]
        table = self.model.__table__
        skip = {self.geom.key, *(_HIDDEN if self.kind == "area" else ())}
        return [getattr(self.model, c.key) for c in table.columns if c.name not in skip]

    @property
    def tables(self) -> tuple[str, ...]:
        """The tables its features are read from (what :func:`stamp` watches)."""
        if self.kind == "register":
            return (Village.__tablename__, VillageConnectivity.__tablename__)
        if self.kind == "blank_spot":
            return (BlankSpot.__tablename__, VillageConnectivity.__tablename__)
        return (self.model.__tablename__,)

    def queryables(self) -> dict[str, Any]:
        """The properties a filter or a sort may name, and their columns."""
        return {getattr(c, "name", c.key): getattr(c, "element", c) for c in self.properties}

    def select_from(self, stmt: Any) -> Any:
        """``stmt`` (a select of this collection's columns) from the rows served."""
        if self.kind == "area":
            return stmt.where(self.model.in_force())
        if self.kind == "register":
            latest = _latest_runs()
            register = VillageConnectivity.__table__
            return (
                stmt.select_from(Village)
                .join(register, register.c.village_code == Village.code)
                .join(
                    latest,
                    (latest.c.village_code == register.c.village_code)
                    & (latest.c.run_id == register.c.run_id),
                )
                .where(Village.in_force())
            )
        if self.kind == "blank_spot":
            latest = _latest_runs()
            return stmt.join(
                latest,
                (latest.c.village_code == BlankSpot.village_code)
                & (latest.c.run_id == BlankSpot.run_id),
            )
        return stmt


def _latest_runs() -> Any:
    """Each village's latest run of the register: ``(village_code, run_id)``."""
    register = VillageConnectivity.__table__
    return (
        select(register.c.village_code, func.max(register.c.run_id).label("run_id"))
        .group_by(register.c.village_code)
        .subquery("latest_run")
    )


def _collections() -> dict[str, Collection]:
    out: dict[str, Collection] = {}
    for model in AREA_MODELS.values():
        title, title_id = _AREA_TITLES[model.__tablename__]
        out[model.__tablename__] = Collection(
            model.__tablename__, title, title_id, model, "MultiPolygon", "area"
        )
    for kind, layers in (("asset", ASSET_LAYERS), ("measurement", MEASUREMENT_LAYERS)):
        for info in layers.values():
            geometry_type = {"POINT": "Point", "MULTILINESTRING": "MultiLineString"}.get(
                info.model.geometry_type, "MultiPolygon"
            )
            out[info.name] = Collection(
                info.name, info.title, info.title_id, info.model, geometry_type, kind
            )
    out["village_connectivity"] = Collection(
        "village_connectivity",
        "Connectivity register (each village's latest run)",
        "Register konektivitas desa",
        Village,
        "MultiPolygon",
        "register",
    )
    out["blank_spot"] = Collection(
        "blank_spot",
        "Blank spots (each village's latest run)",
        "Blank spot (tanpa sinyal)",
        BlankSpot,
        "MultiPolygon",
        "blank_spot",
    )
    return out


COLLECTIONS: dict[str, Collection] = _collections()
"""Every collection by id: ``province``, ``regency``, ``district``, ``village``, the asset
layers, the measurement layers, ``village_connectivity`` and ``blank_spot``."""


COUNT_CAP = 100_000
"""A filter's matches are counted up to this many; beyond, how many is left unsaid."""


@dataclass
class Page:
    """One page of a collection's features and how many matched in all.

    ``matched`` is exact: a collection's whole count is kept until it changes (:func:`count`),
    a filter's is counted up to :data:`COUNT_CAP` and is ``None`` beyond (counting every match
    of a filter over millions of speed-test tiles would cost more than the page).
    """

    features: gpd.GeoDataFrame
    matched: int | None


def stamp(session: Session, collection: Collection) -> str:
    """What changes whenever the collection's features do: its tables' change counters.

    The counters are bumped by triggers on every write (:class:`~geo.store.models.LayerChange`),
    so this is one keyed read, at any size of table.
    """
    rows = session.execute(
        select(LayerChange.layer, LayerChange.version).where(
            LayerChange.layer.in_(collection.tables)
        )
    ).all()
    versions = dict(rows)
    return ".".join(str(versions.get(table, "-")) for table in collection.tables)


@dataclass
class _Counts:
    """Each collection's number of features, by database and stamp (bounded, thread-safe)."""

    counts: OrderedDict[tuple[str, str, str], int]
    lock: Lock


_COUNTS = _Counts(OrderedDict(), Lock())
_COUNTS_KEPT = 256


def count(session: Session, collection: Collection) -> int:
    """How many features the collection has: counted once, then kept until it changes.

    Counting every row of a national table on every page would cost more than the page; the
    count is kept under the collection's :func:`stamp`, so it is exact and never stale.
    """
    key = (str(session.get_bind().url), collection.id, stamp(session, collection))
    with _COUNTS.lock:
        if key in _COUNTS.counts:
            _COUNTS.counts.move_to_end(key)
            return _COUNTS.counts[key]
    counted = int(session.execute(_count(collection)).scalar_one())
    with _COUNTS.lock:
        _COUNTS.counts[key] = counted
        while len(_COUNTS.counts) > _COUNTS_KEPT:
            _COUNTS.counts.popitem(last=False)
    return counted


def _count(collection: Collection) -> Any:
    return collection.select_from(select(func.count()).select_from(collection.model))


def items(
    session: Session,
    collection: Collection,
    *,
    bbox: queries.BBox | None = None,
    cql: Any = None,
    sortby: Sequence[tuple[str, bool]] = (),
    limit: int = DEFAULT_LIMIT,
    offset: int = 0,
) -> Page:
    """Features ``offset`` to ``offset + limit`` of the collection, and how many matched.

    ``bbox`` (lon/lat) keeps the features intersecting it, through the spatial index; ``cql``
    (a tree of :func:`geo.cql.parse`) those it holds for. ``sortby`` orders by queryables,
    ``(name, descending)`` each, then by the key (the order without one). Raises ValueError
    for a limit outside 1..:data:`MAX_LIMIT`, a negative offset, a box whose corners are
    swapped, or a sort by what is not a queryable; :class:`geo.cql.CQLError` for a filter
    that cannot be served.
    """
    if not 1 <= limit <= MAX_LIMIT:
        raise ValueError(f"limit must be 1 to {MAX_LIMIT}, got {limit}")
    if offset < 0:
        raise ValueError(f"offset must be 0 or more, got {offset}")
    queryable = collection.queryables()
    order = []
    for name, descending in sortby:
        if name not in queryable:
            raise ValueError(
                f"sortby: {name!r} is not a queryable; queryables: {', '.join(queryable)}"
            )
        column = queryable[name]  # empty values last going up, first going down, on both
        order.append(column.desc().nulls_first() if descending else column.asc().nulls_last())
    stmt, counted = _select(collection), _count(collection)
    if bbox is not None:
        bounds = _bounds(bbox)
        stmt = backend_of(session).within_bbox(stmt, collection.model, collection.geom, bounds)
        counted = backend_of(session).within_bbox(
            counted, collection.model, collection.geom, bounds
        )
    if cql is not None:
        condition = to_condition(session, cql, queryable, collection.geom)
        stmt, counted = stmt.where(condition), counted.where(condition)
    stmt = stmt.order_by(*order, collection.key).limit(limit).offset(offset)
    frame = _frame(session, stmt)
    if bbox is None and cql is None:
        return Page(frame, count(session, collection))
    if len(frame) < limit and (offset == 0 or len(frame) > 0):  # this page is the last
        return Page(frame, offset + len(frame))
    capped = select(func.count()).select_from(
        counted.with_only_columns(collection.key).limit(COUNT_CAP + 1).subquery()
    )
    matched = int(session.execute(capped).scalar_one())
    return Page(frame, matched if matched <= COUNT_CAP else None)


def item(session: Session, collection: Collection, feature_id: str) -> gpd.GeoDataFrame:
    """The feature whose key is ``feature_id`` (no row when there is none)."""
    if collection.kind in ("area", "register"):
        key: Any = feature_id
    else:
        try:
            key = int(feature_id)
        except ValueError:
            key = -1
        if not 0 < key <= MAX_ID:  # an id no row can have: no query (nor an overflow)
            return _frame(session, _select(collection).where(False))
    return _frame(session, _select(collection).where(collection.key == key))


def extent(session: Session, collection: Collection) -> tuple[float, float, float, float] | None:
    """The box of the collection's features (lon/lat), ``None`` when it has none.

    From the spatial index, so of every row of the table: the register's is the box of all
    villages (once any run exists), the blank spots' that of every run's.
    """
    never_run = session.execute(select(VillageConnectivity.id).limit(1)).first() is None
    if collection.kind == "register" and never_run:
        return None
    return backend_of(session).extent(session, collection.model, collection.geom)


def _select(collection: Collection) -> Any:
    geometry = func.ST_AsBinary(collection.geom).label("geometry")
    return collection.select_from(select(*collection.properties, geometry))


def _frame(session: Session, stmt: Any) -> gpd.GeoDataFrame:
    frame = queries.geo_frame(session, stmt)
    if "id" in frame.columns and pd.api.types.is_float_dtype(frame["id"]):
        frame["id"] = frame["id"].astype("int64")
    return frame


def _bounds(bbox: queries.BBox) -> tuple[float, float, float, float]:
    west, south, east, north = (float(v) for v in bbox)
    if west > east or south > north:
        raise ValueError(f"bbox must be west,south,east,north, got {west},{south},{east},{north}")
    return west, south, east, north
