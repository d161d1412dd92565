"""Benchmark: the OGC API (features and vector tiles) side by side with tipg, same PostGIS table.

One run builds the registry on a fresh PostGIS database the way the project does (code list,
province/regency/district boundaries, then the villages through ``import_boundaries``; then
``VACUUM ANALYZE``, what autovacuum would do soon after), and serves its ``public.village``
table with both servers at once, each with the same number of worker processes (``--workers``):

- ``tipg``: tipg (PyPI) in its own venv, ``.cache/tipg-venv`` (made on first use with
  ``python3 -m venv`` and ``pip install tipg uvicorn``), started as ``uvicorn tipg.main:app``
  with ``TIPG_DB_TABLES='["public.village"]'`` and ``TIPG_DB_EXCLUDE_FUNCTION_SCHEMAS``;
- ``petadesa``: ``petadesa --database URL serve --workers N`` (its tile cache on, as shipped);
- ``petadesa-nocache`` (tile cells only): the same app with its tile cache at 0 tiles
  (``geo.tiles.CACHE_TILES = 0`` in a factory written to the run's temporary folder), so that a
  tile requested twice is made twice, as tipg makes it: the tile targets are judged on this one.

Cells, each with one seeded URL sample served by both (``--sample`` URLs, same for all servers):
``items`` (pages of ``limit=1000`` at random offsets), ``bbox`` (``limit=1000`` inside
0.1 x 0.1 degree boxes centred on random villages' label points), and MVT tiles at z8, z10,
z12, z14 (WebMercatorQuad, the tile holding a random village's label point; tipg is asked for
the same three properties as ours carries, ``properties=code,name,kind``). Each cell is driven
by ``wrk`` (Debian: ``apt-get install -y wrk``) with a Lua script that walks the URL list (each
thread from its own place), counts every response status and prints requests/s and latency
percentiles as JSON; concurrency 1 (``-t1 -c1``) and 16 (``-t2 -c16``), each run after a short
warm-up. Before timing, a few URLs of each kind are fetched from every server with httpx and
compared: statuses, ``numberReturned``/``numberMatched``, the village codes of each bbox page,
the features of each tile. CPU seconds per request of the server processes and of the
PostgreSQL cluster (backends of the benchmark's server only) are recorded per cell.

Then the tile cache: for the first ``--cache-tiles`` distinct tiles of each zoom, the raw
``ST_AsMVT`` query that ``geo.tiles`` issues (captured from it, then executed directly through
psycopg in a loop, second pass timed) against the same tiles served by ``petadesa`` with a warm
cache (a pass to fill it, then ``wrk -c1`` over them). Last, QGIS (Debian ``python3-qgis
qgis-providers``, ``bench/qgis_oapif.py`` under ``/usr/bin/python3``, ``QT_QPA_PLATFORM=offscreen``,
provider ``OAPIF``, ``pageSize=1000``) reads the whole village collection from each server,
``--qgis-runs`` times alternately; medians, and both must give every village.

Usage: ``python bench/api.py --database-url postgresql://postgres@127.0.0.1:5432/postgres``
(a server that allows CREATE DATABASE; ``scripts/postgis.sh start DIR`` gives one; ``--workers``,
``--duration`` seconds per cell, ``--only items bbox z8 ...``, ``--concurrency 1 16``,
``--no-qgis``). ``--national 10`` serves Jawa Timur tiled ten times across Indonesia (84,940
villages, see ``national.py``; QGIS skipped unless ``--qgis``). Prints the table with the ratios
to tipg (throughput: higher is better; p99: lower is better) and writes
``bench/results/api.json`` (``api_national.json``). Jawa Timur takes about 12 minutes.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import benchlib
import httpx
import numpy as np
from benchlib import DEFAULT_URL, print_table
from sqlalchemy import create_engine, event, text
from sqlalchemy.engine import make_url

REPO = Path(__file__).resolve().parents[1]
VENV = REPO / ".venv"
TIPG_VENV = REPO / ".cache" / "tipg-venv"
QGIS_PYTHON = "/usr/bin/python3"
QGIS_SCRIPT = Path(__file__).parent / "qgis_oapif.py"
RESULTS = Path(__file__).parent / "results"
SEED = 8
KINDS = ("items", "bbox", "z8", "z10", "z12", "z14")
ZOOMS = {"z8": 8, "z10": 10, "z12": 12, "z14": 14}
PAGE = 1000
BOX = 0.1
TILE_PROPERTIES = "code,name,kind"
PEER = "tipg"
TARGET_THROUGHPUT = 1.5
WRK_LUA = r"""
-- written by bench/api.py: walk a list of paths (one per line), count every status
local paths, n, i = {}, 0, 0
local threads, made = {}, 0
statuses = {}

function setup(thread)
  made = made + 1
  thread:set("tid", made)
  table.insert(threads, thread)
end

function init(args)
  for line in io.lines(args[1]) do
    n = n + 1
    paths[n] = line
  end
  local nthreads = tonumber(args[2]) or 1
  i = math.floor((tid - 1) * n / nthreads)
end

function request()
  i = i % n + 1
  return wrk.format("GET", paths[i])
end

function response(status, headers, body)
  local k = tostring(status)
  statuses[k] = (statuses[k] or 0) + 1
end

function done(summary, latency, requests)
  local merged = {}
  for _, t in ipairs(threads) do
    for k, v in pairs(t:get("statuses")) do merged[k] = (merged[k] or 0) + v end
  end
  local parts = {}
  for k, v in pairs(merged) do parts[#parts + 1] = string.format('"%s":%d', k, v) end
  local e = summary.errors
  io.write(string.format(
    '\nWRKJSON {"requests":%d,"duration_us":%d,"bytes":%d,' ..
    '"errors":{"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d},' ..
    '"latency_us":{"mean":%.1f,"p50":%d,"p90":%d,"p99":%d,"max":%d},"statuses":{%s}}\n',
    summary.requests, summary.duration, summary.bytes,
    e.connect, e.read, e.write, e.status, e.timeout,
    latency.mean, latency:percentile(50), latency:percentile(90), latency:percentile(99),
    latency.max, table.concat(parts, ",")))
end
"""
NOCACHE_FACTORY = '''\
"""Petadesa's app with its tile cache at 0 tiles (written by bench/api.py)."""

import geo.tiles
from api.main import create_app as _create_app

assert hasattr(geo.tiles, "CACHE_TILES"), "geo.tiles has no CACHE_TILES any more"


def create_app():
    geo.tiles.CACHE_TILES = 0
    return _create_app()
'''


# ------------------------------------------------------------------------------ servers


@dataclass
class Server:
    """One running server: its base URL, collection id and URL templates."""

    name: str
    base: str
    collection: str
    tile_path: str
    """``{z}``, ``{x}``, ``{y}`` replaced per tile; may carry a query."""
    process: subprocess.Popen
    log: Path
    extra_items: str = ""

    def items(self, offset: int) -> str:
        return f"/collections/{self.collection}/items?limit={PAGE}&offset={offset}"

    def bbox(self, box: tuple[float, float, float, float]) -> str:
        text = ",".join(f"{v:.6f}" for v in box)
        return f"/collections/{self.collection}/items?limit={PAGE}&bbox={text}"

    def tile(self, z: int, x: int, y: int) -> str:
        return self.tile_path.format(z=z, x=x, y=y)

    def path(self, kind: str, spec: Any) -> str:
        if kind == "items":
            return self.items(spec)
        if kind == "bbox":
            return self.bbox(spec)
        return self.tile(*spec)

    def pids(self) -> list[int]:
        import psutil  # noqa: PLC0415

        try:
            proc = psutil.Process(self.process.pid)
            return [proc.pid, *(c.pid for c in proc.children(recursive=True))]
        except psutil.Error:
            return []


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def ensure_tipg() -> Path:
    """tipg's own venv (its pins apart from ours): made on first use."""
    python = TIPG_VENV / "bin" / "python"
    if not (
        python.exists() and subprocess.run([python, "-c", "import tipg, uvicorn"]).returncode == 0
    ):
        print(f"creating {TIPG_VENV}: python3 -m venv + pip install tipg uvicorn", flush=True)
        subprocess.run([sys.executable, "-m", "venv", str(TIPG_VENV)], check=True)
        subprocess.run(
            [
                python,
                "-m",
                "pip",
                "install",
                "-q",
                "--disable-pip-version-check",
                "tipg",
                "uvicorn",
            ],
            check=True,
        )
    return python


def tipg_version(python: Path) -> str:
    out = subprocess.run(
        [python, "-c", "import tipg; print(tipg.__version__)"],
        check=True,
        capture_output=True,
        text=True,
    )
    return out.stdout.strip()


def check_wrk() -> str:
    wrk = shutil.which("wrk")
    if wrk is None:
        raise SystemExit("wrk not found: install it with `apt-get install -y wrk` (Debian)")
    return wrk


def _start(cmd: list[str], env: dict[str, str], log: Path, cwd: Path = REPO) -> subprocess.Popen:
    with log.open("w") as out:
        return subprocess.Popen(
            cmd, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True, cwd=cwd
        )


def _wait_ready(server: Server, probe: str, timeout: float = 90.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise RuntimeError(f"{server.name} exited: {server.log.read_text()[-3000:]}")
        try:
            if httpx.get(server.base + probe, timeout=5).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    raise RuntimeError(
        f"{server.name} not ready after {timeout} s: {server.log.read_text()[-3000:]}"
    )


def _stop(server: Server) -> None:
    """Stop the server's own process group (started by this benchmark with a new session)."""
    if server.process.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(server.process.pid, signal.SIGTERM)
    try:
        server.process.wait(20)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(server.process.pid, signal.SIGKILL)
        server.process.wait(10)


@contextlib.contextmanager
def servers(url: str, workers: int, work: Path, nocache: bool) -> Iterator[dict[str, Server]]:
    """tipg, petadesa (and petadesa-nocache) serving ``url``'s village table."""
    python = ensure_tipg()
    plain = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    running: dict[str, Server] = {}
    try:
        port = free_port()
        env = {
            **os.environ,
            "DATABASE_URL": plain,
            "TIPG_DB_TABLES": '["public.village"]',
            "TIPG_DB_EXCLUDE_FUNCTION_SCHEMAS": '["public"]',
        }
        cmd = [str(python), "-m", "uvicorn", "tipg.main:app", "--host", "127.0.0.1"]
        cmd += ["--port", str(port), "--workers", str(workers)]
        running["tipg"] = Server(
            "tipg",
            f"http://127.0.0.1:{port}",
            "public.village",
            "/collections/public.village/tiles/WebMercatorQuad/{z}/{x}/{y}"
            f"?properties={TILE_PROPERTIES}",
            _start(cmd, env, work / "tipg.log", cwd=work),
            work / "tipg.log",
        )
        port = free_port()
        ours = make_url(url).set(drivername="postgresql+psycopg").render_as_string(False)
        cmd = [str(VENV / "bin" / "petadesa"), "--database", ours, "serve"]
        cmd += ["--port", str(port), "--workers", str(workers)]
        our_tiles = "/collections/village/tiles/WebMercatorQuad/{z}/{y}/{x}"
        running["petadesa"] = Server(
            "petadesa",
            f"http://127.0.0.1:{port}",
            "village",
            our_tiles,
            _start(cmd, dict(os.environ), work / "petadesa.log"),
            work / "petadesa.log",
        )
        if nocache:
            port = free_port()
            (work / "petadesa_nocache.py").write_text(NOCACHE_FACTORY)
            cmd = [str(VENV / "bin" / "python"), "-m", "uvicorn", "petadesa_nocache:create_app"]
            cmd += ["--factory", "--app-dir", str(work), "--host", "127.0.0.1"]
            cmd += ["--port", str(port), "--workers", str(workers)]
            env = {**os.environ, "PETADESA_DATABASE_URL": ours}
            running["petadesa-nocache"] = Server(
                "petadesa-nocache",
                f"http://127.0.0.1:{port}",
                "village",
                our_tiles,
                _start(cmd, env, work / "petadesa-nocache.log"),
                work / "petadesa-nocache.log",
            )
        for server in running.values():
            _wait_ready(server, f"/collections/{server.collection}")
        yield running
    finally:
        for server in running.values():
            _stop(server)


def check_templates(found: dict[str, Server]) -> dict[str, str]:
    """The tile paths each server's own OpenAPI document declares (tipg: ``/api``)."""
    declared = {}
    for name, server in found.items():
        doc = httpx.get(server.base + ("/api" if name == "tipg" else "/openapi.json"), timeout=30)
        doc.raise_for_status()
        paths = [p for p in doc.json()["paths"] if "/tiles/" in p and p.count("{") >= 4]
        declared[name] = paths[0] if paths else "?"
    want = {
        "tipg": "/collections/{collectionId}/tiles/{tileMatrixSetId}/{z}/{x}/{y}",
        "petadesa": "/collections/{collectionId}/tiles/{tileMatrixSetId}/{tileMatrix}/{tileRow}"
        "/{tileCol}",
    }
    for name, path in want.items():
        if declared.get(name) != path:
            raise SystemExit(f"{name} declares tile path {declared.get(name)}, not {path}")
    return declared


# ------------------------------------------------------------------------------ registry


def build_registry(url: str, national: int | None) -> int:
    """The registry on ``url``, as ``petadesa`` builds it; the number of villages."""
    from load_villages import files  # noqa: PLC0415

    from geo.ingest.boundaries import count_areas, import_boundaries, import_code_list  # noqa: PLC0415
    from geo.store.db import init_schema, make_engine  # noqa: PLC0415

    data = files(national)
    start = time.perf_counter()
    engine = make_engine(make_url(url).set(drivername="postgresql+psycopg").render_as_string(False))
    init_schema(engine)
    import_code_list(engine, data.codes, prefix=data.prefix)
    for path in data.parents:
        import_boundaries(engine, path)
    import_boundaries(engine, data.villages)
    counts = count_areas(engine)
    engine.dispose()
    admin = create_engine(
        make_url(url).set(drivername="postgresql+psycopg"), isolation_level="AUTOCOMMIT"
    )
    with admin.connect() as conn:
        conn.execute(text("VACUUM ANALYZE"))
    admin.dispose()
    print(f"registry built in {time.perf_counter() - start:.1f} s: {counts}", flush=True)
    return int(counts["village"])


@dataclass
class Sample:
    """The seeded requests of each kind (server-neutral specs)."""

    villages: int
    specs: dict[str, list[Any]] = field(default_factory=dict)


def make_sample(url: str, size: int) -> Sample:
    """``size`` requests of each kind, from the villages' label points (seed :data:`SEED`)."""
    import morecantile  # noqa: PLC0415

    engine = create_engine(make_url(url).set(drivername="postgresql+psycopg"))
    with engine.connect() as conn:
        rows = conn.execute(
            text("SELECT label_lon, label_lat FROM village WHERE valid_to IS NULL ORDER BY code")
        ).all()
    engine.dispose()
    points = np.array(rows, dtype=float)
    rng = np.random.default_rng(SEED)
    sample = Sample(len(points))
    top = max(len(points) - PAGE, 0)
    sample.specs["items"] = [int(v) for v in rng.integers(0, top + 1, size)]
    half = BOX / 2
    centres = points[rng.integers(0, len(points), size)]
    sample.specs["bbox"] = [
        (round(x - half, 6), round(y - half, 6), round(x + half, 6), round(y + half, 6))
        for x, y in centres
    ]
    tms = morecantile.tms.get("WebMercatorQuad")
    for kind, z in ZOOMS.items():
        picks = points[rng.integers(0, len(points), size)]
        tiles = [tms.tile(float(x), float(y), z) for x, y in picks]
        sample.specs[kind] = [(t.z, t.x, t.y) for t in tiles]
    return sample


# ------------------------------------------------------------------------------ checks


def _tile_codes(data: bytes) -> list[str]:
    import mapbox_vector_tile  # noqa: PLC0415

    if not data:
        return []
    layers = mapbox_vector_tile.decode(data)
    return sorted(
        str(f["properties"].get("code")) for layer in layers.values() for f in layer["features"]
    )


def verify(found: dict[str, Server], sample: Sample, kinds: list[str], per_kind: int = 5) -> dict:
    """Fetch the first URLs of each kind from every server; compare what they answer."""
    report: dict[str, Any] = {}
    problems: list[str] = []
    with contextlib.ExitStack() as stack:
        clients = {
            name: stack.enter_context(httpx.Client(base_url=s.base, timeout=120))
            for name, s in found.items()
        }
        for kind in kinds:
            rows = []
            for spec in sample.specs[kind][:per_kind]:
                row: dict[str, Any] = {"spec": spec}
                for name, server in found.items():
                    if kind in ("items", "bbox") and name == "petadesa-nocache":
                        continue
                    answer = clients[name].get(server.path(kind, spec))
                    seen: dict[str, Any] = {"status": answer.status_code}
                    if answer.status_code != 200:
                        problems.append(f"{kind} {spec}: {name} answered {answer.status_code}")
                    elif kind in ("items", "bbox"):
                        body = answer.json()
                        codes = sorted(f["properties"]["code"] for f in body["features"])
                        seen |= {
                            "returned": body.get("numberReturned"),
                            "matched": body.get("numberMatched"),
                            "codes": codes,
                        }
                    else:
                        seen["codes"] = _tile_codes(answer.content)
                        seen["bytes"] = len(answer.content)
                    row[name] = seen
                rows.append(row)
                _compare(kind, row, sample.villages, problems)
            report[kind] = [
                {
                    k: ({kk: vv for kk, vv in v.items() if kk != "codes"} | _n(v))
                    if isinstance(v, dict)
                    else v
                    for k, v in row.items()
                }
                for row in rows
            ]
    for line in problems:
        print(f"  CHECK: {line}")
    print(f"checked {per_kind} URLs of each kind on every server: {len(problems)} problem(s)")
    return {"rows": report, "problems": problems}


def _n(seen: dict) -> dict:
    return {"features": len(seen["codes"])} if "codes" in seen else {}


def _compare(kind: str, row: dict, villages: int, problems: list[str]) -> None:
    ours, peer = row.get("petadesa", {}), row.get("tipg", {})
    if "codes" not in ours or "codes" not in peer:
        return
    spec = row["spec"]
    if kind == "items":
        want = min(PAGE, villages)
        for name, seen in (("petadesa", ours), ("tipg", peer)):
            if seen["returned"] != want or len(seen["codes"]) != want:
                problems.append(f"items {spec}: {name} returned {seen['returned']}, not {want}")
            if seen["matched"] != villages:
                problems.append(f"items {spec}: {name} matched {seen['matched']} of {villages}")
    elif kind == "bbox":
        if ours["codes"] != peer["codes"]:
            problems.append(
                f"bbox {spec}: {len(ours['codes'])} villages here, {len(peer['codes'])} from tipg"
            )
        if ours["matched"] != peer["matched"]:
            problems.append(f"bbox {spec}: numberMatched {ours['matched']} vs {peer['matched']}")
    else:
        if not ours["codes"] or not peer["codes"]:
            problems.append(f"{kind} {spec}: an empty tile (ours {len(ours['codes'])} features)")
        nocache = row.get("petadesa-nocache", {})
        if nocache and nocache.get("codes") != ours["codes"]:
            problems.append(f"{kind} {spec}: petadesa-nocache's tile differs from petadesa's")
        # tipg keeps the features meeting the tile itself, ours those meeting the tile grown by
        # its 64/4096 buffer: a village in the buffer alone is in our tile only (not a fault)
        row["only_ours"] = len(set(ours["codes"]) - set(peer["codes"]))
        row["only_tipg"] = len(set(peer["codes"]) - set(ours["codes"]))


# ------------------------------------------------------------------------------ wrk


class Cpu:
    """CPU seconds of a server's processes and of the cluster's backends over a block."""

    def __init__(self, server: Server, postmaster: int | None) -> None:
        self.server, self.postmaster = server, postmaster

    @staticmethod
    def _sum(pids: list[int], children_too: bool = False) -> float:
        import psutil  # noqa: PLC0415

        total = 0.0
        for pid in pids:
            try:
                t = psutil.Process(pid).cpu_times()
            except psutil.Error:
                continue
            total += t.user + t.system
            if children_too:
                total += t.children_user + t.children_system
        return total

    def _db(self) -> float | None:
        import psutil  # noqa: PLC0415

        if self.postmaster is None:
            return None
        try:
            children = [c.pid for c in psutil.Process(self.postmaster).children()]
        except psutil.Error:
            return None
        return self._sum(children) + self._sum([self.postmaster], children_too=True)

    def __enter__(self) -> Cpu:
        self.app0, self.db0 = self._sum(self.server.pids()), self._db()
        return self

    def __exit__(self, *exc: object) -> None:
        self.app = self._sum(self.server.pids()) - self.app0
        db = self._db()
        self.db = None if db is None or self.db0 is None else db - self.db0


def postmaster_pid(url: str) -> int | None:
    """The local cluster's postmaster (the parent of a backend), for its CPU seconds."""
    try:
        import psutil  # noqa: PLC0415
    except ImportError:
        return None
    engine = create_engine(make_url(url).set(drivername="postgresql+psycopg"))
    with engine.connect() as conn:
        backend = int(conn.execute(text("SELECT pg_backend_pid()")).scalar_one())
        try:
            return psutil.Process(backend).ppid()
        except psutil.Error:
            return None
        finally:
            engine.dispose()


def run_wrk(
    wrk: str, server: Server, paths_file: Path, script: Path, clients: int, seconds: float
) -> dict:
    threads = 1 if clients == 1 else 2
    cmd = [wrk, f"-t{threads}", f"-c{clients}", f"-d{max(round(seconds), 1)}s", "--timeout", "120s"]
    cmd += ["-s", str(script), server.base, "--", str(paths_file), str(threads)]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True)
    line = next(x for x in out.stdout.splitlines() if x.startswith("WRKJSON "))
    data = json.loads(line.removeprefix("WRKJSON "))
    duration = data["duration_us"] / 1e6
    non2xx = sum(v for k, v in data["statuses"].items() if not k.startswith("2"))
    errors = sum(data["errors"][k] for k in ("connect", "read", "write", "timeout"))
    return {
        "rps": data["requests"] / duration,
        "p50_ms": data["latency_us"]["p50"] / 1000,
        "p90_ms": data["latency_us"]["p90"] / 1000,
        "p99_ms": data["latency_us"]["p99"] / 1000,
        "max_ms": data["latency_us"]["max"] / 1000,
        "requests": data["requests"],
        "seconds": duration,
        "mb_per_s": data["bytes"] / duration / 2**20,
        "statuses": data["statuses"],
        "non2xx": non2xx,
        "socket_errors": errors,
    }


def run_cells(
    wrk: str,
    found: dict[str, Server],
    sample: Sample,
    kinds: list[str],
    concurrency: list[int],
    seconds: float,
    warmup: float,
    work: Path,
    postmaster: int | None,
) -> dict:
    script = work / "walk.lua"
    script.write_text(WRK_LUA)
    cells: dict[str, dict[str, dict[str, dict]]] = {}
    for kind in kinds:
        names = [n for n in found if kind in ZOOMS or n != "petadesa-nocache"]
        files = {}
        for name in names:
            files[name] = work / f"{kind}-{name}.txt"
            files[name].write_text(
                "\n".join(found[name].path(kind, s) for s in sample.specs[kind]) + "\n"
            )
        for clients in concurrency:
            row = cells.setdefault(kind, {}).setdefault(str(clients), {})
            for name in names:
                server = found[name]
                if warmup > 0:
                    run_wrk(wrk, server, files[name], script, clients, warmup)
                with Cpu(server, postmaster) as cpu:
                    result = run_wrk(wrk, server, files[name], script, clients, seconds)
                done = max(result["requests"], 1)
                result["app_cpu_ms_per_req"] = cpu.app * 1000 / done
                result["db_cpu_ms_per_req"] = None if cpu.db is None else cpu.db * 1000 / done
                row[name] = result
                flag = f"  NON-2xx {result['statuses']}" if result["non2xx"] else ""
                print(
                    f"  {kind:<5} c{clients:<3} {name:<17} {result['rps']:9.1f} req/s  "
                    f"p99 {result['p99_ms']:8.1f} ms  cpu/req app "
                    f"{result['app_cpu_ms_per_req']:.2f} ms db "
                    f"{_fmt(result['db_cpu_ms_per_req'])} ms{flag}",
                    flush=True,
                )
    return cells


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


# ------------------------------------------------------------------------------ tile cache


def tile_cache(
    url: str, wrk: str, server: Server, sample: Sample, per_zoom: int, seconds: float, work: Path
) -> dict:
    """Raw ``ST_AsMVT`` (psycopg, in a loop) against the same tiles served from a warm cache."""
    import psycopg  # noqa: PLC0415
    from sqlalchemy.orm import Session  # noqa: PLC0415

    from geo import features, tiles  # noqa: PLC0415
    from geo.store.db import make_engine  # noqa: PLC0415

    ours = make_url(url).set(drivername="postgresql+psycopg").render_as_string(False)
    engine = make_engine(ours)
    collection = features.COLLECTIONS["village"]
    captured: list[tuple[str, Any]] = []

    def capture(conn, cursor, statement, parameters, context, executemany) -> None:  # noqa: ANN001, ARG001
        if "ST_AsMVT" in statement:
            captured.append((statement, parameters))

    script = work / "walk.lua"
    script.write_text(WRK_LUA)
    out: dict[str, Any] = {}
    plain = make_url(url).set(drivername="postgresql").render_as_string(False)
    with psycopg.connect(plain, autocommit=True) as conn:
        for kind in [k for k in ZOOMS if k in sample.specs]:
            z = ZOOMS[kind]
            chosen = list(dict.fromkeys(sample.specs[kind]))[:per_zoom]
            captured.clear()
            event.listen(engine, "before_cursor_execute", capture)
            with Session(engine) as session:
                for _, x, y in chosen:
                    tiles._postgis_tile(session, collection, z, x, y)
            event.remove(engine, "before_cursor_execute", capture)
            raw = []
            for _ in range(2):  # the second pass is timed: PostgreSQL's buffers warm
                raw = []
                for statement, parameters in captured:
                    start = time.perf_counter()
                    conn.execute(statement, parameters).fetchone()
                    raw.append(time.perf_counter() - start)
            paths = work / f"cache-{kind}.txt"
            paths.write_text("\n".join(server.tile(*t) for t in chosen) + "\n")
            with httpx.Client(base_url=server.base, timeout=120) as client:
                first = []
                for t in chosen:
                    start = time.perf_counter()
                    client.get(server.tile(*t)).raise_for_status()
                    first.append(time.perf_counter() - start)
            warm = run_wrk(wrk, server, paths, script, 1, seconds)
            out[kind] = {
                "tiles": len(chosen),
                "raw_st_asmvt_per_s": len(raw) / sum(raw),
                "raw_mean_ms": statistics.mean(raw) * 1000,
                "raw_p99_ms": float(np.percentile(raw, 99)) * 1000,
                "served_first_pass_mean_ms": statistics.mean(first) * 1000,
                "served_warm_per_s": warm["rps"],
                "served_warm_mean_ms": 1000 / warm["rps"],
                "served_warm_p99_ms": warm["p99_ms"],
                "served_warm_non2xx": warm["non2xx"],
            }
            out[kind]["warm_x_raw"] = (
                out[kind]["served_warm_per_s"] / out[kind]["raw_st_asmvt_per_s"]
            )
    engine.dispose()
    print(
        f"{'tiles':<6}{'n':>5}{'raw ST_AsMVT/s':>16}{'raw p99 ms':>11}{'served warm/s':>15}"
        f"{'warm p99 ms':>12}{'warm x raw':>11}{'1st pass ms':>12}"
    )
    for kind, r in out.items():
        print(
            f"{kind:<6}{r['tiles']:>5}{r['raw_st_asmvt_per_s']:>16.1f}{r['raw_p99_ms']:>11.2f}"
            f"{r['served_warm_per_s']:>15.1f}{r['served_warm_p99_ms']:>12.2f}"
            f"{r['warm_x_raw']:>11.2f}{r['served_first_pass_mean_ms']:>12.2f}"
        )
    return out


# ------------------------------------------------------------------------------ QGIS


def qgis_available() -> bool:
    if not Path(QGIS_PYTHON).exists():
        return False
    probe = subprocess.run([QGIS_PYTHON, "-c", "import qgis.core"], capture_output=True)
    return probe.returncode == 0


def qgis_runs(found: dict[str, Server], runs: int, villages: int) -> dict:
    """QGIS reading the whole collection from each server, alternately; medians."""
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
    env.pop("PYTHONPATH", None)
    results: dict[str, list[dict]] = {"tipg": [], "petadesa": []}
    for _ in range(runs):
        for name in results:
            server = found[name]
            out = subprocess.run(
                [QGIS_PYTHON, str(QGIS_SCRIPT), server.base, server.collection],
                capture_output=True,
                text=True,
                env=env,
                timeout=600,
            )
            lines = [x for x in out.stdout.splitlines() if x.startswith("{")]
            if out.returncode != 0 or not lines:
                raise RuntimeError(
                    f"QGIS on {name} failed: {out.stdout[-2000:]}{out.stderr[-2000:]}"
                )
            run = json.loads(lines[-1])
            results[name].append(run)
            print(
                f"  QGIS {name:<9} {run['seconds']:6.2f} s  {run['features']} features", flush=True
            )
    table = {}
    for name, runs_ in results.items():
        seconds = [r["seconds"] for r in runs_]
        table[name] = {
            "median_s": statistics.median(seconds),
            "min_s": min(seconds),
            "runs": seconds,
            "peak_mb": max(r["peak_mb"] for r in runs_),
            "features": [r["features"] for r in runs_],
            "all_villages": all(r["features"] == villages for r in runs_),
            "qgis": runs_[-1]["qgis"],
        }
    return table


# ------------------------------------------------------------------------------ report


def print_cells(cells: dict, workers: int) -> list[str]:
    """The table: req/s and p99 per server and cell, ratios to tipg; the missed targets."""
    missed = []
    print(
        f"\nworkers per server: {workers}. Ratios: throughput x tipg (target >= "
        f"{TARGET_THROUGHPUT}), p99 x tipg (target <= 1)"
    )
    head = f"{'cell':<6}{'c':>3}{'tipg r/s':>10}{'p99 ms':>9}{'ours r/s':>10}{'p99 ms':>9}"
    head += f"{'x thr':>7}{'x p99':>7}{'nocache r/s':>12}{'p99 ms':>9}{'x thr':>7}{'x p99':>7}"
    print(head + f"{'non-2xx':>9}")
    for kind, by_c in cells.items():
        for clients, row in by_c.items():
            peer = row[PEER]
            line = f"{kind:<6}{clients:>3}{peer['rps']:>10.1f}{peer['p99_ms']:>9.1f}"
            judged = "petadesa-nocache" if "petadesa-nocache" in row else "petadesa"
            for name in ("petadesa", "petadesa-nocache"):
                if name not in row:
                    line += f"{'':>35}"
                    continue
                r = row[name]
                r["x_tipg_throughput"] = r["rps"] / peer["rps"] if peer["rps"] else float("nan")
                r["x_tipg_p99"] = r["p99_ms"] / peer["p99_ms"] if peer["p99_ms"] else float("nan")
                line += (
                    f"{r['rps']:>10.1f}{r['p99_ms']:>9.1f}"
                    if name == "petadesa"
                    else (f"{r['rps']:>12.1f}{r['p99_ms']:>9.1f}")
                )
                line += f"{r['x_tipg_throughput']:>7.2f}{r['x_tipg_p99']:>7.2f}"
                if name == judged and (
                    r["x_tipg_throughput"] < TARGET_THROUGHPUT or r["x_tipg_p99"] > 1
                ):
                    missed.append(
                        f"{kind} c{clients}: {name} {r['x_tipg_throughput']:.2f}x throughput, "
                        f"p99 {r['x_tipg_p99']:.2f}x"
                    )
            non2xx = sum(r["non2xx"] + r["socket_errors"] for r in row.values())
            print(line + f"{non2xx:>9}")
    print("tiles: the targets are judged on petadesa-nocache (each tile made as tipg makes it)")
    for line in missed:
        print(f"  target missed: {line}")
    return missed


def git_state() -> dict:
    def run(*args: str) -> str:
        out = subprocess.run(["git", *args], cwd=REPO, capture_output=True, text=True)
        return out.stdout.strip()

    return {"commit": run("rev-parse", "HEAD"), "dirty": run("status", "--porcelain").splitlines()}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--database-url", default=DEFAULT_URL)
    parser.add_argument("--workers", type=int, default=1, help="processes per server (both)")
    parser.add_argument("--duration", type=int, default=15, help="seconds per measured cell")
    parser.add_argument("--warmup", type=int, default=2, help="seconds of warm-up per cell")
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 16])
    parser.add_argument("--only", choices=KINDS, nargs="+", help="only these cells")
    parser.add_argument("--sample", type=int, default=2000, help="URLs per kind")
    parser.add_argument("--cache-tiles", type=int, default=200, help="tiles per zoom, cache test")
    parser.add_argument("--qgis-runs", type=int, default=3)
    parser.add_argument("--qgis", action=argparse.BooleanOptionalAction, default=None)
    parser.add_argument(
        "--national",
        type=int,
        metavar="COPIES",
        help="Jawa Timur tiled COPIES times across Indonesia (10: 84,940 villages)",
    )
    args = parser.parse_args()
    wrk = check_wrk()
    kinds = list(args.only or KINDS)
    with_qgis = args.national is None if args.qgis is None else args.qgis
    if with_qgis and not qgis_available():
        raise SystemExit(
            "QGIS not found for /usr/bin/python3: apt-get install -y --no-install-recommends "
            "python3-qgis qgis-providers (or --no-qgis)"
        )
    tipg = tipg_version(ensure_tipg())
    started = time.perf_counter()
    with (
        tempfile.TemporaryDirectory(prefix="bench-api-") as tmp,
        benchlib.fresh_database(args.database_url, "bench_api") as url,
    ):
        work = Path(tmp)
        villages = build_registry(url, args.national)
        sample = make_sample(url, args.sample)
        postmaster = postmaster_pid(url)
        nocache = any(k in ZOOMS for k in kinds)
        with servers(url, args.workers, work, nocache) as found:
            print(
                f"serving {villages} villages: tipg {tipg} at {found['tipg'].base}, petadesa at "
                f"{found['petadesa'].base}, {args.workers} worker(s) each",
                flush=True,
            )
            declared = check_templates(found)
            checks = verify(found, sample, kinds)
            cells = run_cells(
                wrk, found, sample, kinds, args.concurrency, args.duration, args.warmup, work,
                postmaster,
            )  # fmt: skip
            zooms = [k for k in kinds if k in ZOOMS]
            cache = (
                tile_cache(
                    url,
                    wrk,
                    found["petadesa"],
                    Sample(villages, {k: sample.specs[k] for k in zooms}),
                    args.cache_tiles,
                    min(args.duration, 10),
                    work,
                )  # fmt: skip
                if zooms
                else {}
            )
            qgis = qgis_runs(found, args.qgis_runs, villages) if with_qgis else {}
            logs = {name: s.log.read_text()[-2000:] for name, s in found.items()}
    missed = print_cells(cells, args.workers)
    if qgis:
        print(
            f"\nQGIS {qgis['tipg']['qgis']} (OAPIF, pageSize={PAGE}) reading all {villages} "
            "villages (target <= 0.5x tipg)"
        )
        print_table(qgis, PEER)
        for name, row in qgis.items():
            if not row["all_villages"]:
                print(f"  {name}: QGIS read {row['features']} features, not {villages}")
    print(f"whole run {time.perf_counter() - started:.0f} s")
    stem = "api" if args.national is None else "api_national"
    out = RESULTS / f"{stem}.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(
        json.dumps(
            {
                "villages": villages,
                "national": args.national,
                "workers": args.workers,
                "duration_s": args.duration,
                "warmup_s": args.warmup,
                "sample": args.sample,
                "seed": SEED,
                "tipg": tipg,
                "tile_paths": declared,
                "git": git_state(),
                "checks": checks,
                "cells": cells,
                "missed_targets": missed,
                "tile_cache": cache,
                "qgis": qgis,
                "server_log_tails": logs,
            },
            indent=2,
        )
    )
    print(f"written {out}")


if __name__ == "__main__":
    main()
