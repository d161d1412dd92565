"""OGC API Tiles: vector tiles of the collections, decoded by a maintained decoder."""

from __future__ import annotations

import mapbox_vector_tile
import morecantile
import pytest

import shapely

from geo import tiles

TMS = morecantile.tms.get("WebMercatorQuad")
MVT = "application/vnd.mapbox-vector-tile"


@pytest.fixture
def villages(registry_villages):
    return registry_villages


def lonlat_box(z, x, y, grow=0.0):
    b = TMS.xy_bounds(morecantile.Tile(x, y, z))
    g = (b.right - b.left) * grow
    west, south = TMS.lnglat(b.left - g, b.bottom - g)
    east, north = TMS.lnglat(b.right + g, b.top + g)
    return shapely.box(west, south, east, north)


@pytest.mark.parametrize("z", [8, 10, 12, 14])
def test_a_tile_holds_the_villages_it_shows(client, villages, z):
    t = TMS.tile(villages["label_lon"].iloc[100], villages["label_lat"].iloc[100], z)
    response = client.get(f"/collections/village/tiles/WebMercatorQuad/{z}/{t.y}/{t.x}")

    assert response.status_code == 200
    assert response.headers["content-type"] == MVT
    assert response.headers["cache-control"] == "public, max-age=60"
    decoded = mapbox_vector_tile.decode(response.content)
    codes = {f["properties"]["code"] for f in decoded["village"]["features"]}
    inside = set(villages[villages.intersects(lonlat_box(z, t.x, t.y))]["code"])
    nearby = set(villages[villages.intersects(lonlat_box(z, t.x, t.y, grow=64 / 4096))]["code"])
    assert inside <= codes <= nearby
    assert set(decoded["village"]["features"][0]["properties"]) == {"code", "name", "kind"}
    assert decoded["village"]["extent"] == tiles.EXTENT


def test_an_empty_tile_is_204_and_a_tile_off_the_grid_400(client):
    sea = TMS.tile(100.0, -30.0, 10)  # the Indian Ocean
    empty = client.get(f"/collections/village/tiles/WebMercatorQuad/10/{sea.y}/{sea.x}")
    off = client.get("/collections/village/tiles/WebMercatorQuad/3/9/2")
    other_grid = client.get("/collections/village/tiles/WorldCRS84Quad/3/1/2")

    assert empty.status_code == 204
    assert off.status_code == 400 and off.json()["code"] == "invalid_parameter"
    assert other_grid.status_code == 400


def test_tiles_revalidate_with_their_etag(client, villages):
    t = TMS.tile(villages["label_lon"].iloc[100], villages["label_lat"].iloc[100], 12)
    url = f"/collections/village/tiles/WebMercatorQuad/12/{t.y}/{t.x}"
    first = client.get(url)
    again = client.get(url, headers={"If-None-Match": first.headers["etag"]})
    assert again.status_code == 304 and again.content == b""


def test_tilejson_and_tilesets_tell_a_web_map_where_the_tiles_are(client, villages):
    tilejson = client.get("/collections/village/tiles/WebMercatorQuad/tilejson.json").json()
    listing = client.get("/collections/village/tiles").json()

    assert tilejson["tilejson"] == "3.0.0"
    assert tilejson["tiles"] == [
        "http://testserver/collections/village/tiles/WebMercatorQuad/{z}/{y}/{x}"
    ]
    assert tilejson["vector_layers"][0]["id"] == "village"
    assert tilejson["bounds"] == pytest.approx(list(villages.total_bounds), abs=1e-4)
    [tileset] = listing["tilesets"]
    assert tileset["dataType"] == "vector"
    assert tileset["tileMatrixSetURI"].endswith("/WebMercatorQuad")
    collection = client.get("/collections/village").json()
    assert any(link["rel"].endswith("tilesets-vector") for link in collection["links"])


def test_a_tile_holds_at_most_the_cap(client, villages, monkeypatch):
    monkeypatch.setattr(tiles, "MAX_FEATURES", 5)
    monkeypatch.setattr(tiles, "_CACHE", tiles.features.Kept())  # an empty cache
    t = TMS.tile(villages["label_lon"].iloc[100], villages["label_lat"].iloc[100], 8)

    decoded = mapbox_vector_tile.decode(
        client.get(f"/collections/village/tiles/WebMercatorQuad/8/{t.y}/{t.x}").content
    )

    codes = [f["properties"]["code"] for f in decoded["village"]["features"]]
    nearby = villages[villages.intersects(lonlat_box(8, t.x, t.y, grow=64 / 4096))]["code"]
    assert len(nearby) > 5 and sorted(codes) == sorted(nearby)[:5]  # the first in key order
