"""Benchmark: link N random points to the 8,494 Jawa Timur villages on PostGIS.

Side by side in one run, on one fresh database (created for the run, dropped after):

(a) the naive ``UPDATE tower SET village_code = v.code FROM village v WHERE ST_Contains(...)``;
(b) geopandas ``sjoin`` in memory (timed with and without reading and writing back);
(c) Petadesa's :func:`geo.linking.link_assets`, end to end, in one transaction.

All three run on the schema the registry creates (``init_schema``: the Alembic migrations,
so ``tower`` has its ``village_code`` B-tree, its GiST on ``geom`` and fillfactor 80).
``village_code`` is reset to NULL (and the table vacuumed) between runs. The runs of (a) and
(c) record how many of their row updates were HOT (heap-only: no index touched). Before the
points are loaded, (c) is also timed on the 7 asset layers while they are empty, as every
boundary import relinks them. Prints a table and writes ``bench/results/link_points.json``.
Not a test: never assert on timings.

    python bench/link_points.py --points 1000000
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import gc
import io
import json
import os
import platform
import statistics
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import psutil
from sqlalchemy import Connection, Engine, create_engine, event, text
from sqlalchemy.engine import make_url

import geopandas as gpd
import shapely

from geo.linking import link_assets
from geo.store.db import init_schema, make_engine, transaction

DEFAULT_URL = "postgresql+psycopg://postgres@127.0.0.1:55432/postgres"
VILLAGES = Path("/work/shared/data/cahyadsn_wilayah_boundaries/desa_35_jawa_timur.gpkg")
RESULTS = Path(__file__).parent / "results" / "link_points.json"
SOURCE = "cahyadsn/wilayah_boundaries"
NAIVE_SQL = (
    "UPDATE tower SET village_code = v.code FROM village v "
    "WHERE ST_Contains(v.boundary, tower.geom)"
)


# --------------------------------------------------------------------------------------------
# Set-up (not measured)
# --------------------------------------------------------------------------------------------


@contextmanager
def fresh_database(url: str) -> Iterator[str]:
    """Create a throwaway database next to ``url``; drop it afterwards."""
    admin_url = make_url(url).set(drivername="postgresql+psycopg")
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    name = f"petadesa_bench_{uuid.uuid4().hex[:10]}"
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield admin_url.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def read_villages() -> gpd.GeoDataFrame:
    """The Jawa Timur villages, repaired with make_valid and kept as MultiPolygons."""
    gdf = gpd.read_file(VILLAGES, layer="desa_35")
    invalid = ~gdf.geometry.is_valid
    repaired = shapely.make_valid(gdf.geometry.values[invalid.values])
    gdf.loc[invalid, "geometry"] = [_polygonal(g) for g in repaired]
    gdf["geometry"] = [
        g if g.geom_type == "MultiPolygon" else shapely.MultiPolygon([g]) for g in gdf.geometry
    ]
    return gdf


def _polygonal(geom: shapely.Geometry) -> shapely.MultiPolygon:
    parts = shapely.get_parts(geom)
    polys = []
    for part in parts:
        if part.geom_type == "Polygon":
            polys.append(part)
        elif part.geom_type == "MultiPolygon":
            polys.extend(part.geoms)
    return shapely.MultiPolygon(polys)


def _copy_rows(conn, table: str, columns: list[str], frame: pd.DataFrame) -> None:  # noqa: ANN001
    buf = io.StringIO()
    frame.to_csv(buf, sep="\t", header=False, index=False, na_rep="\\N")
    buf.seek(0)
    cols = ", ".join(columns)
    with conn.cursor() as cur, cur.copy(f"COPY {table} ({cols}) FROM STDIN") as copy:
        while chunk := buf.read(1 << 20):
            copy.write(chunk)


AREA_SQL = """
INSERT INTO {table} (name, source, code, kind, parent_code, area_km2, label_lon, label_lat,
                     boundary, parent_id, valid_from, created_at, updated_at)
SELECT s.name, '{source}', s.code, s.kind, s.parent_code,
       ST_Area(s.geom::geography) / 1e6, ST_X(ST_PointOnSurface(s.geom)),
       ST_Y(ST_PointOnSurface(s.geom)), s.geom, p.id, DATE '1970-01-01', now(), now()
FROM ({rows}) s {parent_join}
"""


def _area_rows(level: str) -> str:
    """SQL rows (code, name, kind, parent_code, geom) for one level from the staging table."""
    if level == "village":
        return "SELECT code, name, kind, kode_kec AS parent_code, geom FROM stage_village"
    key, name, parent, kind = {
        "district": ("kode_kec", "nama_kec", "kode_kab", "'kecamatan'"),
        "regency": (
            "kode_kab",
            "nama_kab",
            "kode_prov",
            "CASE WHEN substr(kode_kab, 4, 2)::int >= 71 THEN 'kota' ELSE 'kabupaten' END",
        ),
        "province": ("kode_prov", "nama_prov", "NULL", "'provinsi'"),
    }[level]
    return (
        f"SELECT {key} AS code, min({name}) AS name, {kind} AS kind, min({parent}) AS parent_code,"
        f" ST_Multi(ST_Envelope(ST_Extent(geom)::geometry)) AS geom"
        f" FROM stage_village GROUP BY {key}"
    )


def load_villages(engine: Engine, villages: gpd.GeoDataFrame) -> None:
    """Bulk-load province, regencies, districts (bbox geometries) and villages."""
    frame = pd.DataFrame(
        {
            "code": villages["kode"],
            "name": villages["nama"],
            "kind": villages["jenis"],
            "kode_kec": villages["kode_kec"],
            "kode_kab": villages["kode_kab"],
            "kode_prov": villages["kode_prov"],
            "nama_kec": villages["nama_kec"],
            "nama_kab": villages["nama_kab"],
            "nama_prov": villages["nama_prov"],
            "geom": shapely.to_wkb(
                shapely.set_srid(villages.geometry.values, 4326), hex=True, include_srid=True
            ),
        }
    )
    with engine.begin() as conn:
        raw = conn.connection.driver_connection
        raw.execute(
            "CREATE TEMP TABLE stage_village (code text, name text, kind text, kode_kec text,"
            " kode_kab text, kode_prov text, nama_kec text, nama_kab text, nama_prov text,"
            " geom geometry(MultiPolygon, 4326))"
        )
        _copy_rows(raw, "stage_village", list(frame.columns), frame)
        parents = {
            "province": None,
            "regency": "province",
            "district": "regency",
            "village": "district",
        }
        for level, parent in parents.items():
            join = (
                f"JOIN {parent} p ON p.code = s.parent_code"
                if parent
                else "LEFT JOIN (SELECT NULL::int AS id) p ON true"
            )
            raw.execute(
                AREA_SQL.format(
                    table=level, source=SOURCE, rows=_area_rows(level), parent_join=join
                )
            )
    _vacuum(engine, "province", "regency", "district", "village")


def seed_points(engine: Engine, n: int, bounds: tuple[float, ...], seed: int = 20240601) -> None:
    """COPY ``n`` uniform random points inside ``bounds`` into ``tower``."""
    rng = np.random.default_rng(seed)
    xs = rng.uniform(bounds[0], bounds[2], n)
    ys = rng.uniform(bounds[1], bounds[3], n)
    geoms = shapely.to_wkb(
        shapely.set_srid(shapely.points(xs, ys), 4326), hex=True, include_srid=True
    )
    ids = np.arange(1, n + 1)
    frame = pd.DataFrame(
        {
            "id": ids,
            "name": [f"BTS {i}" for i in ids],
            "source": "bench",
            "source_id": ids.astype(str),
            "created_at": "2024-06-01",
            "updated_at": "2024-06-01",
            "version": 1,
            "geom": geoms,
        }
    )
    with engine.begin() as conn:
        _copy_rows(conn.connection.driver_connection, "tower", list(frame.columns), frame)
        conn.execute(text("SELECT setval(pg_get_serial_sequence('tower', 'id'), :n)"), {"n": n})
    _vacuum(engine, "tower")


def _vacuum(engine: Engine, *tables: str) -> None:
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        for table in tables:
            conn.execute(text(f"VACUUM ANALYZE {table}"))
        conn.execute(text("CHECKPOINT"))


def reset_links(engine: Engine) -> None:
    """Back to no links, with the dead rows vacuumed so that every run starts alike."""
    with engine.begin() as conn:
        conn.execute(text("UPDATE tower SET village_code = NULL WHERE village_code IS NOT NULL"))
    _vacuum(engine, "tower")


# --------------------------------------------------------------------------------------------
# Measuring
# --------------------------------------------------------------------------------------------


class PeakMemory:
    """Samples, while a block runs, this process's RSS and the private memory of the database's
    backends (RSS minus shared pages, so shared_buffers is not counted), parallel workers too."""

    def __init__(self, database: str) -> None:
        self.database = database
        self.client = self.server = 0
        self._stop = threading.Event()

    def _backends(self) -> list[psutil.Process]:
        found = []
        for proc in psutil.process_iter(["name", "cmdline"]):
            title = " ".join(proc.info["cmdline"] or [])
            if title.startswith("postgres:") and (self.database in title or "parallel" in title):
                found.append(proc)
        return found

    def _sample_once(self) -> None:
        self.client = max(self.client, psutil.Process().memory_info().rss)
        total = 0
        for proc in self._backends():
            try:
                info = proc.memory_info()
            except psutil.Error:
                continue
            total += info.rss - info.shared
        self.server = max(self.server, total)

    def _sample(self) -> None:
        while not self._stop.is_set():
            self._sample_once()
            self._stop.wait(0.02)

    def __enter__(self) -> PeakMemory:
        self._sample_once()
        self.client_base, self.server_base = self.client, self.server
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def as_dict(self) -> dict[str, float]:
        mib = 2**20
        return {
            "client_peak_rss_mib": self.client / mib,
            "client_peak_over_start_mib": (self.client - self.client_base) / mib,
            "server_peak_private_mib": self.server / mib,
            "server_peak_over_start_mib": (self.server - self.server_base) / mib,
        }


@dataclass
class Run:
    """One measured run of one contender."""

    contender: str
    seconds: float
    memory: dict[str, float]
    parts: dict[str, float] = field(default_factory=dict)
    load_average: float = field(default_factory=lambda: os.getloadavg()[0])
    """Machine load (1 min) when the run ended: the machine is shared, so runs are noisy."""


def update_counts(conn: Connection) -> tuple[dict[str, int], float]:
    """Rows of ``tower`` this transaction updated, how many HOT, and the seconds the look took."""
    start = time.perf_counter()
    updated, hot = conn.execute(
        text(
            "SELECT n_tup_upd, n_tup_hot_upd FROM pg_stat_xact_user_tables WHERE relname = 'tower'"
        )
    ).one()
    return {"updated": updated, "hot_updated": hot}, time.perf_counter() - start


def run_naive(engine: Engine, database: str) -> Run:
    """(a) The naive UPDATE ... FROM village WHERE ST_Contains, committed."""
    with PeakMemory(database) as mem, engine.begin() as conn:
        start = time.perf_counter()
        conn.execute(text(NAIVE_SQL))
        updates, looking = update_counts(conn)
    seconds = time.perf_counter() - start - looking
    with engine.begin() as conn:
        conn.execute(text("DROP TABLE IF EXISTS naive_result"))
        conn.execute(
            text(
                "CREATE TABLE naive_result AS SELECT id, village_code FROM tower"
                " WHERE village_code IS NOT NULL"
            )
        )
    return Run("naive UPDATE", seconds, mem.as_dict(), dict(updates))


def run_sjoin(engine: Engine, database: str) -> tuple[Run, pd.Series]:
    """(b) geopandas: read points and villages, sjoin in memory, write back, commit."""
    with PeakMemory(database) as mem:
        start = time.perf_counter()
        with engine.connect() as conn:
            points = gpd.read_postgis("SELECT id, geom FROM tower", conn, geom_col="geom")
            areas = gpd.read_postgis(
                "SELECT code, boundary FROM village WHERE valid_to IS NULL",
                conn,
                geom_col="boundary",
            )
        read = time.perf_counter()
        joined = gpd.sjoin(points, areas, predicate="within", how="inner")
        codes = joined.groupby("id")["code"].min()  # overlaps: the smallest code, as Petadesa
        joined_at = time.perf_counter()
        write_codes(engine, codes)
        end = time.perf_counter()
    del points, areas, joined
    parts = {"read": read - start, "sjoin": joined_at - read, "write_back": end - joined_at}
    return Run("geopandas sjoin", end - start, mem.as_dict(), parts), codes


def write_codes(engine: Engine, codes: pd.Series) -> None:
    """COPY (id, code) into a temporary table and apply it with one UPDATE ... FROM."""
    frame = pd.DataFrame({"id": codes.index, "code": codes.values})
    with engine.begin() as conn:
        raw = conn.connection.driver_connection
        raw.execute("CREATE TEMP TABLE sjoin_result (id integer, code text) ON COMMIT DROP")
        _copy_rows(raw, "sjoin_result", ["id", "code"], frame)
        raw.execute("ANALYZE sjoin_result")
        raw.execute(
            "UPDATE tower t SET village_code = s.code FROM sjoin_result s"
            " WHERE s.id = t.id AND t.village_code IS DISTINCT FROM s.code"
        )


@contextmanager
def statement_clock(engine: Engine) -> Iterator[dict[str, float]]:
    """Seconds spent in the database per kind of statement: the join, the write-back (the
    UPDATE, and dropping and building the ``village_code`` index around it), the rest."""
    spent = {"join": 0.0, "write_back": 0.0, "index": 0.0, "other": 0.0}

    def before(conn, *_args) -> None:  # noqa: ANN001
        conn.info["clock"] = time.perf_counter()

    def after(conn, _cursor, statement, *_args) -> None:  # noqa: ANN001
        kind = (
            "join"
            if statement.startswith("INSERT INTO petadesa_link") and "ST_Intersects" in statement
            else "write_back"
            if statement.startswith("UPDATE")
            else "index"
            if statement.startswith(("CREATE INDEX", "DROP INDEX"))
            else "other"
        )
        spent[kind] += time.perf_counter() - conn.info["clock"]

    event.listen(engine, "before_cursor_execute", before)
    event.listen(engine, "after_cursor_execute", after)
    try:
        yield spent
    finally:
        event.remove(engine, "before_cursor_execute", before)
        event.remove(engine, "after_cursor_execute", after)


def run_petadesa(engine: Engine, database: str) -> Run:
    """(c) geo.linking.link_assets, end to end in one committed transaction."""
    with PeakMemory(database) as mem, statement_clock(engine) as spent:
        start = time.perf_counter()
        with transaction(engine) as session:
            report = link_assets(session, ["tower"])
            updates, looking = update_counts(session.connection())
        seconds = time.perf_counter() - start - looking
    counts = report.layers["tower"]
    spent["other"] -= looking
    return Run(
        "petadesa link_assets",
        seconds,
        mem.as_dict(),
        {**spent, "linked": counts.linked, "changed": counts.changed, **updates},
    )


def time_empty_layers(engine: Engine, repeat: int) -> dict[str, float]:
    """Seconds :func:`link_assets` takes on all 7 asset layers while they hold no rows."""
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        with transaction(engine) as session:
            link_assets(session)
        times.append(time.perf_counter() - start)
    return {
        "seconds_median": round(statistics.median(times), 4),
        "seconds_all": [round(t, 4) for t in times],
    }


# --------------------------------------------------------------------------------------------
# Checking
# --------------------------------------------------------------------------------------------


def compare_with_naive(engine: Engine) -> dict[str, int]:
    """How many points (c) links differently from (a), and how many of those lie in overlaps."""
    sql = """
    WITH diff AS (
        SELECT t.id, t.geom FROM tower t LEFT JOIN naive_result n ON n.id = t.id
        WHERE t.village_code IS DISTINCT FROM n.village_code)
    SELECT count(*),
           count(*) FILTER (WHERE (SELECT count(*) FROM village v WHERE v.valid_to IS NULL
                                   AND ST_Intersects(v.boundary, diff.geom)) > 1)
    FROM diff"""
    overlaps = """
    SELECT count(*) FROM (SELECT t.id FROM village v JOIN tower t
                          ON ST_Intersects(v.boundary, t.geom) WHERE v.valid_to IS NULL
                          GROUP BY t.id HAVING count(*) > 1) s"""
    with engine.connect() as conn:
        differ, in_overlaps = conn.execute(text(sql)).one()
        return {
            "points_linked_differently_than_naive": differ,
            "of_which_in_overlaps": in_overlaps,
            "points_in_overlaps": conn.execute(text(overlaps)).scalar_one(),
            "points_linked_by_naive": conn.execute(
                text("SELECT count(*) FROM naive_result")
            ).scalar_one(),
        }


def compare_with_sjoin(engine: Engine, codes: pd.Series) -> int:
    """Points where (c) and (b) disagree (both pick the smallest code in overlaps)."""
    with engine.connect() as conn:
        linked = pd.Series(
            dict(
                conn.execute(
                    text("SELECT id, village_code FROM tower WHERE village_code IS NOT NULL")
                ).all()
            )
        )
    both = pd.concat({"petadesa": linked, "sjoin": codes}, axis=1)
    return int((both["petadesa"] != both["sjoin"]).sum())


# --------------------------------------------------------------------------------------------
# Reporting and main
# --------------------------------------------------------------------------------------------


def summarise(runs: list[Run]) -> dict[str, dict]:
    """Median seconds, peak memory and ratio to the naive UPDATE, per contender."""
    by_name: dict[str, list[Run]] = {}
    for run in runs:
        by_name.setdefault(run.contender, []).append(run)
    naive = statistics.median(r.seconds for r in by_name["naive UPDATE"])
    out = {}
    for name, group in by_name.items():
        median = statistics.median(r.seconds for r in group)
        out[name] = {
            "seconds_median": round(median, 3),
            "seconds_all": [round(r.seconds, 3) for r in group],
            "ratio_to_naive": round(median / naive, 3),
            **{key: round(max(r.memory[key] for r in group), 1) for key in group[0].memory},
            "parts_median": {
                k: round(statistics.median(r.parts[k] for r in group), 3) for k in group[0].parts
            },
        }
    return out


def print_table(summary: dict[str, dict]) -> None:
    head = f"{'contender':<24}{'median s':>10}{'vs (a)':>8}{'client +MiB':>13}{'server +MiB':>13}"
    print(head)
    print("-" * len(head))
    for name, row in summary.items():
        print(
            f"{name:<24}{row['seconds_median']:>10.2f}{row['ratio_to_naive']:>8.2f}"
            f"{row['client_peak_over_start_mib']:>13.0f}{row['server_peak_over_start_mib']:>13.0f}"
        )
        parts = row["parts_median"]
        if "join" in parts:
            print(
                f"{'  parts':<24}join {parts['join']:.2f} s, write-back {parts['write_back']:.2f}"
                f" s, index drop+build {parts['index']:.2f} s, other {parts['other']:.2f} s"
            )
        if "hot_updated" in parts:
            print(
                f"{'  row updates':<24}{parts['updated']:,.0f}, of which HOT"
                f" {parts['hot_updated']:,.0f}"
            )
        if "sjoin" in parts:
            print(
                f"{'  sjoin only':<24}{parts['sjoin']:>10.2f}"
                f"{parts['sjoin'] / summary['naive UPDATE']['seconds_median']:>8.2f}"
                f"   (read {parts['read']:.2f} s, write-back {parts['write_back']:.2f} s)"
            )


def environment(engine: Engine, args: argparse.Namespace) -> dict[str, object]:
    with engine.connect() as conn:
        versions = conn.execute(text("SELECT version(), postgis_full_version()")).one()
        settings = dict(
            conn.execute(
                text(
                    "SELECT name, setting FROM pg_settings WHERE name IN ('shared_buffers',"
                    " 'work_mem', 'jit', 'max_parallel_workers_per_gather', 'fsync',"
                    " 'full_page_writes')"
                )
            ).all()
        )
    return {
        "points": args.points,
        "seed": args.seed,
        "repeat": args.repeat,
        "postgres": versions[0],
        "postgis": versions[1],
        "settings": settings,
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "geopandas": gpd.__version__,
        "shapely": shapely.__version__,
    }


def release_memory() -> None:
    """Hand freed heap back to the OS so that each run's peak RSS starts from a low base."""
    gc.collect()
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6").malloc_trim(0)


def measure(engine: Engine, database: str, repeat: int) -> tuple[list[Run], dict[str, int]]:
    """Run (a), (b) and (c) ``repeat`` times, interleaved, resetting links before each."""
    runs: list[Run] = []
    checks: dict[str, int] = {}
    for i in range(repeat):
        for contender in ("naive", "sjoin", "petadesa"):
            reset_links(engine)
            release_memory()
            if contender == "naive":
                runs.append(run_naive(engine, database))
            elif contender == "sjoin":
                run, sjoin_codes = run_sjoin(engine, database)
                runs.append(run)
            else:
                runs.append(run_petadesa(engine, database))
            print(
                f"  round {i + 1}: {runs[-1].contender:<22} {runs[-1].seconds:7.2f} s", flush=True
            )
        checks = compare_with_naive(engine)
        checks["points_linked_differently_than_sjoin"] = compare_with_sjoin(engine, sjoin_codes)
    return runs, checks


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--database-url",
        default=DEFAULT_URL,
        help="PostGIS server to use; a fresh database is created and dropped",
    )
    parser.add_argument("--points", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=20240601)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--output", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    villages = read_villages()
    with fresh_database(args.database_url) as url:
        engine = make_engine(url)
        database = make_url(url).database
        start = time.perf_counter()
        init_schema(engine)
        empty = {"empty registry": time_empty_layers(engine, args.repeat)}
        load_villages(engine, villages)
        empty["villages loaded"] = time_empty_layers(engine, args.repeat)
        seed_points(engine, args.points, tuple(villages.total_bounds), args.seed)
        print(
            f"set-up: {time.perf_counter() - start:.1f} s ({len(villages)} villages, "
            f"{args.points} points)",
            flush=True,
        )
        runs, checks = measure(engine, database, args.repeat)
        result = {
            "environment": environment(engine, args),
            "summary": summarise(runs),
            "empty_layers": empty,
            "checks": checks,
            "runs": [asdict(r) for r in runs],
        }
        engine.dispose()
    print_table(result["summary"])
    for case, timing in empty.items():
        print(f"link_assets, 7 empty layers ({case}): {timing['seconds_median'] * 1000:.1f} ms")
    print(json.dumps(checks, indent=2))
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(result, indent=2) + "\n")
    print(f"written {args.output}")


if __name__ == "__main__":
    main()
