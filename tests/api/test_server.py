"""``api.server.serve``: uvicorn with the app factory and several workers, for real."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import pytest

SERVE = """
import sys
from api.server import serve
from api.settings import ApiSettings
settings = ApiSettings(_env_file=None, port=int(sys.argv[2]), workers=int(sys.argv[3]))
serve(sys.argv[1], settings)
"""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_server(registry_url: str, cwd, workers: int) -> tuple[subprocess.Popen, str]:
    """``api.server.serve`` in a process of its own, without PETADESA_* settings; its URL.

    Its output goes to a temporary file, not a pipe: a pipe nobody reads fills with the access
    log after a few hundred requests and then blocks the server. :func:`stop_server` reads it.
    """
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("PETADESA_")}
    log = tempfile.TemporaryFile(mode="w+")  # noqa: SIM115 - closed by stop_server
    server = subprocess.Popen(
        [sys.executable, "-c", SERVE, registry_url, str(port), str(workers)],
        cwd=cwd,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        text=True,
    )
    _LOGS[server.pid] = log
    return server, f"http://127.0.0.1:{port}"


_LOGS: dict[int, Any] = {}


def stop_server(server: subprocess.Popen) -> str:
    """Stop a server of :func:`start_server`; what it printed."""
    server.terminate()
    try:
        server.wait(timeout=30)
    except subprocess.TimeoutExpired:
        server.kill()
        server.wait(timeout=30)
    log = _LOGS.pop(server.pid)
    log.seek(0)
    output = log.read()
    log.close()
    return output


@contextmanager
def running_server(registry_url: str, cwd, workers: int = 1) -> Iterator[str]:
    """A server of :func:`start_server`, once it answers: its base URL; stopped after."""
    server, base = start_server(registry_url, cwd, workers=workers)
    try:
        _wait_until_up(f"{base}/health", server)
        yield base
    finally:
        stop_server(server)


def _wait_until_up(url: str, server: subprocess.Popen, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if server.poll() is not None:
            pytest.fail(f"the server exited with {server.returncode}")
        try:
            if httpx.get(url, timeout=2).status_code == 200:  # 503: up, but not its database
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    pytest.fail(f"the server did not answer within {seconds} s")


@pytest.mark.slow
def test_serve_with_two_workers(registry_url, tmp_path, backend_name):
    # A fresh working directory: a worker that missed the URL would create petadesa.gpkg here.
    server, base = start_server(registry_url, tmp_path, workers=2)
    try:
        _wait_until_up(f"{base}/health", server)
        with httpx.Client(base_url=base, timeout=30) as http:
            assert http.get("/health").json() == {"status": "ok", "backend": backend_name}
            villages = http.get("/villages", params={"regency": "35.07"})
            assert villages.headers["content-type"] == "application/geo+json"
            assert len(villages.json()["features"]) == 390
            assert http.get("/villages/35.07.05.9999").status_code == 404
    finally:
        output = stop_server(server)
    assert "Started parent process" in output or output.count("Started server process") == 2, output
    assert output.count("Application startup complete") == 2, output
    assert list(tmp_path.iterdir()) == []
