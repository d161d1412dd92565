"""Engines and sessions for both backends, and the schema set-up.

``gpkg:///file.gpkg`` opens a GeoPackage through pysqlite3 (the interpreter's own ``sqlite3`` may
not load extensions) with SpatiaLite loaded on every connection; ``postgresql+psycopg://`` opens
PostGIS. Notebooks, the CLI and the API all get their sessions from :func:`session_factory`.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import Connection, Engine, create_engine, event, inspect
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

from geoalchemy2.admin.dialects.geopackage import load_spatialite_gpkg

from geo.errors import ConfigurationError
from geo.settings import DatabaseSettings
from geo.store.backend import backend_of

if TYPE_CHECKING:
    from alembic.config import Config

MIGRATIONS_DIR = Path(__file__).parent / "migrations"


def _enable_foreign_keys(dbapi_conn, _record) -> None:  # noqa: ANN001 - DB-API hook
    """Turn on foreign-key checks for a new SQLite connection, which leaves them off."""
    cursor = dbapi_conn.cursor()
    cursor.execute("PRAGMA foreign_keys = ON")
    cursor.close()


def make_engine(url: str | None = None, *, echo: bool = False) -> Engine:
    """Create an engine for a ``gpkg:///`` or ``postgresql+psycopg://`` URL.

    With no URL the :class:`~geo.settings.DatabaseSettings` default applies
    (``PETADESA_DATABASE_URL``, else ``petadesa.gpkg`` in the working directory).
    """
    if url is None:
        settings = DatabaseSettings()
        url, echo = settings.database_url, settings.echo_sql or echo
    try:
        parsed = make_url(url)
    except Exception as exc:  # SQLAlchemy raises ArgumentError with an unhelpful text
        raise ConfigurationError(f"not a database URL: {url!r}") from exc
    backend = parsed.get_backend_name()
    if backend == "gpkg":
        return _geopackage_engine(url, parsed.database, echo)
    if backend == "postgresql":
        if parsed.drivername == "postgresql":
            parsed = parsed.set(drivername="postgresql+psycopg")
        return create_engine(parsed, echo=echo, pool_pre_ping=True)
    raise ConfigurationError(
        f"unsupported database {backend!r}: use gpkg:///file.gpkg or postgresql+psycopg://..."
    )


def _geopackage_engine(url: str, database: str | None, echo: bool) -> Engine:
    """An engine on the GeoPackage file ``database``, with SpatiaLite and foreign keys on.

    Refuses a URL without a file, or one whose folder does not exist.
    """
    # GDAL (pyogrio) must be loaded before SpatiaLite and the system SQLite it links: the other
    # way round, the next GeoPackage read through pyogrio or geopandas crashes the process.
    import pysqlite3.dbapi2 as pysqlite3  # noqa: PLC0415 - only the GeoPackage backend needs it

    import pyogrio  # noqa: F401, PLC0415

    if not database:
        raise ConfigurationError("a GeoPackage URL needs a file: gpkg:///petadesa.gpkg")
    parent = Path(database).expanduser().resolve().parent
    if not parent.is_dir():
        raise ConfigurationError(f"folder for the GeoPackage does not exist: {parent}")
    os.environ.setdefault("SPATIALITE_LIBRARY_PATH", "mod_spatialite")
    engine = create_engine(url, module=pysqlite3, echo=echo)
    event.listen(engine, "connect", load_spatialite_gpkg)
    event.listen(engine, "connect", _enable_foreign_keys)
    return engine


def session_factory(engine: Engine) -> sessionmaker[Session]:
    """Sessions that do not expire objects on commit (handy in notebooks)."""
    return sessionmaker(engine, expire_on_commit=False)


@contextmanager
def transaction(engine: Engine) -> Iterator[Session]:
    """One session, one transaction: committed on success, rolled back on any error."""
    with session_factory(engine)() as session, session.begin():
        yield session


def schema_exists(engine: Engine) -> bool:
    """True when the registry's tables are there."""
    return inspect(engine).has_table("village")


def init_schema(engine: Engine) -> None:
    """Create or upgrade the registry schema.

    PostGIS goes through the Alembic migrations (spatial-aware); the GeoPackage gets the same
    tables from the same models with ``create_all``.
    """
    backend_of(engine).init_schema(engine)


def upgrade_postgis(engine: Engine, revision: str = "head") -> None:
    """Run the Alembic migrations against a PostGIS engine."""
    from alembic import command  # noqa: PLC0415 - Alembic only matters for PostGIS

    with engine.begin() as conn:
        command.upgrade(_alembic_config(conn), revision)


def downgrade_postgis(engine: Engine, revision: str) -> None:
    """Undo the Alembic migrations on a PostGIS engine down to ``revision`` (``"base"``: all)."""
    from alembic import command  # noqa: PLC0415 - Alembic only matters for PostGIS

    with engine.begin() as conn:
        command.downgrade(_alembic_config(conn), revision)


def _alembic_config(conn: Connection) -> Config:
    """Configuration that runs this package's migrations on ``conn`` (``migrations/env.py``)."""
    from alembic.config import Config  # noqa: PLC0415 - Alembic only matters for PostGIS

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.attributes["connection"] = conn
    return config
