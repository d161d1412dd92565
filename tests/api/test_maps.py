"""The registry map served by the API: HTML plus every asset it references, from this server."""

from __future__ import annotations

import re

PAGE = "/maps/registry?regency=35.07"


def test_registry_map_page_and_its_assets_come_from_this_server(client):
    response = client.get(PAGE)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    html = response.text
    assert len(set(re.findall(r'"id": ?"(35\.07\.\d\d\.\d{4})"', html))) == 390
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
