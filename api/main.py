"""The app factory: :func:`create_app` builds the FastAPI app over one registry database.

Nothing is opened at import time. The engine is created when the app starts (its lifespan)
and disposed when it stops, and kept on ``app.state`` with the session factory and the
settings, so tests and the server each get an app of their own.
"""

from __future__ import annotations

import logging
import shutil
import tempfile
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from fastapi.middleware.gzip import GZipMiddleware
from fastapi.openapi.utils import get_openapi
from fastapi.staticfiles import StaticFiles

from api.errors import install_error_handlers
from api.middleware import ConditionalGet, HeadAsGet, RequestSizeLimit
from api.routes import TAGS, api_router
from api.routes.maps import ASSETS_PATH
from api.schemas import Problem
from api.settings import ApiSettings
from geo.settings import DatabaseSettings
from geo.store.db import make_engine, session_factory
from maps.assets import MapAssetsMissing, write_assets

logger = logging.getLogger("petadesa.api")

TITLE = "Petadesa"
GZIP_MIN_BYTES = 1024
GZIP_LEVEL = 4
"""Starlette's default, 9, spends 566 ms on a page of 1,000 villages that level 4 packs in 40
ms, 10% larger (bench/api.py): QGIS asks for gzip, and waited on it."""
CORS_METHODS = ["GET", "HEAD", "OPTIONS", "POST", "PUT", "PATCH", "DELETE"]
CORS_HEADERS = ["Authorization", "Content-Type", "Accept", "If-Match", "If-None-Match"]
CORS_EXPOSED = ["ETag", "Content-Crs", "Location", "Content-Disposition"]
"""What a page on another site may read of an answer, beyond the CORS-safelisted headers."""
"""Answers at least this large are gzipped for clients that accept it."""
DESCRIPTION = (
    "The village registry of Indonesian regencies: villages (desa/kelurahan) by their "
    "Kemendagri code and boundary, districts, regencies, and their assets (towers, fibre, "
    "hotspots, tourist destinations, OVOP/UMKM product sites, public facilities). GeoJSON is "
    "served as application/geo+json in EPSG:4326; errors as application/problem+json."
)


def create_app(database_url: str | None = None, settings: ApiSettings | None = None) -> FastAPI:
    """Build the API over the registry at ``database_url``.

    Without a URL the database comes from :class:`~geo.settings.DatabaseSettings`
    (``PETADESA_DATABASE_URL``); without ``settings`` from :class:`ApiSettings`
    (``PETADESA_API_*``), read now, not at import time. The engine opens when the app starts.
    """
    settings = settings if settings is not None else ApiSettings()
    app = FastAPI(
        title=TITLE,
        description=DESCRIPTION,
        version=_version(),
        openapi_tags=TAGS,
        lifespan=_lifespan(database_url),
    )
    app.state.settings = settings
    install_error_handlers(app)
    app.include_router(api_router)
    _mount_map_assets(app)
    # innermost first: the tag is of the plain body, gzip compresses what is sent, and a HEAD
    # runs as the GET it stands for, through all of them
    app.add_middleware(RequestSizeLimit, max_bytes=settings.max_request_bytes)
    app.add_middleware(ConditionalGet)
    app.add_middleware(GZipMiddleware, minimum_size=GZIP_MIN_BYTES, compresslevel=GZIP_LEVEL)
    app.add_middleware(HeadAsGet)
    if settings.cors_origins:  # outermost: a preflight is answered before anything else runs
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_methods=CORS_METHODS,
            allow_headers=CORS_HEADERS,
            expose_headers=CORS_EXPOSED,
            max_age=3600,
        )
    app.openapi = lambda: _openapi(app)  # type: ignore[method-assign]
    return app


def _mount_map_assets(app: FastAPI) -> None:
    """Serve the maps' JS/CSS from a folder written at start-up from node_modules."""
    folder = Path(tempfile.mkdtemp(prefix="petadesa-map-assets-"))
    app.state.map_assets_dir = folder
    app.mount(ASSETS_PATH, StaticFiles(directory=folder, check_dir=False), name="map-assets")


def _write_map_assets(folder: Path) -> None:
    try:
        write_assets(folder)
    except MapAssetsMissing as exc:  # the rest of the API works without maps
        logger.warning("maps unavailable: %s", exc)


def _lifespan(
    database_url: str | None,
) -> Callable[[FastAPI], AbstractAsyncContextManager[None]]:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if database_url is None:
            database = DatabaseSettings()
            engine = make_engine(database.database_url, echo=database.echo_sql)
        else:
            engine = make_engine(database_url)
        app.state.engine = engine
        app.state.sessions = session_factory(engine)
        _write_map_assets(app.state.map_assets_dir)
        try:
            yield
        finally:
            engine.dispose()
            shutil.rmtree(app.state.map_assets_dir, ignore_errors=True)

    return lifespan


def _openapi(app: FastAPI) -> dict[str, Any]:
    """FastAPI's document, plus the Problem schema that every error response refers to."""
    if app.openapi_schema is None:
        document = get_openapi(
            title=app.title,
            version=app.version,
            description=app.description,
            routes=app.routes,
            tags=app.openapi_tags,
        )
        schemas = document.setdefault("components", {}).setdefault("schemas", {})
        problem = Problem.model_json_schema(ref_template="#/components/schemas/{model}")
        schemas.update(problem.pop("$defs", {}))
        schemas["Problem"] = problem
        app.openapi_schema = document
    return app.openapi_schema


def _version() -> str:
    try:
        return version("petadesa")
    except PackageNotFoundError:
        return "0+unknown"
