"""The registry map served by the API: HTML plus every asset it references, from this server."""

from __future__ import annotations

import re

from geo import queries
from geo.store.db import transaction

PAGE = "/maps/registry?regency=35.07"
VILLAGE_ID = r'"id": ?"(35\.07\.\d\d\.\d{4})"'
PROBLEM = "application/problem+json"


def test_registry_map_page_and_its_assets_come_from_this_server(client):
    response = client.get(PAGE)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    html = response.text
    assert len(set(re.findall(VILLAGE_ID, html))) == 390
    remote = re.findall(r'<(?:script|link)[^>]+(?:src|href)="(?:https?:)?//[^"]*"', html)
    assert remote == []
    local = re.findall(r'<script src="(/maps/assets/[^"]+)"', html) + re.findall(
        r'<link rel="stylesheet" href="(/maps/assets/[^"]+)"', html
    )
    assert len(local) >= 10
    for url in local:
        asset = client.get(url)
        assert asset.status_code == 200, url
        assert len(asset.content) > 0


def test_registry_map_in_english(client):
    html = client.get(PAGE + "&lang=en").text
    assert "Villages" in html


def test_registry_map_refuses_bad_parameters(client):
    bad_code = client.get("/maps/registry?regency=35.7")
    assert bad_code.status_code == 400
    assert bad_code.headers["content-type"] == "application/problem+json"
    assert bad_code.json()["code"] == "invalid_code"
    other_district = client.get("/maps/registry?regency=35.07&district=35.79.01")
    assert other_district.status_code == 400
    assert client.get("/maps/registry?regency=35.07&lang=fr").status_code == 400


def test_registry_map_of_a_district_with_codes_dotted_or_not(client, registry):
    with transaction(registry) as session:
        dampit = set(queries.villages(session, district="35.07.05")["code"])
    assert len(dampit) > 1
    for query in (
        "regency=3507&district=35.07.05",
        "regency=3507&district=350705",
        "regency=35.07&district=350705",
        "regency=%2035.07%20&district=35.07.05",  # surrounding blanks, as elsewhere
    ):
        response = client.get(f"/maps/registry?{query}")
        assert response.status_code == 200, (query, response.text)
        assert response.headers["content-type"].startswith("text/html")
        assert set(re.findall(VILLAGE_ID, response.text)) == dampit, query
    whole = client.get("/maps/registry?regency=3507")
    assert whole.status_code == 200
    assert len(set(re.findall(VILLAGE_ID, whole.text))) == 390


def test_registry_map_refuses_a_district_of_another_regency(client):
    for query, district in (
        ("regency=35.07&district=35.79.01", "35.79.01"),
        ("regency=3507&district=35.79.01", "35.79.01"),
        ("regency=3507&district=357901", "35.79.01"),
        ("regency=35.07&district=35.73.05", "35.73.05"),
    ):
        response = client.get(f"/maps/registry?{query}")
        assert response.status_code == 400, query
        assert response.headers["content-type"] == PROBLEM
        problem = response.json()
        assert problem["code"] == "invalid_parameter", query
        assert problem["detail"] == f"district {district} is not in regency 35.07"
