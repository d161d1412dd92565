"""Fixtures shared by every test: both backends, isolated per test, built once per session.

PostGIS comes from ``PETADESA_TEST_POSTGIS_URL`` (``scripts/test.sh`` starts a throwaway cluster
and sets it). Each test gets its own database cloned from a template that already has the
schema; each GeoPackage test gets its own copy of a template file. Without PostGIS the PostGIS
half skips locally with a reason; with ``CI=true`` a missing database is a failure.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import make_url

from geo.store.db import init_schema, make_engine

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
BOUNDARIES = SHARED_DATA / "cahyadsn_wilayah_boundaries"
FIXTURES = Path(__file__).parent / "fixtures"
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
BACKENDS = ("gpkg", "postgis")


def _missing(reason: str) -> None:
    if IN_CI:
        pytest.fail(f"{reason} (CI=true: a skipped database test is a failure)")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The real public data beside the repository (``../shared/data``)."""
    if not SHARED_DATA.is_dir():
        _missing(f"real data not found at {SHARED_DATA}")
    return SHARED_DATA


@pytest.fixture(scope="session")
def gpkg_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("gpkg-template") / "template.gpkg"
    engine = make_engine(f"gpkg:///{path}")
    init_schema(engine)
    engine.dispose()
    return path


@dataclass(frozen=True)
class PostgisServer:
    """The throwaway cluster: an AUTOCOMMIT admin engine and the template database's name."""

    admin: Engine
    template: str


@pytest.fixture(scope="session")
def postgis_admin() -> Iterator[PostgisServer]:
    url = os.environ.get("PETADESA_TEST_POSTGIS_URL")
    if not url:
        _missing("PETADESA_TEST_POSTGIS_URL is not set: run the tests through scripts/test.sh")
    admin = create_engine(
        make_url(url).set(drivername="postgresql+psycopg"), isolation_level="AUTOCOMMIT"
    )
    template = f"petadesa_template_{uuid.uuid4().hex[:8]}"
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{template}"'))
    engine = make_engine(str(make_url(url).set(database=template)))
    init_schema(engine)
    engine.dispose()
    yield PostgisServer(admin, template)
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{template}" WITH (FORCE)'))
    admin.dispose()


@contextmanager
def new_database(admin: Engine, template: str, stem: str) -> Iterator[Engine]:
    """An engine on a new database cloned from ``template``, dropped afterwards."""
    name = f"{stem}_{uuid.uuid4().hex[:12]}"
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}" TEMPLATE "{template}"'))
    engine = make_engine(admin.url.set(database=name).render_as_string(hide_password=False))
    yield engine
    engine.dispose()
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def _postgis_engine(server: PostgisServer) -> Iterator[Engine]:
    with new_database(server.admin, server.template, "petadesa_test") as engine:
        yield engine


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    """Name of the backend under test; every registry test runs on both."""
    return request.param


@pytest.fixture
def engine(backend: str, request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    """An empty registry with the schema in place, on the backend under test."""
    if backend == "gpkg":
        path = tmp_path / "registry.gpkg"
        shutil.copyfile(request.getfixturevalue("gpkg_template"), path)
        engine = make_engine(f"gpkg:///{path}")
        yield engine
        engine.dispose()
    else:
        yield from _postgis_engine(request.getfixturevalue("postgis_admin"))


@pytest.fixture
def postgis_engine(postgis_admin: PostgisServer) -> Iterator[Engine]:
    """An empty registry on PostGIS alone, for what only PostGIS has (migrations, storage)."""
    yield from _postgis_engine(postgis_admin)


@pytest.fixture
def database_url(engine: Engine) -> str:
    """URL of the per-test registry, for CLI tests."""
    return engine.url.render_as_string(hide_password=False)
