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
table and writes ``bench/results/load_villages.json``. With psutil (``pip install -e '.[bench]'``)
and a local server it also reports the CPU seconds of client and server: the load is bound by
the two cores' CPU, which says how far a contender is from its floor.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time
import uuid
from pathlib import Path

from sqlalchemy import create_engine, text
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
CONTENDERS = ("ogr2ogr", "ogr2ogr-makevalid", "to_postgis", "petadesa", "petadesa+derive")


def peak_mb(who: int = resource.RUSAGE_SELF) -> float:
    """Peak resident memory in MiB (Linux reports KiB)."""
    return resource.getrusage(who).ru_maxrss / 1024


def cpu_s(who: int = resource.RUSAGE_SELF) -> float:
    """User + system CPU seconds so far (all threads; or the waited-for children)."""
    usage = resource.getrusage(who)
    return usage.ru_utime + usage.ru_stime


def server_cpu_s() -> float | None:
    """CPU seconds used so far by the local PostgreSQL server (``None`` without psutil).

    Live processes count their own time; a backend that has exited counts in the
    postmaster's children time (the whole of it), so a difference of two readings is the
    server's work in between, backends that came and went included.
    """
    try:
        import psutil  # noqa: PLC0415 - the bench extra
    except ImportError:
        return None
    total = 0.0
    for proc in psutil.process_iter(["cmdline"]):
        cmdline = " ".join(proc.info["cmdline"] or [])
        if not (cmdline.startswith("postgres:") or "/bin/postgres " in cmdline):
            continue
        try:
            times = proc.cpu_times()
        except psutil.Error:
            continue
        total += times.user + times.system + times.children_user + times.children_system
    return total


class CpuMeter:
    """Client and server CPU seconds spent inside a ``with`` block."""

    def __init__(self, who: int = resource.RUSAGE_SELF) -> None:
        self.who = who

    def __enter__(self) -> CpuMeter:
        self.client0, self.server0 = cpu_s(self.who), server_cpu_s()
        return self

    def __exit__(self, *exc: object) -> None:
        self.client = cpu_s(self.who) - self.client0
        after = server_cpu_s()
        self.server = None if after is None or self.server0 is None else after - self.server0

    def as_dict(self) -> dict:
        return {"client_cpu_s": self.client, "server_cpu_s": self.server}


def run_ogr2ogr(url: str, makevalid: bool = False) -> dict:
    u = make_url(url)
    pg = f"PG:host={u.host} port={u.port} user={u.username} dbname={u.database}"
    start = time.perf_counter()
    meter = CpuMeter(resource.RUSAGE_CHILDREN)
    with meter:
        _ogr2ogr(pg, makevalid)
    seconds = time.perf_counter() - start
    return {
        "seconds": seconds,
        "peak_mb": peak_mb(resource.RUSAGE_CHILDREN),
        **meter.as_dict(),
    }


def _ogr2ogr(pg: str, makevalid: bool) -> None:
    subprocess.run(
        [
            "ogr2ogr",
            "-f",
            "PostgreSQL",
            pg,
            str(VILLAGES),
            "desa_35",
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


def run_to_postgis(url: str) -> dict:
    import geopandas as gpd  # noqa: PLC0415

    engine = create_engine(make_url(url).set(drivername="postgresql+psycopg"))
    start = time.perf_counter()
    with CpuMeter() as meter:
        gdf = gpd.read_file(VILLAGES, layer="desa_35", engine="pyogrio")
        gdf.to_postgis("village_gpd", engine, if_exists="replace")
    return {"seconds": time.perf_counter() - start, "peak_mb": peak_mb(), **meter.as_dict()}


def run_petadesa(url: str, derive: bool) -> dict:
    from geo.boundaries import count_areas, import_boundaries, import_code_list  # noqa: PLC0415
    from geo.db import init_schema, make_engine  # noqa: PLC0415

    engine = make_engine(url)
    init_schema(engine)
    import_code_list(engine, CODES, prefix="35")
    if not derive:
        for name in PARENTS:
            import_boundaries(engine, BOUNDARIES / name)
    start = time.perf_counter()
    with CpuMeter() as meter:
        report = import_boundaries(engine, VILLAGES)
    seconds = time.perf_counter() - start
    return {
        "seconds": seconds,
        "peak_mb": peak_mb(),
        **meter.as_dict(),
        "counts": count_areas(engine),
        "repaired": len(report.repaired),
    }


def child(name: str, url: str) -> None:
    """Run one contender once and print its measurement as JSON."""
    if name.startswith("ogr2ogr"):
        result = run_ogr2ogr(url, makevalid=name.endswith("makevalid"))
    elif name == "to_postgis":
        result = run_to_postgis(url)
    else:
        result = run_petadesa(url, derive=name.endswith("derive"))
    print(json.dumps(result))


def fresh_database(admin_url: str) -> tuple[str, str]:
    """Create an empty PostGIS database; return its name and URL."""
    name = f"bench_load_{uuid.uuid4().hex[:8]}"
    admin = create_engine(
        make_url(admin_url).set(drivername="postgresql+psycopg"), isolation_level="AUTOCOMMIT"
    )
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    db = create_engine(make_url(admin_url).set(drivername="postgresql+psycopg", database=name))
    with db.begin() as conn:
        conn.execute(text("CREATE EXTENSION IF NOT EXISTS postgis"))
    db.dispose()
    return name, make_url(admin_url).set(database=name).render_as_string(hide_password=False)


def drop_database(admin_url: str, name: str) -> None:
    admin = create_engine(
        make_url(admin_url).set(drivername="postgresql+psycopg"), isolation_level="AUTOCOMMIT"
    )
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def measure(name: str, admin_url: str, runs: int) -> dict:
    results = []
    for _ in range(runs):
        db_name, url = fresh_database(admin_url)
        try:
            out = subprocess.run(
                [sys.executable, __file__, "--child", name, "--database-url", url],
                check=True,
                capture_output=True,
                text=True,
            )
            results.append(json.loads(out.stdout.strip().splitlines()[-1]))
        finally:
            drop_database(admin_url, db_name)
    seconds = [r["seconds"] for r in results]
    cpu = {
        key: statistics.median(r[key] for r in results)
        for key in ("client_cpu_s", "server_cpu_s")
        if all(r.get(key) is not None for r in results)
    }
    return {
        "median_s": statistics.median(seconds),
        **cpu,
        "min_s": min(seconds),
        "runs": seconds,
        "peak_mb": max(r["peak_mb"] for r in results),
        **{
            k: v
            for k, v in results[-1].items()
            if k not in ("seconds", "peak_mb", "client_cpu_s", "server_cpu_s")
        },
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--database-url",
        default=os.environ.get(
            "PETADESA_BENCH_POSTGIS_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
        ),
    )
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--only", choices=CONTENDERS, action="append")
    parser.add_argument("--child", choices=CONTENDERS, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child, args.database_url)
        return
    table = {
        name: measure(name, args.database_url, args.runs) for name in (args.only or CONTENDERS)
    }
    base = table.get("ogr2ogr", {}).get("median_s")
    print(
        f"{'contender':<19}{'median s':>9}{'min s':>7}{'peak MiB':>9}{'x ogr2ogr':>10}"
        f"{'client CPU s':>13}{'server CPU s':>13}"
    )
    for name, row in table.items():
        ratio = f"{row['median_s'] / base:.2f}" if base else "-"
        client = f"{row['client_cpu_s']:.2f}" if "client_cpu_s" in row else "-"
        server = f"{row['server_cpu_s']:.2f}" if "server_cpu_s" in row else "-"
        print(
            f"{name:<19}{row['median_s']:>9.2f}{row['min_s']:>7.2f}{row['peak_mb']:>9.0f}"
            f"{ratio:>10}{client:>13}{server:>13}"
        )
    print(
        "CPU: medians of the timed part only; the server's is every PostgreSQL process on this "
        "machine (psutil), so keep the server otherwise idle."
    )
    out = Path(__file__).parent / "results" / "load_villages.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps({"villages": str(VILLAGES), "results": table}, indent=2))
    print(f"written {out}")


if __name__ == "__main__":
    main()
