"""Reading a quarter's world file of Ookla tiles for one province, against reading it whole.

A quarter of Ookla's open mobile data is one Parquet file of ~3.8 million zoom-16 tiles
(~200 MB) for the whole world. A user wants the tiles over their region. Contenders, each in
its own process (its own peak memory), on the same seeded SYNTHETIC world file (tiles spread
over the land bands of the world, ~100,000 of them over Jawa Timur; rows in random order, so
no row group can be skipped: the worst case for the reader):

- ``read whole``: what Ookla's own tutorials do in geopandas, the peer: ``pandas.read_parquet``
  of the file, its WKT ``tile`` column parsed (``shapely.from_wkt``), then the tiles cut to the
  province's bounding box (``.cx``);
- ``petadesa``: ``geo.ingest.sources.ookla.read_ookla_tiles`` over the same box: the quadkey
  and number columns only, filtered by quadkey range as they are read, squares built from the
  quadkeys;
- ``petadesa import``: the whole ``speedtests import-ookla`` on a GeoPackage holding the 8,494
  Jawa Timur villages (loaded before the clock starts): the same tiles read, those over the
  province's regencies kept (the synthetic tiles are spread over its box, sea included),
  validated, written and linked.

Usage: ``python bench/speed_tiles.py [--runs 3] [--tiles 3800000]``; prints a table and writes
``bench/results/speed_tiles.json``.
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
import time
from pathlib import Path

import benchlib
import numpy as np

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
JATIM = SHARED / "cahyadsn_wilayah_boundaries" / "desa_35_jawa_timur.gpkg"
CODES = SHARED / "cahyadsn_wilayah" / "kode_wilayah.csv"
WORK = Path(__file__).parent / "results" / "speed_tiles"
RESULTS = Path(__file__).parent / "results" / "speed_tiles.json"
CONTENDERS = ("read whole", "petadesa", "petadesa import")
PEER = "read whole"
SEED = 16


def peak_mb() -> float:
    """Peak resident memory of this process in MiB (:func:`benchlib.peak_mb`)."""
    return benchlib.peak_mb()


def jatim_bounds() -> tuple[float, float, float, float]:
    import pyogrio  # noqa: PLC0415

    return tuple(float(v) for v in pyogrio.read_info(JATIM)["total_bounds"])


def world_file(tiles: int) -> Path:
    """A seeded SYNTHETIC world file of ``tiles`` tiles in Ookla's schema (made once)."""
    path = WORK / f"2024-07-01_performance_mobile_tiles_{tiles}.parquet"
    if path.exists():
        return path
    import morecantile  # noqa: PLC0415
    import pyarrow as pa  # noqa: PLC0415
    import pyarrow.parquet as pq  # noqa: PLC0415

    import shapely  # noqa: PLC0415

    WORK.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(SEED)
    tms = morecantile.tms.get("WebMercatorQuad")
    side = 1 << 16

    def tile_range(west: float, south: float, east: float, north: float) -> tuple[int, ...]:
        a, b = tms.tile(west, north, 16), tms.tile(east, south, 16)
        return a.x, b.x, a.y, b.y

    x0, x1, y0, y1 = tile_range(*jatim_bounds())
    local = min(100_000, (x1 - x0 + 1) * (y1 - y0 + 1) // 2)
    xs = [rng.integers(x0, x1 + 1, local * 2)]
    ys = [rng.integers(y0, y1 + 1, local * 2)]
    wx0, wx1, wy0, wy1 = tile_range(-170.0, -55.0, 179.0, 70.0)
    xs.append(rng.integers(wx0, wx1 + 1, tiles * 2))
    ys.append(rng.integers(wy0, wy1 + 1, tiles * 2))
    x, y = np.concatenate(xs), np.concatenate(ys)
    keys, first = np.unique(x * side + y, return_index=True)
    in_jatim = first < local * 2
    chosen = np.concatenate(
        [np.flatnonzero(in_jatim)[:local], np.flatnonzero(~in_jatim)[: tiles - local]]
    )
    rng.shuffle(chosen)
    x, y = keys[chosen] // side, keys[chosen] % side
    bits = 1 << np.arange(15, -1, -1)
    digits = ((x[:, None] & bits) > 0).astype(np.uint8) + 2 * ((y[:, None] & bits) > 0)
    quadkeys = (digits + ord("0")).astype(np.uint8).view("S16").ravel().astype(str)
    west = x / side * 360.0 - 180.0
    east = (x + 1) / side * 360.0 - 180.0
    north = np.degrees(np.arctan(np.sinh(np.pi * (1 - 2 * y / side))))
    south = np.degrees(np.arctan(np.sinh(np.pi * (1 - 2 * (y + 1) / side))))
    wkt = shapely.to_wkt(shapely.box(west, south, east, north), rounding_precision=-1)
    n = len(x)
    table = pa.table(
        {
            "quadkey": quadkeys,
            "tile": wkt,
            "avg_d_kbps": rng.integers(100, 120_000, n),
            "avg_u_kbps": rng.integers(50, 40_000, n),
            "avg_lat_ms": rng.integers(5, 400, n),
            "tests": rng.integers(1, 300, n),
            "devices": rng.integers(1, 100, n),
        }
    )
    pq.write_table(table, path, row_group_size=100_000)
    return path


def registry() -> Path:
    """A GeoPackage holding the Jawa Timur villages (made once, copied per run)."""
    path = WORK / "jatim.gpkg"
    if path.exists():
        return path
    from geo.ingest.boundaries import import_boundaries, import_code_list  # noqa: PLC0415
    from geo.store.db import init_schema, make_engine  # noqa: PLC0415

    engine = make_engine(f"gpkg:///{path}")
    init_schema(engine)
    import_code_list(engine, CODES, prefix="35")
    import_boundaries(engine, JATIM)
    engine.dispose()
    return path


def run_child(name: str, path: str) -> dict:
    """One contender, once: its time, peak memory and what it read."""
    bounds = jatim_bounds()
    if name == "read whole":
        import pandas as pd  # noqa: PLC0415

        import geopandas as gpd  # noqa: PLC0415
        import shapely  # noqa: PLC0415

        start = time.perf_counter()
        frame = pd.read_parquet(path)
        tiles = gpd.GeoDataFrame(
            frame.drop(columns="tile"), geometry=shapely.from_wkt(frame["tile"]), crs=4326
        )
        tiles = tiles.cx[bounds[0] : bounds[2], bounds[1] : bounds[3]]
        seconds = time.perf_counter() - start
        return {"seconds": seconds, "peak_mb": peak_mb(), "tiles": len(tiles)}
    from geo.ingest.sources.ookla import import_ookla_tiles, read_ookla_tiles  # noqa: PLC0415
    from geo.store.db import make_engine  # noqa: PLC0415

    if name == "petadesa":
        start = time.perf_counter()
        tiles, _ = read_ookla_tiles(path, bbox=bounds)
        seconds = time.perf_counter() - start
        return {"seconds": seconds, "peak_mb": peak_mb(), "tiles": len(tiles)}
    folder = Path(tempfile.mkdtemp(prefix="bench-tiles-"))
    try:
        copy = folder / "registry.gpkg"
        shutil.copyfile(registry(), copy)
        engine = make_engine(f"gpkg:///{copy}")
        start = time.perf_counter()
        rows, report = import_ookla_tiles(engine, path, bbox=bounds)
        seconds = time.perf_counter() - start
        linked = report.link["layers"]["speed_tile"]["linked"]
        return {
            "seconds": seconds,
            "peak_mb": peak_mb(),
            "tiles": report.inserted,
            "read": rows.read,
            "linked": linked,
        }
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def measure(name: str, path: Path, runs: int) -> dict:
    """Run a contender ``runs`` times, each in its own process (see benchlib)."""
    return benchlib.measure_children(__file__, [name, str(path)], runs)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--tiles", type=int, default=3_800_000)
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(run_child(*args.child)))
        return
    path = world_file(args.tiles)
    registry()
    table = {name: measure(name, path, args.runs) for name in CONTENDERS}
    size = path.stat().st_size / 2**20
    print(f"\nOokla tiles over Jawa Timur from a SYNTHETIC world file ({args.tiles:,} tiles, "
          f"{size:.0f} MiB)")  # fmt: skip
    print(f"{'contender':<17}{'median s':>9}{'min s':>8}{'peak MiB':>9}{'x peer':>8}  tiles")
    for name, row in table.items():
        row["x_peer"] = row["median_s"] / table[PEER]["median_s"]
        print(
            f"{name:<17}{row['median_s']:>9.2f}{row['min_s']:>8.2f}{row['peak_mb']:>9.0f}"
            f"{row['x_peer']:>8.2f}  {row['tiles']:,}"
        )
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps({"tiles": args.tiles, "file_mib": size, **table}, indent=2))


if __name__ == "__main__":
    main()
