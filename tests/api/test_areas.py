"""Landing page, health, summary, and the areas: regencies, districts, villages, one village."""

from __future__ import annotations

import pytest

from shapely.geometry import shape

from api.schemas import (
    DistrictCollection,
    Health,
    LandingPage,
    RegencyCollection,
    Summary,
    VillageCollection,
    VillageDetail,
)
from geo import queries
from geo.store.db import transaction
from geo.store.models import ASSET_LAYERS

MALANG, DAMPIT, KELURAHAN_DAMPIT = "35.07", "35.07.05", "35.07.05.1007"
GEOJSON = "application/geo+json"
JSON = "application/json"


def test_landing_page_links_every_endpoint(client):
    response = client.get("/")
    assert response.status_code == 200
    assert response.headers["content-type"] == JSON
    page = LandingPage.model_validate(response.json())
    assert page.title == "Petadesa"
    hrefs = {link.href.removeprefix("http://testserver") for link in page.links}
    assert hrefs == {
        "/",
        "/openapi.json",
        "/docs",
        "/conformance",
        "/collections",
        "/health",
        "/summary",
        "/regencies",
        "/districts",
        "/villages",
        "/villages/{code}",
        "/layers",
        "/layers/{layer}/items",
        "/villages-without/{layer}",
        "/maps/registry?regency=35.07",
    }
    rels = {link.rel for link in page.links}
    assert {"self", "service-desc", "service-doc"} <= rels
    for link in page.links:
        if "{" not in link.href and link.rel != "service-doc":
            assert client.get(link.href).status_code == 200, link.href


def test_health(client, backend_name):
    response = client.get("/health")
    assert response.status_code == 200
    assert Health.model_validate(response.json()) == Health(status="ok", backend=backend_name)


def test_summary_of_malang(client):
    response = client.get("/summary", params={"regency": MALANG})
    assert response.status_code == 200
    assert response.headers["content-type"] == JSON
    summary = Summary.model_validate(response.json())
    assert summary.regency == MALANG
    assert summary.areas["village"].count == 390
    assert summary.areas["district"].count == 33
    assert summary.villages_by_kind == {"desa": 378, "kelurahan": 12}
    assert summary.layers["destination"].count == 9  # the real Dampit file
    assert summary.villages_without["destination"] == 386
    assert "database" not in response.json()  # where the database lives is not published


def test_summary_accepts_the_undotted_code(client):
    dotted = client.get("/summary", params={"regency": MALANG}).json()
    assert client.get("/summary", params={"regency": "3507"}).json() == dotted


def test_regencies(client):
    response = client.get("/regencies")
    assert response.status_code == 200
    assert response.headers["content-type"] == GEOJSON
    regencies = RegencyCollection.model_validate(response.json())
    assert [(f.id, f.properties.name, f.properties.province_code) for f in regencies.features] == [
        (MALANG, "Kabupaten Malang", "35")
    ]
    assert client.get("/regencies", params={"province": "35"}).json() == response.json()


def test_districts_of_malang(client):
    response = client.get("/districts", params={"regency": MALANG})
    assert response.status_code == 200
    assert response.headers["content-type"] == GEOJSON
    districts = DistrictCollection.model_validate(response.json())
    assert len(districts.features) == 33
    assert {f.properties.regency_code for f in districts.features} == {MALANG}
    assert {f.properties.kind for f in districts.features} == {"kecamatan"}
    dampit = next(f for f in districts.features if f.id == DAMPIT)
    assert dampit.properties.name.lower() == "dampit"


def test_villages_of_malang(client, registry):
    response = client.get("/villages", params={"regency": MALANG})
    assert response.status_code == 200
    assert response.headers["content-type"] == GEOJSON
    villages = VillageCollection.model_validate(response.json())
    assert len(villages.features) == 390
    assert list(response.json()["features"][0]["properties"]) == [
        "code",
        "name",
        "kind",
        "district_code",
        "area_km2",
    ]
    kinds = [f.properties.kind for f in villages.features]
    assert (kinds.count("desa"), kinds.count("kelurahan")) == (378, 12)
    codes = [f.id for f in villages.features]
    assert codes == sorted(codes)
    with transaction(registry) as session:
        expected = queries.villages(session, regency=MALANG).set_index("code")
    for feature in villages.features[::39]:
        served = shape(feature.geometry.model_dump())  # to 7 decimals: 1 cm
        assert served.equals_exact(expected.geometry[feature.id], 1e-7)
        assert feature.properties.area_km2 == pytest.approx(expected.area_km2[feature.id])


def test_villages_of_one_district(client):
    response = client.get("/villages", params={"regency": MALANG, "district": DAMPIT})
    villages = VillageCollection.model_validate(response.json())
    assert {f.properties.district_code for f in villages.features} == {DAMPIT}
    assert KELURAHAN_DAMPIT in {f.id for f in villages.features}
    everywhere = client.get("/villages", params={"district": "350705"}).json()
    assert everywhere == response.json()


def test_kelurahan_dampit_with_its_assets(client, registry):
    response = client.get(f"/villages/{KELURAHAN_DAMPIT}")
    assert response.status_code == 200
    assert response.headers["content-type"] == GEOJSON
    village = VillageDetail.model_validate(response.json())
    assert village.id == KELURAHAN_DAMPIT
    assert (village.properties.name, village.properties.kind) == ("Dampit", "kelurahan")
    assert list(village.assets) == list(ASSET_LAYERS)
    destinations = village.assets["destination"]
    assert sorted(d.properties.name for d in destinations) == [
        "Pemandian Riung Gunung",
        "Tubing X-Tempur",
    ]
    assert {d.properties.village_code for d in destinations} == {KELURAHAN_DAMPIT}
    with transaction(registry) as session:
        boundary = queries.villages(session, district=DAMPIT).set_index("code").geometry
        for layer in ASSET_LAYERS:
            expected = queries.assets(session, layer, village=KELURAHAN_DAMPIT)
            assert [a.id for a in village.assets[layer]] == list(expected["id"]), layer
    assert shape(village.geometry.model_dump()).equals_exact(boundary[KELURAHAN_DAMPIT], 1e-7)
    for destination in destinations:
        assert shape(destination.geometry.model_dump()).intersects(boundary[KELURAHAN_DAMPIT])


def test_village_by_undotted_code(client):
    dotted = client.get(f"/villages/{KELURAHAN_DAMPIT}").json()
    assert client.get("/villages/3507051007").json() == dotted
