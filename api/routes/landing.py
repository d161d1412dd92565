"""The landing page: what the API is and links to everything it serves."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from api import html
from api.errors import problem_responses
from api.geojson import GEOJSON_MEDIA_TYPE
from api.schemas import LandingPage, Link

router = APIRouter()

JSON = "application/json"
# (path, rel, media type, title); paths with {...} are templates.
# OGC API clients (GDAL, QGIS, OWSLib) follow the one ``data`` link to the collections and
# ``conformance`` to what is implemented; the registry's own endpoints are ``related``.
ENDPOINTS: tuple[tuple[str, str, str, str], ...] = (
    ("/conformance", "conformance", JSON, "OGC API conformance classes"),
    ("/collections", "data", JSON, "OGC API Features: every layer as a collection"),
    ("/health", "status", JSON, "Whether the registry database answers"),
    ("/summary", "related", JSON, "Counts per level and layer (?regency=35.07)"),
    ("/regencies", "related", GEOJSON_MEDIA_TYPE, "Regencies and cities (kabupaten/kota)"),
    ("/districts", "related", GEOJSON_MEDIA_TYPE, "Districts (kecamatan) (?regency=)"),
    (
        "/villages",
        "related",
        GEOJSON_MEDIA_TYPE,
        "Villages (desa/kelurahan) (?regency=&district=)",
    ),
    ("/villages/{code}", "related", GEOJSON_MEDIA_TYPE, "A village with its linked assets"),
    ("/layers", "related", JSON, "Asset layers"),
    ("/layers/{layer}/items", "related", GEOJSON_MEDIA_TYPE, "Assets of one layer (?bbox=...)"),
    (
        "/villages-without/{layer}",
        "related",
        GEOJSON_MEDIA_TYPE,
        "Villages with no asset of a layer",
    ),
    (
        "/maps/registry?regency=35.07",
        "related",
        "text/html",
        "Registry map of a regency (?lang=en)",
    ),
)


@router.get(
    "/",
    operation_id="getLandingPage",
    name="getLandingPage",
    response_model=LandingPage,
    response_model_exclude_none=True,
    responses=problem_responses(),
    summary="Landing page",
)
def landing_page(request: Request) -> LandingPage | Response:
    """Title, description and links to the endpoints and the OpenAPI document."""
    app = request.app
    links = [Link(href=_href(request, "/"), rel="self", type=JSON, title="This document")]
    if app.openapi_url:
        links.append(
            Link(
                href=_href(request, app.openapi_url),
                rel="service-desc",
                type="application/vnd.oai.openapi+json;version=3.1",
                title="The OpenAPI document",
            )
        )
    if app.docs_url:
        links.append(
            Link(
                href=_href(request, app.docs_url),
                rel="service-doc",
                type="text/html",
                title="Interactive API documentation",
            )
        )
    links += [
        Link(
            href=_href(request, path),
            rel=rel,
            type=media_type,
            title=title,
            templated=True if "{" in path else None,
        )
        for path, rel, media_type, title in ENDPOINTS
    ]
    if html.wants_html(request):
        return html.page(request, app.title, description=app.description, links=links)
    return LandingPage(title=app.title, description=app.description, links=links)


def _href(request: Request, path: str) -> str:
    return str(request.base_url).rstrip("/") + path
