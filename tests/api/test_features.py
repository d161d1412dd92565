"""OGC API Features Part 1 (Core) over the Kab. Malang registry, and GDAL's OAPIF client."""

from __future__ import annotations

import io
import json
import subprocess

import pandas as pd
import pytest
from owslib.ogcapi.features import Features

import geopandas as gpd
import shapely
from pyproj import Transformer

from api.routes.features import CONFORMANCE, CRS84
from api.schemas import CollectionList, Conformance, LandingPage
from geo import features, queries
from geo.store.db import transaction

VILLAGES = 390


@pytest.fixture
def malang_villages(registry_villages):
    return registry_villages


def test_the_landing_page_leads_clients_to_the_collections_and_conformance(client):
    page = LandingPage.model_validate(client.get("/").json())

    data = [link.href for link in page.links if link.rel == "data"]
    assert [href.removeprefix("http://testserver") for href in data] == ["/collections"]
    conformance = [link.href for link in page.links if link.rel == "conformance"]
    assert [href.removeprefix("http://testserver") for href in conformance] == ["/conformance"]


def test_conformance_claims_core_geojson_and_openapi(client):
    body = Conformance.model_validate(client.get("/conformance").json())
    assert body.conformsTo == CONFORMANCE


def test_every_layer_is_a_collection_with_its_extent(client, malang_villages):
    response = client.get("/collections")

    assert response.status_code == 200
    listed = CollectionList.model_validate(response.json())
    assert [c.id for c in listed.collections] == list(features.COLLECTIONS)
    by_id = {c.id: c for c in listed.collections}
    village = by_id["village"]
    assert village.crs[0] == CRS84 and village.itemType == "feature"
    [box] = village.extent.spatial.bbox
    west, south, east, north = malang_villages.total_bounds
    assert box == pytest.approx([west, south, east, north], abs=1e-4)  # R*Tree: float32
    assert box[0] <= west and box[1] <= south and box[2] >= east and box[3] >= north
    assert by_id["speed_tile"].extent is None  # nothing measured in this registry
    items = [link.href for link in village.links if link.rel == "items"]
    assert items == ["http://testserver/collections/village/items"]
    one = client.get("/collections/tower").json()
    assert one["id"] == "tower" and one["title"] == "BTS towers"


def test_paging_through_the_villages_gives_each_once(client, malang_villages):
    seen, url, pages = [], "/collections/village/items?limit=100", 0
    while url:
        response = client.get(url)
        assert response.status_code == 200
        assert response.headers["content-type"] == "application/geo+json"
        body = response.json()
        assert body["numberMatched"] == VILLAGES
        assert body["numberReturned"] == len(body["features"])
        seen += [feature["id"] for feature in body["features"]]
        following = [link["href"] for link in body["links"] if link["rel"] == "next"]
        url = following[0] if following else None
        pages += 1
    assert pages == 4 and seen == sorted(malang_villages["code"])
    last = client.get("/collections/village/items?limit=100&offset=300").json()
    [before] = [link["href"] for link in last["links"] if link["rel"] == "prev"]
    assert "offset=200" in before and last["numberReturned"] == 90


def test_a_bbox_keeps_the_villages_it_touches(client, malang_villages):
    box = (112.60, -8.10, 112.70, -8.00)
    expected = malang_villages[malang_villages.intersects(shapely.box(*box))]["code"].tolist()

    body = client.get(
        "/collections/village/items", params={"bbox": ",".join(map(str, box)), "limit": 1000}
    ).json()

    assert body["numberMatched"] == len(expected) > 0
    assert [f["id"] for f in body["features"]] == sorted(expected)


def test_one_feature_by_its_id(client, malang_villages):
    code = malang_villages["code"].iloc[5]
    village = client.get(f"/collections/village/items/{code}")
    tower = client.get("/collections/tower/items?limit=1").json()["features"][0]
    again = client.get(f"/collections/tower/items/{tower['id']}")

    assert village.status_code == 200
    body = village.json()
    assert (body["id"], body["properties"]["name"]) == (code, malang_villages["name"].iloc[5])
    assert {link["rel"] for link in body["links"]} == {"self", "collection"}
    assert again.json()["geometry"] == tower["geometry"]


@pytest.mark.parametrize(
    ("path", "status", "code"),
    [
        ("/collections/bridge", 404, "collection_not_found"),
        ("/collections/bridge/items", 404, "collection_not_found"),
        ("/collections/village/items/35.07.99.9999", 404, "feature_not_found"),
        ("/collections/tower/items/not-a-number", 404, "feature_not_found"),
        ("/collections/village/items?limit=0", 400, "invalid_request"),
        ("/collections/village/items?limit=10001", 400, "invalid_request"),
        ("/collections/village/items?offset=-1", 400, "invalid_request"),
        ("/collections/village/items?bbox=1,2,3", 400, "invalid_bbox"),
        ("/collections/village/items?colour=red", 400, "invalid_parameter"),
    ],
)
def test_mistakes_are_problems_not_errors(client, path, status, code):
    response = client.get(path)
    assert response.status_code == status
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["code"] == code


@pytest.mark.slow
def test_gdal_reads_every_village_as_an_ogc_api_features_client(served, malang_villages, tmp_path):
    listing = subprocess.run(
        ["ogrinfo", "-ro", "-q", f"OAPIF:{served}"], capture_output=True, text=True, check=True
    )
    out = tmp_path / "villages.geojson"
    subprocess.run(
        ["ogr2ogr", "-f", "GeoJSON", str(out), f"OAPIF:{served}", "village"],
        capture_output=True,
        text=True,
        check=True,
    )

    layers = [line.split(":", 1)[1].split("(")[0].strip() for line in listing.stdout.splitlines()]
    assert layers == list(features.COLLECTIONS)
    read = json.loads(out.read_text())["features"]
    assert len(read) == VILLAGES
    assert sorted(f["properties"]["code"] for f in read) == sorted(malang_villages["code"])


@pytest.mark.slow
def test_owslib_reads_the_collections_and_every_village(served, malang_villages):
    service = Features(served)

    assert [c["id"] for c in service.collections()["collections"]] == list(features.COLLECTIONS)
    assert service.conformance()["conformsTo"] == CONFORMANCE
    codes, offset = [], 0
    while True:
        page = service.collection_items("village", limit=250, offset=offset)
        codes += [f["id"] for f in page["features"]]
        offset += 250
        if offset >= page["numberMatched"]:
            break
    assert codes == sorted(malang_villages["code"])
    one = service.collection_item("village", codes[0])
    assert one["properties"]["code"] == codes[0]


EPSG = "http://www.opengis.net/def/crs/EPSG/0/{}"


def test_collections_list_the_crs_they_are_served_in(client):
    village = client.get("/collections/village").json()
    assert village["storageCrs"] == CRS84
    assert village["crs"][:3] == [CRS84, EPSG.format(4326), EPSG.format(3857)]
    assert EPSG.format(32749) in village["crs"] and EPSG.format(32654) in village["crs"]


def test_features_in_another_crs_say_so_and_keep_their_axis_order(client):
    code = "35.07.01.2001"
    plain = client.get(f"/collections/village/items/{code}")
    latlon = client.get(f"/collections/village/items/{code}", params={"crs": EPSG.format(4326)})
    utm = client.get(f"/collections/village/items/{code}", params={"crs": "EPSG:32749"})

    assert plain.headers["content-crs"] == f"<{CRS84}>"
    assert latlon.headers["content-crs"] == f"<{EPSG.format(4326)}>"
    assert utm.headers["content-crs"] == f"<{EPSG.format(32749)}>"
    lon, lat = plain.json()["geometry"]["coordinates"][0][0][0]
    assert latlon.json()["geometry"]["coordinates"][0][0][0] == [lat, lon]
    to_utm = Transformer.from_crs(4326, 32749, always_xy=True)
    assert utm.json()["geometry"]["coordinates"][0][0][0] == pytest.approx(
        list(to_utm.transform(lon, lat)), abs=0.02
    )  # both served to about a centimetre: 7 decimals of a degree, 2 of a metre


def test_a_bbox_in_another_crs_selects_the_same_villages(client, malang_villages):
    west, south, east, north = 112.60, -8.10, 112.70, -8.00
    lonlat = client.get(
        "/collections/village/items",
        params={"bbox": f"{west},{south},{east},{north}", "limit": 500},
    ).json()
    latlon = client.get(
        "/collections/village/items",
        params={
            "bbox": f"{south},{west},{north},{east}",
            "bbox-crs": EPSG.format(4326),
            "limit": 500,
        },
    ).json()
    to_utm = Transformer.from_crs(4326, 32749, always_xy=True)
    metres = to_utm.transform_bounds(west, south, east, north)
    utm = client.get(
        "/collections/village/items",
        params={"bbox": ",".join(map(str, metres)), "bbox-crs": EPSG.format(32749), "limit": 500},
    ).json()

    ids = [f["id"] for f in lonlat["features"]]
    assert ids and [f["id"] for f in latlon["features"]] == ids
    back = Transformer.from_crs(32749, 4326, always_xy=True).transform_bounds(*metres)
    expected = malang_villages[malang_villages.intersects(shapely.box(*back))]["code"]
    assert [f["id"] for f in utm["features"]] == sorted(expected) and set(ids) <= set(expected)


@pytest.mark.parametrize(
    "params",
    [
        {"crs": "EPSG:2154"},  # Lambert-93: France, not served
        {"crs": "http://www.opengis.net/def/crs/EPSG/0/abc"},
        {"bbox": "1,2,3,4", "bbox-crs": "EPSG:9999"},
    ],
)
def test_a_crs_not_served_is_a_problem(client, params):
    response = client.get("/collections/village/items", params=params)
    assert response.status_code == 400
    assert response.json()["code"] == "invalid_crs"


def test_head_answers_as_get_would_without_a_body(client):
    got = client.get("/collections/village/items?limit=5")
    head = client.head("/collections/village/items?limit=5")

    assert head.status_code == 200 and head.content == b""
    assert head.headers["content-type"] == got.headers["content-type"] == "application/geo+json"
    assert head.headers["etag"] == got.headers["etag"]
    assert client.head("/collections/bridge").status_code == 404


def test_a_page_the_client_has_is_not_sent_again(client):
    page = client.get("/collections/village/items?limit=50")
    assert (
        client.get(
            "/collections/village/items?limit=50", headers={"If-None-Match": page.headers["etag"]}
        ).status_code
        == 304
    )
    first = client.get("/collections/village/items/35.07.01.2001")
    again = client.get(
        "/collections/village/items/35.07.01.2001", headers={"If-None-Match": first.headers["etag"]}
    )
    other = client.get(
        "/collections/village/items/35.07.01.2002", headers={"If-None-Match": first.headers["etag"]}
    )

    assert again.status_code == 304 and again.content == b""
    assert again.headers["etag"] == first.headers["etag"]
    assert other.status_code == 200 and other.headers["etag"] != first.headers["etag"]


def test_large_answers_are_gzipped_for_clients_that_accept_it(client):
    plain = client.get(
        "/collections/village/items?limit=100", headers={"Accept-Encoding": "identity"}
    )
    zipped = client.get("/collections/village/items?limit=100", headers={"Accept-Encoding": "gzip"})

    assert "content-encoding" not in plain.headers
    assert zipped.headers["content-encoding"] == "gzip"
    assert zipped.json() == plain.json()
    assert int(zipped.headers["content-length"]) < len(plain.content) / 3


def filtered(client, cql, lang="cql2-text", **params):
    params = {"filter": cql if isinstance(cql, str) else json.dumps(cql), "limit": 1000, **params}
    if lang != "cql2-text":
        params["filter-lang"] = lang
    return client.get("/collections/village/items", params=params)


@pytest.mark.parametrize(
    ("cql", "lang", "expected"),
    [
        ("kind = 'kelurahan'", "cql2-text", lambda v: v["kind"] == "kelurahan"),
        (
            {"op": "=", "args": [{"property": "kind"}, "kelurahan"]},
            "cql2-json",
            lambda v: v["kind"] == "kelurahan",
        ),
        (
            "area_km2 > 20 AND NOT kind = 'desa'",
            "cql2-text",
            lambda v: (v["area_km2"] > 20) & (v["kind"] != "desa"),
        ),
        ("name LIKE 'Sumber%'", "cql2-text", lambda v: v["name"].str.startswith("Sumber")),
        ("name LIKE 'sumber%'", "cql2-text", lambda v: v["name"].str.startswith("sumber")),
        ("area_km2 BETWEEN 5 AND 6", "cql2-text", lambda v: v["area_km2"].between(5, 6)),
        (
            "parent_code IN ('35.07.01', '35.07.02')",
            "cql2-text",
            lambda v: v["district_code"].isin(["35.07.01", "35.07.02"]),
        ),
        (
            "S_INTERSECTS(geometry, BBOX(112.60, -8.10, 112.70, -8.00))",
            "cql2-text",
            lambda v: v.intersects(shapely.box(112.60, -8.10, 112.70, -8.00)),
        ),
        (
            "S_INTERSECTS(geometry, POINT(112.63 -7.98))",
            "cql2-text",
            lambda v: v.intersects(shapely.Point(112.63, -7.98)),
        ),
    ],
)
def test_cql2_filters_keep_what_they_say(client, malang_villages, cql, lang, expected):
    response = filtered(client, cql, lang)

    assert response.status_code == 200, response.text
    body = response.json()
    want = sorted(malang_villages[expected(malang_villages)]["code"])
    assert [f["id"] for f in body["features"]] == want
    assert body["numberMatched"] == len(want)


def test_like_is_case_sensitive_and_escapes_on_both_backends(client, malang_villages):
    upper = filtered(client, "name LIKE 'Sumber%'").json()["numberMatched"]
    lower = filtered(client, "name LIKE 'SUMBER%'").json()["numberMatched"]
    one_char = filtered(client, "name LIKE 'Sumbe_%'").json()["numberMatched"]
    literal = filtered(client, r"name LIKE 'Sumber\%'").json()["numberMatched"]

    assert upper > 0 and lower == 0 and one_char == upper and literal == 0


def test_sortby_and_properties(client, malang_villages):
    body = client.get(
        "/collections/village/items",
        params={"sortby": "-area_km2,name", "properties": "name,area_km2", "limit": 5},
    ).json()

    largest = malang_villages.sort_values(["area_km2", "name"], ascending=[False, True]).head(5)
    assert [f["id"] for f in body["features"]] == largest["code"].tolist()
    assert {tuple(f["properties"]) for f in body["features"]} == {("name", "area_km2")}


def test_queryables_are_a_json_schema(client):
    response = client.get("/collections/village/queryables")

    assert response.headers["content-type"] == "application/schema+json"
    schema = response.json()
    assert schema["type"] == "object" and schema["additionalProperties"] is False
    assert schema["properties"]["area_km2"] == {"title": "area_km2", "type": "number"}
    assert schema["properties"]["code"]["type"] == "string"
    assert schema["properties"]["geometry"]["format"] == "geometry-multipolygon"
    assert "valid_to" not in schema["properties"]


@pytest.mark.parametrize(
    ("params", "code"),
    [
        ({"filter": "name = "}, "invalid_filter"),
        ({"filter": "colour = 'red'"}, "invalid_filter"),
        ({"filter": "T_AFTER(created_at, TIMESTAMP('2020-01-01T00:00:00Z'))"}, "invalid_filter"),
        ({"filter": "kind = 'desa'", "filter-lang": "sql"}, "invalid_filter"),
        ({"filter": "{not json", "filter-lang": "cql2-json"}, "invalid_filter"),
        ({"filter": "kind = 'desa'", "filter-crs": "EPSG:32749"}, "invalid_crs"),
        ({"sortby": "colour"}, "invalid_parameter"),
        ({"properties": "name,colour"}, "invalid_parameter"),
    ],
)
def test_filters_that_cannot_be_served_are_problems(client, params, code):
    response = client.get("/collections/village/items", params=params)
    assert response.status_code == 400, response.text
    assert response.json()["code"] == code


@pytest.mark.parametrize(
    "payload",
    [
        "name = 'x'; DROP TABLE village; --",
        "name = 'x'' OR 1=1 --'",
        "kind = 'desa') OR (1=1",
    ],
)
def test_injections_in_a_filter_change_nothing(client, registry, payload):
    response = filtered(client, payload)
    assert response.status_code in (200, 400)
    if response.status_code == 200:
        assert response.json()["numberMatched"] == 0
    with transaction(registry) as session:
        assert len(queries.villages(session)) == VILLAGES


@pytest.mark.parametrize("file_format", ["geojson", "csv", "gpkg"])
def test_a_collection_downloads_whole_or_filtered(client, malang_villages, tmp_path, file_format):
    whole = client.get("/collections/village/download", params={"format": file_format})
    some = client.get(
        "/collections/village/download",
        params={"format": file_format, "filter": "kind = 'kelurahan'"},
    )

    assert whole.status_code == 200, whole.text
    assert whole.headers["content-disposition"] == f'attachment; filename="village.{file_format}"'
    if file_format != "gpkg":  # a GeoPackage is sent from its file, with the file's own tag
        assert "etag" not in whole.headers  # streamed, not buffered to be tagged

    def read(response):
        if file_format == "csv":
            return pd.read_csv(io.StringIO(response.text))
        path = tmp_path / f"v.{file_format}"
        path.write_bytes(response.content)
        return gpd.read_file(path)

    assert sorted(read(whole)["code"]) == sorted(malang_villages["code"])
    expected = malang_villages[malang_villages["kind"] == "kelurahan"]["code"]
    assert sorted(read(some)["code"]) == sorted(expected)


BROWSER = {"Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"}


def test_a_browser_gets_pages_and_a_client_json(client, malang_villages):
    landing = client.get("/", headers=BROWSER)
    listing = client.get("/collections", headers=BROWSER)
    items = client.get("/collections/village/items?limit=5", headers=BROWSER)
    code = malang_villages["code"].iloc[0]
    one = client.get(f"/collections/village/items/{code}", params={"f": "html"})
    as_json = client.get("/collections", params={"f": "json"}, headers=BROWSER)

    for page in (landing, listing, items, one):
        assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
        assert "<script" not in page.text and "src=" not in page.text  # nothing to fetch: offline
        assert "<link" not in page.text
    assert 'href="http://testserver/collections/village/items?f=html"' in listing.text
    assert f"/collections/village/items/{code}?f=html" in items.text
    assert "features 1-5 of 390" in items.text
    assert malang_villages["name"].iloc[0] in one.text
    assert as_json.headers["content-type"] == "application/json"
    assert client.get("/collections").headers["content-type"] == "application/json"


def _commissioned(registry) -> pd.Series:
    with registry.connect() as conn:
        frame = pd.read_sql("SELECT id, commissioned_on FROM fibre_route", conn)
    return pd.to_datetime(frame.set_index("id")["commissioned_on"]).dt.date.dropna()


def test_a_layer_with_days_says_when_and_keeps_a_days_features(client, registry):
    days = _commissioned(registry).sort_values()
    assert len(days) >= 5  # the sample routes in service have a commissioning day
    first, middle, last = days.iloc[0], days.iloc[len(days) // 2], days.iloc[-1]

    temporal = client.get("/collections/fibre_route").json()["extent"]["temporal"]
    one_day = client.get(
        "/collections/fibre_route/items",
        params={"datetime": f"{middle.isoformat()}T10:00:00+07:00", "limit": 1000},
    ).json()
    until = client.get(
        "/collections/fibre_route/items",
        params={"datetime": f"../{middle.isoformat()}", "limit": 1000},
    ).json()
    span = client.get(
        "/collections/fibre_route/items",
        params={"datetime": f"{first.isoformat()}T00:00:00Z/{last.isoformat()}T23:59:59Z"},
    ).json()

    assert temporal == {
        "interval": [[f"{first}T00:00:00Z", f"{last}T23:59:59Z"]],
        "trs": "http://www.opengis.net/def/uom/ISO-8601/0/Gregorian",
    }
    assert sorted(f["id"] for f in one_day["features"]) == sorted(days.index[days == middle])
    assert {f["properties"]["commissioned_on"] for f in one_day["features"]} == {middle.isoformat()}
    assert sorted(f["id"] for f in until["features"]) == sorted(days.index[days <= middle])
    assert until["numberMatched"] == int((days <= middle).sum())
    assert span["numberMatched"] == len(days)  # routes not in service have no day: left out


def test_the_boundaries_in_force_on_a_day(client):
    today = client.get("/collections/village/items", params={"datetime": "2026-12-02"}).json()
    before = client.get("/collections/village/items", params={"datetime": "1969-12-31"}).json()
    described = client.get("/collections/village").json()

    assert today["numberMatched"] == VILLAGES
    assert (before["numberMatched"], before["features"]) == (0, [])
    assert described["extent"]["temporal"]["interval"] == [["1970-01-01T00:00:00Z", None]]
    assert "temporal" not in client.get("/collections/tower").json()["extent"]


@pytest.mark.parametrize(
    ("collection", "value", "message"),
    [
        ("tower", "2024-01-01", "tower has no time; collections with time: province,"),
        ("fibre_route", "2024-13-01", "is not an RFC 3339 date or date-time"),
        ("fibre_route", "2024-05-01T08:00:00", "needs its time zone"),
        ("fibre_route", "../..", "at least one end"),
        ("fibre_route", "2024-06-01/2024-01-01", "ends before it starts"),
        ("fibre_route", "1/2/3", "an instant, or an interval"),
    ],
)
def test_a_datetime_that_cannot_be_served_is_a_problem(client, collection, value, message):
    response = client.get(f"/collections/{collection}/items", params={"datetime": value})

    assert response.status_code == 400
    assert response.json()["code"] == "invalid_parameter"
    assert message in response.json()["detail"]


def test_open_ends_as_qgis_writes_them(client, registry):
    # QGIS 3.22 sends a filter "commissioned_on <= X" as datetime=0000-01-01T00:00:00Z/X.
    days = _commissioned(registry)
    last = days.max().isoformat()
    up_to = client.get(
        "/collections/fibre_route/items",
        params={"datetime": f"0000-01-01T00:00:00Z/{last}T00:00:00Z", "limit": 1000},
    )
    from_ = client.get(
        "/collections/fibre_route/items",
        params={"datetime": f"{last}T00:00:00Z/9999-12-31T00:00:00Z", "limit": 1000},
    )

    assert up_to.status_code == 200, up_to.text
    assert up_to.json()["numberMatched"] == len(days)
    assert from_.json()["numberMatched"] == int((days == days.max()).sum())
