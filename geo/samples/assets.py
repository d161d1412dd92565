"""Seeded sample asset layers: towers, fibre, hotspots, destinations, product sites, facilities.

:func:`sample_assets` makes them for any set of villages (the sample regency of
:mod:`geo.samples.region` or a real one), for the asset layers that have no public source.
Every feature has ``source = "sample"`` and a name that says *Sampel*; the same seed gives the
same data, feature for feature.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

import shapely
from geopandas import GeoDataFrame
from shapely.geometry import LineString, MultiLineString, Point

from geo.codes import InvalidCode, Level, kind_of, level_of, normalize_code
from geo.errors import CRSProblem
from geo.samples.region import SAMPLE_CRS, SAMPLE_SOURCE, SAMPLE_SUFFIX, uniform_in_box
from geo.store.models import ASSET_LAYERS

_BASE_COLUMNS = (
    "id",
    "name",
    "source",
    "created_at",
    "updated_at",
    "version",
    "source_id",
    "village_code",
    "claimed_village_code",
    "geom",
)
_MOBILE_OPERATORS = ("Telkomsel", "Indosat Ooredoo Hutchison", "XL Axiata", "Smartfren")
_TECHNOLOGIES = ("2G,4G", "4G", "2G,3G,4G", "4G,5G", "2G,4G,5G")
_FIBRE_OPERATORS = ("Telkom Indonesia", "Icon+", "Lintasarta")
_HOTSPOT_PROVIDERS = (
    "Diskominfo Kabupaten",
    "Pemerintah Desa",
    "BAKTI Kominfo",
    "Telkom Indonesia",
)
_DESTINATION_KINDS = {
    "alam": ("Air Terjun", "Bukit", "Telaga", "Goa", "Hutan Pinus"),
    "budaya": ("Candi", "Sanggar Seni", "Kampung Budaya", "Petilasan"),
    "buatan": ("Taman Rekreasi", "Agrowisata Petik Buah", "Kolam Renang", "Taman Bunga"),
    "religi": ("Makam Tokoh", "Masjid Kuno", "Pura", "Klenteng"),
    "kuliner": ("Sentra Kuliner", "Kampung Kopi", "Pasar Jajanan Tradisional"),
}
_DESTINATION_FACILITIES = ("parkir", "toilet", "mushola", "warung makan", "gazebo", "spot foto")
_OPENING_HOURS = ("Mo-Su 08:00-17:00", "Mo-Su 07:00-16:00", "Sa-Su 08:00-16:00", "24/7")
_PRODUCTS = {
    "makanan": ("Keripik Tempe", "Keripik Singkong", "Dodol Apel", "Kerupuk Samiler"),
    "minuman": ("Kopi Robusta Bubuk", "Jamu Kunyit Asam", "Sari Apel", "Susu Kambing"),
    "kerajinan": ("Anyaman Bambu", "Gerabah", "Topeng Kayu", "Kerajinan Batok Kelapa"),
    "fesyen": ("Batik Tulis", "Batik Cap", "Tenun Ikat", "Bordir"),
    "pertanian": ("Jeruk Keprok", "Salak", "Sayur Organik", "Tanaman Hias"),
}
_FOOD_CERTIFICATIONS = (None, "PIRT", "PIRT,halal", "halal", "PIRT,halal,BPOM")
_PRODUCERS = ("UMKM", "KUB", "BUMDes", "Kelompok Tani")
_SCHOOLS = ("SD", "MI", "SMP")
_HEALTH_POSTS = ("Polindes", "Posyandu", "Pustu")


def sample_assets(villages: GeoDataFrame, seed: int = 7) -> dict[str, GeoDataFrame]:
    """Make seeded sample features for every asset layer, over the given villages.

    ``villages`` needs ``code``, ``name`` and a polygon ``geometry`` with a CRS (any CRS; the
    output is EPSG:4326). Each layer's columns are those a source file carries for it in
    :data:`geo.store.models.ASSET_LAYERS` (``source_id``, ``name``, the layer's own columns,
    ``claimed_village_code``, ``source``, ``geometry``). Counts follow the number ``n`` of
    villages:

    * ``facility``: a village office (*kantor desa/kelurahan*) in every village, plus ``n // 2``
      schools and ``n // 4`` health posts in distinct villages;
    * ``tower``: ``2n // 5`` towers in distinct villages, none in ``n // 5`` remote villages
      (in ``1 + n // 150`` clusters: the blank spots to be found later);
    * ``fibre_route``: ``max(1, isqrt(n // 4))`` routes from a hub village through ``n // 4``
      villages near it, one leg per village; ``fibre_node``: a POP at the hub and an ODC in
      each of those villages, where the route's leg ends (no fibre below four villages);
    * ``hotspot``: ``n // 5``; ``destination``: ``n // 2``; ``product_site``: ``3n // 5``, each
      at most one per village.

    Every point lies inside the village in ``claimed_village_code``; fibre routes cross
    villages and claim none.
    """
    frame = _prepare_villages(villages)
    plan = _plan(frame, np.random.default_rng([seed, 0]))
    layers = {}
    for index, layer in enumerate(ASSET_LAYERS, start=1):
        rng = np.random.default_rng([seed, index])
        features = _BUILDERS[layer](plan, rng)
        layers[layer] = _layer_frame(layer, features)
    return layers


@dataclass(frozen=True)
class _Plan:
    """What several layers must agree on: the villages, the blank spot and the fibre reach."""

    villages: GeoDataFrame
    labels: np.ndarray
    """Label point (point on surface) of each village, lon/lat."""
    blank: frozenset[int]
    hub: int
    routes: tuple[tuple[tuple[int, int], ...], ...]
    """Legs ``(from village, to village)`` of each route, growing out of the hub."""
    route_active: tuple[bool, ...]

    @property
    def fibre_villages(self) -> frozenset[int]:
        """The hub and the villages on an active route (their offices are on fibre)."""
        pairs = zip(self.routes, self.route_active, strict=True)
        return frozenset([self.hub, *(end for legs, on in pairs if on for _, end in legs)])


@dataclass
class _Feature:
    """One sample feature before it becomes a row: its attributes and geometry."""

    attributes: dict[str, object]
    geometry: shapely.Geometry
    village_code: str | None


def _prepare_villages(villages: GeoDataFrame) -> GeoDataFrame:
    """Villages in EPSG:4326 ordered by code, each geometry prepared for fast containment."""
    missing = {"code", "name"} - set(villages.columns)
    if missing:
        raise ValueError(f"villages lack the column(s) {sorted(missing)}")
    if villages.crs is None:
        raise CRSProblem("the villages have no CRS; set it before making sample assets")
    frame = villages[["code", "name", "geometry"]].to_crs(SAMPLE_CRS)
    frame = frame.sort_values("code", ignore_index=True, kind="stable")
    shapely.prepare(frame.geometry.values)
    return frame


def _plan(villages: GeoDataFrame, rng: np.random.Generator) -> _Plan:
    """Choose the blank-spot villages, the fibre hub and the fibre routes."""
    labels = shapely.get_coordinates(villages.geometry.representative_point().values)
    count = len(villages)
    if count == 0:
        return _Plan(villages, labels, frozenset(), -1, (), ())
    xy = _local_xy(labels)
    blank = _blank_spot(xy, count // 5, 1 + count // 150, rng)
    hub = _nearest(xy, xy.mean(axis=0), exclude=blank)[0]
    reach = _nearest(xy, xy[hub], exclude=blank | {hub})[: 2 * (count // 4)]
    targets = sorted(rng.choice(reach, size=min(count // 4, len(reach)), replace=False))
    routes = _split_routes(xy, hub, targets, max(1, math.isqrt(count // 4)))
    active = tuple(bool(on) for on in rng.random(len(routes)) < 0.8)
    return _Plan(villages, labels, frozenset(blank), hub, routes, active)


def _local_xy(lonlat: np.ndarray) -> np.ndarray:
    """Longitude scaled by the cosine of latitude, so distances are roughly isotropic."""
    if len(lonlat) == 0:
        return lonlat
    scale = math.cos(math.radians(float(lonlat[:, 1].mean())))
    return lonlat * np.array([scale, 1.0])


def _nearest(xy: np.ndarray, point: np.ndarray, exclude: set[int] | frozenset[int]) -> list[int]:
    """Return indices of ``xy`` from nearest to farthest from ``point``, without ``exclude``."""
    order = np.argsort(np.hypot(*(xy - point).T), kind="stable")
    return [int(i) for i in order if int(i) not in exclude]


def _blank_spot(xy: np.ndarray, size: int, clusters: int, rng: np.random.Generator) -> set[int]:
    """``size`` villages in ``clusters`` groups of neighbours around remote villages.

    Each group grows around a seeded village of the outer quarter (farthest from the middle).
    """
    outer = _nearest(xy, xy.mean(axis=0), exclude=set())[-max(1, len(xy) // 4) :]
    blank: set[int] = set()
    for part in np.array_split(np.arange(size), clusters):
        candidates = [v for v in outer if v not in blank]
        if part.size == 0 or not candidates:
            continue
        anchor = int(rng.choice(candidates))
        blank.update(_nearest(xy, xy[anchor], exclude=blank)[: part.size])
    return blank


def _split_routes(
    xy: np.ndarray, hub: int, targets: Sequence[int], count: int
) -> tuple[tuple[tuple[int, int], ...], ...]:
    """Group the targets by bearing from the hub; each group is one route's tree of legs."""
    if not targets:
        return ()
    offsets = xy[list(targets)] - xy[hub]
    by_bearing = np.array(targets)[np.argsort(np.arctan2(offsets[:, 1], offsets[:, 0]))]
    groups = np.array_split(by_bearing, min(count, len(targets)))
    return tuple(_route_legs(xy, hub, [int(v) for v in group]) for group in groups)


def _route_legs(xy: np.ndarray, hub: int, targets: list[int]) -> tuple[tuple[int, int], ...]:
    """Connect the targets to the hub, each to the nearest village already on the route.

    This is Prim's minimum spanning tree: the shortest cable that reaches every target.
    """
    connected, waiting, legs = [hub], list(targets), []
    while waiting:
        gaps = np.hypot(*(xy[waiting][:, None, :] - xy[connected][None, :, :]).transpose(2, 0, 1))
        target, source = np.unravel_index(int(gaps.argmin()), gaps.shape)
        legs.append((connected[source], waiting[target]))
        connected.append(waiting.pop(target))
    return tuple(legs)


def _random_point(village: shapely.Geometry, rng: np.random.Generator) -> Point:
    """Draw a point strictly inside a (prepared) village, by rejection from its bounds."""
    for _ in range(50):
        candidates = uniform_in_box(rng, village.bounds, 32)
        inside = shapely.contains_xy(village, candidates[:, 0], candidates[:, 1])
        if inside.any():
            return Point(candidates[int(inside.argmax())])
    return village.representative_point()  # pragma: no cover - a village thinner than 0.1 m


def _point_feature(
    plan: _Plan, village: int, rng: np.random.Generator, attributes: dict[str, object]
) -> _Feature:
    """Make a feature at a random point of ``village``, claiming that village."""
    geometry = plan.villages.geometry.iloc[village]
    code = plan.villages["code"].iloc[village]
    return _Feature(attributes, _random_point(geometry, rng), code)


def _pick_villages(
    rng: np.random.Generator, count: int, size: int, exclude: frozenset[int] = frozenset()
) -> list[int]:
    """``size`` distinct villages in seeded order (fewer if there are not enough)."""
    pool = np.array([i for i in range(count) if i not in exclude], dtype=int)
    return [int(i) for i in rng.permutation(pool)[:size]]


def _base_name(name: str) -> str:
    """Strip the sample marker from a village name, to build other names from it."""
    return name.removesuffix(SAMPLE_SUFFIX)


def _choice(rng: np.random.Generator, options: Sequence[object]) -> object:
    """One of ``options``, seeded (works for options that are ``None``)."""
    return options[int(rng.integers(len(options)))]


def _towers(plan: _Plan, rng: np.random.Generator) -> list[_Feature]:
    """``2n // 5`` towers in distinct villages outside the blank spots."""
    count = len(plan.villages)
    features = []
    for number, village in enumerate(
        _pick_villages(rng, count, 2 * count // 5, plan.blank), start=1
    ):
        attributes = {
            "name": f"Menara Sampel {number}",
            "operator": _choice(rng, _MOBILE_OPERATORS),
            "technologies": _choice(rng, _TECHNOLOGIES),
            "height_m": float(_choice(rng, (30, 32, 36, 42, 45, 52, 62, 72))),
            "status": "planned" if rng.random() < 0.15 else "on-air",
        }
        features.append(_point_feature(plan, village, rng, attributes))
    return features


def _fibre_routes(plan: _Plan, rng: np.random.Generator) -> list[_Feature]:
    """One MultiLineString per route: a gently bent leg per village it reaches."""
    features = []
    for number, (route, active) in enumerate(zip(plan.routes, plan.route_active, strict=True), 1):
        legs = [_bent_leg(plan.labels[a], plan.labels[b], rng) for a, b in route]
        attributes = {
            "name": f"Jalur Serat Optik Sampel {number}",
            "operator": _choice(rng, _FIBRE_OPERATORS),
            "status": "active" if active else "planned",
            "commissioned_on": _commission_date(rng) if active else None,
        }
        features.append(_Feature(attributes, MultiLineString(legs), None))
    return features


def _bent_leg(start: np.ndarray, end: np.ndarray, rng: np.random.Generator) -> LineString:
    """Lay a cable leg from ``start`` to ``end`` through two seeded bends, as along a road.

    The ends stay exact: they are the label points where the fibre nodes stand.
    """
    direction = end - start
    normal = np.array([-direction[1], direction[0]])
    bends = [start + f * direction + rng.uniform(-0.12, 0.12) * normal for f in (1 / 3, 2 / 3)]
    return LineString(np.vstack([start, np.round(bends, 6), end]))


def _commission_date(rng: np.random.Generator) -> dt.date:
    """Draw a commissioning date between 2016 and 2024."""
    first, last = dt.date(2016, 1, 1), dt.date(2024, 12, 31)
    return first + dt.timedelta(days=int(rng.integers((last - first).days + 1)))


def _fibre_nodes(plan: _Plan, rng: np.random.Generator) -> list[_Feature]:
    """Put a POP at the hub and an ODC where each route leg ends (a village label point)."""
    if not plan.routes:
        return []
    stops = [(plan.hub, "POP", True)] + [
        (village, "ODC", active)
        for route, active in zip(plan.routes, plan.route_active, strict=True)
        for _, village in route
    ]
    features = []
    for number, (village, node_type, active) in enumerate(stops, start=1):
        attributes = {
            "name": f"{node_type} Sampel {number}",
            "operator": _choice(rng, _FIBRE_OPERATORS),
            "node_type": node_type,
            "status": "active" if active else "planned",
        }
        point = Point(plan.labels[village])
        features.append(_Feature(attributes, point, plan.villages["code"].iloc[village]))
    return features


def _hotspots(plan: _Plan, rng: np.random.Generator) -> list[_Feature]:
    """``n // 5`` public Wi-Fi hotspots in distinct villages."""
    count = len(plan.villages)
    features = []
    for number, village in enumerate(_pick_villages(rng, count, count // 5), start=1):
        slow = village in plan.blank  # a satellite link in the blank spot
        attributes = {
            "name": f"Hotspot Sampel {number}",
            "provider": _choice(rng, _HOTSPOT_PROVIDERS),
            "bandwidth_mbps": float(_choice(rng, (5, 10) if slow else (20, 50, 100))),
            "status": "planned" if rng.random() < 0.2 else "active",
        }
        features.append(_point_feature(plan, village, rng, attributes))
    return features


def _destinations(plan: _Plan, rng: np.random.Generator) -> list[_Feature]:
    """``n // 2`` tourist destinations, at most one per village."""
    count = len(plan.villages)
    features = []
    for number, village in enumerate(_pick_villages(rng, count, count // 2), start=1):
        category = str(_choice(rng, tuple(_DESTINATION_KINDS)))
        kind = str(_choice(rng, _DESTINATION_KINDS[category]))
        where = _base_name(plan.villages["name"].iloc[village])
        attributes = {
            "name": f"{kind} Sampel {number}",
            "category": category,
            "description": f"Data sampel, bukan tempat nyata: {kind.lower()} di {where}.",
            "facilities": _facility_list(rng),
            "opening_hours": _choice(rng, _OPENING_HOURS),
            "ticket_price_idr": float(_choice(rng, (0, 5000, 10000, 15000, 25000))),
            "contact": f"pokdarwis-sampel-{number:04d}@contoh.invalid",
            "photo_links": _photo_links(rng, number),
        }
        features.append(_point_feature(plan, village, rng, attributes))
    return features


def _facility_list(rng: np.random.Generator) -> str:
    """Draw a comma-separated subset of visitor facilities."""
    size = int(rng.integers(1, len(_DESTINATION_FACILITIES) + 1))
    chosen = sorted(rng.choice(len(_DESTINATION_FACILITIES), size=size, replace=False))
    return ",".join(_DESTINATION_FACILITIES[i] for i in chosen)


def _photo_links(rng: np.random.Generator, number: int) -> str:
    """One or two placeholder photo links (example.org, reserved for examples)."""
    count = int(rng.integers(1, 3))
    return ",".join(
        f"https://example.org/petadesa/sampel/destinasi-{number:04d}-{k}.jpg"
        for k in range(1, count + 1)
    )


def _product_sites(plan: _Plan, rng: np.random.Generator) -> list[_Feature]:
    """``3n // 5`` OVOP product sites, at most one per village."""
    count = len(plan.villages)
    features = []
    for number, village in enumerate(_pick_villages(rng, count, 3 * count // 5), start=1):
        category = str(_choice(rng, tuple(_PRODUCTS)))
        product = str(_choice(rng, _PRODUCTS[category]))
        food = category in ("makanan", "minuman")
        attributes = {
            "name": f"Sentra {product} Sampel {number}",
            "product": product,
            "category": category,
            "producer": f"{_choice(rng, _PRODUCERS)} Sampel {number}",
            "certifications": _choice(rng, _FOOD_CERTIFICATIONS) if food else None,
        }
        features.append(_point_feature(plan, village, rng, attributes))
    return features


def _facilities(plan: _Plan, rng: np.random.Generator) -> list[_Feature]:
    """Put an office in every village, then ``n // 2`` schools and ``n // 4`` health posts."""
    count = len(plan.villages)
    sites = [(v, "village_office") for v in range(count)]
    sites += [(v, "school") for v in _pick_villages(rng, count, count // 2)]
    sites += [(v, "health_post") for v in _pick_villages(rng, count, count // 4)]
    features = []
    for number, (village, facility_type) in enumerate(sites, start=1):
        attributes = {
            "name": _facility_name(plan, village, facility_type, number, rng),
            "facility_type": facility_type,
            "internet_status": _internet_status(plan, village, facility_type, rng),
        }
        features.append(_point_feature(plan, village, rng, attributes))
    return features


def _facility_name(
    plan: _Plan, village: int, facility_type: str, number: int, rng: np.random.Generator
) -> str:
    """``Kantor Desa X (sampel)`` for an office, ``SD Sampel 41`` and the like otherwise."""
    if facility_type == "village_office":
        code = plan.villages["code"].iloc[village]
        kind = "Kelurahan" if _is_kelurahan(code) else "Desa"
        return f"Kantor {kind} {_base_name(plan.villages['name'].iloc[village])}{SAMPLE_SUFFIX}"
    kinds = _SCHOOLS if facility_type == "school" else _HEALTH_POSTS
    return f"{_choice(rng, kinds)} Sampel {number}"


def _is_kelurahan(code: str) -> bool:
    """Whether a village code is a kelurahan's (``1xxx``); unparseable codes count as desa."""
    try:
        code = normalize_code(code)
    except InvalidCode:
        return False
    return level_of(code) is Level.VILLAGE and kind_of(code) == "kelurahan"


def _internet_status(
    plan: _Plan, village: int, facility_type: str, rng: np.random.Generator
) -> str:
    """``fibre`` for offices on the fibre reach, ``none`` in the blank spot, else ``mobile``.

    Schools and health posts in the blank spot sometimes have a ``satellite`` link.
    """
    if village in plan.blank:
        satellite = facility_type != "village_office" and rng.random() < 0.3
        return "satellite" if satellite else "none"
    if village in plan.fibre_villages and facility_type == "village_office":
        return "fibre"
    return "mobile"


_BUILDERS: dict[str, Callable[[_Plan, np.random.Generator], list[_Feature]]] = {
    "tower": _towers,
    "fibre_route": _fibre_routes,
    "fibre_node": _fibre_nodes,
    "hotspot": _hotspots,
    "destination": _destinations,
    "product_site": _product_sites,
    "facility": _facilities,
}


def _layer_columns(layer: str) -> list[str]:
    """Return the columns a source file of ``layer`` carries, in this module's order."""
    columns = ASSET_LAYERS[layer].model.__table__.columns
    own = [c.name for c in columns if c.name not in _BASE_COLUMNS]
    return ["source_id", "name", *own, "claimed_village_code", "source", "geometry"]


def _layer_frame(layer: str, features: Sequence[_Feature]) -> GeoDataFrame:
    """Build one layer's GeoDataFrame, with stable ``sample-<layer>-0001`` ids."""
    prefix = f"sample-{layer.replace('_', '-')}"
    rows = [
        {
            **f.attributes,
            "source_id": f"{prefix}-{number:04d}",
            "claimed_village_code": f.village_code,
            "source": SAMPLE_SOURCE,
        }
        for number, f in enumerate(features, start=1)
    ]
    columns = _layer_columns(layer)
    frame = pd.DataFrame(rows, columns=[c for c in columns if c != "geometry"])
    return GeoDataFrame(frame, geometry=[f.geometry for f in features], crs=SAMPLE_CRS)[columns]
