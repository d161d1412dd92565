"""Dependencies of the route handlers: the engine, a session, and parsed query parameters.

Handlers declare what they need as ``Annotated`` aliases (``SessionDep``, ``RegencyFilter``...)
so that parsing and validation happen before the handler runs, the same way everywhere.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from typing import Annotated, Any

from fastapi import Depends, Path, Query, Request
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from api.errors import InvalidBBox
from api.settings import ApiSettings
from geo.codes import InvalidCode, Level, code_pattern, level_of, normalize_code
from geo.queries import BBox
from geo.store.models import ASSET_LAYERS

CODE_MAX_LENGTH = 20
"""Longer than any Kemendagri code, dotted or not (``35.07.01.2001`` is 13 characters)."""


def get_engine(request: Request) -> Engine:
    """Return the engine opened by the app's lifespan."""
    engine: Engine = request.app.state.engine
    return engine


def get_settings(request: Request) -> ApiSettings:
    """Return the settings the app was created with."""
    settings: ApiSettings = request.app.state.settings
    return settings


def get_session(request: Request) -> Iterator[Session]:
    """One session per request, from :func:`geo.store.db.session_factory`; closed afterwards."""
    sessions: sessionmaker[Session] = request.app.state.sessions
    with sessions() as session:
        yield session


EngineDep = Annotated[Engine, Depends(get_engine)]
SettingsDep = Annotated[ApiSettings, Depends(get_settings)]
SessionDep = Annotated[Session, Depends(get_session)]


def area_code(value: str, level: Level) -> str:
    """Normalise a Kemendagri code and check its level; raise :class:`InvalidCode` otherwise."""
    code = normalize_code(value)
    if level_of(code) is not level:
        raise InvalidCode(f"{value!r} is not a {level.value} code")
    return code


def _documented_pattern(level: Level) -> Callable[[dict[str, Any]], None]:
    """Put the level's :func:`~geo.codes.code_pattern` beside ``maxLength`` in the OpenAPI schema.

    Documentation only (FastAPI hands ``json_schema_extra`` to pydantic, which calls it while
    writing the schema, and checks nothing):
    a code that does not match is refused by :func:`area_code`, once, as an ``invalid_code``
    problem, not as a generic ``invalid_request``.
    """
    pattern = code_pattern(level)

    def add(schema: dict[str, Any]) -> None:
        for branch in schema.get("anyOf", [schema]):  # ``str | None``: the string branch
            if branch.get("type") == "string":
                branch["pattern"] = pattern

    return add


def _query_code(name: str, level: Level, example: str) -> Any:
    return Query(
        alias=name,
        max_length=CODE_MAX_LENGTH,
        json_schema_extra=_documented_pattern(level),  # type: ignore[arg-type]
        examples=[example],
        description=f"Kemendagri code of a {level.value}, e.g. {example}",
    )


def province_filter(
    province: Annotated[str | None, _query_code("province", Level.PROVINCE, "35")] = None,
) -> str | None:
    """Read the optional ``province`` query parameter as a province code."""
    return None if province is None else area_code(province, Level.PROVINCE)


def regency_filter(
    regency: Annotated[str | None, _query_code("regency", Level.REGENCY, "35.07")] = None,
) -> str | None:
    """Read the optional ``regency`` query parameter as a regency code."""
    return None if regency is None else area_code(regency, Level.REGENCY)


def district_filter(
    district: Annotated[str | None, _query_code("district", Level.DISTRICT, "35.07.05")] = None,
) -> str | None:
    """Read the optional ``district`` query parameter as a district code."""
    return None if district is None else area_code(district, Level.DISTRICT)


def village_filter(
    village: Annotated[str | None, _query_code("village", Level.VILLAGE, "35.07.05.1007")] = None,
) -> str | None:
    """Read the optional ``village`` query parameter as a village code."""
    return None if village is None else area_code(village, Level.VILLAGE)


ProvinceFilter = Annotated[str | None, Depends(province_filter)]
RegencyFilter = Annotated[str | None, Depends(regency_filter)]
DistrictFilter = Annotated[str | None, Depends(district_filter)]
VillageFilter = Annotated[str | None, Depends(village_filter)]


def regency_code(
    regency: Annotated[str, _query_code("regency", Level.REGENCY, "35.07")],
) -> str:
    """Read the required ``regency`` query parameter as a regency code, normalised (35.07)."""
    return area_code(regency, Level.REGENCY)


RegencyCode = Annotated[str, Depends(regency_code)]


def village_code(
    code: Annotated[
        str,
        Path(
            max_length=CODE_MAX_LENGTH,
            json_schema_extra=_documented_pattern(Level.VILLAGE),  # type: ignore[arg-type]
            examples=["35.07.05.1007"],
            description="Kemendagri code of a village (desa/kelurahan)",
        ),
    ],
) -> str:
    """Read the ``{code}`` path parameter as a village code."""
    return area_code(code, Level.VILLAGE)


VillageCode = Annotated[str, Depends(village_code)]


LayerName = Annotated[
    str,
    Path(
        max_length=64,
        examples=["destination"],
        description="An asset layer: " + ", ".join(ASSET_LAYERS),
    ),
]
"""The ``{layer}`` path parameter; an unknown name is geo's ``UnknownLayer`` (404)."""


def parse_bbox(text: str) -> BBox:
    """Parse ``min_lon,min_lat,max_lon,max_lat`` (EPSG:4326); raise :class:`InvalidBBox`."""
    parts = text.split(",")
    if len(parts) != 4:
        raise InvalidBBox(f"bbox needs 4 numbers (min_lon,min_lat,max_lon,max_lat), got {text!r}")
    try:
        min_lon, min_lat, max_lon, max_lat = (float(part) for part in parts)
    except ValueError:
        raise InvalidBBox(f"bbox values must be numbers, got {text!r}") from None
    values = (min_lon, min_lat, max_lon, max_lat)
    if not all(math.isfinite(v) for v in values):
        raise InvalidBBox(f"bbox values must be finite numbers, got {text!r}")
    if not (-180 <= min_lon < max_lon <= 180):
        raise InvalidBBox(f"bbox needs -180 <= min_lon < max_lon <= 180, got {text!r}")
    if not (-90 <= min_lat < max_lat <= 90):
        raise InvalidBBox(f"bbox needs -90 <= min_lat < max_lat <= 90, got {text!r}")
    return values


def bbox_filter(
    bbox: Annotated[
        str | None,
        Query(
            max_length=200,
            examples=["112.70,-8.35,112.80,-8.25"],
            description="min_lon,min_lat,max_lon,max_lat in EPSG:4326 (WGS 84 lon/lat)",
        ),
    ] = None,
) -> BBox | None:
    """Read the optional ``bbox`` query parameter, parsed and checked."""
    return None if bbox is None else parse_bbox(bbox)


BBoxFilter = Annotated[BBox | None, Depends(bbox_filter)]
