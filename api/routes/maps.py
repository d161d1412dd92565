"""The registry's maps as HTML pages, with their JS/CSS served from this server (no CDN)."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query
from fastapi.responses import HTMLResponse

from api.deps import DistrictFilter, RegencyCode, SessionDep
from api.errors import InvalidParameter, problem_responses
from maps import registry_map, render_html

ASSETS_PATH = "/maps/assets"
"""Where :func:`api.main.create_app` mounts the map assets (see ``maps.assets.write_assets``)."""

router = APIRouter()


@router.get(
    "/registry",
    operation_id="getRegistryMap",
    name="getRegistryMap",
    response_class=HTMLResponse,
    responses=problem_responses(400, 404, 503),
    summary="Registry map of a regency (HTML)",
)
def get_registry_map(
    session: SessionDep,
    regency: RegencyCode,
    district: DistrictFilter,
    lang: Annotated[Literal["id", "en"], Query(description="Bahasa Indonesia or English")] = "id",
) -> HTMLResponse:
    """Villages of the regency coloured by their assets, asset layers, legend; works offline."""
    # Both codes arrive normalised (3507 -> 35.07), so the prefix check compares like with like.
    if district is not None and not district.startswith(f"{regency}."):
        raise InvalidParameter(f"district {district} is not in regency {regency}")
    fmap = registry_map(session, regency=regency, district=district, lang=lang)
    return HTMLResponse(render_html(fmap, asset_base=ASSETS_PATH))
