"""Errors: every domain exception answers application/problem+json with its status and code."""

from __future__ import annotations

import logging

import pytest
from fastapi import FastAPI, Request

import geo.errors
from api.errors import PROBLEM_KINDS, problem_kind
from api.schemas import Problem
from geo.codes import InvalidCode
from geo.errors import (
    AreaNotFound,
    ConfigurationError,
    CRSProblem,
    FileTooLarge,
    ImportRejected,
    PetadesaError,
    SourceUnavailable,
    UnknownLayer,
    UnreadableFile,
)
from geo.ingest.report import ImportReport, Severity

PROBLEM = "application/problem+json"


def problem_of(response, status: int, code: str) -> Problem:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM
    problem = Problem.model_validate(response.json())
    assert (problem.status, problem.code, problem.type) == (
        status,
        code,
        f"urn:petadesa:problem:{code}",
    )
    return problem


def test_unknown_village_is_a_404(client):
    problem = problem_of(client.get("/villages/35.07.05.9999"), 404, "area_not_found")
    assert problem.detail == "no village with code 35.07.05.9999"
    assert problem.instance == "/villages/35.07.05.9999"


@pytest.mark.parametrize(
    "code",
    [
        "abc",
        "35.07.05",
        "35",
        "35.07.05.10071",
        "3507051007x",
        "35.07.05.1OO7",
        "\uff13\uff15.\uff10\uff17.\uff10\uff15.\uff11\uff10\uff10\uff17",  # fullwidth
    ],
)
def test_malformed_village_code_is_a_400(client, code):
    problem_of(client.get(f"/villages/{code}"), 400, "invalid_code")


@pytest.mark.parametrize(
    "params",
    [{"regency": "35.07.05"}, {"regency": "Malang"}, {"district": "35.07"}, {"regency": ""}],
)
def test_malformed_filter_is_a_400(client, params):
    problem = problem_of(client.get("/villages", params=params), 400, "invalid_code")
    assert problem.instance == "/villages"


def test_overlong_parameter_is_a_400_with_the_field(client):
    problem = problem_of(
        client.get("/villages", params={"regency": "3" * 21}), 400, "invalid_request"
    )
    assert [error.loc for error in problem.errors] == [["query", "regency"]]


# Kemendagri codes are ASCII; \d and str.isdigit() would take these for 35.07.
NON_ASCII_MALANG = {
    "arabic-indic": "\u0663\u0665.\u0660\u0667",  # ٣٥.٠٧
    "fullwidth": "\uff13\uff15.\uff10\uff17",  # ３５.０７
    "fullwidth-undotted": "\uff13\uff15\uff10\uff17",  # ３５０７
}


@pytest.mark.parametrize("path", ["/villages", "/summary", "/districts", "/maps/registry"])
@pytest.mark.parametrize("regency", NON_ASCII_MALANG.values(), ids=NON_ASCII_MALANG.keys())
def test_non_ascii_digits_are_an_invalid_code(client, path, regency):
    problem = problem_of(client.get(path, params={"regency": regency}), 400, "invalid_code")
    assert problem.detail == f"{regency!r} is not a Kemendagri code (expected e.g. 35.07.01.2001)"
    assert problem.instance == path


HUGE = "3" * 10_000


@pytest.mark.parametrize(
    "url, loc",
    [
        ("/villages?regency=", ["query", "regency"]),
        ("/summary?regency=", ["query", "regency"]),
        ("/districts?regency=", ["query", "regency"]),
        ("/regencies?province=", ["query", "province"]),
        ("/villages?district=", ["query", "district"]),
        ("/layers/destination/items?village=", ["query", "village"]),
        ("/villages-without/destination?regency=", ["query", "regency"]),
        ("/maps/registry?regency=", ["query", "regency"]),
        ("/maps/registry?regency=35.07&district=", ["query", "district"]),
    ],
)
def test_a_huge_code_is_refused_without_being_echoed(client, url, loc):
    response = client.get(url + HUGE)
    problem = problem_of(response, 400, "invalid_request")
    assert [error.loc for error in problem.errors] == [loc]
    assert problem.detail == f"{'.'.join(loc)}: String should have at most 20 characters"
    assert len(response.content) < 1000
    assert "3" * 21 not in response.text


def test_a_huge_path_is_cut_short_in_the_instance(client):
    response = client.get("/villages/" + HUGE)
    problem = problem_of(response, 400, "invalid_request")
    assert [error.loc for error in problem.errors] == [["path", "code"]]
    assert problem.instance == "/villages/" + "3" * 190 + "..."
    assert len(response.content) < 1000
    assert HUGE[:201] not in response.text


def test_unknown_path_and_method(client):
    problem_of(client.get("/kecamatan"), 404, "not_found")
    response = client.post("/villages")
    problem_of(response, 405, "method_not_allowed")
    assert response.headers["allow"] == "GET"


def test_declared_body_over_the_limit_is_a_413(client, settings):
    body = b"x" * (settings.max_request_bytes + 1)
    problem_of(client.post("/villages", content=body), 413, "request_too_large")


def _echo_route(app: FastAPI) -> None:
    async def echo(request: Request) -> dict[str, int]:
        return {"bytes": len(await request.body())}

    app.add_api_route("/test-echo", echo, methods=["POST"])


def test_streamed_body_over_the_limit_is_a_413(make_client, settings):
    client = make_client(_echo_route)

    def chunks(total: int):
        for _ in range(total // 1024):
            yield b"x" * 1024

    assert client.post("/test-echo", content=chunks(4096)).json() == {"bytes": 4096}
    too_much = chunks(settings.max_request_bytes + 2048)
    problem_of(client.post("/test-echo", content=too_much), 413, "request_too_large")


def _report() -> ImportReport:
    report = ImportReport(target="destination", path="wisata.geojson", read=2, rejected=1)
    report.add(
        Severity.ERROR, "point outside every village", index=1, feature_id="w-2", field="geometry"
    )
    return report


RAISED = [
    (AreaNotFound("no district 35.07.99"), 404, "area_not_found"),
    (UnknownLayer("unknown asset layer 'x'"), 404, "unknown_layer"),
    (InvalidCode("'x' is not a Kemendagri code"), 400, "invalid_code"),
    (UnreadableFile("not a GeoPackage"), 400, "unreadable_file"),
    (CRSProblem("no CRS"), 422, "crs_problem"),
    (ImportRejected("1 feature refused", _report()), 422, "import_rejected"),
    (FileTooLarge("over 512 MiB"), 413, "file_too_large"),
    (SourceUnavailable("upstream down"), 502, "source_unavailable"),
    (ConfigurationError("bad URL postgresql://secret@db"), 500, "configuration_error"),
    (PetadesaError("something the user can fix"), 400, "petadesa_error"),
]


def _raising_route(exc: Exception):
    def prepare(app: FastAPI) -> None:
        def fail() -> None:
            raise exc

        app.add_api_route("/test-raise", fail)

    return prepare


@pytest.mark.parametrize("exc, status, code", RAISED, ids=[type(e).__name__ for e, _, _ in RAISED])
def test_domain_exception_mapped_once(make_client, caplog, exc, status, code):
    client = make_client(_raising_route(exc))
    with caplog.at_level(logging.INFO, logger="petadesa.api"):
        problem = problem_of(client.get("/test-raise"), status, code)
    logged = [r for r in caplog.records if r.name == "petadesa.api"]
    if status >= 500:
        assert len(logged) == 1 and logged[0].exc_info[1] is exc
        assert "secret" not in problem.detail  # server details stay in the log
    else:
        assert logged == []  # user mistakes are not logged
        assert problem.detail == str(exc)


def test_import_rejected_carries_the_report(make_client):
    client = make_client(_raising_route(ImportRejected("1 feature refused", _report())))
    problem = problem_of(client.get("/test-raise"), 422, "import_rejected")
    (issue,) = problem.report["issues"]
    assert (issue["index"], issue["feature_id"], issue["field"]) == (1, "w-2", "geometry")
    assert problem.report["rejected"] == 1


def test_a_bug_is_a_500_problem_without_details(make_client):
    client = make_client(
        _raising_route(RuntimeError("SELECT secret FROM village")), raise_server_exceptions=False
    )
    problem = problem_of(client.get("/test-raise"), 500, "internal_error")
    assert "secret" not in problem.model_dump_json()


def test_every_geo_exception_has_its_own_status():
    """A new domain exception in geo.errors needs a decision here, not the 400 fallback."""
    classes = {
        c for c in vars(geo.errors).values() if isinstance(c, type) and issubclass(c, PetadesaError)
    }
    assert classes - set(PROBLEM_KINDS) == set()
    for cls in classes:
        assert 400 <= problem_kind(cls.__new__(cls)).status < 600, cls
