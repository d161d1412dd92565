"""Asset layers, their items with area and bbox filters, and villages lacking a layer."""

from __future__ import annotations

import pytest

from shapely.geometry import box, shape

from api.schemas import AssetCollection, LayerList, VillageCollection
from geo import queries
from geo.store.db import transaction
from geo.store.models import ASSET_LAYERS

MALANG, DAMPIT, KELURAHAN_DAMPIT = "35.07", "35.07.05", "35.07.05.1007"
GEOJSON = "application/geo+json"
AROUND_DAMPIT = (112.70, -8.35, 112.80, -8.15)


def test_layers(client):
    response = client.get("/layers")
    assert response.status_code == 200
    layers = LayerList.model_validate(response.json()).layers
    assert [layer.name for layer in layers] == list(ASSET_LAYERS)
    geometry_types = {layer.name: layer.geometry_type for layer in layers}
    assert geometry_types["fibre_route"] == "MULTILINESTRING"
    assert geometry_types["tower"] == "POINT"
    for layer in layers:
        (items,) = layer.links
        assert items.href == f"http://testserver/layers/{layer.name}/items"
        assert items.type == GEOJSON


@pytest.mark.parametrize("layer", list(ASSET_LAYERS))
def test_items_of_every_layer(client, registry, layer):
    response = client.get(f"/layers/{layer}/items")
    assert response.status_code == 200
    assert response.headers["content-type"] == GEOJSON
    items = AssetCollection.model_validate(response.json())
    with transaction(registry) as session:
        expected = queries.assets(session, layer)
    assert [f.id for f in items.features] == list(expected["id"])
    if items.features:
        first = items.features[0]
        assert shape(first.geometry.model_dump()).equals_exact(expected.geometry.iloc[0], 1e-7)
        assert set(first.properties.model_dump()) == set(expected.columns) - {"geometry"}


def test_destinations_are_the_real_dampit_file(client):
    items = AssetCollection.model_validate(client.get("/layers/destination/items").json())
    assert len(items.features) == 9
    assert {f.properties.source for f in items.features} == {
        "burhanfsalam/wisatadampit2021 (Apache-2.0)"
    }
    assert {f.properties.model_extra["category"] for f in items.features} == {"wisata"}


def test_items_filtered_by_area(client):
    def ids(**params):
        response = client.get("/layers/destination/items", params=params)
        assert response.status_code == 200, response.text
        return [f["properties"]["name"] for f in response.json()["features"]]

    assert sorted(ids(village=KELURAHAN_DAMPIT)) == ["Pemandian Riung Gunung", "Tubing X-Tempur"]
    assert len(ids(district=DAMPIT)) == 9
    assert len(ids(regency=MALANG)) == 9
    assert ids(regency="35.79") == []  # well formed, not in this registry: an empty collection


def test_items_in_a_bbox(client, registry):
    text = ",".join(str(v) for v in AROUND_DAMPIT)
    response = client.get("/layers/tower/items", params={"bbox": text})
    assert response.status_code == 200
    items = AssetCollection.model_validate(response.json())
    with transaction(registry) as session:
        expected = queries.assets(session, "tower", bbox=AROUND_DAMPIT)
        everything = queries.assets(session, "tower")
    assert [f.id for f in items.features] == list(expected["id"])
    assert 0 < len(items.features) < len(everything)
    area = box(*AROUND_DAMPIT)
    for feature in items.features:
        assert shape(feature.geometry.model_dump()).intersects(area)


def test_bbox_with_spaces_and_integers(client):
    response = client.get("/layers/tower/items", params={"bbox": " 112, -9 ,113,-8"})
    assert response.status_code == 200


@pytest.mark.parametrize(
    "bbox, reason",
    [
        ("1,2,3", "4 numbers"),
        ("1,2,3,4,5,6", "4 numbers"),
        ("", "4 numbers"),
        ("a,b,c,d", "numbers"),
        ("112,-9,nan,-8", "finite"),
        ("112,-9,inf,-8", "finite"),
        ("113,-9,112,-8", "min_lon < max_lon"),
        ("112,-9,112,-8", "min_lon < max_lon"),
        ("112,-8,113,-9", "min_lat < max_lat"),
        ("-181,-9,113,-8", "-180 <= min_lon"),
        ("112,-9,181,-8", "max_lon <= 180"),
        ("112,-91,113,-8", "-90 <= min_lat"),
        ("112,-9,113,90.5", "max_lat <= 90"),
    ],
)
def test_bad_bbox_is_a_400_problem(client, bbox, reason):
    response = client.get("/layers/tower/items", params={"bbox": bbox})
    assert response.status_code == 400
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert problem["code"] == "invalid_bbox"
    assert reason in problem["detail"]


def test_unknown_layer_is_a_404_problem(client):
    for path in ("/layers/towers/items", "/villages-without/towers"):
        response = client.get(path)
        assert response.status_code == 404, path
        assert response.headers["content-type"] == "application/problem+json"
        assert response.json()["code"] == "unknown_layer"
        assert "tower" in response.json()["detail"]  # says which layers there are


def test_villages_without_a_destination(client, registry):
    response = client.get("/villages-without/destination", params={"regency": MALANG})
    assert response.status_code == 200
    assert response.headers["content-type"] == GEOJSON
    villages = VillageCollection.model_validate(response.json())
    assert len(villages.features) == 386
    assert KELURAHAN_DAMPIT not in {f.id for f in villages.features}
    with transaction(registry) as session:
        expected = queries.villages_without(session, "product_site", regency=MALANG)
    products = client.get("/villages-without/product_site", params={"regency": MALANG}).json()
    assert [f["id"] for f in products["features"]] == list(expected["code"])
    in_dampit = client.get("/villages-without/destination", params={"district": DAMPIT}).json()
    assert all(f["properties"]["district_code"] == DAMPIT for f in in_dampit["features"])
