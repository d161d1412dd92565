"""Settings of the HTTP API, read from ``PETADESA_API_*`` environment variables.

The database is not set here: it is geo's :class:`~geo.settings.DatabaseSettings`
(``PETADESA_DATABASE_URL``), shared with the CLI and the notebooks.
"""

from __future__ import annotations

import json
from typing import Annotated

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict


class ApiSettings(BaseSettings):
    """Where the API listens, how many processes serve it, and what it accepts."""

    model_config = SettingsConfigDict(env_prefix="PETADESA_API_", env_file=".env", extra="ignore")

    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)
    workers: int = Field(default=1, ge=1, le=64)
    """Server processes; each opens its own connection pool."""
    cors_origins: Annotated[list[str], NoDecode] = Field(default_factory=lambda: ["*"])
    """Origins a browser may call the API from: a JSON list or comma-separated; ``*`` (the
    default): any, as an open-data service is read from other sites' maps; empty: none.

    Any origin is safe for writes too: they need an API key sent as a header, which no other
    site's page can send for a user (no cookies are used), so there is no cross-site forgery."""
    max_request_bytes: int = Field(default=32 * 1024 * 1024, ge=1024)
    """Request bodies larger than this are refused with 413 before they are read."""

    @field_validator("cors_origins", mode="before")
    @classmethod
    def _split_origins(cls, value: object) -> object:
        if not isinstance(value, str):
            return value
        text = value.strip()
        if text.startswith("["):
            return json.loads(text)
        return [origin.strip() for origin in text.split(",") if origin.strip()]
