"""Parameters carrying SQL-injection payloads are refused (400/404) and change nothing."""

from __future__ import annotations

from urllib.parse import quote

import pytest

from geo.summary import registry_summary

PAYLOADS = {
    "quote": "35.07' OR '1'='1",
    "stacked": "35.07; DROP TABLE village; --",
    "union": "35.07.05.1007' UNION SELECT code, name FROM area_code --",
    "wildcard": "35.07%",
    "underscore": "35.__",
    "comment": "35.07/**/OR/**/1=1",
}
BBOX_PAYLOADS = [
    "112,-9,113,-8); DROP TABLE tower; --",
    "112,-9,113,-8 OR 1=1",
    "ST_MakeEnvelope(0,0,1,1),-9,113,-8",
    "0x70,-9,113,-8",
]


@pytest.fixture
def unchanged(registry):
    """Fail the test if the registry's counts differ after it from before it."""
    before = registry_summary(registry)
    yield
    assert registry_summary(registry) == before


@pytest.mark.usefixtures("unchanged")
@pytest.mark.parametrize("payload", PAYLOADS.values(), ids=PAYLOADS.keys())
def test_area_filters(client, payload):
    for path, name in [
        ("/summary", "regency"),
        ("/villages", "regency"),
        ("/villages", "district"),
        ("/districts", "regency"),
        ("/regencies", "province"),
        ("/layers/tower/items", "village"),
        ("/layers/tower/items", "regency"),
        ("/villages-without/destination", "regency"),
    ]:
        response = client.get(path, params={name: payload})
        assert response.status_code == 400, (path, name, response.text)
        assert response.headers["content-type"] == "application/problem+json"
        assert response.json()["code"] in ("invalid_code", "invalid_request")


@pytest.mark.usefixtures("unchanged")
@pytest.mark.parametrize("payload", PAYLOADS.values(), ids=PAYLOADS.keys())
def test_village_code(client, payload):
    response = client.get(f"/villages/{quote(payload, safe='')}")
    assert response.status_code in (400, 404), response.text
    assert response.headers["content-type"] == "application/problem+json"


@pytest.mark.usefixtures("unchanged")
@pytest.mark.parametrize("bbox", BBOX_PAYLOADS)
def test_bbox(client, bbox):
    response = client.get("/layers/tower/items", params={"bbox": bbox})
    assert response.status_code == 400
    assert response.json()["code"] == "invalid_bbox"


@pytest.mark.usefixtures("unchanged")
@pytest.mark.parametrize(
    "layer",
    ["tower; DROP TABLE tower", "tower' OR '1'='1", "village", "area_code", "rtree_tower_geom"],
)
def test_layer_name(client, layer):
    for path in (
        f"/layers/{quote(layer, safe='')}/items",
        f"/villages-without/{quote(layer, safe='')}",
    ):
        response = client.get(path)
        assert response.status_code == 404, path
        assert response.json()["code"] == "unknown_layer"
