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

import datetime as dt
import functools
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from threading import Lock
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import Text, and_, cast, exists, func, or_, select
from sqlalchemy.orm import Session, aliased

import geopandas as gpd
import shapely

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
_TEMPORAL = {
    "fibre_route": "commissioned_on",
    "speed_tile": "period_start",
    "speed_test": "measured_on",
}
"""The layers whose features have a day, and the property that holds it."""
_QUARTERS = {"speed_tile"}
"""Layers whose day is the first of a quarter the feature stands for (Ookla's tiles)."""


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

    @property
    def temporal(self) -> str | None:
        """The property its features' time is: a day each, or an area's validity; or none."""
        return "valid_from/valid_to" if self.kind == "area" else _TEMPORAL.get(self.id)

    def select_from(self, stmt: Any, *, during: Period | None = None) -> Any:
        """``stmt`` (a select of this collection's columns) from the rows served.

        Areas: the versions in force, or ``during`` a period each area's latest version in
        force in it (one version a code, so ids stay unique).
        """
        if self.kind == "area":
            if during is None:
                return stmt.where(self.model.in_force())
            return stmt.where(_in_force_during(self.model, during))
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
class Rows:
    """Features as the database gave them: column names, value tuples and geometries.

    What a page becomes without a DataFrame between: :func:`items` with ``rows=True``, for a
    server that renders the features straight to text (a frame costs more than the query).
    """

    columns: list[str]
    values: list[tuple[Any, ...]]
    geometries: np.ndarray
    """Shapely geometries (lon/lat), one for each row."""

    def __len__(self) -> int:
        return len(self.values)

    def frame(self) -> gpd.GeoDataFrame:
        """The rows as a GeoDataFrame in EPSG:4326, as :func:`items` gives them by default."""
        frame = pd.DataFrame(self.values, columns=self.columns)
        geometry = gpd.GeoSeries(self.geometries, index=frame.index, crs=queries.CRS)
        return gpd.GeoDataFrame(frame, geometry=geometry, crs=queries.CRS)


@dataclass
class Page:
    """One page of a collection's features and how many matched in all.

    ``matched`` is exact: a collection's whole count is kept until it changes (:func:`count`),
    a filter's is counted up to :data:`COUNT_CAP` and is ``None`` beyond (counting every match
    of a filter over millions of speed-test tiles would cost more than the page).
    """

    features: Any
    """A GeoDataFrame, or :class:`Rows` when asked for."""
    matched: int | None


def stamp(session: Session, collection: Collection) -> str:
    """What changes whenever the collection's features do: its tables' latest logged writes.

    Triggers log every write (:class:`~geo.store.models.LayerChange`), so this is one indexed
    read at any size of table; each entry's random token keeps a database built again from
    scratch from repeating a stamp.
    """
    return str(session.execute(select(stamp_of(collection))).scalar_one())


@functools.cache
def stamp_of(collection: Collection) -> Any:
    """The SQL expression :func:`stamp` reads, to read it beside something else in one query.

    Read in the same statement as a tile, the stamp and the bytes come from one snapshot. The
    stamp is the latest change row's id, and a later id is a later commit (on PostGIS a
    deferred trigger numbers the row as its transaction commits, one layer's commits in turn;
    a GeoPackage commits one transaction at a time): a snapshot that sees a commit sees every
    earlier one, so a transaction that began first and committed last still moves the stamp.
    """
    parts = []
    for table in collection.tables:
        latest = (
            select(cast(LayerChange.id, Text) + "-" + LayerChange.token)
            .where(LayerChange.layer == table)
            .order_by(LayerChange.id.desc())
            .limit(1)
            .scalar_subquery()
        )
        parts.append(func.coalesce(latest, "-"))
    joined = parts[0]
    for part in parts[1:]:
        joined = joined + "." + part
    return joined.label("stamp")


@dataclass(frozen=True)
class Period:
    """A ``datetime`` of OGC API Features as days: one day, or from a day to a day (either open).

    Every time in the registry is a day (a route commissioned, a test measured, a quarter's
    first day, a boundary's validity), so a timestamp stands for its day in UTC.
    """

    start: dt.date | None
    end: dt.date | None

    @classmethod
    def parse(cls, text: str) -> Period:
        """An RFC 3339 date or date-time, or an interval ``start/end`` with ``..`` for open.

        Raises ValueError naming what is wrong.
        """
        parts = text.split("/")
        if len(parts) > 2:
            raise ValueError(f"datetime {text!r}: an instant, or an interval start/end")
        days = [_day(part, text) for part in parts]
        if len(days) == 1:
            if days[0] is None:
                raise ValueError(f"datetime {text!r}: an instant cannot be open ('..')")
            return cls(days[0], days[0])
        start, end = days
        if start is None and end is None:
            raise ValueError(f"datetime {text!r}: at least one end of an interval must be set")
        if start is not None and end is not None and start > end:
            raise ValueError(f"datetime {text!r}: the interval ends before it starts")
        return cls(start, end)

    def condition(self, column: Any) -> Any:
        """The rows whose day (``column``) is in the period."""
        parts = [column.is_not(None)]
        if self.start is not None:
            parts.append(column >= self.start)
        if self.end is not None:
            parts.append(column <= self.end)
        return and_(*parts)


_UNBOUNDED = ("0000-", "9999-")


def _day(part: str, text: str) -> dt.date | None:
    if part in ("", "..") or part.startswith(_UNBOUNDED):
        return None  # QGIS writes an open end as year 0000 or 9999
    try:
        if len(part) == 10:
            return dt.date.fromisoformat(part)
        moment = dt.datetime.fromisoformat(part)
    except ValueError:
        raise ValueError(
            f"datetime {text!r}: {part!r} is not an RFC 3339 date or date-time "
            "(2024-05-01 or 2024-05-01T08:00:00Z)"
        ) from None
    if moment.tzinfo is None:
        raise ValueError(f"datetime {text!r}: {part!r} needs its time zone (Z or +07:00)")
    return moment.date()  # the day where it was given: 06:00+07:00 is that day in Indonesia


class Kept:
    """Values by key, at most ``most`` of them, the least recently used dropped first.

    Thread-safe (the API's worker threads share one); values are never ``None``.
    """

    def __init__(self) -> None:
        self._values: OrderedDict[Any, Any] = OrderedDict()
        self._lock = Lock()

    def get(self, key: Any) -> Any:
        """The value kept under ``key``, or ``None``."""
        with self._lock:
            if key not in self._values:
                return None
            self._values.move_to_end(key)
            return self._values[key]

    def put(self, key: Any, value: Any, most: int) -> None:
        """Keep ``value`` under ``key``, then drop the oldest beyond ``most``."""
        with self._lock:
            self._values[key] = value
            while len(self._values) > most:
                self._values.popitem(last=False)


_KEPT = Kept()
_KEPT_MOST = 512


def _kept(session: Session, collection: Collection, what: str, read: Any) -> Any:
    """``read()`` once, then kept until the collection changes (a new :func:`stamp`)."""
    key = (str(session.get_bind().url), collection.id, what, stamp(session, collection))
    value = _KEPT.get(key)
    if value is None:
        value = read()
        _KEPT.put(key, value, _KEPT_MOST)
    return value


def count(session: Session, collection: Collection) -> int:
    """How many features the collection has: counted once, then kept until it changes.

    Counting every row of a national table on every page would cost more than the page; the
    count is kept under the collection's :func:`stamp`, so it is exact and never stale.
    """
    return _kept(
        session,
        collection,
        "count",
        lambda: int(session.execute(_count(collection)).scalar_one()),
    )


def time_span(session: Session, collection: Collection) -> tuple[dt.date | None, dt.date | None]:
    """The first and last day of the collection's features (areas: from the earliest version).

    ``(None, None)`` for a collection without time or without features; kept as counts are.
    """
    if collection.temporal is None:
        return None, None
    if collection.kind == "area":
        first = func.min(collection.model.valid_from)
        stmt = select(first, func.max(collection.model.valid_from)).select_from(collection.model)
    else:
        column = getattr(collection.model, collection.temporal)
        stmt = select(func.min(column), func.max(column))

    def read() -> tuple[dt.date | None, dt.date | None]:
        start, end = session.execute(stmt).one()
        if start is None:
            return None, None
        if collection.kind == "area":
            return start, None
        return start, _quarter_end(end) if collection.id in _QUARTERS else end

    return _kept(session, collection, "time", read)


def _count(collection: Collection, *, during: Period | None = None) -> Any:
    return collection.select_from(select(func.count()).select_from(collection.model), during=during)


def _when(collection: Collection, period: Period | None) -> tuple[Period | None, Any]:
    """The period an area's versions are chosen by, or the condition on a layer's day."""
    if period is None:
        return None, None
    if collection.temporal is None:
        timed = ", ".join(c.id for c in COLLECTIONS.values() if c.temporal is not None)
        raise ValueError(f"datetime: {collection.id} has no time; collections with time: {timed}")
    if collection.kind == "area":
        return period, None
    if collection.id in _QUARTERS and period.start is not None:
        # a tile's day is its quarter's first: a quarter that began before the start overlaps
        period = Period(_quarter_start(period.start), period.end)
    return None, period.condition(getattr(collection.model, collection.temporal))


def _quarter_start(day: dt.date) -> dt.date:
    return dt.date(day.year, 3 * ((day.month - 1) // 3) + 1, 1)


def _quarter_end(first: dt.date) -> dt.date:
    after = dt.date(first.year + (first.month > 9), (first.month + 2) % 12 + 1, 1)
    return after - dt.timedelta(days=1)


def _in_force_during(model: Any, period: Period) -> Any:
    """The version of each area in force during ``period`` (its latest, if several were)."""
    overlaps = [] if period.end is None else [model.valid_from <= period.end]
    if period.start is not None:
        overlaps.append(or_(model.valid_to.is_(None), model.valid_to > period.start))
    later = aliased(model)
    newer = [later.code == model.code, later.valid_from > model.valid_from]
    if period.end is not None:
        newer.append(later.valid_from <= period.end)
    return and_(*overlaps, ~exists().where(*newer))


def items(
    session: Session,
    collection: Collection,
    *,
    bbox: queries.BBox | None = None,
    cql: Any = None,
    sortby: Sequence[tuple[str, bool]] = (),
    period: Period | None = None,
    limit: int = DEFAULT_LIMIT,
    offset: int = 0,
    rows: bool = False,
) -> Page:
    """Features ``offset`` to ``offset + limit`` of the collection, and how many matched.

    ``bbox`` (lon/lat) keeps the features intersecting it, through the spatial index; ``cql``
    (a tree of :func:`geo.cql.parse`) those it holds for. ``sortby`` orders by queryables,
    ``(name, descending)`` each, then by the key (the order without one). Raises ValueError
    for a limit outside 1..:data:`MAX_LIMIT`, a negative offset, a box whose corners are
    swapped, or a sort by what is not a queryable; :class:`geo.cql.CQLError` for a filter
    that cannot be served. ``period`` keeps the features whose day is in it (areas: each
    area's version in force then, its latest if several were); ValueError for a collection
    without time. ``rows`` gives the features as :class:`Rows` instead of a GeoDataFrame.
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
    during, timed = _when(collection, period)
    stmt, counted = _select(collection, during=during), _count(collection, during=during)
    if timed is not None:
        stmt, counted = stmt.where(timed), counted.where(timed)
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
    frame = _rows(session, stmt) if rows else _frame(session, stmt)
    if bbox is None and cql is None and period is None:
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


def _select(collection: Collection, *, during: Period | None = None) -> Any:
    geometry = func.ST_AsBinary(collection.geom).label("geometry")
    return collection.select_from(select(*collection.properties, geometry), during=during)


def _rows(session: Session, stmt: Any) -> Rows:
    result = session.execute(stmt)
    columns = list(result.keys())
    at = columns.index("geometry")
    values, wkb = [], []
    for row in result:
        wkb.append(None if row[at] is None else bytes(row[at]))
        values.append(row[:at] + row[at + 1 :])
    return Rows(columns[:at] + columns[at + 1 :], values, shapely.from_wkb(wkb))


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
