"""The areas as they were: ``datetime`` chooses each area's version in force then."""

from __future__ import annotations

import pytest

from geo import features
from geo.store.db import transaction
from tests.geo.helpers import TULUNGREJO, add_sample_areas


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
