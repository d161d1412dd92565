"""A registry of an older version: a GeoPackage upgraded when opened, a PostGIS one refused."""

from __future__ import annotations

import pytest
from sqlalchemy import Column, MetaData, Table, inspect, text

from geo.errors import ConfigurationError
from geo.store.db import downgrade_postgis, init_schema, make_engine, open_registry
from geo.store.models import SpeedTest, VillageConnectivity

NEW = {"measured_class", "measured_tests", "measured_download_kbps", "measured_period"}
NEW |= {"provenance"}


def test_an_older_geopackage_gets_the_tables_and_columns_it_lacks(gpkg_template, tmp_path):
    path = tmp_path / "old.gpkg"
    path.write_bytes(gpkg_template.read_bytes())
    engine = make_engine(f"gpkg:///{path}")
    older = MetaData()  # the register as the version before speed tests made it
    Table(
        "village_connectivity",
        older,
        *(
            Column(c.name, c.type, primary_key=c.primary_key, nullable=c.nullable)
            for c in VillageConnectivity.__table__.columns
            if c.name not in NEW
        ),
    )
    with engine.begin() as conn:
        conn.execute(text("DROP TABLE village_connectivity"))
        indexes = set(SpeedTest.__table__.indexes)
        SpeedTest.__table__.drop(conn)  # GeoAlchemy2 also drops its GeoPackage entries
        SpeedTest.__table__.indexes.update(indexes)  # and may take the GiST out of the model
        older.create_all(conn)
    engine.dispose()

    upgraded = open_registry(f"gpkg:///{path}")

    inspector = inspect(upgraded)
    columns = {c["name"] for c in inspector.get_columns("village_connectivity")}
    assert columns == {c.name for c in VillageConnectivity.__table__.columns}
    assert "speed_test" in inspector.get_table_names()
    upgraded.dispose()


def test_an_older_postgis_is_refused_until_init(postgis_engine):
    url = postgis_engine.url.render_as_string(hide_password=False)
    downgrade_postgis(postgis_engine, "0006")

    with pytest.raises(ConfigurationError, match="older version: run petadesa init"):
        open_registry(url)
    init_schema(postgis_engine)
    open_registry(url).dispose()
