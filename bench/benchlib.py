"""What the benchmarks share: fresh databases, one process per measured run, CPU and memory.

Each benchmark script runs every contender in a child process of its own (so that peak memory
is its own) on a fresh PostGIS database, and prints medians side by side with the peer.
"""

from __future__ import annotations

import json
import os
import resource
import statistics
import subprocess
import sys
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

DEFAULT_URL = os.environ.get(
    "PETADESA_BENCH_POSTGIS_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)
CPU_KEYS = ("client_cpu_s", "server_cpu_s")


def peak_mb(who: int = resource.RUSAGE_SELF) -> float:
    """Peak resident memory in MiB: of this program, or of the waited-for children.

    For this program, ``VmHWM`` of ``/proc/self/status`` (its own high-water mark since it
    started): ``ru_maxrss`` keeps the parent's mark across ``fork`` and ``exec``, so a child
    of a parent that once held more would report the parent's peak.
    """
    if who == resource.RUSAGE_SELF:
        for line in open("/proc/self/status").read().splitlines():  # noqa: SIM115
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
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


def _admin(url: str):  # noqa: ANN202
    return create_engine(
        make_url(url).set(drivername="postgresql+psycopg"), isolation_level="AUTOCOMMIT"
    )


@contextmanager
def fresh_database(admin_url: str, stem: str) -> Iterator[str]:
    """An empty PostGIS database for one run; its URL. Dropped afterwards."""
    name = f"{stem}_{uuid.uuid4().hex[:8]}"
    admin = _admin(admin_url)
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = make_url(admin_url).set(database=name).render_as_string(hide_password=False)
    try:
        db = _admin(url)
        with db.connect() as conn:
            conn.execute(text("CREATE EXTENSION IF NOT EXISTS postgis"))
        db.dispose()
        yield url
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def measure(
    script: str,
    name: str,
    admin_url: str,
    runs: int,
    extra: Sequence[str] = (),
    stem: str = "bench",
) -> dict:
    """Run ``script --child name`` ``runs`` times, each on a fresh database; the medians.

    The child prints one JSON object last: ``seconds``, ``peak_mb``, optionally
    ``client_cpu_s``/``server_cpu_s``, and anything else worth keeping (from the last run).
    """
    results = []
    for _ in range(runs):
        with fresh_database(admin_url, stem) as url:
            out = subprocess.run(
                [sys.executable, script, "--child", name, "--database-url", url, *extra],
                check=True,
                capture_output=True,
                text=True,
            )
        results.append(json.loads(out.stdout.strip().splitlines()[-1]))
    seconds = [r["seconds"] for r in results]
    cpu = {
        key: statistics.median(r[key] for r in results)
        for key in CPU_KEYS
        if all(r.get(key) is not None for r in results)
    }
    return {
        "median_s": statistics.median(seconds),
        **cpu,
        "min_s": min(seconds),
        "runs": seconds,
        "peak_mb": max(r["peak_mb"] for r in results),
        **{k: v for k, v in results[-1].items() if k not in ("seconds", "peak_mb", *CPU_KEYS)},
    }


def print_table(table: dict[str, dict], peer: str, also: str | None = None) -> None:
    """Medians, ratio to ``peer`` (and to ``also``) and, where measured, CPU seconds.

    Each ratio is also stored in the row (``x_<peer>``) for the JSON results.
    """
    peers = [p for p in (peer, also) if p and table.get(p, {}).get("median_s")]
    print(
        f"{'contender':<19}{'median s':>9}{'min s':>7}{'peak MiB':>9}"
        + "".join(f"{'x ' + p.removeprefix('ogr2ogr-'):>12}" for p in peers)
        + f"{'client CPU s':>13}{'server CPU s':>13}"
    )
    for name, row in table.items():
        ratios = ""
        for p in peers:
            row[f"x_{p}"] = row["median_s"] / table[p]["median_s"]
            ratios += f"{row[f'x_{p}']:>12.2f}"
        client = f"{row['client_cpu_s']:.2f}" if "client_cpu_s" in row else "-"
        server = f"{row['server_cpu_s']:.2f}" if "server_cpu_s" in row else "-"
        print(
            f"{name:<19}{row['median_s']:>9.2f}{row['min_s']:>7.2f}{row['peak_mb']:>9.0f}"
            f"{ratios}{client:>13}{server:>13}"
        )
    if any("server_cpu_s" in row for row in table.values()):
        print(
            "CPU: medians of the timed part only; the server's is every PostgreSQL process on "
            "this machine (psutil), so keep the server otherwise idle."
        )


def measure_children(script: str, child_args: Sequence[str], runs: int) -> dict:
    """Run ``script --child *child_args`` ``runs`` times, each in its own process (no database).

    The child prints one JSON object last, with ``seconds`` and ``peak_mb``. Returns the
    medians, the fastest run, every run's seconds, the highest peak, and the last run's
    other members.
    """
    results = []
    root = os.path.dirname(os.path.dirname(os.path.abspath(script)))
    for _ in range(runs):
        out = subprocess.run(
            [sys.executable, script, "--child", *child_args],
            check=True,
            capture_output=True,
            text=True,
            env={**os.environ, "PYTHONPATH": root},
        )
        results.append(json.loads(out.stdout.strip().splitlines()[-1]))
    seconds = [r["seconds"] for r in results]
    return {
        "median_s": statistics.median(seconds),
        "min_s": min(seconds),
        "runs": seconds,
        "peak_mb": max(r["peak_mb"] for r in results),
        **{k: v for k, v in results[-1].items() if k not in ("seconds", "peak_mb")},
    }
