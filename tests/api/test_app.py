"""The app factory, its lifespan, the settings and the OpenAPI document."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient
from pydantic import ValidationError

from api.deps import CODE_MAX_LENGTH
from api.main import create_app
from api.server import worker_environment
from api.settings import ApiSettings
from geo.codes import Level, code_pattern
from geo.errors import ConfigurationError

OPERATIONS = {
    ("get", "/"): "getLandingPage",
    ("get", "/health"): "getHealth",
    ("get", "/conformance"): "getConformance",
    ("get", "/collections"): "getCollections",
    ("get", "/collections/{collectionId}"): "describeCollection",
    ("get", "/collections/{collectionId}/items"): "getFeatures",
    ("get", "/collections/{collectionId}/items/{featureId}"): "getFeature",
    ("get", "/collections/{collectionId}/queryables"): "getQueryables",
    ("post", "/collections/{collectionId}/items"): "createFeature",
    ("put", "/collections/{collectionId}/items/{featureId}"): "replaceFeature",
    ("patch", "/collections/{collectionId}/items/{featureId}"): "updateFeature",
    ("delete", "/collections/{collectionId}/items/{featureId}"): "deleteFeature",
    ("get", "/audit"): "getAuditLog",
    ("get", "/collections/{collectionId}/download"): "downloadCollection",
    ("post", "/collections/{collectionId}/import"): "importFeatures",
    ("get", "/collections/{collectionId}/tiles"): "getTilesets",
    ("get", "/collections/{collectionId}/tiles/{tileMatrixSetId}"): "getTileset",
    ("get", "/collections/{collectionId}/tiles/{tileMatrixSetId}/tilejson.json"): "getTileJSON",
    (
        "get",
        "/collections/{collectionId}/tiles/{tileMatrixSetId}/{tileMatrix}/{tileRow}/{tileCol}",
    ): "getTile",
    ("post", "/audit/{entryId}/revert"): "revertChange",
    ("get", "/summary"): "getSummary",
    ("post", "/census/import"): "importCensus",
    ("get", "/summary/districts"): "getDistrictNumbers",
    ("get", "/summary/regencies"): "getRegencyNumbers",
    ("get", "/regencies"): "listRegencies",
    ("get", "/districts"): "listDistricts",
    ("get", "/villages"): "listVillages",
    ("get", "/villages/{code}"): "getVillage",
    ("get", "/villages-without/{layer}"): "listVillagesWithout",
    ("get", "/layers"): "listLayers",
    ("get", "/layers/{layer}/items"): "listLayerItems",
    ("get", "/maps/registry"): "getRegistryMap",
}


def test_factory_opens_nothing_until_the_app_starts(tmp_path):
    app = create_app(
        f"gpkg:///{tmp_path}/no/such/folder/registry.gpkg", ApiSettings(_env_file=None)
    )
    assert not hasattr(app.state, "engine")
    with (
        pytest.raises(ConfigurationError, match="folder for the GeoPackage does not exist"),
        TestClient(app),
    ):
        pass


def test_lifespan_disposes_the_engine(registry_url, settings):
    app = create_app(registry_url, settings)
    with TestClient(app) as client:
        assert client.get("/health").status_code == 200
        engine = app.state.engine
        assert engine.pool.checkedin() == 1  # the request's connection went back to the pool
    assert engine.pool.checkedin() == 0


def test_database_url_from_geo_settings(registry_url, monkeypatch):
    monkeypatch.setenv("PETADESA_DATABASE_URL", registry_url)
    app = create_app(settings=ApiSettings(_env_file=None))
    with TestClient(app) as client:
        assert client.get("/villages", params={"district": "35.07.05"}).status_code == 200
        assert str(app.state.engine.url) == str(client.app.state.engine.url)
        assert app.state.engine.url.database in registry_url


def test_settings_from_environment(monkeypatch):
    monkeypatch.setenv("PETADESA_API_PORT", "8123")
    monkeypatch.setenv("PETADESA_API_WORKERS", "3")
    monkeypatch.setenv("PETADESA_API_CORS_ORIGINS", "http://localhost:5173, https://peta.example")
    settings = ApiSettings(_env_file=None)
    assert (settings.port, settings.workers) == (8123, 3)
    assert settings.cors_origins == ["http://localhost:5173", "https://peta.example"]
    monkeypatch.setenv("PETADESA_API_CORS_ORIGINS", '["https://a.example"]')
    assert ApiSettings(_env_file=None).cors_origins == ["https://a.example"]


@pytest.mark.parametrize(
    "field, value", [("workers", 0), ("port", 0), ("port", 70000), ("max_request_bytes", 10)]
)
def test_settings_bounds(field, value):
    with pytest.raises(ValidationError):
        ApiSettings(_env_file=None, **{field: value})


def test_worker_environment_rebuilds_the_same_settings(monkeypatch):
    settings = ApiSettings(
        _env_file=None,
        host="0.0.0.0",
        port=8081,
        workers=2,  # noqa: S104
        cors_origins=["https://a.example", "https://b.example"],
        max_request_bytes=4096,
    )
    env = worker_environment("gpkg:///x.gpkg", settings)
    assert env["PETADESA_DATABASE_URL"] == "gpkg:///x.gpkg"
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert ApiSettings(_env_file=None) == settings


def test_cors_only_for_configured_origins(registry_url):
    settings = ApiSettings(_env_file=None, cors_origins=["https://peta.example"])
    with TestClient(create_app(registry_url, settings)) as client:
        allowed = client.get("/layers", headers={"Origin": "https://peta.example"})
        other = client.get("/layers", headers={"Origin": "https://evil.example"})
    assert allowed.headers["access-control-allow-origin"] == "https://peta.example"
    assert "access-control-allow-origin" not in other.headers


def test_a_page_on_any_site_may_read_and_write_with_a_key(client):
    origin = {"Origin": "https://portal.jatimprov.example"}
    preflight = client.options(
        "/collections/destination/items/1",
        headers={
            **origin,
            "Access-Control-Request-Method": "PATCH",
            "Access-Control-Request-Headers": "authorization, content-type, if-match",
        },
    )
    read = client.get("/collections/village/items/35.07.01.2001", headers=origin)

    assert preflight.status_code == 200
    assert preflight.headers["access-control-allow-origin"] == "*"
    assert "PATCH" in preflight.headers["access-control-allow-methods"]
    allowed = preflight.headers["access-control-allow-headers"].lower()
    assert {"authorization", "content-type", "if-match"} <= set(allowed.split(", "))
    assert "access-control-allow-credentials" not in preflight.headers
    assert read.status_code == 200
    assert read.headers["access-control-allow-origin"] == "*"
    exposed = read.headers["access-control-expose-headers"].lower().split(", ")
    assert {"etag", "content-crs"} <= set(exposed)


def test_cors_can_be_turned_off(registry_url):
    settings = ApiSettings(_env_file=None, cors_origins="")
    with TestClient(create_app(registry_url, settings)) as client:
        read = client.get("/collections", headers={"Origin": "https://portal.example"})
    assert read.status_code == 200
    assert "access-control-allow-origin" not in read.headers


def test_openapi_operations_have_stable_ids_and_tags(client):
    document = client.get("/openapi.json").json()
    found = {}
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            assert operation["tags"], (method, path)
            assert operation["summary"], (method, path)
            found[(method, path)] = operation["operationId"]
    assert found == OPERATIONS
    assert "Problem" in document["components"]["schemas"]


def test_openapi_references_resolve(client):
    document = client.get("/openapi.json").json()
    schemas = document["components"]["schemas"]
    refs = set()

    def walk(node):
        if isinstance(node, dict):
            if isinstance(node.get("$ref"), str):
                refs.add(node["$ref"])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(document)
    assert refs, "the document refers to no schema at all"
    missing = {r for r in refs if r.removeprefix("#/components/schemas/") not in schemas}
    assert missing == set()


def test_openapi_documents_media_types(client):
    paths = client.get("/openapi.json").json()["paths"]
    villages = paths["/villages"]["get"]["responses"]
    assert villages["200"]["content"]["application/geo+json"]["schema"] == {
        "$ref": "#/components/schemas/VillageCollection"
    }
    assert set(villages["400"]["content"]) == {"application/problem+json"}
    assert "422" not in villages  # validation problems are 400 here
    detail = paths["/villages/{code}"]["get"]["responses"]
    assert detail["200"]["content"]["application/geo+json"]["schema"] == {
        "$ref": "#/components/schemas/VillageDetail"
    }
    assert set(detail["404"]["content"]) == {"application/problem+json"}


CODE_PARAMETERS = {
    "province": Level.PROVINCE,
    "regency": Level.REGENCY,
    "district": Level.DISTRICT,
    "village": Level.VILLAGE,
    "code": Level.VILLAGE,
}
ARABIC_INDIC = str.maketrans(
    "0123456789", "\u0660\u0661\u0662\u0663\u0664\u0665\u0666\u0667\u0668\u0669"
)


def _string_schema(schema: dict) -> dict:
    """The schema of the string itself; a ``str | None`` parameter is ``anyOf`` string, null."""
    if schema.get("type") == "string":
        return schema
    (branch,) = [b for b in schema.get("anyOf", []) if b.get("type") == "string"]
    return branch


def test_openapi_code_parameters_have_a_pattern_and_a_max_length(client):
    document = client.get("/openapi.json").json()
    found = set()
    for path, operations in document["paths"].items():
        for operation in operations.values():
            for parameter in operation.get("parameters", []):
                level = CODE_PARAMETERS.get(parameter["name"])
                if level is None:
                    continue
                found.add((path, parameter["in"], parameter["name"]))
                schema = _string_schema(parameter["schema"])
                assert schema["maxLength"] == CODE_MAX_LENGTH
                pattern = schema["pattern"]
                assert pattern == code_pattern(level)
                assert "\\d" not in pattern  # [0-9]: \d may be any Unicode digit
                (example,) = parameter["schema"]["examples"]
                assert re.fullmatch(pattern, example)
                assert re.fullmatch(pattern, example.replace(".", ""))
                assert not re.fullmatch(pattern, example.translate(ARABIC_INDIC))
    assert found == {
        ("/summary", "query", "regency"),
        ("/summary/districts", "query", "regency"),
        ("/summary/regencies", "query", "regency"),
        ("/regencies", "query", "province"),
        ("/districts", "query", "regency"),
        ("/villages", "query", "regency"),
        ("/villages", "query", "district"),
        ("/villages/{code}", "path", "code"),
        ("/villages-without/{layer}", "query", "regency"),
        ("/villages-without/{layer}", "query", "district"),
        ("/layers/{layer}/items", "query", "village"),
        ("/layers/{layer}/items", "query", "district"),
        ("/layers/{layer}/items", "query", "regency"),
        ("/maps/registry", "query", "regency"),
        ("/maps/registry", "query", "district"),
    }
