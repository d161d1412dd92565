import contextlib
import datetime as dt
import json
import threading
import time

import pytest
from sqlalchemy import event, func, select, text
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from geoalchemy2.shape import from_shape
from shapely.geometry import LineString, MultiLineString, MultiPolygon, Point

import geo.store.backend as geo_backend
from geo import linking
from geo.errors import UnknownLayer
from geo.linking import LayerCounts, Mismatch, OutsideAsset, link_assets
from geo.store.models import FibreRoute, Tower, Village
from tests.geo.helpers import (
    BLABAK,
    KEDUNGSALAM,
    PESANTREN,
    SAMPLE_AREAS,
    SUMBEROTO,
    TULUNGREJO,
    add_area,
    add_asset,
    add_sample_areas,
    at,
    cell,
)

EDGE_X = SAMPLE_AREAS[TULUNGREJO].bounds[2]
"""The border shared by Tulungrejo and Sumberoto."""


@pytest.fixture
def session(engine):
    with Session(engine) as session:
        add_sample_areas(session)
        yield session


def tower(session, name, position, claimed=None):
    return add_asset(session, "tower", Point(position), name=name, claimed=claimed)


def route(session, name, *parts):
    return add_asset(
        session, "fibre_route", MultiLineString([LineString(p) for p in parts]), name=name
    )


def codes(session, model):
    return dict(session.execute(select(model.name, model.village_code)).all())


def test_fixture_geometry_is_what_the_tests_assume():
    edge_point = Point(EDGE_X, at(0, 0.5)[1])
    assert SAMPLE_AREAS[TULUNGREJO].touches(edge_point)
    assert SAMPLE_AREAS[SUMBEROTO].touches(edge_point)
    sliver = Point(at(1.97, 0.5))
    assert SAMPLE_AREAS[SUMBEROTO].contains(sliver)
    assert SAMPLE_AREAS[KEDUNGSALAM].contains(sliver)


def test_points_inside_outside_on_edges_in_overlaps(session):
    tower(session, "inside", at(0.5, 0.5))
    tower(session, "edge", (EDGE_X, at(0, 0.5)[1]))
    tower(session, "sliver", at(1.97, 0.5))
    tower(session, "kedungsalam", at(2.5, 0.5), claimed=KEDUNGSALAM)
    tower(session, "sea", at(8, 0.5))
    tower(session, "retired", at(6.5, 0.5))  # only in the retired version of Tulungrejo

    report = link_assets(session, ["tower"])

    assert codes(session, Tower) == {
        "inside": TULUNGREJO,
        "edge": TULUNGREJO,  # shared border: the smaller code
        "sliver": SUMBEROTO,  # overlap: the smaller code
        "kedungsalam": KEDUNGSALAM,
        "sea": None,
        "retired": None,
    }
    assert report.layers == {
        "tower": LayerCounts(total=6, linked=4, changed=4, unlinked=2, mismatched=0)
    }
    ids = dict(session.execute(select(Tower.name, Tower.id)).all())
    assert report.outside == [
        OutsideAsset("tower", ids["sea"], "sea", *at(8, 0.5)),
        OutsideAsset("tower", ids["retired"], "retired", *at(6.5, 0.5)),
    ]
    assert report.mismatched == []


def test_line_goes_to_the_village_with_the_larger_share(session):
    route(session, "mostly sumberoto", [at(0.6, 0.5), at(1.9, 0.5)])  # 0.4 vs 0.9 cells
    route(session, "two parts", [at(3.2, 0.2), at(3.7, 0.2)], [at(0.1, 0.8), at(0.4, 0.8)])
    route(session, "offshore", [at(7, 0.2), at(9, 0.2)])
    route(session, "along the border", [(EDGE_X, at(0, 0.2)[1]), (EDGE_X, at(0, 0.8)[1])])

    report = link_assets(session, ["fibre_route"])

    assert codes(session, FibreRoute) == {
        "mostly sumberoto": SUMBEROTO,
        "two parts": PESANTREN,  # 0.5 cells in Pesantren, 0.3 in Tulungrejo
        "offshore": None,
        "along the border": TULUNGREJO,  # equal shares: the smaller code
    }
    assert report.layers["fibre_route"] == LayerCounts(
        total=4, linked=3, changed=3, unlinked=1, mismatched=0
    )
    [outside] = report.outside
    assert (outside.layer, outside.name) == ("fibre_route", "offshore")
    assert LineString([at(7, 0.2), at(9, 0.2)]).intersects(Point(outside.lon, outside.lat))


def test_claims_that_disagree_are_listed(session):
    right = tower(session, "right", at(3.5, 0.5), claimed=PESANTREN)
    wrong = tower(session, "wrong", at(3.5, 0.5), claimed=BLABAK)
    lost = tower(session, "lost", at(8, 0.5), claimed=BLABAK)

    report = link_assets(session)

    assert right.village_code == PESANTREN  # loaded objects see the new links
    assert report.layers["tower"].mismatched == 2
    assert report.mismatched == [
        Mismatch("tower", wrong.id, "wrong", BLABAK, PESANTREN),
        Mismatch("tower", lost.id, "lost", BLABAK, None),
    ]
    assert set(report.layers) == {
        "tower",
        "fibre_route",
        "fibre_node",
        "hotspot",
        "destination",
        "product_site",
        "facility",
        "speed_tile",
        "speed_test",
    }
    assert report.layers["hotspot"] == LayerCounts()
    as_json = json.loads(json.dumps(report.to_dict()))
    assert as_json["mismatched"][0] == {
        "layer": "tower",
        "id": wrong.id,
        "name": "wrong",
        "claimed_village_code": BLABAK,
        "village_code": PESANTREN,
    }
    assert as_json["layers"]["tower"] == {
        "total": 3,
        "linked": 2,
        "changed": 2,
        "unlinked": 1,
        "mismatched": 2,
    }


def test_rerun_after_boundary_change_relinks_only_what_moved(session):
    tower(session, "west sumberoto", at(1.2, 0.5))
    tower(session, "blabak", at(4.5, 0.5))
    tower(session, "pesantren", at(3.5, 0.5))
    route(session, "fibre", [at(0.6, 0.5), at(1.9, 0.5)])
    first = link_assets(session, ["tower", "fibre_route"])
    assert first.layers["tower"].changed == 3
    versions = dict(session.execute(select(Tower.name, Tower.version)).all())

    unchanged = link_assets(session, ["tower", "fibre_route"])
    assert unchanged.layers["tower"] == LayerCounts(3, 3, 0, 0, 0)
    assert unchanged.layers["fibre_route"] == LayerCounts(1, 1, 0, 0, 0)

    # Tulungrejo grows east (a new version), Sumberoto shrinks in place, Blabak is retired.
    current = (
        session.execute(select(Village).where(Village.valid_to.is_(None)).order_by(Village.code))
        .scalars()
        .all()
    )
    by_code = {v.code: v for v in current}
    by_code[TULUNGREJO].valid_to = dt.date(2024, 1, 1)
    by_code[SUMBEROTO].boundary = from_shape(MultiPolygon([cell(1.5, 0, 0.5)]), srid=4326)
    by_code[BLABAK].valid_to = dt.date(2024, 1, 1)
    session.flush()
    add_area(session, TULUNGREJO, cell(0, 0, 1.5), valid_from=dt.date(2024, 1, 1))

    report = link_assets(session, ["tower", "fibre_route"])

    assert codes(session, Tower) == {
        "west sumberoto": TULUNGREJO,
        "blabak": None,
        "pesantren": PESANTREN,
    }
    assert codes(session, FibreRoute) == {"fibre": TULUNGREJO}  # 0.9 vs 0.4 cells now
    assert report.layers["tower"] == LayerCounts(3, 2, 2, 1, 0)
    assert report.layers["fibre_route"] == LayerCounts(1, 1, 1, 0, 0)
    after = dict(session.execute(select(Tower.name, Tower.version)).all())
    assert after == {
        **versions,
        "west sumberoto": versions["west sumberoto"] + 1,
        "blabak": versions["blabak"] + 1,
    }


def test_ids_restrict_the_run(session):
    a = tower(session, "a", at(0.5, 0.5))
    b = tower(session, "b", at(1.5, 0.5))
    c = tower(session, "c", at(8, 0.5))

    report = link_assets(session, ids={"tower": [a.id, c.id]})

    assert set(report.layers) == {"tower"}
    assert report.layers["tower"] == LayerCounts(2, 1, 1, 1, 0)
    assert [o.id for o in report.outside] == [c.id]
    assert codes(session, Tower) == {"a": TULUNGREJO, "b": None, "c": None}

    assert link_assets(session, ids={"tower": []}).layers["tower"] == LayerCounts()
    assert link_assets(session, ids={"tower": [b.id]}).layers["tower"] == LayerCounts(1, 1, 1, 0, 0)


def _spy(monkeypatch, name):
    """Record what ``linking.<name>`` answers."""
    answers = []
    real = getattr(linking, name)

    def spy(*args):
        answers.append(real(*args))
        return answers[-1]

    monkeypatch.setattr(linking, name, spy)
    return answers


def test_many_ids_let_the_villages_drive_and_link_alike(session, backend, monkeypatch):
    monkeypatch.setattr(linking, "VILLAGES_DRIVE_MIN_IDS", 1)
    drives = _spy(monkeypatch, "_villages_drive")
    edge = tower(session, "edge", (EDGE_X, at(0, 0.5)[1]))
    sliver = tower(session, "sliver", at(1.97, 0.5))
    sea = tower(session, "sea", at(8, 0.5), claimed=BLABAK)
    tower(session, "left alone", at(3.5, 0.5))
    tower(session, "also left alone", at(0.5, 0.5))

    report = link_assets(session, ids={"tower": [edge.id, sliver.id, sea.id]})

    assert drives == [True]  # 3 of 5 rows: a fair share
    assert codes(session, Tower) == {
        "edge": TULUNGREJO,
        "sliver": SUMBEROTO,
        "sea": None,
        "left alone": None,
        "also left alone": None,
    }
    assert report.layers["tower"] == LayerCounts(3, 2, 2, 1, 1)
    assert [o.id for o in report.outside] == [sea.id]
    assert report.mismatched == [Mismatch("tower", sea.id, "sea", BLABAK, None)]


def test_ids_of_every_row_link_the_layer_whole(session, monkeypatch):
    monkeypatch.setattr(linking, "VILLAGES_DRIVE_MIN_IDS", 1)
    whole = _spy(monkeypatch, "_is_whole_layer")
    towers = [tower(session, "inside", at(0.5, 0.5)), tower(session, "sea", at(8, 0.5))]

    report = link_assets(session, ids={"tower": [t.id for t in towers]})
    partial = link_assets(session, ids={"tower": [towers[0].id]})

    assert whole == [True, False]
    assert codes(session, Tower) == {"inside": TULUNGREJO, "sea": None}
    assert report.layers["tower"] == LayerCounts(2, 1, 1, 1, 0)
    assert partial.layers["tower"] == LayerCounts(1, 1, 0, 0, 0)


def test_listing_is_capped_but_counts_are_not(session):
    for i in range(3):
        tower(session, f"sea {i}", at(8 + i * 0.1, 0.5))

    report = link_assets(session, ["tower"], max_listed=2)

    assert report.layers["tower"].unlinked == 3
    assert [o.name for o in report.outside] == ["sea 0", "sea 1"]
    assert report.to_dict()["max_listed"] == 2


def test_runs_in_the_callers_transaction(session, engine):
    tower(session, "inside", at(0.5, 0.5))
    session.commit()
    link_assets(session, ["tower"])
    session.rollback()
    assert codes(session, Tower) == {"inside": None}


def test_unknown_layer_is_refused(session):
    with pytest.raises(UnknownLayer):
        link_assets(session, ["towers"])
    with pytest.raises(UnknownLayer):
        link_assets(session, ids={"roads": [1]})
    assert set(link_assets(session, "tower").layers) == {"tower"}  # a name, not its letters


@pytest.mark.parametrize("backend", ["postgis"], indirect=True)
def test_postgis_settings_are_put_back(session, monkeypatch):
    names = ("jit", "work_mem", "enable_hashjoin", "lock_timeout")
    settings = select(*(func.current_setting(n) for n in names))
    tower(session, "inside", at(0.5, 0.5))
    before = session.execute(settings).one()
    link_assets(session, ["tower"])
    _always_bulk(monkeypatch)
    link_assets(session, ["tower"])
    assert session.execute(settings).one() == before


def test_the_join_goes_through_the_spatial_index(session, backend):
    inside = tower(session, "inside", at(0.5, 0.5))
    statements = []
    event.listen(
        session.get_bind(), "before_cursor_execute", lambda *args: statements.append(args[2])
    )
    link_assets(session, ["tower"])
    link_assets(session, ids={"tower": [inside.id]})
    whole, one = [s for s in statements if "ST_Intersects" in s]
    # SQLite never uses an R*Tree by itself: the prefilter must be in the query. The whole
    # layer is driven from the villages (the layer's R*Tree), one row from the row (the
    # villages' R*Tree).
    assert ("rtree_tower_geom" in whole) is (backend == "gpkg")
    assert "rtree_village_boundary" not in whole
    assert ("rtree_village_boundary" in one) is (backend == "gpkg")


@pytest.mark.parametrize("backend", ["gpkg"], indirect=True)
def test_geopackage_villages_drive_the_join_through_the_layers_rtree(session):
    """The village-driven join must enter the layer's R*Tree by bounding box, villages outside:
    when SQLite could enter it by id instead it put the layer outside and, for every row,
    scanned every village (5,000 towers: 93 s)."""
    for i in range(20):
        tower(session, f"t{i}", at(0.1 + 0.4 * i, 0.5))
    captured = []

    def keep(_conn, _cursor, statement, parameters, *_rest):  # noqa: ANN001
        if "rtree_tower_geom" in statement:
            captured.append((statement, parameters))

    event.listen(session.get_bind(), "before_cursor_execute", keep)
    link_assets(session, ["tower"])
    event.remove(session.get_bind(), "before_cursor_execute", keep)
    [(statement, parameters)] = captured
    statement = statement[statement.index("SELECT") :]  # its temporary table is gone by now
    plan = [
        row[3]
        for row in session.connection().exec_driver_sql(
            "EXPLAIN QUERY PLAN " + statement, parameters
        )
    ]
    steps = [step for step in plan if "village" in step or "rtree_tower_geom" in step]
    assert steps[0].startswith("SCAN village")
    assert "rtree_tower_geom VIRTUAL TABLE INDEX 2:" in steps[1]  # by bounding box


def test_empty_layers_cost_one_query_each(session):
    statements = []
    event.listen(
        session.get_bind(), "before_cursor_execute", lambda *args: statements.append(args[2])
    )

    report = link_assets(session)

    assert report.layers == {name: LayerCounts() for name in linking.LINKED_LAYERS}
    assert sum("EXISTS" in s for s in statements) == len(linking.LINKED_LAYERS) == 9
    assert not [s for s in statements if "ST_Intersects" in s or "TEMPORARY" in s]


# --------------------------------------------------------------------------------------------
# Bulk relink on PostGIS: the village_code index is dropped around the write-back
# --------------------------------------------------------------------------------------------


def _always_bulk(monkeypatch):
    monkeypatch.setattr(linking, "BULK_MIN_ROWS", 1)
    monkeypatch.setattr(linking, "BULK_MIN_SHARE", 0.0)


def _tower_indexes(session):
    return dict(
        session.execute(
            text("SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'tower'")
        ).all()
    )


def _row_updates(session):
    """(updated, of which HOT) rows of ``tower`` in this transaction so far."""
    return session.execute(
        text(
            "SELECT n_tup_upd, n_tup_hot_upd FROM pg_stat_xact_user_tables WHERE relname = 'tower'"
        )
    ).one()


def _towers_to_relink(session):
    """Towers linked before a boundary change: some move, one leaves, some stay, some new."""
    tower(session, "new inside", at(0.5, 0.5))
    tower(session, "new in the sliver", at(1.97, 0.5))
    add_asset(session, "tower", Point(at(1.5, 0.5)), name="moved", village_code=TULUNGREJO)
    add_asset(session, "tower", Point(at(8, 0.5)), name="gone to sea", village_code=BLABAK)
    add_asset(session, "tower", Point(at(3.5, 0.5)), name="stays", village_code=PESANTREN)
    add_asset(
        session,
        "tower",
        Point(at(4.5, 0.5)),
        name="wrong claim",
        village_code=BLABAK,
        claimed=PESANTREN,
    )


def _links(session):
    return session.execute(
        select(Tower.name, Tower.village_code, Tower.version).order_by(Tower.name)
    ).all()


@pytest.mark.parametrize("backend", ["postgis"], indirect=True)
def test_bulk_relink_keeps_the_index_and_agrees_with_the_incremental_path(session, monkeypatch):
    _towers_to_relink(session)
    indexes = _tower_indexes(session)
    assert "ix_tower_village_code" in indexes
    with session.begin_nested() as incremental:
        expected_report = link_assets(session, ["tower"])
        expected = _links(session)
        assert _tower_indexes(session) == indexes
        incremental.rollback()
    _always_bulk(monkeypatch)
    updated, hot = _row_updates(session)

    report = link_assets(session, ["tower"])

    assert _links(session) == expected
    assert report == expected_report
    assert report.layers["tower"] == LayerCounts(
        total=6, linked=5, changed=4, unlinked=1, mismatched=1
    )
    assert _tower_indexes(session) == indexes  # same name, same definition
    # Every row update was HOT: the village_code index was not there to be updated.
    assert _row_updates(session) == (updated + 4, hot + 4)


@pytest.mark.parametrize("backend", ["postgis"], indirect=True)
def test_bulk_relink_goes_incremental_when_readers_hold_the_layer(session, engine, monkeypatch):
    _towers_to_relink(session)
    indexes = _tower_indexes(session)
    _always_bulk(monkeypatch)
    monkeypatch.setattr(geo_backend, "BULK_LOCK_TIMEOUT", "100ms")
    updated, hot = _row_updates(session)
    with engine.connect() as reader:
        reader.execute(select(func.count()).select_from(Tower))  # holds ACCESS SHARE on tower

        report = link_assets(session, ["tower"])

        reader.rollback()
    assert report.layers["tower"] == LayerCounts(6, 5, 4, 1, 1)
    assert codes(session, Tower) == {
        "new inside": TULUNGREJO,
        "new in the sliver": SUMBEROTO,
        "moved": SUMBEROTO,
        "gone to sea": None,
        "stays": PESANTREN,
        "wrong claim": BLABAK,
    }
    assert _tower_indexes(session) == indexes
    assert _row_updates(session) == (updated + 4, hot)  # the index stayed: no HOT update


@pytest.mark.parametrize("backend", ["postgis"], indirect=True)
def test_bulk_relink_goes_incremental_rather_than_deadlock(session, engine, monkeypatch):
    """Another writer of the layer waits for this transaction while this one would wait for it:
    PostgreSQL cancels the DROP INDEX as a deadlock, and the link goes the incremental way."""
    _towers_to_relink(session)  # this transaction now holds ROW EXCLUSIVE on tower
    _always_bulk(monkeypatch)
    monkeypatch.setattr(geo_backend, "BULK_LOCK_TIMEOUT", "20s")  # the deadlock, not the timeout
    with engine.connect() as writer:
        writer.execute(text("SET deadlock_timeout = '20s'"))  # so that this side is not cancelled
        writer.execute(text("SET lock_timeout = '15s'"))  # it never waits for ever, even here
        writer.execute(text("LOCK TABLE tower IN ROW EXCLUSIVE MODE"))
        waiting = threading.Thread(target=_lock_in_share_mode, args=(writer,))
        waiting.start()
        try:
            _wait_for_a_lock_wait(session)
            updated, hot = _row_updates(session)
            report = link_assets(session, ["tower"])
            after = _row_updates(session)
        finally:
            session.rollback()  # lets the other writer go on
            waiting.join(timeout=30)
        writer.rollback()
    assert not waiting.is_alive()
    assert report.layers["tower"] == LayerCounts(6, 5, 4, 1, 1)
    assert after == (updated + 4, hot)  # the index stayed: no HOT update


def _lock_in_share_mode(conn):
    with contextlib.suppress(OperationalError):
        conn.execute(text("LOCK TABLE tower IN SHARE MODE"))


def _wait_for_a_lock_wait(session, seconds=10.0):
    ungranted = text("SELECT count(*) FROM pg_locks WHERE NOT granted")
    deadline = time.monotonic() + seconds
    while not session.execute(ungranted).scalar_one():
        assert time.monotonic() < deadline, "the other writer never waited"
        time.sleep(0.02)


@pytest.mark.parametrize("backend", ["postgis"], indirect=True)
def test_asset_tables_leave_room_for_updates_in_place(session):
    options = dict(
        session.execute(
            text("SELECT relname, reloptions FROM pg_class WHERE relname = ANY(:names)"),
            {"names": list(linking.LINKED_LAYERS)},
        ).all()
    )
    assert options == {name: ["fillfactor=80"] for name in linking.LINKED_LAYERS}
