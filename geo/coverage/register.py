"""The connectivity register: per village and run, its class, where it came from, how sure.

:func:`run_coverage` is the whole analysis in one transaction: the DEM and population grid
checked over the region, the registry's towers modelled (:mod:`geo.coverage.model`), shares of
area and people per technology (:mod:`geo.coverage.zonal`), blank-spot areas, the distance
from each village office to the fibre network and to the nearest tower on air, and one
:class:`~geo.store.models.VillageConnectivity` row per village reconciled by these rules:

1. a village with a fibre node or route of the registry linked to it (not planned) is
   ``fibre`` (source ``fibre network``, confidence high);
2. otherwise the survey and the model are compared. The census class is the village's own
   answer (:func:`census_class`); the model class is the best technology that reaches at least
   half of its people (half of its area without a population grid), else ``blank spot``
   (:func:`model_class`).

   - both agree: that class, source ``census+model``, confidence high (medium when the model
     ran on sample inputs);
   - only one exists: that one, confidence medium (low when the model ran on sample inputs);
   - they differ: the census wins (what residents report beats a line-of-sight model), the
     confidence is low and ``disagreement`` says what each said;
   - neither: ``unknown``.

A run records its parameters and the SHA-256 digest of every input; results are kept per run,
and queries read the latest (:func:`geo.queries.connectivity`).
"""

from __future__ import annotations

import json
import math
import shutil
import uuid
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import Engine, bindparam, func, insert, or_, select
from sqlalchemy.orm import Session

import geopandas as gpd
import rasterio
import shapely
from rasterio.enums import Resampling

from geo import queries
from geo.coverage.grid import (
    Grid,
    array_profile,
    dem_step,
    region_grid,
    warp_to_grid,
)
from geo.coverage.measured import reach_class, village_measurements
from geo.coverage.model import (
    OUTSIDE,
    TECHNOLOGY_CODES,
    ModelParameters,
    ModelResult,
    model_coverage,
)
from geo.coverage.rasters import RasterKind, open_raster
from geo.coverage.signal import SignalInput, merge_signals, open_signals
from geo.coverage.zonal import (
    MIN_BLANK_SPOT_KM2,
    PEOPLE_COLUMNS,
    SHARE_COLUMNS,
    blank_spots,
    no_blank_spots,
    people_on_grid,
    village_stats,
)
from geo.errors import AreaNotFound, ConfigurationError
from geo.geometry import utm_epsg
from geo.ingest.report import Progress, quiet
from geo.settings import CoverageSettings
from geo.store.backend import WKB_PARAM, backend_of
from geo.store.db import transaction
from geo.store.models import (
    BlankSpot,
    CoverageRun,
    FibreNode,
    FibreRoute,
    Tower,
    VillageConnectivity,
    utcnow,
)

CLASSES = ("fibre", "4G", "3G only", "2G only", "blank spot", "unknown")
"""Connectivity classes, best first."""
METHOD = "line of sight (GDAL viewshed) within a range per technology"
OFFICE_TYPES = frozenset(
    {"village_office", "kantor kepala desa", "kantor lurah", "kantor desa", "balai desa"}
)
"""``facility_type`` values of a village office (the real files write them in Indonesian)."""
_CENSUS_CLASS = {"4G": "4G", "3G": "3G only", "2G": "2G only", "none": "blank spot"}


@dataclass
class RunSummary:
    """What a coverage run did: its id, inputs, towers, and its register as a frame."""

    run_id: int
    scope: str
    sample: bool
    towers_modelled: int
    towers_skipped: dict[str, int]
    coverage_path: Path | None
    """The best-technology GeoTIFF (``None`` when nothing was modelled)."""
    register: pd.DataFrame
    blank_spots: gpd.GeoDataFrame
    inputs: list[dict[str, Any]] = field(default_factory=list)


def census_class(signal_strength: Any, mobile_internet: Any) -> str | None:
    """The class a village census gives: no signal or no mobile internet is a blank spot."""
    if signal_strength == "none":
        return "blank spot"
    if mobile_internet is None or pd.isna(mobile_internet):
        return None
    return _CENSUS_CLASS.get(str(mobile_internet))


def model_class(shares: dict[int, float]) -> str | None:
    """The model's class from the shares per best technology code (of people, or of area).

    The best technology whose reach (it or better) covers at least
    :data:`~geo.coverage.measured.MAJORITY`, else ``blank spot``; ``None`` when the village
    is not on the DEM (no shares).
    """
    if not shares or any(math.isnan(v) for v in shares.values()):
        return None
    return reach_class(shares)


def reconcile(
    census: str | None,
    model: str | None,
    has_fibre: bool,
    *,
    sample: bool,
    survey: str | None,
    measured: str | None = None,
) -> dict[str, Any]:
    """Class, source, confidence and disagreement of one village (the module's rules)."""
    said = [("census", census), ("measurements", measured), ("model", model)]
    present = [(name, cls) for name, cls in said if cls]
    disagreement = None
    if len({cls for _, cls in present}) > 1:
        disagreement = "; ".join(_says(name, cls, survey) for name, cls in present)
    if has_fibre:
        return _decided("fibre", "fibre network", "high", disagreement)
    if not present:
        return _decided("unknown", "none", "none", None)
    first, cls = present[0]  # census, else measurements, else the model
    if disagreement:
        return _decided(cls, first, "low", disagreement)
    agreeing = [name for name, _ in present]
    # a model on sample inputs adds little: it never makes a class high, nor alone medium
    weighty = [name for name in agreeing if not (name == "model" and sample)]
    confidence = "high" if len(weighty) >= 2 else "medium" if weighty else "low"
    return _decided(cls, "+".join(agreeing), confidence, None)


def _says(source: str, cls: str, survey: str | None) -> str:
    if source == "census":
        return f"census ({survey or 'survey'}) says {cls}"
    if source == "measurements":
        return f"speed tests say {cls}"
    return f"the model says {cls}"


def _decided(cls: str, source: str, confidence: str, disagreement: str | None) -> dict[str, Any]:
    return {
        "connectivity_class": cls,
        "class_source": source,
        "confidence": confidence,
        "disagreement": disagreement,
    }


def run_coverage(
    engine: Engine,
    *,
    dem: str | Path | None,
    population: str | Path | None = None,
    signals: Sequence[SignalInput] = (),
    regency: str | None = None,
    params: ModelParameters | None = None,
    output_dir: str | Path = "petadesa-coverage",
    min_blank_km2: float = MIN_BLANK_SPOT_KM2,
    progress: Progress | None = None,
    tower_progress: Callable[[int, int], None] | None = None,
) -> RunSummary:
    """Model coverage for the registry's towers and write a run of the register.

    ``dem`` (heights in metres) and ``population`` (people per cell) are the user's rasters in
    any CRS; without a DEM nothing is modelled and the register comes from the census, the
    speed tests and the fibre network alone. ``signals`` are operators' coverage or signal
    rasters, merged into the modelled coverage (:mod:`geo.coverage.signal`; they need the
    DEM's grid). ``regency`` limits the run to one regency (default: every village).
    The best-technology raster is written as a tiled, compressed GeoTIFF in ``output_dir``.
    Raises what :func:`~geo.coverage.rasters.open_raster` raises, and
    :class:`~geo.errors.AreaNotFound` when there is no village to analyse. Nothing is
    written when anything fails.
    """
    if signals and dem is None:
        raise ConfigurationError("an operator raster is merged into the model: give a DEM too")
    spec = _RunSpec(
        dem, population, tuple(signals), regency, params or ModelParameters(), output_dir,
        min_blank_km2,
    )  # fmt: skip
    out, partial, summary = _run(engine, spec, progress or quiet, tower_progress)
    if partial is not None:
        partial.replace(out)  # committed: the raster takes its name
    return summary


def _method(spec: _RunSpec) -> str:
    """What a run's model did: line of sight, and the operator rasters merged into it."""
    if not spec.signals:
        return METHOD
    merged = ", ".join(f"{s.technology} {Path(s.path).name}" for s in spec.signals)
    return f"{METHOD}; operator rasters merged, the better per cell: {merged}"


@dataclass(frozen=True)
class _RunSpec:
    """What :func:`run_coverage` was asked to do."""

    dem: str | Path | None
    population: str | Path | None
    signals: tuple[SignalInput, ...]
    regency: str | None
    params: ModelParameters
    output_dir: str | Path
    min_blank_km2: float


def _run(
    engine: Engine,
    spec: _RunSpec,
    step: Progress,
    tower_progress: Callable[[int, int], None] | None,
) -> tuple[Path | None, Path | None, RunSummary]:
    """:func:`run_coverage` in its transaction: the final and partial GeoTIFF path, the summary.

    The GeoTIFF is written under a partial name; on any failure it is removed and nothing is
    committed.
    """
    regency, params = spec.regency, spec.params
    out = partial = None
    try:
        with transaction(engine) as session:
            villages = queries.villages(session, regency=regency)
            if villages.empty:
                raise AreaNotFound(
                    f"no village of regency {regency} in the registry"
                    if regency
                    else "the registry holds no village: import boundaries first"
                )
            region = tuple(float(v) for v in villages.total_bounds)
            modelled = None
            if spec.dem is not None:
                partial = Path(spec.output_dir).resolve() / f".coverage-{uuid.uuid4().hex}.partial"
                modelled = _model_all(
                    session, villages, region, spec, partial, step, tower_progress
                )
                stats, spots, inputs = modelled.stats, modelled.spots, modelled.inputs
            else:
                stats, spots, inputs = _unmodelled(villages), no_blank_spots(), []
            sample = any(r["sample"] for r in inputs)
            step("reconciling with the census, speed tests and the fibre network")
            census = queries.census(session)
            measured = village_measurements(queries.speed_measurements(session, regency=regency))
            register = _register(session, villages, stats, census, measured, sample=sample)
            distances = _distances(session, villages, census)
            register = register.merge(distances, on="code", how="left")
            register.insert(1, "name", villages["name"].to_numpy())
            register["provenance"] = _provenance(
                register, census, inputs, sample=sample, method=_method(spec)
            )
            run = CoverageRun(
                scope=regency or "all",
                method=_method(spec) if modelled else "census, speed tests and fibre (no DEM)",
                parameters=json.dumps(params.to_dict(), sort_keys=True),
                inputs=json.dumps(inputs, sort_keys=True),
                sample=sample,
                towers_modelled=modelled.towers_modelled if modelled else 0,
            )
            session.add(run)
            session.flush()
            if modelled:
                # run ids restart in every registry: the name also carries the time and a nonce,
                # so two registries writing to one folder never share a file
                stamp = f"{run.created_at:%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:6]}"
                name = f"coverage-run-{run.id}-{stamp}" + ("" if modelled.tiled else ".tif")
                out = partial.with_name(name)
                run.coverage_path = str(out)
            _store(session, run.id, register, spots)
            session.flush()
            run_id = run.id
    except BaseException:
        if partial is not None and partial.is_dir():
            shutil.rmtree(partial, ignore_errors=True)
        elif partial is not None:
            partial.unlink(missing_ok=True)
        raise
    return (
        out,
        partial,
        RunSummary(
            run_id=run_id,
            scope=regency or "all",
            sample=sample,
            towers_modelled=modelled.towers_modelled if modelled else 0,
            towers_skipped=modelled.towers_skipped if modelled else {},
            coverage_path=out,
            register=register,
            blank_spots=spots,
            inputs=inputs,
        ),
    )


@dataclass
class _Modelled:
    """What the model part of a run made (its GeoTIFFs are written already)."""

    stats: pd.DataFrame
    spots: gpd.GeoDataFrame
    inputs: list[dict[str, Any]]
    outcomes: dict[Any, str]
    """Each tower's id and ``modelled`` or why not (:attr:`ModelResult.outcomes`)."""
    tiled: bool = False
    """Modelled one regency at a time: the GeoTIFFs are a folder of one per regency."""

    @property
    def towers_modelled(self) -> int:
        """Towers modelled (once each, also when they reach into several regencies)."""
        return sum(1 for outcome in self.outcomes.values() if outcome == "modelled")

    @property
    def towers_skipped(self) -> dict[str, int]:
        """Towers not modelled, by reason."""
        return dict(Counter(o for o in self.outcomes.values() if o != "modelled"))


def _model_all(
    session: Session,
    villages: gpd.GeoDataFrame,
    region: tuple[float, ...],
    spec: _RunSpec,
    partial: Path,
    step: Progress,
    tower_progress: Callable[[int, int], None] | None,
) -> _Modelled:
    """Model the villages on one grid, or one regency at a time when one grid is too large.

    One grid (the GeoTIFF ``partial``) while the region's grid at the DEM's step holds at most
    :attr:`~geo.settings.CoverageSettings.max_grid_cells` or the villages are of one regency;
    else each regency on its own grid in its own UTM zone, with its towers and those reaching
    into it (a folder ``partial`` of one GeoTIFF per regency). Each grid is written and freed
    before the next is made, so memory stays that of the largest regency.
    """
    groups = _regency_groups(session, villages, region, spec)
    tiled = len(groups) > 1
    if tiled:
        open_signals(list(spec.signals), region)  # each must reach the region, not each regency
        partial.mkdir(parents=True)
    stats, spots, outcomes, inputs = [], [], {}, []
    for i, (code, group) in enumerate(groups, start=1):
        if tiled:
            step(f"regency {code} ({i:,} of {len(groups):,})")
        bounds = tuple(float(v) for v in group.total_bounds) if tiled else region
        part = _model(session, group, bounds, spec, step, tower_progress, tiled=tiled)
        sample = any(r["sample"] for r in part.inputs)
        target = partial / f"{code}.tif" if tiled else partial
        _write_coverage(target, part.result.best, part.grid, sample)
        stats.append(part.stats)
        spots.append(part.spots)
        for tower, outcome in part.result.outcomes.items():
            if outcomes.get(tower) != "modelled":
                outcomes[tower] = outcome
        if not inputs or part.inputs[0]["modelled_step_m"] > inputs[0]["modelled_step_m"]:
            inputs = part.inputs  # the coarsest step any regency was modelled at
        del part
    if tiled:
        inputs[0]["modelled_by_regency"] = len(groups)
    order = villages[["code"]]
    return _Modelled(
        stats=order.merge(pd.concat(stats, ignore_index=True), on="code", how="left"),
        spots=pd.concat(spots, ignore_index=True) if len(spots) > 1 else spots[0],
        inputs=inputs,
        outcomes=outcomes,
        tiled=tiled,
    )


def _regency_groups(
    session: Session, villages: gpd.GeoDataFrame, region: tuple[float, ...], spec: _RunSpec
) -> list[tuple[str | None, gpd.GeoDataFrame]]:
    """The villages whole, or by regency when their one grid would be over the cell limit."""
    regencies = villages["code"].str[:5]
    if regencies.nunique() < 2:
        return [(None, villages)]
    dem_raster = open_raster(spec.dem, RasterKind.DEM, region)
    reach = 1000.0 * _farthest_reach_km(session, spec.params)
    grid = region_grid(region, dem_step(dem_raster), margin=reach)
    if grid.width * grid.height <= CoverageSettings().max_grid_cells:
        return [(None, villages)]
    return [(code, group) for code, group in villages.groupby(regencies, sort=True)]


@dataclass
class _Part:
    """One grid's model: the grid, the towers' result, its villages' numbers and blank spots."""

    grid: Grid
    result: ModelResult
    stats: pd.DataFrame
    spots: gpd.GeoDataFrame
    inputs: list[dict[str, Any]]


@dataclass
class Today:
    """Today's modelled coverage of a region: its grid, the towers' result, people per cell."""

    grid: Grid
    result: ModelResult
    people: np.ndarray | None
    """People per grid cell (``None`` without a population grid)."""
    inputs: list[dict[str, Any]]
    """Each raster's provenance, as a run records it."""
    heights: np.ndarray | None = None
    """The DEM on the grid, kept only when asked (planning models candidates over it)."""


def model_today(
    session: Session,
    region: tuple[float, ...],
    dem: str | Path,
    population: str | Path | None,
    params: ModelParameters,
    *,
    step: Progress = quiet,
    tower_progress: Callable[[int, int], None] | None = None,
    keep_heights: bool = False,
    signals: Sequence[SignalInput] = (),
    signals_optional: bool = False,
    max_cells: int | None = None,
) -> Today:
    """Check the rasters over ``region`` and model the registry's towers that reach into it.

    Operator rasters (``signals``) are merged into the modelled coverage: each cell keeps the
    better technology of the two (:mod:`geo.coverage.signal`); with ``signals_optional``
    one that does not reach ``region`` is left out (a run by regency). A grid of more than
    ``max_cells`` cells (default :class:`~geo.settings.CoverageSettings`) is made coarser
    until it fits; the DEM's provenance records the step modelled (``modelled_step_m``).
    """
    step("checking the rasters")
    dem_raster = open_raster(dem, RasterKind.DEM, region)
    pop_raster = open_raster(population, RasterKind.POPULATION, region) if population else None
    operators = open_signals(list(signals), region, optional=signals_optional)
    reach = 1000.0 * _farthest_reach_km(session, params)
    native = dem_step(dem_raster)
    grid = region_grid(region, native, margin=reach)
    limit = max_cells or CoverageSettings().max_grid_cells
    if grid.width * grid.height > limit:  # bounded memory: a coarser step, said in the run
        factor = math.ceil(math.sqrt(grid.width * grid.height / limit))
        step(
            f"{grid.width * grid.height:,} cells of {native:g} m are over the limit of "
            f"{limit:,} (PETADESA_COVERAGE_MAX_GRID_CELLS): modelling at {native * factor:g} m"
        )
        grid = region_grid(region, native * factor, margin=reach)
    step(f"warping the DEM onto {grid.width:,} x {grid.height:,} cells of {grid.step:g} m")
    heights = warp_to_grid(dem_raster, grid, Resampling.bilinear)
    towers = queries.assets(session, "tower", bbox=_grown(region, reach))
    step(f"modelling {len(towers):,} towers")
    result = model_coverage(heights, grid, towers, params, progress=tower_progress)
    if signals:
        step(f"merging {len(signals)} operator raster(s)")
    signal_inputs = merge_signals(result.best, grid, operators)
    if not keep_heights:
        heights = None  # the region's largest array: gone before the population is warped
    people = people_on_grid(pop_raster, grid) if pop_raster else None
    inputs = [r.provenance() for r in (dem_raster, pop_raster) if r is not None]
    inputs[0]["modelled_step_m"] = grid.step
    return Today(grid, result, people, [*inputs, *signal_inputs], heights)


def _model(
    session: Session,
    villages: gpd.GeoDataFrame,
    region: tuple[float, ...],
    spec: _RunSpec,
    step: Progress,
    tower_progress: Callable[[int, int], None] | None,
    *,
    tiled: bool = False,
) -> _Part:
    """Model today's coverage, then measure each village and its blank spots."""
    today = model_today(
        session, region, spec.dem, spec.population, spec.params, step=step,
        tower_progress=tower_progress, signals=spec.signals, signals_optional=tiled,
    )  # fmt: skip
    step("village statistics")
    best, grid, people = today.result.best, today.grid, today.people
    stats = village_stats(villages, best, grid, people)
    spots = blank_spots(villages, best, grid, people, spec.min_blank_km2)
    return _Part(grid, today.result, stats, spots, today.inputs)


MAX_REACH_KM = 50.0
"""The farthest a tower's own ``range_km`` widens the area searched for towers and modelled."""


def _farthest_reach_km(session: Session, params: ModelParameters) -> float:
    """The farthest reach of any tower: the default ranges or a tower's own (up to 50 km).

    Towers that far outside the region still reach into it, so they are fetched and the grid
    extends to them.
    """
    own = session.execute(select(func.max(Tower.range_km))).scalar()
    return max(max(params.range_km.values()), min(float(own or 0.0), MAX_REACH_KM))


def _unmodelled(villages: gpd.GeoDataFrame) -> pd.DataFrame:
    """The stats of villages nothing was modelled for: every number missing."""
    columns = ["covered_area_share", *SHARE_COLUMNS.values(), "population"]
    columns += ["population_covered", "population_uncovered", *PEOPLE_COLUMNS.values()]
    stats = pd.DataFrame({"code": villages["code"].to_numpy()})
    for column in columns:
        stats[column] = np.nan
    return stats


def _grown(region: tuple[float, ...], metres: float) -> tuple[float, float, float, float]:
    """Lon/lat bounds grown by about ``metres`` on every side."""
    dlat = metres / 110_574.0
    dlon = metres / (111_320.0 * math.cos(math.radians((region[1] + region[3]) / 2)))
    return (region[0] - dlon, region[1] - dlat, region[2] + dlon, region[3] + dlat)


def _register(
    session: Session,
    villages: gpd.GeoDataFrame,
    stats: pd.DataFrame,
    census: pd.DataFrame,
    measured: pd.DataFrame,
    *,
    sample: bool,
) -> pd.DataFrame:
    """Stats, census, speed tests and fibre reconciled into the register's rows (by village)."""
    census = census.set_index("code")
    measured = measured.set_index("code")
    fibre = _fibre_villages(session)
    rows = []
    for record in stats.to_dict("records"):
        code = record["code"]
        answers = census.loc[code] if code in census.index else None
        census_cls = (
            census_class(answers["signal_strength"], answers["mobile_internet"])
            if answers is not None
            else None
        )
        tests = measured.loc[code] if code in measured.index else None
        measured_cls = tests["measured_class"] if tests is not None else None
        has_people = pd.notna(record["population"]) and record["population"] > 0
        if has_people:
            modelled = record["population_covered"] + record["population_uncovered"]
            shares = {
                c: record[PEOPLE_COLUMNS[c]] / modelled if modelled else math.nan
                for c in TECHNOLOGY_CODES.values()
            }
        else:
            shares = {c: record[SHARE_COLUMNS[c]] for c in TECHNOLOGY_CODES.values()}
        model_cls = model_class(shares)
        decided = reconcile(
            census_cls,
            model_cls,
            code in fibre,
            sample=sample,
            survey=None if answers is None else answers["survey"],
            measured=measured_cls,
        )
        rows.append(
            {
                **record,
                **decided,
                "census_class": census_cls,
                "model_class": model_cls,
                "measured_class": measured_cls,
                **{
                    column: None if tests is None else tests[column]
                    for column in ("measured_tests", "measured_download_kbps", "measured_period")
                },
                "measured_sources": None if tests is None else tests["measured_sources"],
                "has_fibre": code in fibre,
            }
        )
    frame = pd.DataFrame(rows)
    frame["measured_tests"] = frame["measured_tests"].astype("Int64")
    return frame


def _provenance(
    register: pd.DataFrame,
    census: pd.DataFrame,
    inputs: list[dict[str, Any]],
    *,
    sample: bool,
    method: str,
) -> list[str]:
    """Per village, each field's source, method, date and confidence, as JSON.

    Every field that has a value: the census class carries the survey and its file; the
    measured ones the tests' sources and dates; the modelled shares and populations the
    rasters (by file name and digest) and the run's date; the distances where the office
    point came from; the class, fibre and disagreement how they were decided.
    """
    today = utcnow().date().isoformat()
    census = census.set_index("code")
    rasters = {r["kind"]: r for r in inputs if r["kind"] != "signal"}
    model_confidence = "low" if sample else "medium"
    dem_source = _raster_source(rasters.get("dem"))
    signals = [f"{r['technology']} {_raster_source(r)}" for r in inputs if r["kind"] == "signal"]
    if signals:
        dem_source = f"{dem_source}; operator rasters: {', '.join(signals)}"
    pop_source = _raster_source(rasters.get("population"))
    out = []
    for row in register.to_dict("records"):
        code = row["code"]
        fields: dict[str, dict[str, Any]] = {
            "connectivity_class": {
                "source": row["class_source"],
                "method": "reconciled by the rules of geo.coverage.register",
                "date": today,
                "confidence": row["confidence"],
            }
        }
        if isinstance(row["census_class"], str) and code in census.index:
            answers = census.loc[code]
            fields["census_class"] = {
                "source": f"{answers['survey']} ({answers['source']})",
                "method": "survey: reported by the village",
                "date": None if pd.isna(answers["survey_year"]) else str(answers["survey_year"]),
                "confidence": "medium",
            }
        fields["has_fibre"] = {
            "source": "the registry's fibre nodes and routes (not planned) linked to the village",
            "method": "linked by location (geo.linking)",
            "date": today,
            "confidence": "high",
        }
        if isinstance(row["disagreement"], str):
            fields["disagreement"] = {
                "source": "the census, speed tests and model classes of this row",
                "method": "compared by the rules of geo.coverage.register",
                "date": today,
                "confidence": "high",
            }
        if isinstance(row["measured_class"], str):
            fields["measured_class"] = {
                "source": "; ".join(row["measured_sources"]),
                "method": (
                    f"{row['measured_tests']:,} speed tests, class by technology or download "
                    "speed, the best reached by half of them (geo.coverage.measured)"
                ),
                "date": row["measured_period"],
                "confidence": "medium",
            }
            for name in ("measured_tests", "measured_download_kbps", "measured_period"):
                fields[name] = {**fields["measured_class"], "confidence": "high"}
        if isinstance(row["model_class"], str):
            modelled = {
                "source": dem_source,
                "method": method,
                "date": today,
                "confidence": model_confidence,
            }
            for name in ("model_class", "covered_area_share", *SHARE_COLUMNS.values()):
                fields[name] = modelled
            if pd.notna(row["population"]):
                people = {**modelled, "source": f"{dem_source}; people: {pop_source}"}
                people["method"] = method + "; people summed by exactextract (partial pixels)"
                for name in ("population", "population_uncovered", *PEOPLE_COLUMNS.values()):
                    fields[name] = people
        distance = {
            "source": f"office: {row['office_source']}; the registry's fibre and towers on air",
            "method": "straight-line distance in metres, in the region's UTM zone",
            "date": today,
            "confidence": "high" if row["office_source"] == "facility" else "medium",
        }
        fields["office_to_fibre_m"] = fields["office_to_tower_m"] = distance
        out.append(json.dumps(fields, sort_keys=True))
    return out


def _raster_source(record: dict[str, Any] | None) -> str | None:
    """A raster named by file and the start of its SHA-256 digest, marked when a sample."""
    if record is None:
        return None
    name = Path(record["path"]).name
    label = f"{name} ({record['digest'][:19]})"  # sha256: and 12 hex digits
    return f"SAMPLE {label}" if record.get("sample") else label


def _fibre_villages(session: Session) -> set[str]:
    """Villages with a fibre node or route linked to them that is not planned."""
    found: set[str] = set()
    for model in (FibreNode, FibreRoute):
        found |= set(
            session.execute(
                select(model.village_code).where(
                    model.village_code.is_not(None),
                    or_(model.status.is_(None), model.status != "planned"),
                )
            ).scalars()
        )
    return found


def office_points(
    session: Session, villages: gpd.GeoDataFrame, census: pd.DataFrame | None = None
) -> gpd.GeoDataFrame:
    """Each village's office point, the best known.

    A village-office facility linked to the village, else the census's surveyed point, else
    the village's label point. Columns: code, office_source, geometry (EPSG:4326).
    """
    facilities = queries.assets(session, "facility")
    offices: dict[str, Any] = {}
    if not facilities.empty:
        types = facilities["facility_type"].fillna("").str.strip().str.lower()
        chosen = facilities[types.isin(OFFICE_TYPES) & facilities["village_code"].notna()]
        for code, geom in zip(chosen["village_code"], chosen.geometry, strict=True):
            offices.setdefault(code, ("facility", geom))
    census = queries.census(session) if census is None else census
    for code, lon, lat in zip(
        census["code"], census["office_lon"], census["office_lat"], strict=True
    ):
        if code not in offices and not (pd.isna(lon) or pd.isna(lat)):
            offices[code] = ("census", shapely.Point(float(lon), float(lat)))
    rows = []
    for code, lon, lat in zip(
        villages["code"], villages["label_lon"], villages["label_lat"], strict=True
    ):
        source, geom = offices.get(code, ("label point", shapely.Point(lon, lat)))
        rows.append((code, source, geom))
    return gpd.GeoDataFrame(
        {"code": [r[0] for r in rows], "office_source": [r[1] for r in rows]},
        geometry=[r[2] for r in rows],
        crs="EPSG:4326",
    )


def _distances(session: Session, villages: gpd.GeoDataFrame, census: pd.DataFrame) -> pd.DataFrame:
    """Metres from each village office to the nearest fibre node or route and on-air tower.

    Measured in the UTM zone of each office (Indonesia spans nine: one zone for all would
    stretch distances by several percent far from its central meridian).
    """
    offices = office_points(session, villages, census)
    out = pd.DataFrame({"code": offices["code"], "office_source": offices["office_source"]})
    fibre = [queries.assets(session, layer) for layer in ("fibre_node", "fibre_route")]
    fibre = [f[f["status"].fillna("") != "planned"] for f in fibre if not f.empty]
    towers = queries.assets(session, "tower")
    if not towers.empty:
        towers = towers[towers["status"].fillna("") != "planned"]
    fibre_geoms = [f.geometry for f in fibre]
    tower_geoms = [towers.geometry] if not towers.empty else []
    zones = np.array([utm_epsg(p.x, p.y) for p in offices.geometry])
    out["office_to_fibre_m"] = np.nan
    out["office_to_tower_m"] = np.nan
    for zone in np.unique(zones):
        chosen = zones == zone
        points = offices.geometry[chosen].to_crs(zone).to_numpy()
        out.loc[chosen, "office_to_fibre_m"] = _nearest(points, fibre_geoms, zone)
        out.loc[chosen, "office_to_tower_m"] = _nearest(points, tower_geoms, zone)
    return out


def _nearest(points: np.ndarray, targets: list[gpd.GeoSeries], crs: Any) -> np.ndarray:
    """Distance in metres from each point to the nearest target geometry; NaN without any."""
    geoms = [g for series in targets for g in series.to_crs(crs).to_numpy()]
    if not geoms:
        return np.full(len(points), np.nan)
    tree = shapely.STRtree(geoms)
    _, distances = tree.query_nearest(points, return_distance=True, all_matches=False)
    return distances


def _write_coverage(path: Path, best: np.ndarray, grid: Grid, sample: bool) -> None:
    """The best technology per cell as a tiled, deflate-compressed GeoTIFF with its legend."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with rasterio.open(path, "w", **array_profile(grid, "uint8", nodata=OUTSIDE)) as dst:
        dst.write(best, 1)
        legend = {"0": "no signal", **{str(c): t for t, c in TECHNOLOGY_CODES.items()}}
        dst.update_tags(PETADESA_LEGEND=json.dumps(legend))
        if sample:
            dst.update_tags(PETADESA_SAMPLE="modelled from seeded sample inputs")
        dst.build_overviews([2, 4, 8, 16], Resampling.mode)


REGISTER_COLUMNS = [
    c.name for c in VillageConnectivity.__table__.columns if c.name not in ("id", "run_id")
]


def _store(session: Session, run_id: int, register: pd.DataFrame, spots: gpd.GeoDataFrame) -> None:
    """Insert the run's register rows and blank spots."""
    frame = register.rename(columns={"code": "village_code"})
    records = frame.astype(object).where(frame.notna(), None)[REGISTER_COLUMNS].to_dict("records")
    for record in records:
        record["run_id"] = run_id
    if records:
        session.execute(insert(VillageConnectivity), records)
    if len(spots):
        stmt = insert(BlankSpot.__table__).values(
            run_id=run_id,
            village_code=bindparam("village_code"),
            area_km2=bindparam("area_km2"),
            population=bindparam("population"),
            geom=backend_of(session).geom_from_wkb(),
        )
        session.execute(
            stmt,
            [
                {
                    "village_code": code,
                    "area_km2": float(area),
                    "population": None if pd.isna(pop) else float(pop),
                    WKB_PARAM: shapely.to_wkb(geom),
                }
                for code, area, pop, geom in zip(
                    spots["village_code"],
                    spots["area_km2"],
                    spots["population"],
                    spots.geometry,
                    strict=True,
                )
            ],
        )


def as_records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """Register rows (:func:`geo.queries.connectivity`) as plain dicts for JSON.

    The per-technology columns are gathered into ``covered_area_share_by_technology`` and
    ``population_by_technology`` (``{"2G": ..., "5G": ...}``), ``provenance`` is an object;
    missing values are ``None``.
    """
    out = []
    clean = frame.astype(object).where(frame.notna(), None)
    for row in clean.to_dict("records"):
        shares = {t: row.pop(SHARE_COLUMNS[c]) for t, c in TECHNOLOGY_CODES.items()}
        people = {t: row.pop(PEOPLE_COLUMNS[c]) for t, c in TECHNOLOGY_CODES.items()}
        row["covered_area_share_by_technology"] = shares
        row["population_by_technology"] = people
        if isinstance(row.get("provenance"), str):
            row["provenance"] = json.loads(row["provenance"])
        out.append(row)
    return out


COMPARED = {
    "connectivity_class": None,
    "class_source": None,
    "confidence": None,
    "disagreement": None,
    "measured_class": None,
    "has_fibre": None,
    "covered_area_share": 0.005,
    "population": 1.0,
    "population_uncovered": 1.0,
    "office_to_fibre_m": 1.0,
    "office_to_tower_m": 1.0,
}
"""What a diff between runs compares, and by how much a number must move to count (``None``:
any change)."""


def compare_runs(before: pd.DataFrame, after: pd.DataFrame) -> pd.DataFrame:
    """Per village, what changed between two runs' registers (:func:`geo.queries.connectivity`).

    One row per village and changed field: code, name, field, before, after. A village in one
    run only has the field ``village`` (before or after ``None``). Numbers count as changed
    when they move by more than :data:`COMPARED` says (a share by half a percentage point, a
    population by one person, a distance by a metre).
    """
    old = before.set_index("code")
    new = after.set_index("code")
    rows = []
    for code in sorted(set(old.index) | set(new.index)):
        if code not in old.index or code not in new.index:
            name = (new if code in new.index else old).loc[code, "name"]
            rows.append(
                {
                    "code": code,
                    "name": name,
                    "field": "village",
                    "before": None if code not in old.index else "in the run",
                    "after": None if code not in new.index else "in the run",
                }
            )
            continue
        for column, tolerance in COMPARED.items():
            a, b = _plain(old.loc[code, column]), _plain(new.loc[code, column])
            if a is None and b is None:
                continue
            if tolerance is not None and a is not None and b is not None:
                if abs(float(a) - float(b)) <= tolerance:
                    continue
            elif a == b:
                continue
            rows.append(
                {
                    "code": code,
                    "name": new.loc[code, "name"],
                    "field": column,
                    "before": a,
                    "after": b,
                }
            )
    return pd.DataFrame(rows, columns=["code", "name", "field", "before", "after"])


def _plain(value: Any) -> Any:
    """A value as plain Python, ``None`` for missing."""
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return None
    return value.item() if hasattr(value, "item") else value
