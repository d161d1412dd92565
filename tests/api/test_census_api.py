"""The village census imported through the API: planners and admins, a file at a time."""

from __future__ import annotations

import warnings

import pandas as pd
from sqlalchemy import func, select

from api.main import create_app
from api.settings import ApiSettings
from geo.keys import create_key
from geo.store.db import transaction
from geo.store.models import VillageCensus
from tests.cli.test_census_cli import PODES, load_batu

with warnings.catch_warnings():
    warnings.filterwarnings("ignore", message="Using `httpx` with `starlette.testclient`")
    from fastapi.testclient import TestClient


def key(engine, role, regency=None):
    return {"Authorization": f"Bearer {create_key(engine, role, regency=regency)[0]}"}


def rows(engine) -> int:
    with transaction(engine) as session:
        return session.scalar(select(func.count()).select_from(VillageCensus))


def test_a_planner_imports_the_census_with_the_command_lines_report(engine, shared_data):
    load_batu(engine, shared_data)
    path = shared_data / PODES
    upload = {"file": (path.name, path.read_bytes())}
    frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    frame.loc[2, "R1005D"] = "7"  # an answer no PODES code means
    bad = frame.to_csv(index=False)
    app = create_app(engine.url.render_as_string(hide_password=False), ApiSettings(_env_file=None))
    with TestClient(app) as api:
        by_tourism = api.post("/census/import", files=upload, headers=key(engine, "tourism"))
        by_scoped = api.post(
            "/census/import", files=upload, headers=key(engine, "planner", regency="35.79")
        )
        refused = api.post(
            "/census/import", files={"file": (path.name, bad)}, headers=key(engine, "planner")
        )
        assert rows(engine) == 0
        done = api.post("/census/import", files=upload, headers=key(engine, "planner"))
        log = api.get("/audit", headers=key(engine, "admin")).json()["entries"]

    assert (by_tourism.status_code, by_scoped.status_code) == (403, 403)
    assert refused.status_code == 422
    [error] = [i for i in refused.json()["report"]["issues"] if i["severity"] == "error"]
    assert (error["field"], "is not a mobile internet signal answer" in error["reason"]) == (
        "R1005D", True,
    )  # fmt: skip
    assert done.status_code == 200, done.text
    report = done.json()
    assert (report["target"], report["inserted"], report["rejected"]) == (
        "census PODES 2024",
        24,
        0,
    )
    assert rows(engine) == 24
    assert [(e["collection"], e["action"], e["after"]["file"]) for e in log] == [
        ("village_census", "import", path.name)
    ]
