"""The API under test: the real app factory over a Kab. Malang registry, on both backends.

The registry (390 villages, real destinations and facilities, seeded sample layers) is built
once per backend and session: the API only reads, and the security tests check that it stays
so. Each test gets a fresh app through :func:`api.main.create_app`, with its lifespan run by
``TestClient`` used as a context manager.
"""

from __future__ import annotations

import shutil
import uuid
import warnings
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from sqlalchemy import Engine, text

with warnings.catch_warnings():
    # Starlette >= 1.x asks for httpx2 and warns (an error under our filters) when it finds
    # only httpx; once the test extra has httpx2 this guard does nothing. Imported here first,
    # so the test modules' own imports of TestClient find the module already loaded.
    warnings.filterwarnings("ignore", message="Using `httpx` with `starlette.testclient`")
    from fastapi.testclient import TestClient

from api.main import create_app
from api.settings import ApiSettings
from geo import queries
from geo.demo import build_demo_registry
from geo.store.db import make_engine, transaction
from tests.api.test_server import running_server

BACKENDS = ("gpkg", "postgis")
MALANG = "35.07"


def _build(url: str, shared_data: Path) -> None:
    engine = make_engine(url)
    try:
        result = build_demo_registry(engine, regency=MALANG, data_dir=shared_data)
    finally:
        engine.dispose()
    assert not result.sample_region, result.notes


@pytest.fixture(scope="session", params=BACKENDS)
def registry_url(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, shared_data: Path
) -> Iterator[str]:
    """URL of a Kab. Malang registry on one backend, built once per session."""
    if request.param == "gpkg":
        path = tmp_path_factory.mktemp("api-registry") / "malang.gpkg"
        shutil.copyfile(request.getfixturevalue("gpkg_template"), path)
        url = f"gpkg:///{path}"
        _build(url, shared_data)
        yield url
        return
    server = request.getfixturevalue("postgis_admin")
    name = f"petadesa_api_{uuid.uuid4().hex[:12]}"
    with server.admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}" TEMPLATE "{server.template}"'))
    url = server.admin.url.set(database=name).render_as_string(hide_password=False)
    _build(url, shared_data)
    yield url
    with server.admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture
def backend_name(registry_url: str) -> str:
    """``geopackage`` or ``postgis``, as ``/health`` names the backend under test."""
    return "geopackage" if registry_url.startswith("gpkg:") else "postgis"


@pytest.fixture
def settings() -> ApiSettings:
    """Explicit settings: nothing read from the environment or a .env file."""
    return ApiSettings(_env_file=None, max_request_bytes=64 * 1024)


@pytest.fixture
def make_client(registry_url: str, settings: ApiSettings) -> Iterator[Callable[..., TestClient]]:
    """Open clients on apps from the real factory; ``prepare`` may add test-only routes."""
    with ExitStack() as stack:

        def make(prepare: Callable[[FastAPI], None] | None = None, **options: Any) -> TestClient:
            app = create_app(database_url=registry_url, settings=settings)
            if prepare is not None:
                prepare(app)
            return stack.enter_context(TestClient(app, **options))

        yield make


@pytest.fixture
def client(make_client: Callable[..., TestClient]) -> TestClient:
    """A client on the real app over the registry; the lifespan has run."""
    return make_client()


@pytest.fixture
def registry(registry_url: str) -> Iterator[Engine]:
    """An engine of its own on the registry, to read what the API should answer."""
    engine = make_engine(registry_url)
    yield engine
    engine.dispose()


@pytest.fixture
def served(registry_url: str, tmp_path: Path) -> Iterator[str]:
    """The base URL of the real server (``api.server.serve``, one worker) over the registry."""
    with running_server(registry_url, tmp_path) as base:
        yield base


@pytest.fixture(scope="session")
def registry_villages(registry_url: str) -> Any:
    """The registry's villages as :func:`geo.queries.villages` reads them (to compare with)."""
    engine = make_engine(registry_url)
    with transaction(engine) as session:
        frame = queries.villages(session)
    engine.dispose()
    return frame
