"""Benchmark: import 200,000 tower points from a CSV into PostGIS, side by side with ogr2ogr.

The 8,494 Jawa Timur villages are in the registry first (official parents too, as a planner
would have them). Contenders, each in its own process on a fresh database per run:

- ``ogr2ogr``: GDAL reads the CSV (``X_POSSIBLE_NAMES=lon``, ``Y_POSSIBLE_NAMES=lat``) and
  COPYs it into a new table: no validation, no upsert, no link, the peer for raw loading;
- ``petadesa``: ``import_assets`` of the same file into the ``tower`` layer: typed columns,
  validation, upsert by source id, and the link of every tower to its village;
- ``petadesa again``: the same file imported a second time (every row compared, none written).

The towers are seeded uniform random points in the villages' bounding box (about 3/4 of them on
land), so the CSV is ``bench/results/towers_<n>.csv``, written once. Usage:
``python bench/import_assets.py --database-url postgresql://postgres@127.0.0.1:5432/postgres``.
Prints a table and writes ``bench/results/import_assets.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import time
from pathlib import Path

import numpy as np
import pandas as pd
from benchlib import DEFAULT_URL, measure, peak_mb, print_table
from sqlalchemy.engine import make_url

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
BOUNDARIES = SHARED / "cahyadsn_wilayah_boundaries"
VILLAGES = BOUNDARIES / "desa_35_jawa_timur.gpkg"
CODES = SHARED / "cahyadsn_wilayah" / "kode_wilayah.csv"
PARENTS = (
    "provinsi_35_jawa_timur.geojson",
    "kabkota_35_jawa_timur.geojson",
    "kecamatan_35_jawa_timur.geojson",
)
RESULTS = Path(__file__).parent / "results"
BBOX = (111.7, -8.2, 113.8, -7.3)
CONTENDERS = ("ogr2ogr", "petadesa", "petadesa again")


def towers_csv(n: int, seed: int = 20261122) -> Path:
    """Write (once) ``n`` seeded tower points as a CSV with id, name, operator, lat, lon."""
    path = RESULTS / f"towers_{n}.csv"
    if path.exists():
        return path
    rng = np.random.default_rng(seed)
    RESULTS.mkdir(exist_ok=True)
    pd.DataFrame(
        {
            "id": np.arange(n),
            "name": [f"BTS sampel {i}" for i in range(n)],
            "operator": rng.choice(["Telkomsel", "Indosat", "XL"], n),
            "technologies": rng.choice(["4G", "2G,4G", "4G,5G"], n),
            "lat": rng.uniform(BBOX[1], BBOX[3], n).round(6),
            "lon": rng.uniform(BBOX[0], BBOX[2], n).round(6),
        }
    ).to_csv(path, index=False)
    return path


def run_ogr2ogr(url: str, csv: Path) -> dict:
    u = make_url(url)
    pg = f"PG:host={u.host} port={u.port} user={u.username} dbname={u.database}"
    start = time.perf_counter()
    subprocess.run(
        [
            "ogr2ogr",
            "-f",
            "PostgreSQL",
            pg,
            str(csv),
            "-nln",
            "tower_ogr",
            "-oo",
            "X_POSSIBLE_NAMES=lon",
            "-oo",
            "Y_POSSIBLE_NAMES=lat",
            "-a_srs",
            "EPSG:4326",
            "-lco",
            "GEOMETRY_NAME=geom",
        ],
        check=True,
        env={**os.environ, "PG_USE_COPY": "YES"},
    )
    return {"seconds": time.perf_counter() - start, "peak_mb": peak_mb(resource.RUSAGE_CHILDREN)}


def run_petadesa(url: str, csv: Path, again: bool) -> dict:
    from geo.ingest.assets import import_assets  # noqa: PLC0415
    from geo.ingest.boundaries import import_boundaries, import_code_list  # noqa: PLC0415
    from geo.store.db import init_schema, make_engine  # noqa: PLC0415

    engine = make_engine(url)
    init_schema(engine)
    import_code_list(engine, CODES, prefix="35")
    for name in PARENTS:
        import_boundaries(engine, BOUNDARIES / name)
    import_boundaries(engine, VILLAGES)
    if again:
        import_assets(engine, "tower", csv)
    start = time.perf_counter()
    report = import_assets(engine, "tower", csv)
    seconds = time.perf_counter() - start
    return {
        "seconds": seconds,
        "peak_mb": peak_mb(),
        "inserted": report.inserted,
        "unchanged": report.unchanged,
        "linked": report.link["layers"]["tower"]["linked"],
    }


def child(name: str, url: str, csv: Path) -> None:
    """Run one contender once and print its measurement as JSON."""
    if name == "ogr2ogr":
        result = run_ogr2ogr(url, csv)
    else:
        result = run_petadesa(url, csv, again=name.endswith("again"))
    print(json.dumps(result))


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--database-url", default=DEFAULT_URL)
    parser.add_argument("--towers", type=int, default=200_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--only", choices=CONTENDERS, action="append")
    parser.add_argument("--child", choices=CONTENDERS, help=argparse.SUPPRESS)
    parser.add_argument("csv", nargs="?", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child, args.database_url, args.csv)
        return
    csv = towers_csv(args.towers)
    table = {
        name: measure(__file__, name, args.database_url, args.runs, [str(csv)], "bench_assets")
        for name in args.only or CONTENDERS
    }
    print_table(table, "ogr2ogr")
    out = RESULTS / "import_assets.json"
    out.write_text(json.dumps({"towers": args.towers, "csv": str(csv), "results": table}, indent=2))
    print(f"written {out}")


if __name__ == "__main__":
    main()
