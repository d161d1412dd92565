"""Response models: what each endpoint publishes in the OpenAPI document and answers with.

GeoJSON bodies are described with geojson-pydantic's models, specialised with the properties
each collection carries; tests validate the bodies against these same models.
"""

from __future__ import annotations

from typing import Any, Literal

from geojson_pydantic import Feature, FeatureCollection, MultiPolygon
from geojson_pydantic.geometries import Geometry
from pydantic import BaseModel, ConfigDict, Field


class Link(BaseModel):
    """A link in the style of OGC API (``rel`` as in the IANA link relations)."""

    href: str
    rel: str
    type: str | None = None
    title: str | None = None
    templated: bool | None = Field(
        default=None, description="True when href holds {placeholders} (RFC 6570)"
    )


class LandingPage(BaseModel):
    """What the API is and where everything is."""

    title: str
    description: str
    links: list[Link]


class Conformance(BaseModel):
    """The OGC API conformance classes the service implements."""

    conformsTo: list[str]  # noqa: N815 - OGC API's member name


class SpatialExtent(BaseModel):
    """A collection's box(es), west, south, east, north, in ``crs``."""

    bbox: list[list[float]]
    crs: str


class TemporalExtent(BaseModel):
    """When a collection's features are: first and last day (``None``: open)."""

    interval: list[list[str | None]]
    trs: str


class Extent(BaseModel):
    """Where and when a collection's features are."""

    spatial: SpatialExtent | None = None
    temporal: TemporalExtent | None = None


class Collection(BaseModel):
    """One feature collection (OGC API Features ``collectionDesc``)."""

    id: str
    title: str
    description: str | None = None
    itemType: str = "feature"  # noqa: N815 - OGC API's member name
    crs: list[str]
    storageCrs: str | None = None  # noqa: N815 - OGC API's member name
    extent: Extent | None = None
    links: list[Link]


class CollectionList(BaseModel):
    """Every feature collection (OGC API Features ``collections``)."""

    links: list[Link]
    collections: list[Collection]


class Health(BaseModel):
    """The database answered and holds a registry."""

    status: Literal["ok"]
    backend: Literal["geopackage", "postgis"]


class FieldError(BaseModel):
    """One field of a request that did not validate."""

    loc: list[str]
    msg: str
    type: str


class Problem(BaseModel):
    """An error (RFC 9457 problem details) with Petadesa's machine-readable ``code``."""

    type: str = Field(description="urn:petadesa:problem:<code>")
    title: str
    status: int
    detail: str | None = None
    code: str = Field(description="Machine-readable, stable: e.g. area_not_found, invalid_bbox")
    instance: str | None = None
    errors: list[FieldError] | None = Field(
        default=None, description="Fields of a request that did not validate"
    )
    report: dict[str, Any] | None = Field(
        default=None, description="Import report of a refused import, feature by feature"
    )


# --------------------------------------------------------------------------------------------
# Registry summary
# --------------------------------------------------------------------------------------------


class AreaLevelCounts(BaseModel):
    """Areas of one level: how many, derived from their children, repaired, sample."""

    count: int
    derived: int
    repaired: int
    sample: int
    area_km2: float


class LayerCounts(BaseModel):
    """Assets of one layer: how many, linked to a village or not, sample."""

    count: int
    linked: int
    unlinked: int
    sample: int


class Summary(BaseModel):
    """Counts per level, per village kind and per layer, and the villages lacking assets."""

    regency: str | None
    areas: dict[str, AreaLevelCounts]
    villages_by_kind: dict[str, int]
    layers: dict[str, LayerCounts]
    villages_without: dict[str, int]


class DecisionNumbers(BaseModel):
    """One district's or regency's villages: connectivity, destinations, products."""

    code: str
    name: str | None
    villages: int
    with_fibre: int
    without_fibre: int
    with_4g: int = Field(description="Villages whose class is 4G or fibre")
    without_4g: int
    blank_spot: int = Field(description="Villages whose class is blank spot")
    unknown: int = Field(description="Villages no run covered, or of class unknown")
    people_without_signal: float | None = Field(
        description="People the model leaves without any signal (none: no run modelled them)"
    )
    with_destination: int
    without_destination: int
    with_product: int
    without_product: int


# --------------------------------------------------------------------------------------------
# Layers
# --------------------------------------------------------------------------------------------


class LayerDescription(BaseModel):
    """One asset layer of the registry."""

    name: str
    title: str
    title_id: str = Field(description="Title in Bahasa Indonesia")
    geometry_type: str
    links: list[Link]


class LayerList(BaseModel):
    """Every asset layer."""

    layers: list[LayerDescription]


# --------------------------------------------------------------------------------------------
# GeoJSON
# --------------------------------------------------------------------------------------------


class AreaProperties(BaseModel):
    """Properties every administrative area has (*kode wilayah*, name, kind, area)."""

    code: str
    name: str
    kind: str = Field(description="provinsi, kabupaten/kota, kecamatan, desa/kelurahan")
    area_km2: float


class VillageProperties(AreaProperties):
    """A village (*desa* or *kelurahan*) and its district (*kecamatan*)."""

    district_code: str


class DistrictProperties(AreaProperties):
    """A district (*kecamatan*) and its regency."""

    regency_code: str


class RegencyProperties(AreaProperties):
    """A regency or city (*kabupaten/kota*) and its province."""

    province_code: str


class AssetProperties(BaseModel):
    """Columns every asset has; each layer adds its own (e.g. ``operator`` for towers)."""

    model_config = ConfigDict(extra="allow")

    id: int
    name: str
    source: str
    source_id: str
    village_code: str | None
    claimed_village_code: str | None
    created_at: str
    updated_at: str
    version: int


class VillageFeature(Feature[MultiPolygon, VillageProperties]):
    """A village boundary (MultiPolygon, EPSG:4326) with its properties."""


class VillageCollection(FeatureCollection[VillageFeature]):
    """Villages, in code order."""


class DistrictFeature(Feature[MultiPolygon, DistrictProperties]):
    """A district boundary (MultiPolygon, EPSG:4326) with its properties."""


class DistrictCollection(FeatureCollection[DistrictFeature]):
    """Districts, in code order."""


class RegencyFeature(Feature[MultiPolygon, RegencyProperties]):
    """A regency boundary (MultiPolygon, EPSG:4326) with its properties."""


class RegencyCollection(FeatureCollection[RegencyFeature]):
    """Regencies and cities, in code order."""


class AssetFeature(Feature[Geometry, AssetProperties]):
    """An asset (Point or MultiLineString, EPSG:4326) with all the columns of its layer."""


class AssetCollection(FeatureCollection[AssetFeature]):
    """Assets of one layer, in id order."""


class VillageDetail(VillageFeature):
    """A village as a GeoJSON Feature, with its linked assets per layer (a foreign member)."""

    assets: dict[str, list[AssetFeature]]
