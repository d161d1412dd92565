"""Read the registry as GeoDataFrames and DataFrames, the same way on both backends.

Every function reads current versions only (``valid_to IS NULL``) and returns geometry in
EPSG:4326, fetched as WKB (``ST_AsBinary``) and decoded with shapely, so PostGIS and GeoPackage
give identical frames. Area filters take Kemendagri codes (``35.07`` or ``3507``) and match
exactly: a regency filter selects ``code LIKE '35.07.%'``, never ``35.071...``; a district
filter joins on ``parent_code``. Bounding boxes go through the spatial index on both backends
(the GiST index on PostGIS, an explicit R*Tree prefilter on GeoPackage, where SQLite would not
use the R*Tree by itself).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import (
    ColumnElement,
    LargeBinary,
    Select,
    exists,
    func,
    select,
)
from sqlalchemy.orm import Session

import geopandas as gpd
import shapely

from geo.codes import InvalidCode, Level, level_of, normalize_code
from geo.errors import AreaNotFound
from geo.store.backend import backend_of
from geo.store.models import (
    ASSET_LAYERS,
    SRID,
    AdminArea,
    Asset,
    BlankSpot,
    CoverageRun,
    District,
    Province,
    Regency,
    SpeedTest,
    SpeedTile,
    Village,
    VillageCensus,
    VillageConnectivity,
    asset_layer,
)

CRS = f"EPSG:{SRID}"
BBox = tuple[float, float, float, float]
"""``(min_lon, min_lat, max_lon, max_lat)`` in EPSG:4326."""

_PARENT_COLUMN = {
    Village: "district_code",
    District: "regency_code",
    Regency: "province_code",
    Province: "parent_code",
}


def villages(
    session: Session, *, regency: str | None = None, district: str | None = None
) -> gpd.GeoDataFrame:
    """Read current villages (*desa/kelurahan*), optionally of one regency and/or district.

    Columns: code, name, kind, district_code, area_km2, label_lon, label_lat, source,
    geometry; ordered by code. Filter codes must be of their level (:class:`InvalidCode`).
    """
    stmt = _area_select(Village).where(*_village_filters(regency, district))
    return _geo_frame(session, stmt)


def village(session: Session, code: str) -> gpd.GeoDataFrame:
    """Read the current version of one village (one row, columns as :func:`villages`).

    Raises :class:`~geo.errors.AreaNotFound` if there is none, :class:`InvalidCode` if
    ``code`` is not a village code.
    """
    code = _code(code, Level.VILLAGE)
    frame = _geo_frame(session, _area_select(Village).where(Village.code == code))
    if frame.empty:
        raise AreaNotFound(f"no village with code {code}")
    return frame


def districts(session: Session, *, regency: str | None = None) -> gpd.GeoDataFrame:
    """Read current districts (*kecamatan*), optionally of one regency.

    Columns as :func:`villages`, with ``regency_code`` for the parent.
    """
    stmt = _area_select(District)
    if regency is not None:
        stmt = stmt.where(District.parent_code == _code(regency, Level.REGENCY))
    return _geo_frame(session, stmt)


def regencies(session: Session, *, province: str | None = None) -> gpd.GeoDataFrame:
    """Read current regencies and cities (*kabupaten/kota*), optionally of one province.

    Columns as :func:`villages`, with ``province_code`` for the parent.
    """
    stmt = _area_select(Regency)
    if province is not None:
        stmt = stmt.where(Regency.parent_code == _code(province, Level.PROVINCE))
    return _geo_frame(session, stmt)


def assets(
    session: Session,
    layer: str,
    *,
    village: str | None = None,
    district: str | None = None,
    regency: str | None = None,
    bbox: BBox | None = None,
) -> gpd.GeoDataFrame:
    """Rows of one asset layer with all its columns, ordered by id.

    ``village``/``district``/``regency`` filter on the linked ``village_code`` (so unlinked
    assets appear only without those filters); ``bbox`` keeps the assets that intersect it.
    Raises :class:`~geo.errors.UnknownLayer`.
    """
    model = asset_layer(layer).model
    cols = [c for c in model.__table__.columns if c.name != "geom"]
    stmt = select(*cols, _wkb(model.geom)).order_by(model.id)
    stmt = stmt.where(*_linked_filters(model, village, district, regency))
    if bbox is not None:
        stmt = _within_bbox(session, stmt, model, bbox)
    return _geo_frame(session, stmt)


def counts_per_village(
    session: Session, *, regency: str | None = None, district: str | None = None
) -> pd.DataFrame:
    """One row per current village (code, name, district_code), one count column per layer.

    Counts are of assets linked to the village (0 where none); one grouped query per layer.
    """
    frame = plain_frame(
        session,
        select(Village.code, Village.name, Village.parent_code.label("district_code"))
        .where(Village.in_force(), *_village_filters(regency, district))
        .order_by(Village.code),
    )
    for name, info in ASSET_LAYERS.items():
        counts = dict(session.execute(_count_by_village(info.model, regency, district)).all())
        frame[name] = frame["code"].map(counts).fillna(0).astype("int64")
    return frame


def villages_without(
    session: Session, layer: str, *, regency: str | None = None, district: str | None = None
) -> gpd.GeoDataFrame:
    """Read current villages with no asset of ``layer`` linked to them (columns as villages).

    E.g. villages without a destination (``destination``) or a flagship product
    (``product_site``). Raises :class:`~geo.errors.UnknownLayer`.
    """
    stmt = _area_select(Village).where(*_village_filters(regency, district), without_layer(layer))
    return _geo_frame(session, stmt)


CENSUS_ANSWERS = (
    "signal_strength",
    "mobile_internet",
    "bts_count",
    "operator_count",
    "mobile_phone_use",
    "office_internet",
    "has_flagship_product",
    "flagship_food",
    "flagship_nonfood",
    "flagship_exported",
    "office_lon",
    "office_lat",
)
"""The census answers :func:`census` returns, as :class:`~geo.store.models.VillageCensus` names
them."""


def census(
    session: Session,
    *,
    regency: str | None = None,
    district: str | None = None,
    survey: str | None = None,
) -> pd.DataFrame:
    """Census answers of the current villages, one row per village that has any.

    The survey ``survey`` names, else each village's latest (highest ``survey_year``, then the
    last imported). Columns: code, name (the registry's), district_code, survey, survey_year,
    the answers of :data:`CENSUS_ANSWERS`, source; ordered by code. Counts are ``Int64`` and
    ``has_flagship_product`` is ``boolean`` (both nullable): a missing answer is ``NA``.
    """
    answers = [getattr(VillageCensus, name) for name in CENSUS_ANSWERS]
    stmt = (
        select(
            Village.code,
            Village.name,
            Village.parent_code.label("district_code"),
            VillageCensus.survey,
            VillageCensus.survey_year,
            *answers,
            VillageCensus.source,
        )
        .join(VillageCensus, VillageCensus.village_code == Village.code)
        .where(Village.in_force(), *_village_filters(regency, district))
        .order_by(
            Village.code,
            func.coalesce(VillageCensus.survey_year, 0),  # NULLs sort apart on the two backends
            VillageCensus.updated_at,
            VillageCensus.id,
        )
    )
    if survey is not None:
        stmt = stmt.where(VillageCensus.survey == survey)
    frame = plain_frame(session, stmt).drop_duplicates("code", keep="last")
    typed = {"survey_year": "Int64", "bts_count": "Int64", "operator_count": "Int64"}
    typed |= {"has_flagship_product": "boolean", "office_lon": "float64", "office_lat": "float64"}
    return frame.astype(typed).reset_index(drop=True)


def coverage_runs(session: Session) -> pd.DataFrame:
    """Every coverage run, newest first (the columns of :class:`CoverageRun`).

    ``parameters`` and ``inputs`` are JSON text.
    """
    table = CoverageRun.__table__
    return plain_frame(session, select(table).order_by(table.c.id.desc()))


MEASUREMENT_COLUMNS = ["village_code", "kind", "taken_on", "technology", "download_kbps"]
MEASUREMENT_COLUMNS += ["tests", "source"]


def speed_measurements(
    session: Session, *, regency: str | None = None, district: str | None = None
) -> pd.DataFrame:
    """The mobile speed tests linked to the current villages: tiles and single tests.

    One row per tile (``kind`` ``tile``: ``taken_on`` its quarter's first day, ``tests`` its
    number of tests, ``download_kbps`` their average) or test (``kind`` ``test``, one test,
    its ``technology`` when known). Tiles are those of network ``mobile`` with a count and a
    speed; tests those of network ``mobile`` or of no network given, with a speed or a
    technology (a signal reading alone gives no class). Tests over fixed lines are left out.
    Columns: :data:`MEASUREMENT_COLUMNS`, ordered by village code.
    """
    areas = _village_filters(regency, district)
    tiles = (
        select(
            SpeedTile.village_code,
            SpeedTile.period_start.label("taken_on"),
            SpeedTile.avg_d_kbps.label("download_kbps"),
            SpeedTile.tests,
            SpeedTile.source,
        )
        .join(Village, Village.code == SpeedTile.village_code)
        .where(
            Village.in_force(),
            SpeedTile.network == "mobile",
            SpeedTile.tests >= 1,  # a tile without a count or a speed says nothing
            SpeedTile.avg_d_kbps.is_not(None),
            *areas,
        )
    )
    tests = (
        select(
            SpeedTest.village_code,
            SpeedTest.measured_on.label("taken_on"),
            SpeedTest.technology,
            SpeedTest.download_kbps,
            SpeedTest.source,
        )
        .join(Village, Village.code == SpeedTest.village_code)
        .where(
            Village.in_force(),
            (SpeedTest.network.is_(None)) | (SpeedTest.network == "mobile"),
            SpeedTest.download_kbps.is_not(None) | SpeedTest.technology.is_not(None),
            *areas,
        )
    )
    frames = [
        plain_frame(session, tiles).assign(kind="tile", technology=None),
        plain_frame(session, tests).assign(kind="test", tests=1),
    ]
    frame = pd.concat([f for f in frames if not f.empty] or frames[:1], ignore_index=True)
    frame = frame.reindex(columns=MEASUREMENT_COLUMNS)
    frame["tests"] = frame["tests"].astype("int64")
    frame["download_kbps"] = frame["download_kbps"].astype("float64")
    return frame.sort_values("village_code", kind="stable").reset_index(drop=True)


def connectivity(
    session: Session,
    *,
    regency: str | None = None,
    district: str | None = None,
    run: int | None = None,
) -> pd.DataFrame:
    """The connectivity register of the current villages, one row per village.

    From run ``run``, else each village's latest run. Columns: code, name, district_code,
    run_id, and the register's (:class:`~geo.store.models.VillageConnectivity`); ordered by
    code. A village no run covered is absent.
    """
    register = VillageConnectivity.__table__
    own = [c for c in register.columns if c.name not in ("id", "village_code")]
    stmt = (
        select(Village.code, Village.name, Village.parent_code.label("district_code"), *own)
        .join(register, register.c.village_code == Village.code)
        .where(Village.in_force(), *_village_filters(regency, district))
        .order_by(Village.code, register.c.run_id)
    )
    if run is not None:
        stmt = stmt.where(register.c.run_id == run)
    frame = plain_frame(session, stmt).drop_duplicates("code", keep="last")
    return frame.reset_index(drop=True)


def blank_spot_areas(
    session: Session, *, regency: str | None = None, run: int | None = None
) -> gpd.GeoDataFrame:
    """Blank-spot areas of the current villages, from run ``run``, else each village's latest.

    Columns: village_code, run_id, area_km2, population, geometry (EPSG:4326).
    """
    spots = BlankSpot.__table__
    latest = connectivity(session, regency=regency, run=run)
    pairs = list(zip(latest["code"], latest["run_id"], strict=True))
    if not pairs:
        return gpd.GeoDataFrame(
            columns=["village_code", "run_id", "area_km2", "population"], geometry=[], crs=CRS
        )
    runs = sorted({r for _, r in pairs})
    stmt = (
        select(
            spots.c.village_code,
            spots.c.run_id,
            spots.c.area_km2,
            spots.c.population,
            _wkb(spots.c.geom),
        )
        .where(spots.c.run_id.in_(runs))
        .order_by(spots.c.village_code)
    )
    frame = _geo_frame(session, stmt)
    wanted = set(pairs)
    keep = [pair in wanted for pair in zip(frame["village_code"], frame["run_id"], strict=True)]
    return frame.loc[np.array(keep, dtype=bool)].reset_index(drop=True)


def assets_in_blank_spots(
    session: Session, layer: str, *, regency: str | None = None, run: int | None = None
) -> gpd.GeoDataFrame:
    """Assets of ``layer`` (a destination, a product site...) inside a blank-spot area.

    The blank spots of each village's latest run (or of ``run``); columns of the layer's
    :func:`assets` plus ``blank_spot_village`` (the village whose blank spot holds it).
    Raises :class:`~geo.errors.UnknownLayer`.
    """
    spots = blank_spot_areas(session, regency=regency, run=run)
    return _inside_spots(assets(session, layer, regency=regency), spots)


def _inside_spots(items: gpd.GeoDataFrame, spots: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """The ``items`` inside a blank spot, with the village whose spot holds each."""
    if spots.empty or items.empty:
        return items.iloc[0:0].assign(blank_spot_village=pd.Series(dtype=object))
    tree = shapely.STRtree(spots.geometry.to_numpy())
    item_index, spot_index = tree.query(items.geometry.to_numpy(), predicate="intersects")
    first: dict[int, str] = {}
    for i, j in zip(item_index.tolist(), spot_index.tolist(), strict=True):
        first.setdefault(i, spots["village_code"].iloc[j])
    inside = items.iloc[sorted(first)].copy()
    inside["blank_spot_village"] = [first[i] for i in sorted(first)]
    return inside.reset_index(drop=True)


def villages_by_need(
    session: Session, *, regency: str | None = None, run: int | None = None
) -> pd.DataFrame:
    """Villages ranked by people without signal, then by destinations and products affected.

    Columns: code, name, connectivity_class, population_uncovered, destinations and
    product_sites (linked to the village), destinations_in_blank_spots and
    product_sites_in_blank_spots; most in need first.
    """
    register = connectivity(session, regency=regency, run=run)
    frame = register[["code", "name", "connectivity_class", "population_uncovered"]].copy()
    counts = counts_per_village(session, regency=regency).set_index("code")
    spots = blank_spot_areas(session, regency=regency, run=run)  # read once for both layers
    for layer, column in (("destination", "destinations"), ("product_site", "product_sites")):
        frame[column] = frame["code"].map(counts[layer]).fillna(0).astype("int64")
        inside = _inside_spots(assets(session, layer, regency=regency), spots)
        hit = inside["blank_spot_village"].value_counts()
        frame[f"{column}_in_blank_spots"] = frame["code"].map(hit).fillna(0).astype("int64")
    frame = frame.sort_values(
        ["population_uncovered", "destinations_in_blank_spots", "product_sites_in_blank_spots"],
        ascending=False,
        na_position="last",
        kind="stable",
    )
    return frame.reset_index(drop=True)


def without_layer(layer: str) -> ColumnElement[bool]:
    """Condition on :class:`~geo.store.models.Village`: no asset of ``layer`` is linked to it.

    ``NOT EXISTS`` on the layer's ``village_code`` index: the one way every count and list of
    "villages without" is asked. Raises :class:`~geo.errors.UnknownLayer`.
    """
    model = asset_layer(layer).model
    return ~exists().where(model.village_code == Village.code)


# --------------------------------------------------------------------------------------------
# Building blocks
# --------------------------------------------------------------------------------------------


def _code(value: str, level: Level) -> str:
    """Normalise a filter code; :class:`InvalidCode` unless it names an area of ``level``."""
    code = normalize_code(value)
    if level_of(code) is not level:
        raise InvalidCode(f"{value!r} is not a {level.value} code")
    return code


def _village_filters(regency: str | None, district: str | None) -> list[ColumnElement[bool]]:
    """Conditions keeping the villages of ``regency`` (by code prefix) and of ``district``."""
    filters = []
    if regency is not None:
        prefix = _code(regency, Level.REGENCY) + "."
        filters.append(Village.code.startswith(prefix, autoescape=True))
    if district is not None:
        filters.append(Village.parent_code == _code(district, Level.DISTRICT))
    return filters


def _linked_filters(
    model: type[Asset], village: str | None, district: str | None, regency: str | None
) -> list[ColumnElement[bool]]:
    """Conditions keeping assets linked to ``village``, or to one in ``district``/``regency``."""
    filters = []
    if village is not None:
        filters.append(model.village_code == _code(village, Level.VILLAGE))
    for value, level in ((district, Level.DISTRICT), (regency, Level.REGENCY)):
        if value is not None:
            prefix = _code(value, level) + "."
            filters.append(model.village_code.startswith(prefix, autoescape=True))
    return filters


def _count_by_village(model: type[Asset], regency: str | None, district: str | None) -> Select[Any]:
    """``(village_code, count)`` of ``model``'s assets per current village the filters keep."""
    codes = select(Village.code).where(Village.in_force(), *_village_filters(regency, district))
    return (
        select(model.village_code, func.count())
        .where(model.village_code.in_(codes))
        .group_by(model.village_code)
    )


def _area_select(model: type[AdminArea]) -> Select[Any]:
    """Current areas of ``model`` with the columns :func:`villages` lists, ordered by code."""
    return (
        select(
            model.code,
            model.name,
            model.kind,
            model.parent_code.label(_PARENT_COLUMN[model]),
            model.area_km2,
            model.label_lon,
            model.label_lat,
            model.source,
            _wkb(model.boundary),
        )
        .where(model.in_force())
        .order_by(model.code)
    )


def _wkb(geom: Any) -> ColumnElement[bytes]:
    """``geom`` as WKB in a column named ``geometry``, for :func:`_geo_frame` to decode."""
    return func.ST_AsBinary(geom, type_=LargeBinary).label("geometry")


def _within_bbox(session: Session, stmt: Select[Any], model: type[Asset], bbox: BBox) -> Select:
    """Keep rows intersecting ``bbox``, through the spatial index on either backend."""
    min_lon, min_lat, max_lon, max_lat = (float(v) for v in bbox)
    if min_lon > max_lon or min_lat > max_lat:
        raise ValueError(f"bbox must be (min_lon, min_lat, max_lon, max_lat), got {bbox!r}")
    bounds = (min_lon, min_lat, max_lon, max_lat)
    return backend_of(session).within_bbox(stmt, model, model.geom, bounds)


def plain_frame(session: Session, stmt: Select[Any]) -> pd.DataFrame:
    """Rows of ``stmt`` as a DataFrame, with the statement's column names."""
    result = session.execute(stmt)
    return pd.DataFrame(result.all(), columns=list(result.keys()))


def geo_frame(session: Session, stmt: Select[Any]) -> gpd.GeoDataFrame:
    """Rows of ``stmt`` as a GeoDataFrame in EPSG:4326, its WKB ``geometry`` column decoded.

    For readers of the registry beyond this module (:mod:`geo.features`): one decoder.
    """
    return _geo_frame(session, stmt)


def _geo_frame(session: Session, stmt: Select[Any]) -> gpd.GeoDataFrame:
    """Rows of ``stmt`` as a GeoDataFrame in EPSG:4326, its WKB ``geometry`` column decoded."""
    frame = plain_frame(session, stmt)
    wkb = [None if v is None else bytes(v) for v in frame.pop("geometry")]
    geometry = gpd.GeoSeries(shapely.from_wkb(wkb), index=frame.index, crs=CRS)
    return gpd.GeoDataFrame(frame, geometry=geometry, crs=CRS)
