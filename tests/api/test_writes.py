"""OGC API Features Part 4 (create, replace, update, delete) with keys, roles, scope and audit."""

from __future__ import annotations

import json
import warnings
from concurrent.futures import ThreadPoolExecutor
from threading import Barrier

import mapbox_vector_tile
import morecantile
import pytest
from sqlalchemy import func, select
from typer.testing import CliRunner

from shapely.geometry import Point

from api.main import create_app
from api.settings import ApiSettings
from cli.main import app as cli
from geo import edits
from geo.keys import Caller, KeyProblem, create_key, revoke_key
from geo.store.db import transaction
from geo.store.models import AuditEntry, Destination
from tests.geo.terrain import wgs84
from tests.geo.test_coverage_scale import two_regencies

with warnings.catch_warnings():
    warnings.filterwarnings("ignore", message="Using `httpx` with `starlette.testclient`")
    from fastapi.testclient import TestClient

WEST, EAST_OTHER_REGENCY = "35.07.01.2001", "35.08.01.2001"
TMS = morecantile.tms.get("WebMercatorQuad")


def point_in(x_m: float, y_m: float) -> list[float]:
    point = wgs84(Point(x_m, y_m))
    return [point.x, point.y]


IN_WEST = point_in(601_000, 9_111_500)
ALSO_IN_WEST = point_in(602_000, 9_111_500)
IN_EAST = point_in(605_000, 9_111_500)  # regency 35.08


def feature(coordinates, **properties):
    return {
        "type": "Feature",
        "geometry": {"type": "Point", "coordinates": coordinates},
        "properties": {"name": "Coban Sampel", "category": "air terjun", **properties},
    }


@pytest.fixture
def api(engine, database_url):
    two_regencies(engine)
    app = create_app(database_url=database_url, settings=ApiSettings(_env_file=None))
    with TestClient(app) as client:
        yield client


def bearer(engine, role, regency=None):
    key, _ = create_key(engine, role, regency=regency)
    return {"Authorization": f"Bearer {key}"}


def destinations(engine):
    with transaction(engine) as session:
        return session.execute(select(func.count(Destination.id))).scalar_one()


def test_writes_need_a_key_in_force(api, engine):
    headers = bearer(engine, "tourism")
    revoke_key(engine, headers["Authorization"].split()[1])

    anonymous = api.post("/collections/destination/items", json=feature(IN_WEST))
    revoked = api.post("/collections/destination/items", json=feature(IN_WEST), headers=headers)
    wrong = api.post(
        "/collections/destination/items", json=feature(IN_WEST),
        headers={"Authorization": "Bearer not-a-key"},
    )  # fmt: skip

    for response in (anonymous, revoked, wrong):
        assert response.status_code == 401
        assert response.json()["code"] == "unauthorized"
        assert response.headers["www-authenticate"] == 'Bearer realm="petadesa"'
    assert destinations(engine) == 0


def test_tourism_creates_a_destination_linked_to_its_village_and_audited(api, engine):
    created = api.post(
        "/collections/destination/items", json=feature(IN_WEST), headers=bearer(engine, "tourism")
    )

    assert created.status_code == 201, created.text
    body = created.json()
    assert body["properties"]["village_code"] == WEST and body["properties"]["version"] == 1
    assert created.headers["location"].endswith(f"/collections/destination/items/{body['id']}")
    read = api.get(created.headers["location"])
    assert read.headers["etag"] == created.headers["etag"] == f'"destination-{body["id"]}-v1"'
    with transaction(engine) as session:
        [entry] = session.execute(select(AuditEntry)).scalars().all()
        assert (entry.action, entry.collection, entry.role, entry.before) == (
            "create", "destination", "tourism", None,
        )  # fmt: skip
        assert json.loads(entry.after)["properties"]["name"] == "Coban Sampel"


@pytest.mark.parametrize(
    ("role", "collection"),
    [
        ("tourism", "tower"),
        ("planner", "destination"),
        ("economy", "destination"),
        ("public", "destination"),
    ],
)
def test_a_role_writes_only_its_layers(api, engine, role, collection):
    response = api.post(
        f"/collections/{collection}/items", json=feature(IN_WEST), headers=bearer(engine, role)
    )
    assert response.status_code == 403
    assert response.json()["code"] == "forbidden"
    assert destinations(engine) == 0


def test_a_regency_key_writes_only_inside_its_regency(api, engine):
    malang = bearer(engine, "tourism", regency="35.07")

    outside = api.post("/collections/destination/items", json=feature(IN_EAST), headers=malang)
    inside = api.post("/collections/destination/items", json=feature(IN_WEST), headers=malang)
    moved_out = api.patch(
        inside.headers["location"],
        json={"type": "Feature", "geometry": {"type": "Point", "coordinates": IN_EAST}},
        headers={**malang, "If-Match": inside.headers["etag"]},
    )

    assert outside.status_code == 403 and "35.08.01.2001" in outside.json()["detail"]
    assert inside.status_code == 201
    assert moved_out.status_code == 403
    assert api.get(inside.headers["location"]).json()["properties"]["village_code"] == WEST
    assert destinations(engine) == 1


def test_an_update_needs_the_version_it_was_made_against(api, engine):
    tourism = bearer(engine, "tourism")
    created = api.post("/collections/destination/items", json=feature(IN_WEST), headers=tourism)
    url, first_tag = created.headers["location"], created.headers["etag"]
    change = {"type": "Feature", "properties": {"description": "tinggi 84 m"}}

    without = api.patch(url, json=change, headers=tourism)
    updated = api.patch(url, json=change, headers={**tourism, "If-Match": first_tag})
    stale = api.patch(url, json=change, headers={**tourism, "If-Match": first_tag})

    assert without.status_code == 428 and without.json()["code"] == "precondition_required"
    assert updated.status_code == 200, updated.text
    assert updated.json()["properties"]["description"] == "tinggi 84 m"
    assert updated.json()["properties"]["name"] == "Coban Sampel"  # kept: a partial update
    assert updated.headers["etag"].endswith('-v2"')
    assert stale.status_code == 412 and stale.json()["code"] == "stale_edit"


def test_a_move_relinks_and_a_replace_clears_what_it_does_not_give(api, engine):
    tourism = bearer(engine, "tourism")
    created = api.post(
        "/collections/destination/items", json=feature(IN_WEST, description="air"), headers=tourism
    )
    url = created.headers["location"]

    replaced = api.put(
        url, json=feature(ALSO_IN_WEST), headers={**tourism, "If-Match": created.headers["etag"]}
    )

    assert replaced.status_code == 200, replaced.text
    properties = replaced.json()["properties"]
    assert properties["description"] is None and properties["version"] == 2
    assert replaced.json()["geometry"]["coordinates"] == pytest.approx(ALSO_IN_WEST)


def test_an_invalid_feature_is_refused_naming_the_field_and_nothing_written(api, engine):
    response = api.post(
        "/collections/destination/items",
        json=feature(IN_WEST, ticket_price_idr=-5),
        headers=bearer(engine, "tourism"),
    )
    assert response.status_code == 422
    [issue] = response.json()["report"]["issues"]
    assert issue["field"] == "ticket_price_idr" and "outside" in issue["reason"]
    assert destinations(engine) == 0


def test_delete_needs_the_version_and_keeps_the_feature_in_the_audit_log(api, engine):
    tourism = bearer(engine, "tourism")
    created = api.post("/collections/destination/items", json=feature(IN_WEST), headers=tourism)
    url = created.headers["location"]

    gone = api.delete(url, headers={**tourism, "If-Match": created.headers["etag"]})

    assert gone.status_code == 204
    assert api.get(url).status_code == 404
    with transaction(engine) as session:
        last = session.execute(select(AuditEntry).order_by(AuditEntry.id.desc())).scalars().first()
        assert last.action == "delete" and last.after is None
        assert json.loads(last.before)["properties"]["village_code"] == WEST


def test_boundaries_are_not_written_through_the_api(api, engine):
    response = api.post(
        "/collections/village/items", json=feature(IN_WEST), headers=bearer(engine, "admin")
    )
    assert response.status_code == 405 and response.json()["code"] == "not_writable"


def test_keys_are_made_and_revoked_from_the_command_line(database_url, engine):
    runner = CliRunner()
    made = runner.invoke(
        cli,
        [
            "--database",
            database_url,
            "keys",
            "create",
            "--role",
            "tourism",
            "--regency",
            "35.07",
            "--json",
        ],
    )
    record = json.loads(made.output)
    revoked = runner.invoke(cli, ["--database", database_url, "keys", "revoke", record["prefix"]])
    unknown = runner.invoke(cli, ["--database", database_url, "keys", "create", "--role", "mayor"])

    assert made.exit_code == 0 and len(record["key"]) >= 40
    # the marker keeps a key (and so its prefix) from starting with "-", an option to the CLI
    assert record["key"].startswith("pd_") and record["prefix"] == record["key"][:11]
    assert (record["role"], record["regency"]) == ("tourism", "35.07")
    assert revoked.exit_code == 0 and "revoked" in revoked.output
    assert unknown.exit_code == 1 and "role 'mayor' is not one of" in unknown.output


# PostGIS, the shared system of record, is where writers meet. Two writers at once on one
# GeoPackage file were seen to fail ("no such table" from SQLite): not yet understood, noted.
@pytest.mark.parametrize("backend", ["postgis"], indirect=True)
def test_two_concurrent_updates_of_one_version_one_wins_and_nothing_is_lost(api, engine):
    created = api.post(
        "/collections/destination/items", json=feature(IN_WEST), headers=bearer(engine, "tourism")
    ).json()
    caller, start = Caller(None, "tourism", None), Barrier(2)

    def write(description):
        start.wait()
        try:
            edits.replace(
                engine, caller, "destination", created["id"], 1,
                {"description": description}, None, partial=True,
            )  # fmt: skip
            return "written"
        except edits.StaleEdit:
            return "stale"

    with ThreadPoolExecutor(2) as pool:
        outcomes = sorted(pool.map(write, ["first", "second"]))

    assert outcomes == ["stale", "written"]
    now = api.get(f"/collections/destination/items/{created['id']}").json()["properties"]
    assert now["version"] == 2 and now["description"] in ("first", "second")
    with transaction(engine) as session:
        actions = session.execute(select(AuditEntry.action).order_by(AuditEntry.id)).scalars()
        assert list(actions) == ["create", "update"]


def test_an_admin_reads_the_log_and_reverts_an_update_and_a_delete(api, engine):
    tourism, admin = bearer(engine, "tourism"), bearer(engine, "admin")
    created = api.post("/collections/destination/items", json=feature(IN_WEST), headers=tourism)
    url = created.headers["location"]
    api.patch(
        url,
        json={"type": "Feature", "properties": {"name": "Coban Diganti"}},
        headers={**tourism, "If-Match": created.headers["etag"]},
    )

    denied = api.get("/audit", headers=tourism)
    log = api.get("/audit", params={"collection": "destination"}, headers=admin).json()["entries"]
    update = log[0]
    reverted = api.post(f"/audit/{update['id']}/revert", headers=admin)
    again = api.post(f"/audit/{update['id']}/revert", headers=admin)

    assert denied.status_code == 403
    assert [e["action"] for e in log] == ["update", "create"]
    assert (update["before"]["properties"]["name"], update["after"]["properties"]["name"]) == (
        "Coban Sampel", "Coban Diganti",
    )  # fmt: skip
    assert reverted.status_code == 200, reverted.text
    now = api.get(url).json()["properties"]
    assert (now["name"], now["version"], now["village_code"]) == ("Coban Sampel", 3, WEST)
    assert again.status_code == 412  # the feature changed since (by the revert itself)

    tag = api.get(url).headers["etag"]
    api.delete(url, headers={**tourism, "If-Match": tag})
    deleted = api.get("/audit", headers=admin).json()["entries"][0]
    back = api.post(f"/audit/{deleted['id']}/revert", headers=admin)
    assert back.status_code == 200 and api.get(url).json()["properties"]["name"] == "Coban Sampel"
    assert api.get("/audit", headers=admin).json()["entries"][0]["action"] == "revert"


def test_a_write_makes_new_tiles(api, engine):
    t = TMS.tile(IN_WEST[0], IN_WEST[1], 14)
    url = f"/collections/destination/tiles/WebMercatorQuad/14/{t.y}/{t.x}"
    before = api.get(url)
    created = api.post(
        "/collections/destination/items", json=feature(IN_WEST), headers=bearer(engine, "tourism")
    )
    after = api.get(url, headers={"If-None-Match": before.headers["etag"]})

    assert before.status_code == 204 and created.status_code == 201
    assert after.status_code == 200 and after.headers["etag"] != before.headers["etag"]
    [one] = mapbox_vector_tile.decode(after.content)["destination"]["features"]
    assert one["properties"]["id"] == created.json()["id"]


def test_review_cases_are_problems_not_errors(api, engine):
    tourism = bearer(engine, "tourism")
    created = api.post("/collections/destination/items", json=feature(IN_WEST), headers=tourism)
    url = created.headers["location"]

    nested = api.post(
        "/collections/destination/items", json=feature(IN_WEST, photo_links=["a.jpg"]),
        headers=tourism,
    )  # fmt: skip
    planner_put = api.put(url, json=feature(IN_WEST), headers=bearer(engine, "planner"))
    huge = api.get("/collections/destination/items/99999999999999999999")
    far = api.get("/collections/destination/items", params={"offset": 10**20})
    weak = api.patch(
        url, json={"type": "Feature", "properties": {"contact": "0341"}},
        headers={**tourism, "If-Match": "W/" + created.headers["etag"]},
    )  # fmt: skip
    kept = api.get(url).json()["properties"]

    assert nested.status_code == 400 and "photo_links" in nested.json()["detail"]
    assert planner_put.status_code == 403  # the role first, before any precondition
    assert huge.status_code == 404 and far.status_code == 400
    assert weak.status_code == 200  # a proxy's W/ does not make the write stale
    assert kept["source_id"] == created.json()["properties"]["source_id"]
    with pytest.raises(KeyProblem, match="an admin key is the registry's whole"):
        create_key(engine, "admin", regency="35.07")


@pytest.mark.parametrize(
    "cql",
    [
        "1 < 'a'",
        "5 BETWEEN 1 AND 10",
        "name = 5",
        "ticket_price_idr > 'abc'",
        "name LIKE 'ab\\'",
        "ticket_price_idr LIKE '1%'",
        "S_INTERSECTS(geometry, POLYGON((0 0, 1 1, 0 0)))",
    ],
)
def test_filters_of_the_wrong_type_are_400(api, cql):
    response = api.get("/collections/destination/items", params={"filter": cql})
    assert response.status_code == 400, response.text
    assert response.json()["code"] == "invalid_filter"


def test_a_deleted_features_id_is_not_given_again(api, engine):
    tourism = bearer(engine, "tourism")
    first = api.post("/collections/destination/items", json=feature(IN_WEST), headers=tourism)
    api.delete(first.headers["location"], headers={**tourism, "If-Match": first.headers["etag"]})
    second = api.post("/collections/destination/items", json=feature(ALSO_IN_WEST), headers=tourism)
    assert second.json()["id"] != first.json()["id"]


def test_a_file_is_imported_through_the_api_with_the_same_report(api, engine, tmp_path):
    planner, scoped = bearer(engine, "planner"), bearer(engine, "planner", regency="35.07")
    towers = (
        "name,lat,lon,technologies,height_m\n"
        f"BTS A,{IN_WEST[1]},{IN_WEST[0]},4G,30\n"
        f"BTS B,{IN_EAST[1]},{IN_EAST[0]},2G/4G,45\n"
    )
    bad = towers + f"BTS C,{IN_WEST[1]},{IN_WEST[0]},6G,30\n"

    done = api.post(
        "/collections/tower/import", files={"file": ("towers.csv", towers)}, headers=planner
    )
    refused = api.post(
        "/collections/tower/import", files={"file": ("more.csv", bad)}, headers=planner
    )
    by_scoped = api.post(
        "/collections/tower/import", files={"file": ("towers.csv", towers)}, headers=scoped
    )
    by_tourism = api.post(
        "/collections/tower/import", files={"file": ("towers.csv", towers)},
        headers=bearer(engine, "tourism"),
    )  # fmt: skip

    assert done.status_code == 200, done.text
    report = done.json()
    assert (report["inserted"], report["link"]["layers"]["tower"]["linked"]) == (2, 2)
    assert refused.status_code == 422
    errors = [i for i in refused.json()["report"]["issues"] if i["severity"] == "error"]
    assert [(i["field"], "6G" in i["reason"]) for i in errors] == [("technologies", True)]
    assert by_scoped.status_code == 403 and by_tourism.status_code == 403
    log = api.get("/audit", headers=bearer(engine, "admin")).json()["entries"]
    assert [(e["action"], e["after"]["file"]) for e in log] == [("import", "towers.csv")]


def test_a_page_shows_text_from_the_registry_as_text(api, engine):
    created = api.post(
        "/collections/destination/items",
        json=feature(IN_WEST, name="<script>alert(1)</script>"),
        headers=bearer(engine, "tourism"),
    )
    page = api.get(created.headers["location"], params={"f": "html"})
    assert "<script>alert(1)</script>" not in page.text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page.text


def test_boundaries_change_by_a_file_an_admin_imports(api, engine):
    renamed = {
        "type": "FeatureCollection",
        "features": [
            {
                "type": "Feature",
                "geometry": api.get(f"/collections/village/items/{WEST}").json()["geometry"],
                "properties": {"kode": WEST, "nama": "Tulungrejo Baru"},
            }
        ],
    }
    upload = {"file": ("desa.geojson", json.dumps(renamed))}

    by_planner = api.post(
        "/collections/village/import", files=upload, headers=bearer(engine, "planner")
    )
    imported = api.post(
        "/collections/village/import", files=upload, headers=bearer(engine, "admin")
    )
    edited = api.patch(
        f"/collections/village/items/{WEST}",
        json={"type": "Feature", "properties": {"name": "x"}},
        headers={**bearer(engine, "admin"), "If-Match": '"village-1-v1"'},
    )

    assert by_planner.status_code == 403 and by_planner.json()["code"] == "forbidden"
    assert imported.status_code == 200, imported.text
    assert imported.json()["updated"] == 1
    village = api.get(f"/collections/village/items/{WEST}").json()
    assert village["properties"]["name"] == "Tulungrejo Baru"
    assert edited.status_code == 405
    assert "POST /collections/village/import" in edited.json()["detail"]
    log = api.get("/audit", headers=bearer(engine, "admin")).json()["entries"]
    assert [(e["collection"], e["action"], e["after"]["file"]) for e in log] == [
        ("village", "import", "desa.geojson")
    ]
