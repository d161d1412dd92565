"""Importing a village census (BPS PODES) through the import frame, on both backends."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from sqlalchemy import Engine, func, select, text

from geo.errors import ImportRejected, UnreadableFile
from geo.ingest.boundaries import import_boundaries, import_code_list
from geo.ingest.census import import_census, survey_name, validate_census_row
from geo.queries import census
from geo.store.db import transaction
from geo.store.models import VillageCensus

PODES = "podes2024_kota_batu/podes2024_3579_desa_telekom_produk.csv"


@pytest.fixture
def batu(engine: Engine, shared_data: Path) -> Engine:
    """The code list of Jawa Timur and the 24 villages of Kota Batu."""
    import_code_list(engine, shared_data / "cahyadsn_wilayah" / "kode_wilayah.csv", prefix="35")
    import_boundaries(
        engine, shared_data / "cahyadsn_wilayah_boundaries" / "desa_3579_kota_batu.geojson"
    )
    return engine


@pytest.fixture
def podes(shared_data: Path) -> pd.DataFrame:
    """The Kota Batu PODES extract as text cells, as the CSV reader reads it."""
    frame = pd.read_csv(shared_data / PODES, dtype=str, keep_default_na=False)
    frame.attrs["label"] = "podes2024_batu_edited.csv"
    return frame


def stored(engine: Engine) -> int:
    with transaction(engine) as session:
        return session.execute(select(func.count()).select_from(VillageCensus)).scalar_one()


def refusal(engine: Engine, frame: pd.DataFrame) -> list[tuple[int | None, str | None, str, str]]:
    """Import ``frame``, expect it refused with nothing written; its errors."""
    with pytest.raises(ImportRejected) as caught:
        import_census(engine, frame)
    assert stored(engine) == 0
    return [(i.index, i.feature_id, i.field, i.reason) for i in caught.value.report.errors]


def test_kota_batu_census_all_villages_are_4g_and_none_is_blank(batu, shared_data):
    report = import_census(batu, shared_data / PODES)

    assert (report.target, report.read, report.inserted, report.rejected) == (
        "census PODES 2024",
        24,
        24,
        0,
    )
    with transaction(batu) as session:
        frame = census(session, regency="35.79")
    assert len(frame) == 24
    assert frame["mobile_internet"].value_counts().to_dict() == {"4G": 24}
    assert frame["signal_strength"].value_counts().to_dict() == {"very_strong": 16, "strong": 8}
    assert int(frame["bts_count"].sum()) == 55
    assert frame["operator_count"].value_counts().to_dict() == {4: 13, 5: 10, 6: 1}
    assert frame["has_flagship_product"].value_counts().to_dict() == {True: 22, False: 2}
    assert frame["flagship_exported"].value_counts().to_dict() == {"no": 17, "partly": 5}
    assert int(frame["flagship_exported"].isna().sum()) == 2  # 0: no product to export
    assert set(frame["survey"]) == {"PODES 2024"} and set(frame["survey_year"]) == {2024}
    oro = frame.set_index("code").loc["35.79.01.2006"]
    assert oro["name"] == "Oro-oro Ombo"  # the registry's name, not the census's capitals
    assert (oro["flagship_food"], oro["flagship_nonfood"]) == (
        "Kue olahan Labu",
        "Batik, Sandal hotel yg di daur ulang",
    )
    assert (oro["office_lon"], oro["office_lat"]) == (112.5336061, -7.8944133)
    temas = frame.set_index("code").loc["35.79.01.1001"]
    assert pd.isna(temas["flagship_food"])  # "-" is no product


def test_importing_the_same_census_again_changes_nothing(batu, shared_data):
    import_census(batu, shared_data / PODES)

    again = import_census(batu, shared_data / PODES)

    assert (again.inserted, again.updated, again.unchanged) == (0, 0, 24)
    with transaction(batu) as session:
        versions = session.execute(select(VillageCensus.version)).scalars().all()
    assert versions == [1] * 24


def test_a_changed_answer_updates_that_village_only(batu, podes):
    import_census(batu, podes)
    podes.loc[podes["kode_kemendagri"] == "35.79.01.1001", "R1005D"] = "2"

    report = import_census(batu, podes)

    assert (report.inserted, report.updated, report.unchanged) == (0, 1, 23)
    with transaction(batu) as session:
        row = session.execute(
            select(VillageCensus.mobile_internet, VillageCensus.version).where(
                VillageCensus.village_code == "35.79.01.1001"
            )
        ).one()
    assert tuple(row) == ("3G", 2)


def test_a_later_survey_is_kept_beside_and_queries_give_the_latest(batu, shared_data, podes):
    import_census(batu, shared_data / PODES)
    older = podes.copy()
    older["R1005D"] = "3"
    older.attrs["label"] = "podes2021.csv"
    import_census(batu, older)

    with transaction(batu) as session:
        latest = census(session, regency="35.79")
        earlier = census(session, regency="35.79", survey="PODES 2021")
    assert stored(batu) == 48
    assert set(latest["survey"]) == {"PODES 2024"} and set(latest["mobile_internet"]) == {"4G"}
    assert set(earlier["mobile_internet"]) == {"2G"} and len(earlier) == 24


def test_unknown_and_unimported_village_codes_are_refused_per_row(batu, podes):
    podes.loc[3, "kode_kemendagri"] = "35.79.99.2001"  # well formed, in no list
    podes.loc[5, "kode_kemendagri"] = (
        "35.07.05.2001"  # in the code list (Kab. Malang), not imported
    )
    podes.loc[7, "kode_kemendagri"] = "35.79.01"  # a district
    podes.loc[9, "kode_kemendagri"] = ""

    assert refusal(batu, podes) == [
        (
            3,
            "35.79.99.2001",
            "kode_kemendagri",
            "unknown village code 35.79.99.2001 (not in the registry nor the code list)",
        ),
        (
            5,
            "35.07.05.2001",
            "kode_kemendagri",
            "village 35.07.05.2001 is in the code list but its boundary is not in the registry; "
            "import the village boundaries first",
        ),
        (7, "35.79.01", "kode_kemendagri", "35.79.01 is a district code, not a village's"),
        (9, None, "kode_kemendagri", "no village code"),
    ]


def test_out_of_range_answers_are_refused_naming_the_field(batu, podes):
    podes.loc[0, "R1005C"] = "5"
    podes.loc[1, "R1005D"] = "4G+"
    podes.loc[2, "R1005A"] = "-1"
    podes.loc[4, "R1005B"] = "dua"
    podes.loc[6, "R1005A"] = "2.5"
    podes.loc[8, "kantor_desa_lat"] = "112.5"  # the longitude in the latitude column

    errors = refusal(batu, podes)

    assert [(index, field) for index, _, field, _ in errors] == [
        (0, "R1005C"),
        (1, "R1005D"),
        (2, "R1005A"),
        (4, "R1005B"),
        (6, "R1005A"),
        (8, "kantor_desa_lat"),
    ]
    assert [reason for *_, reason in errors] == [
        "R1005C '5' is not a mobile signal strength answer (1 very_strong, 2 strong, 3 weak, "
        "4 none)",
        "R1005D '4G+' is not a mobile internet signal answer (1 4G, 2 3G, 3 2G, 4 none)",
        "R1005A -1 is outside 0..1000 (BTS towers)",
        "R1005B 'dua' is not a number (operators)",
        "R1005A '2.5' is not a whole number of BTS towers",
        "kantor_desa_lat 112.5 is outside -11.5..6.5 (village office latitude)",
    ]
    assert errors[0][1] == "35.79.01.2006"


def test_a_village_twice_is_refused(batu, podes):
    podes = pd.concat([podes, podes.iloc[[4]]], ignore_index=True)
    podes.attrs["label"] = "twice.csv"

    assert refusal(batu, podes) == [
        (24, "35.79.01.2008", "kode_kemendagri", "duplicate village 35.79.01.2008 (also feature 4)")
    ]


def test_skip_invalid_imports_the_rest(batu, podes):
    podes.loc[0, "R1005C"] = "9"

    report = import_census(batu, podes, skip_invalid=True)

    assert (report.inserted, report.rejected) == (23, 1)
    assert stored(batu) == 23


def test_words_and_other_column_names_are_read_too(batu):
    frame = pd.DataFrame(
        {
            "kode_desa": ["3579012006", "35.79.01.1001"],
            "signal_strength": ["weak", "NONE"],
            "mobile_internet": ["2G", "none"],
            "jumlah_bts": ["0", ""],
            "produk_unggulan": ["ya", "tidak"],
        }
    )
    frame.attrs["label"] = "survei_desa_2025.csv"

    report = import_census(batu, frame)

    assert report.target == "census survei_desa_2025"
    with transaction(batu) as session:
        rows = census(session, regency="35.79")
    assert rows[["code", "signal_strength", "mobile_internet"]].to_dict("records") == [
        {"code": "35.79.01.1001", "signal_strength": "none", "mobile_internet": "none"},
        {"code": "35.79.01.2006", "signal_strength": "weak", "mobile_internet": "2G"},
    ]
    assert rows["bts_count"].isna().tolist() == [True, False] and rows["bts_count"][1] == 0
    assert rows["has_flagship_product"].tolist() == [False, True]
    assert rows["survey_year"].tolist() == [2025, 2025]


def test_a_file_without_a_code_column_or_with_a_wrong_map_is_refused(batu, podes):
    no_code = podes.drop(columns=["kode_kemendagri"])
    with pytest.raises(ImportRejected, match="no village code column"):
        import_census(batu, no_code)
    with pytest.raises(ImportRejected, match="the file has no column 'kode'"):
        import_census(batu, podes, field_map={"village_code": "kode"})
    with pytest.raises(ImportRejected, match="--map sinyal=...: not a census column"):
        import_census(batu, podes, field_map={"sinyal": "R1005C"})
    assert stored(batu) == 0


def test_a_table_in_an_unsupported_format_is_refused(batu, tmp_path):
    path = tmp_path / "podes.parquet"
    path.write_bytes(b"PAR1")
    with pytest.raises(UnreadableFile, match="unsupported format .parquet for a table"):
        import_census(batu, path)


def test_one_row_is_validated_without_a_file(batu):
    row = validate_census_row({"kode_kemendagri": "3579012006", "R1005D": "1", "R1005C": "4"})

    assert {k: row[k] for k in ("village_code", "mobile_internet", "signal_strength")} == {
        "village_code": "35.79.01.2006",
        "mobile_internet": "4G",
        "signal_strength": "none",
    }
    with transaction(batu) as session, pytest.raises(ImportRejected) as caught:
        validate_census_row({"kode_kemendagri": "35.79.99.2001"}, session)
    [issue] = caught.value.report.errors
    assert (issue.field, issue.reason) == (
        "kode_kemendagri",
        "unknown village code 35.79.99.2001 (not in the registry nor the code list)",
    )


def test_default_survey_names():
    assert survey_name(["kode_kemendagri", "R1005C"], "data/podes2024_3579.csv") == "PODES 2024"
    assert survey_name(["kode_kemendagri", "r1005d"], "podes.csv") == "PODES"
    assert survey_name(["kode_desa", "mobile_internet"], "survei_2025.csv") == "survei_2025"


@pytest.mark.parametrize("backend", ["gpkg"], indirect=True)
def test_the_census_is_a_table_gis_clients_list_in_the_geopackage(batu, shared_data):
    import_census(batu, shared_data / PODES)

    with batu.connect() as conn:
        kinds = dict(
            conn.execute(
                text(
                    "SELECT table_name, data_type FROM gpkg_contents WHERE data_type = 'attributes'"
                )
            ).all()
        )
    assert kinds == {
        "area_code": "attributes",
        "village_census": "attributes",
        "coverage_run": "attributes",
        "village_connectivity": "attributes",
        "api_key": "attributes",
        "audit_log": "attributes",
        "layer_change": "attributes",
    }


def test_a_survey_imported_again_is_replaced_not_merged(batu, podes):
    import_census(batu, podes)
    without = podes.drop(columns=["R1005A"])

    report = import_census(batu, without)

    assert report.updated == 24  # every village's BTS count (0 for six of them) is now empty
    with transaction(batu) as session:
        counts = session.execute(select(VillageCensus.bts_count)).scalars().all()
    assert counts == [None] * 24


def test_a_semicolon_csv_from_excel_is_read(batu, podes, tmp_path):
    path = tmp_path / "podes2024_excel.csv"
    podes[["kode_kemendagri", "R1005C", "R1005D"]].to_csv(path, sep=";", index=False)

    report = import_census(batu, path)

    assert (report.inserted, report.rejected) == (24, 0)
