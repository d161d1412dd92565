"""Tower siting by lazy greedy maximal coverage, and the fibre connection order, both backends."""

from __future__ import annotations

import numpy as np
import pytest

import geopandas as gpd
from shapely.geometry import Point

from geo.coverage.planning import Candidates, greedy_sites, plan_fibre, plan_towers
from geo.store.db import transaction
from tests.geo.helpers import add_asset
from tests.geo.terrain import (  # the ridge terrain and its four villages
    EAST,
    FARWEST,
    HEIGHT,
    SPLIT,
    WEST,
    WIDTH,
    add_tower,
    build_registry,
    dem,
    wgs84,
    write_raster,
)


@pytest.fixture
def registry(engine):
    return build_registry(engine)


def candidates(cells: list[list[int]], weights: list[float]) -> Candidates:
    points = gpd.GeoDataFrame(geometry=[Point(112, -8)] * len(cells), crs="EPSG:4326")
    return Candidates(points, [np.array(c, dtype=np.int64) for c in cells], np.array(weights))


def test_greedy_takes_the_largest_gain_given_the_sites_already_chosen():
    # cell weights: 1, 1, 1, 5, 4; A reaches cells 0-2, B cells 2-3, C cells 3-4
    sites = candidates([[0, 1, 2], [2, 3], [3, 4]], [1, 1, 1, 5, 4])

    for lazy in (True, False):
        chosen, gains, _ = greedy_sites(sites, 3, lazy=lazy)
        assert chosen == [2, 0, 1][: len(chosen)]
        assert gains == [9.0, 3.0]  # C (9), then A (3); B would add nothing: stop


def test_lazy_greedy_chooses_the_plain_greedy_sites_with_fewer_evaluations():
    rng = np.random.default_rng(5)
    weights = rng.integers(0, 50, 5_000).astype(float)
    cells = [rng.choice(5_000, rng.integers(50, 400), replace=False).tolist() for _ in range(300)]
    sites = candidates(cells, weights.tolist())

    lazy = greedy_sites(sites, 10, lazy=True)
    plain = greedy_sites(sites, 10, lazy=False)

    assert lazy[0] == plain[0] and lazy[1] == plain[1]
    assert len(lazy[0]) == 10
    assert plain[2] == sum(range(291, 301))  # every remaining candidate, every round
    assert lazy[2] < plain[2] / 3


def test_plan_towers_puts_the_first_site_where_the_people_without_signal_are(registry, tmp_path):
    add_tower(registry)  # west of the ridge: EAST is in its shadow
    people = np.zeros((HEIGHT, WIDTH), np.float32)
    people[70:100, 250:300] = 4.0  # 1,500 cells of EAST (x 604,500-606,000), 6,000 people
    people[70:100, 110:130] = 9.0  # in WEST: covered already
    population = write_raster(tmp_path / "people.tif", people, nodata=-1.0)
    sites = gpd.GeoDataFrame(
        {"name": ["in WEST", "east of the ridge", "far west"]},
        geometry=[
            wgs84(Point(p))
            for p in ((601_000, 9_111_500), (605_000, 9_111_500), (598_000, 9_111_500))
        ],
        crs="EPSG:4326",
    )

    plan = plan_towers(registry, dem=dem(tmp_path), population=population, k=3, candidates=sites)

    assert plan["village_code"].tolist() == [EAST]  # the others add nobody: the plan stops
    assert plan["gain"].tolist() == pytest.approx([6_000.0], rel=1e-6)
    assert plan["rank"].tolist() == [1]


def test_plan_fibre_lists_the_near_and_connects_the_rest_by_shortest_links(registry):
    offices = {  # metres in EPSG:32749
        WEST: (601_000, 9_111_500),
        EAST: (605_000, 9_111_500),
        SPLIT: (603_500, 9_110_500),
        FARWEST: (598_000, 9_111_500),
    }
    with transaction(registry) as session:
        for code, xy in offices.items():
            add_asset(
                session,
                "facility",
                wgs84(Point(xy)),
                village_code=code,
                facility_type="village_office",
            )
        add_asset(session, "fibre_node", wgs84(Point(601_000, 9_112_500)), village_code=WEST)

    near, order = plan_fibre(registry, within_km=1.5)

    assert near["code"].tolist() == [WEST]
    assert near["distance_m"].tolist() == pytest.approx([1_000.0], abs=0.5)
    assert order[["code", "connect_to"]].values.tolist() == [
        [SPLIT, WEST],  # 2,693 m to the near WEST beats 3,201 m to the network
        [EAST, SPLIT],
        [FARWEST, WEST],
    ]
    expected = [np.hypot(2_500, 1_000), np.hypot(1_500, 1_000), 3_000.0]
    assert order["link_m"].tolist() == pytest.approx(expected, abs=0.5)
    assert order["cumulative_m"].iloc[-1] == pytest.approx(sum(expected), abs=1.5)


def test_offices_at_one_point_join_each_other_by_a_link_of_nothing():
    from geo.coverage.planning import _prim_from_network  # noqa: PLC0415

    points = np.array([Point(0, 0), Point(1_000, 0), Point(1_000, 0), Point(5_000, 0)])
    order = _prim_from_network(
        points, np.array([10.0, 3_000.0, 3_000.0, 9_000.0]), np.zeros(4, bool)
    )

    assert order == [(0, -1, 10.0), (1, 0, 1_000.0), (2, 1, 0.0), (3, 1, 4_000.0)]
