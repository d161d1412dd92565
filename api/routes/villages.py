"""Villages (*desa/kelurahan*): the list, and one village with its linked assets."""

from __future__ import annotations

from fastapi import APIRouter

from api.deps import DistrictFilter, RegencyFilter, SessionDep, VillageCode
from api.errors import problem_responses
from api.geojson import (
    VILLAGE_PROPERTIES,
    GeoJSONResponse,
    asset_properties,
    feature_collection,
    feature_texts,
    object_of_arrays,
    with_members,
)
from api.schemas import VillageCollection, VillageDetail
from geo import queries
from geo.store.models import ASSET_LAYERS

router = APIRouter()


@router.get(
    "",
    operation_id="listVillages",
    name="listVillages",
    response_model=VillageCollection,
    response_class=GeoJSONResponse,
    responses=problem_responses(400),
    summary="Villages",
)
def list_villages(
    session: SessionDep, regency: RegencyFilter, district: DistrictFilter
) -> GeoJSONResponse:
    """List the current villages as GeoJSON, optionally of a regency or district."""
    frame = queries.villages(session, regency=regency, district=district)
    return GeoJSONResponse(feature_collection(frame, VILLAGE_PROPERTIES, id_column="code"))


@router.get(
    "/{code}",
    operation_id="getVillage",
    name="getVillage",
    response_model=VillageDetail,
    response_class=GeoJSONResponse,
    responses=problem_responses(400, 404),
    summary="A village and its assets",
)
def get_village(session: SessionDep, code: VillageCode) -> GeoJSONResponse:
    """Get a village as a GeoJSON Feature; ``assets`` holds its linked assets per layer.

    Every layer is present, with an empty list where the village has none.
    """
    village = queries.village(session, code)
    assets = {}
    for layer in ASSET_LAYERS:
        frame = queries.assets(session, layer, village=code)
        assets[layer] = feature_texts(frame, asset_properties(frame), id_column="id")
    feature = feature_texts(village, VILLAGE_PROPERTIES, id_column="code")[0]
    return GeoJSONResponse(with_members(feature, {"assets": object_of_arrays(assets)}))
