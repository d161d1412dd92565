"""QGIS itself, headless, as an OGC API Features client of the real server, on both backends.

Debian's ``python3-qgis qgis-providers`` (``scripts/bootstrap.sh``) are bindings for Debian's
own ``/usr/bin/python3``, not the venv's interpreter, so QGIS runs in a script of its own
(``QT_QPA_PLATFORM=offscreen``, a throwaway HOME and XDG directories so that no profile or
network cache lands in the real ones) and prints what it read as JSON: the ``OAPIF``
provider's village layer read whole a page of 100 at a time, a read restricted to a box (sent
to the server as ``bbox``), a read through a subset string, every other collection, every URL
QGIS asked for with the status it got, and what QGIS wrote to its message log.
"""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

import shapely

from geo import features

DEBIAN_PYTHON = "/usr/bin/python3"
VILLAGES = 390
PAGE = 100
BOX = (112.60, -8.10, 112.70, -8.00)
MISSING = "bridge"  # not a collection: QGIS must refuse the layer
WARNING, CRITICAL = 1, 2  # Qgis.MessageLevel

QGIS_CLIENT = r"""
import json
import sys

from qgis.core import (
    Qgis,
    QgsApplication,
    QgsFeatureRequest,
    QgsNetworkAccessManager,
    QgsRectangle,
    QgsVectorLayer,
    QgsWkbTypes,
)
from qgis.PyQt.QtNetwork import QNetworkRequest

base, page, box, missing = sys.argv[1], sys.argv[2], json.loads(sys.argv[3]), sys.argv[4]
others = sys.argv[5:]
app = QgsApplication([], False)
messages, asked, answered = [], [], []
QgsApplication.messageLog().messageReceived.connect(
    lambda message, tag, level: messages.append(
        {"tag": tag, "level": int(level), "message": message}
    )
)
app.initQgis()
# Called in the thread making the request (QGIS downloads features in a thread of its own).
QgsNetworkAccessManager.setRequestPreprocessor(
    lambda request: asked.append(request.url().toString())
)
QgsNetworkAccessManager.instance().finished.connect(
    lambda reply: answered.append(
        [
            reply.request().url().toString(),
            reply.attribute(QNetworkRequest.HttpStatusCodeAttribute),
            int(reply.error()),
        ]
    )
)


def layer(typename, **options):
    uri = f"url='{base}' typename='{typename}' pageSize={page}"
    uri += "".join(f" {key}='{value}'" for key, value in options.items())
    return QgsVectorLayer(uri, typename, "OAPIF")


def read(name, make):
    # The URLs asked for while reading, and the codes of the features read.
    first = len(asked)
    found = list(make())
    out[name] = sorted(f["code"] for f in found)
    out[name + "_urls"] = asked[first:]
    return found


def box_of(bounds):
    return [bounds.xMinimum(), bounds.yMinimum(), bounds.xMaximum(), bounds.yMaximum()]


out = {"version": Qgis.QGIS_VERSION}
villages = layer("village")
out["valid"] = villages.isValid()
if villages.isValid():
    found = read("codes", villages.getFeatures)
    out.update(
        provider_count=villages.featureCount(),
        bounds={f["code"]: box_of(f.geometry().boundingBox()) for f in found if f.hasGeometry()},
        geometry_types=sorted({QgsWkbTypes.displayString(f.geometry().wkbType()) for f in found}),
        wkb_type=QgsWkbTypes.displayString(villages.wkbType()),
        fields=villages.fields().names(),
        field_types={f.name(): f.typeName() for f in villages.fields()},
        crs=villages.crs().authid(),
        extent=box_of(villages.extent()),
    )
    # Sent as bbox only when the layer is restricted to the request's box (QGIS's option
    # "only request features overlapping the view extent"); else QGIS filters what it has.
    in_box = layer("village", restrictToRequestBBOX=1)
    rect = QgsRectangle(*box)
    exact = QgsFeatureRequest().setFilterRect(rect).setFlags(QgsFeatureRequest.ExactIntersect)
    read("in_box", lambda: in_box.getFeatures(exact))
    subset = layer("village")
    out["subset_set"] = subset.setSubsetString("\"kind\" = 'kelurahan'")
    read("kelurahan", subset.getFeatures)
    # A filter on a day field: QGIS 3.22 sends it to the server as datetime, open end 0000.
    routes = layer("fibre_route")
    out["routes_subset_set"] = routes.setSubsetString("\"commissioned_on\" <= '2030-01-01'")
    first = len(asked)
    out["routes_dated"] = sorted(f["id"] for f in routes.getFeatures())
    out["routes_dated_urls"] = asked[first:]
    del in_box, subset, routes
others_read = {}
for name in others:
    other = layer(name)
    others_read[name] = {
        "valid": other.isValid(),
        "count": other.featureCount() if other.isValid() else None,
        "wkb_type": QgsWkbTypes.displayString(other.wkbType()) if other.isValid() else None,
    }
    del other
out["others"] = others_read
out["missing_valid"] = layer(missing).isValid()
for _ in range(100):  # deliver the replies' finished signals queued from the download threads
    app.processEvents()
out.update(asked=asked, answered=answered, messages=messages)
print("QGIS-JSON " + json.dumps(out), flush=True)
del villages
app.exitQgis()
"""


def run_qgis(base: str, home: Path, others: list[str]) -> dict:
    """The QGIS client above against ``base``, in Debian's Python; what it printed."""
    for sub in ("config", "data", "cache", "runtime"):
        (home / sub).mkdir(parents=True, exist_ok=True)
    (home / "runtime").chmod(0o700)
    env = {  # nothing of ours (venv, proxies, PETADESA_*): QGIS as a user's machine runs it
        "PATH": "/usr/bin:/bin",
        "LANG": "C.UTF-8",
        "HOME": str(home),
        "XDG_CONFIG_HOME": str(home / "config"),
        "XDG_DATA_HOME": str(home / "data"),
        "XDG_CACHE_HOME": str(home / "cache"),
        "XDG_RUNTIME_DIR": str(home / "runtime"),
        "QT_QPA_PLATFORM": "offscreen",
    }
    try:
        probe = subprocess.run(
            [DEBIAN_PYTHON, "-c", "import qgis.core"], env=env, capture_output=True, text=True
        )
    except FileNotFoundError:
        probe = None
    if probe is None or probe.returncode != 0:
        pytest.fail(
            f"{DEBIAN_PYTHON} cannot import qgis.core: run scripts/bootstrap.sh "
            "(it installs Debian's python3-qgis qgis-providers)\n"
            + (probe.stderr if probe else f"{DEBIAN_PYTHON} not found")
        )
    done = subprocess.run(
        [DEBIAN_PYTHON, "-c", QGIS_CLIENT, base, str(PAGE), json.dumps(BOX), MISSING, *others],
        env=env,
        cwd=home,
        capture_output=True,
        text=True,
        timeout=300,
    )
    lines = [line for line in done.stdout.splitlines() if line.startswith("QGIS-JSON ")]
    assert done.returncode == 0 and lines, (done.returncode, done.stdout, done.stderr)
    return json.loads(lines[-1].removeprefix("QGIS-JSON "))


def _items_query(urls: list[str], collection: str) -> list[dict[str, list[str]]]:
    """The query of each items request among ``urls`` but QGIS's first look (limit=10)."""
    return [
        parse_qs(urlsplit(url).query)
        for url in urls
        if urlsplit(url).path == f"/collections/{collection}/items"
        and parse_qs(urlsplit(url).query).get("limit") != ["10"]
    ]


@pytest.mark.slow
def test_qgis_reads_every_village_as_an_ogc_api_features_client(
    served, registry_villages, tmp_path
):
    others = [name for name in features.COLLECTIONS if name != "village"]
    started = time.monotonic()
    got = run_qgis(served, tmp_path / "home", others)
    took = time.monotonic() - started
    with httpx.Client(base_url=served, timeout=30) as http:
        first = http.get("/collections/village/items", params={"limit": 1}).json()
        matched = {
            name: http.get(f"/collections/{name}/items", params={"limit": 1}).json()[
                "numberMatched"
            ]
            for name in others
        }
    villages = registry_villages.set_index("code")

    # Every village, once, with its properties and its geometry where the registry has it.
    assert got["valid"], got["messages"]
    assert got["provider_count"] == len(got["codes"]) == VILLAGES
    assert got["codes"] == sorted(villages.index)
    assert got["fields"] == list(first["features"][0]["properties"])
    assert {"code", "name"} <= set(got["fields"])
    types = got["field_types"]
    assert (types["code"], types["name"], types["area_km2"]) == ("String", "String", "Real")
    assert got["wkb_type"] == "MultiPolygon" and got["geometry_types"] == ["MultiPolygon"]
    assert got["bounds"].keys() == set(villages.index)
    for code, box in got["bounds"].items():  # longitude first: CRS84 read the right way round
        assert box == pytest.approx(list(villages.loc[code, "geometry"].bounds), abs=1e-7), code
    assert got["crs"] == "EPSG:4326"  # QGIS's name for the CRS84 it reads (x = longitude)
    west, south, east, north = registry_villages.total_bounds
    assert got["extent"] == pytest.approx([west, south, east, north], abs=1e-4)  # R*Tree: float32

    # Read a page of 100 at a time, following the next links to the end.
    pages = _items_query(got["codes_urls"], "village")
    assert [p.get("offset", ["0"]) for p in pages] == [["0"], ["100"], ["200"], ["300"]]
    assert all(p["limit"] == [str(PAGE)] and p.keys() <= {"limit", "offset"} for p in pages)

    # A box: sent to the server as bbox, and the villages it touches come back.
    touching = registry_villages[registry_villages.intersects(shapely.box(*BOX))]["code"]
    assert got["in_box"] == sorted(touching) and 0 < len(touching) < VILLAGES
    boxed = _items_query(got["in_box_urls"], "village")
    assert len(boxed) == 1 and boxed[0]["limit"] == [str(PAGE)]
    assert [float(v) for v in boxed[0]["bbox"][0].split(",")] == pytest.approx(BOX)

    # A subset string (QGIS 3.22 evaluates it itself, over every page it reads).
    kelurahan = registry_villages[registry_villages["kind"] == "kelurahan"]["code"]
    assert got["subset_set"] and got["kelurahan"] == sorted(kelurahan) and len(kelurahan) > 0

    # A filter on the routes' day, answered by the server (QGIS trusts it and filters no more).
    with httpx.Client(base_url=served, timeout=30) as http:
        routes = http.get("/collections/fibre_route/items", params={"limit": 1000}).json()
    dated = sorted(f["id"] for f in routes["features"] if f["properties"]["commissioned_on"])
    assert got["routes_subset_set"] and got["routes_dated"] == dated and dated
    sent = _items_query(got["routes_dated_urls"], "fibre_route")
    assert [q["datetime"] for q in sent] == [["0000-01-01T00:00:00Z/2030-01-01"]]

    # Every other collection opens, with the count the server gives and its geometry type;
    # an empty one has no first page for QGIS to learn fields and geometry from.
    for name in others:
        seen = got["others"][name]
        assert seen["valid"] and seen["count"] == matched[name], (name, seen)
        want = features.COLLECTIONS[name].geometry_type if matched[name] else "NoGeometry"
        assert seen["wkb_type"] == want, (name, seen)
    assert not got["missing_valid"]

    # Every answer a success (or a 304 for what QGIS had cached), but the missing collection's.
    missing = f"{served}/collections/{MISSING}"
    assert {url for url, status, _ in got["answered"] if status not in (200, 304)} == {missing}
    assert len(got["answered"]) == len(got["asked"])
    # And nothing in QGIS's log worse than information, but the missing collection's.
    bad = [m for m in got["messages"] if m["level"] in (WARNING, CRITICAL)]
    assert [(m["tag"], m["message"]) for m in bad] == [
        (
            "OAPIF",
            f"Download of collection description failed: Error transferring {missing}"
            " - server replied: Not Found",
        )
    ], got["messages"]
    print(f"QGIS {got['version']} read it all in {took:.1f} s")
