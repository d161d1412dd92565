"""The streamed boundary import: chunks validated in worker threads while earlier ones are written.

With official parents in the registry a village file is streamed (validated chunk by chunk as
it is written); these tests make the chunks small so that Kota Batu's 24 villages span several,
and check that a refusal in a later chunk still leaves nothing behind, that repairs land on the
right rows, and (PostGIS) that a bulk load gives back the GiST index and foreign key it set aside.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from fixtures import bad_inputs
from sqlalchemy import Engine, func, select, text
from sqlalchemy.exc import IntegrityError

import geopandas as gpd
import shapely

import geo.store.backend as geo_backend
from geo.errors import ImportRejected
from geo.ingest import pipeline
from geo.ingest.boundaries import area_km2, count_areas, import_boundaries, import_code_list
from geo.ingest.report import Severity
from geo.store import writes as storage
from geo.store.db import transaction
from geo.store.models import Village

BATU = "desa_3579_kota_batu.geojson"
PARENTS = (
    "provinsi_35_jawa_timur.geojson",
    "kabkota_35_jawa_timur.geojson",
    "kecamatan_35_jawa_timur.geojson",
)
OFFICIAL = {"province": 1, "regency": 38, "district": 666, "village": 0}
SUSPENDED = """
SELECT pg_get_indexdef(indexrelid) FROM pg_index
WHERE indrelid = 'village'::regclass AND indexrelid = 'idx_village_boundary'::regclass
UNION ALL
SELECT pg_get_constraintdef(oid) FROM pg_constraint
WHERE conrelid = 'village'::regclass AND conname = 'fk_village_parent_id_district'
"""


@pytest.fixture
def registry(engine: Engine, shared_data: Path) -> Engine:
    """The code list and the official province, regency and district boundaries of Jawa Timur."""
    import_code_list(engine, shared_data / "cahyadsn_wilayah" / "kode_wilayah.csv", prefix="35")
    for name in PARENTS:
        import_boundaries(engine, shared_data / "cahyadsn_wilayah_boundaries" / name)
    assert count_areas(engine) == OFFICIAL
    return engine


@pytest.fixture
def batu(shared_data: Path) -> gpd.GeoDataFrame:
    frame = gpd.read_file(shared_data / "cahyadsn_wilayah_boundaries" / BATU)
    assert len(frame) == 24
    return frame


@pytest.fixture
def writes(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Rows handed to the database per write, in order; chunks of 8 features."""
    monkeypatch.setattr(pipeline, "CHUNK_SIZE", 8)
    seen: list[int] = []
    write = storage.Inserter.write

    def spy(self: storage.Inserter, rows: list) -> None:
        seen.append(len(rows))
        write(self, rows)

    monkeypatch.setattr(storage.Inserter, "write", spy)
    return seen


def test_refusal_in_a_later_chunk_rolls_back_the_chunks_already_written(
    registry, batu, writes, tmp_path
):
    frame = batu.copy()
    centre = frame.geometry.iloc[20].representative_point()
    frame.loc[13, "geometry"] = None
    frame.loc[20, "geometry"] = bad_inputs.degenerate(centre)
    frame.attrs["label"] = "batu-broken"

    with pytest.raises(ImportRejected) as caught:
        import_boundaries(registry, frame)

    assert writes == [8]  # the first chunk reached the database before index 13 was refused
    errors = caught.value.report.errors
    assert [(e.index, e.feature_id, e.field) for e in errors] == [
        (13, frame.loc[13, "kode"], "geometry"),
        (20, frame.loc[20, "kode"], "geometry"),
    ]
    assert errors[0].reason == "empty geometry"
    assert errors[1].reason.endswith("that collapses to nothing when repaired")
    assert str(caught.value) == "2 of 24 features refused; nothing was imported"
    assert count_areas(registry) == OFFICIAL


def test_repairs_in_later_chunks_land_on_their_own_rows(registry, batu, writes):
    frame = batu.copy()
    frame.loc[17, "geometry"] = bad_inputs.bowtie(frame.geometry.iloc[17].representative_point())
    frame.attrs["label"] = "batu-bowtie"
    steps: list[str] = []

    report = import_boundaries(registry, frame, progress=steps.append)

    assert writes == [8, 8, 8]
    assert steps == [
        "reading",
        "checking 24 codes",
        "validating and writing 24 areas",
        "8 of 24 areas validated",
        "16 of 24 areas validated",
        "24 of 24 areas validated",
        "linking assets to the changed villages",
    ]
    assert (report.inserted, report.rejected) == (24, 0)
    assert [(r.index, r.feature_id) for r in report.repaired] == [(17, frame.loc[17, "kode"])]
    with transaction(registry) as session:
        rows = session.execute(
            select(
                Village.code,
                Village.geometry_note,
                Village.area_km2,
                Village.label_lon,
                Village.label_lat,
                func.ST_AsBinary(Village.boundary),
            ).order_by(Village.code)
        ).all()
    notes = {code: note for code, note, *_ in rows if note}
    assert notes == {frame.loc[17, "kode"]: report.repaired[0].reason}
    geoms = shapely.from_wkb([bytes(r[-1]) for r in rows])
    assert [r.area_km2 for r in rows] == pytest.approx(area_km2(geoms).tolist(), rel=1e-12)
    labels = shapely.points([(r.label_lon, r.label_lat) for r in rows])
    assert shapely.contains(geoms, labels).all()


def test_report_lists_findings_in_file_order(registry, batu, writes):
    frame = batu.copy()
    frame.loc[2, "geometry"] = None
    frame.loc[5, "kode"] = "35.79.99.2001"  # well formed, not in the code list
    frame.attrs["label"] = "batu-two-faults"

    with pytest.raises(ImportRejected) as caught:
        import_boundaries(registry, frame)

    assert writes == []  # a code was refused before any geometry was: nothing streamed
    issues = [(i.index, i.severity) for i in caught.value.report.issues]
    assert issues == [(2, Severity.ERROR), (5, Severity.ERROR)]
    assert count_areas(registry) == OFFICIAL


@pytest.mark.parametrize("backend", ["postgis"], indirect=True)
def test_bulk_load_sets_aside_and_restores_the_gist_index_and_foreign_key(
    registry, batu, monkeypatch
):
    monkeypatch.setattr(geo_backend, "BULK_LOAD_MIN_ROWS", 10)
    bulk: list[bool] = []
    leave = storage.Inserter.__exit__

    def spy(self: storage.Inserter, *exc: object) -> None:
        bulk.append(self.bulk)
        leave(self, *exc)

    monkeypatch.setattr(storage.Inserter, "__exit__", spy)
    with registry.connect() as conn:
        before = conn.execute(text(SUSPENDED)).scalars().all()

    report = import_boundaries(registry, batu)

    assert bulk == [True] and report.inserted == 24
    with registry.connect() as conn:
        assert conn.execute(text(SUSPENDED)).scalars().all() == before
        assert len(before) == 2
        with pytest.raises(IntegrityError, match="fk_village_parent_id_district"):
            conn.execute(text("UPDATE village SET parent_id = -1 WHERE code = '35.79.01.1001'"))


CATALOGUE = """
SELECT c.relname || ': ' || pg_get_indexdef(i.indexrelid) FROM pg_index i
JOIN pg_class c ON c.oid = i.indexrelid WHERE i.indrelid = 'village'::regclass
UNION ALL
SELECT conname || ': ' || pg_get_constraintdef(oid) FROM pg_constraint
WHERE conrelid = 'village'::regclass
ORDER BY 1
"""


@pytest.mark.parametrize("backend", ["postgis"], indirect=True)
def test_large_bulk_load_sets_aside_every_index_but_the_primary_key_and_restores_them(
    registry, batu, monkeypatch
):
    monkeypatch.setattr(geo_backend, "BULK_LOAD_MIN_ROWS", 10)
    monkeypatch.setattr(geo_backend, "BULK_BTREE_MIN_ROWS", 10)
    dropped: list[str] = []
    run = geo_backend.run_if_lock_granted

    def spy(conn, statements):  # noqa: ANN001, ANN202
        dropped.extend(str(s).replace('"', "") for s in statements)
        return run(conn, statements)

    monkeypatch.setattr(geo_backend, "run_if_lock_granted", spy)
    with registry.connect() as conn:
        before = conn.execute(text(CATALOGUE)).scalars().all()

    report = import_boundaries(registry, batu)

    assert report.inserted == 24
    assert dropped == [
        "ALTER TABLE village DROP CONSTRAINT fk_village_parent_id_district",
        "ALTER TABLE village DROP CONSTRAINT uq_village_code_valid_from",
        "DROP INDEX ix_village_parent_id",
        "DROP INDEX ix_village_parent_code",
        "DROP INDEX ix_village_current_code",
        "DROP INDEX idx_village_boundary",
    ]
    with registry.connect() as conn:
        assert conn.execute(text(CATALOGUE)).scalars().all() == before
        with pytest.raises(IntegrityError, match="uq_village_code_valid_from"):
            conn.execute(
                text(
                    "INSERT INTO village (code, name, source, kind, area_km2, label_lon, "
                    "label_lat, valid_from, boundary, created_at, updated_at, version) "
                    "SELECT code, name, source, kind, area_km2, label_lon, label_lat, "
                    "valid_from, boundary, created_at, updated_at, version FROM village "
                    "WHERE code = '35.79.01.1001'"
                )
            )


@pytest.mark.parametrize("backend", ["postgis"], indirect=True)
def test_bulk_load_goes_row_by_row_when_a_reader_holds_the_table(registry, batu, monkeypatch):
    monkeypatch.setattr(geo_backend, "BULK_LOAD_MIN_ROWS", 10)
    monkeypatch.setattr(geo_backend, "BULK_LOCK_TIMEOUT", "100ms")
    bulk: list[bool] = []
    leave = storage.Inserter.__exit__

    def spy(self: storage.Inserter, *exc: object) -> None:
        bulk.append(self.bulk)
        leave(self, *exc)

    monkeypatch.setattr(storage.Inserter, "__exit__", spy)
    with registry.connect() as reader:
        reader.execute(select(func.count()).select_from(Village))  # holds ACCESS SHARE

        report = import_boundaries(registry, batu)

        reader.rollback()
    assert bulk == [False] and report.inserted == 24
    assert count_areas(registry) == {**OFFICIAL, "village": 24}
