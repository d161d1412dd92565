"""GeoDataFrames from :mod:`geo.queries` rendered as GeoJSON, served as ``application/geo+json``.

Geometries are encoded by GEOS (``shapely.to_geojson``, vectorised) and properties by the
standard library, then joined as text: a regency's 390 village boundaries render in a fraction
of the time a per-feature dict round trip takes. Properties are made JSON-safe on the way:
missing values become ``null``, timestamps (stored as naive UTC) ISO 8601 with ``Z``.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any

import numpy as np
import pandas as pd
from fastapi.responses import JSONResponse

import geopandas as gpd
import shapely

GEOJSON_MEDIA_TYPE = "application/geo+json"

# What each collection publishes (see api.schemas for the same as response models).
VILLAGE_PROPERTIES = ("code", "name", "kind", "district_code", "area_km2")
DISTRICT_PROPERTIES = ("code", "name", "kind", "regency_code", "area_km2")
REGENCY_PROPERTIES = ("code", "name", "kind", "province_code", "area_km2")
_ASSET_FIRST = ("id", "name", "village_code", "claimed_village_code", "source", "source_id")
_ASSET_LAST = ("created_at", "updated_at", "version")


class GeoJSONResponse(JSONResponse):
    """A response whose body is already-rendered GeoJSON text (a JSON response to OpenAPI)."""

    media_type = GEOJSON_MEDIA_TYPE

    def render(self, content: Any) -> bytes:
        """Encode rendered text as it is; render anything else as JSON."""
        if isinstance(content, str):
            return content.encode("utf-8")
        return super().render(content)


DEGREES = 7
"""Decimals of longitude and latitude served: 1.1 cm (RFC 7946 suggests 6); the stored
doubles' last digits are noise from reprojection and repair, and 40% of a page's bytes."""


def geometry_texts(geometries: np.ndarray, decimals: int = DEGREES) -> np.ndarray:
    """GeoJSON geometry texts, coordinates rounded to ``decimals``."""
    rounded = shapely.transform(geometries, lambda xy: np.round(xy, decimals))
    return shapely.to_geojson(rounded)


def feature_texts(
    frame: gpd.GeoDataFrame,
    properties: Sequence[str] | None = None,
    *,
    id_column: str,
    decimals: int = DEGREES,
) -> list[str]:
    """Render each row as the text of a GeoJSON Feature.

    ``properties`` names the columns to publish (default: every column but the geometry);
    ``id_column`` gives the Feature ``id``; coordinates keep ``decimals`` (metres: pass 2).
    """
    columns = [c for c in frame.columns if c != frame.geometry.name]
    records = _records(frame[list(properties) if properties is not None else columns])
    geometries = geometry_texts(np.asarray(frame.geometry.values), decimals)
    ids = _records(frame[[id_column]])
    return [
        _object(
            type='"Feature"',
            id=_dumps(ident[id_column]),
            geometry=geometry or "null",
            properties=_dumps(record),
        )
        for ident, geometry, record in zip(ids, geometries, records, strict=True)
    ]


def row_feature_texts(
    columns: Sequence[str],
    values: Sequence[tuple[Any, ...]],
    geometries: np.ndarray,
    properties: Sequence[str] | None = None,
    *,
    id_column: str,
    decimals: int = DEGREES,
) -> list[str]:
    """The Features of :func:`feature_texts`, from rows as the database gave them (no frame).

    ``columns`` names the values of each row; missing values are ``null``, timestamps ISO
    8601 with ``Z``, as :func:`feature_texts` renders them.
    """
    names = list(properties) if properties is not None else list(columns)
    at = [columns.index(name) for name in names]
    key = columns.index(id_column)
    texts = geometry_texts(geometries, decimals)
    return [
        _object(
            type='"Feature"',
            id=_dumps(row[key]),
            geometry=geometry or "null",
            properties=_dumps({name: _plain(row[i]) for name, i in zip(names, at, strict=True)}),
        )
        for row, geometry in zip(values, texts, strict=True)
    ]


def _plain(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        return _timestamp(pd.Timestamp(value))
    if isinstance(value, float) and value != value:  # NaN: as a missing value
        return None
    return value


def asset_properties(frame: pd.DataFrame) -> list[str]:
    """List the columns of an asset layer: common ones, the layer's own, then bookkeeping."""
    own = [
        c
        for c in frame.columns
        if c not in _ASSET_FIRST and c not in _ASSET_LAST and c != "geometry"
    ]
    return [*_ASSET_FIRST, *own, *_ASSET_LAST]


def feature_collection(
    frame: gpd.GeoDataFrame, properties: Sequence[str] | None = None, *, id_column: str
) -> str:
    """Render the rows as a GeoJSON FeatureCollection (see :func:`feature_texts`)."""
    features = feature_texts(frame, properties, id_column=id_column)
    return _object(type='"FeatureCollection"', features=_array(features))


def with_members(feature: str, members: Mapping[str, str]) -> str:
    """Add foreign members (already-rendered JSON texts) to a rendered Feature or object."""
    if not members:
        return feature
    extra = ",".join(f"{json.dumps(name)}:{text}" for name, text in members.items())
    return f"{feature[:-1]},{extra}}}"


def object_of_arrays(arrays: Mapping[str, Sequence[str]]) -> str:
    """``{"name": [rendered, ...], ...}`` from rendered JSON texts."""
    return "{" + ",".join(f"{json.dumps(k)}:{_array(v)}" for k, v in arrays.items()) + "}"


def _array(texts: Sequence[str]) -> str:
    return "[" + ",".join(texts) + "]"


def _object(**members: str) -> str:
    return "{" + ",".join(f'"{name}":{text}' for name, text in members.items()) + "}"


def _records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    data = frame.copy()
    for name in data.columns:
        if pd.api.types.is_datetime64_any_dtype(data[name]):
            data[name] = data[name].map(_timestamp, na_action="ignore")
    data = data.astype(object)
    return data.where(data.notna(), None).to_dict("records")


def _timestamp(value: pd.Timestamp) -> str:
    if value.tzinfo is not None:
        value = value.tz_convert("UTC").tz_localize(None)
    return value.isoformat() + "Z"


def _dumps(value: Any) -> str:
    return json.dumps(
        value, ensure_ascii=False, allow_nan=False, separators=(",", ":"), default=_json_default
    )


def _json_default(value: Any) -> Any:
    if isinstance(value, dt.date | dt.datetime):
        return value.isoformat()
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, Decimal):
        return float(value)
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")
