"""Benchmark: load the 8,494 Jawa Timur villages into PostGIS, side by side with ogr2ogr.

Contenders, each in its own process (so peak memory is its own) on a fresh database per run:

- ``ogr2ogr``: GDAL with ``PG_USE_COPY=YES``, the peer (no validation, no schema of ours);
- ``ogr2ogr-makevalid``: the same with ``-makevalid``, GDAL's own validation and repair
  (GEOS ``MakeValid`` on every feature), for an idea of what checking geometries costs GDAL;
- ``to_postgis``: geopandas reads the file and writes it with ``GeoDataFrame.to_postgis``;
- ``petadesa``: ``import_boundaries`` of the village file with validation, repair, equal-area
  areas, label points, code and parent checks, upsert and linking, with the code list and the
  official district/regency/province boundaries already in the registry;
- ``petadesa+derive``: the same without parent boundaries, so the 666 districts, 38 regencies
  and the province are dissolved from the villages.

Usage: ``python bench/load_villages.py --database-url postgresql://postgres@127.0.0.1:5432/postgres``
(the server must allow CREATE DATABASE; ``scripts/postgis.sh start DIR`` gives one). Prints a
table with the ratios to ``ogr2ogr`` (the floor) and to ``ogr2ogr -makevalid`` (the fair peer
of a validated load) and writes ``bench/results/load_villages.json``. ``--national 10`` loads
Jawa Timur tiled ten times across Indonesia instead (84,940 villages, see ``national.py``;
``load_villages_national.json``). With psutil (``pip install -e '.[bench]'``)
and a local server it also reports the CPU seconds of client and server: the load is bound by
the two cores' CPU, which says how far a contender is from its floor.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from benchlib import DEFAULT_URL, CpuMeter, measure, peak_mb, print_table
from sqlalchemy import create_engine
from sqlalchemy.engine import make_url

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
BOUNDARIES = SHARED / "cahyadsn_wilayah_boundaries"
CONTENDERS = ("ogr2ogr", "ogr2ogr-makevalid", "to_postgis", "petadesa", "petadesa+derive")
NATIONAL_CONTENDERS = ("ogr2ogr", "ogr2ogr-makevalid", "petadesa", "petadesa+derive")


@dataclass(frozen=True)
class Files:
    """What one benchmark loads: the villages, their parents' files and the code list."""

    villages: Path
    layer: str
    parents: tuple[Path, ...]
    codes: Path
    prefix: str | None


def files(national: int | None) -> Files:
    """Jawa Timur as published, or tiled ``national`` times (see ``national.py``)."""
    if national is None:
        return Files(
            BOUNDARIES / "desa_35_jawa_timur.gpkg",
            "desa_35",
            tuple(
                BOUNDARIES / name
                for name in (
                    "provinsi_35_jawa_timur.geojson",
                    "kabkota_35_jawa_timur.geojson",
                    "kecamatan_35_jawa_timur.geojson",
                )
            ),
            SHARED / "cahyadsn_wilayah" / "kode_wilayah.csv",
            "35",
        )
    from national import national_files  # noqa: PLC0415

    paths = national_files(national)
    return Files(
        paths["village"],
        "village",
        (paths["province"], paths["regency"], paths["district"]),
        paths["codes"],
        None,
    )


def run_ogr2ogr(url: str, data: Files, makevalid: bool = False) -> dict:
    u = make_url(url)
    pg = f"PG:host={u.host} port={u.port} user={u.username} dbname={u.database}"
    start = time.perf_counter()
    meter = CpuMeter(resource.RUSAGE_CHILDREN)
    with meter:
        _ogr2ogr(pg, data, makevalid)
    seconds = time.perf_counter() - start
    return {
        "seconds": seconds,
        "peak_mb": peak_mb(resource.RUSAGE_CHILDREN),
        **meter.as_dict(),
    }


def _ogr2ogr(pg: str, data: Files, makevalid: bool) -> None:
    subprocess.run(
        [
            "ogr2ogr",
            "-f",
            "PostgreSQL",
            pg,
            str(data.villages),
            data.layer,
            "-nln",
            "village_ogr",
            "-nlt",
            "PROMOTE_TO_MULTI",
            "-lco",
            "GEOMETRY_NAME=geom",
            *(["-makevalid"] if makevalid else []),
        ],
        check=True,
        env={**os.environ, "PG_USE_COPY": "YES"},
    )


def run_to_postgis(url: str, data: Files) -> dict:
    import geopandas as gpd  # noqa: PLC0415

    engine = create_engine(make_url(url).set(drivername="postgresql+psycopg"))
    start = time.perf_counter()
    with CpuMeter() as meter:
        gdf = gpd.read_file(data.villages, layer=data.layer, engine="pyogrio")
        gdf.to_postgis("village_gpd", engine, if_exists="replace")
    return {"seconds": time.perf_counter() - start, "peak_mb": peak_mb(), **meter.as_dict()}


def run_petadesa(url: str, data: Files, derive: bool) -> dict:
    from geo.ingest.boundaries import count_areas, import_boundaries, import_code_list  # noqa: PLC0415
    from geo.store.db import init_schema, make_engine  # noqa: PLC0415

    engine = make_engine(url)
    init_schema(engine)
    import_code_list(engine, data.codes, prefix=data.prefix)
    if not derive:
        for path in data.parents:
            import_boundaries(engine, path)
    start = time.perf_counter()
    with CpuMeter() as meter:
        report = import_boundaries(engine, data.villages)
    seconds = time.perf_counter() - start
    return {
        "seconds": seconds,
        "peak_mb": peak_mb(),
        **meter.as_dict(),
        "counts": count_areas(engine),
        "repaired": len(report.repaired),
    }


def child(name: str, url: str, data: Files) -> None:
    """Run one contender once and print its measurement as JSON."""
    if name.startswith("ogr2ogr"):
        result = run_ogr2ogr(url, data, makevalid=name.endswith("makevalid"))
    elif name == "to_postgis":
        result = run_to_postgis(url, data)
    else:
        result = run_petadesa(url, data, derive=name.endswith("derive"))
    print(json.dumps(result))


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--database-url", default=DEFAULT_URL)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--only", choices=CONTENDERS, action="append")
    parser.add_argument(
        "--national",
        type=int,
        metavar="COPIES",
        help="load Jawa Timur tiled COPIES times across Indonesia (10: 84,940 villages)",
    )
    parser.add_argument("--child", choices=CONTENDERS, help=argparse.SUPPRESS)
    args = parser.parse_args()
    data = files(args.national)
    if args.child:
        child(args.child, args.database_url, data)
        return
    extra = [] if args.national is None else ["--national", str(args.national)]
    contenders = args.only or (CONTENDERS if args.national is None else NATIONAL_CONTENDERS)
    table = {
        name: measure(__file__, name, args.database_url, args.runs, extra, stem="bench_load")
        for name in contenders
    }
    print(f"{data.villages} ({data.layer})")
    print_table(table, "ogr2ogr", also="ogr2ogr-makevalid")
    stem = "load_villages" if args.national is None else "load_villages_national"
    out = Path(__file__).parent / "results" / f"{stem}.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps({"villages": str(data.villages), "results": table}, indent=2))
    print(f"written {out}")


if __name__ == "__main__":
    main()
