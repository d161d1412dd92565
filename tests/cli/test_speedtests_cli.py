"""``petadesa speedtests``: Ookla tiles over the registry, tests at points, both backends."""

from __future__ import annotations

import json
from pathlib import Path

import morecantile
import pyarrow as pa
import pyarrow.parquet as pq
from sqlalchemy import select
from typer.testing import CliRunner

from cli.main import EXIT_REFUSED, app
from geo import queries
from geo.store.db import transaction
from geo.store.models import SpeedTile
from tests.cli.test_census_cli import load_batu

runner = CliRunner()
TMS = morecantile.tms.get("WebMercatorQuad")


def invoke(database_url: str, *args: str):
    return runner.invoke(app, ["--database", database_url, *args], catch_exceptions=False)


def batu_tiles(engine, tmp_path: Path) -> tuple[Path, list[str]]:
    """A quarter's tiles at the label points of three Kota Batu villages, and one in Aceh."""
    with transaction(engine) as session:
        villages = queries.villages(session, regency="35.79").head(3)
    quadkeys = [
        TMS.quadkey(TMS.tile(lon, lat, 16))
        for lon, lat in zip(villages["label_lon"], villages["label_lat"], strict=True)
    ]
    aceh = TMS.quadkey(TMS.tile(95.3, 5.5, 16))
    path = tmp_path / "2025-01-01_performance_mobile_tiles.parquet"
    table = pa.table(
        {
            "quadkey": [*quadkeys, aceh],
            "tile": ["POLYGON EMPTY"] * 4,
            "avg_d_kbps": [30_000, 2_000, 200, 9_000],
            "avg_u_kbps": [9_000, 800, 50, 2_000],
            "avg_lat_ms": [20, 60, 200, 40],
            "tests": [12, 4, 2, 8],
            "devices": [6, 2, 1, 3],
        }
    )
    pq.write_table(table, path)
    return path, list(villages["code"])


def test_ookla_tiles_over_the_registry_then_what_they_say(
    database_url, engine, shared_data, tmp_path
):
    load_batu(engine, shared_data)
    path, codes = batu_tiles(engine, tmp_path)

    imported = invoke(database_url, "speedtests", "import-ookla", str(path), "--json")
    shown = invoke(database_url, "speedtests", "show", "--regency", "35.79", "--json")

    assert imported.exit_code == 0, imported.output
    report = json.loads(imported.output)
    assert (report["rows"]["read"], report["tiles"]["inserted"]) == (3, 3)  # not Aceh's
    assert report["tiles"]["link"]["layers"]["speed_tile"]["linked"] == 3
    assert shown.exit_code == 0, shown.output
    rows = {row["code"]: row for row in json.loads(shown.output)}
    assert {code: rows[code]["measured_class"] for code in codes} == dict(
        zip(codes, ["4G", "3G only", "2G only"], strict=True)
    )
    assert rows[codes[0]]["measured_tests"] == 12
    assert rows[codes[0]]["measured_period"] == "2025-01-01..2025-03-31"
    with transaction(engine) as session:
        sources = set(session.execute(select(SpeedTile.source)).scalars())
    assert sources == {"Speedtest by Ookla Open Data (CC BY-NC-SA 4.0) 2025-01-01 mobile"}


def test_a_file_without_its_quarter_is_refused_with_what_to_give(
    database_url, engine, shared_data, tmp_path
):
    load_batu(engine, shared_data)
    path, _ = batu_tiles(engine, tmp_path)
    renamed = path.rename(tmp_path / "tiles.parquet")

    refused = invoke(database_url, "speedtests", "import-ookla", str(renamed))
    wrong = invoke(database_url, "speedtests", "import-ookla", str(renamed), "--period", "Q1")
    given = invoke(
        database_url, "speedtests", "import-ookla", str(renamed), "--period", "2025-01-01",
        "--network", "mobile", "--json",
    )  # fmt: skip

    assert refused.exit_code == EXIT_REFUSED
    assert "give them (--period 2024-07-01 --network mobile)" in " ".join(refused.output.split())
    assert wrong.exit_code == 2 and "'Q1' is not a date YYYY-MM-DD" in wrong.output
    assert given.exit_code == 0 and json.loads(given.output)["tiles"]["inserted"] == 3


def test_speed_tests_at_points(database_url, engine, shared_data, tmp_path):
    load_batu(engine, shared_data)
    with transaction(engine) as session:
        village = queries.villages(session, regency="35.79").iloc[0]
    csv = tmp_path / "survey.csv"
    csv.write_text(
        "id,lat,lon,date,radio,download_kbps\n"
        f"1,{village.label_lat},{village.label_lon},2025-02-01,LTE,15000\n"
        f"2,{village.label_lat},{village.label_lon},2025-02-02,3G,900\n"
        f"3,{village.label_lat},{village.label_lon},2025-02-03,4G,12000\n"
    )

    imported = invoke(database_url, "speedtests", "import", str(csv), "--json")
    shown = invoke(database_url, "speedtests", "show", "--json")

    assert imported.exit_code == 0, imported.output
    assert json.loads(imported.output)["inserted"] == 3
    [row] = json.loads(shown.output)
    assert (row["code"], row["measured_class"], row["measured_tests"]) == (village.code, "4G", 3)
    assert row["measured_download_kbps"] == 12_000.0
