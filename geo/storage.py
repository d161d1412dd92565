"""Bulk reads and writes shared by the importers (SQLAlchemy Core, both backends)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from psycopg import sql as psql
from sqlalchemy import bindparam, func, insert, select, update
from sqlalchemy.orm import Session

import shapely

from geo.models import SRID, utcnow

_WKB = "_wkb"


def geom_from_wkb(session: Session, param: str = _WKB) -> Any:
    """SQL expression turning a WKB bind parameter into the backend's geometry value.

    Every geometry write goes through here (not GeoAlchemy2's ``from_shape``, which on a
    GeoPackage stores SpatiaLite's own blob format rather than GeoPackage binary).

    Binding WKB avoids GeoAlchemy2's per-row EWKT round trip, which on a GeoPackage is about
    30 times slower for province-sized layers. On a GeoPackage the value must be GeoPackage
    binary (``AsGPB``), which GDAL and QGIS read.
    """
    if session.get_bind().dialect.name in ("geopackage", "sqlite"):
        return func.AsGPB(func.GeomFromWKB(bindparam(param), SRID))
    return func.ST_GeomFromWKB(bindparam(param), SRID)


def read_geometries(session: Session, column: Any, key: Any, keys: Sequence[Any]) -> dict[Any, Any]:
    """Map ``key`` -> shapely geometry of ``column`` for the given keys (chunked IN lists)."""
    out: dict[Any, Any] = {}
    for start in range(0, len(keys), 5000):
        chunk = list(keys[start : start + 5000])
        rows = session.execute(select(key, func.ST_AsBinary(column)).where(key.in_(chunk))).all()
        for k, wkb in rows:
            out[k] = shapely.from_wkb(bytes(wkb)) if wkb is not None else None
    return out


def insert_rows(
    session: Session, model: type, rows: list[dict[str, Any]], geom_column: str
) -> None:
    """Insert rows (each with a shapely geometry under ``geom_column``).

    PostGIS gets one ``COPY`` (the fast path ogr2ogr uses too); the GeoPackage one executemany.
    """
    if not rows:
        return
    if session.get_bind().dialect.name == "postgresql":
        _copy_rows(session, model, rows, geom_column)
        return
    now = utcnow()
    wkbs = shapely.to_wkb([row[geom_column] for row in rows])
    payload = [
        {
            **{k: v for k, v in row.items() if k != geom_column},
            _WKB: wkb,
            "created_at": now,
            "updated_at": now,
            "version": 1,
        }
        for row, wkb in zip(rows, wkbs, strict=True)
    ]
    stmt = insert(model.__table__).values({geom_column: geom_from_wkb(session)})
    session.execute(stmt, payload)


_COPY_TYPES = {
    "TEXT": "text",
    "FLOAT": "float8",
    "INTEGER": "int4",
    "DATE": "date",
    "DATETIME": "timestamp",
}


def _copy_rows(session: Session, model: type, rows: list[dict[str, Any]], geom_column: str) -> None:
    """Binary COPY; the geometry travels as raw EWKB (PostGIS's binary input form of geometry)."""
    now = utcnow()
    table = model.__table__
    columns = [c for c in rows[0] if c != geom_column]
    # COPY bypasses SQLAlchemy's Python-side defaults: supply the scalar ones here.
    defaults = {
        col.name: col.default.arg
        for col in table.columns
        if col.name not in rows[0]
        and col.default is not None
        and col.default.is_scalar
        and col.name != "version"
    }
    names = [*columns, *defaults, "created_at", "updated_at", "version"]
    types = [_COPY_TYPES[table.columns[n].type.__visit_name__.upper()] for n in names]
    statement = psql.SQL("COPY {} ({}) FROM STDIN (FORMAT BINARY)").format(
        psql.Identifier(table.name),
        psql.SQL(", ").join(map(psql.Identifier, [*names, geom_column])),
    )
    geoms = shapely.to_wkb(
        shapely.set_srid([row[geom_column] for row in rows], SRID), include_srid=True
    )
    fixed = [*defaults.values(), now, now, 1]
    raw = session.connection().connection.driver_connection
    with raw.cursor() as cursor, cursor.copy(statement) as copy:
        copy.set_types([*types, "bytea"])  # client-side encoding only; the server parses geometry
        for row, geom in zip(rows, geoms, strict=True):
            copy.write_row([*(row[c] for c in columns), *fixed, geom])


def update_rows(
    session: Session, model: type, rows: list[dict[str, Any]], geom_column: str
) -> None:
    """Update rows by ``id``, bumping ``version`` and ``updated_at`` (rows carry ``version``)."""
    if not rows:
        return
    now = utcnow()
    table = model.__table__
    payload = []
    for row in rows:
        item = {k: v for k, v in row.items() if k not in ("id", geom_column)}
        item.update(updated_at=now, version=row["version"] + 1, _id=row["id"])
        item[_WKB] = shapely.to_wkb(row[geom_column])
        payload.append(item)
    columns = [k for k in payload[0] if k not in ("_id", _WKB)]
    stmt = (
        update(table)
        .where(table.c.id == bindparam("_id"))
        .values({c: bindparam(c) for c in columns} | {geom_column: geom_from_wkb(session)})
    )
    session.execute(stmt, payload)


def same_geometry(a: Any, b: Any) -> bool:
    """True when two shapely geometries are identical once normalised."""
    if a is None or b is None:
        return a is b
    return bool(shapely.equals_exact(shapely.normalize(a), shapely.normalize(b), tolerance=0))


def changed_fields(
    existing: dict[str, Any], new: dict[str, Any], fields: Iterable[str]
) -> list[str]:
    """Names of the fields whose value differs (floats compared to 1e-9)."""
    out = []
    for name in fields:
        old, value = existing.get(name), new.get(name)
        if isinstance(old, float) and isinstance(value, float):
            if abs(old - value) > 1e-9 * max(1.0, abs(old)):
                out.append(name)
        elif old != value:
            out.append(name)
    return out
