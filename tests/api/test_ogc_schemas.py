"""Every answer of the OGC API against the schemas of OGC API - Features Part 1 (Core).

The schemas below say, in JSON Schema, what the standard's OpenAPI schemas require of each
document (landingPage, confClasses, collections, collection, extent, featureCollectionGeoJSON,
featureGeoJSON, link, exception), written for these tests; GeoJSON geometries are checked by
geojson-pydantic's models. Each collection is read on both backends: its description, a page
of its items and one of its features.
"""

from __future__ import annotations

from typing import Any

import jsonschema
import pytest
from geojson_pydantic import Feature as GeoJSONFeature
from pydantic import TypeAdapter

from geo import features

DATE_TIME = r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$"
LINK = {
    "type": "object",
    "required": ["href", "rel"],
    "properties": {
        "href": {"type": "string", "minLength": 1},
        "rel": {"type": "string", "minLength": 1},
        "type": {"type": "string"},
        "hreflang": {"type": "string"},
        "title": {"type": "string"},
        "length": {"type": "integer"},
    },
}
LINKS = {"type": "array", "items": LINK}
LANDING_PAGE = {
    "type": "object",
    "required": ["links"],
    "properties": {"title": {"type": "string"}, "description": {"type": "string"}, "links": LINKS},
}
CONF_CLASSES = {
    "type": "object",
    "required": ["conformsTo"],
    "properties": {"conformsTo": {"type": "array", "items": {"type": "string"}}},
}
EXTENT = {
    "type": "object",
    "properties": {
        "spatial": {
            "type": "object",
            "properties": {
                "bbox": {
                    "type": "array",
                    "minItems": 1,
                    "items": {
                        "type": "array",
                        "items": {"type": "number"},
                        "oneOf": [
                            {"minItems": 4, "maxItems": 4},
                            {"minItems": 6, "maxItems": 6},
                        ],
                    },
                },
                "crs": {
                    "enum": [
                        "http://www.opengis.net/def/crs/OGC/1.3/CRS84",
                        "http://www.opengis.net/def/crs/OGC/0/CRS84h",
                    ]
                },
            },
        },
        "temporal": {
            "type": "object",
            "properties": {
                "interval": {
                    "type": "array",
                    "minItems": 1,
                    "items": {
                        "type": "array",
                        "minItems": 2,
                        "maxItems": 2,
                        "items": {"type": ["string", "null"], "pattern": DATE_TIME},
                    },
                },
                "trs": {"enum": ["http://www.opengis.net/def/uom/ISO-8601/0/Gregorian"]},
            },
        },
    },
}
COLLECTION = {
    "type": "object",
    "required": ["id", "links"],
    "properties": {
        "id": {"type": "string"},
        "title": {"type": "string"},
        "description": {"type": "string"},
        "links": LINKS,
        "extent": EXTENT,
        "crs": {"type": "array", "items": {"type": "string"}},
        "itemType": {"type": "string"},
    },
}
COLLECTIONS = {
    "type": "object",
    "required": ["links", "collections"],
    "properties": {"links": LINKS, "collections": {"type": "array", "items": COLLECTION}},
}
FEATURE = {
    "type": "object",
    "required": ["type", "geometry", "properties"],
    "properties": {
        "type": {"const": "Feature"},
        "geometry": {"type": ["object", "null"]},
        "properties": {"type": ["object", "null"]},
        "id": {"type": ["string", "integer"]},
        "links": LINKS,
    },
}
FEATURE_COLLECTION = {
    "type": "object",
    "required": ["type", "features"],
    "properties": {
        "type": {"const": "FeatureCollection"},
        "features": {"type": "array", "items": FEATURE},
        "links": LINKS,
        "timeStamp": {"type": "string", "pattern": DATE_TIME},
        "numberMatched": {"type": "integer", "minimum": 0},
        "numberReturned": {"type": "integer", "minimum": 0},
    },
}
EXCEPTION = {
    "type": "object",
    "required": ["code"],
    "properties": {"code": {"type": "string"}, "description": {"type": "string"}},
}
GEOJSON_FEATURE = TypeAdapter(GeoJSONFeature)


def valid(document: Any, schema: dict[str, Any]) -> Any:
    jsonschema.Draft202012Validator(schema).validate(document)
    return document


def test_the_landing_page_conformance_and_collections(client):
    valid(client.get("/").json(), LANDING_PAGE)
    valid(client.get("/conformance").json(), CONF_CLASSES)
    listed = valid(client.get("/collections").json(), COLLECTIONS)
    assert [c["id"] for c in listed["collections"]] == list(features.COLLECTIONS)


@pytest.mark.parametrize("collection", list(features.COLLECTIONS))
def test_each_collection_its_items_and_a_feature(client, collection):
    valid(client.get(f"/collections/{collection}").json(), COLLECTION)
    page = valid(client.get(f"/collections/{collection}/items", params={"limit": 5}).json(),
                 FEATURE_COLLECTION)  # fmt: skip

    assert page["numberReturned"] == len(page["features"]) <= 5
    assert page["numberMatched"] >= page["numberReturned"]
    for feature in page["features"]:
        GEOJSON_FEATURE.validate_python(feature)  # the geometry as GeoJSON has it
    if page["features"]:
        first = page["features"][0]
        one = valid(client.get(f"/collections/{collection}/items/{first['id']}").json(), FEATURE)
        assert one["id"] == first["id"]
        GEOJSON_FEATURE.validate_python(one)


@pytest.mark.parametrize(
    "path",
    [
        "/collections/bridge",
        "/collections/village/items/35.07.99.9999",
        "/collections/village/items?bbox=1,2",
        "/collections/village/items?filter=name%20%3D",
    ],
)
def test_exceptions(client, path):
    valid(client.get(path).json(), EXCEPTION)
