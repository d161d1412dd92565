"""``petadesa census``: import a village census, show it, refuse a bad one, on both backends."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
from typer.testing import CliRunner

from cli.main import EXIT_REFUSED, app
from geo.ingest.boundaries import import_boundaries, import_code_list

runner = CliRunner()
PODES = "podes2024_kota_batu/podes2024_3579_desa_telekom_produk.csv"


def invoke(database_url: str, *args: str):
    return runner.invoke(app, ["--database", database_url, *args], catch_exceptions=False)


def load_batu(engine, shared_data: Path) -> None:
    import_code_list(engine, shared_data / "cahyadsn_wilayah" / "kode_wilayah.csv", prefix="35")
    import_boundaries(
        engine, shared_data / "cahyadsn_wilayah_boundaries" / "desa_3579_kota_batu.geojson"
    )


def test_census_import_then_show_as_json(database_url, engine, shared_data):
    load_batu(engine, shared_data)

    imported = invoke(database_url, "census", "import", str(shared_data / PODES), "--json")
    shown = invoke(database_url, "census", "show", "--regency", "3579", "--json")

    assert imported.exit_code == 0, imported.output
    report = json.loads(imported.output)
    assert (report["target"], report["inserted"], report["rejected"]) == (
        "census PODES 2024",
        24,
        0,
    )
    assert shown.exit_code == 0, shown.output
    rows = json.loads(shown.output)
    assert len(rows) == 24
    assert {row["mobile_internet"] for row in rows} == {"4G"}
    assert sum(row["bts_count"] for row in rows) == 55
    assert rows[0]["code"] == "35.79.01.1001" and rows[0]["flagship_food"] is None


def test_census_import_refuses_a_bad_file_naming_row_and_field(
    database_url, engine, shared_data, tmp_path
):
    load_batu(engine, shared_data)
    frame = pd.read_csv(shared_data / PODES, dtype=str, keep_default_na=False)
    frame.loc[2, "R1005D"] = "7"
    bad = tmp_path / "podes2024_bad.csv"
    frame.to_csv(bad, index=False)

    result = invoke(database_url, "census", "import", str(bad))
    shown = invoke(database_url, "census", "show", "--json")

    assert result.exit_code == EXIT_REFUSED
    assert "1 of 24 features refused; nothing was imported" in result.output
    assert (
        "feature 2 (35.79.01.1004), field 'R1005D': R1005D '7' is not a mobile internet signal "
        "answer (1 4G, 2 3G, 3 2G, 4 none)"
    ) in " ".join(result.output.split())
    assert json.loads(shown.output) == []
