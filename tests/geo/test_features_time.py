"""The areas as they were: ``datetime`` chooses each area's version in force then."""

from __future__ import annotations

import datetime as dt

import pytest

from shapely import MultiPolygon

from geo import features
from geo.store.db import transaction
from tests.geo.helpers import TULUNGREJO, add_asset, add_sample_areas, cell


@pytest.mark.parametrize(
    ("period", "name"),
    [
        (None, "Tulungrejo"),
        ("2019-06-01", "Tulungrejo (old)"),
        ("2020-01-01", "Tulungrejo"),  # the new version's first day
        ("2019-12-31", "Tulungrejo (old)"),  # the old one's last
        ("../2019-12-31", "Tulungrejo (old)"),
        ("2019-06-01/2021-01-01", "Tulungrejo"),  # both were in force: the latest
        ("2021-01-01/..", "Tulungrejo"),
    ],
)
def test_each_area_once_in_the_version_in_force(engine, period, name):
    village = features.COLLECTIONS["village"]
    with transaction(engine) as session:
        add_sample_areas(session)
    with transaction(engine) as session:
        page = features.items(
            session,
            village,
            period=None if period is None else features.Period.parse(period),
            limit=100,
        )

    codes = list(page.features["code"])
    assert (len(codes), page.matched) == (5, 5)
    assert len(set(codes)) == 5
    assert page.features.set_index("code").loc[TULUNGREJO, "name"] == name


def test_before_any_version_there_is_no_area(engine):
    with transaction(engine) as session:
        add_sample_areas(session)
    with transaction(engine) as session:
        page = features.items(
            session, features.COLLECTIONS["village"], period=features.Period.parse("1969-12-31")
        )
    assert (page.matched, len(page.features)) == (0, 0)


def test_a_speed_tile_stands_for_its_quarter(engine):
    tiles = features.COLLECTIONS["speed_tile"]
    with transaction(engine) as session:
        add_sample_areas(session)
        for first in (dt.date(2024, 1, 1), dt.date(2024, 4, 1)):
            add_asset(
                session, "speed_tile", MultiPolygon([cell(0.2, 0.2, 0.1, 0.1)]), period_start=first,
                network="mobile", tests=3,
            )  # fmt: skip

    def ids(text):
        with transaction(engine) as session:
            page = features.items(session, tiles, period=features.Period.parse(text), limit=10)
        return [str(d) for d in page.features["period_start"]]

    assert ids("2024-05-15") == ["2024-04-01"]  # inside the second quarter
    assert ids("2024-03-31/2024-04-01") == ["2024-01-01", "2024-04-01"]
    assert ids("2024-07-01/..") == []
    with transaction(engine) as session:
        assert features.time_span(session, tiles) == (dt.date(2024, 1, 1), dt.date(2024, 6, 30))


def test_a_time_of_day_is_on_the_day_where_it_was_given():
    assert features.Period.parse("2024-05-01T06:00:00+07:00").start == dt.date(2024, 5, 1)
    assert features.Period.parse("2024-04-30T23:00:00Z").start == dt.date(2024, 4, 30)
