"""Benchmarks of the coverage analysis, each side by side with its peer in one run.

- ``zonal``: per-village statistics of the 8,494 Jawa Timur villages over a 100 m coverage
  array and population grid (seeded), ``geo.coverage.zonal.village_stats`` against the same
  ``exactextract`` calls made directly (target <= 1.1x);
- ``viewshed``: 1,000 seeded towers (15 km reach) over a 30 m DEM of Kab. Malang's extent,
  ``geo.coverage.model.model_coverage`` (in process, both cores, each tower's window) against
  ``gdal_viewshed`` run once per tower (target <= 0.5x);
- ``greedy``: K=10 tower sites from ~1,000 candidates over Malang, lazy greedy against plain
  greedy, the same sites (target <= 0.2x);
- ``pipeline``: ``run_coverage`` end to end (rasters checked, DEM warped, towers modelled,
  statistics, blank spots, register written) for Kab. Malang (30 m) and all of Jawa Timur
  (90 m on one grid; 30 m one regency at a time), time and peak memory, on a GeoPackage.

The DEM and population grids are the seeded SAMPLE rasters of ``geo.samples.rasters``; towers
and candidates are seeded. Inputs are made once under ``bench/results/coverage/``. Each
contender runs in its own process (its own peak memory). Usage:
``python bench/coverage.py [zonal viewshed greedy pipeline] [--runs 3]``; prints tables and
writes ``bench/results/coverage.json``.
"""

from __future__ import annotations

import argparse
import json
import pickle
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import benchlib
import numpy as np

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
BOUNDARIES = SHARED / "cahyadsn_wilayah_boundaries"
JATIM = BOUNDARIES / "desa_35_jawa_timur.gpkg"
MALANG = BOUNDARIES / "desa_3507_kab_malang.geojson"
CODES = SHARED / "cahyadsn_wilayah" / "kode_wilayah.csv"
WORK = Path(__file__).parent / "results" / "coverage"
RESULTS = Path(__file__).parent / "results" / "coverage.json"
SUITES = {
    "zonal": ("exactextract", "petadesa"),
    "viewshed": ("gdal_viewshed", "petadesa"),
    "greedy": ("plain greedy", "lazy greedy"),
    "pipeline": ("Kab. Malang", "Jawa Timur", "Jawa Timur 30 m"),
}
PEERS = {"zonal": "exactextract", "viewshed": "gdal_viewshed", "greedy": "plain greedy"}


def peak_mb() -> float:
    """Peak resident memory of this process in MiB (:func:`benchlib.peak_mb`)."""
    return benchlib.peak_mb()


def villages(path: Path):  # noqa: ANN201
    """The villages of a boundary file in EPSG:4326, repaired, with code, name, label point."""
    import geopandas as gpd  # noqa: PLC0415
    import shapely  # noqa: PLC0415

    frame = gpd.read_file(path)
    frame["geometry"] = shapely.make_valid(frame.geometry.to_numpy())
    frame = frame.rename(columns={"kode": "code", "nama": "name"})
    points = frame.geometry.representative_point()
    frame["label_lon"], frame["label_lat"] = points.x, points.y
    frame["area_km2"] = frame.geometry.to_crs("EPSG:6933").area / 1e6
    return frame[["code", "name", "label_lon", "label_lat", "area_km2", "geometry"]]


# ------------------------------------------------------------------------------ inputs


def prepare_zonal() -> Path:
    """The Jawa Timur villages and a seeded coverage array and population grid at 100 m."""
    out = WORK / "zonal.pkl"
    if out.exists():
        return out
    from geo.coverage.grid import region_grid  # noqa: PLC0415

    vec = villages(JATIM)
    grid = region_grid(tuple(vec.total_bounds), 100.0, margin=0.0)
    rng = np.random.default_rng(3)
    blocks = rng.integers(0, 5, (grid.height // 20 + 1, grid.width // 20 + 1)).astype(np.uint8)
    best = np.kron(blocks, np.ones((20, 20), np.uint8))[: grid.height, : grid.width].copy()
    people = rng.gamma(1.5, 4.0, grid.shape).astype(np.float32)
    WORK.mkdir(parents=True, exist_ok=True)
    out.write_bytes(pickle.dumps((vec, best, grid, people)))
    return out


def prepare_viewshed() -> Path:
    """A 30 m sample DEM of Malang on its analysis grid (array and UTM GeoTIFF), 1,000 towers."""
    out = WORK / "viewshed.pkl"
    if out.exists():
        return out
    import geopandas as gpd  # noqa: PLC0415
    import rasterio  # noqa: PLC0415
    from rasterio.enums import Resampling  # noqa: PLC0415

    from geo.coverage.grid import array_profile, dem_step, region_grid, warp_to_grid  # noqa: PLC0415
    from geo.coverage.rasters import open_raster  # noqa: PLC0415
    from geo.samples.rasters import sample_dem  # noqa: PLC0415

    vec = villages(MALANG)
    region = tuple(float(v) for v in vec.total_bounds)
    WORK.mkdir(parents=True, exist_ok=True)
    dem_path = sample_dem(vec, WORK / "malang_dem.tif")
    dem = open_raster(dem_path, "dem", region)
    grid = region_grid(region, dem_step(dem), margin=15_000.0)
    heights = warp_to_grid(dem, grid, Resampling.bilinear)
    with rasterio.open(WORK / "malang_dem_utm.tif", "w", **array_profile(grid, "float32")) as dst:
        dst.write(heights, 1)
    rng = np.random.default_rng(17)
    lon = rng.uniform(region[0], region[2], 1000)
    lat = rng.uniform(region[1], region[3], 1000)
    towers = gpd.GeoDataFrame(
        {"technologies": ["2G"] * 1000, "height_m": [30.0] * 1000},
        geometry=gpd.points_from_xy(lon, lat),
        crs="EPSG:4326",
    )
    out.write_bytes(pickle.dumps((heights, grid, towers)))
    return out


def prepare_greedy() -> Path:
    """~1,000 candidate sites over Malang and the uncovered people each would reach."""
    out = WORK / "greedy.pkl"
    if out.exists():
        return out
    from geo.coverage.model import NO_SIGNAL, ModelParameters, model_coverage  # noqa: PLC0415
    from geo.coverage.planning import candidate_cells, candidate_grid  # noqa: PLC0415
    from geo.coverage.rasters import open_raster  # noqa: PLC0415
    from geo.coverage.zonal import people_on_grid  # noqa: PLC0415
    from geo.samples.rasters import sample_population  # noqa: PLC0415

    heights, grid, towers = pickle.loads(prepare_viewshed().read_bytes())
    vec = villages(MALANG)
    region = tuple(float(v) for v in vec.total_bounds)
    people_path = sample_population(vec, WORK / "malang_population.tif")
    people = people_on_grid(open_raster(people_path, "population", region), grid)
    params = ModelParameters()
    best = model_coverage(heights, grid, towers.iloc[:60], params).best  # 60 towers today
    weights = np.where(best == NO_SIGNAL, people, np.float32(0)).ravel()
    points = candidate_grid(vec, 1.86)
    found = candidate_cells(heights, grid, points, weights, params, "4G", None)
    out.write_bytes(pickle.dumps(found))
    return out


PIPELINE_FOLDERS = {"Kab. Malang": "malang", "Jawa Timur": "jatim", "Jawa Timur 30 m": "jatim30"}


def prepare_pipeline(name: str) -> Path:
    """A GeoPackage registry (villages, sample towers) and its sample rasters.

    ``Jawa Timur 30 m`` is the Jawa Timur registry and population with a 1 arc-second DEM:
    too large for one grid, so the run goes one regency at a time.
    """
    folder = WORK / PIPELINE_FOLDERS[name]
    registry = folder / "registry.gpkg"
    if registry.exists():
        return folder
    if name == "Jawa Timur 30 m":
        from geo.samples.rasters import sample_dem  # noqa: PLC0415

        province = prepare_pipeline("Jawa Timur")
        folder.mkdir(parents=True, exist_ok=True)
        sample_dem(villages(JATIM), folder / "dem.tif", arc_seconds=1.0)
        shutil.copyfile(province / "population.tif", folder / "population.tif")
        shutil.copyfile(province / "registry.gpkg", registry)
        return folder
    from geo.ingest.assets import import_assets  # noqa: PLC0415
    from geo.ingest.boundaries import import_boundaries, import_code_list  # noqa: PLC0415
    from geo.samples import sample_assets  # noqa: PLC0415
    from geo.samples.rasters import sample_dem, sample_population  # noqa: PLC0415
    from geo.store.db import init_schema, make_engine  # noqa: PLC0415

    folder.mkdir(parents=True, exist_ok=True)
    engine = make_engine(f"gpkg:///{registry}")
    init_schema(engine)
    import_code_list(engine, CODES, prefix="35")
    source = MALANG if name == "Kab. Malang" else JATIM
    import_boundaries(engine, source)
    vec = villages(source)
    import_assets(engine, "tower", sample_assets(vec[["code", "name", "geometry"]])["tower"])
    sample_dem(vec, folder / "dem.tif", arc_seconds=1.0 if name == "Kab. Malang" else 3.0)
    sample_population(vec, folder / "population.tif")
    engine.dispose()
    return folder


# ------------------------------------------------------------------------------ contenders


def run_child(suite: str, name: str) -> dict:
    """Run one contender once (in this process); its measurement."""
    if suite == "zonal":
        vec, best, grid, people = pickle.loads(prepare_zonal().read_bytes())
        start = time.perf_counter()
        if name == "exactextract":
            _exactextract_directly(vec, best, grid, people)
        else:
            from geo.coverage.zonal import village_stats  # noqa: PLC0415

            village_stats(vec, best, grid, people)
        return {"seconds": time.perf_counter() - start, "peak_mb": peak_mb()}
    if suite == "viewshed":
        heights, grid, towers = pickle.loads(prepare_viewshed().read_bytes())
        start = time.perf_counter()
        if name == "gdal_viewshed":
            _gdal_viewshed_per_tower(grid, towers)
        else:
            from geo.coverage.model import model_coverage  # noqa: PLC0415

            model_coverage(heights, grid, towers)
        return {"seconds": time.perf_counter() - start, "peak_mb": peak_mb(), "towers": 1000}
    if suite == "greedy":
        from geo.coverage.planning import greedy_sites  # noqa: PLC0415

        found = pickle.loads(prepare_greedy().read_bytes())
        start = time.perf_counter()
        chosen, gains, evaluations = greedy_sites(found, 10, lazy=name == "lazy greedy")
        seconds = time.perf_counter() - start
        return {
            "seconds": seconds,
            "peak_mb": peak_mb(),
            "candidates": len(found.cells),
            "sites": chosen,
            "people": round(sum(gains), 1),
            "evaluations": evaluations,
        }
    folder = prepare_pipeline(name)
    from geo.coverage.register import run_coverage  # noqa: PLC0415
    from geo.store.db import open_registry  # noqa: PLC0415

    with tempfile.TemporaryDirectory() as tmp:
        registry = Path(tmp) / "registry.gpkg"
        shutil.copyfile(folder / "registry.gpkg", registry)
        engine = open_registry(f"gpkg:///{registry}")  # a registry made by an older version
        start = time.perf_counter()
        summary = run_coverage(
            engine,
            dem=folder / "dem.tif",
            population=folder / "population.tif",
            output_dir=tmp,
        )
        seconds = time.perf_counter() - start
        [dem] = [r for r in summary.inputs if r["kind"] == "dem"]
    return {
        "seconds": seconds,
        "peak_mb": peak_mb(),
        "villages": len(summary.register),
        "towers": summary.towers_modelled,
        "grids": dem.get("modelled_by_regency", 1),
        "coarsest_step_m": dem["modelled_step_m"],
    }


def _exactextract_directly(vec, best, grid, people) -> None:  # noqa: ANN001
    """The exactextract calls ``village_stats`` makes, made directly on the same arrays."""
    from exactextract import exact_extract  # noqa: PLC0415
    from exactextract.raster import NumPyRasterSource  # noqa: PLC0415

    left, top = grid.transform.c, grid.transform.f
    right, bottom = left + grid.width * grid.step, top - grid.height * grid.step
    wkt = grid.crs.to_wkt()
    projected = vec[["code", "geometry"]].to_crs(grid.crs)
    source = NumPyRasterSource(best, left, bottom, right, top, nodata=255, srs_wkt=wkt)
    weights = NumPyRasterSource(people, left, bottom, right, top, srs_wkt=wkt)
    ops = ["unique", "frac", "weighted_frac"]
    exact_extract(source, projected, ops, weights=weights, output="pandas")
    modelled = np.where(best == 255, np.float32(0), people)
    sums = [
        NumPyRasterSource(people, left, bottom, right, top, srs_wkt=wkt, name="all"),
        NumPyRasterSource(modelled, left, bottom, right, top, srs_wkt=wkt, name="modelled"),
    ]
    exact_extract(sums, projected, ["sum"], output="pandas")


def _gdal_viewshed_per_tower(grid, towers) -> None:  # noqa: ANN001
    """``gdal_viewshed`` once per tower on the UTM DEM, 15 km reach, as a user would run it."""
    points = towers.geometry.to_crs(grid.crs)
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "seen.tif"
        for point in points:
            subprocess.run(
                [
                    "gdal_viewshed", "-q", "-md", "15000", "-ox", f"{point.x}", "-oy", f"{point.y}",
                    "-oz", "30", "-tz", "1.5", "-cc", "0.75", str(WORK / "malang_dem_utm.tif"),
                    str(out),
                ],
                check=True,
            )  # fmt: skip


# ------------------------------------------------------------------------------ driver


def measure(suite: str, name: str, runs: int) -> dict:
    """Run a contender ``runs`` times, each in its own process (see benchlib)."""
    return benchlib.measure_children(__file__, [suite, name], runs)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("suites", nargs="*", help=f"any of {', '.join(SUITES)} (default: all)")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(run_child(*args.child)))
        return
    unknown = set(args.suites) - set(SUITES)
    if unknown:
        parser.error(f"unknown suite {', '.join(sorted(unknown))}; use {', '.join(SUITES)}")
    results = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    for suite in args.suites or list(SUITES):
        {"zonal": prepare_zonal, "viewshed": prepare_viewshed, "greedy": prepare_greedy}.get(
            suite, lambda: [prepare_pipeline(n) for n in SUITES["pipeline"]]
        )()
        table = {name: measure(suite, name, args.runs) for name in SUITES[suite]}
        peer = PEERS.get(suite)
        print(f"\n{suite}")
        print(f"{'contender':<16}{'median s':>9}{'min s':>8}{'peak MiB':>9}{'x peer':>8}  notes")
        for name, row in table.items():
            ratio = row["median_s"] / table[peer]["median_s"] if peer else None
            row["x_peer"] = ratio
            notes = {
                k: v
                for k, v in row.items()
                if k not in ("median_s", "min_s", "runs", "peak_mb", "x_peer")
            }
            shown = f"{ratio:>8.2f}" if ratio is not None else f"{'-':>8}"
            timing = f"{row['median_s']:>9.2f}{row['min_s']:>8.2f}{row['peak_mb']:>9.0f}"
            print(f"{name:<16}{timing}{shown}  {notes}")
        if suite == "greedy":
            same = table["lazy greedy"]["sites"] == table["plain greedy"]["sites"]
            print(f"same sites chosen: {same}")
        results[suite] = table
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2, default=str))
    print(f"written {RESULTS}")


if __name__ == "__main__":
    main()
