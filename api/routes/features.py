"""OGC API - Features - Part 1: Core, over the registry's collections (:mod:`geo.features`).

``/conformance``, ``/collections``, ``/collections/{collectionId}``, its ``/items`` (paged by
``limit`` and ``offset`` with ``next``/``prev`` links, filtered by ``bbox``, counted in
``numberMatched``) and ``/items/{featureId}``, as GeoJSON in CRS84. The conformance document
claims what the tests prove: Core, GeoJSON and the OpenAPI 3.0 description.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request

from api.deps import BBoxFilter, SessionDep
from api.errors import InvalidParameter, problem_responses
from api.geojson import GEOJSON_MEDIA_TYPE, GeoJSONResponse, feature_texts, with_members
from api.schemas import Collection, CollectionList, Conformance, Link
from geo import features
from geo.errors import CollectionNotFound, FeatureNotFound

router = APIRouter()

JSON = "application/json"
CRS84 = "http://www.opengis.net/def/crs/OGC/1.3/CRS84"
CONFORMANCE = [
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/core",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/geojson",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/oas30",
]
CollectionId = Annotated[
    str,
    Path(
        alias="collectionId",
        max_length=40,
        description="A layer of the registry: " + ", ".join(features.COLLECTIONS),
    ),
]
Limit = Annotated[
    int,
    Query(
        ge=1,
        le=features.MAX_LIMIT,
        description=f"Features per page (default {features.DEFAULT_LIMIT}).",
    ),
]
Offset = Annotated[int, Query(ge=0, description="Features to skip (the next link sets it).")]


@router.get(
    "/conformance",
    operation_id="getConformance",
    name="getConformance",
    response_model=Conformance,
    responses=problem_responses(),
    summary="The OGC API conformance classes this service implements",
)
def conformance() -> Conformance:
    """OGC API Features Part 1: Core, GeoJSON, OpenAPI 3.0."""
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
def collections(request: Request, session: SessionDep) -> CollectionList:
    """Each collection with its titles, spatial extent, item type and links."""
    described = [
        _describe(request, session, collection) for collection in features.COLLECTIONS.values()
    ]
    self = str(request.url_for("getCollections"))
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
) -> Collection:
    """A collection's titles, spatial extent, item type and links."""
    return _describe(request, session, _collection(collection_id))


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
    bbox: BBoxFilter,
    limit: Limit = features.DEFAULT_LIMIT,
    offset: Offset = 0,
) -> GeoJSONResponse:
    """A GeoJSON FeatureCollection of ``limit`` features from ``offset``, in id order.

    ``numberMatched`` is how many features the filters keep, ``numberReturned`` how many are
    on this page; ``next`` and ``prev`` link the neighbouring pages.
    """
    collection = _collection(collection_id)
    _refuse_unknown_parameters(request, {"bbox", "limit", "offset", "f"})
    page = features.items(session, collection, bbox=bbox, limit=limit, offset=offset)
    texts = feature_texts(page.features, id_column=_key(collection))
    links = _page_links(request, collection, limit, offset, len(texts), page.matched)
    body = with_members(
        '{"type":"FeatureCollection","features":[' + ",".join(texts) + "]}",
        {
            "numberMatched": str(page.matched),
            "numberReturned": str(len(texts)),
            "timeStamp": json.dumps(_now()),
            "links": _links_json(links),
        },
    )
    return GeoJSONResponse(body)


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
) -> GeoJSONResponse:
    """The feature: a village by its Kemendagri code, an asset by its id."""
    collection = _collection(collection_id)
    frame = features.item(session, collection, feature_id)
    if frame.empty:
        raise FeatureNotFound(f"no feature {feature_id!r} in collection {collection.id}")
    [text] = feature_texts(frame, id_column=_key(collection))
    self = str(request.url_for("getFeature", collectionId=collection.id, featureId=feature_id))
    home = str(request.url_for("describeCollection", collectionId=collection.id))
    links = [
        Link(href=self, rel="self", type=GEOJSON_MEDIA_TYPE, title="This feature"),
        Link(href=home, rel="collection", type=JSON, title=collection.title),
    ]
    return GeoJSONResponse(
        with_members(
            text, {"links": json.dumps([link.model_dump(exclude_none=True) for link in links])}
        )
    )


def _collection(collection_id: str) -> features.Collection:
    try:
        return features.COLLECTIONS[collection_id]
    except KeyError:
        known = ", ".join(features.COLLECTIONS)
        raise CollectionNotFound(f"no collection {collection_id!r}; collections: {known}") from None


def _key(collection: features.Collection) -> str:
    return "code" if collection.kind == "area" else "id"


def _describe(request: Request, session: Any, collection: features.Collection) -> Collection:
    box = features.extent(session, collection)
    home = str(request.url_for("describeCollection", collectionId=collection.id))
    items = str(request.url_for("getFeatures", collectionId=collection.id))
    return Collection(
        id=collection.id,
        title=collection.title,
        description=f"{collection.title} / {collection.title_id} ({collection.geometry_type})",
        itemType="feature",
        crs=[CRS84],
        extent=None if box is None else {"spatial": {"bbox": [list(box)], "crs": CRS84}},
        links=[
            Link(href=home, rel="self", type=JSON, title=collection.title),
            Link(href=items, rel="items", type=GEOJSON_MEDIA_TYPE, title=collection.title),
        ],
    )


def _page_links(
    request: Request,
    collection: features.Collection,
    limit: int,
    offset: int,
    returned: int,
    matched: int,
) -> list[Link]:
    base = request.url.remove_query_params("offset")
    links = [Link(href=str(request.url), rel="self", type=GEOJSON_MEDIA_TYPE, title="This page")]
    if offset + returned < matched:
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


def _links_json(links: list[Link]) -> str:
    return json.dumps([link.model_dump(exclude_none=True) for link in links])


def _now() -> str:
    return dt.datetime.now(dt.UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")
