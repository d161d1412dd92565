"""The main job: a registry of one regency on the embedded default, ready to explore.

Real data first: the regency's village boundaries from the pinned upstream file (cache,
mirror or network) with the Kemendagri code list, and the real asset files the project knows
for that regency. When the boundaries cannot be had (no network, no mirror), a seeded sample
region stands in, so the job always completes. Asset layers with no real source are filled with
seeded sample features marked ``source='sample'``.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import Engine

from geo.errors import SourceUnavailable
from geo.ingest.assets import import_assets
from geo.ingest.boundaries import import_boundaries, import_code_list
from geo.ingest.report import ImportReport
from geo.ingest.sources.cahyadsn import fetch_regency, load_manifest
from geo.ingest.sources.codelist import fetch_code_list
from geo.samples import sample_assets, sample_region
from geo.settings import BoundarySourceSettings
from geo.store.db import transaction
from geo.store.models import ASSET_LAYERS

if TYPE_CHECKING:
    from geo.coverage.register import RunSummary

DEFAULT_REGENCY = "35.07"


@dataclass(frozen=True)
class RealAssetFile:
    """A real public asset file the project knows, relative to the shared data folder."""

    layer: str
    path: str
    source: str
    defaults: dict[str, str] = field(default_factory=dict)
    lat_field: str | None = None
    lon_field: str | None = None


REAL_ASSETS: dict[str, tuple[RealAssetFile, ...]] = {
    "35.07": (
        RealAssetFile(
            "destination",
            "wisatadampit2021/wisata_dampit_kab_malang.geojson",
            "burhanfsalam/wisatadampit2021 (Apache-2.0)",
            {"category": "wisata"},
        ),
        RealAssetFile(
            "facility",
            "easkartografi_malang3kec/kantor_pemerintahan_3kec.geojson",
            "dheapnputra/easkartografi (no licence stated)",
        ),
    ),
    "35.79": (
        RealAssetFile(
            "facility",
            "podes2024_kota_batu/podes2024_3579_desa_telekom_produk.csv",
            "BPS PODES 2024 (internal fixture)",
            {"facility_type": "village_office"},
            "kantor_desa_lat",
            "kantor_desa_lon",
        ),
    ),
}


REAL_CENSUS: dict[str, tuple[str, str]] = {
    "35.79": (
        "podes2024_kota_batu/podes2024_3579_desa_telekom_produk.csv",
        "BPS PODES 2024 (internal fixture)",
    ),
}
"""The real village census the project knows per regency (path under the data folder, source)."""


@dataclass
class DemoResult:
    """What the main job did."""

    regency: str
    sample_region: bool
    notes: list[str] = field(default_factory=list)
    reports: list[ImportReport] = field(default_factory=list)


def default_data_dir() -> Path | None:
    """``PETADESA_DATA_DIR``, else the ``shared/data`` folder beside the repository, if any."""
    env = os.environ.get("PETADESA_DATA_DIR")
    if env:
        return Path(env)
    beside = Path(__file__).resolve().parents[2] / "shared" / "data"
    return beside if beside.is_dir() else None


def build_demo_registry(
    engine: Engine,
    *,
    regency: str = DEFAULT_REGENCY,
    data_dir: Path | None = None,
    settings: BoundarySourceSettings | None = None,
    base_url: str | None = None,
    step: Callable[[str], None] = lambda _msg: None,
) -> DemoResult:
    """Build the registry of ``regency`` in ``engine``: boundaries, real assets, samples.

    ``step`` is told what is happening (for a progress display); ``base_url`` replaces the
    upstream host (tests point it at a closed port to exercise the offline fallback).
    """
    result = DemoResult(regency=regency, sample_region=False)
    try:
        boundary_file, code_file = _fetch_sources(regency, data_dir, settings, base_url, step)
    except SourceUnavailable as exc:
        result.notes.append(
            f"real boundaries unavailable ({exc}); using the seeded sample region "
            "'Kabupaten Contoh (sampel)', code 99.01"
        )
        return _build_sample(engine, result, step)
    step("loading the Kemendagri code list")
    result.reports.append(import_code_list(engine, code_file, prefix=regency.split(".")[0]))
    step(f"importing the village boundaries of {regency}")
    result.reports.append(
        import_boundaries(
            engine,
            boundary_file,
            source_name="cahyadsn/wilayah_boundaries",
            source_version=load_manifest().commit,
        )
    )
    real_layers = _import_real_assets(engine, regency, data_dir, result, step)
    _import_samples(engine, regency, set(ASSET_LAYERS) - real_layers, result, step)
    return result


def _fetch_sources(
    regency: str,
    data_dir: Path | None,
    settings: BoundarySourceSettings | None,
    base_url: str | None,
    step: Callable[[str], None],
) -> tuple[Path, Path]:
    """Paths of the boundary file of ``regency`` and of the Kemendagri code list.

    Each comes from the cache, the mirror under ``data_dir`` or the network; raises
    :class:`~geo.errors.SourceUnavailable` when one cannot be had.
    """
    mirror = data_dir / "cahyadsn_wilayah_boundaries" / "raw" if data_dir else None
    step(f"fetching the village boundaries of {regency}")
    fetched = fetch_regency(regency, settings=settings, mirror_dir=mirror, base_url=base_url)
    step("fetching the Kemendagri code list")
    codes = fetch_code_list(
        settings=settings,
        mirror_dir=data_dir / "cahyadsn_wilayah" if data_dir else None,
        base_url=base_url,
    )
    return fetched.path, codes


def _build_sample(engine: Engine, result: DemoResult, step: Callable[[str], None]) -> DemoResult:
    """Build the seeded sample region (code ``99.01``) with sample assets, for want of real data."""
    region = sample_region()
    result.regency, result.sample_region = "99.01", True
    step("importing the sample region")
    result.reports.append(import_code_list(engine, region.code_list, source_name="sample"))
    villages = region.villages.copy()
    villages.attrs["label"] = "sample region"
    result.reports.append(import_boundaries(engine, villages, source_name="sample"))
    _import_samples(engine, result.regency, set(ASSET_LAYERS), result, step)
    return result


def _import_real_assets(
    engine: Engine,
    regency: str,
    data_dir: Path | None,
    result: DemoResult,
    step: Callable[[str], None],
) -> set[str]:
    """Import the real asset files known for ``regency``; the layers imported.

    A file missing from ``data_dir`` is noted in ``result`` and skipped: a sample fills its layer.
    """
    layers = set()
    for item in REAL_ASSETS.get(regency, ()):
        path = data_dir / item.path if data_dir else None
        if path is None or not path.is_file():
            result.notes.append(f"real {item.layer} file {item.path} not found; skipped")
            continue
        step(f"importing real {item.layer} data from {path.name}")
        result.reports.append(
            import_assets(
                engine,
                item.layer,
                path,
                source_name=item.source,
                defaults=item.defaults,
                lat_field=item.lat_field,
                lon_field=item.lon_field,
            )
        )
        layers.add(item.layer)
    return layers


def _import_samples(
    engine: Engine, regency: str, layers: set[str], result: DemoResult, step: Callable[[str], None]
) -> None:
    """Import seeded sample features of ``layers`` for the villages of ``regency``."""
    from geo.queries import villages  # noqa: PLC0415

    with transaction(engine) as session:
        frame = villages(session, regency=regency)[["code", "name", "geometry"]]
    generated = sample_assets(frame)
    for layer in (name for name in ASSET_LAYERS if name in layers):
        step(f"importing sample {layer} features")
        data = generated[layer]
        data.attrs["label"] = f"sample {layer}"
        result.reports.append(import_assets(engine, layer, data, source_name="sample"))
    result.notes.append(f"sample (seeded, source='sample') layers: {', '.join(sorted(layers))}")


def run_demo_coverage(
    engine: Engine,
    result: DemoResult,
    *,
    data_dir: Path | None,
    work_dir: Path,
    step: Callable[[str], None] = lambda _msg: None,
) -> RunSummary:
    """The analysis of the main job: the census if one is known, then a modelled run.

    No real DEM or population grid exists here, so seeded SAMPLE rasters are written for the
    region under ``work_dir / "samples"`` and the run says it was made from samples; its
    coverage GeoTIFF goes under ``work_dir / "coverage"``.
    """
    from geo.coverage.register import run_coverage  # noqa: PLC0415 - rasterio, GDAL: when used
    from geo.ingest.census import import_census  # noqa: PLC0415
    from geo.queries import villages  # noqa: PLC0415
    from geo.samples.rasters import sample_dem, sample_population  # noqa: PLC0415

    known = REAL_CENSUS.get(result.regency)
    if known and data_dir and (data_dir / known[0]).is_file():
        step("importing the village census")
        result.reports.append(import_census(engine, data_dir / known[0], source_name=known[1]))
    with transaction(engine) as session:
        region = villages(session, regency=result.regency)
    step("writing the SAMPLE terrain and population")
    dem = sample_dem(region, work_dir / "samples" / f"sample_dem_{result.regency}.tif")
    people = sample_population(
        region, work_dir / "samples" / f"sample_population_{result.regency}.tif"
    )
    result.notes.append(
        f"coverage modelled on SAMPLE terrain and population (seeded, not real): {dem.parent}"
    )
    return run_coverage(
        engine,
        dem=dem,
        population=people,
        regency=result.regency,
        output_dir=work_dir / "coverage",
        progress=step,
    )
