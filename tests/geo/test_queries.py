import pandas as pd
import pytest
from sqlalchemy import event
from sqlalchemy.orm import Session

import shapely
from shapely.geometry import LineString, MultiLineString, MultiPolygon, Point

from geo import queries
from geo.codes import InvalidCode
from geo.errors import AreaNotFound, UnknownLayer
from geo.store.models import ASSET_LAYERS, Tower
from tests.geo.helpers import (
    BLABAK,
    KEDUNGSALAM,
    PESANTREN,
    SAMPLE_AREAS,
    SUMBEROTO,
    TULUNGREJO,
    add_asset,
    add_sample_areas,
    at,
    cell,
)

AREA_COLUMNS = [
    "code",
    "name",
    "kind",
    "{parent}",
    "area_km2",
    "label_lon",
    "label_lat",
    "source",
    "geometry",
]
ALL_VILLAGES = [TULUNGREJO, SUMBEROTO, KEDUNGSALAM, PESANTREN, BLABAK]


@pytest.fixture
def session(engine):
    """The sample areas, four towers, a destination and a fibre route, already linked."""
    with Session(engine) as session:
        add_sample_areas(session)
        for name, position, village in [
            ("t-tulungrejo", at(0.5, 0.5), TULUNGREJO),
            ("t-tulungrejo-2", at(0.2, 0.2), TULUNGREJO),
            ("t-pesantren", at(3.5, 0.5), PESANTREN),
            ("t-sea", at(8, 0.5), None),
        ]:
            add_asset(
                session,
                "tower",
                Point(position),
                name=name,
                village_code=village,
                operator="Telkomsel",
                height_m=42.0,
            )
        add_asset(
            session,
            "destination",
            Point(at(2.5, 0.5)),
            name="Pantai Ngliyep",
            village_code=KEDUNGSALAM,
            category="pantai",
        )
        add_asset(
            session,
            "fibre_route",
            MultiLineString([[at(0, 0), at(2, 2)]]),
            name="diagonal",
            village_code=TULUNGREJO,
        )
        yield session


def names(frame):
    return list(frame["name"])


def test_villages_current_versions_in_code_order(session):
    frame = queries.villages(session)
    assert list(frame.columns) == [c.format(parent="district_code") for c in AREA_COLUMNS]
    assert list(frame["code"]) == ALL_VILLAGES
    assert frame.crs == "EPSG:4326"
    tulungrejo = frame.iloc[0]
    assert tulungrejo["name"] == "Tulungrejo"  # not the retired version
    assert tulungrejo["district_code"] == "35.07.01"
    assert tulungrejo["kind"] == "desa"
    assert tulungrejo.geometry.equals(MultiPolygon([SAMPLE_AREAS[TULUNGREJO]]))
    assert frame.iloc[3]["kind"] == "kelurahan"


@pytest.mark.parametrize(
    ("filters", "expected"),
    [
        ({"regency": "35.07"}, [TULUNGREJO, SUMBEROTO, KEDUNGSALAM]),
        ({"regency": "3571"}, [PESANTREN, BLABAK]),
        ({"district": "35.07.10"}, [KEDUNGSALAM]),
        ({"district": "35.07.01"}, [TULUNGREJO, SUMBEROTO]),
        ({"regency": "35.07", "district": "35.07.01"}, [TULUNGREJO, SUMBEROTO]),
        ({"regency": "35.71", "district": "35.07.01"}, []),
        ({"regency": "35.08"}, []),
    ],
)
def test_village_filters_are_exact(session, filters, expected):
    assert list(queries.villages(session, **filters)["code"]) == expected


def test_filters_refuse_codes_of_the_wrong_level(session):
    with pytest.raises(InvalidCode, match="not a regency code"):
        queries.villages(session, regency="35.07.01")
    with pytest.raises(InvalidCode):
        queries.villages(session, regency="35.07%")
    with pytest.raises(InvalidCode):
        queries.assets(session, "tower", village="35.07.01")


def test_one_village(session):
    frame = queries.village(session, "3507012001")
    assert list(frame["code"]) == [TULUNGREJO]
    assert list(frame["name"]) == ["Tulungrejo"]
    assert list(frame.columns) == list(queries.villages(session).columns)
    with pytest.raises(AreaNotFound):
        queries.village(session, "35.07.01.2099")


def test_districts_and_regencies(session):
    frame = queries.districts(session, regency="35.07")
    assert list(frame.columns) == [c.format(parent="regency_code") for c in AREA_COLUMNS]
    assert list(frame["code"]) == ["35.07.01", "35.07.10"]
    assert list(frame["regency_code"]) == ["35.07", "35.07"]
    assert list(queries.districts(session)["code"]) == ["35.07.01", "35.07.10", "35.71.01"]
    regencies = queries.regencies(session, province="35")
    assert list(regencies["code"]) == ["35.07", "35.71"]
    assert list(regencies["kind"]) == ["kabupaten", "kota"]
    assert list(regencies["province_code"]) == ["35", "35"]
    assert regencies.iloc[1].geometry.equals(MultiPolygon([SAMPLE_AREAS["35.71"]]))
    assert list(queries.regencies(session, province="36")["code"]) == []


def test_assets_have_every_column_of_the_layer(session):
    frame = queries.assets(session, "tower")
    own = [c.name for c in Tower.__table__.columns if c.name != "geom"]
    assert list(frame.columns) == [*own, "geometry"]
    assert names(frame) == ["t-tulungrejo", "t-tulungrejo-2", "t-pesantren", "t-sea"]
    assert list(frame["operator"]) == ["Telkomsel"] * 4
    assert frame.iloc[0].geometry.equals(Point(at(0.5, 0.5)))
    assert frame.crs == "EPSG:4326"


@pytest.mark.parametrize(
    ("filters", "expected"),
    [
        ({"village": TULUNGREJO}, ["t-tulungrejo", "t-tulungrejo-2"]),
        ({"district": "35.07.01"}, ["t-tulungrejo", "t-tulungrejo-2"]),
        ({"regency": "35.71"}, ["t-pesantren"]),
        ({"regency": "35.07", "village": PESANTREN}, []),
    ],
)
def test_asset_area_filters(session, filters, expected):
    assert names(queries.assets(session, "tower", **filters)) == expected


@pytest.mark.parametrize(
    ("box", "expected"),
    [
        ((*at(0.4, 0.4), *at(4, 0.6)), ["t-tulungrejo", "t-pesantren"]),
        ((*at(0.2, 0.2), *at(0.3, 0.3)), ["t-tulungrejo-2"]),  # the point is a corner
        ((*at(0.5, 0.1), *at(3.5, 0.5)), ["t-tulungrejo", "t-pesantren"]),  # points on edges
        ((*at(0.2, 0.2), *at(0.2, 0.2)), ["t-tulungrejo-2"]),  # a box shrunk to the point
        ((*at(0.2, 0.2), *at(0.2, 1)), ["t-tulungrejo-2"]),  # a box shrunk to a line
        ((*at(-5, -5), *at(-4, -4)), []),
    ],
)
def test_bbox_is_exact(session, box, expected):
    assert names(queries.assets(session, "tower", bbox=box)) == expected


def test_bbox_on_lines_checks_the_geometry_not_only_its_box(session):
    crossing = (*at(0.5, 0.8), *at(1.5, 1.2))  # the diagonal passes through, no vertex inside
    beside = (*at(1.5, 0), *at(2, 0.4))  # inside the diagonal's box, away from the line
    assert names(queries.assets(session, "fibre_route", bbox=crossing)) == ["diagonal"]
    assert names(queries.assets(session, "fibre_route", bbox=beside)) == []
    with pytest.raises(ValueError, match="bbox"):
        queries.assets(session, "tower", bbox=(113, -7, 112, -8))


def test_geopackage_bbox_goes_through_the_rtree(session, backend):
    statements = []
    event.listen(
        session.get_bind(), "before_cursor_execute", lambda *args: statements.append(args[2])
    )
    queries.assets(session, "tower", bbox=(*at(0, 0), *at(1, 1)))
    uses_rtree = any("rtree_tower_geom" in s for s in statements)
    assert uses_rtree is (backend == "gpkg")


def test_counts_per_village(session):
    frame = queries.counts_per_village(session)
    assert list(frame.columns) == ["code", "name", "district_code", *ASSET_LAYERS]
    assert list(frame["code"]) == ALL_VILLAGES
    assert list(frame["tower"]) == [2, 0, 0, 1, 0]
    assert list(frame["destination"]) == [0, 0, 1, 0, 0]
    assert list(frame["fibre_route"]) == [1, 0, 0, 0, 0]
    assert list(frame["hotspot"]) == [0, 0, 0, 0, 0]
    assert all(frame[layer].dtype == "int64" for layer in ASSET_LAYERS)


def test_counts_per_village_filtered(session):
    frame = queries.counts_per_village(session, regency="35.71")
    expected = pd.DataFrame({"code": [PESANTREN, BLABAK], "tower": [1, 0]})
    pd.testing.assert_frame_equal(frame[["code", "tower"]], expected, check_dtype=False)
    assert list(queries.counts_per_village(session, district="35.07.10")["destination"]) == [1]


def test_counts_run_one_query_per_layer(session):
    statements = []
    event.listen(
        session.get_bind(), "before_cursor_execute", lambda *args: statements.append(args[2])
    )
    queries.counts_per_village(session)
    assert len(statements) == 1 + len(ASSET_LAYERS)


def test_villages_without(session):
    assert list(queries.villages_without(session, "tower")["code"]) == [
        SUMBEROTO,
        KEDUNGSALAM,
        BLABAK,
    ]
    assert list(queries.villages_without(session, "destination", regency="35.07")["code"]) == [
        TULUNGREJO,
        SUMBEROTO,
    ]
    without_products = queries.villages_without(session, "product_site", district="35.71.01")
    assert list(without_products["code"]) == [PESANTREN, BLABAK]
    assert list(without_products.columns) == list(queries.villages(session).columns)


def test_unknown_layers_are_refused(session):
    with pytest.raises(UnknownLayer):
        queries.assets(session, "towers")
    with pytest.raises(UnknownLayer):
        queries.villages_without(session, "roads")


def test_empty_registry_gives_empty_frames(engine):
    with Session(engine) as session:
        frame = queries.villages(session)
        assert list(frame["code"]) == []
        assert frame.crs == "EPSG:4326"
        assert names(queries.assets(session, "tower", bbox=(112, -8, 113, -7))) == []
        assert len(queries.counts_per_village(session)) == 0


def test_geometry_roundtrip_is_exact(session):
    line = queries.assets(session, "fibre_route").iloc[0].geometry
    assert shapely.equals(line, MultiLineString([LineString([at(0, 0), at(2, 2)])]))
    assert (
        queries.villages(session, district="35.07.10")
        .iloc[0]
        .geometry.equals(MultiPolygon([cell(1.95, 0, 1.05)]))
    )
