"""Many new points are linked as they are written; the result is what link_assets decides."""

from __future__ import annotations

import threading

import numpy as np
import pytest
from sqlalchemy import event, select
from sqlalchemy.orm import Session

import geopandas as gpd
import shapely
from shapely.geometry import Point

from geo import linking
from geo.ingest import assets
from geo.ingest.assets import import_assets
from geo.linking import link_assets, point_villages
from geo.store.db import transaction
from geo.store.models import Tower
from tests.geo.helpers import (
    BLABAK,
    KEDUNGSALAM,
    SUMBEROTO,
    TULUNGREJO,
    add_asset,
    add_sample_areas,
    at,
)

# On a shared border, in the Sumberoto/Kedungsalam sliver, inside, outside every village,
# in retired Tulungrejo's cell (no current village), and on the outer corner of Blabak.
POINTS = {
    "border": (at(1.0, 0.5), TULUNGREJO),
    "sliver": (at(1.97, 0.5), SUMBEROTO),
    "inside": (at(2.5, 0.5), KEDUNGSALAM),
    "outside": (at(2.5, 3.0), None),
    "retired": (at(6.5, 0.5), None),
    "corner": (at(5.0, 1.0), BLABAK),
}


@pytest.fixture
def villages(engine):
    with transaction(engine) as session:
        add_sample_areas(session)
    return engine


def test_point_villages_decide_as_the_database_join_does(villages):
    points = np.array([Point(xy) for xy, _ in POINTS.values()], dtype=object)

    with transaction(villages) as session:
        codes = point_villages(session, points)

    assert dict(zip(POINTS, codes, strict=True)) == {k: c for k, (_, c) in POINTS.items()}


def test_point_villages_of_nothing_and_of_points_far_away(villages):
    with transaction(villages) as session:
        assert point_villages(session, np.array([], dtype=object)) == []
        assert point_villages(session, np.array([Point(130.0, -3.0)], dtype=object)) == [None]


def towers(n: int) -> gpd.GeoDataFrame:
    """``n`` towers cycling through :data:`POINTS`, one claiming another village."""
    names = list(POINTS)
    rows = [names[i % len(names)] for i in range(n)]
    frame = gpd.GeoDataFrame(
        {"id": [f"t{i}" for i in range(n)], "name": rows},
        geometry=[Point(POINTS[r][0]) for r in rows],
        crs=4326,
    )
    frame["kode_desa"] = [BLABAK if i == 2 else None for i in range(n)]
    return frame


def stored_links(engine) -> dict[str, tuple[str | None, int]]:
    with transaction(engine) as session:
        rows = session.execute(select(Tower.source_id, Tower.village_code, Tower.version))
        return {sid: (code, version) for sid, code, version in rows}


@pytest.mark.parametrize("threshold", [1, 10**9], ids=["linked-on-insert", "linked-after"])
def test_a_first_load_links_the_same_either_way(villages, monkeypatch, threshold):
    monkeypatch.setattr(assets, "LINK_ON_INSERT_MIN_ROWS", threshold)
    updates: list[str] = []

    def keep(_conn, _cursor, statement, *_args) -> None:  # noqa: ANN001
        if statement.lstrip().upper().startswith("UPDATE TOWER"):
            updates.append(statement)

    event.listen(villages, "before_cursor_execute", keep)
    try:
        report = import_assets(villages, "tower", towers(12))
    finally:
        event.remove(villages, "before_cursor_execute", keep)

    links = stored_links(villages)
    assert links == {
        f"t{i}": (POINTS[list(POINTS)[i % 6]][1], 1) for i in range(12)
    }  # version 1: the link is part of the import
    assert report.link["layers"]["tower"] == {
        "total": 12,
        "linked": 8,
        "changed": 8,
        "unlinked": 4,
        "mismatched": 1,
    }
    assert [(o["name"], o["layer"]) for o in report.link["outside"]] == [
        ("outside", "tower"),
        ("retired", "tower"),
    ] * 2
    assert [(m["name"], m["claimed_village_code"]) for m in report.link["mismatched"]] == [
        ("inside", BLABAK)
    ]
    # Linked on insert, nothing is rewritten afterwards; linked after, the join writes back.
    assert (len(updates) == 0) is (threshold == 1)


def test_points_added_to_a_layer_are_linked_on_insert_and_checked_by_the_join(
    villages, monkeypatch
):
    monkeypatch.setattr(assets, "LINK_ON_INSERT_MIN_ROWS", 1)
    import_assets(villages, "tower", towers(6), source_name="first")
    more = towers(6)
    more["geometry"] = shapely.points(np.array([POINTS["inside"][0]] * 6))

    report = import_assets(villages, "tower", more, source_name="second")

    assert report.link["layers"]["tower"]["linked"] == 6
    assert report.link["layers"]["tower"]["changed"] == 6  # linked on insert, counted alike
    with transaction(villages) as session:
        second = session.execute(
            select(Tower.village_code).where(Tower.source == "second")
        ).scalars()
        assert set(second) == {KEDUNGSALAM}
        again = link_assets(session, ["tower"])
    assert again.layers["tower"].changed == 0


def test_point_villages_reads_the_villages_in_batches(villages, monkeypatch):
    monkeypatch.setattr(linking, "POINT_VILLAGES_BATCH", 1)
    points = np.array([Point(xy) for xy, _ in POINTS.values()], dtype=object)

    with transaction(villages) as session:
        codes = point_villages(session, points)

    assert codes == [code for _, code in POINTS.values()]


@pytest.mark.parametrize("backend", ["postgis"], indirect=True)
def test_a_first_load_waits_for_a_writer_it_did_not_see_and_reports_only_its_rows(villages):
    writer = Session(bind=villages.connect())
    add_asset(writer, "tower", Point(POINTS["inside"][0]))  # another import, not committed yet
    reports = []
    load = threading.Thread(
        target=lambda: reports.append(import_assets(villages, "tower", towers(6)))
    )
    load.start()
    load.join(timeout=1.0)
    assert load.is_alive()  # waits for the other writer instead of taking the layer as empty
    writer.commit()
    load.join(timeout=30)
    writer.close()

    [report] = reports
    assert report.inserted == 6
    assert report.link["layers"]["tower"]["total"] == 6  # its own rows, not the other's
    assert len(stored_links(villages)) == 7
