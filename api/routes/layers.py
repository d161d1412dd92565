"""Asset layers: what there is, and the items of one layer."""

from __future__ import annotations

from fastapi import APIRouter, Request

from api.deps import (
    BBoxFilter,
    DistrictFilter,
    LayerName,
    RegencyFilter,
    SessionDep,
    VillageFilter,
)
from api.errors import problem_responses
from api.geojson import GEOJSON_MEDIA_TYPE, GeoJSONResponse, asset_properties, feature_collection
from api.schemas import AssetCollection, LayerDescription, LayerList, Link
from geo import queries
from geo.store.models import ASSET_LAYERS, LayerInfo

router = APIRouter()


@router.get(
    "",
    operation_id="listLayers",
    name="listLayers",
    response_model=LayerList,
    response_model_exclude_none=True,
    responses=problem_responses(),
    summary="Asset layers",
)
def list_layers(request: Request) -> LayerList:
    """Every asset layer with its titles, geometry type and a link to its items."""
    return LayerList(layers=[_describe(request, info) for info in ASSET_LAYERS.values()])


@router.get(
    "/{layer}/items",
    operation_id="listLayerItems",
    name="listLayerItems",
    response_model=AssetCollection,
    response_class=GeoJSONResponse,
    responses=problem_responses(400, 404),
    summary="Items of an asset layer",
)
def list_layer_items(
    session: SessionDep,
    layer: LayerName,
    village: VillageFilter,
    district: DistrictFilter,
    regency: RegencyFilter,
    bbox: BBoxFilter,
) -> GeoJSONResponse:
    """List the layer's assets as GeoJSON, in id order, with every column of the layer.

    ``village``/``district``/``regency`` keep the assets linked to that area (so unlinked
    assets appear only without them); ``bbox`` keeps those intersecting it.
    """
    frame = queries.assets(
        session, layer, village=village, district=district, regency=regency, bbox=bbox
    )
    return GeoJSONResponse(feature_collection(frame, asset_properties(frame), id_column="id"))


def _describe(request: Request, info: LayerInfo) -> LayerDescription:
    items = str(request.url_for("listLayerItems", layer=info.name))
    return LayerDescription(
        name=info.name,
        title=info.title,
        title_id=info.title_id,
        geometry_type=info.model.geometry_type,
        links=[Link(href=items, rel="items", type=GEOJSON_MEDIA_TYPE, title=info.title)],
    )
