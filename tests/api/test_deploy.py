"""The scale-out path: the Dockerfile, compose.yaml and stateless replicas over one PostGIS.

No Docker engine runs here, so the images are not built; what is checked is what would break
them (files the Dockerfile copies, the package data an installed image needs, settings the
compose file names) and, for real, what the replicas do: two servers over one PostGIS see each
other's writes at once, tiles and counts included.
"""

from __future__ import annotations

import re
import subprocess
import sys
import zipfile
from pathlib import Path

import httpx
import mapbox_vector_tile
import morecantile
import pytest
import yaml

from api.server import MAX_REQUEST_HEAD_BYTES
from api.settings import ApiSettings
from geo.keys import create_key
from geo.settings import DatabaseSettings
from tests.api.test_server import _wait_until_up, start_server, stop_server
from tests.api.test_writes import IN_WEST, WEST, feature
from tests.geo.test_coverage_scale import two_regencies

REPO = Path(__file__).resolve().parents[2]
TMS = morecantile.tms.get("WebMercatorQuad")


def _dockerfile() -> str:
    return (REPO / "Dockerfile").read_text()


def test_the_dockerfile_copies_files_the_repository_has():
    copies = re.findall(r"^COPY (?!--from)(.+)$", _dockerfile(), flags=re.MULTILINE)
    sources = [source for line in copies for source in line.split()[:-1]]

    assert sources == ["package.json", "package-lock.json", "pyproject.toml", "README.md"] + [
        "geo", "maps", "api", "cli",
    ]  # fmt: skip
    assert all((REPO / source).exists() for source in sources)
    assert re.search(r'^CMD \["petadesa", "serve"\]$', _dockerfile(), flags=re.MULTILINE)
    ignored = (REPO / ".dockerignore").read_text().split()
    assert {".venv", "node_modules", ".git", "*.gpkg"} <= set(ignored)


def test_the_dockerfile_sets_only_settings_that_exist():
    named = set(re.findall(r"\b(PETADESA_[A-Z_]+)=", _dockerfile()))

    assert named == {
        "PETADESA_MAP_NODE_MODULES", "PETADESA_API_HOST", "PETADESA_API_PORT",
        "PETADESA_DATABASE_URL",  # in the usage comment
    }  # fmt: skip
    assert named <= _api_variables() | _database_variables() | {"PETADESA_MAP_NODE_MODULES"}


@pytest.mark.slow
def test_the_installed_package_has_its_migrations_and_templates(tmp_path):
    # What `pip install .` in the image installs: not the source tree, the wheel.
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
         "-w", str(tmp_path), str(REPO)],
        check=True, capture_output=True, timeout=300,
    )  # fmt: skip
    [wheel] = tmp_path.glob("petadesa-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())

    migrations = sorted(p.name for p in (REPO / "geo/store/migrations/versions").glob("0*.py"))
    assert {f"geo/store/migrations/versions/{name}" for name in migrations} <= names
    assert {"geo/store/migrations/env.py", "geo/store/migrations/script.py.mako"} <= names
    assert "api/templates/page.html" in names
    assert not any(name.startswith(("tests/", "bench/", "notebooks/")) for name in names)


def test_compose_migrates_once_then_starts_the_replicas_behind_nginx():
    compose = yaml.safe_load((REPO / "compose.yaml").read_text())
    services = compose["services"]

    assert set(services) == {"db", "init", "api", "proxy"}
    assert services["init"]["command"] == ["petadesa", "init"]
    assert services["api"]["command"] == ["petadesa", "serve"]
    assert services["api"]["depends_on"] == {
        "init": {"condition": "service_completed_successfully"}
    }
    assert services["init"]["depends_on"] == {"db": {"condition": "service_healthy"}}
    assert services["api"]["deploy"]["replicas"] == "${PETADESA_REPLICAS:-2}"
    assert "ports" not in services["api"]  # replicas share no host port: nginx has it
    environment = services["api"]["environment"]
    assert environment == services["init"]["environment"]
    assert environment["PETADESA_DATABASE_URL"].endswith("@db:5432/petadesa")
    for name in environment:
        assert name in _api_variables() | _database_variables() | {"FORWARDED_ALLOW_IPS"}, name
    [mount] = services["proxy"]["volumes"]
    conf = REPO / mount.split(":")[0]
    text = conf.read_text()
    assert re.search(r"^\s*server api:8000 resolve;$", text, flags=re.MULTILINE)
    version = re.search(r"nginx:(\d+)\.(\d+)\.(\d+)", services["proxy"]["image"])
    assert tuple(map(int, version.groups())) >= (1, 27, 3)  # "resolve" in open-source nginx
    [buffers] = re.findall(r"large_client_header_buffers \d+ (\d+)k;", text)
    assert int(buffers) * 1024 >= MAX_REQUEST_HEAD_BYTES  # a long filter gets past nginx


def _api_variables() -> set[str]:
    return {f"PETADESA_API_{name.upper()}" for name in ApiSettings.model_fields}


def _database_variables() -> set[str]:
    return {f"PETADESA_{name.upper()}" for name in DatabaseSettings.model_fields}


def _tile_names(http: httpx.Client, z: int, x: int, y: int) -> list[str]:
    response = http.get(f"/collections/destination/tiles/WebMercatorQuad/{z}/{y}/{x}")
    assert response.status_code in (200, 204), response.text
    if response.status_code == 204 or not response.content:
        return []
    layers = mapbox_vector_tile.decode(response.content)
    return sorted(
        f["properties"]["name"] for f in layers.get("destination", {}).get("features", [])
    )


@pytest.mark.slow
def test_two_replicas_over_one_postgis_see_each_others_writes_at_once(postgis_engine, tmp_path):
    two_regencies(postgis_engine)
    url = postgis_engine.url.render_as_string(hide_password=False)
    key, _ = create_key(postgis_engine, "tourism")
    auth = {"Authorization": f"Bearer {key}"}
    tile = TMS.tile(*IN_WEST, 12)
    servers = [start_server(url, tmp_path, workers=1) for _ in range(2)]
    try:
        for server, base in servers:
            _wait_until_up(f"{base}/health", server)
        (_, one), (_, other) = servers
        with (
            httpx.Client(base_url=one, timeout=30) as first,
            httpx.Client(base_url=other, timeout=30) as second,
        ):
            assert _tile_names(second, tile.z, tile.x, tile.y) == []  # cached by the second
            assert second.get("/collections/destination/items").json()["numberMatched"] == 0

            created = first.post(
                "/collections/destination/items", json=feature(IN_WEST), headers=auth
            )
            assert created.status_code == 201, created.text
            path = f"/collections/destination/items/{created.json()['id']}"
            seen = second.get(path)
            assert seen.json()["properties"]["village_code"] == WEST
            assert seen.headers["etag"] == created.headers["etag"]
            assert _tile_names(second, tile.z, tile.x, tile.y) == ["Coban Sampel"]
            assert _tile_names(first, tile.z, tile.x, tile.y) == ["Coban Sampel"]  # cached too
            assert second.get("/collections/destination/items").json()["numberMatched"] == 1

            renamed = second.patch(
                path,
                json={"type": "Feature", "properties": {"name": "Coban Baru"}},
                headers={**auth, "If-Match": created.headers["etag"]},
            )
            assert renamed.status_code == 200, renamed.text
            stale = first.delete(path, headers={**auth, "If-Match": created.headers["etag"]})
            assert stale.status_code == 412
            assert _tile_names(first, tile.z, tile.x, tile.y) == ["Coban Baru"]
    finally:
        for server, _ in servers:
            stop_server(server)
