"""OpenCelliD's cell export grouped into tower sites and imported as towers, both backends."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select

from geo.errors import ImportRejected, UnreadableFile
from geo.ingest.sources.opencellid import import_opencellid, read_opencellid
from geo.store.db import transaction
from geo.store.models import Tower

HEADER = (
    "radio,mcc,net,area,cell,unit,lon,lat,range,samples,changeable,created,updated,averageSignal"
)
CELLS = [  # two shared sites in Malang, one far cell of Malaysia (roaming), one alone
    "GSM,510,10,101,1001,,112.63010,-7.97020,1200,12,1,1459000000,1600000000,0",
    "LTE,510,10,101,2001,,112.63050,-7.97050,2000,30,1,1459000000,1600000000,0",
    "UMTS,510,1,202,3001,,112.63030,-7.97000,1500,5,1,1459000000,1600000000,0",
    "NR,510,11,303,4001,,112.70000,-8.00000,3000,9,1,1459000000,1600000000,0",
    "LTE,510,11,303,4002,,112.70100,-8.00000,1000,9,1,1459000000,1600000000,0",
    "GSM,502,16,1,1,,112.90000,-8.10000,500,2,1,1459000000,1600000000,0",
]


def export(tmp_path: Path, rows: list[str], name: str = "510.csv") -> Path:
    path = tmp_path / name
    path.write_text("\n".join([HEADER, *rows]) + "\n")
    return path


def test_cells_are_grouped_into_sites_with_their_technologies_and_operators(tmp_path):
    sites, report = read_opencellid(export(tmp_path, CELLS))

    rows = sites.drop(columns="geometry").to_dict("records")
    assert [(r["technologies"], r["operator"], r["cells"]) for r in rows] == [
        ("2G,3G,4G", "Indosat Ooredoo Hutchison, Telkomsel", 3),  # within 60 m of one another
        ("4G,5G", "XL Axiata", 2),  # 110 m apart
    ]
    assert [r["range_km"] for r in rows] == [1.5, 2.0]
    assert [r["source_id"] for r in rows] == ["ocid:510-1-202-3001", "ocid:510-11-303-4001"]
    assert sites.geometry.x.round(5).tolist() == [112.6303, 112.7005]
    assert [str(i) for i in report.warnings] == [
        "file: 1 cells of other countries (mcc 502) left out; Indonesia is 510"
    ]


def test_a_smaller_site_radius_splits_them(tmp_path):
    sites, _ = read_opencellid(export(tmp_path, CELLS), site_radius_m=50)
    assert sites["cells"].tolist() == [2, 1, 1, 1]


def test_bad_rows_are_refused_by_row_and_field(tmp_path):
    rows = [
        *CELLS,
        "WIMAX,510,10,1,1,,112.6,-7.9,1,1,1,1,1,0",
        "LTE,510,x,1,1,,112.6,-7.9,1,1,1,1,1,0",
    ]
    rows.append("LTE,510,10,1,2,,-7.9,212.6,1,1,1,1,1,0")
    with pytest.raises(ImportRejected) as caught:
        read_opencellid(export(tmp_path, rows))
    issues = [(i.index, i.field, i.reason) for i in caught.value.report.errors]
    assert issues == [
        (6, "radio", "radio 'WIMAX' is not one of GSM, CDMA, UMTS, LTE, NR"),
        (7, "net", "net 'x' is not a number"),
        (8, "lat", "lat '212.6' is not a latitude"),
    ]


def test_a_file_that_is_not_an_export_is_refused(tmp_path):
    path = tmp_path / "towers.csv"
    path.write_text("name,lat,lon\nA,-7.9,112.6\n")
    with pytest.raises(UnreadableFile, match="not an OpenCelliD export: no column radio, mcc"):
        read_opencellid(path)


def test_sites_are_imported_as_towers_and_again_change_nothing(engine, tmp_path):
    path = export(tmp_path, CELLS)

    cells, first = import_opencellid(engine, path)
    _, again = import_opencellid(engine, path)

    assert (cells.read, first.inserted, again.inserted, again.unchanged) == (6, 2, 0, 2)
    with transaction(engine) as session:
        towers = session.execute(
            select(Tower.technologies, Tower.range_km, Tower.status, Tower.source).order_by(
                Tower.id
            )
        ).all()
    assert [tuple(t) for t in towers] == [
        ("2G,3G,4G", 1.5, "on-air", "OpenCelliD (CC BY-SA 4.0)"),
        ("4G,5G", 2.0, "on-air", "OpenCelliD (CC BY-SA 4.0)"),
    ]
