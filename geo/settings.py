"""Settings, one small class per concern, read from ``PETADESA_*`` environment variables."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_DATABASE_URL = "gpkg:///petadesa.gpkg"


class DatabaseSettings(BaseSettings):
    """Where the registry lives.

    ``gpkg:///path.gpkg`` (the embedded default, a GeoPackage that opens in QGIS) or
    ``postgresql+psycopg://user:pass@host:port/db`` (PostGIS, the system of record).
    """

    model_config = SettingsConfigDict(env_prefix="PETADESA_", env_file=".env", extra="ignore")

    database_url: str = DEFAULT_DATABASE_URL
    echo_sql: bool = False


class ImportSettings(BaseSettings):
    """Limits and tolerances applied to every import."""

    model_config = SettingsConfigDict(
        env_prefix="PETADESA_IMPORT_", env_file=".env", extra="ignore"
    )

    max_file_bytes: int = Field(default=512 * 1024 * 1024, ge=1024)
    """Files larger than this are refused before they are read."""
    max_features: int = Field(default=2_000_000, ge=1)


class CoverageSettings(BaseSettings):
    """How large a modelled coverage grid may grow (``PETADESA_COVERAGE_*``)."""

    model_config = SettingsConfigDict(
        env_prefix="PETADESA_COVERAGE_", env_file=".env", extra="ignore"
    )

    max_grid_cells: int = Field(default=25_000_000, ge=10_000)
    """Cells one grid may hold (a whole run peaks at about 60-140 bytes a cell). A run over
    several regencies whose grid would be larger models them one regency at a time; a
    regency still larger is modelled at a coarser step, and the run records it."""


class BoundarySourceSettings(BaseSettings):
    """Where ``petadesa boundaries fetch`` gets the upstream village boundary files."""

    model_config = SettingsConfigDict(
        env_prefix="PETADESA_BOUNDARY_", env_file=".env", extra="ignore"
    )

    cache_dir: Path = Path.home() / ".cache" / "petadesa" / "boundaries"
    mirror_dir: Path | None = None
    """A local directory holding upstream files by their upstream name; tried before the network."""
    timeout_s: float = Field(default=20.0, gt=0)
    base_url: str | None = None
    """Replaces the upstream host (``https://raw.githubusercontent.com/<owner>/<repo>/``), e.g. for
    an internal mirror served over HTTP."""
