"""Importing asset layers: towers, fibre, hotspots, destinations, product sites, facilities.

A file's columns are matched to the layer's columns by name, including common Indonesian
names (``nama``, ``kategori``, ``harga_tiket``...). Values are typed and checked per field; a
refused value names the feature and the field. The upsert key is ``(source, source_id)``:
``source_id`` comes from an id column, or else from a digest of the feature's name and
position, so importing the same file twice changes nothing. Every import is one transaction,
and the imported features are linked to their villages in it.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import Date, Engine, Float, Integer, exists, func, select
from sqlalchemy.orm import Session

import geopandas as gpd
import shapely

from geo.codes import InvalidCode, normalize_code
from geo.ingest.frame import (
    BLANKS,
    Features,
    Importer,
    ImportOptions,
    is_blank,
    mark_duplicates,
    run_import,
    validate_feature,
)
from geo.ingest.report import ImportReport, Progress, Severity
from geo.ingest.validation import clean_geometries
from geo.store.backend import backend_of
from geo.store.models import Asset, asset_layer
from geo.store.writes import changed_fields, insert_rows, same_geometries, update_rows

BASE_COLUMNS = {"id", "source", "created_at", "updated_at", "version", "village_code", "geom"}
ALIASES: dict[str, tuple[str, ...]] = {
    "name": ("nama", "namobj", "nama_lokasi", "title", "nama_desa"),
    "source_id": ("id", "fid", "objectid", "site_id", "kode_aset"),
    "claimed_village_code": ("village_code", "kode_desa", "kode_kemendagri", "kode_wilayah"),
    "operator": ("operator_name", "penyelenggara"),
    "technologies": ("technology", "teknologi", "tech"),
    "height_m": ("height", "tinggi", "tinggi_m", "antenna_height"),
    "range_km": ("range", "jangkauan_km", "radius_km"),
    "azimuth_deg": ("azimuth", "azimut"),
    "beamwidth_deg": ("beamwidth", "beam_width"),
    "tx_power_dbm": ("tx_power", "power_dbm", "daya_dbm"),
    "frequency_mhz": ("frequency", "frekuensi", "freq_mhz"),
    "commissioned_on": ("commissioned", "tanggal_operasi"),
    "node_type": ("jenis_node", "type"),
    "provider": ("penyedia", "operator"),
    "bandwidth_mbps": ("bandwidth", "kecepatan_mbps"),
    "category": ("kategori", "jenis"),
    "description": ("deskripsi", "keterangan", "address", "alamat"),
    "facilities": ("fasilitas",),
    "opening_hours": ("jam_buka", "jam_operasional"),
    "ticket_price_idr": ("harga_tiket", "tiket", "ticket_price"),
    "contact": ("kontak", "telepon", "phone"),
    "photo_links": ("foto", "photo", "photos"),
    "product": ("produk", "komoditas"),
    "producer": ("produsen", "pemilik", "pelaku_usaha"),
    "certifications": ("sertifikasi", "sertifikat"),
    "facility_type": ("jenis_fasilitas", "remark", "tipe"),
    "internet_status": ("internet", "status_internet"),
    "measured_on": ("date", "tanggal", "test_date", "timestamp", "measured_at"),
    "download_kbps": ("avg_d_kbps", "dl_kbps", "download_speed_kbps"),
    "upload_kbps": ("avg_u_kbps", "ul_kbps", "upload_speed_kbps"),
    "latency_ms": ("avg_lat_ms", "ping_ms", "latency"),
    "signal_dbm": ("rsrp", "rsrp_dbm", "rscp", "rssi", "rssi_dbm", "signal"),
    "technology": ("radio", "network_technology", "teknologi"),
}
TECHNOLOGIES = ("2G", "3G", "4G", "5G")
TOWER_STATUS = ("planned", "on-air")
RANGES = {
    "height_m": (0.0, 300.0),
    "range_km": (0.0, 100.0),
    "azimuth_deg": (0.0, 360.0),
    "beamwidth_deg": (1.0, 360.0),
    "tx_power_dbm": (-30.0, 90.0),
    "frequency_mhz": (300.0, 100_000.0),
    "bandwidth_mbps": (0.0, 100_000.0),
    "ticket_price_idr": (0.0, 1e9),
    "avg_d_kbps": (0.0, 1e7),
    "avg_u_kbps": (0.0, 1e7),
    "avg_lat_ms": (0.0, 600_000.0),
    "download_kbps": (0.0, 1e7),
    "upload_kbps": (0.0, 1e7),
    "latency_ms": (0.0, 600_000.0),
    "signal_dbm": (-160.0, -20.0),
    "tests": (1, 1e9),
    "devices": (1, 1e9),
}
NETWORKS = ("mobile", "fixed")
"""What a speed test ran over: a mobile network, or a fixed line (Wi-Fi, cable, fibre)."""


_KINDS = ((Float, "float"), (Integer, "int"), (Date, "date"))
"""Column kinds by SQL type (``Double`` is a ``Float``); any other column is text."""


@dataclass
class _Column:
    """A layer column, the file column that fills it (``None``: none) and its kind."""

    name: str
    source: str | None
    kind: str  # text, float, int, date


def layer_columns(layer: str) -> list[str]:
    """Columns a file can fill for a layer, ``name`` and ``source_id`` first."""
    model = asset_layer(layer).model
    first = ("name", "source_id", "claimed_village_code")
    own = [c.name for c in model.__table__.columns if c.name not in BASE_COLUMNS]
    return [*first, *(c for c in own if c not in first)]


def _match_columns(layer: str, columns: list[str], field_map: dict[str, str]) -> list[_Column]:
    """The layer's columns, each matched to a file column by ``field_map``, name or alias.

    Names and aliases are compared case-insensitively; a file column fills one layer column at most.
    """
    model = asset_layer(layer).model
    lowered = {c.lower(): c for c in columns}
    taken: set[str] = set()
    out = []
    for name in layer_columns(layer):
        source = field_map.get(name)
        if source is None:
            for candidate in (name, *ALIASES.get(name, ())):
                if candidate in lowered and lowered[candidate] not in taken:
                    source = lowered[candidate]
                    break
        if source is not None:
            taken.add(source)
        col_type = model.__table__.columns[name].type
        kind = next((k for t, k in _KINDS if isinstance(col_type, t)), "text")
        out.append(_Column(name, source, kind))
    return out


def _coerce(column: _Column, value: Any) -> Any:
    """Typed value, or raise ValueError with a reason that names what was wrong."""
    if column.kind in ("float", "int"):
        number = float(str(value).replace(",", ".")) if isinstance(value, str) else float(value)
        if column.kind == "int" and not number.is_integer():
            raise ValueError(f"{number:g} is not a whole number")
        low, high = RANGES.get(column.name, (-np.inf, np.inf))
        if not low <= number <= high:
            raise ValueError(f"{number:g} is outside {low:g}..{high:g}")
        return int(number) if column.kind == "int" else number
    if column.kind == "date":
        if isinstance(value, dt.datetime | pd.Timestamp):
            return value.date()
        if isinstance(value, dt.date):
            return value
        return dt.date.fromisoformat(str(value).strip()[:10])
    text = str(value).strip()
    if column.name == "claimed_village_code":
        return normalize_code(text)
    if column.name == "technologies":
        return _technologies(text)
    if column.name in ("technology", "network"):
        return _measurement_text(column.name, text)
    return text


def _measurement_text(name: str, text: str) -> str:
    """A speed test's ``technology`` (one of them) or ``network``; else ValueError."""
    if name == "technology":
        found = _technologies(text)
        if "," in found:
            raise ValueError(f"one technology per test, not {found}")
        return found
    value = text.lower()
    if value not in NETWORKS:
        raise ValueError(f"network {text!r} is not one of {', '.join(NETWORKS)}")
    return value


RADIO_NAMES = {
    **dict.fromkeys(("GSM", "GPRS", "EDGE", "2.5G", "CDMA", "1X"), "2G"),
    **dict.fromkeys(("UMTS", "WCDMA", "HSPA", "HSPA+", "HSDPA", "HSUPA", "H", "H+", "EVDO"), "3G"),
    **dict.fromkeys(("LTE", "LTE-A", "LTE+", "4G+", "4.5G"), "4G"),
    **dict.fromkeys(("NR", "5G NR", "NR5G", "5G NSA", "5G SA"), "5G"),
}
"""Radio names exports use (OpenCelliD, drive-test and speed-test apps) and their technology."""


def _technologies(text: str) -> str:
    """Radio technologies as a comma list in :data:`TECHNOLOGIES` order.

    Radio names count as their technology (:data:`RADIO_NAMES`: ``LTE`` is ``4G``, ``UMTS``
    ``3G``...). Raises ValueError naming any technology that is not one of them.
    """
    parts = text.replace(";", ",").replace("/", ",").split(",")
    tokens = {RADIO_NAMES.get(name, name) for name in (t.strip().upper() for t in parts)}
    tokens.discard("")
    unknown = tokens - set(TECHNOLOGIES)
    if unknown:
        raise ValueError(
            f"unknown technology {', '.join(sorted(unknown))}; use {', '.join(TECHNOLOGIES)}"
        )
    return ",".join(t for t in TECHNOLOGIES if t in tokens)


def _tower_status(text: str) -> str:
    """A tower status as ``planned`` or ``on-air``, Indonesian words accepted; else ValueError."""
    value = text.strip().lower().replace(" ", "-").replace("_", "-")
    value = {"onair": "on-air", "aktif": "on-air", "rencana": "planned"}.get(value, value)
    if value not in TOWER_STATUS:
        raise ValueError(f"status {text!r} is not one of {', '.join(TOWER_STATUS)}")
    return value


def _content_id(name: Any, geom: Any) -> str:
    """A ``source_id`` for a feature without one: a digest of its name and position.

    The geometry is rounded to 1e-7 degrees first, so importing the same file again gives the
    same id.
    """
    digest = hashlib.sha1(usedforsecurity=False)
    digest.update(str(name).encode())
    digest.update(shapely.to_wkb(shapely.set_precision(geom, 1e-7)) if geom is not None else b"")
    return "sha1:" + digest.hexdigest()[:16]


def import_assets(
    engine: Engine,
    layer: str,
    source: str | Path | gpd.GeoDataFrame,
    *,
    field_map: dict[str, str] | None = None,
    defaults: dict[str, str] | None = None,
    progress: Progress | None = None,
    **options: Any,
) -> ImportReport:
    """Import one asset layer from a file or a GeoDataFrame and link it to villages.

    ``layer`` is the registry's asset layer (``tower``...). ``field_map`` maps layer columns
    to file columns when names do not match; ``defaults`` fills a layer column where the file
    has no value (``facility_type`` = ``village_office`` for a list of village offices).
    ``options`` are the fields of :class:`~geo.ingest.frame.ImportOptions` (``source_name``,
    ``file_layer``, ``assume_crs``, ``lat_field``, ``lon_field``, ``skip_invalid``,
    ``settings``). Raises :class:`~geo.errors.ImportRejected` (nothing written) when a
    feature is refused, unless ``skip_invalid``.
    """
    importer = AssetImporter(layer, field_map=field_map, defaults=defaults)
    return run_import(engine, importer, source, ImportOptions(**options), progress)


def validate_asset(
    layer: str,
    properties: dict[str, Any],
    geometry: Any,
    *,
    field_map: dict[str, str] | None = None,
) -> dict[str, Any]:
    """Validate one feature of an asset layer as a file import would; return its typed row.

    ``geometry`` is a shapely geometry in EPSG:4326. The row holds the layer's columns, the
    geometry under ``geom`` and the upsert key (``source``, ``source_id``). Raises
    :class:`~geo.errors.ImportRejected` whose report names the field and the reason.
    """
    features = validate_feature(AssetImporter(layer, field_map=field_map), properties, geometry)
    [row] = features.state
    return row


class AssetImporter(Importer):
    """The frame's hooks for one asset layer: column matching and typing, upsert, link."""

    def __init__(
        self,
        layer: str,
        *,
        field_map: dict[str, str] | None = None,
        defaults: dict[str, str] | None = None,
    ) -> None:
        self.info = asset_layer(layer)
        self.target = layer
        self.field_map = field_map or {}
        self.defaults = defaults or {}

    def prepare(self, features: Features, step: Progress) -> None:
        """Match and type the columns, validate the geometries, build one row per feature."""
        gdf, report = features.gdf, features.report
        step(f"validating {len(gdf):,} features")
        columns = _match_columns(self.info.name, features.columns, self.field_map)
        _warn_unused(gdf, columns, report)
        geoms = clean_geometries(
            gdf.geometry,
            self.info.model.geometry_type,
            report,
            missing_reasons=gdf.attrs.get("coordinate_errors"),
        )
        features.state = _build_rows(
            gdf, columns, geoms, self.defaults, features.origins, self.info.name, report
        )

    def write(self, session: Session, features: Features, step: Progress) -> None:
        """Insert new rows and update changed ones by ``(source, source_id)``."""
        step(f"writing {len(features.state):,} features")
        self.written, self.linked = _upsert(
            session, self.info.model, features.state, features.report
        )

    def link(self, session: Session, features: Features, step: Progress) -> dict[str, Any]:
        """Link the rows written to their villages, as part of this same edit."""
        from geo.linking import describe_links, link_assets  # noqa: PLC0415 - models cycle

        step("linking them to their villages")
        layer = self.info.name
        if self.written is None and self.linked:  # a first load, linked as it was written
            return describe_links(session, layer, changed=self.linked).to_dict()
        ids = None if self.written is None else {layer: self.written}
        report = link_assets(session, [layer], ids=ids, count_as_edit=False)
        report.layers[layer].changed += self.linked  # linked on insert: changed all the same
        return report.to_dict()


def _warn_unused(gdf: gpd.GeoDataFrame, columns: list[_Column], report: ImportReport) -> None:
    """Warn of the file's columns that no layer column takes: they are not stored."""
    used = {c.source for c in columns if c.source} | {"source", gdf.geometry.name}
    unused = [c for c in gdf.columns if c not in used]
    if unused:
        report.add(
            Severity.WARNING, f"columns not stored (no matching layer column): {', '.join(unused)}"
        )


def _build_rows(
    gdf: gpd.GeoDataFrame,
    columns: list[_Column],
    geoms: np.ndarray,
    defaults: dict[str, str],
    origins: list[str],
    layer: str,
    report: ImportReport,
) -> list[dict[str, Any]]:
    """One row per feature that passed, with its provenance and upsert key."""
    typed, ok = _typed_columns(gdf, columns, defaults, layer, report)
    names = list(typed)
    filled = [values if values is not None else [None] * len(gdf) for values in typed.values()]
    refused = report.rejected_indexes()  # e.g. placed outside Indonesia, while the geometry is fine
    candidates: list[dict[str, Any] | None] = []
    # the rows' values as tuples, transposed at once (zip in C), not read cell by cell
    for i, (geom, values) in enumerate(zip(geoms, zip(*filled, strict=True), strict=True)):
        if not ok[i] or geom is None or i in refused:
            candidates.append(None)
            continue
        row = dict(zip(names, values))  # noqa: B905 - both are the layer's columns
        row["source"] = origins[i]
        row["source_id"] = row.get("source_id") or _content_id(row.get("name"), geom)
        row["name"] = row.get("name") or row["source_id"]
        row["geom"] = geom
        candidates.append(row)
    keys = [None if row is None else (row["source"], row["source_id"]) for row in candidates]
    first = mark_duplicates(
        keys,
        report,
        what="id",
        field="source_id",
        shown=lambda key: repr(key[1]),
        feature_ids=[None if key is None else key[1] for key in keys],
    )
    return [row for row, keep in zip(candidates, first.tolist(), strict=True) if keep]


def _typed_columns(
    gdf: gpd.GeoDataFrame,
    columns: list[_Column],
    defaults: dict[str, str],
    layer: str,
    report: ImportReport,
) -> tuple[dict[str, list[Any] | None], np.ndarray]:
    """Typed values of each layer column (``None``: nobody fills it); the rows free of errors.

    Column by column, each distinct value converted once (``pandas.factorize``): an operator
    name or a status repeats on thousands of rows, and 200,000 towers took 1.5 s cell by cell.
    Errors are still reported cell by cell, in file order.
    """
    n = len(gdf)
    ok = np.ones(n, dtype=bool)
    fids = _FeatureIds(gdf, columns)
    typed: dict[str, list[Any] | None] = {}
    for column in columns:
        default = defaults.get(column.name)
        if is_blank(default):
            default = None
        if column.source is None and default is None:
            typed[column.name] = None
            continue
        raw = gdf[column.source] if column.source else pd.Series([None] * n, dtype=object)
        plain = _plain_text(column, raw, default)
        if plain is not None:
            typed[column.name] = plain
            continue
        codes, uniques = pd.factorize(raw.astype(object), use_na_sentinel=True)
        results = np.empty(len(uniques) + 1, dtype=object)  # the last one: a blank cell
        failed: dict[int, str] = {}
        for k, value in enumerate([*uniques.tolist(), None]):
            if value is None or is_blank(value):
                value = default
                if value is None:
                    continue  # stays None
            try:
                results[k] = _typed_value(column, value, layer)
            except (ValueError, InvalidCode) as exc:
                failed[k] = str(exc)
        codes = np.where(codes < 0, len(uniques), codes)
        for k, reason in failed.items():
            for i in np.flatnonzero(codes == k).tolist():
                report.add(
                    Severity.ERROR,
                    reason,
                    index=i,
                    feature_id=fids[i],
                    field=column.source or column.name,
                )
                ok[i] = False
        typed[column.name] = results[codes].tolist()
    return typed, ok


class _FeatureIds:
    """Each feature's id in its file (whatever column holds it), for the report.

    Looked up only for the features a finding is about.
    """

    def __init__(self, gdf: gpd.GeoDataFrame, columns: list[_Column]) -> None:
        source = next((c.source for c in columns if c.name == "source_id" and c.source), None)
        self.values = None if source is None else gdf[source].tolist()

    def __getitem__(self, i: int) -> str | None:
        if self.values is None or is_blank(self.values[i]):
            return None
        return str(self.values[i])


_TYPED_TEXT = ("claimed_village_code", "technologies", "technology", "network")
"""Text columns whose values are checked and normalised (:func:`_coerce`)."""
_SPECIAL_TEXT = (*_TYPED_TEXT, "status")


def _plain_text(column: _Column, raw: pd.Series, default: str | None) -> list[Any] | None:
    """A free-text column of text cells typed at once: stripped, blanks to the default.

    Names and ids are as many as the rows (200,000 distinct towers), so one at a time even
    per distinct value is the cost of the column. ``None`` for columns that need more than
    stripping, or cells that are not all text (numbers in a GeoPackage).
    """
    if column.kind != "text" or column.name in _SPECIAL_TEXT:
        return None
    cells = raw.to_numpy(dtype=object)
    if pd.api.types.infer_dtype(cells, skipna=True) != "string":
        return None  # an empty column may be of any type (a NULL integer id): the slow path
    fill = None if default is None else str(default).strip()
    blanks = {"", *BLANKS}
    # a comprehension over the cells: pandas' .str.strip() cost 0.2 s of 200,000 names
    return [
        (text if (text := cell.strip()) not in blanks else fill) if isinstance(cell, str) else fill
        for cell in cells.tolist()
    ]


def _typed_value(column: _Column, value: Any, layer: str) -> Any:
    """One cell value typed for ``column`` of ``layer``; ValueError says why it is refused.

    In a plain text column a whole float loses its ``.0``: an id read as a number stays ``12``.
    """
    if column.name == "status" and layer == "tower":
        return _tower_status(str(value))
    if column.kind == "text" and column.name not in _TYPED_TEXT:
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        return str(value).strip()
    return _coerce(column, value)


def _upsert(
    session: Session,
    model: type[Asset],
    rows: list[dict[str, Any]],
    report: ImportReport,
) -> tuple[list[int] | None, int]:
    """Insert new rows and update changed ones; the ids of the rows written, the rows linked.

    The ids are ``None`` when the layer held nothing before: every row of it was written (a
    first load), and its rows need neither looking up before nor finding again after. The
    rows linked are those given their village as they were inserted (:func:`_link_new`).
    """
    fields = [c for c in rows[0] if c != "geom"] if rows else []
    first_load = _is_first_load(session, model)
    keys = [(r["source"], r["source_id"]) for r in rows]
    existing = {} if first_load else _existing(session, model, keys, fields)
    inserts, updates, kept = [], [], []
    for row in rows:
        old = existing.get((row["source"], row["source_id"]))
        if old is None:
            inserts.append(row)
        elif changed_fields(old, row, fields):
            updates.append({**row, "id": old["id"], "version": old["version"]})
        else:
            kept.append((row, old))
    if kept:  # same fields: compare the geometries, all at once
        same = same_geometries([o["geom"] for _, o in kept], [c["geom"] for c, _ in kept])
        for (clean, old), unchanged in zip(kept, same.tolist(), strict=True):
            if unchanged:
                report.unchanged += 1
            else:
                updates.append({**clean, "id": old["id"], "version": old["version"]})
    linked = _link_new(session, model, inserts)
    insert_rows(session, model, inserts, "geom")
    update_rows(session, model, updates, "geom")
    report.inserted, report.updated = len(inserts), len(updates)
    if first_load:
        return None, linked
    keys = [(r["source"], r["source_id"]) for r in (*inserts, *updates)]
    return _ids(session, model, keys), linked


def _is_first_load(session: Session, model: type[Asset]) -> bool:
    """Whether the layer is empty, and stays so for other writers until this import commits.

    A first load skips the key look-ups and reports on the whole layer, so no other import
    may write into the layer meanwhile: the backend keeps other writers out (readers go on).
    """

    def empty() -> bool:
        return not session.execute(select(exists().where(model.id.is_not(None)))).scalar()

    if not empty():
        return False
    backend_of(session).keep_writers_out(session.connection(), model.__tablename__)
    return empty()


LINK_ON_INSERT_MIN_ROWS = 5_000
"""New point rows from which they are linked to their villages before they are inserted."""


def _link_new(session: Session, model: type[Asset], rows: list[dict[str, Any]]) -> int:
    """Give many new points their ``village_code`` before they are inserted; how many got one.

    A link after the insert rewrote 148,000 of 200,000 freshly copied towers: 1.9 s of a
    7.8 s import, and the join to find them another 1.0 s. :func:`geo.linking.point_villages`
    decides as :func:`geo.linking.link_assets` does (GEOS's intersection test, the smallest
    code). A first load is then only described; into a layer holding rows, the link by ids
    still runs and finds nothing to rewrite.
    """
    if model.geometry_type != "POINT" or len(rows) < LINK_ON_INSERT_MIN_ROWS:
        return 0
    from geo.linking import point_villages  # noqa: PLC0415 - linking imports the models too

    codes = point_villages(session, np.array([row["geom"] for row in rows], dtype=object))
    for row, code in zip(rows, codes, strict=True):
        row["village_code"] = code
    return sum(code is not None for code in codes)


def _ids(session: Session, model: type[Asset], keys: list[tuple[str, str]]) -> list[int]:
    """Ids of the rows of ``model`` whose ``(source, source_id)`` is one of ``keys``."""
    return [row.id for row in _by_keys(session, model, [model.id], keys)]


def _existing(
    session: Session,
    model: type[Asset],
    keys: list[tuple[str, str]],
    fields: list[str],
) -> dict[tuple[str, str], dict[str, Any]]:
    """Stored rows of ``keys`` by ``(source, source_id)``: id, version, ``fields``, geometry.

    What an upsert compares the incoming rows with; ``geom`` is a shapely geometry.
    """
    out: dict[tuple[str, str], dict[str, Any]] = {}
    cols = [
        model.id,
        model.version,
        model.source,
        model.source_id,
        *(getattr(model, f) for f in fields if f not in ("source", "source_id")),
        func.ST_AsBinary(model.geom).label("wkb"),
    ]
    found = _by_keys(session, model, cols, keys)
    geoms = shapely.from_wkb([bytes(row.wkb) for row in found])
    for row, geom in zip(found, geoms, strict=True):
        item = row._asdict()
        item["geom"] = geom
        del item["wkb"]
        out[(item["source"], item["source_id"])] = item
    return out


def _by_keys(
    session: Session, model: type[Asset], cols: list[Any], keys: list[tuple[str, str]]
) -> list[Any]:
    """Rows of ``model`` whose ``(source, source_id)`` is one of ``keys``."""
    return backend_of(session).rows_by_keys(session.connection(), model, cols, keys)
