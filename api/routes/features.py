"""OGC API - Features - Part 1: Core, over the registry's collections (:mod:`geo.features`).

``/conformance``, ``/collections``, ``/collections/{collectionId}``, its ``/items`` (paged by
``limit`` and ``offset`` with ``next``/``prev`` links, filtered by ``bbox``, counted in
``numberMatched``) and ``/items/{featureId}``, as GeoJSON in CRS84. The conformance document
claims what the tests prove: Core, GeoJSON, the OpenAPI 3.0 description and Part 2's CRS
by reference (:mod:`geo.crs`: CRS84, EPSG:4326 latitude first, Web Mercator, Indonesia's UTM
zones; ``crs``, ``bbox-crs``, ``Content-Crs``).
"""

from __future__ import annotations

import datetime as dt
import json
import math
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path as PathType
from typing import Annotated, Any

from fastapi import (
    APIRouter,
    Body,
    Depends,
    File,
    Header,
    Path,
    Query,
    Request,
    Response,
    UploadFile,
)
from fastapi.responses import FileResponse, JSONResponse, StreamingResponse
from sqlalchemy.exc import DataError, ProgrammingError
from starlette.background import BackgroundTask
from starlette.datastructures import URL

import geopandas as gpd
import pyogrio
import shapely
import shapely.errors
import shapely.geometry

from api import html
from api.deps import EngineDep, SessionDep, parse_bbox
from api.errors import (
    InvalidBBox,
    InvalidCRS,
    InvalidFilter,
    InvalidParameter,
    NotWritable,
    PreconditionRequired,
    Unauthorized,
    problem_responses,
)
from api.geojson import (
    GEOJSON_MEDIA_TYPE,
    GeoJSONResponse,
    feature_texts,
    row_feature_texts,
    with_members,
)
from api.schemas import Collection, CollectionList, Conformance, Link
from geo import cql as geocql
from geo import crs as geocrs
from geo import edits, features
from geo.edits import StaleEdit
from geo.errors import CollectionNotFound, FeatureNotFound
from geo.ingest.assets import import_assets
from geo.ingest.boundaries import import_boundaries
from geo.ingest.census import import_census
from geo.keys import CENSUS, Caller, caller_of
from geo.queries import BBox
from geo.store.db import transaction

router = APIRouter()

JSON = "application/json"
CRS84 = geocrs.CRS84
GREGORIAN = "http://www.opengis.net/def/uom/ISO-8601/0/Gregorian"
CONFORMANCE = [
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/core",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/geojson",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/html",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/oas30",
    "http://www.opengis.net/spec/ogcapi-features-2/1.0/conf/crs",
    "http://www.opengis.net/spec/ogcapi-features-3/1.0/conf/queryables",
    "http://www.opengis.net/spec/ogcapi-features-3/1.0/conf/filter",
    "http://www.opengis.net/spec/ogcapi-features-3/1.0/conf/features-filter",
    "http://www.opengis.net/spec/cql2/1.0/conf/cql2-text",
    "http://www.opengis.net/spec/cql2/1.0/conf/cql2-json",
    "http://www.opengis.net/spec/cql2/1.0/conf/basic-cql2",
    "http://www.opengis.net/spec/cql2/1.0/conf/advanced-comparison-operators",
    "http://www.opengis.net/spec/cql2/1.0/conf/basic-spatial-functions",
    "http://www.opengis.net/spec/cql2/1.0/conf/spatial-functions",
    "http://www.opengis.net/spec/ogcapi-tiles-1/1.0/conf/core",
    "http://www.opengis.net/spec/ogcapi-tiles-1/1.0/conf/tileset",
    "http://www.opengis.net/spec/ogcapi-tiles-1/1.0/conf/tilesets-list",
    "http://www.opengis.net/spec/ogcapi-tiles-1/1.0/conf/geodata-tilesets",
    "http://www.opengis.net/spec/ogcapi-tiles-1/1.0/conf/mvt",
]
JSON_TYPES = {str: "string", float: "number", int: "integer", bool: "boolean"}
ITEM_PARAMETERS = {"bbox", "bbox-crs", "crs", "limit", "offset", "filter", "filter-lang"}
ITEM_PARAMETERS |= {"filter-crs", "sortby", "properties", "datetime", "f"}
CollectionId = Annotated[
    str,
    Path(
        alias="collectionId",
        max_length=40,
        description="A layer of the registry: " + ", ".join(features.COLLECTIONS),
    ),
]
FeatureId = Annotated[str, Path(alias="featureId", max_length=40)]
Limit = Annotated[
    int,
    Query(
        ge=1,
        le=features.MAX_LIMIT,
        description=f"Features per page (default {features.DEFAULT_LIMIT}).",
    ),
]
Offset = Annotated[
    int, Query(ge=0, le=2**31 - 1, description="Features to skip (the next link sets it).")
]
CrsParam = Annotated[
    str | None,
    Query(
        max_length=100,
        description="The CRS of the coordinates served (a URI of the collection's crs list; "
        "default CRS84). EPSG:4326 is served latitude first.",
    ),
]
BBoxText = Annotated[
    str | None,
    Query(
        max_length=200,
        description="west,south,east,north (in bbox-crs: EPSG:4326 is south,west,north,east)",
    ),
]
BBoxCrs = Annotated[
    str | None,
    Query(alias="bbox-crs", max_length=100, description="The CRS of bbox (default CRS84)."),
]
FilterText = Annotated[
    str | None,
    Query(
        alias="filter",
        max_length=20_000,
        description="A CQL2 filter over the collection's queryables: "
        "kind = 'desa' AND area_km2 > 5, name LIKE 'Tulung%', "
        "S_INTERSECTS(geometry, POINT(112.6 -8.0))",
    ),
]
FilterLang = Annotated[
    str,
    Query(alias="filter-lang", max_length=20, description="cql2-text (default) or cql2-json"),
]
FilterCrs = Annotated[
    str | None,
    Query(
        alias="filter-crs", max_length=100, description="The CRS of the filter's geometries: CRS84"
    ),
]
SortBy = Annotated[
    str | None,
    Query(
        max_length=1_000,
        description="Queryables to order by, - before one for descending: -area_km2,name",
    ),
]
Properties = Annotated[
    str | None,
    Query(max_length=2_000, description="Only these properties (comma-separated queryables)."),
]
DateTime = Annotated[
    str | None,
    Query(
        alias="datetime",
        max_length=100,
        description="A day or an interval (RFC 3339, .. for an open end): 2024-05-01, "
        "2024-01-01/2024-06-30, ../2024-06-30. Layers with a day: "
        + ", ".join(c.id for c in features.COLLECTIONS.values() if c.kind != "area" and c.temporal)
        + "; areas: the boundaries in force then (of an interval, each area's latest).",
    ),
]


@router.get(
    "/conformance",
    operation_id="getConformance",
    name="getConformance",
    response_model=Conformance,
    responses=problem_responses(),
    summary="The OGC API conformance classes this service implements",
)
def conformance(request: Request) -> Conformance | Response:
    """The classes implemented (Features Parts 1-4, CQL2, Tiles), as JSON or HTML."""
    if html.wants_html(request):
        rows = [[{"href": uri, "text": uri}] for uri in CONFORMANCE]
        return html.page(request, "Conformance", columns=["conforms to"], rows=rows)
    return Conformance(conformsTo=CONFORMANCE)


@router.get(
    "/collections",
    operation_id="getCollections",
    name="getCollections",
    response_model=CollectionList,
    response_model_exclude_none=True,
    responses=problem_responses(),
    summary="The feature collections: every layer of the registry",
)
def collections(request: Request, session: SessionDep) -> CollectionList | Response:
    """Each collection with its titles, spatial extent, item type and links."""
    described = [
        _describe(request, session, collection) for collection in features.COLLECTIONS.values()
    ]
    self = str(request.url_for("getCollections"))
    if html.wants_html(request):
        rows = [
            [
                {"href": f"{self}/{c.id}?f=html", "text": c.id},
                c.title,
                {"href": f"{self}/{c.id}/items?f=html", "text": "items"},
            ]
            for c in described
        ]
        return html.page(request, "Collections", columns=["id", "title", ""], rows=rows)
    return CollectionList(
        links=[Link(href=self, rel="self", type=JSON, title="The collections")],
        collections=described,
    )


@router.get(
    "/collections/{collectionId}",
    operation_id="describeCollection",
    name="describeCollection",
    response_model=Collection,
    response_model_exclude_none=True,
    responses=problem_responses(404),
    summary="One feature collection",
)
def describe_collection(
    request: Request, session: SessionDep, collection_id: CollectionId
) -> Collection | Response:
    """A collection's titles, spatial extent, item type and links."""
    described = _describe(request, session, find_collection(collection_id))
    if html.wants_html(request):
        spatial = described.extent.spatial if described.extent else None
        box = spatial.bbox[0] if spatial else None
        rows = [["extent", ", ".join(f"{v:.5f}" for v in box) if box else "no features"]]
        rows.append(["crs", ", ".join(described.crs[:3]) + ", ..."])
        return html.page(
            request, described.title, description=described.description,
            columns=["", ""], rows=rows, links=described.links,
        )  # fmt: skip
    return described


@router.get(
    "/collections/{collectionId}/items",
    operation_id="getFeatures",
    name="getFeatures",
    response_class=GeoJSONResponse,
    responses={
        200: {"content": {GEOJSON_MEDIA_TYPE: {}}, "description": "A page of features"},
        **problem_responses(400, 404),
    },
    summary="The features of a collection, a page at a time",
)
def get_features(
    request: Request,
    session: SessionDep,
    collection_id: CollectionId,
    bbox: BBoxText = None,
    bbox_crs: BBoxCrs = None,
    crs: CrsParam = None,
    filter_text: FilterText = None,
    filter_lang: FilterLang = "cql2-text",
    filter_crs: FilterCrs = None,
    sortby: SortBy = None,
    properties: Properties = None,
    datetime: DateTime = None,
    limit: Limit = features.DEFAULT_LIMIT,
    offset: Offset = 0,
) -> GeoJSONResponse:
    """A GeoJSON FeatureCollection of ``limit`` features from ``offset``, in id order.

    ``numberMatched`` is how many features the filters keep, ``numberReturned`` how many are
    on this page; ``next`` and ``prev`` link the neighbouring pages. (No ``timeStamp``: it is
    optional, and would give every answer a new ``ETag``.) ``crs`` chooses the CRS
    of the coordinates (the ``Content-Crs`` header says which), ``bbox-crs`` that of ``bbox``.
    ``filter`` (CQL2 text or JSON, :mod:`geo.cql`) keeps the features it holds for,
    ``sortby`` orders them, ``properties`` chooses which properties each carries, ``datetime``
    keeps the features of a day or an interval (areas: the versions in force then).
    """
    collection = find_collection(collection_id)
    _refuse_unknown_parameters(request, ITEM_PARAMETERS)
    served = _crs(crs, "crs")
    box = _bbox(bbox, _crs(bbox_crs, "bbox-crs"))
    if _crs(filter_crs, "filter-crs").epsg is not None:
        raise InvalidCRS("filter-crs: the filter's geometries are read in CRS84 only")
    queryable = collection.queryables()
    chosen = _names(properties, queryable, "properties")
    try:
        tree = geocql.parse(filter_text, filter_lang) if filter_text is not None else None
        period = features.Period.parse(datetime) if datetime is not None else None
        # GeoJSON in CRS84 (the default, and what clients ask for) is rendered from the rows
        # as they come; a DataFrame between costs more than the query (bench/api.py).
        straight = served.epsg is None and not html.wants_html(request)
        page = features.items(
            session, collection, bbox=box, cql=tree, sortby=_sortby(sortby, queryable),
            period=period, limit=limit, offset=offset, rows=straight,
        )  # fmt: skip
    except geocql.CQLError as exc:
        raise InvalidFilter(str(exc)) from None
    except (DataError, ProgrammingError) as exc:  # what the database refused of a filter
        raise InvalidFilter(f"the database refused this filter: {exc.orig}") from None
    except ValueError as exc:
        raise InvalidParameter(str(exc)) from None
    if straight:
        rows = page.features
        texts = row_feature_texts(
            rows.columns, rows.values, rows.geometries, chosen, id_column=_key(collection)
        )
    else:
        frame = geocrs.to_served(page.features, served)
        if html.wants_html(request):
            return _items_page(request, collection, frame, page.matched, limit, offset)
        texts = feature_texts(frame, chosen, id_column=_key(collection), decimals=served.decimals)
    links = _page_links(request, collection, limit, offset, len(texts), page.matched)
    body = with_members(
        '{"type":"FeatureCollection","features":[' + ",".join(texts) + "]}",
        {
            **({} if page.matched is None else {"numberMatched": str(page.matched)}),
            "numberReturned": str(len(texts)),
            "links": _links_json(links),
        },
    )
    return GeoJSONResponse(body, headers={"Content-Crs": f"<{served.uri}>"})


@router.get(
    "/collections/{collectionId}/items/{featureId}",
    operation_id="getFeature",
    name="getFeature",
    response_class=GeoJSONResponse,
    responses={
        200: {"content": {GEOJSON_MEDIA_TYPE: {}}, "description": "One feature"},
        **problem_responses(404),
    },
    summary="One feature of a collection",
)
def get_feature(
    request: Request,
    session: SessionDep,
    collection_id: CollectionId,
    feature_id: Annotated[str, Path(alias="featureId", max_length=40)],
    crs: CrsParam = None,
) -> GeoJSONResponse:
    """The feature: a village by its Kemendagri code, an asset by its id."""
    collection = find_collection(collection_id)
    _refuse_unknown_parameters(request, {"crs", "f"})
    served = _crs(crs, "crs")
    frame = features.item(session, collection, feature_id)
    if frame.empty:
        raise FeatureNotFound(f"no feature {feature_id!r} in collection {collection.id}")
    if html.wants_html(request):
        record = frame.drop(columns="geometry").iloc[0].to_dict()
        rows = [[name, value] for name, value in record.items()]
        rows.append(["geometry", frame.geometry.iloc[0].geom_type])
        title = f"{collection.title}: {record.get('name') or feature_id}"
        return html.page(request, title, columns=["property", "value"], rows=rows)
    [text] = feature_texts(
        geocrs.to_served(frame, served), id_column=_key(collection), decimals=served.decimals
    )
    self = str(request.url_for("getFeature", collectionId=collection.id, featureId=feature_id))
    home = str(request.url_for("describeCollection", collectionId=collection.id))
    links = [
        Link(href=self, rel="self", type=GEOJSON_MEDIA_TYPE, title="This feature"),
        Link(href=home, rel="collection", type=JSON, title=collection.title),
    ]
    headers = {"Content-Crs": f"<{served.uri}>"}
    if collection.kind in WRITABLE_KINDS:  # the tag a write's If-Match must give back
        headers["ETag"] = etag(collection, frame["id"].iloc[0], frame["version"].iloc[0])
    return GeoJSONResponse(with_members(text, {"links": _links_json(links)}), headers=headers)


def find_collection(collection_id: str) -> features.Collection:
    """The collection of that id; :class:`~geo.errors.CollectionNotFound` (404) otherwise."""
    try:
        return features.COLLECTIONS[collection_id]
    except KeyError:
        known = ", ".join(features.COLLECTIONS)
        raise CollectionNotFound(f"no collection {collection_id!r}; collections: {known}") from None


@router.get(
    "/collections/{collectionId}/queryables",
    operation_id="getQueryables",
    name="getQueryables",
    responses={
        200: {"content": {"application/schema+json": {}}, "description": "A JSON Schema"},
        **problem_responses(404),
    },
    summary="What a filter or a sort may name in a collection",
)
def get_queryables(request: Request, collection_id: CollectionId) -> JSONResponse:
    """The queryables as a JSON Schema: each property's type, and the geometry."""
    collection = find_collection(collection_id)
    schema_properties: dict[str, Any] = {
        "geometry": {
            "title": "geometry",
            "format": f"geometry-{collection.geometry_type.lower()}",
        }
    }
    for name, column in collection.queryables().items():
        schema_properties[name] = {"title": name, **_json_type(column)}
    body = {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": str(request.url_for("getQueryables", collectionId=collection.id)),
        "type": "object",
        "title": collection.title,
        "properties": schema_properties,
        "additionalProperties": False,
    }
    return JSONResponse(body, media_type="application/schema+json")


def _json_type(column: Any) -> dict[str, str]:
    try:
        kind = column.type.python_type
    except NotImplementedError:
        return {"type": "string"}
    if kind is dt.datetime:
        return {"type": "string", "format": "date-time"}
    if kind is dt.date:
        return {"type": "string", "format": "date"}
    return {"type": JSON_TYPES.get(kind, "string")}


def _names(text: str | None, queryable: dict[str, Any], name: str) -> list[str] | None:
    """A comma list of queryables (``None``: not given); unknown names are a 400."""
    if text is None:
        return None
    names = [part.strip() for part in text.split(",") if part.strip()]
    unknown = [n for n in names if n not in queryable]
    if unknown:
        raise InvalidParameter(
            f"{name}: {', '.join(unknown)} not a queryable; queryables: {', '.join(queryable)}"
        )
    return names


def _sortby(text: str | None, queryable: dict[str, Any]) -> list[tuple[str, bool]]:
    """``sortby=-area_km2,+name`` as ``[(name, descending), ...]``."""
    if text is None:
        return []
    order = []
    for part in (p.strip() for p in text.split(",")):
        if not part:
            continue
        descending = part.startswith("-")
        order.append((part.lstrip("+-").strip(), descending))
    _names(",".join(name for name, _ in order), queryable, "sortby")
    return order


def _crs(text: str | None, name: str) -> geocrs.ServedCRS:
    try:
        return geocrs.parse_crs(text)
    except geocrs.UnsupportedCRS as exc:
        raise InvalidCRS(f"{name}: {exc}") from None


def _bbox(text: str | None, crs: geocrs.ServedCRS) -> BBox | None:
    """``bbox`` as longitude/latitude bounds, read in ``crs``."""
    if text is None:
        return None
    if crs.epsg is None:
        return parse_bbox(text)
    try:
        values = tuple(float(part) for part in text.split(","))
    except ValueError:
        raise InvalidBBox(f"bbox values must be numbers, got {text!r}") from None
    if len(values) != 4 or not all(math.isfinite(v) for v in values):
        raise InvalidBBox(f"bbox needs 4 finite numbers in {crs.uri}, got {text!r}")
    if values[0] >= values[2] or values[1] >= values[3]:
        raise InvalidBBox(f"bbox needs its lower corner first, got {text!r}")
    return geocrs.bbox_to_lonlat(values, crs)


def _key(collection: features.Collection) -> str:
    return "code" if collection.kind in ("area", "register") else "id"


def _describe(request: Request, session: Any, collection: features.Collection) -> Collection:
    box = features.extent(session, collection)
    start, end = features.time_span(session, collection)
    extent: dict[str, Any] = {}
    if box is not None:
        extent["spatial"] = {"bbox": [list(box)], "crs": CRS84}
    if start is not None:
        # date-times, as the schema has them: from the first day's start to the last's end
        days = [f"{start}T00:00:00Z", None if end is None else f"{end}T23:59:59Z"]
        extent["temporal"] = {"interval": [days], "trs": GREGORIAN}
    home = str(request.url_for("describeCollection", collectionId=collection.id))
    items = str(request.url_for("getFeatures", collectionId=collection.id))
    return Collection(
        id=collection.id,
        title=collection.title,
        description=f"{collection.title} / {collection.title_id} ({collection.geometry_type})",
        itemType="feature",
        crs=geocrs.supported_uris(),
        storageCrs=CRS84,
        extent=extent or None,
        links=[
            Link(href=home, rel="self", type=JSON, title=collection.title),
            Link(href=items, rel="items", type=GEOJSON_MEDIA_TYPE, title=collection.title),
            Link(
                href=str(request.url_for("getQueryables", collectionId=collection.id)),
                rel="http://www.opengis.net/def/rel/ogc/1.0/queryables",
                type="application/schema+json",
                title=f"{collection.title}: queryables",
            ),
            Link(
                href=str(request.url_for("getTilesets", collectionId=collection.id)),
                rel="http://www.opengis.net/def/rel/ogc/1.0/tilesets-vector",
                type=JSON,
                title=f"{collection.title}: vector tiles",
            ),
        ],
    )


def _page_links(
    request: Request,
    collection: features.Collection,
    limit: int,
    offset: int,
    returned: int,
    matched: int | None,
) -> list[Link]:
    base = request.url.remove_query_params("offset")
    links = [Link(href=str(request.url), rel="self", type=GEOJSON_MEDIA_TYPE, title="This page")]
    if (returned == limit) if matched is None else (offset + returned < matched):
        after = base.include_query_params(offset=offset + limit, limit=limit)
        links.append(Link(href=str(after), rel="next", type=GEOJSON_MEDIA_TYPE, title="Next page"))
    if offset > 0:
        before = base.include_query_params(offset=max(0, offset - limit), limit=limit)
        links.append(
            Link(href=str(before), rel="prev", type=GEOJSON_MEDIA_TYPE, title="Previous page")
        )
    home = str(request.url_for("describeCollection", collectionId=collection.id))
    links.append(Link(href=home, rel="collection", type=JSON, title=collection.title))
    return links


def _refuse_unknown_parameters(request: Request, known: set[str]) -> None:
    """OGC API Features: a parameter the server does not know is a 400, not ignored."""
    unknown = sorted(set(request.query_params) - known)
    if unknown:
        takes = ", ".join(sorted(known))
        raise InvalidParameter(f"unknown parameter {', '.join(unknown)}; the items take {takes}")


def _items_page(
    request: Request,
    collection: features.Collection,
    frame: Any,
    matched: int | None,
    limit: int,
    offset: int,
) -> Response:
    """A page of features as a table: the id (linking the feature) and the first properties."""
    key = _key(collection)
    shown = [c for c in frame.columns if c not in (key, "geometry")][:8]
    home = str(request.url_for("getFeatures", collectionId=collection.id))
    rows = [
        [{"href": f"{home}/{row[key]}?f=html", "text": row[key]}, *(row[c] for c in shown)]
        for row in frame.astype(object).where(frame.notna(), None).to_dict("records")
    ]
    links = _page_links(request, collection, limit, offset, len(rows), matched)
    for link in links:
        link.href = str(_as_html(link.href))
    first, last = offset + 1, offset + len(rows)
    return html.page(
        request, collection.title, description=f"features {first}-{last} of {_of(matched)}",
        columns=[key, *shown], rows=rows, links=links,
    )  # fmt: skip


def _of(matched: int | None) -> str:
    return f"more than {features.COUNT_CAP:,}" if matched is None else f"{matched:,}"


def _as_html(href: str) -> str:
    """A link of a page kept in HTML."""
    return str(URL(href).include_query_params(f="html"))


def _links_json(links: list[Link]) -> str:
    return json.dumps([link.model_dump(exclude_none=True) for link in links])


# ------------------------------------------------------------------------------------------
# Part 4: create, replace, update, delete
# ------------------------------------------------------------------------------------------

WRITABLE_KINDS = ("asset", "measurement")


def get_caller(request: Request, engine: EngineDep) -> Caller:
    """The caller of a write: a key in force in ``Authorization: Bearer <key>``, else 401.

    Looked up in a transaction of its own, closed before the write takes its connection.
    """
    scheme, _, key = request.headers.get("authorization", "").partition(" ")
    caller = None
    if scheme.lower() == "bearer":
        with transaction(engine) as session:
            caller = caller_of(session, key.strip())
    if caller is None:
        raise Unauthorized("a write needs a key in force: Authorization: Bearer <key>")
    return caller


CallerDep = Annotated[Caller, Depends(get_caller)]
FeatureBody = Annotated[
    dict[str, Any],
    Body(
        description="A GeoJSON Feature in CRS84: its geometry and the layer's properties",
        examples=[
            {
                "type": "Feature",
                "geometry": {"type": "Point", "coordinates": [112.63, -7.98]},
                "properties": {"name": "Coban Rondo", "category": "air terjun"},
            }
        ],
    ),
]
IfMatch = Annotated[
    str | None,
    Header(alias="If-Match", description="The ETag of the feature as read (required)"),
]
WRITE_RESPONSES = problem_responses(400, 401, 403, 404, 405, 409, 412, 422, 428)


@router.post(
    "/collections/{collectionId}/items",
    operation_id="createFeature",
    name="createFeature",
    status_code=201,
    response_class=GeoJSONResponse,
    responses={201: {"content": {GEOJSON_MEDIA_TYPE: {}}}, **WRITE_RESPONSES},
    summary="Add a feature (a key whose role writes the collection)",
)
def create_feature(
    request: Request, engine: EngineDep, caller: CallerDep, collection_id: CollectionId,
    body: FeatureBody,
) -> GeoJSONResponse:  # fmt: skip
    """Validated as a file import is, linked to its village, audited; 201 with its URL."""
    collection = _writable(collection_id, caller)
    properties, geometry = _feature_body(body, partial=False)
    written = edits.create(engine, caller, collection.id, properties, geometry)
    return _written(request, collection, written, status=201)


@router.put(
    "/collections/{collectionId}/items/{featureId}",
    operation_id="replaceFeature",
    name="replaceFeature",
    response_class=GeoJSONResponse,
    responses={200: {"content": {GEOJSON_MEDIA_TYPE: {}}}, **WRITE_RESPONSES},
    summary="Replace a feature (If-Match required)",
)
def replace_feature(
    request: Request, engine: EngineDep, caller: CallerDep,
    collection_id: CollectionId, feature_id: FeatureId, body: FeatureBody,
    if_match: IfMatch = None,
) -> GeoJSONResponse:  # fmt: skip
    """Every property and the geometry anew; what is not given becomes empty."""
    return _rewrite(request, engine, caller, collection_id, feature_id, body, if_match)


@router.patch(
    "/collections/{collectionId}/items/{featureId}",
    operation_id="updateFeature",
    name="updateFeature",
    response_class=GeoJSONResponse,
    responses={200: {"content": {GEOJSON_MEDIA_TYPE: {}}}, **WRITE_RESPONSES},
    summary="Update some of a feature's properties or its geometry (If-Match required)",
)
def update_feature(
    request: Request, engine: EngineDep, caller: CallerDep,
    collection_id: CollectionId, feature_id: FeatureId, body: FeatureBody,
    if_match: IfMatch = None,
) -> GeoJSONResponse:  # fmt: skip
    """The properties given (and the geometry, if given) change; the rest stays."""
    return _rewrite(
        request, engine, caller, collection_id, feature_id, body, if_match, partial=True
    )


def _rewrite(
    request: Request,
    engine: Any,
    caller: Caller,
    collection_id: str,
    feature_id: str,
    body: dict[str, Any],
    if_match: str | None,
    *,
    partial: bool = False,
) -> GeoJSONResponse:
    """A replace (or, ``partial``, an update): the role, the precondition, the write."""
    collection = _writable(collection_id, caller)
    row_id = _row_id(collection, feature_id)
    version = _matched_version(engine, collection, row_id, if_match)
    properties, geometry = _feature_body(body, partial=partial)
    written = edits.replace(
        engine, caller, collection.id, row_id, version, properties, geometry, partial=partial
    )
    return _written(request, collection, written)


@router.delete(
    "/collections/{collectionId}/items/{featureId}",
    operation_id="deleteFeature",
    name="deleteFeature",
    status_code=204,
    responses=WRITE_RESPONSES,
    summary="Delete a feature (If-Match required)",
)
def delete_feature(
    engine: EngineDep, caller: CallerDep, collection_id: CollectionId,
    feature_id: FeatureId, if_match: IfMatch = None,
) -> Response:  # fmt: skip
    """Removed, and kept in the audit log as it was."""
    collection = _writable(collection_id, caller)
    row_id = _row_id(collection, feature_id)
    version = _matched_version(engine, collection, row_id, if_match)
    edits.remove(engine, caller, collection.id, row_id, version)
    return Response(status_code=204)


def etag(collection: features.Collection, feature_id: Any, version: Any) -> str:
    """A feature's ETag: its collection, id and version (every write bumps the version)."""
    return f'"{collection.id}-{feature_id}-v{int(version)}"'


def _writable(collection_id: str, caller: Caller) -> features.Collection:
    """The collection, if the caller may write it: 405 read-only, 403 not the caller's."""
    collection = find_collection(collection_id)
    if collection.kind == "area":
        raise NotWritable(
            f"boundaries of {collection.id} change a file at a time, versioned and checked "
            f"against their parents: POST /collections/{collection.id}/import (admin keys)"
        )
    if collection.kind not in WRITABLE_KINDS:
        raise NotWritable(f"collection {collection.id} is read-only through the API")
    if not caller.may_write(collection.id):
        raise edits.EditForbidden(f"a {caller.role} key may not write {collection.id}")
    return collection


def _row_id(collection: features.Collection, feature_id: str) -> int:
    try:
        row_id = int(feature_id)
    except ValueError:
        row_id = -1
    if not 0 < row_id <= features.MAX_ID:
        raise FeatureNotFound(f"no feature {feature_id!r} in collection {collection.id}")
    return row_id


def _matched_version(
    engine: Any, collection: features.Collection, row_id: int, if_match: str | None
) -> int:
    """The version the client read, from ``If-Match``: 428 without it, 412 when not current.

    The tags are compared without a ``W/`` (a proxy that gzips weakens them); the write
    itself checks the version again as it writes.
    """
    if not if_match:
        raise PreconditionRequired(
            "a replace, update or delete needs If-Match: the ETag of the feature as read"
        )
    with transaction(engine) as session:
        version = edits.current_version(session, collection.id, row_id)
    current = etag(collection, row_id, version)
    tags = {tag.strip().removeprefix("W/") for tag in if_match.split(",")}
    if current not in tags and "*" not in tags:
        raise StaleEdit(
            f"{collection.id} {row_id} is now {current}, not {if_match}: someone changed it "
            "since it was read; read it again and redo the edit"
        )
    return version


def _feature_body(body: dict[str, Any], *, partial: bool) -> tuple[dict[str, Any], Any]:
    """A GeoJSON Feature's properties and shapely geometry (``None``: none, when partial)."""
    if body.get("type") != "Feature":
        raise InvalidParameter('the body must be a GeoJSON Feature ({"type": "Feature", ...})')
    properties = body.get("properties") or {}
    if not isinstance(properties, dict):
        raise InvalidParameter("the feature's properties must be an object")
    nested = sorted(k for k, v in properties.items() if isinstance(v, dict | list))
    if nested:
        raise InvalidParameter(
            f"properties {', '.join(nested)}: a value is text, a number or true/false, not a "
            "list or an object (write several photo links as one text, comma-separated)"
        )
    geometry = body.get("geometry")
    if geometry is None:
        if partial:
            return properties, None
        raise InvalidParameter("the feature needs a geometry")
    try:
        return properties, shapely.geometry.shape(geometry)
    except (AttributeError, KeyError, TypeError, ValueError, shapely.errors.GEOSException) as exc:
        raise InvalidParameter(f"the feature's geometry is not GeoJSON: {exc}") from None


def _written(
    request: Request, collection: features.Collection, written: edits.Written, status: int = 200
) -> GeoJSONResponse:
    url = str(request.url_for("getFeature", collectionId=collection.id, featureId=written.id))
    headers = {"ETag": etag(collection, written.id, written.version), "Content-Crs": f"<{CRS84}>"}
    if status == 201:
        headers["Location"] = url
    return GeoJSONResponse(json.dumps(written.feature), status_code=status, headers=headers)


# ------------------------------------------------------------------------------------------
# The audit log (admins)
# ------------------------------------------------------------------------------------------


@router.get(
    "/audit",
    operation_id="getAuditLog",
    name="getAuditLog",
    responses=problem_responses(401, 403),
    summary="Who changed what, when, from what to what (an admin key)",
)
def audit_log(
    session: SessionDep,
    caller: CallerDep,
    collection: Annotated[str | None, Query(max_length=40)] = None,
    feature: Annotated[str | None, Query(max_length=40)] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> JSONResponse:
    """The audit entries, newest first, with the feature before and after each write."""
    _admin(caller)
    entries = edits.audit_entries(session, collection=collection, feature_id=feature, limit=limit)
    return JSONResponse({"entries": entries})


@router.post(
    "/audit/{entryId}/revert",
    operation_id="revertChange",
    name="revertChange",
    responses=problem_responses(401, 403, 404, 409, 412),
    summary="Undo one change, if the feature has not changed since (an admin key)",
)
def revert_change(
    engine: EngineDep,
    caller: CallerDep,
    entry_id: Annotated[int, Path(alias="entryId", ge=1, le=features.MAX_ID)],
) -> JSONResponse:
    """A create is undone by deleting, an update by writing back, a delete by re-adding."""
    _admin(caller)
    restored = edits.revert(engine, caller, entry_id)
    return JSONResponse({"reverted": entry_id, "feature": restored})


def _admin(caller: Caller) -> None:
    if caller.role != "admin":
        raise edits.EditForbidden("the audit log is an admin's: use an admin key")


# ------------------------------------------------------------------------------------------
# Downloads
# ------------------------------------------------------------------------------------------

DOWNLOAD_PAGE = 5_000
"""Features read per query while a download streams."""
DOWNLOAD_TYPES = {
    "geojson": (GEOJSON_MEDIA_TYPE, "geojson"),
    "csv": ("text/csv; charset=utf-8", "csv"),
    "gpkg": ("application/geopackage+sqlite3", "gpkg"),
}


@router.get(
    "/collections/{collectionId}/download",
    operation_id="downloadCollection",
    name="downloadCollection",
    response_class=Response,
    responses={
        200: {
            "content": {media: {} for media, _ in DOWNLOAD_TYPES.values()},
            "description": "Every feature the filters keep, as a file",
        },
        **problem_responses(400, 404),
    },
    summary="The whole collection (or what bbox and filter keep) as GeoJSON, CSV or GeoPackage",
)
def download(
    request: Request,
    engine: EngineDep,
    collection_id: CollectionId,
    bbox: BBoxText = None,
    filter_text: FilterText = None,
    filter_lang: FilterLang = "cql2-text",
    file_format: Annotated[
        str,
        Query(alias="format", pattern="^(geojson|csv|gpkg)$", description="geojson, csv or gpkg"),
    ] = "geojson",
) -> Response:
    """Streamed a page of features at a time, so a national layer never sits in memory.

    GeoJSON and CSV (geometry as WKT) stream as they are read; a GeoPackage is written to a
    temporary file page by page and sent from it.
    """
    collection = find_collection(collection_id)
    _refuse_unknown_parameters(request, {"bbox", "filter", "filter-lang", "format"})
    box = _bbox(bbox, geocrs.parse_crs(None))
    try:
        tree = geocql.parse(filter_text, filter_lang) if filter_text is not None else None
        with transaction(engine) as session:  # a bad filter is a 400 before anything streams
            features.items(session, collection, bbox=box, cql=tree, limit=1)
    except geocql.CQLError as exc:
        raise InvalidFilter(str(exc)) from None
    media, suffix = DOWNLOAD_TYPES[file_format]
    headers = {"Content-Disposition": f'attachment; filename="{collection.id}.{suffix}"'}
    pages = _pages(engine, collection, box, tree)
    if file_format == "gpkg":
        path = _geopackage(collection, pages)
        return FileResponse(
            path, media_type=media, headers=headers, background=BackgroundTask(path.unlink)
        )
    stream = _geojson_stream(collection, pages) if file_format == "geojson" else _csv_stream(pages)
    return StreamingResponse(stream, media_type=media, headers=headers)


def _pages(
    engine: Any, collection: features.Collection, box: BBox | None, tree: Any
) -> Iterator[Any]:
    """The features a page at a time, read in one transaction (one consistent snapshot)."""
    with transaction(engine) as session:
        offset = 0
        while True:
            page = features.items(
                session, collection, bbox=box, cql=tree, limit=DOWNLOAD_PAGE, offset=offset
            )
            if page.features.empty:
                return
            yield page.features
            offset += DOWNLOAD_PAGE


def _geojson_stream(collection: features.Collection, pages: Iterator[Any]) -> Iterator[bytes]:
    yield b'{"type":"FeatureCollection","features":['
    first = True
    for frame in pages:
        texts = feature_texts(frame, id_column=_key(collection))
        yield (("" if first else ",") + ",".join(texts)).encode()
        first = False
    yield b"]}"


def _csv_stream(pages: Iterator[Any]) -> Iterator[bytes]:
    header = True
    for frame in pages:
        table = frame.drop(columns="geometry").assign(geometry_wkt=frame.geometry.to_wkt())
        yield table.to_csv(index=False, header=header).encode()
        header = False


def _geopackage(collection: features.Collection, pages: Iterator[Any]) -> PathType:
    folder = PathType(tempfile.mkdtemp(prefix="petadesa-download-"))
    path = folder / f"{collection.id}.gpkg"
    written = False
    for frame in pages:
        pyogrio.write_dataframe(frame, path, layer=collection.id, append=written)
        written = True
    if not written:  # nothing matched: an empty layer, still a file QGIS opens
        gpd.GeoDataFrame({"id": []}, geometry=[], crs="EPSG:4326").to_file(
            path, layer=collection.id
        )
    return path


# ------------------------------------------------------------------------------------------
# Bulk import
# ------------------------------------------------------------------------------------------

UPLOAD_SUFFIXES = (".geojson", ".json", ".gpkg", ".zip", ".kml", ".csv", ".shp")


@router.post(
    "/collections/{collectionId}/import",
    operation_id="importFeatures",
    name="importFeatures",
    responses=problem_responses(400, 401, 403, 405, 413, 422),
    summary="Import a file into a collection, as `petadesa assets import` "
    "(or, for the areas, `petadesa import boundaries`) does",
)
def import_features(
    engine: EngineDep,
    caller: CallerDep,
    collection_id: CollectionId,
    file: Annotated[
        UploadFile, File(description="GeoJSON, GeoPackage, zipped Shapefile, KML or CSV")
    ],
    skip_invalid: Annotated[bool, Query(alias="skip-invalid")] = False,
    code_field: Annotated[
        str | None,
        Query(alias="code-field", max_length=100, description="Areas: the code's column"),
    ] = None,
    name_field: Annotated[
        str | None,
        Query(alias="name-field", max_length=100, description="Areas: the name's column"),
    ] = None,
) -> JSONResponse:
    """One transaction: refused whole (422, with the per-feature report) unless skip-invalid.

    The same frame as the command line: columns matched by name, every feature validated,
    upserted by ``(source, source_id)``, linked to its village. The import is audited as one
    entry. A key scoped to a regency adds features one at a time instead (POST items).

    Boundaries (``province``, ``regency``, ``district``, ``village``; admin keys only) change
    this way alone, a file at a time, as ``petadesa import boundaries`` changes them: each
    feature's level is read from its Kemendagri code, codes and parents are checked,
    geometries repaired, and the assets are linked again.
    """
    if find_collection(collection_id).kind == "area":
        return _import_boundaries(engine, caller, collection_id, file, skip_invalid,
                                  code_field, name_field)  # fmt: skip
    collection = _writable(collection_id, caller)
    if caller.regency_code is not None:
        raise edits.EditForbidden(
            f"a key of regency {caller.regency_code} adds features one at a time "
            "(POST /collections/{id}/items), each checked to lie in the regency"
        )
    with _uploaded(file) as (path, name):
        report = import_assets(
            engine, collection.id, path, source_name=f"upload:{name}", skip_invalid=skip_invalid
        )
    return _audited(engine, caller, collection.id, name, report.to_dict())


@contextmanager
def _uploaded(file: UploadFile) -> Iterator[tuple[PathType, str]]:
    """The upload as a file of its own name in a temporary folder (removed after)."""
    name = PathType((file.filename or "upload").replace("\x00", "")).name or "upload"
    suffix = PathType(name).suffix.lower()
    name = PathType(name).stem[:100] + suffix  # a name the file system takes
    if suffix not in UPLOAD_SUFFIXES:
        raise InvalidParameter(f"{name}: send one of {', '.join(UPLOAD_SUFFIXES)}")
    folder = PathType(tempfile.mkdtemp(prefix="petadesa-upload-"))
    try:
        path = folder / name
        with path.open("wb") as out:
            shutil.copyfileobj(file.file, out)
        yield path, name
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _import_boundaries(
    engine: Any,
    caller: Caller,
    collection_id: str,
    file: UploadFile,
    skip_invalid: bool,
    code_field: str | None,
    name_field: str | None,
) -> JSONResponse:
    if caller.role != "admin":
        raise edits.EditForbidden(
            f"only an admin key may import boundaries, not a {caller.role} key"
        )
    with _uploaded(file) as (path, name):
        report = import_boundaries(
            engine, path, code_field=code_field, name_field=name_field,
            source_name=f"upload:{name}", skip_invalid=skip_invalid,
        )  # fmt: skip
    return _audited(engine, caller, collection_id, name, report.to_dict())


@router.post(
    "/census/import",
    operation_id="importCensus",
    name="importCensus",
    responses=problem_responses(400, 401, 403, 413, 422),
    summary="Import a village census (BPS PODES), as `petadesa census import` does",
)
def import_census_file(
    engine: EngineDep,
    caller: CallerDep,
    file: Annotated[UploadFile, File(description="CSV, GeoPackage or any table GDAL reads")],
    survey: Annotated[
        str | None, Query(max_length=100, description="Its name (default: PODES <year>)")
    ] = None,
    survey_year: Annotated[int | None, Query(alias="survey-year", ge=1900, le=2100)] = None,
    skip_invalid: Annotated[bool, Query(alias="skip-invalid")] = False,
) -> JSONResponse:
    """One row per village, keyed by Kemendagri code, in one transaction (planner, admin).

    The same checks and report as the command line (422 with it when a row is refused); the
    coverage register reads the census on its next run. Audited as one entry.
    """
    if not caller.may_write(CENSUS):
        raise edits.EditForbidden(f"a {caller.role} key may not import the census")
    if caller.regency_code is not None:
        raise edits.EditForbidden(
            f"a key of regency {caller.regency_code} may not import a census: it may hold "
            "villages of other regencies"
        )
    with _uploaded(file) as (path, name):
        report = import_census(
            engine, path, survey=survey, survey_year=survey_year,
            source_name=f"upload:{name}", skip_invalid=skip_invalid,
        )  # fmt: skip
    return _audited(engine, caller, CENSUS, name, report.to_dict())


def _audited(
    engine: Any, caller: Caller, collection: str, name: str, result: dict[str, Any]
) -> JSONResponse:
    """The import's report, once it is in the audit log (one entry for the file)."""
    with transaction(engine) as session:
        edits.audit_import(session, caller, collection, name, result)
    return JSONResponse(result)
