"""The one owner of what differs between the registry's backends: PostGIS and the GeoPackage.

Importers, linking and queries never ask which database they talk to; they ask
:func:`backend_of` (a session, connection or engine) for a :class:`Backend` and call it:

- geometry encoding for bulk writes (:meth:`Backend.encode_geometries`) and the SQL that turns
  a WKB parameter into the stored value (:meth:`Backend.geom_from_wkb`);
- bulk insert (:meth:`Backend.row_sink`): one binary ``COPY`` on PostGIS, with GiST indexes and
  foreign keys suspended for a bulk load; an ``executemany`` on the GeoPackage;
- the spatial-index join (:meth:`Backend.spatial_join`, :meth:`Backend.within_bbox`): the
  planner and the GiST index on PostGIS, an explicit R*Tree prefilter on the GeoPackage, where
  SQLite never uses an R*Tree by itself;
- temporary id tables, look-ups by ``(source, source_id)`` keys, planner settings, row
  estimates and index rebuilds around bulk rewrites;
- creating the schema, and how to name the database to a person.

Adding a backend (DuckDB for analysis, say) means writing one subclass and naming its
SQLAlchemy dialect in :data:`_BY_DIALECT`.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from operator import itemgetter
from pathlib import Path
from typing import Any

import numpy as np
import sqlalchemy
from psycopg import sql as psql
from sqlalchemy import (
    Column,
    ColumnElement,
    Connection,
    Engine,
    FromClause,
    Index,
    Integer,
    Select,
    Table,
    Text,
    and_,
    bindparam,
    cast,
    column,
    event,
    func,
    insert,
    literal,
    select,
    table,
    text,
    true,
    tuple_,
)
from sqlalchemy.dialects.postgresql import ARRAY, REGCLASS
from sqlalchemy.engine import URL
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session
from sqlalchemy.schema import DropIndex

import shapely
from geoalchemy2 import Geometry
from geoalchemy2.admin.dialects.geopackage import load_spatialite_gpkg

from geo.errors import ConfigurationError
from geo.native import load_native_libraries
from geo.store.models import CHANGE_TRACKED, SRID, Base, utcnow

WKB_PARAM = "_wkb"
"""Name of the bind parameter holding a row's geometry as WKB in keyed writes."""

BULK_LOAD_MIN_ROWS = 2_000
"""An insert of fewer rows never suspends the table's GiST indexes and foreign keys."""

BULK_BTREE_MIN_ROWS = 50_000
"""From this many rows a bulk load sets aside the B-tree indexes and unique constraints too.

Building a B-tree once after the ``COPY`` is cheaper than keeping it up to date row by row
only for large loads: 200,000 towers load 0.36 s faster with their two B-trees made after
(the ``COPY`` 0.57 s shorter, the builds 0.21 s), while the 8,494 Jawa Timur villages load
0.07 s slower with their four made after (``bench/import_assets.py``,
``bench/load_villages.py``)."""

BULK_LOCK_TIMEOUT = "2s"
"""How long bulk work waits for an ACCESS EXCLUSIVE lock before going the incremental way."""

LOCK_REFUSED = frozenset({"55P03", "40P01"})
"""SQLSTATEs of a lock wait cut short: by ``lock_timeout``, or as one side of a deadlock (two
bulk jobs on one table, each holding the ROW EXCLUSIVE lock its own writes took)."""

_KEY_CHUNK = 2000
"""Row values per ``IN`` list where keys are looked up in chunks."""


class Backend:
    """What one kind of database does its own way. Made by :func:`backend_of`."""

    name: str
    """``postgis`` or ``geopackage``: what the health check and the summary say."""

    # -- geometry ----------------------------------------------------------------------------

    def geom_from_wkb(self, param: str = WKB_PARAM) -> ColumnElement[Any]:
        """SQL expression turning a WKB bind parameter into the stored geometry value."""
        raise NotImplementedError

    def encode_geometries(self, geoms: Sequence[Any] | np.ndarray) -> list[bytes]:
        """The bytes :meth:`row_sink` takes for these geometries.

        Safe to call from worker threads (shapely releases the GIL), so encoding can overlap
        the writing of the previous chunk.
        """
        raise NotImplementedError

    # -- writes ------------------------------------------------------------------------------

    def row_sink(self, session: Session, model: type, geom_column: str, expected: int) -> RowSink:
        """A writer of encoded rows into ``model``'s table, within the session's transaction."""
        raise NotImplementedError

    @contextmanager
    def indexes_set_aside(self, conn: Connection, indexes: list[Index]) -> Iterator[bool]:
        """Drop these indexes for a bulk rewrite and make them again after it, if it pays.

        Yields whether they were dropped. Only where a rewrite touching indexed columns costs
        more than rebuilding the index (PostGIS, whose updates are then HOT).
        """
        yield False

    def estimated_rows(self, conn: Connection, table_name: str) -> float | None:
        """The planner's row estimate of a table, or ``None`` where there is none to be had."""
        return None

    def keep_writers_out(self, conn: Connection, table_name: str) -> None:
        """Let no other transaction write into the table until this one ends; readers go on.

        SQLite has one writer at a time already: nothing to do.
        """

    # -- reads -------------------------------------------------------------------------------

    def rows_by_keys(
        self, conn: Connection, model: type, cols: list[Any], keys: list[tuple[str, str]]
    ) -> list[Any]:
        """Rows of ``model`` whose ``(source, source_id)`` is one of ``keys``.

        SQLite probes its unique index once per row value of an ``IN`` list, in chunks.
        """
        out: list[Any] = []
        for start in range(0, len(keys), _KEY_CHUNK):
            chunk = keys[start : start + _KEY_CHUNK]
            wanted = tuple_(model.source, model.source_id).in_(chunk)
            out += conn.execute(select(*cols).where(wanted))
        return out

    def within_bbox(
        self, stmt: Select[Any], model: type, geom: Any, bounds: tuple[float, float, float, float]
    ) -> Select[Any]:
        """Keep the rows of ``stmt`` whose ``geom`` intersects the box, through the index."""
        raise NotImplementedError

    def extent(
        self, session: Session, model: type, geom: Any
    ) -> tuple[float, float, float, float] | None:
        """The box of ``model``'s geometries (lon/lat), ``None`` for an empty table."""
        raise NotImplementedError

    def like(self, column: Any, pattern: str) -> ColumnElement[bool]:
        """``column LIKE pattern`` as CQL2 means it, the pattern a bound parameter.

        Case-sensitive; ``%`` any characters, ``_`` one, a backslash escapes the next.
        """
        raise NotImplementedError

    def spatial_join(
        self,
        outer: FromClause,
        outer_geom: Any,
        inner: Table,
        inner_geom: Any,
        *,
        inner_columns: list[Any],
        inner_scope: Table | None = None,
        outer_drives: bool = False,
    ) -> tuple[FromClause, list[Any]]:
        """Join ``inner`` rows whose geometry intersects ``outer_geom``, through ``inner``'s index.

        ``inner_columns`` are the labelled inner expressions the caller reads;
        ``inner_scope``, a table of ids, keeps only those inner rows. Returns the joined FROM
        clause and the same columns, as the caller must select them from it. ``outer_drives``:
        each outer row probes ``inner`` in turn, so a prepared ``outer_geom`` is reused for all
        its matches, even where the planner would rather probe ``outer`` once per inner row.
        """
        raise NotImplementedError

    # -- scratch tables and settings ------------------------------------------------------

    def temp_id_column(self) -> Column:
        """The id column of a temporary table of row ids."""
        return Column("id", Integer, primary_key=False, autoincrement=False)

    def fill_ids(self, conn: Connection, ids_table: Table, ids: list[int]) -> None:
        """Insert these ids into a temporary id table."""
        conn.execute(insert(ids_table), [{"id": i} for i in ids])

    @contextmanager
    def tuned_for_bulk_joins(self, conn: Connection) -> Iterator[None]:
        """Settings for one large spatial join and its write-back (none to make here)."""
        yield

    @contextmanager
    def tuned_for_keyed_updates(self, conn: Connection) -> Iterator[None]:
        """Settings that apply an ``UPDATE ... FROM`` row by row through the primary key."""
        yield

    # -- the database as a whole -------------------------------------------------------------

    def create_engine(self, url: URL, *, echo: bool = False) -> Engine:
        """An engine on the database ``url`` names, set up as this backend needs."""
        raise NotImplementedError

    def init_schema(self, engine: Engine) -> None:
        """Create or upgrade the registry schema."""
        raise NotImplementedError

    makes_vector_tiles = False
    """Whether the database encodes Mapbox Vector Tiles itself (``ST_AsMVT``)."""

    upgrades_on_open = False
    """Whether a registry of an older version is upgraded when a command opens it (a personal
    file), rather than left for ``petadesa init`` (the shared system of record)."""

    def schema_behind(self, engine: Engine) -> bool:
        """Whether the registry's schema is older than this version's."""
        raise NotImplementedError

    def describe(self, engine: Engine) -> str:
        """Where the registry is, without a password."""
        raise NotImplementedError


class RowSink:
    """Inserts encoded rows chunk by chunk (see :class:`geo.store.writes.Inserter`)."""

    bulk = False
    """Whether the table's indexes and foreign keys were set aside for a bulk load."""

    def write(self, rows: list[dict[str, Any]]) -> None:
        """Insert these rows, their geometry already encoded."""
        raise NotImplementedError

    def close(self, committed: bool) -> None:
        """Finish the writes; ``committed`` is false after an error (the caller rolls back)."""


class _ExecuteManySink(RowSink):
    """Inserts each chunk with one ``executemany``: the GeoPackage's sink."""

    def __init__(self, backend: Backend, session: Session, model: type, geom_column: str) -> None:
        self.backend, self.session, self.model, self.geom_column = (
            backend,
            session,
            model,
            geom_column,
        )
        self.now = utcnow()

    def write(self, rows: list[dict[str, Any]]) -> None:
        """Insert these rows with one ``executemany``: version 1, stamped with the sink's time."""
        if not rows:
            return
        payload = [
            {
                **{k: v for k, v in row.items() if k != self.geom_column},
                WKB_PARAM: row[self.geom_column],
                "created_at": self.now,
                "updated_at": self.now,
                "version": 1,
            }
            for row in rows
        ]
        stmt = insert(self.model.__table__).values({self.geom_column: self.backend.geom_from_wkb()})
        self.session.execute(stmt, payload)


class GeoPackage(Backend):
    """The embedded default: a GeoPackage with SpatiaLite loaded, which QGIS opens as it is."""

    name = "geopackage"

    def geom_from_wkb(self, param: str = WKB_PARAM) -> ColumnElement[Any]:
        """GeoPackage binary (``AsGPB``), which GDAL and QGIS read.

        Not GeoAlchemy2's ``from_shape``, which on a GeoPackage stores SpatiaLite's own blob
        format; and WKB rather than EWKT, which is about 30 times slower for province layers.
        """
        return func.AsGPB(func.GeomFromWKB(bindparam(param), SRID))

    def encode_geometries(self, geoms: Sequence[Any] | np.ndarray) -> list[bytes]:
        """Plain WKB, for ``AsGPB(GeomFromWKB(...))``."""
        return list(shapely.to_wkb(np.asarray(geoms, dtype=object)))

    def row_sink(self, session: Session, model: type, geom_column: str, expected: int) -> RowSink:
        """One ``executemany`` per chunk."""
        return _ExecuteManySink(self, session, model, geom_column)

    def within_bbox(
        self, stmt: Select[Any], model: type, geom: Any, bounds: tuple[float, float, float, float]
    ) -> Select[Any]:
        """The layer's R*Tree by box, then the exact test."""
        min_lon, min_lat, max_lon, max_lat = bounds
        rtree = _rtree(model.__tablename__, geom.key)
        boxed = and_(
            rtree.c.id == model.id,
            rtree.c.minx <= max_lon,
            rtree.c.maxx >= min_lon,
            rtree.c.miny <= max_lat,
            rtree.c.maxy >= min_lat,
        )
        exact = func.ST_Intersects(geom, _envelope_param(bounds))
        return stmt.join_from(model, rtree, boxed).where(exact)

    def extent(
        self, session: Session, model: type, geom: Any
    ) -> tuple[float, float, float, float] | None:
        """From the layer's R*Tree: its boxes' extremes, no geometry read.

        The R*Tree keeps 32-bit boxes rounded outwards: the extent holds every geometry and is
        at most ~2 m larger.
        """
        rtree = _rtree(model.__tablename__, geom.key)
        row = session.execute(
            select(
                func.min(rtree.c.minx),
                func.min(rtree.c.miny),
                func.max(rtree.c.maxx),
                func.max(rtree.c.maxy),
            )
        ).one()
        return None if row[0] is None else tuple(float(v) for v in row)

    def like(self, column: Any, pattern: str) -> ColumnElement[bool]:
        """Through ``GLOB``: SQLite's ``LIKE`` ignores the case of ASCII letters."""
        return column.op("GLOB")(_glob(pattern))

    def spatial_join(
        self,
        outer: FromClause,
        outer_geom: Any,
        inner: Table,
        inner_geom: Any,
        *,
        inner_columns: list[Any],
        inner_scope: Table | None = None,
        outer_drives: bool = False,
    ) -> tuple[FromClause, list[Any]]:
        """Through ``rtree_<inner>_<geometry>``, entered by the outer geometry's box.

        With ``outer_drives`` the R*Tree is joined to ``inner`` by ``id + 0``: the R*Tree can
        then not be entered by id, so SQLite cannot put ``inner`` in the outer loop and scan
        every outer row for each inner one (5,000 towers took 93 s so). SpatiaLite keeps the
        last geometry it prepared, so consecutive matches of one outer row reuse it (200,000
        towers linked: 1.4 s of candidates instead of 6.9 s one village look-up per tower).
        """
        rtree = _rtree(inner.name, inner_geom.key)
        key = rtree.c.id + 0 if outer_drives else rtree.c.id
        joined = outer.join(rtree, _bbox_overlaps(rtree, outer_geom)).join(
            inner, and_(inner.c.id == key, func.ST_Intersects(outer_geom, inner_geom))
        )
        if inner_scope is not None:
            joined = joined.join(inner_scope, inner_scope.c.id == inner.c.id)
        return joined, inner_columns

    def temp_id_column(self) -> Column:
        """The rowid: SQLite joins on it quickly."""
        return Column("id", Integer, primary_key=True, autoincrement=False)

    def create_engine(self, url: URL, *, echo: bool = False) -> Engine:
        """The GeoPackage file, through pysqlite3 with SpatiaLite and foreign keys on.

        pysqlite3, because the interpreter's own ``sqlite3`` may not load extensions. Refuses
        a URL without a file, or one whose folder does not exist.
        """
        # The wheels' own GDAL, PROJ and GEOS (pyogrio, rasterio, pyproj, exactextract...) must
        # be loaded before SpatiaLite makes the system's global: see geo.native.
        import pysqlite3.dbapi2 as pysqlite3  # noqa: PLC0415 - only this backend needs it

        load_native_libraries()

        if not url.database:
            raise ConfigurationError("a GeoPackage URL needs a file: gpkg:///petadesa.gpkg")
        parent = Path(url.database).expanduser().resolve().parent
        if not parent.is_dir():
            raise ConfigurationError(f"folder for the GeoPackage does not exist: {parent}")
        os.environ.setdefault("SPATIALITE_LIBRARY_PATH", "mod_spatialite")
        engine = sqlalchemy.create_engine(url, module=pysqlite3, echo=echo)
        event.listen(engine, "connect", load_spatialite_gpkg)
        event.listen(engine, "connect", _enable_foreign_keys)
        return engine

    def init_schema(self, engine: Engine) -> None:
        """The same tables as on PostGIS, from the same models, with ``create_all``.

        GeoAlchemy2's GeoPackage dialect takes each table's spatial index (``idx_<table>_<geom>``)
        out of the shared metadata to make an R*Tree instead, and does not put it back: the
        models would then lack the GiST indexes PostGIS has for the rest of the process (a
        later comparison with the migrations, or ``create_all`` on PostGIS). They are put back.
        """
        declared = {t: set(t.indexes) for t in Base.metadata.tables.values()}
        try:
            Base.metadata.create_all(engine)
        finally:
            for table_, indexes in declared.items():
                table_.indexes.update(indexes - set(table_.indexes))
        self._add_missing_columns(engine)
        self._register_attribute_tables(engine)
        self._add_change_triggers(engine)

    def missing_columns(self, engine: Engine) -> dict[str, list[Column]]:
        """The models' columns that the file's existing tables lack (a file of an older version).

        Tables the file lacks are not listed: ``create_all`` makes them.
        """
        inspector = sqlalchemy.inspect(engine)
        existing = set(inspector.get_table_names())
        missing: dict[str, list[Column]] = {}
        for table_ in Base.metadata.sorted_tables:
            if table_.name not in existing:
                continue
            have = {c["name"] for c in inspector.get_columns(table_.name)}
            lacking = [c for c in table_.columns if c.name not in have]
            if lacking:
                missing[table_.name] = lacking
        return missing

    upgrades_on_open = True

    def schema_behind(self, engine: Engine) -> bool:
        """Whether the file lacks a table, a column or a change trigger of this version's."""
        tables = set(sqlalchemy.inspect(engine).get_table_names())
        if any(t.name not in tables for t in Base.metadata.sorted_tables):
            return True
        return bool(self.missing_columns(engine)) or bool(self.missing_triggers(engine))

    def _add_missing_columns(self, engine: Engine) -> None:
        """Upgrade a file of an older version: add the columns later versions added.

        Every column added since the first version is nullable and without geometry, which
        SQLite adds in place (``ALTER TABLE ... ADD COLUMN``); anything else is refused with
        what to do, rather than half done.
        """
        missing = self.missing_columns(engine)
        for name, lacking in missing.items():
            for added in lacking:
                if not added.nullable or isinstance(added.type, Geometry):
                    raise ConfigurationError(
                        f"{engine.url.database}: column {name}.{added.name} cannot be added to "
                        "this older GeoPackage; import its data into a new one"
                    )
        with engine.begin() as conn:
            for name, lacking in missing.items():
                for added in lacking:
                    kind = added.type.compile(dialect=conn.dialect)
                    conn.execute(text(f'ALTER TABLE "{name}" ADD COLUMN "{added.name}" {kind}'))

    def _register_attribute_tables(self, engine: Engine) -> None:
        """List the tables without geometry (the code list, the census) as ``attributes``.

        A GeoPackage reader (GDAL, so QGIS) shows only the tables ``gpkg_contents`` lists;
        GeoAlchemy2 lists the feature tables only.
        """
        plain = [
            t.name
            for t in Base.metadata.sorted_tables
            if not any(isinstance(c.type, Geometry) for c in t.columns)
        ]
        with engine.begin() as conn:
            for name in plain:
                conn.execute(
                    text(
                        "INSERT OR IGNORE INTO gpkg_contents (table_name, data_type, identifier, "
                        "last_change) VALUES (:name, 'attributes', :name, "
                        "strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))"
                    ),
                    {"name": name},
                )

    def _add_change_triggers(self, engine: Engine) -> None:
        """Log every write to a served table in ``layer_change`` (:class:`LayerChange`).

        SQLite's triggers run once a row, and writers of one file take turns anyway: each
        write appends a row and a trigger on the log keeps only each table's latest.
        """
        with engine.begin() as conn:
            conn.execute(
                text(
                    "CREATE TRIGGER IF NOT EXISTS layer_change_pruned AFTER INSERT ON "
                    "layer_change BEGIN DELETE FROM layer_change WHERE layer = NEW.layer "
                    "AND id < NEW.id; END"
                )
            )
            for table_name in CHANGE_TRACKED:
                for event_ in ("INSERT", "UPDATE", "DELETE"):
                    conn.execute(
                        text(
                            f'CREATE TRIGGER IF NOT EXISTS "{table_name}_changed_{event_.lower()}" '
                            f'AFTER {event_} ON "{table_name}" BEGIN INSERT INTO layer_change '
                            f"(layer, token) VALUES ('{table_name}', hex(randomblob(8))); END"
                        )
                    )
            seeded = set(conn.scalars(text("SELECT DISTINCT layer FROM layer_change")))
            for table_name in sorted(set(CHANGE_TRACKED) - seeded):
                conn.execute(
                    text("INSERT INTO layer_change (layer, token) VALUES (:t, hex(randomblob(8)))"),
                    {"t": table_name},
                )

    def missing_triggers(self, engine: Engine) -> list[str]:
        """The served tables without their change triggers (a table QGIS wrote anew, say)."""
        with engine.connect() as conn:
            names = set(conn.scalars(text("SELECT name FROM sqlite_master WHERE type = 'trigger'")))
        return [t for t in CHANGE_TRACKED if f"{t}_changed_insert" not in names]

    def describe(self, engine: Engine) -> str:
        """``GeoPackage /absolute/path.gpkg``."""
        return f"GeoPackage {Path(engine.url.database or '').resolve()}"


_SUSPENDABLE = text("""
SELECT 1 AS rank, 'index' AS kind, c.relname AS name, pg_get_indexdef(i.indexrelid) AS definition
FROM pg_index i
JOIN pg_class c ON c.oid = i.indexrelid
JOIN pg_am am ON am.oid = c.relam
WHERE i.indrelid = CAST(:table AS regclass)
  AND (am.amname = 'gist' OR :every_index)
  AND NOT EXISTS (SELECT 1 FROM pg_constraint k WHERE k.conindid = i.indexrelid)
UNION ALL
SELECT 2, 'constraint', k.conname, pg_get_constraintdef(k.oid)
FROM pg_constraint k
WHERE k.conrelid = CAST(:table AS regclass) AND k.contype IN ('u', 'x') AND :every_index
  AND NOT EXISTS (
    SELECT 1 FROM pg_constraint f
    WHERE f.contype = 'f' AND f.conindid = k.conindid AND f.conrelid <> k.conrelid
  )
UNION ALL
SELECT 3, 'constraint', conname, pg_get_constraintdef(oid)
FROM pg_constraint
WHERE conrelid = CAST(:table AS regclass) AND contype = 'f'
ORDER BY 1, 3
""")
"""What a bulk load sets aside, in the order it is made again: GiST indexes (and, with
``every_index``, the other indexes and the unique and exclusion constraints, but not one that
another table's foreign key stands on), then foreign keys. The primary key always stays: it is
what other tables refer to."""

_COPY_TYPES = {
    "TEXT": "text",
    "FLOAT": "float8",
    "DOUBLE": "float8",
    "INTEGER": "int4",
    "DATE": "date",
    "DATETIME": "timestamp",
}


class _CopySink(RowSink):
    """One binary ``COPY`` for every chunk together, opened at the first chunk.

    The server parses chunk n while the caller prepares chunk n+1; the connection runs nothing
    else meanwhile. A bulk load (at least :data:`BULK_LOAD_MIN_ROWS` rows, more than the table
    holds) is done as PostgreSQL's manual advises ("Populating a Database"): the table's GiST
    indexes and foreign keys (from :data:`BULK_BTREE_MIN_ROWS` rows its other indexes and
    unique constraints too, see :data:`_SUSPENDABLE`) are dropped before the ``COPY`` and made
    again after it, in the same transaction, with their own names and definitions. Building a
    GiST index at once and checking a foreign key with one join cost less than keeping them up
    to date row by row (for the 8,494 Jawa Timur villages the server's CPU time falls by about
    a quarter). Dropping
    them takes an ACCESS EXCLUSIVE lock on the table until commit, so readers wait for the
    load; the lock is waited for at most :data:`BULK_LOCK_TIMEOUT`, else the rows go in the
    incremental way.
    """

    def __init__(self, session: Session, model: type, geom_column: str, expected: int) -> None:
        self.session, self.model, self.geom_column = session, model, geom_column
        self.expected = expected
        self.now = utcnow()
        self._copy: Any = None
        self._stack = ExitStack()
        self._columns: list[str] = []
        self._values: Any = None
        self._fixed: tuple[Any, ...] = ()
        self._restore: list[str] = []

    def close(self, committed: bool) -> None:
        """End the ``COPY``; unless after an error, make again what a bulk load dropped."""
        self._stack.close()
        if committed:  # after an error the transaction is rolled back: nothing to make
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
        raw = conn.connection.driver_connection
        quoted_table = psql.Identifier(name).as_string(raw)
        drops, restore = [], []
        every_index = self.expected >= BULK_BTREE_MIN_ROWS
        found = conn.execute(_SUSPENDABLE, {"table": name, "every_index": every_index})
        for _, kind, item, definition in found:
            quoted = psql.Identifier(item).as_string(raw)
            if kind == "index":
                drops.append(text(f"DROP INDEX {quoted}"))
                restore.append(definition)
            else:
                drops.append(text(f"ALTER TABLE {quoted_table} DROP CONSTRAINT {quoted}"))
                restore.append(f"ALTER TABLE {quoted_table} ADD CONSTRAINT {quoted} {definition}")
        drops.reverse()  # foreign keys first, so nothing dropped is still depended on
        if drops and run_if_lock_granted(conn, drops):
            self._restore, self.bulk = restore, True

    def write(self, rows: list[dict[str, Any]]) -> None:
        """Stream these rows into the ``COPY``, opened at the first chunk (after any bulk drops)."""
        if not rows:
            return
        if self._copy is None:
            self._suspend()
            self._open(rows[0])
        values, fixed, write_row = self._values, self._fixed, self._copy.write_row
        for row in rows:
            write_row(values(row) + fixed)

    def _open(self, first: dict[str, Any]) -> None:
        """Open the ``COPY`` of the columns of ``first``, its geometry and the values rows share.

        ``COPY`` bypasses SQLAlchemy's Python-side defaults, so the scalar ones, the timestamps
        and the version are appended to every row.
        """
        table_ = self.model.__table__
        self._columns = [c for c in first if c != self.geom_column]
        # COPY bypasses SQLAlchemy's Python-side defaults: supply the scalar ones here.
        defaults = {
            col.name: col.default.arg
            for col in table_.columns
            if col.name not in first
            and col.default is not None
            and col.default.is_scalar
            and col.name != "version"
        }
        fixed = [*defaults, "created_at", "updated_at", "version"]
        types = [_COPY_TYPES[table_.columns[n].type.__visit_name__.upper()] for n in fixed]
        own = [_COPY_TYPES[table_.columns[n].type.__visit_name__.upper()] for n in self._columns]
        statement = psql.SQL("COPY {} ({}) FROM STDIN (FORMAT BINARY)").format(
            psql.Identifier(table_.name),
            psql.SQL(", ").join(map(psql.Identifier, [*self._columns, self.geom_column, *fixed])),
        )
        # One tuple per row from C (itemgetter), the fixed values appended: building each row
        # value by value in Python was 0.4 s of 200,000 towers.
        getter = itemgetter(*self._columns, self.geom_column)
        self._values = (lambda row: (getter(row),)) if not self._columns else getter
        self._fixed = (*defaults.values(), self.now, self.now, 1)
        raw = self.session.connection().connection.driver_connection
        cursor = self._stack.enter_context(raw.cursor())
        self._copy = self._stack.enter_context(cursor.copy(statement))
        # client-side encoding only; the server parses the EWKB into geometry
        self._copy.set_types([*own, "bytea", *types])


_BULK_JOIN_SETTINGS = {"jit": "off", "work_mem": "64MB"}
"""A large join's cost estimate is huge, so JIT would spend ~0.5 s compiling; a larger hash fits."""

_KEYED_UPDATE_SETTINGS = {"enable_hashjoin": "off", "enable_mergejoin": "off"}
"""Apply an ``UPDATE ... FROM`` row by row through the primary key, in id order (so in heap
order for a loaded table): measured ~20% faster on 196,000 of 1,000,000 rows than hashing the
whole table, and the only sensible plan when few rows are concerned."""


class PostGIS(Backend):
    """The system of record: PostgreSQL with PostGIS, schema by the Alembic migrations."""

    name = "postgis"
    makes_vector_tiles = True

    def geom_from_wkb(self, param: str = WKB_PARAM) -> ColumnElement[Any]:
        """``ST_GeomFromWKB`` with the registry's SRID."""
        return func.ST_GeomFromWKB(bindparam(param), SRID)

    def encode_geometries(self, geoms: Sequence[Any] | np.ndarray) -> list[bytes]:
        """EWKB, which carries the SRID: what the binary ``COPY`` reads."""
        geoms = np.asarray(geoms, dtype=object)
        return list(shapely.to_wkb(shapely.set_srid(geoms, SRID), include_srid=True))

    def row_sink(self, session: Session, model: type, geom_column: str, expected: int) -> RowSink:
        """One binary ``COPY`` (see :class:`_CopySink`)."""
        return _CopySink(session, model, geom_column, expected)

    @contextmanager
    def indexes_set_aside(self, conn: Connection, indexes: list[Index]) -> Iterator[bool]:
        """Drop them if the ACCESS EXCLUSIVE lock comes within :data:`BULK_LOCK_TIMEOUT`.

        In a savepoint: when another transaction holds the table longer, or would deadlock
        with this one, nothing is dropped (yields ``False``) and the rewrite goes the
        incremental way, which readers do not block. Dropped indexes are made again, with
        the names and definitions the models declare, after the block.
        """
        present = [ix for ix in indexes if conn.dialect.has_index(conn, ix.table.name, ix.name)]
        dropped = bool(present) and run_if_lock_granted(conn, [DropIndex(ix) for ix in present])
        yield dropped
        if dropped:
            for index in present:
                index.create(conn)

    def keep_writers_out(self, conn: Connection, table_name: str) -> None:
        """``SHARE ROW EXCLUSIVE``: other writers wait for this transaction, readers do not."""
        quoted = psql.Identifier(table_name).as_string(conn.connection.driver_connection)
        conn.execute(text(f"LOCK TABLE {quoted} IN SHARE ROW EXCLUSIVE MODE"))

    def estimated_rows(self, conn: Connection, table_name: str) -> float | None:
        """``pg_class.reltuples`` (0 before the first ``ANALYZE``, -1 on PostgreSQL 14+)."""
        pg_class = table("pg_class", column("oid"), column("reltuples"))
        estimate = conn.execute(
            select(pg_class.c.reltuples).where(pg_class.c.oid == cast(table_name, REGCLASS))
        ).scalar_one()
        return max(float(estimate), 0.0)

    def rows_by_keys(
        self, conn: Connection, model: type, cols: list[Any], keys: list[tuple[str, str]]
    ) -> list[Any]:
        """The keys joined as two arrays (``unnest``): one query, whatever their number.

        Through the unique index or a hash join. A list of row values (``(a, b) IN (...)``)
        made PostgreSQL compare every row with every key: 200,000 new towers took 7 minutes.
        """
        if not keys:
            return []
        wanted = (
            func.unnest(
                bindparam("sources", [k[0] for k in keys], type_=ARRAY(Text)),
                bindparam("source_ids", [k[1] for k in keys], type_=ARRAY(Text)),
            )
            .table_valued("source", "source_id")
            .render_derived(name="wanted")
        )
        stmt = select(*cols).join(
            wanted, and_(model.source == wanted.c.source, model.source_id == wanted.c.source_id)
        )
        return list(conn.execute(stmt))

    def within_bbox(
        self, stmt: Select[Any], model: type, geom: Any, bounds: tuple[float, float, float, float]
    ) -> Select[Any]:
        """``ST_Intersects``, which the planner answers from the GiST index."""
        return stmt.where(func.ST_Intersects(geom, _envelope_param(bounds)))

    def extent(
        self, session: Session, model: type, geom: Any
    ) -> tuple[float, float, float, float] | None:
        """``ST_Extent`` of the column (one pass over the boxes)."""
        box = select(func.ST_Extent(geom).label("box")).subquery()
        row = session.execute(
            select(
                func.ST_XMin(box.c.box),
                func.ST_YMin(box.c.box),
                func.ST_XMax(box.c.box),
                func.ST_YMax(box.c.box),
            )
        ).one()
        return None if row[0] is None else tuple(float(v) for v in row)

    def like(self, column: Any, pattern: str) -> ColumnElement[bool]:
        """PostgreSQL's ``LIKE``, case-sensitive, with the backslash as its escape."""
        return column.like(pattern, escape="\\")

    def spatial_join(
        self,
        outer: FromClause,
        outer_geom: Any,
        inner: Table,
        inner_geom: Any,
        *,
        inner_columns: list[Any],
        inner_scope: Table | None = None,
        outer_drives: bool = False,
    ) -> tuple[FromClause, list[Any]]:
        """``ST_Intersects`` through the GiST index; a ``LATERAL`` when the outer side drives.

        The planner prefers probing the outer side once per inner row, preparing nothing;
        with the outer rows driving (villages into the asset index) each outer geometry is
        prepared once and reused for all its matches: about 8x faster for points, and faster
        than first splitting the villages with ``ST_Subdivide``. ``OFFSET 0`` keeps the
        planner from flattening the ``LATERAL``.
        """
        touches = func.ST_Intersects(outer_geom, inner_geom)
        kept = [] if inner_scope is None else [inner.c.id.in_(select(inner_scope.c.id))]
        if not outer_drives:
            return outer.join(inner, and_(touches, *kept)), inner_columns
        probe = select(*inner_columns).where(touches, *kept).offset(0).lateral("probe")
        return outer.join(probe, true()), list(probe.c)

    def fill_ids(self, conn: Connection, ids_table: Table, ids: list[int]) -> None:
        """One array in one statement (200,000 ids: ~0.1 s instead of 2.2 s as executemany)."""
        if not ids:
            return
        unnested = select(func.unnest(bindparam("ids", ids, type_=ARRAY(Integer))))
        conn.execute(insert(ids_table).from_select(["id"], unnested))

    @contextmanager
    def tuned_for_bulk_joins(self, conn: Connection) -> Iterator[None]:
        """No JIT, more ``work_mem`` (:data:`_BULK_JOIN_SETTINGS`), for this transaction."""
        with local_settings(conn, _BULK_JOIN_SETTINGS):
            yield

    @contextmanager
    def tuned_for_keyed_updates(self, conn: Connection) -> Iterator[None]:
        """No hash or merge joins (:data:`_KEYED_UPDATE_SETTINGS`), for this transaction."""
        with local_settings(conn, _KEYED_UPDATE_SETTINGS):
            yield

    def create_engine(self, url: URL, *, echo: bool = False) -> Engine:
        """Through psycopg 3 (a bare ``postgresql://`` means it too), pinging stale connections."""
        if url.drivername == "postgresql":
            url = url.set(drivername="postgresql+psycopg")
        return sqlalchemy.create_engine(url, echo=echo, pool_pre_ping=True)

    def init_schema(self, engine: Engine) -> None:
        """The PostGIS extension, then the Alembic migrations (spatial-aware)."""
        from geo.store.db import upgrade_postgis  # noqa: PLC0415 - db makes engines from here

        with engine.begin() as conn:
            conn.execute(text("CREATE EXTENSION IF NOT EXISTS postgis"))
        upgrade_postgis(engine)
        with engine.begin() as conn:  # a table made anew since gets its trigger back
            add_postgis_change_triggers(conn, CHANGE_TRACKED)
            conn.execute(  # the log: each table's latest row is all a stamp reads
                text(
                    "DELETE FROM layer_change WHERE id < "
                    "(SELECT max(id) FROM layer_change AS l WHERE l.layer = layer_change.layer)"
                )
            )

    def missing_triggers(self, engine: Engine) -> list[str]:
        """The served tables without their change trigger (a table made anew, say)."""
        with engine.connect() as conn:
            names = set(conn.scalars(text("SELECT tgname FROM pg_trigger WHERE NOT tgisinternal")))
        return [t for t in CHANGE_TRACKED if f"{t}_changed" not in names]

    def schema_behind(self, engine: Engine) -> bool:
        """Whether the revision is not this version's head, or a change trigger is missing."""
        from alembic.migration import MigrationContext  # noqa: PLC0415 - PostGIS only
        from alembic.script import ScriptDirectory  # noqa: PLC0415

        from geo.store.db import alembic_config  # noqa: PLC0415 - db makes engines from here

        with engine.connect() as conn:
            current = MigrationContext.configure(conn).get_current_revision()
            head = ScriptDirectory.from_config(alembic_config(conn)).get_current_head()
        return current != head or bool(self.missing_triggers(engine))

    def describe(self, engine: Engine) -> str:
        """``PostGIS postgresql+psycopg://user:***@host/db``."""
        return f"PostGIS {engine.url.render_as_string(hide_password=True)}"


_BY_SCHEME: dict[str, type[Backend]] = {"gpkg": GeoPackage, "postgresql": PostGIS}
"""The backend of each URL scheme (``gpkg:///file.gpkg``, ``postgresql+psycopg://...``)."""

_BY_DIALECT: dict[str, type[Backend]] = {
    "postgresql": PostGIS,
    "geopackage": GeoPackage,
    "sqlite": GeoPackage,
}


POSTGIS_CHANGE_FUNCTION = """
CREATE OR REPLACE FUNCTION petadesa_layer_changed() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path FROM CURRENT AS $$
BEGIN
    INSERT INTO layer_change (layer, token) VALUES (TG_TABLE_NAME, gen_random_uuid()::text);
    RETURN NULL;
END
$$
"""
"""Append a row for the table written: an insert, so concurrent writers never wait here; as
its owner (a writer needs no rights on the log) and with the schema it was made in."""


def add_postgis_change_triggers(conn: Connection, tables: Sequence[str]) -> None:
    """The log function, each table's statement trigger (COPY and TRUNCATE included), a row.

    Idempotent: what exists is left, what is missing (a table made anew by ``ogr2ogr
    -overwrite``, say) is added.
    """
    conn.execute(text(POSTGIS_CHANGE_FUNCTION))
    have = set(conn.scalars(text("SELECT tgname FROM pg_trigger WHERE NOT tgisinternal")))
    seeded = set(conn.scalars(text("SELECT DISTINCT layer FROM layer_change")))
    for table_name in tables:
        if f"{table_name}_changed" not in have:
            conn.execute(
                text(
                    f'CREATE TRIGGER "{table_name}_changed" AFTER INSERT OR UPDATE OR DELETE '
                    f'OR TRUNCATE ON "{table_name}" FOR EACH STATEMENT '
                    "EXECUTE FUNCTION petadesa_layer_changed()"
                )
            )
        if table_name not in seeded:
            conn.execute(
                text(
                    "INSERT INTO layer_change (layer, token) VALUES (:t, gen_random_uuid()::text)"
                ),
                {"t": table_name},
            )


def backend_of(bind: Session | Connection | Engine) -> Backend:
    """The backend a session, connection or engine talks to."""
    if isinstance(bind, Session):
        bind = bind.get_bind()
    dialect = bind.dialect.name
    try:
        return _BACKENDS[dialect]
    except KeyError:
        raise ValueError(f"no Petadesa backend for SQLAlchemy dialect {dialect!r}") from None


_BACKENDS: dict[str, Backend] = {name: cls() for name, cls in _BY_DIALECT.items()}


def backend_for_url(url: URL) -> Backend:
    """The backend that opens ``url``; :class:`~geo.errors.ConfigurationError` if none does."""
    scheme = url.get_backend_name()
    if scheme not in _BY_SCHEME:
        raise ConfigurationError(
            f"unsupported database {scheme!r}: use gpkg:///file.gpkg or postgresql+psycopg://..."
        )
    return _BY_SCHEME[scheme]()


def _enable_foreign_keys(dbapi_conn, _record) -> None:  # noqa: ANN001 - DB-API hook
    """Turn on foreign-key checks for a new SQLite connection, which leaves them off."""
    cursor = dbapi_conn.cursor()
    cursor.execute("PRAGMA foreign_keys = ON")
    cursor.close()


@contextmanager
def local_settings(conn: Connection, settings: dict[str, str]) -> Iterator[None]:
    """Transaction-local PostgreSQL settings, put back as they were afterwards."""
    names = list(settings)
    before = conn.execute(select(*(func.current_setting(n) for n in names))).one()
    conn.execute(select(*(func.set_config(n, v, True) for n, v in settings.items())))
    yield
    # On an error the transaction is aborted and SET LOCAL dies with it: nothing to restore.
    conn.execute(select(*(func.set_config(n, v, True) for n, v in zip(names, before, strict=True))))


def run_if_lock_granted(conn: Connection, statements: list[Any]) -> bool:
    """Run DDL that takes an ACCESS EXCLUSIVE lock, waiting for it at most ``BULK_LOCK_TIMEOUT``.

    In a savepoint: when another transaction holds the table longer, or would deadlock with
    this one, nothing is run and the answer is ``False`` (the caller goes the incremental way).
    """
    try:
        with conn.begin_nested(), local_settings(conn, {"lock_timeout": BULK_LOCK_TIMEOUT}):
            for statement in statements:
                conn.execute(statement)
    except OperationalError as exc:
        if getattr(exc.orig, "sqlstate", None) not in LOCK_REFUSED:
            raise
        return False
    return True


def _rtree(table_name: str, geometry_column: str) -> Any:
    """Return the GeoPackage R*Tree virtual table of a geometry column."""
    return table(
        f"rtree_{table_name}_{geometry_column}",
        column("id"),
        column("minx"),
        column("maxx"),
        column("miny"),
        column("maxy"),
    )


def _bbox_overlaps(rtree: Any, geom: Any) -> ColumnElement[bool]:
    """R*Tree entries whose box overlaps the geometry's box (a point's box is the point)."""
    return and_(
        rtree.c.minx <= func.ST_MaxX(geom),
        rtree.c.maxx >= func.ST_MinX(geom),
        rtree.c.miny <= func.ST_MaxY(geom),
        rtree.c.maxy >= func.ST_MinY(geom),
    )


def _glob(pattern: str) -> str:
    """A CQL2 ``LIKE`` pattern as a SQLite ``GLOB`` one (``*``, ``?``, ``[...]`` quoted)."""
    out, escaped = [], False
    for char in pattern:
        if escaped:
            out.append(f"[{char}]" if char in "*?[" else char)
            escaped = False
        elif char == "\\":
            escaped = True
        elif char == "%":
            out.append("*")
        elif char == "_":
            out.append("?")
        else:
            out.append(f"[{char}]" if char in "*?[" else char)
    return "".join(out)


def _envelope_param(bounds: tuple[float, float, float, float]) -> ColumnElement[Any]:
    """The box as a geometry parameter; of zero width or height it is a line or a point."""
    min_lon, min_lat, max_lon, max_lat = bounds
    if min_lon == max_lon and min_lat == max_lat:
        shape = shapely.Point(min_lon, min_lat)
    elif min_lon == max_lon or min_lat == max_lat:
        shape = shapely.LineString([(min_lon, min_lat), (max_lon, max_lat)])
    else:
        shape = shapely.box(min_lon, min_lat, max_lon, max_lat)
    return func.ST_GeomFromWKB(shape.wkb, SRID)
