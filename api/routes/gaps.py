"""Villages lacking an asset layer: no destination, no flagship product, no tower..."""

from __future__ import annotations

from fastapi import APIRouter

from api.deps import DistrictFilter, LayerName, RegencyFilter, SessionDep
from api.errors import problem_responses
from api.geojson import VILLAGE_PROPERTIES, GeoJSONResponse, feature_collection
from api.schemas import VillageCollection
from geo import queries

router = APIRouter()


@router.get(
    "/{layer}",
    operation_id="listVillagesWithout",
    name="listVillagesWithout",
    response_model=VillageCollection,
    response_class=GeoJSONResponse,
    responses=problem_responses(400, 404),
    summary="Villages without an asset layer",
)
def list_villages_without(
    session: SessionDep, layer: LayerName, regency: RegencyFilter, district: DistrictFilter
) -> GeoJSONResponse:
    """List the current villages with no asset of ``layer`` linked to them, as GeoJSON."""
    frame = queries.villages_without(session, layer, regency=regency, district=district)
    return GeoJSONResponse(feature_collection(frame, VILLAGE_PROPERTIES, id_column="code"))
