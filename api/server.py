"""Run the API with uvicorn: ``petadesa serve``."""

from __future__ import annotations

import json
import os

import uvicorn

from api.settings import ApiSettings

APP_FACTORY = "api.main:create_app"
MAX_REQUEST_HEAD_BYTES = 256 * 1024


def serve(database_url: str | None = None, settings: ApiSettings | None = None) -> None:
    """Serve the registry at ``database_url`` until interrupted, with ``settings.workers``.

    uvicorn calls the app factory in each worker process with no arguments, so the database
    URL and the settings reach the workers through this process's environment
    (``PETADESA_DATABASE_URL``, ``PETADESA_API_*``), which they inherit.
    """
    settings = settings if settings is not None else ApiSettings()
    os.environ.update(worker_environment(database_url, settings))
    uvicorn.run(
        APP_FACTORY,
        factory=True,
        host=settings.host,
        port=settings.port,
        workers=settings.workers,
        # A CQL2 filter travels in the URL: the longest the API takes (20,000 characters,
        # percent-encoded UTF-8) must fit in a request head, which h11 caps at 16 KiB.
        h11_max_incomplete_event_size=MAX_REQUEST_HEAD_BYTES,
    )


def worker_environment(database_url: str | None, settings: ApiSettings) -> dict[str, str]:
    """Return the environment from which each worker's factory rebuilds the same settings."""
    env = {}
    if database_url is not None:
        env["PETADESA_DATABASE_URL"] = database_url
    for name, value in settings.model_dump().items():
        text = json.dumps(value) if isinstance(value, list) else str(value)
        env[f"PETADESA_API_{name.upper()}"] = text
    return env
