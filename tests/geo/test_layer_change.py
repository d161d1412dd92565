"""Change counters: every write to a served table, by any program, changes its collections' stamp.

The tile cache and the kept counts of :mod:`geo.features` are keyed by the stamp, so a write
that slipped past the triggers would serve stale tiles and counts.
"""

from __future__ import annotations

import pytest
from sqlalchemy import text

from shapely import Point

from geo import features
from geo.errors import ConfigurationError
from geo.store.backend import backend_of
from geo.store.db import init_schema, open_registry, transaction
from geo.store.models import CHANGE_TRACKED
from tests.geo.helpers import add_asset, add_sample_areas, at

TRIGGERS = {
    "gpkg": "SELECT tbl_name FROM sqlite_master WHERE type = 'trigger' AND name LIKE '%_changed_%'",
    "postgis": "SELECT tgrelid::regclass::text FROM pg_trigger WHERE tgname LIKE '%_changed'",
}


def test_every_table_a_collection_is_read_from_has_its_triggers(engine, backend):
    with engine.connect() as conn:
        tables = [row[0] for row in conn.execute(text(TRIGGERS[backend]))]
        logged = [row[0] for row in conn.execute(text("SELECT layer FROM layer_change"))]

    per_table = 3 if backend == "gpkg" else 1  # SQLite: insert, update, delete, each a row
    assert sorted(tables) == sorted(CHANGE_TRACKED * per_table)
    assert sorted(logged) == sorted(CHANGE_TRACKED)  # one entry each to start from
    served = {table for c in features.COLLECTIONS.values() for table in c.tables}
    assert served == set(CHANGE_TRACKED)


def test_writes_outside_petadesa_change_the_stamp_and_the_count(engine):
    collection = features.COLLECTIONS["destination"]
    village = features.COLLECTIONS["village"]
    with transaction(engine) as session:
        add_sample_areas(session)
    with transaction(engine) as session:
        before, villages_before = (
            features.stamp(session, collection),
            features.stamp(session, village),
        )
        assert features.count(session, collection) == 0
    with transaction(engine) as session:
        add_asset(session, "destination", Point(at(0.5, 0.5)), name="Coban Rondo")
        add_asset(session, "destination", Point(at(1.5, 0.5)), name="Coban Pelangi")

    with transaction(engine) as session:
        inserted = features.stamp(session, collection)
        assert inserted != before
        assert features.stamp(session, village) == villages_before
        assert features.count(session, collection) == 2
    with engine.begin() as conn:  # as psql, or QGIS editing the GeoPackage, would
        conn.execute(text("DELETE FROM destination WHERE name = 'Coban Pelangi'"))
    with transaction(engine) as session:
        assert features.stamp(session, collection) not in (before, inserted)
        assert features.count(session, collection) == 1
        page = features.items(session, collection, limit=1)
        assert (page.matched, list(page.features["name"])) == (1, ["Coban Rondo"])


def test_a_filter_counts_up_to_the_cap_and_no_further(engine, monkeypatch):
    collection = features.COLLECTIONS["destination"]
    with transaction(engine) as session:
        add_sample_areas(session)
        for i in range(5):
            add_asset(session, "destination", Point(at(0.1 + i / 10, 0.5)), name=f"Wisata {i}")
    monkeypatch.setattr(features, "COUNT_CAP", 3)
    box = (-180.0, -90.0, 180.0, 90.0)

    with transaction(engine) as session:
        capped = features.items(session, collection, bbox=box, limit=2)
        last = features.items(session, collection, bbox=box, limit=2, offset=4)
        unfiltered = features.items(session, collection, limit=2)
        monkeypatch.setattr(features, "COUNT_CAP", 5)
        exact = features.items(session, collection, bbox=box, limit=2)

    assert (len(capped.features), capped.matched) == (2, None)
    assert (len(last.features), last.matched) == (1, 5)  # the last page tells how many
    assert unfiltered.matched == 5  # a collection's own count is kept, never capped
    assert exact.matched == 5


def test_a_database_built_again_never_repeats_a_stamp(engine, tmp_path):
    village = features.COLLECTIONS["village"]
    with transaction(engine) as session:
        first = features.stamp(session, village)
    with engine.begin() as conn:  # the same writes again, as a rebuilt database would see them
        conn.execute(text("DELETE FROM layer_change"))
        conn.execute(text("INSERT INTO layer_change (id, layer, token) VALUES (1, 'village', 'x')"))
    with transaction(engine) as session:
        again = features.stamp(session, village)
    assert again != first


def test_a_table_made_anew_gets_its_triggers_back(engine, backend):
    with engine.begin() as conn:  # what ogr2ogr -overwrite or QGIS "overwrite layer" leaves
        if backend == "postgis":
            conn.execute(text("DROP TRIGGER destination_changed ON destination"))
        else:
            for event_ in ("insert", "update", "delete"):
                conn.execute(text(f"DROP TRIGGER destination_changed_{event_}"))
    url = engine.url.render_as_string(hide_password=False)
    backend_ = backend_of(engine)

    assert backend_.missing_triggers(engine) == ["destination"]
    if backend == "postgis":
        with pytest.raises(ConfigurationError, match="run petadesa init"):
            open_registry(url)
        init_schema(engine)
    else:
        open_registry(url).dispose()  # a GeoPackage is mended when opened
    assert backend_.missing_triggers(engine) == []
    collection = features.COLLECTIONS["destination"]
    with transaction(engine) as session:
        before = features.stamp(session, collection)
    with transaction(engine) as session:
        add_asset(session, "destination", Point(at(0.5, 0.5)), name="Coban Rondo")
    with transaction(engine) as session:
        assert features.stamp(session, collection) != before


def test_a_transaction_that_commits_last_moves_the_stamp_though_it_began_first(engine, backend):
    """A tile kept between two commits must not stay fresh after the slower one lands."""
    collection = features.COLLECTIONS["destination"]
    with transaction(engine) as session:
        add_sample_areas(session)
        add_asset(session, "destination", Point(at(0.5, 0.5)), name="Coban Rondo")
    slow, quick = engine.connect(), engine.connect()
    try:
        slow_txn = slow.begin()
        if backend == "postgis":  # SQLite lets one writer in at a time: no interleaving there
            # logged first; on no row, so the quicker writer is not held by a row lock
            slow.execute(text("UPDATE destination SET name = name WHERE false"))
        with quick.begin():
            quick.execute(text("UPDATE destination SET name = name"))  # logged later, lands first
        with transaction(engine) as session:
            between = features.stamp(session, collection)
        if backend != "postgis":
            slow.execute(text("UPDATE destination SET name = name"))
        slow_txn.commit()
    finally:
        slow.close()
        quick.close()
    with transaction(engine) as session:
        after = features.stamp(session, collection)
    assert after != between
