"""Seeded, clearly labelled sample data for demos and tests when the user has no real data.

Two things are made here:

* :func:`sample_region` - a made-up regency, *Kabupaten Contoh (sampel)* with Kemendagri code
  ``99.01`` (province ``99`` does not exist), four *kecamatan* (districts) and forty
  *desa*/*kelurahan* whose boundaries are a Voronoi partition of seeded points. It is used when
  there is no network to fetch official boundaries.
* :func:`sample_assets` - towers, fibre, hotspots, destinations, product sites and facilities
  for any set of villages (the sample regency or a real one), for the asset layers that have
  no public source.

Every feature has ``source = "sample"`` and a name that says *Sampel*; the same seed gives the
same data, feature for feature (:class:`numpy.random.Generator` throughout).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

import shapely
from geopandas import GeoDataFrame
from shapely.geometry import MultiPolygon, Point, Polygon

from geo.codes import kind_of, level_of, parent_of

SAMPLE_SOURCE = "sample"
"""Value of ``source`` on everything this module makes."""

PROVINCE_CODE = "99"
REGENCY_CODE = "99.01"
N_DISTRICTS = 4
N_VILLAGES = 40
N_KELURAHAN = 3
"""Villages nearest the regency's centre are *kelurahan* (urban wards), the others *desa*."""

SAMPLE_CRS = "EPSG:4326"
_CENTRE = (112.2, -7.75)
_HALF_AXES = (0.12, 0.09)
"""Half extent of the outline in degrees (about 13 x 10 km): 112.08-112.32 E, 7.66-7.84 S."""

_DISTRICT_NAMES = ("Satu", "Dua", "Tiga", "Empat")
_VILLAGE_NAMES = (
    "Sukamaju",
    "Sukamulya",
    "Mekarsari",
    "Sidomulyo",
    "Sumberejo",
    "Karangrejo",
    "Tegalsari",
    "Wonorejo",
    "Kedungsari",
    "Ngadirejo",
    "Purwodadi",
    "Sukorejo",
    "Banjarsari",
    "Margomulyo",
    "Tirtomoyo",
    "Jatirejo",
    "Sumbersari",
    "Kalirejo",
    "Gunungsari",
    "Randuagung",
    "Tanjungsari",
    "Pandanrejo",
    "Sidorejo",
    "Wonokerto",
    "Kembangsari",
    "Argosari",
    "Bumiayu",
    "Tambakrejo",
    "Sukodadi",
    "Rejosari",
    "Kebonagung",
    "Pagersari",
    "Sidodadi",
    "Mulyoagung",
    "Dadapan",
    "Srimulyo",
    "Gedangan",
    "Wringinanom",
    "Kalisongo",
    "Ngenep",
    "Tlogosari",
    "Karangsono",
    "Sumbermanjing",
    "Jambearjo",
    "Pujonrejo",
)
SAMPLE_SUFFIX = " (sampel)"


@dataclass(frozen=True)
class SampleRegion:
    """A made-up regency: its code list and its village boundaries.

    ``code_list`` has the columns of :func:`geo.ingest.sources.read_code_list` (``code``, ``name``,
    ``level``, ``kind``, ``parent_code``); ``villages`` has ``code``, ``name``, ``source``
    and a MultiPolygon ``geometry`` in EPSG:4326; ``outline`` is the regency's land, which the
    villages cover exactly (a reservoir, *waduk*, is cut out; its island belongs to a village).
    """

    code_list: pd.DataFrame
    villages: GeoDataFrame
    outline: MultiPolygon


def sample_region(seed: int = 7) -> SampleRegion:
    """Make the sample regency ``99.01`` *Kabupaten Contoh (sampel)* for ``seed``.

    Forty villages in four contiguous districts (``99.01.01``-``99.01.04``); three are
    *kelurahan* (``1xxx``), the rest *desa* (``2xxx``). Exactly one village has two parts: the
    one around the reservoir owns the island in it.
    """
    rng = np.random.default_rng(seed)
    outline = _regency_outline(rng)
    generators = _generator_points(rng, outline, N_VILLAGES)
    lake_owner, lake, island = _reservoir(rng, generators, outline)
    cells = _voronoi_cells(generators, outline.difference(lake))
    cells[lake_owner] = shapely.union(cells[lake_owner], island)
    district_of = _grow_districts(cells, generators, N_DISTRICTS)
    codes = _village_codes(cells, district_of, outline.centroid)
    names = _village_names(rng, len(cells))
    villages = _village_frame(codes, names, cells)
    land = MultiPolygon([*shapely.get_parts(outline.difference(lake)), island])
    return SampleRegion(_code_list(villages), villages, land)


def _regency_outline(rng: np.random.Generator) -> Polygon:
    """Draw a smooth, irregular star-shaped outline: an ellipse with a few seeded harmonics."""
    theta = np.linspace(0.0, 2.0 * np.pi, 96, endpoint=False)
    radius = np.ones_like(theta)
    for harmonic in range(2, 8):
        amplitude = rng.uniform(0.0, 0.12 / math.sqrt(harmonic - 1))
        phase = rng.uniform(0.0, 2.0 * np.pi)
        radius += amplitude * np.cos(harmonic * theta + phase)
    x = _CENTRE[0] + _HALF_AXES[0] * radius * np.cos(theta)
    y = _CENTRE[1] + _HALF_AXES[1] * radius * np.sin(theta)
    return Polygon(np.column_stack([x, y]).round(6))


def _generator_points(rng: np.random.Generator, outline: Polygon, count: int) -> np.ndarray:
    """``count`` seeded points inside ``outline``, kept apart so no village is a sliver."""
    spacing = 0.6 * math.sqrt(outline.area / count)
    inner = outline.buffer(-0.1 * spacing)
    shapely.prepare(inner)
    points: list[tuple[float, float]] = []
    while len(points) < count:
        x, y = uniform_in_box(rng, inner.bounds, 1)[0]
        if not shapely.contains_xy(inner, x, y):
            continue
        if points and np.hypot(*(np.array(points) - (x, y)).T).min() < spacing:
            spacing *= 0.999  # a crowded draw relaxes the spacing instead of looping forever
            continue
        points.append((x, y))
    return np.array(points)


def uniform_in_box(rng: np.random.Generator, bounds: Sequence[float], size: int) -> np.ndarray:
    """``size`` uniform points in a bounding box, rounded to 6 decimals (about 0.1 m)."""
    minx, miny, maxx, maxy = bounds
    xy = rng.uniform((minx, miny), (maxx, maxy), size=(size, 2))
    return xy.round(6)


def _reservoir(
    rng: np.random.Generator, generators: np.ndarray, outline: Polygon
) -> tuple[int, Polygon, Polygon]:
    """Place a reservoir (*waduk*) inside one village's Voronoi cell, with an island in it.

    The reservoir is centred on the generator farthest from its neighbours and the outline, and
    is smaller than half the distance to the nearest other generator, so it lies inside that
    one cell: the village gets a hole and a second part (the island), no other village changes.
    """
    gaps = np.array([_room_around(i, generators, outline) for i in range(len(generators))])
    owner = int(gaps.argmax())
    centre, room = generators[owner], float(gaps[owner])
    lake = _blob(rng, centre, 0.6 * room, 0.85)
    island_centre = centre + 0.25 * room * np.array([1.0, 0.0])
    island = _blob(rng, island_centre, 0.15 * room, 0.8)
    return owner, lake, island


def _room_around(index: int, generators: np.ndarray, outline: Polygon) -> float:
    """Half the distance to the nearest other generator, or less near the outline."""
    others = np.delete(generators, index, axis=0)
    nearest = np.hypot(*(others - generators[index]).T).min() / 2.0
    to_edge = outline.exterior.distance(Point(generators[index]))
    return min(nearest, to_edge)


def _blob(
    rng: np.random.Generator, centre: np.ndarray, radius: float, min_factor: float
) -> Polygon:
    """Draw a rounded polygon with radii between ``min_factor * radius`` and ``radius``."""
    theta = np.linspace(0.0, 2.0 * np.pi, 24, endpoint=False)
    radii = radius * rng.uniform(min_factor, 1.0, size=theta.size)
    ring = np.column_stack([centre[0] + radii * np.cos(theta), centre[1] + radii * np.sin(theta)])
    return Polygon(ring.round(7))


def _voronoi_cells(generators: np.ndarray, land: Polygon) -> list[Polygon]:
    """Voronoi cells of the generators clipped to ``land``, one polygon per generator.

    A convex cell clipped to a non-convex outline can fall apart; its smaller pieces go to the
    neighbour they share the longest border with, so every village stays one piece.
    """
    frame = shapely.box(*land.buffer(0.05).bounds)
    diagram = shapely.voronoi_polygons(
        shapely.MultiPoint(generators), extend_to=frame, ordered=True
    )
    cells, fragments = [], []
    for cell in shapely.get_parts(diagram):
        parts = sorted(_polygons(shapely.intersection(cell, land)), key=lambda p: -p.area)
        cells.append(parts[0])
        fragments.extend(parts[1:])
    for fragment in fragments:
        shared = [fragment.boundary.intersection(c.boundary).length for c in cells]
        best = int(np.argmax(shared))
        cells[best] = shapely.union(cells[best], fragment)
    return cells


def _polygons(geometry: shapely.Geometry) -> list[Polygon]:
    """Return the polygon parts of a geometry (drop lines and points of a degenerate clip)."""
    return [p for p in shapely.get_parts(geometry) if isinstance(p, Polygon) and p.area > 0]


def _adjacency(cells: Sequence[shapely.Geometry]) -> list[set[int]]:
    """For each cell, the cells it shares a border of positive length with."""
    neighbours: list[set[int]] = [set() for _ in cells]
    for i, j in zip(*np.triu_indices(len(cells), k=1), strict=True):
        if cells[i].boundary.intersection(cells[j].boundary).length > 0:
            neighbours[i].add(int(j))
            neighbours[j].add(int(i))
    return neighbours


def _grow_districts(
    cells: Sequence[shapely.Geometry], generators: np.ndarray, count: int
) -> np.ndarray:
    """Group the cells into ``count`` contiguous districts by growing them from the rim.

    Seeds are the cells farthest out in ``count`` directions; the smallest district claims, in
    turn, its unclaimed neighbour nearest its seed, so each district stays in one piece.
    """
    neighbours = _adjacency(cells)
    offsets = generators - generators.mean(axis=0)
    district_of = np.full(len(cells), -1)
    seeds: list[int] = []
    for k in range(count):
        angle = 2.0 * np.pi * k / count + np.pi / 4.0
        reach = offsets @ np.array([np.cos(angle), np.sin(angle)])
        reach[district_of >= 0] = -np.inf
        seeds.append(int(reach.argmax()))
        district_of[seeds[-1]] = k
    while (district_of < 0).any():
        _claim_one(district_of, neighbours, generators, seeds)
    return district_of


def _claim_one(
    district_of: np.ndarray,
    neighbours: list[set[int]],
    generators: np.ndarray,
    seeds: list[int],
) -> None:
    """Let the smallest district that can grow claim its unclaimed neighbour nearest its seed."""
    sizes = np.bincount(district_of[district_of >= 0], minlength=len(seeds))
    for district in np.argsort(sizes, kind="stable"):
        members = np.flatnonzero(district_of == district)
        free = sorted({n for m in members for n in neighbours[m] if district_of[n] < 0})
        if free:
            gaps = np.hypot(*(generators[free] - generators[seeds[district]]).T)
            district_of[free[int(gaps.argmin())]] = district
            return
    raise RuntimeError("sample villages are not connected")  # pragma: no cover


def _village_codes(
    cells: Sequence[shapely.Geometry], district_of: np.ndarray, centre: Point
) -> list[str]:
    """Kemendagri codes: districts numbered clockwise from north, kelurahan first in each.

    Within a district the *kelurahan* are ``1001``, ``1002``...; the *desa* ``2001``,
    ``2002``..., both from north to south.
    """
    points = shapely.point_on_surface(np.array(cells, dtype=object))
    x, y = shapely.get_x(points), shapely.get_y(points)
    urban = set(np.argsort(np.hypot(x - centre.x, y - centre.y), kind="stable")[:N_KELURAHAN])
    district_number = _clockwise_numbers(x, y, district_of, centre)
    codes = [""] * len(cells)
    for district in np.unique(district_of):
        members = sorted(np.flatnonzero(district_of == district), key=lambda i: (-y[i], x[i]))
        prefix = f"{REGENCY_CODE}.{district_number[district]:02d}"
        for kind_digit in (1, 2):
            chosen = [i for i in members if (i in urban) == (kind_digit == 1)]
            for serial, i in enumerate(chosen, start=1):
                codes[i] = f"{prefix}.{kind_digit}{serial:03d}"
    return codes


def _clockwise_numbers(
    x: np.ndarray, y: np.ndarray, district_of: np.ndarray, centre: Point
) -> dict[int, int]:
    """District number (1, 2...) by the bearing of its villages' mean point, from north."""
    bearings = {}
    for district in np.unique(district_of):
        members = district_of == district
        dx, dy = x[members].mean() - centre.x, y[members].mean() - centre.y
        bearings[int(district)] = math.atan2(dx, dy) % (2.0 * math.pi)
    order = sorted(bearings, key=bearings.__getitem__)
    return {district: number for number, district in enumerate(order, start=1)}


def _village_names(rng: np.random.Generator, count: int) -> list[str]:
    """Distinct Javanese-sounding village names, each marked ``(sampel)``."""
    chosen = rng.permutation(len(_VILLAGE_NAMES))[:count]
    return [_VILLAGE_NAMES[i] + SAMPLE_SUFFIX for i in chosen]


def _village_frame(
    codes: Sequence[str], names: Sequence[str], cells: Sequence[shapely.Geometry]
) -> GeoDataFrame:
    """Build the villages' GeoDataFrame: EPSG:4326, MultiPolygons, ordered by code."""
    geometry = [MultiPolygon(_polygons(cell)) for cell in cells]
    frame = GeoDataFrame(
        {"code": list(codes), "name": list(names), "source": SAMPLE_SOURCE},
        geometry=geometry,
        crs=SAMPLE_CRS,
    )
    return frame.sort_values("code", ignore_index=True)


def _code_list(villages: GeoDataFrame) -> pd.DataFrame:
    """Build the sample regency's code list: province, regency, districts and villages."""
    names = {PROVINCE_CODE: "Provinsi Contoh (sampel)", REGENCY_CODE: "Kabupaten Contoh (sampel)"}
    for number, word in enumerate(_DISTRICT_NAMES, start=1):
        names[f"{REGENCY_CODE}.{number:02d}"] = f"Kecamatan Sampel {word}"
    names.update(zip(villages["code"], villages["name"], strict=True))
    rows = [
        {
            "code": code,
            "name": name,
            "level": str(level_of(code)),
            "kind": kind_of(code),
            "parent_code": parent_of(code),
        }
        for code, name in names.items()
    ]
    return pd.DataFrame(rows)
