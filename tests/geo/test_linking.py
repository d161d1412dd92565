import datetime as dt
import json

import pytest
from sqlalchemy import event, func, select
from sqlalchemy.orm import Session

from geoalchemy2.shape import from_shape
from shapely.geometry import LineString, MultiLineString, MultiPolygon, Point

from geo.errors import UnknownLayer
from geo.linking import LayerCounts, Mismatch, OutsideAsset, link_assets
from geo.models import FibreRoute, Tower, Village
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
    return add_asset(session, "fibre_route", MultiLineString([LineString(p) for p in parts]),
                     name=name)


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
        "tower", "fibre_route", "fibre_node", "hotspot", "destination", "product_site",
        "facility",
    }
    assert report.layers["hotspot"] == LayerCounts()
    as_json = json.loads(json.dumps(report.to_dict()))
    assert as_json["mismatched"][0] == {
        "layer": "tower", "id": wrong.id, "name": "wrong",
        "claimed_village_code": BLABAK, "village_code": PESANTREN,
    }
    assert as_json["layers"]["tower"] == {
        "total": 3, "linked": 2, "changed": 2, "unlinked": 1, "mismatched": 2,
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
    current = session.execute(
        select(Village).where(Village.valid_to.is_(None)).order_by(Village.code)
    ).scalars().all()
    by_code = {v.code: v for v in current}
    by_code[TULUNGREJO].valid_to = dt.date(2024, 1, 1)
    by_code[SUMBEROTO].boundary = from_shape(MultiPolygon([cell(1.5, 0, 0.5)]), srid=4326)
    by_code[BLABAK].valid_to = dt.date(2024, 1, 1)
    session.flush()
    add_area(session, TULUNGREJO, cell(0, 0, 1.5), valid_from=dt.date(2024, 1, 1))

    report = link_assets(session, ["tower", "fibre_route"])

    assert codes(session, Tower) == {
        "west sumberoto": TULUNGREJO, "blabak": None, "pesantren": PESANTREN,
    }
    assert codes(session, FibreRoute) == {"fibre": TULUNGREJO}  # 0.9 vs 0.4 cells now
    assert report.layers["tower"] == LayerCounts(3, 2, 2, 1, 0)
    assert report.layers["fibre_route"] == LayerCounts(1, 1, 1, 0, 0)
    after = dict(session.execute(select(Tower.name, Tower.version)).all())
    assert after == {**versions, "west sumberoto": versions["west sumberoto"] + 1,
                     "blabak": versions["blabak"] + 1}


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
def test_postgis_settings_are_put_back(session):
    settings = select(*(func.current_setting(n) for n in ("jit", "work_mem", "enable_hashjoin")))
    before = session.execute(settings).one()
    link_assets(session, ["tower"])
    assert session.execute(settings).one() == before


def test_the_join_goes_through_the_spatial_index(session, backend):
    tower(session, "inside", at(0.5, 0.5))
    statements = []
    event.listen(session.get_bind(), "before_cursor_execute",
                 lambda *args: statements.append(args[2]))
    link_assets(session, ["tower"])
    [join] = [s for s in statements if "ST_Intersects" in s]
    # SQLite never uses an R*Tree by itself: the prefilter must be in the query.
    assert ("rtree_village_boundary" in join) is (backend == "gpkg")
