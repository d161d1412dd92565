"""OGC API - Tiles over the collections: vector tiles (MVT) in WebMercatorQuad, and TileJSON.

``/collections/{collectionId}/tiles`` lists the one tileset, ``.../tiles/WebMercatorQuad``
describes it, ``.../tilejson.json`` is its TileJSON 3.0 (what MapLibre and Leaflet plugins
read), and ``.../tiles/WebMercatorQuad/{tileMatrix}/{tileRow}/{tileCol}`` is a tile
(:mod:`geo.tiles`), with an ``ETag`` of the collection's state (304 when unchanged) and
``Cache-Control``.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Request, Response
from fastapi.responses import JSONResponse
from sqlalchemy.orm import Session, sessionmaker
from starlette.concurrency import run_in_threadpool

from api.deps import SessionDep
from api.errors import InvalidParameter, problem_responses
from api.routes.features import CollectionId, find_collection
from geo import features, tiles

router = APIRouter()

MVT = "application/vnd.mapbox-vector-tile"
MATRIX_SET = "WebMercatorQuad"
MATRIX_SET_URI = "http://www.opengis.net/def/tilematrixset/OGC/1.0/WebMercatorQuad"
CACHE_CONTROL = "public, max-age=60"
"""A minute: a client revalidates with the ETag after that, and gets 304 while unchanged."""
TILE_PATH = "/collections/{collectionId}/tiles/WebMercatorQuad/{tileMatrix}/{tileRow}/{tileCol}"
MatrixSet = Annotated[str, Path(alias="tileMatrixSetId", max_length=40)]


@router.get(
    "/collections/{collectionId}/tiles",
    operation_id="getTilesets",
    name="getTilesets",
    responses=problem_responses(404),
    summary="The vector tilesets of a collection",
)
def tilesets(request: Request, collection_id: CollectionId) -> JSONResponse:
    """One tileset: WebMercatorQuad, vector tiles (MVT)."""
    collection = find_collection(collection_id)
    return JSONResponse(
        {"links": _links(request, collection), "tilesets": [_tileset(request, collection)]}
    )


@router.get(
    "/collections/{collectionId}/tiles/{tileMatrixSetId}",
    operation_id="getTileset",
    name="getTileset",
    responses=problem_responses(404),
    summary="The WebMercatorQuad tileset of a collection",
)
def tileset(request: Request, collection_id: CollectionId, matrix_set: MatrixSet) -> JSONResponse:
    """The tileset's grid, data type, layer and the tile URL template."""
    collection = find_collection(collection_id)
    _matrix_set(matrix_set)
    return JSONResponse(_tileset(request, collection))


@router.get(
    "/collections/{collectionId}/tiles/{tileMatrixSetId}/tilejson.json",
    operation_id="getTileJSON",
    name="getTileJSON",
    responses=problem_responses(404),
    summary="TileJSON 3.0 of the collection's vector tiles",
)
def tilejson(
    request: Request, session: SessionDep, collection_id: CollectionId, matrix_set: MatrixSet
) -> JSONResponse:
    """What a web map needs: the tile URL, zooms, bounds and the layer's fields."""
    collection = find_collection(collection_id)
    _matrix_set(matrix_set)
    box = features.extent(session, collection)
    body: dict[str, Any] = {
        "tilejson": "3.0.0",
        "name": collection.id,
        "description": f"{collection.title} / {collection.title_id}",
        "tiles": [_template(request, collection)],
        "minzoom": 0,
        "maxzoom": tiles.MAX_ZOOM,
        "vector_layers": [
            {
                "id": collection.id,
                "fields": {name: "" for name in tiles.properties(collection)},
                "minzoom": 0,
                "maxzoom": tiles.MAX_ZOOM,
            }
        ],
    }
    if box is not None:
        body["bounds"] = list(box)
    return JSONResponse(body)


@router.get(
    TILE_PATH.replace("WebMercatorQuad", "{tileMatrixSetId}"),
    operation_id="getTile",
    name="getTile",
    response_class=Response,
    responses={
        200: {"content": {MVT: {}}, "description": "A vector tile"},
        **problem_responses(400, 404),
    },
    summary="One vector tile (MVT) of a collection",
)
async def get_tile(
    request: Request,
    collection_id: CollectionId,
    matrix_set: MatrixSet,
    z: Annotated[int, Path(alias="tileMatrix", ge=0, le=tiles.MAX_ZOOM)],
    y: Annotated[int, Path(alias="tileRow", ge=0)],
    x: Annotated[int, Path(alias="tileCol", ge=0)],
) -> Response:
    """The collection's features in the tile (204 when there are none).

    Asynchronous, with the database work in one worker thread (its session opened there):
    a tile is a small answer asked for many at a time, and each hop between threads counts.
    """
    collection = find_collection(collection_id)
    _matrix_set(matrix_set)
    sessions: sessionmaker[Session] = request.app.state.sessions

    def read() -> tuple[bytes, str]:
        with sessions() as session:
            return tiles.tile(session, collection, z, x, y)

    try:
        data, version = await run_in_threadpool(read)
    except tiles.TileOutOfRange as exc:
        raise InvalidParameter(str(exc)) from None
    tag = f'"{collection.id}-{z}-{x}-{y}-{version}"'
    headers = {"ETag": tag, "Cache-Control": CACHE_CONTROL}
    if tag in {t.strip() for t in request.headers.get("if-none-match", "").split(",")}:
        return Response(status_code=304, headers=headers)
    if not data:
        return Response(status_code=204, headers=headers)
    return Response(content=data, media_type=MVT, headers=headers)


def _matrix_set(name: str) -> None:
    if name != MATRIX_SET:
        raise InvalidParameter(f"tile matrix set {name!r} is not served; use {MATRIX_SET}")


def _template(request: Request, collection: features.Collection) -> str:
    base = str(request.url_for("getTilesets", collectionId=collection.id))
    return base + "/WebMercatorQuad/{z}/{y}/{x}"


def _links(request: Request, collection: features.Collection) -> list[dict[str, Any]]:
    return [
        {
            "href": str(request.url_for("getTilesets", collectionId=collection.id)),
            "rel": "self",
            "type": "application/json",
        }
    ]


def _tileset(request: Request, collection: features.Collection) -> dict[str, Any]:
    base = str(request.url_for("getTilesets", collectionId=collection.id))
    return {
        "title": f"{collection.title} (vector tiles)",
        "dataType": "vector",
        "crs": "http://www.opengis.net/def/crs/EPSG/0/3857",
        "tileMatrixSetURI": MATRIX_SET_URI,
        "layers": [{"id": collection.id, "dataType": "vector"}],
        "links": [
            {"href": f"{base}/WebMercatorQuad", "rel": "self", "type": "application/json"},
            {
                "href": base + "/WebMercatorQuad/{tileMatrix}/{tileRow}/{tileCol}",
                "rel": "item",
                "type": MVT,
                "templated": True,
            },
            {
                "href": f"{base}/WebMercatorQuad/tilejson.json",
                "rel": "describedby",
                "type": "application/json",
                "title": "TileJSON",
            },
        ],
    }
