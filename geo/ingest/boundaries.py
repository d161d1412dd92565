"""Importing administrative boundaries and the Kemendagri code list.

The level of each feature is read from its code (``35.07`` a regency, ``35.07.01.2001`` a
village). Parent areas that the file does not carry are created by dissolving their children,
named from the code list, and marked ``source='derived:dissolve'``; an official boundary imported
later replaces them. Every import is one transaction: on any refused feature nothing is written
(unless ``skip_invalid``), and importing the same file twice changes nothing.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import Engine, exists, false, func, or_, select
from sqlalchemy.orm import Session

import geopandas as gpd

from geo.codes import (
    LEVELS,
    InvalidCode,
    Level,
    ancestors_of,
    kind_of,
    level_of,
    normalize_code,
    parent_of,
)
from geo.errors import UnreadableFile
from geo.geometry import area_km2, dissolve, label_points
from geo.ingest import frame, pipeline
from geo.ingest.pipeline import ChunkPipeline, workers
from geo.ingest.report import ImportReport, Issue, Progress, Severity
from geo.ingest.validation import clean_geometries
from geo.perf import gc_paused
from geo.store.backend import backend_of
from geo.store.db import transaction
from geo.store.models import AREA_MODELS, AdminArea, AreaCode
from geo.store.writes import (
    Inserter,
    changed_fields,
    read_geometries,
    same_geometries,
    update_rows,
)

CODE_FIELDS = ("code", "kode", "kode_wilayah", "kode_kemendagri", "kode_kemendagri_matched")
NAME_FIELDS = ("name", "nama", "nama_desa", "namobj")
PARENT_NAME_FIELDS = {
    Level.DISTRICT: "nama_kec",
    Level.REGENCY: "nama_kab",
    Level.PROVINCE: "nama_prov",
}
PARENT_CODE_FIELDS = {
    Level.DISTRICT: "kode_kec",
    Level.REGENCY: "kode_kab",
    Level.PROVINCE: "kode_prov",
}
DERIVED = "derived:dissolve"
COMPARED = ("name", "kind", "parent_code", "parent_id", "source", "source_version", "geometry_note")


@dataclass(slots=True)
class _Area:
    """One area to write, read from the file or dissolved from its children, with its measures."""

    code: str
    name: str
    geom: Any
    """As read until :func:`_prepare` validates it; then the geometry to store, or ``None``."""
    source: str
    source_version: str | None
    note: str | None = None
    index: int | None = None
    km2: float = 0.0
    label: tuple[float, float] = (0.0, 0.0)
    wkb: bytes = b""
    """The boundary encoded for the backend's bulk writer."""
    refused: bool = False
    level: Level = field(init=False)
    parent: str | None = field(init=False)

    def __post_init__(self) -> None:
        self.level = level_of(self.code)
        self.parent = parent_of(self.code)


@dataclass
class _Plan:
    """What a boundary import writes: the file's areas, derived parents, the registry's rows."""

    incoming: dict[str, _Area] = field(default_factory=dict)
    derived: dict[str, _Area] = field(default_factory=dict)
    existing: dict[str, dict[str, Any]] = field(default_factory=dict)
    known_names: dict[str, str] = field(default_factory=dict)
    same_geometry: set[str] = field(default_factory=set)
    """Codes whose stored boundary equals the incoming one."""
    code_field: str = "code"
    name_field: str = "name"
    """The file's columns, named in the report so the user finds the value."""


def _pick(
    columns: list[str], wanted: str | None, candidates: tuple[str, ...], what: str
) -> str | None:
    """The column ``wanted``, else the first of ``candidates`` found (any case), else ``None``.

    Raises :class:`~geo.errors.UnreadableFile` when ``wanted`` is not a column of the file.
    """
    if wanted is not None:
        if wanted not in columns:
            raise UnreadableFile(
                f"no column {wanted!r} for the {what}; columns: {', '.join(columns)}"
            )
        return wanted
    lowered = {c.lower(): c for c in columns}
    return next((lowered[c] for c in candidates if c in lowered), None)


def import_boundaries(
    engine: Engine,
    source: str | Path | gpd.GeoDataFrame,
    *,
    code_field: str | None = None,
    name_field: str | None = None,
    progress: Progress | None = None,
    **options: Any,
) -> ImportReport:
    """Import administrative boundaries of any level from a file or a GeoDataFrame.

    ``code_field`` and ``name_field`` name the columns when they are not among
    :data:`CODE_FIELDS` and :data:`NAME_FIELDS`. ``options`` are the fields of
    :class:`~geo.ingest.frame.ImportOptions` (``source_name``, ``source_version``,
    ``file_layer``, ``assume_crs``, ``skip_invalid``, ``settings``). Returns the report;
    raises :class:`~geo.errors.ImportRejected` (nothing written) when a feature is refused,
    unless ``skip_invalid`` imports the others and reports the refused.
    """
    settings = frame.ImportOptions(**options)
    with workers() as pool:
        importer = BoundaryImporter(
            pool, code_field=code_field, name_field=name_field, skip_invalid=settings.skip_invalid
        )
        return frame.run_import(engine, importer, source, settings, progress)


class BoundaryImporter(frame.Importer):
    """The frame's hooks for boundaries: codes and their checks, the parent dissolve.

    The level of each feature is read from its code. Boundaries are validated, measured and
    encoded in the worker threads of ``pool`` (:class:`~geo.ingest.pipeline.ChunkPipeline`):
    in the common case while earlier chunks are written, otherwise all before any is written.
    """

    target = "boundaries"

    def __init__(
        self,
        pool: ThreadPoolExecutor,
        *,
        code_field: str | None = None,
        name_field: str | None = None,
        skip_invalid: bool = False,
    ) -> None:
        self.pool, self.code_field, self.name_field = pool, code_field, name_field
        self.skip_invalid = skip_invalid
        self.read_columns = {
            *CODE_FIELDS,
            *NAME_FIELDS,
            "source",
            *(c for c in (code_field, name_field) if c),
        }
        self.pipeline: ChunkPipeline[_Area] | None = None
        self.encoder: Callable[[np.ndarray], list[bytes]] | None = None
        self.streaming = False

    def prepare(self, features: frame.Features, step: Progress) -> None:
        """Find the code and name columns, read the codes; the plan of areas to write."""
        gdf, report, columns = features.gdf, features.report, features.columns
        code_col = _pick(columns, self.code_field, CODE_FIELDS, "Kemendagri code")
        if code_col is None:
            raise UnreadableFile(
                f"{features.label}: no Kemendagri code column (looked for "
                f"{', '.join(CODE_FIELDS)}); name it with --code-field"
            )
        name_col = _pick(columns, self.name_field, NAME_FIELDS, "name")
        codes = _read_codes(gdf, code_col, report)
        names = gdf[name_col].tolist() if name_col else [None] * len(gdf)
        plan = _Plan(code_field=code_col, name_field=name_col or "name")
        _collect_incoming(
            plan,
            codes,
            names,
            gdf.geometry.to_numpy(),
            report,
            features.origins,
            features.source_version,
        )
        features.state = plan

    def check(self, session: Session, features: frame.Features, step: Progress) -> None:
        """Start validating in the workers, check the codes; decide whether to stream."""
        plan, report = features.state, features.report
        self.encoder = backend_of(session).encode_geometries
        self.pipeline = ChunkPipeline(
            self.pool,
            report,
            list(plan.incoming.values()),
            partial(_prepare, encode=self._encode),
            group=lambda area: area.level,
            groups=LEVELS,
            what="areas",
        )
        step(f"checking {len(plan.incoming):,} codes")
        self.pipeline.progress = step
        _check_codes(session, plan, report)
        self.streaming = not (report.errors or self.skip_invalid or _may_derive(plan))
        if not self.streaming:
            self.encoder = None  # chunks not done yet are encoded when written, after all
            # Every feature is validated before anything is written: refused features take
            # their dependants with them, and dissolved parents need valid children.
            self.pipeline.drain()
            _drop_refused(plan)
            for area in plan.incoming.values():
                area.wkb = b""  # encoded again chunk by chunk when written, after the dissolve

    def _encode(self, geoms: np.ndarray) -> list[bytes]:
        """The workers' encoding: the backend's while streaming, none once it will not stream."""
        encoder = self.encoder
        return encoder(geoms) if encoder is not None else [b""] * len(geoms)

    def streams(self, features: frame.Features) -> bool:
        """Streamed unless something is refused, refusals are skipped or parents derived."""
        return self.streaming

    def remaining(self, features: frame.Features) -> int:
        """Areas left to write; an import left with none is refused."""
        return len(features.state.incoming)

    def write(self, session: Session, features: frame.Features, step: Progress) -> None:
        """Write the areas level by level, with the parents the file does not carry."""
        plan, report = features.state, features.report
        if self.streaming:
            # The common case: chunk n+1 is validated and encoded by the worker threads
            # while chunk n is written and the database parses chunk n-1.
            step(f"validating and writing {len(plan.incoming):,} areas")
            _write(session, plan, report, self.pipeline)
            _drop_refused(plan)
            return
        _compare_geometries(session, plan, list(plan.incoming.values()))
        _derive_parents(session, plan, _ParentNames(features), self.pool, step)
        derived = list(plan.derived.values())
        if derived:
            _measure(derived, np.array([a.geom for a in derived], dtype=object), encode=None)
        step(f"writing {len(plan.incoming) + len(plan.derived):,} areas")
        _write(session, plan, report, None)

    def link(
        self, session: Session, features: frame.Features, step: Progress
    ) -> dict[str, Any] | None:
        """Relink every asset when a village (or a parent) changed."""
        report = features.report
        if not (report.inserted or report.updated or report.derived):
            return None
        from geo.linking import link_assets  # noqa: PLC0415 - avoids an import cycle

        step("linking assets to the changed villages")
        return link_assets(session).to_dict()


def _read_codes(gdf: gpd.GeoDataFrame, column: str, report: ImportReport) -> list[str | None]:
    """Each feature's code in dotted form; ``None`` (and an error) where bad or repeated."""
    codes: list[str | None] = []
    raw_codes = gdf[column].tolist()
    for i, raw in enumerate(raw_codes):
        try:
            codes.append(normalize_code(raw))
        except InvalidCode as exc:
            report.add(Severity.ERROR, str(exc), index=i, feature_id=raw, field=column)
            codes.append(None)
    first = frame.mark_duplicates(codes, report, what="code", field=column)
    return [code if keep else None for code, keep in zip(codes, first.tolist(), strict=True)]


def _prepare(chunk: list[_Area], *, encode: Callable[[np.ndarray], list[bytes]]) -> list[Issue]:
    """Validate and repair a chunk's boundaries, then measure and encode the accepted ones."""
    found = ImportReport(target="boundaries", path="")
    cleaned = clean_geometries(
        np.array([a.geom for a in chunk], dtype=object),
        "MULTIPOLYGON",
        found,
        ids=[a.code for a in chunk],
        indexes=[a.index for a in chunk],
    )
    notes = {i.index: i.reason for i in found.repaired}
    accepted = []
    for area, geom in zip(chunk, cleaned, strict=True):
        area.geom = geom
        area.refused = geom is None
        area.note = notes.get(area.index)
        if geom is not None:
            accepted.append(area)
    if accepted:
        _measure(accepted, np.array([a.geom for a in accepted], dtype=object), encode=encode)
    return found.issues


def _measure(
    areas: list[_Area], geoms: np.ndarray, *, encode: Callable[[np.ndarray], list[bytes]] | None
) -> None:
    """Area and label point of each area, and its encoding for the bulk writer if ``encode``."""
    km2 = area_km2(geoms)
    labels = label_points(geoms)
    wkbs = encode(geoms) if encode is not None else [b""] * len(areas)
    for area, a_km2, (x, y), wkb in zip(areas, km2.tolist(), labels.tolist(), wkbs, strict=True):
        area.km2, area.label, area.wkb = a_km2, (x, y), wkb


def _drop_refused(plan: _Plan) -> None:
    """Remove from ``plan.incoming`` the areas whose boundary was refused."""
    for code in [code for code, area in plan.incoming.items() if area.refused]:
        del plan.incoming[code]


def _may_derive(plan: _Plan) -> bool:
    """True when some parent of an incoming area is not in the file and is (or will be) derived."""
    return any(
        area.parent is not None and _needs_derivation(plan, area.parent)
        for area in plan.incoming.values()
    )


def _collect_incoming(
    plan: _Plan,
    codes: list,
    names: list,
    geoms: np.ndarray,
    report: ImportReport,
    origins: list[str],
    version: str | None,
) -> None:
    """Put in ``plan.incoming``, by code, each feature with a usable code that was not refused.

    A blank name stays empty here: :func:`_check_codes` takes it from the code list.
    """
    rejected = report.rejected_indexes()
    for i, (code, name, geom) in enumerate(zip(codes, names, geoms, strict=True)):
        if code is None or i in rejected:
            continue
        text = None if frame.is_blank(name) else str(name).strip()
        plan.incoming[code] = _Area(code, text or "", geom, origins[i], version, index=i)


def _check_codes(session: Session, plan: _Plan, report: ImportReport) -> None:
    """Refuse areas with an unknown code or parent, or no name; note what the registry holds.

    A missing name is taken from the code list; one that differs from it is only warned about.
    """
    wanted = set(plan.incoming)
    for parent in {a.parent for a in plan.incoming.values() if a.parent is not None}:
        wanted.add(parent)
        wanted.update(ancestors_of(parent))
    known = _code_list(session, wanted)
    plan.existing = _registry(session, wanted)
    has_code_list = session.scalar(select(exists().where(AreaCode.code.is_not(None))))
    if not has_code_list:
        report.add(
            Severity.WARNING,
            "no Kemendagri code list in the registry: codes were checked for "
            "form only, and every parent area must be in the registry or the file "
            "(run `petadesa codes import`)",
        )
    # Top level first, so that a refused parent also refuses the children that rely on it.
    for code, area in sorted(plan.incoming.items(), key=lambda item: item[0].count(".")):
        parent = parent_of(code)
        if has_code_list and code not in known:
            _refuse(
                plan,
                report,
                area,
                f"unknown code {code}: not in the Kemendagri code list",
                plan.code_field,
            )
        elif (
            parent
            and parent not in plan.incoming
            and parent not in plan.existing
            and parent not in known
        ):
            _refuse(
                plan,
                report,
                area,
                f"unknown parent code {parent}: not in the registry, the file or the code list",
                plan.code_field,
            )
        elif not area.name:
            if code in known:
                area.name = known[code]
            else:
                _refuse(
                    plan,
                    report,
                    area,
                    "no name, and the code is not in the code list",
                    plan.name_field,
                )
        elif code in known and not same_name(known[code], area.name):
            report.add(
                Severity.WARNING,
                f"name {area.name!r} differs from the code list's {known[code]!r}",
                index=area.index,
                feature_id=code,
                field=plan.name_field,
            )
    plan.known_names = known


def same_name(a: str, b: str) -> bool:
    """Whether two area names are the same but for case and white space.

    Upstream files and the code list write the same village as "Sawang Ii" and "Sawang II",
    "Urek - Urek" and "Urek-Urek": 594 warnings on the national file that said nothing.
    """
    return "".join(a.split()).casefold() == "".join(b.split()).casefold()


def _refuse(plan: _Plan, report: ImportReport, area: _Area, reason: str, field_name: str) -> None:
    """Report ``area`` as refused (an error on ``field_name``) and drop it from the plan."""
    report.add(Severity.ERROR, reason, index=area.index, feature_id=area.code, field=field_name)
    del plan.incoming[area.code]


def _provinces_of(codes: set[str]) -> list[str]:
    """The province codes (the first two digits) that ``codes`` lie in, sorted."""
    return sorted({code[:2] for code in codes})


def _under_provinces(column: Any, provinces: list[str]) -> Any:
    """``column`` is one of the provinces or below them: one indexed range scan per province.

    No provinces (every feature refused before the look-up) matches nothing.
    """
    return or_(false(), *(or_(column == p, column.like(f"{p}.%")) for p in provinces))


def _code_list(session: Session, codes: set[str]) -> dict[str, str]:
    """Code-list names of ``codes``, by code, read province by province."""
    # Core, not the ORM: no ORM row processing for the ~9,000 codes of a province
    rows = session.connection().execute(
        select(AreaCode.code, AreaCode.name).where(
            _under_provinces(AreaCode.code, _provinces_of(codes))
        )
    )
    return {code: name for code, name in rows if code in codes}


def _registry(session: Session, codes: set[str]) -> dict[str, dict[str, Any]]:
    """Rows in force of ``codes``, by code: id, version and the fields in :data:`COMPARED`."""
    provinces = _provinces_of(codes)
    out: dict[str, dict[str, Any]] = {}
    for model in AREA_MODELS.values():
        cols = [model.id, model.code, model.version, *(getattr(model, c) for c in COMPARED)]
        rows = session.connection().execute(
            select(*cols).where(_under_provinces(model.code, provinces), model.in_force())
        )
        out.update({row["code"]: dict(row) for row in rows.mappings() if row["code"] in codes})
    return out


def _compare_geometries(session: Session, plan: _Plan, areas: list[_Area]) -> None:
    """Note in ``plan.same_geometry`` which of ``areas`` already stored keep their boundary."""
    by_level: dict[Level, list[_Area]] = defaultdict(list)
    for area in areas:
        if area.code in plan.existing:
            by_level[area.level].append(area)
    for level_areas in by_level.values():
        _mark_same(plan, level_areas, _stored_geometries(session, plan, level_areas))


def _mark_same(plan: _Plan, areas: list[_Area], stored: dict[str, Any]) -> None:
    """Note in ``plan.same_geometry`` the areas whose boundary equals the stored one."""
    if areas:
        same = same_geometries([stored.get(a.code) for a in areas], [a.geom for a in areas])
        plan.same_geometry.update(a.code for a, s in zip(areas, same.tolist(), strict=True) if s)


def _needs_derivation(plan: _Plan, parent: str) -> bool:
    """Whether ``parent`` is to be dissolved: not in the file, and absent or derived if stored.

    An official boundary already stored is never replaced by a dissolve.
    """
    if parent in plan.incoming:
        return False
    return plan.existing.get(parent, {}).get("source", DERIVED) == DERIVED


def _derive_parents(
    session: Session,
    plan: _Plan,
    names: _ParentNames,
    pool: ThreadPoolExecutor,
    step: Progress,
) -> None:
    """Create or refresh, bottom-up, every ancestor the file does not carry, by dissolving children.

    Only ancestors of new or changed areas are dissolved again, so re-importing an unchanged
    file does no geometry work. The parents of one level are dissolved side by side by the
    worker threads (GEOS releases the GIL).
    """
    geoms = {
        code: area.geom for code, area in plan.incoming.items() if code not in plan.same_geometry
    }
    for level in reversed(LEVELS[:-1]):
        targets = sorted(
            {
                parent
                for code in list(geoms)
                if level_of(code) is not Level.PROVINCE
                and (parent := parent_of(code))
                and level_of(parent) is level
                and _needs_derivation(plan, parent)
            }
        )
        if not targets:
            continue
        step(f"dissolving {len(targets):,} {level} areas the file does not carry")
        fresh = {
            **geoms,
            **{c: a.geom for c, a in plan.incoming.items() if c in plan.same_geometry},
        }
        children = _children_geometries(
            session, AREA_MODELS[LEVELS[LEVELS.index(level) + 1]], targets, fresh
        )
        dissolved = pool.map(dissolve, [children[code] for code in targets])
        for code, geom in zip(targets, dissolved, strict=True):
            parts = children[code]
            name = plan.known_names.get(code) or names.of(level, code)
            plan.derived[code] = _Area(
                code,
                name,
                geom,
                DERIVED,
                None,
                f"dissolved from {len(parts)} {LEVELS[LEVELS.index(level) + 1]} areas",
            )
            geoms[code] = geom
    _compare_geometries(session, plan, list(plan.derived.values()))


def _children_geometries(
    session: Session, child_model: type[AdminArea], parents: list[str], fresh: dict[str, Any]
) -> dict[str, list[Any]]:
    """The children's boundaries of each of ``parents``: from ``fresh``, else those in force."""
    out: dict[str, list[Any]] = defaultdict(list)
    wanted = set(parents)
    for code, geom in fresh.items():
        parent = parent_of(code)
        if parent in wanted and level_of(code) is child_model.level:
            out[parent].append(geom)
    rows = session.execute(
        select(child_model.code, child_model.parent_code, child_model.id).where(
            child_model.parent_code.in_(parents), child_model.in_force()
        )
    ).all()
    stale = {row.id: row.parent_code for row in rows if row.code not in fresh}
    if stale:
        stored = read_geometries(session, child_model.boundary, child_model.id, list(stale))
        for row_id, geom in stored.items():
            out[stale[row_id]].append(geom)
    return out


class _ParentNames:
    """Parent names as the file writes them (``nama_kec`` beside ``kode_kec``...), by code.

    Only asked for a parent the code list does not name, so the columns are not read with the
    file: reading six more text columns of 84,940 villages took 0.3 s, 7% of the import. The
    first question reads them (from the frame, or the file again).
    """

    def __init__(self, features: frame.Features) -> None:
        self.features = features
        self._names: dict[Level, dict[str, str]] | None = None

    def of(self, level: Level, code: str) -> str:
        """The file's name of the area ``code``, else its kind and code."""
        if self._names is None:
            self._names = self._read()
        return self._names.get(level, {}).get(code) or f"{kind_of(code).capitalize()} {code}"

    def _read(self) -> dict[Level, dict[str, str]]:
        """Parent names by level and code, from the frame or, lacking those columns, the file."""
        gdf = self.features.gdf
        wanted = [*PARENT_NAME_FIELDS.values(), *PARENT_CODE_FIELDS.values()]
        if self.features.reread is not None and not set(wanted) <= set(gdf.columns):
            gdf = self.features.reread(wanted)
        out: dict[Level, dict[str, str]] = {}
        for level, column in PARENT_NAME_FIELDS.items():
            key = PARENT_CODE_FIELDS[level]
            if column in gdf.columns and key in gdf.columns:
                pairs = [
                    (str(code), str(name).strip())
                    for code, name in zip(gdf[key].tolist(), gdf[column].tolist(), strict=True)
                    if not frame.is_blank(name)
                ]
                out[level] = dict(reversed(pairs))  # the first feature's name wins
        return out


def _write(
    session: Session, plan: _Plan, report: ImportReport, validating: ChunkPipeline[_Area] | None
) -> None:
    """Insert or update the incoming and derived areas, level by level from the top.

    With ``validating`` (streaming) the incoming areas are validated chunk by chunk as they are
    written: refused ones are skipped, and once one is refused nothing more is written (the
    import is then refused as a whole and rolled back). Without, all are validated already.
    """
    ids = {code: row["id"] for code, row in plan.existing.items()}
    by_level: dict[Level, list[_Area]] = defaultdict(list)
    for area in (*plan.incoming.values(), *plan.derived.values()):
        by_level[area.level].append(area)
    for level in LEVELS:
        model = AREA_MODELS[level]
        areas = by_level[level]
        if not areas:
            continue
        if validating is None:
            stored, chunks = None, _encoded_chunks(session, areas)
        else:
            stored, chunks = _stored_geometries(session, plan, areas), validating.chunks(level)
        inserted, updated, unchanged = _upsert_level(
            session, model, areas, chunks, plan, ids, stored, report
        )
        report.inserted += sum(1 for c in inserted if c in plan.incoming)
        report.updated += sum(1 for c in updated if c in plan.incoming)
        report.unchanged += sum(1 for c in unchanged if c in plan.incoming)
        refreshed = sum(1 for c in (*inserted, *updated) if c in plan.derived)
        if refreshed:
            report.derived[str(level)] = refreshed
        if inserted and level is not Level.VILLAGE:  # only parents' ids are needed later
            new = session.execute(
                select(model.code, model.id).where(model.code.in_(inserted), model.in_force())
            )
            ids.update(dict(new.all()))


def _encoded_chunks(session: Session, areas: list[_Area]) -> Iterator[list[_Area]]:
    """Chunks of areas validated already, each encoded for the bulk writer as it is taken.

    One chunk's encoding at a time: all 84,940 villages' at once are 130 MB more at the peak.
    """
    encode = backend_of(session).encode_geometries
    for start in range(0, len(areas), pipeline.CHUNK_SIZE):
        chunk = areas[start : start + pipeline.CHUNK_SIZE]
        for area, wkb in zip(chunk, encode([a.geom for a in chunk]), strict=True):
            area.wkb = wkb
        yield chunk


def _stored_geometries(session: Session, plan: _Plan, areas: list[_Area]) -> dict[str, Any]:
    """Stored boundaries of the areas already in the registry, by code."""
    by_id = {plan.existing[a.code]["id"]: a.code for a in areas if a.code in plan.existing}
    if not by_id:
        return {}
    model = AREA_MODELS[level_of(areas[0].code)]
    stored = read_geometries(session, model.boundary, model.id, list(by_id))
    return {by_id[row_id]: geom for row_id, geom in stored.items()}


def _upsert_level(
    session: Session,
    model: type[AdminArea],
    areas: list[_Area],
    chunks: Iterator[list[_Area]],
    plan: _Plan,
    ids: dict[str, int],
    stored: dict[str, Any] | None,
    report: ImportReport,
) -> tuple[list[str], list[str], list[str]]:
    """Write one level's areas chunk by chunk; updates go after the inserts' ``COPY``.

    ``stored`` (streaming) holds the stored boundaries to compare with; without it the
    comparison was made beforehand (``plan.same_geometry``).
    """
    updates, inserted, updated, unchanged = [], [], [], []
    new = sum(1 for a in areas if a.code not in plan.existing)
    with Inserter(session, model, "boundary", expected=new) as inserter:
        for chunk in chunks:
            if stored is not None:
                mine = [a for a in chunk if not a.refused and a.code in plan.existing]
                _mark_same(plan, mine, stored)
            inserts = []
            for area in chunk:
                if area.refused or area.code not in plan.incoming and area.code not in plan.derived:
                    continue  # refused here or by its code
                parent = area.parent
                row = {
                    "code": area.code,
                    "name": area.name,
                    "kind": kind_of(area.code),
                    "parent_code": parent,
                    "parent_id": ids.get(parent) if parent else None,
                    "source": area.source,
                    "source_version": area.source_version,
                    "geometry_note": area.note,
                    "area_km2": area.km2,
                    "label_lon": area.label[0],
                    "label_lat": area.label[1],
                }
                old = plan.existing.get(area.code)
                if old is None:
                    inserts.append({**row, "boundary": area.wkb})
                    inserted.append(area.code)
                    continue
                if changed_fields(old, row, COMPARED) or area.code not in plan.same_geometry:
                    row.update(boundary=area.geom, id=old["id"], version=old["version"])
                    updates.append(row)
                    updated.append(area.code)
                else:
                    unchanged.append(area.code)
            if not report.errors:  # once a feature is refused the import will be rolled back
                inserter.write(inserts)
            for area in chunk:
                area.wkb = b""  # written: the encoded copy is not needed any more
    update_rows(session, model, updates, "boundary")
    return inserted, updated, unchanged


@gc_paused()
def import_code_list(
    engine: Engine,
    source: str | Path | pd.DataFrame,
    *,
    prefix: str | None = None,
    source_name: str | None = None,
) -> ImportReport:
    """Load (or refresh) the Kemendagri code list used to name areas and refuse unknown codes."""
    if isinstance(source, pd.DataFrame):
        code_list = source
    else:
        from geo.ingest.sources.codelist import read_code_list  # noqa: PLC0415

        code_list = read_code_list(Path(source), prefix=prefix)
    label = "<DataFrame>" if isinstance(source, pd.DataFrame) else str(source)
    origin = source_name or f"file:{Path(label).name}"
    report = ImportReport(target="area_code", path=label, read=len(code_list))
    rows = code_list.assign(source=origin)[
        ["code", "name", "level", "kind", "parent_code", "source"]
    ]
    rows = rows.astype(object).where(rows.notna(), None).to_dict("records")
    with transaction(engine) as session:
        existing = dict(session.execute(select(AreaCode.code, AreaCode.name)).all())
        new = [r for r in rows if r["code"] not in existing]
        changed = [r for r in rows if r["code"] in existing and existing[r["code"]] != r["name"]]
        if new:
            session.execute(AreaCode.__table__.insert(), new)
        for row in changed:
            session.get(AreaCode, row["code"]).name = row["name"]
        report.inserted, report.updated = len(new), len(changed)
        report.unchanged = len(rows) - len(new) - len(changed)
        report.committed = True
    return report


def count_areas(engine_or_session: Engine | Session) -> dict[str, int]:
    """Number of current areas per level."""

    def run(session: Session) -> dict[str, int]:
        """Count the areas in force per level in ``session``."""
        return {
            str(level): session.scalar(
                select(func.count()).select_from(model).where(model.in_force())
            )
            for level, model in AREA_MODELS.items()
        }

    if isinstance(engine_or_session, Session):
        return run(engine_or_session)
    with transaction(engine_or_session) as session:
        return run(session)
