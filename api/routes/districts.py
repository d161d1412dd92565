"""Districts (*kecamatan*)."""

from __future__ import annotations

from fastapi import APIRouter

from api.deps import RegencyFilter, SessionDep
from api.errors import problem_responses
from api.geojson import DISTRICT_PROPERTIES, GeoJSONResponse, feature_collection
from api.schemas import DistrictCollection
from geo import queries

router = APIRouter()


@router.get(
    "",
    operation_id="listDistricts",
    name="listDistricts",
    response_model=DistrictCollection,
    response_class=GeoJSONResponse,
    responses=problem_responses(400),
    summary="Districts",
)
def list_districts(session: SessionDep, regency: RegencyFilter) -> GeoJSONResponse:
    """List the current districts as a GeoJSON FeatureCollection, optionally of one regency."""
    frame = queries.districts(session, regency=regency)
    return GeoJSONResponse(feature_collection(frame, DISTRICT_PROPERTIES, id_column="code"))
