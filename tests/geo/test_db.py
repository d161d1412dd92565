"""Engines for both backends: URLs, errors, and living beside GDAL in one process."""

from __future__ import annotations

import subprocess
import sys

import pytest
from sqlalchemy import text

from geo.errors import ConfigurationError
from geo.store.db import downgrade_postgis, make_engine, upgrade_postgis

CRASH_SCENARIO = """
from sqlalchemy import text
from geo.store.db import init_schema, make_engine
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


GEOMETRY_COMPRESSION = """
SELECT c.relname, a.attname, a.attcompression
FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
WHERE a.atttypid = 'geometry'::regtype AND c.relkind = 'r'
  AND c.relnamespace = 'public'::regnamespace
ORDER BY 1
"""
AREA_CODE_INDEXES = """
SELECT indexname FROM pg_indexes WHERE tablename = 'village' AND indexdef LIKE '%(code%' ORDER BY 1
"""


def test_migrations_set_lz4_and_drop_the_redundant_code_index_and_go_back(postgis_engine):
    engine = postgis_engine
    with engine.connect() as conn:
        rows = conn.execute(text(GEOMETRY_COMPRESSION)).all()
        assert len(rows) == 14 and {r.attcompression for r in rows} == {"l"}  # 0006-0007 too
        assert conn.execute(text(AREA_CODE_INDEXES)).scalars().all() == [
            "ix_village_current_code",
            "uq_village_code_valid_from",
        ]
    downgrade_postgis(engine, "0002")
    with engine.connect() as conn:
        # Back to the server's default, as before 0003 (an empty attcompression), not pglz.
        assert {r.attcompression for r in conn.execute(text(GEOMETRY_COMPRESSION))} == {""}
        assert "ix_village_code" in conn.execute(text(AREA_CODE_INDEXES)).scalars().all()
    upgrade_postgis(engine)
    with engine.connect() as conn:
        assert {r.attcompression for r in conn.execute(text(GEOMETRY_COMPRESSION))} == {"l"}
