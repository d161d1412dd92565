"""Errors as ``application/problem+json`` (RFC 9457), each domain exception mapped once here.

geo raises domain exceptions (:mod:`geo.errors`) and knows nothing of HTTP; this module gives
each a status and a title and answers with ``type``, ``title``, ``status``, ``detail``,
``instance`` and the exception's machine-readable ``code``, plus the per-feature ``report`` of
a refused import and the field ``errors`` of a malformed request. Only server errors (5xx) are
logged, and their details stay in the log, not in the response.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import IntegrityError, OperationalError
from starlette.exceptions import HTTPException as StarletteHTTPException

from geo.codes import InvalidCode
from geo.edits import EditForbidden, FeatureExists, NoSuchFeature, StaleEdit
from geo.errors import (
    AreaNotFound,
    CollectionNotFound,
    ConfigurationError,
    CRSProblem,
    FeatureNotFound,
    FileTooLarge,
    ImportRejected,
    PetadesaError,
    RasterRejected,
    SourceUnavailable,
    UnknownLayer,
    UnreadableFile,
)
from maps.assets import MapAssetsMissing

PROBLEM_MEDIA_TYPE = "application/problem+json"
PROBLEM_TYPE_PREFIX = "urn:petadesa:problem:"
MAX_INSTANCE_LENGTH = 200
"""A longer request path is cut short in ``instance``, so that a problem never echoes a huge
value back (``/villages/3333...``); every path the API serves is far shorter."""
logger = logging.getLogger("petadesa.api")


class InvalidParameter(PetadesaError):
    """A query or path parameter that cannot be understood (the API's own parsing)."""

    code = "invalid_parameter"


class InvalidBBox(InvalidParameter):
    """A ``bbox`` that is not ``min_lon,min_lat,max_lon,max_lat`` inside EPSG:4326 bounds."""

    code = "invalid_bbox"


class InvalidCRS(InvalidParameter):
    """A ``crs`` or ``bbox-crs`` the service does not serve."""

    code = "invalid_crs"


class InvalidFilter(InvalidParameter):
    """A CQL2 ``filter`` that cannot be parsed or served (:mod:`geo.cql`)."""

    code = "invalid_filter"


class Unauthorized(PetadesaError):
    """A write without a key in force (``Authorization: Bearer <key>``)."""

    code = "unauthorized"


class PreconditionRequired(PetadesaError):
    """A replace, update or delete without ``If-Match`` (the version it was made against)."""

    code = "precondition_required"


class NotWritable(PetadesaError):
    """A write to a collection the API serves for reading only."""

    code = "not_writable"


class RequestTooLarge(PetadesaError):
    """A request body over ``PETADESA_API_MAX_REQUEST_BYTES``."""

    code = "request_too_large"


class RegistryUnavailable(PetadesaError):
    """The database answers but holds no registry (run ``petadesa init``)."""

    code = "registry_unavailable"


@dataclass(frozen=True)
class ProblemKind:
    """The HTTP side of one exception class."""

    status: int
    title: str
    code: str | None = None
    """The machine-readable code when the exception class has no ``code`` of its own."""


# Looked up along the exception's MRO: the most specific class wins.
PROBLEM_KINDS: dict[type[Exception], ProblemKind] = {
    AreaNotFound: ProblemKind(404, "Area not found"),
    CollectionNotFound: ProblemKind(404, "Collection not found"),
    Unauthorized: ProblemKind(401, "Unauthorized"),
    EditForbidden: ProblemKind(403, "Forbidden"),
    NotWritable: ProblemKind(405, "Collection not writable"),
    StaleEdit: ProblemKind(412, "Precondition failed"),
    PreconditionRequired: ProblemKind(428, "Precondition required"),
    FeatureExists: ProblemKind(409, "Feature exists"),
    NoSuchFeature: ProblemKind(404, "Feature not found"),
    FeatureNotFound: ProblemKind(404, "Feature not found"),
    UnknownLayer: ProblemKind(404, "Unknown layer"),
    InvalidCode: ProblemKind(400, "Invalid area code", "invalid_code"),
    InvalidParameter: ProblemKind(400, "Invalid parameter"),
    UnreadableFile: ProblemKind(400, "Unreadable file"),
    CRSProblem: ProblemKind(422, "Unusable coordinate reference system"),
    ImportRejected: ProblemKind(422, "Import rejected"),
    RasterRejected: ProblemKind(422, "Raster rejected"),
    FileTooLarge: ProblemKind(413, "File too large"),
    RequestTooLarge: ProblemKind(413, "Request too large"),
    SourceUnavailable: ProblemKind(502, "Upstream source unavailable"),
    MapAssetsMissing: ProblemKind(503, "Map assets not installed", "map_assets_missing"),
    ConfigurationError: ProblemKind(500, "Server misconfigured"),
    RegistryUnavailable: ProblemKind(503, "Registry unavailable"),
    OperationalError: ProblemKind(503, "Database unavailable", "database_unavailable"),
    IntegrityError: ProblemKind(409, "Conflict", "conflict"),
    PetadesaError: ProblemKind(400, "Request refused"),
}
SERVER_ERROR_DETAIL = "The server could not answer; the details are in its log."


def problem_kind(exc: Exception) -> ProblemKind:
    """Find the status and title of an exception (500 for anything not in the map)."""
    for cls in type(exc).__mro__:
        if cls in PROBLEM_KINDS:
            return PROBLEM_KINDS[cls]
    return ProblemKind(500, "Internal server error", "internal_error")


def problem_response(
    status: int, code: str, title: str, detail: str | None, instance: str, **members: Any
) -> JSONResponse:
    """Build an ``application/problem+json`` response; ``members`` are extension members."""
    body = {
        "type": PROBLEM_TYPE_PREFIX + code,
        "title": title,
        "status": status,
        "detail": detail,
        "code": code,
        "instance": _bounded(instance),
        **{name: value for name, value in members.items() if value is not None},
    }
    return JSONResponse(jsonable_encoder(body), status_code=status, media_type=PROBLEM_MEDIA_TYPE)


def _bounded(instance: str) -> str:
    if len(instance) <= MAX_INSTANCE_LENGTH:
        return instance
    return instance[:MAX_INSTANCE_LENGTH] + "..."


def exception_problem(request: Request, exc: Exception) -> JSONResponse:
    """Answer a domain (or database) exception with its mapped status."""
    kind = problem_kind(exc)
    code = getattr(exc, "code", None) if isinstance(exc, PetadesaError) else None
    code = code or kind.code or "petadesa_error"
    detail = str(exc)
    if isinstance(exc, IntegrityError):  # never the statement and its values
        detail = "the write conflicts with another feature (a key it must not share)"
    if kind.status >= 500:
        logger.error(
            "%s %s -> %d %s", request.method, request.url.path, kind.status, code, exc_info=exc
        )
        detail = SERVER_ERROR_DETAIL
    report = _report(exc.report) if isinstance(exc, ImportRejected) else None
    response = problem_response(
        kind.status, code, kind.title, detail, request.url.path, report=report
    )
    if isinstance(exc, Unauthorized):
        response.headers["WWW-Authenticate"] = 'Bearer realm="petadesa"'
    return response


def _report(report: object) -> object:
    to_dict = getattr(report, "to_dict", None)
    return to_dict() if callable(to_dict) else report


def validation_problem(request: Request, exc: Exception) -> JSONResponse:
    """Answer a request FastAPI could not validate: 400, with each field's error."""
    raw = exc.errors() if isinstance(exc, RequestValidationError) else []
    errors = [
        {"loc": [str(part) for part in error["loc"]], "msg": error["msg"], "type": error["type"]}
        for error in raw
    ]
    detail = "; ".join(f"{'.'.join(e['loc'])}: {e['msg']}" for e in errors)
    return problem_response(
        400, "invalid_request", "Invalid request", detail, request.url.path, errors=errors
    )


def http_problem(request: Request, exc: Exception) -> JSONResponse:
    """Answer Starlette's own HTTP errors (unknown path, wrong method) as problems too."""
    status = getattr(exc, "status_code", 500)
    code = {404: "not_found", 405: "method_not_allowed"}.get(status, "http_error")
    response = problem_response(
        status, code, _reason(status), str(getattr(exc, "detail", "")), request.url.path
    )
    response.headers.update(getattr(exc, "headers", None) or {})
    return response


def unexpected_problem(request: Request, exc: Exception) -> JSONResponse:
    """Answer a bug with a 500 problem; the server logs the traceback (Starlette re-raises)."""
    return problem_response(
        500, "internal_error", "Internal server error", SERVER_ERROR_DETAIL, request.url.path
    )


def _reason(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


def install_error_handlers(app: FastAPI) -> None:
    """Register every handler on ``app``: the one place where exceptions become statuses."""
    app.add_exception_handler(PetadesaError, exception_problem)
    app.add_exception_handler(InvalidCode, exception_problem)
    app.add_exception_handler(OperationalError, exception_problem)
    app.add_exception_handler(IntegrityError, exception_problem)
    app.add_exception_handler(RequestValidationError, validation_problem)
    app.add_exception_handler(StarletteHTTPException, http_problem)
    app.add_exception_handler(Exception, unexpected_problem)


def problem_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses=`` entries for the problems a route can answer with."""
    reference = {"$ref": "#/components/schemas/Problem"}
    content = {PROBLEM_MEDIA_TYPE: {"schema": reference}}
    out: dict[int | str, dict[str, Any]] = {
        status: {"description": _reason(status), "content": content} for status in statuses
    }
    out["4XX"] = {"description": "Any other client error", "content": content}
    out["5XX"] = {"description": "Server error", "content": content}
    return out
