"""Engines for both backends: URLs, errors, and living beside GDAL in one process."""

from __future__ import annotations

import subprocess
import sys

import pytest

from geo.db import make_engine
from geo.errors import ConfigurationError

CRASH_SCENARIO = """
from sqlalchemy import text
from geo.db import init_schema, make_engine
engine = make_engine("gpkg:///{path}")
init_schema(engine)
with engine.connect() as conn:
    conn.execute(text("select 1"))
import pyogrio  # GDAL after SpatiaLite: this order used to crash the next GeoPackage read
print(len(pyogrio.read_dataframe("{path}", layer="village")))
"""


def test_reading_a_geopackage_with_gdal_after_the_registry_opened_it(tmp_path):
    path = tmp_path / "registry.gpkg"
    script = CRASH_SCENARIO.format(path=path)
    command = [sys.executable, "-c", script]
    result = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip() == "0"


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("mysql://x@y/z", "unsupported database 'mysql'"),
        ("not a url", "not a database URL"),
        ("gpkg://", "a GeoPackage URL needs a file"),
    ],
)
def test_unusable_urls_are_configuration_errors(url, message):
    with pytest.raises(ConfigurationError, match=message):
        make_engine(url)


def test_geopackage_in_a_missing_folder_is_refused(tmp_path):
    with pytest.raises(ConfigurationError, match="does not exist"):
        make_engine(f"gpkg:///{tmp_path}/missing/registry.gpkg")
