"""Regencies and cities (*kabupaten/kota*)."""

from __future__ import annotations

from fastapi import APIRouter

from api.deps import ProvinceFilter, SessionDep
from api.errors import problem_responses
from api.geojson import REGENCY_PROPERTIES, GeoJSONResponse, feature_collection
from api.schemas import RegencyCollection
from geo import queries

router = APIRouter()


@router.get(
    "",
    operation_id="listRegencies",
    name="listRegencies",
    response_model=RegencyCollection,
    response_class=GeoJSONResponse,
    responses=problem_responses(400),
    summary="Regencies and cities",
)
def list_regencies(session: SessionDep, province: ProvinceFilter) -> GeoJSONResponse:
    """List the current regencies as a GeoJSON FeatureCollection, optionally of one province."""
    frame = queries.regencies(session, province=province)
    return GeoJSONResponse(feature_collection(frame, REGENCY_PROPERTIES, id_column="code"))
