"""Bulk reads and writes shared by the importers (SQLAlchemy Core, both backends)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from contextlib import ExitStack
from typing import Any

import numpy as np
from psycopg import sql as psql
from sqlalchemy import bindparam, func, insert, literal, select, text, update
from sqlalchemy.orm import Session

import shapely

from geo.store.db import run_if_lock_granted
from geo.store.models import SRID, utcnow

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


def encode_geometries(geoms: Sequence[Any] | np.ndarray, *, postgis: bool) -> list[bytes]:
    """The bytes the backend's bulk writers take for these geometries.

    PostGIS's binary ``COPY`` reads EWKB, which carries the SRID; the GeoPackage takes plain
    WKB through ``AsGPB(GeomFromWKB(...))``. Safe to call from worker threads (shapely releases
    the GIL), so encoding can overlap the writing of the previous chunk.
    """
    geoms = np.asarray(geoms, dtype=object)
    if postgis:
        return list(shapely.to_wkb(shapely.set_srid(geoms, SRID), include_srid=True))
    return list(shapely.to_wkb(geoms))


def is_postgis(session: Session) -> bool:
    """True when the session writes to PostGIS (else a GeoPackage)."""
    return session.get_bind().dialect.name == "postgresql"


BULK_LOAD_MIN_ROWS = 2_000
"""An insert of fewer rows never suspends the table's GiST indexes and foreign keys."""

_SUSPENDABLE = text("""
SELECT 'index' AS kind, c.relname AS name, pg_get_indexdef(i.indexrelid) AS definition
FROM pg_index i
JOIN pg_class c ON c.oid = i.indexrelid
JOIN pg_am am ON am.oid = c.relam
WHERE i.indrelid = CAST(:table AS regclass) AND am.amname = 'gist'
UNION ALL
SELECT 'foreign key', conname, pg_get_constraintdef(oid)
FROM pg_constraint
WHERE conrelid = CAST(:table AS regclass) AND contype = 'f'
ORDER BY 1 DESC, 2
""")


class Inserter:
    """Inserts rows chunk by chunk within the session's transaction; use as a context manager.

    Each row is a dict of column values with the geometry already encoded by
    :func:`encode_geometries` under ``geom_column``. PostGIS gets one binary ``COPY`` for every
    chunk together (the fast path ogr2ogr uses too), opened at the first chunk and closed on
    exit, so the server parses chunk n while the caller prepares chunk n+1; the connection runs
    nothing else meanwhile. The GeoPackage gets one executemany per chunk.

    ``expected``: how many rows the caller is about to insert. When that is at least
    :data:`BULK_LOAD_MIN_ROWS` and more than the table holds, it is a bulk load, done as
    PostgreSQL's manual advises ("Populating a Database"): the table's GiST indexes and foreign
    keys are dropped before the ``COPY`` and made again after it, in the same transaction, with
    their own names and definitions. Building a GiST index at once and checking a foreign key
    with one join cost less than keeping them up to date row by row (for the 8,494 Jawa Timur
    villages the server's CPU time falls by about a quarter). Dropping them takes an ACCESS
    EXCLUSIVE lock on the table until commit, so readers wait for the load; the lock is waited
    for at most :data:`geo.store.db.BULK_LOCK_TIMEOUT`, else the rows go in the incremental way.
    """

    def __init__(
        self, session: Session, model: type, geom_column: str, *, expected: int = 0
    ) -> None:
        self.session, self.model, self.geom_column = session, model, geom_column
        self.expected = expected
        self.now = utcnow()
        self._copy: Any = None
        self._stack = ExitStack()
        self._columns: list[str] = []
        self._fixed: list[Any] = []
        self._restore: list[str] = []
        self.bulk = False
        """Whether the indexes and foreign keys were suspended (PostGIS only)."""

    def __enter__(self) -> Inserter:
        return self

    def __exit__(self, exc_type: object, *exc: object) -> None:
        self._stack.close()
        if exc_type is None:  # after an error the transaction is rolled back: nothing to make
            conn = self.session.connection()
            for statement in self._restore:
                conn.execute(text(statement))

    def _suspend(self) -> None:
        """Drop the GiST indexes and foreign keys of a bulk load; note how to make them again."""
        conn = self.session.connection()
        name = self.model.__table__.name
        present = conn.execute(
            select(func.count()).select_from(
                select(literal(1)).select_from(self.model.__table__).limit(self.expected).subquery()
            )
        ).scalar_one()
        if self.expected < BULK_LOAD_MIN_ROWS or present >= self.expected:
            return
        table = psql.Identifier(name).as_string(conn.connection.driver_connection)
        drops, restore = [], []
        for kind, item, definition in conn.execute(_SUSPENDABLE, {"table": name}):
            quoted = psql.Identifier(item).as_string(conn.connection.driver_connection)
            if kind == "index":
                drops.append(text(f"DROP INDEX {quoted}"))
                restore.append(definition)
            else:
                drops.append(text(f"ALTER TABLE {table} DROP CONSTRAINT {quoted}"))
                restore.append(f"ALTER TABLE {table} ADD CONSTRAINT {quoted} {definition}")
        if drops and run_if_lock_granted(conn, drops):
            self._restore, self.bulk = restore, True

    def write(self, rows: list[dict[str, Any]]) -> None:
        """Insert these rows (in the order given)."""
        if not rows:
            return
        if not is_postgis(self.session):
            payload = [
                {
                    **{k: v for k, v in row.items() if k != self.geom_column},
                    _WKB: row[self.geom_column],
                    "created_at": self.now,
                    "updated_at": self.now,
                    "version": 1,
                }
                for row in rows
            ]
            stmt = insert(self.model.__table__).values(
                {self.geom_column: geom_from_wkb(self.session)}
            )
            self.session.execute(stmt, payload)
            return
        if self._copy is None:
            self._suspend()
            self._open(rows[0])
        columns, fixed, geom_column, write_row = (
            self._columns,
            self._fixed,
            self.geom_column,
            self._copy.write_row,
        )
        for row in rows:
            write_row([*(row[c] for c in columns), *fixed, row[geom_column]])

    def _open(self, first: dict[str, Any]) -> None:
        table = self.model.__table__
        self._columns = [c for c in first if c != self.geom_column]
        # COPY bypasses SQLAlchemy's Python-side defaults: supply the scalar ones here.
        defaults = {
            col.name: col.default.arg
            for col in table.columns
            if col.name not in first
            and col.default is not None
            and col.default.is_scalar
            and col.name != "version"
        }
        names = [*self._columns, *defaults, "created_at", "updated_at", "version"]
        types = [_COPY_TYPES[table.columns[n].type.__visit_name__.upper()] for n in names]
        statement = psql.SQL("COPY {} ({}) FROM STDIN (FORMAT BINARY)").format(
            psql.Identifier(table.name),
            psql.SQL(", ").join(map(psql.Identifier, [*names, self.geom_column])),
        )
        self._fixed = [*defaults.values(), self.now, self.now, 1]
        raw = self.session.connection().connection.driver_connection
        cursor = self._stack.enter_context(raw.cursor())
        self._copy = self._stack.enter_context(cursor.copy(statement))
        # client-side encoding only; the server parses the EWKB into geometry
        self._copy.set_types([*types, "bytea"])


def insert_rows(
    session: Session, model: type, rows: list[dict[str, Any]], geom_column: str
) -> None:
    """Insert rows, each with a shapely geometry under ``geom_column``, in one go.

    A bulk load (see :class:`Inserter`) when there are many rows for the table's size.
    """
    if not rows:
        return
    wkbs = encode_geometries([row[geom_column] for row in rows], postgis=is_postgis(session))
    with Inserter(session, model, geom_column, expected=len(rows)) as inserter:
        inserter.write([{**row, geom_column: wkb} for row, wkb in zip(rows, wkbs, strict=True)])


_COPY_TYPES = {
    "TEXT": "text",
    "FLOAT": "float8",
    "INTEGER": "int4",
    "DATE": "date",
    "DATETIME": "timestamp",
}


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


def same_geometries(a: Sequence[Any], b: Sequence[Any]) -> np.ndarray:
    """Pairwise, whether two geometries are identical once normalised (two missing ones are).

    Two equally long sequences, compared in one vectorised pass.
    """
    left = np.asarray(a, dtype=object)
    right = np.asarray(b, dtype=object)
    same = shapely.equals_exact(shapely.normalize(left), shapely.normalize(right), tolerance=0)
    both_missing = shapely.is_missing(left) & shapely.is_missing(right)
    return np.asarray(same, dtype=bool) | both_missing


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
