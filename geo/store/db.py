"""Engines and sessions for both backends, and the schema set-up.

``gpkg:///file.gpkg`` opens a GeoPackage through pysqlite3 (the interpreter's own ``sqlite3`` may
not load extensions) with SpatiaLite loaded on every connection; ``postgresql+psycopg://`` opens
PostGIS. Notebooks, the CLI and the API all get their sessions from :func:`session_factory`.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import Connection, Engine, inspect
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

from geo.errors import ConfigurationError
from geo.settings import DatabaseSettings
from geo.store.backend import backend_for_url, backend_of

if TYPE_CHECKING:
    from alembic.config import Config

MIGRATIONS_DIR = Path(__file__).parent / "migrations"


def make_engine(url: str | None = None, *, echo: bool = False) -> Engine:
    """Create an engine for a ``gpkg:///`` or ``postgresql+psycopg://`` URL.

    With no URL the :class:`~geo.settings.DatabaseSettings` default applies
    (``PETADESA_DATABASE_URL``, else ``petadesa.gpkg`` in the working directory). The
    backend named by the URL's scheme makes it (:func:`geo.store.backend.backend_for_url`).
    """
    if url is None:
        settings = DatabaseSettings()
        url, echo = settings.database_url, settings.echo_sql or echo
    try:
        parsed = make_url(url)
    except Exception as exc:  # SQLAlchemy raises ArgumentError with an unhelpful text
        raise ConfigurationError(f"not a database URL: {url!r}") from exc
    return backend_for_url(parsed).create_engine(parsed, echo=echo)


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


def open_registry(url: str | None = None) -> Engine:
    """An engine on the registry, its schema made when there is none.

    A GeoPackage of an older version is upgraded in place (tables and columns added); a
    PostGIS database of an older revision is refused with what to run
    (:class:`~geo.errors.ConfigurationError`): its migrations are run on purpose.
    """
    engine = make_engine(url)
    if not schema_exists(engine):
        init_schema(engine)
        return engine
    backend = backend_of(engine)
    if backend.schema_behind(engine):
        if not backend.upgrades_on_open:
            engine.dispose()
            raise ConfigurationError(
                f"{backend.describe(engine)} has the schema of an older version: "
                "run petadesa init to upgrade it"
            )
        init_schema(engine)
    return engine


def upgrade_postgis(engine: Engine, revision: str = "head") -> None:
    """Run the Alembic migrations against a PostGIS engine."""
    from alembic import command  # noqa: PLC0415 - Alembic only matters for PostGIS

    with engine.begin() as conn:
        command.upgrade(alembic_config(conn), revision)


def downgrade_postgis(engine: Engine, revision: str) -> None:
    """Undo the Alembic migrations on a PostGIS engine down to ``revision`` (``"base"``: all)."""
    from alembic import command  # noqa: PLC0415 - Alembic only matters for PostGIS

    with engine.begin() as conn:
        command.downgrade(alembic_config(conn), revision)


def alembic_config(conn: Connection) -> Config:
    """Configuration that runs this package's migrations on ``conn`` (``migrations/env.py``)."""
    from alembic.config import Config  # noqa: PLC0415 - Alembic only matters for PostGIS

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.attributes["connection"] = conn
    return config


def migration_include_object(obj, name, type_, reflected, compare_to) -> bool:  # noqa: ANN001
    """What the migrations compare and autogenerate: not PostGIS's own ``spatial_ref_sys``.

    GeoAlchemy2's helper leaves out the other tables of spatial extensions. Used by the
    Alembic environment and by the test that compares the migrations with the models.
    """
    from geoalchemy2 import alembic_helpers  # noqa: PLC0415 - Alembic only matters for PostGIS

    if type_ == "table" and name in {"spatial_ref_sys"}:
        return False
    return alembic_helpers.include_object(obj, name, type_, reflected, compare_to)
