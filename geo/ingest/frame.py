"""The import frame: one procedure for every kind of feature that enters the registry.

Every import, of a file, a GeoDataFrame or a single feature, goes the same way:

1. **load** (:func:`load`): read the file (or take the frame), refuse one over the size limit;
2. **CRS** (:func:`geo.ingest.validation.to_wgs84`): honour the file's CRS, diagnose a missing
   one, convert to EPSG:4326, report features outside Indonesia;
3. **provenance** (:func:`provenance`): each feature's own ``source`` value, else the import's;
4. **typed columns and blanks** (the importer's :meth:`Importer.prepare`), with one rule for what
   counts as blank (:func:`is_blank`), and **duplicate keys** (:func:`mark_duplicates`) worded
   the same for every layer;
5. **refuse or commit** (:func:`refuse_or_go_on`): a refused feature refuses the import unless
   ``skip_invalid``; writing (:meth:`Importer.write`) and linking (:meth:`Importer.link`) run in
   one transaction, so a failure anywhere leaves the registry as it was.

The per-layer steps are the :class:`Importer` hooks: boundaries keep their code checks and the
parent dissolve, assets their column typing and upsert keys. :func:`validate_feature` runs the
same steps on one feature given as properties and a geometry (the API's item writes), without
a file and without writing.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Hashable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import Engine
from sqlalchemy.orm import Session

import geopandas as gpd

from geo.errors import ImportRejected
from geo.ingest.readers import read_features, read_table
from geo.ingest.report import ImportReport, Progress, Severity, quiet
from geo.ingest.validation import WGS84, to_wgs84
from geo.perf import gc_paused
from geo.settings import ImportSettings
from geo.store.db import transaction

BLANKS = frozenset({"-"})
"""Cell values that mean "none" besides empty ones: the census extracts write ``-``."""


def is_blank(value: object) -> bool:
    """True for a missing cell: ``None``, NaN, text that is only white space, or ``-``."""
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return True
    text = str(value).strip()
    return not text or text in BLANKS


@dataclass(frozen=True)
class ImportOptions:
    """How to read and judge a source; the CLI's flags, one field each."""

    source_name: str | None = None
    """Provenance of features that carry none; default ``file:<name>``."""
    source_version: str | None = None
    file_layer: str | None = None
    """The layer of a multi-layer file (GeoPackage, KML, a zip of shapefiles)."""
    assume_crs: str | None = None
    """The CRS of a file that names none (``--crs``)."""
    lat_field: str | None = None
    lon_field: str | None = None
    skip_invalid: bool = False
    """Import the features that pass and list the refused, instead of refusing the import."""
    settings: ImportSettings | None = None


@dataclass
class Features:
    """A batch of features on its way in: the frame in EPSG:4326, its report and provenance."""

    gdf: pd.DataFrame
    """A GeoDataFrame in EPSG:4326; for records without geometry, a plain DataFrame."""
    label: str
    """The file's path, or what the frame called itself (``attrs["label"]``)."""
    report: ImportReport
    origins: list[str] = field(default_factory=list)
    """Each feature's provenance (:func:`provenance`)."""
    source_version: str | None = None
    state: Any = None
    """What the importer's hooks keep between steps (its plan, its rows)."""
    reread: Callable[[Collection[str]], gpd.GeoDataFrame] | None = None
    """Reads other columns of the same file (when it was read with ``read_columns`` only)."""

    @property
    def columns(self) -> list[str]:
        """The attribute columns (not the geometry)."""
        if not isinstance(self.gdf, gpd.GeoDataFrame):
            return list(self.gdf.columns)  # a table: records without geometry
        return [c for c in self.gdf.columns if c != self.gdf.geometry.name]


class Importer:
    """The steps of one kind of feature; the frame (:func:`run_import`) calls them in order."""

    target: str
    """What the report says is being imported (``boundaries``, ``tower``...)."""

    spatial: bool = True
    """Whether the features have a geometry; ``False``: records of a table (a village census),
    read by :func:`~geo.ingest.readers.read_table`, with no CRS step."""

    read_columns: Collection[str] | None = None
    """Attribute columns worth reading from a file (``None``: all of them)."""

    def prepare(self, features: Features, step: Progress) -> None:
        """Type the columns, validate geometries, find duplicate keys; add findings."""

    def check(self, session: Session, features: Features, step: Progress) -> None:
        """Checks that need the registry (codes against the code list, say)."""

    def streams(self, features: Features) -> bool:
        """Whether :meth:`write` validates as it writes; refusal is then decided after it."""
        return False

    def remaining(self, features: Features) -> int | None:
        """How many features are left to write, where an import left with none is refused."""
        return None

    def write(self, session: Session, features: Features, step: Progress) -> None:
        """Insert or update the features; count them in the report."""
        raise NotImplementedError

    def link(self, session: Session, features: Features, step: Progress) -> dict[str, Any] | None:
        """Link what was written (assets to their villages); the link report, if any."""
        return None


def load(source: str | Path | pd.DataFrame, importer: Importer, options: ImportOptions) -> Features:
    """Steps 1-3: read (or take) the features, put them in EPSG:4326, note their provenance.

    For an importer of records without geometry (``importer.spatial`` false) a table is read
    (or a DataFrame taken) and there is no CRS to settle.
    """
    reread = None
    if not importer.spatial:
        if isinstance(source, pd.DataFrame):
            table, label = source, source.attrs.get("label", "<DataFrame>")
        else:
            table = read_table(source, layer=options.file_layer, settings=options.settings)
            label = str(source)
        report = ImportReport(target=importer.target, path=label, read=len(table))
        origins = provenance(table, options.source_name, label)
        return Features(table, label, report, origins, options.source_version)
    if isinstance(source, gpd.GeoDataFrame):
        gdf, label = source, source.attrs.get("label", "<GeoDataFrame>")
    else:

        def reread(columns: Collection[str] | None) -> gpd.GeoDataFrame:
            """Read the file again, with only the attribute ``columns`` (``None``: all of them)."""
            return read_features(
                source,
                layer=options.file_layer,
                settings=options.settings,
                lat_field=options.lat_field,
                lon_field=options.lon_field,
                only_columns=columns,
            )

        gdf, label = reread(importer.read_columns), str(source)
    report = ImportReport(target=importer.target, path=label, read=len(gdf))
    gdf = to_wgs84(gdf, report, assume_crs=options.assume_crs)
    return Features(
        gdf,
        label,
        report,
        provenance(gdf, options.source_name, label),
        options.source_version or gdf.attrs.get("source_version"),
        reread=reread,
    )


def provenance(gdf: pd.DataFrame, source_name: str | None, label: str) -> list[str]:
    """Provenance of each feature: its own ``source`` value, else the import's.

    The import's is ``source_name``, else the frame's ``attrs["source_name"]``, else
    ``file:<file name>``. A per-feature ``source`` column wins: the sample regency's villages
    say ``sample`` and must stay labelled so in the registry.
    """
    origin = source_name or gdf.attrs.get("source_name") or f"file:{Path(label).name}"
    if "source" not in gdf.columns:
        return [origin] * len(gdf)
    return [origin if is_blank(value) else str(value).strip() for value in gdf["source"].tolist()]


def mark_duplicates(
    keys: Sequence[Hashable | None],
    report: ImportReport,
    *,
    what: str,
    field: str,
    shown: Callable[[Hashable], str] = str,
    feature_ids: Sequence[object] | None = None,
) -> np.ndarray:
    """Report every key seen before as an error; True for the first of each key.

    ``None`` keys (refused already) are skipped and come out False. The finding reads
    ``duplicate <what> <shown(key)> (also feature <first index>)``.
    """
    first_at: dict[Hashable, int] = {}
    keep = np.zeros(len(keys), dtype=bool)
    for i, key in enumerate(keys):
        if key is None:
            continue
        if key in first_at:
            report.add(
                Severity.ERROR,
                f"duplicate {what} {shown(key)} (also feature {first_at[key]})",
                index=i,
                feature_id=key if feature_ids is None else feature_ids[i],
                field=field,
            )
            continue
        first_at[key] = i
        keep[i] = True
    return keep


def refuse_or_go_on(report: ImportReport, *, skip_invalid: bool, left: int | None) -> None:
    """Step 5: raise :class:`~geo.errors.ImportRejected` when the import cannot go on.

    Counts the refused features and puts the findings in file order first. A refused feature
    refuses the import unless ``skip_invalid``; so does having ``left == 0`` features to write.
    """
    report.rejected = len(report.rejected_indexes())
    report.sort_issues()
    if report.rejected and not skip_invalid:
        raise ImportRejected(
            f"{report.rejected} of {report.read} features refused; nothing was imported", report
        )
    if left == 0:
        raise ImportRejected("no feature left to import; nothing was imported", report)


@gc_paused()
def run_import(
    engine: Engine,
    importer: Importer,
    source: str | Path | pd.DataFrame,
    options: ImportOptions,
    progress: Progress | None = None,
) -> ImportReport:
    """Import ``source`` through ``importer``'s hooks, in one transaction; return the report.

    Raises :class:`~geo.errors.ImportRejected` (nothing written) when a feature is refused,
    unless ``options.skip_invalid``.
    """
    step = progress or quiet
    step("reading")
    features = load(source, importer, options)
    importer.prepare(features, step)
    report, skip = features.report, options.skip_invalid
    with transaction(engine) as session:
        importer.check(session, features, step)
        streamed = importer.streams(features)
        if not streamed:
            refuse_or_go_on(report, skip_invalid=skip, left=importer.remaining(features))
        importer.write(session, features, step)
        if streamed:
            refuse_or_go_on(report, skip_invalid=skip, left=importer.remaining(features))
        report.link = importer.link(session, features, step)
    report.committed = True
    return report


def validate_feature(
    importer: Importer,
    properties: Mapping[str, Any],
    geometry: Any,
    *,
    session: Session | None = None,
    options: ImportOptions | None = None,
) -> Features:
    """Validate one feature as an import of a one-feature file would, writing nothing.

    ``geometry`` is a shapely geometry in EPSG:4326 (``options.assume_crs`` names another).
    With a ``session`` the checks that need the registry run too. Returns the prepared
    features (``state`` holds what :meth:`Importer.write` would write); raises
    :class:`~geo.errors.ImportRejected` whose report names the field, as for a file.
    """
    options = options or ImportOptions()
    if importer.spatial:
        crs = None if options.assume_crs else WGS84
        gdf = gpd.GeoDataFrame([dict(properties)], geometry=[geometry], crs=crs)
    else:  # a record: ``geometry`` is None
        gdf = pd.DataFrame([dict(properties)])
    gdf.attrs["label"] = "<feature>"
    features = load(gdf, importer, options)
    importer.prepare(features, quiet)
    if session is not None:
        importer.check(session, features, quiet)
    refuse_or_go_on(features.report, skip_invalid=False, left=importer.remaining(features))
    return features
