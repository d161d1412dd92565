"""The petadesa command: the main job, exit codes and plain errors, on both backends."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cli.main import EXIT_DATABASE, EXIT_REFUSED, app
from geo.ingest.boundaries import count_areas

runner = CliRunner()


@pytest.fixture(autouse=True)
def isolated_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No test reads or writes the user's boundary cache or reaches the network."""
    monkeypatch.setenv("PETADESA_BOUNDARY_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("PETADESA_BOUNDARY_BASE_URL", "http://127.0.0.1:9/")
    monkeypatch.delenv("PETADESA_DATA_DIR", raising=False)
    monkeypatch.delenv("PETADESA_DATABASE_URL", raising=False)


def invoke(database_url: str, *args: str):
    return runner.invoke(app, ["--database", database_url, *args], catch_exceptions=False)


def test_quickstart_builds_kab_malang(database_url, engine, shared_data, tmp_path):
    maps_dir = tmp_path / "maps"
    result = invoke(
        database_url,
        "quickstart",
        "--data-dir",
        str(shared_data),
        "--maps-dir",
        str(maps_dir),
        "--json",
    )
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["sample_region"] is False
    summary = data["summary"]
    assert {level: row["count"] for level, row in summary["areas"].items()} == {
        "province": 1,
        "regency": 1,
        "district": 33,
        "village": 390,
    }
    assert summary["villages_by_kind"] == {"desa": 378, "kelurahan": 12}
    assert summary["areas"]["village"]["area_km2"] == pytest.approx(3473.3, abs=1.0)
    assert summary["areas"]["district"]["derived"] == 33
    layers = summary["layers"]
    assert layers["destination"] == {"count": 9, "linked": 9, "unlinked": 0, "sample": 0}
    assert layers["facility"]["count"] == 50
    assert layers["facility"]["sample"] == 0
    assert layers["tower"]["sample"] == layers["tower"]["count"] == 156
    assert layers["product_site"]["sample"] == 234
    assert summary["villages_without"]["destination"] == 390 - _villages_with_destination(engine)
    assert data["maps"] == {
        lang: str((maps_dir / f"registry-35.07-{lang}.html").resolve()) for lang in ("id", "en")
    }
    for path in data["maps"].values():
        village_ids = re.findall(r'"id": ?"(35\.07\.\d\d\.\d{4})"', Path(path).read_text())
        assert len(set(village_ids)) == 390
    assert (maps_dir / "assets").is_dir()
    analysis = data["coverage"]  # on SAMPLE terrain and population, and says so
    assert (analysis["sample"], analysis["scope"], analysis["villages"]) == (True, "35.07", 390)
    assert sum(analysis["classes"].values()) == 390
    assert analysis["towers_modelled"] + analysis["towers_skipped"].get("planned", 0) == 156
    assert len(analysis["blank_spot_villages"]) == analysis["classes"].get("blank spot", 0)
    assert analysis["population_uncovered"] > 0
    # the second run changes nothing
    again = json.loads(
        invoke(
            database_url,
            "quickstart",
            "--data-dir",
            str(shared_data),
            "--maps-dir",
            str(maps_dir),
            "--json",
        ).output
    )
    assert [(r["target"], r["inserted"], r["updated"]) for r in again["imports"]] == [
        (r["target"], 0, 0) for r in again["imports"]
    ]


def _villages_with_destination(engine) -> int:
    from sqlalchemy import func, select

    from geo.store.db import transaction
    from geo.store.models import Destination

    with transaction(engine) as session:
        return session.scalar(select(func.count(func.distinct(Destination.village_code))))


def test_quickstart_without_network_or_mirror_uses_the_sample_region(
    database_url, engine, tmp_path
):
    result = invoke(
        database_url,
        "quickstart",
        "--data-dir",
        "/nonexistent",
        "--maps-dir",
        str(tmp_path / "maps"),
        "--json",
    )
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["sample_region"] is True
    assert data["regency"] == "99.01"
    assert any(
        "real boundaries unavailable" in note and "127.0.0.1:9" in note for note in data["notes"]
    )
    assert count_areas(engine) == {"province": 1, "regency": 1, "district": 4, "village": 40}
    assert all(row["count"] == row["sample"] for row in data["summary"]["layers"].values())
    assert data["summary"]["layers"]["tower"]["count"] == 16
    assert (data["coverage"]["scope"], data["coverage"]["villages"]) == ("99.01", 40)
    assert data["coverage"]["sample"] is True


def test_refused_import_exits_1_and_writes_nothing(database_url, engine, tmp_path):
    bad = tmp_path / "bad.geojson"
    bad.write_text(
        '{"type": "FeatureCollection", "features": [{"type": "Feature", "properties": '
        '{"kode": "35.07.01.2001", "nama": "X"}, "geometry": {"type": "Polygon", '
        '"coordinates": [[[-8.0, 112.0], [-8.0, 112.1], [-8.1, 112.1], [-8.0, 112.0]]]}}]}'
    )
    result = invoke(database_url, "boundaries", "import", str(bad))
    assert result.exit_code == EXIT_REFUSED
    assert "swapped order" in result.output
    assert "Traceback" not in result.output
    assert count_areas(engine) == {"province": 0, "regency": 0, "district": 0, "village": 0}


def test_import_report_as_json_lists_refused_features(database_url, engine, tmp_path):
    csv = tmp_path / "towers.csv"
    csv.write_text("id,nama,lat,lon,teknologi,tinggi\n1,A,-8.0,112.6,4G,40\n2,B,-8.0,112.6,6G,40\n")
    result = invoke(database_url, "assets", "import", "tower", str(csv), "--json")
    assert result.exit_code == EXIT_REFUSED
    data = json.loads(result.output)
    assert data["error"] == "import_rejected"
    errors = [i for i in data["report"]["issues"] if i["severity"] == "error"]
    assert [(e["index"], e["field"]) for e in errors] == [(1, "teknologi")]
    assert "6G" in errors[0]["reason"]


def test_unknown_layer_and_bad_database_are_plain_errors(database_url, tmp_path):
    result = invoke(database_url, "assets", "import", "bridge", str(tmp_path / "x.geojson"))
    assert result.exit_code == EXIT_REFUSED
    assert "unknown layer 'bridge'" in result.output
    result = runner.invoke(app, ["--database", "mysql://x@y/z", "summary"])
    assert result.exit_code == EXIT_DATABASE
    assert "unsupported database 'mysql'" in result.output
    result = runner.invoke(app, ["--database", f"gpkg:///{tmp_path}/missing/dir/x.gpkg", "summary"])
    assert result.exit_code == EXIT_DATABASE
    assert "does not exist" in result.output


def test_help_explains_every_command():
    result = runner.invoke(app, ["--help"])
    assert result.exit_code == 0
    for command in ("init", "quickstart", "codes", "boundaries", "assets", "link", "summary"):
        assert command in result.output
    assert "Exit codes" in result.output


def test_step_by_step_commands(database_url, engine, shared_data, tmp_path):
    codes = invoke(
        database_url,
        "codes",
        "import",
        str(shared_data / "cahyadsn_wilayah" / "kode_wilayah.csv"),
        "--prefix",
        "35.79",
        "--json",
    )
    assert codes.exit_code == 0, codes.output
    assert (
        json.loads(codes.output)["inserted"] == 1 + 3 + 24
    )  # Kota Batu, its kecamatan, its villages
    mirror = shared_data / "cahyadsn_wilayah_boundaries" / "raw"
    missing = invoke(database_url, "boundaries", "fetch", "35.79", "--mirror", str(mirror))
    assert missing.exit_code == 3  # no Kota Batu file in the mirror and no network
    assert "could not reach" in missing.output
    boundaries = invoke(
        database_url,
        "boundaries",
        "import",
        str(shared_data / "cahyadsn_wilayah_boundaries" / "desa_3579_kota_batu.geojson"),
    )
    assert boundaries.exit_code == 0, boundaries.output
    assert count_areas(engine) == {"province": 1, "regency": 1, "district": 3, "village": 24}
    assert (
        "parent areas dissolved from their children: 1 province, 1 regency, 3 districts"
        in " ".join(boundaries.output.split())
    )
    census = shared_data / "podes2024_kota_batu" / "podes2024_3579_desa_telekom_produk.csv"
    offices = invoke(
        database_url,
        "assets",
        "import",
        "facility",
        str(census),
        "--set",
        "facility_type=village_office",
        "--lat-field",
        "kantor_desa_lat",
        "--lon-field",
        "kantor_desa_lon",
        "--json",
    )
    assert offices.exit_code == 0, offices.output
    report = json.loads(offices.output)
    assert (report["inserted"], report["link"]["layers"]["facility"]["linked"]) == (24, 24)
    assert report["link"]["mismatched"] == []
    relink = json.loads(invoke(database_url, "link", "--layer", "facility", "--json").output)
    assert relink["layers"]["facility"] == {
        "total": 24,
        "linked": 24,
        "changed": 0,
        "unlinked": 0,
        "mismatched": 0,
    }
    output = tmp_path / "batu.html"
    drawn = invoke(
        database_url, "map", "registry", "--regency", "35.79", "-o", str(output), "--inline"
    )
    assert drawn.exit_code == 0, drawn.output
    assert len(set(re.findall(r'"id": ?"(35\.79\.\d\d\.\d{4})"', output.read_text()))) == 24
    assert not (tmp_path / "assets").exists()
    summary = json.loads(invoke(database_url, "summary", "--regency", "35.79", "--json").output)
    assert summary["areas"]["village"]["count"] == 24
    assert summary["layers"]["facility"] == {"count": 24, "linked": 24, "unlinked": 0, "sample": 0}


def test_fetch_from_the_mirror_imports_kab_malang(database_url, engine, shared_data):
    invoke(
        database_url,
        "codes",
        "import",
        str(shared_data / "cahyadsn_wilayah" / "kode_wilayah.csv"),
        "--prefix",
        "35.07",
    )
    mirror = shared_data / "cahyadsn_wilayah_boundaries" / "raw"
    result = invoke(database_url, "boundaries", "fetch", "35.07", "--mirror", str(mirror), "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert (data["fetched"]["origin"], data["fetched"]["verified"]) == ("mirror", True)
    report = data["report"]
    assert (report["read"], report["inserted"], report["derived"]) == (
        390,
        390,
        {"province": 1, "regency": 1, "district": 33},
    )
    assert count_areas(engine) == {"province": 1, "regency": 1, "district": 33, "village": 390}
