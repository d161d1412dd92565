"""Planning: where K new towers would cover the most people without signal, and fibre.

**Towers** (:func:`plan_towers`). Each candidate site (points given, or a grid over the region)
is modelled as the coverage model models a tower (:mod:`geo.coverage.model`, the same DEM,
height and range); its gain is the people it would reach who have no signal today. Sites are
chosen by greedy maximal coverage: each round takes the site that adds the most people not yet
reached, given the sites already chosen. Coverage is submodular (a site never gains more once
others are built), so a site's last computed gain bounds its gain now, and the lazy greedy
(Minoux's accelerated greedy) re-evaluates only the site on top of the queue until its fresh
gain still tops every stale bound: the same sites as the plain greedy, with far fewer
evaluations (``bench/plan_towers.py``). Ties go to the candidate listed first.

**Fibre** (:func:`plan_fibre`). Village offices within ``within_km`` of a fibre node or route
are near the network (a short spur each); the rest are joined by a minimum spanning tree grown
from the network and those offices (Prim's order: each step connects the village whose link,
to the network or to a village already connected, is the shortest), with straight-line
lengths in metres. The tree is found on
the Delaunay triangulation of the offices plus a link from each office to the network, which
holds every edge of the Euclidean minimum spanning tree.
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from sqlalchemy import Engine

import geopandas as gpd
import shapely

from geo import queries
from geo.coverage.grid import Grid, region_crs
from geo.coverage.model import (
    NO_SIGNAL,
    TECHNOLOGY_CODES,
    ModelParameters,
    Site,
    tower_coverage,
)
from geo.coverage.register import model_today, office_points
from geo.coverage.signal import SignalInput
from geo.errors import AreaNotFound
from geo.ingest.report import Progress, quiet
from geo.store.db import transaction

DEFAULT_SPACING_KM = 2.0
"""Distance between candidate sites of the grid over the region."""


@dataclass
class Candidates:
    """Candidate sites and, for each, the cells with people without signal it would reach."""

    points: gpd.GeoDataFrame
    """One row per candidate, in EPSG:4326."""
    cells: list[np.ndarray]
    """Flat indices of the grid cells each would cover that hold people without signal."""
    weights: np.ndarray
    """People without signal per grid cell (flat)."""


def greedy_sites(
    candidates: Candidates, k: int, *, lazy: bool = True
) -> tuple[list[int], list[float], int]:
    """Choose up to ``k`` candidates; their indices, marginal gains, and gain evaluations.

    Stops early when no candidate adds anyone. ``lazy=False`` is the plain greedy (every
    candidate re-evaluated every round), kept to check and measure the lazy one against.
    """
    weights = candidates.weights
    covered = np.zeros(weights.shape, dtype=bool)

    def gain(i: int) -> float:
        cells = candidates.cells[i]
        return float(weights[cells[~covered[cells]]].sum())

    chosen: list[int] = []
    gains: list[float] = []
    evaluations = 0
    n = len(candidates.cells)
    if lazy:
        heap = [(-float(weights[c].sum()), i) for i, c in enumerate(candidates.cells)]
        evaluations = n
        heapq.heapify(heap)
        while heap and len(chosen) < k:
            _, i = heapq.heappop(heap)
            fresh = gain(i)
            evaluations += 1
            if not heap or (-fresh, i) <= heap[0]:
                if fresh <= 0:
                    break
                chosen.append(i)
                gains.append(fresh)
                covered[candidates.cells[i]] = True
            else:
                heapq.heappush(heap, (-fresh, i))
        return chosen, gains, evaluations
    remaining = set(range(n))
    while remaining and len(chosen) < k:
        best, best_gain = -1, 0.0
        for i in sorted(remaining):
            g = gain(i)
            evaluations += 1
            if g > best_gain:
                best, best_gain = i, g
        if best < 0:
            break
        chosen.append(best)
        gains.append(best_gain)
        covered[candidates.cells[best]] = True
        remaining.discard(best)
    return chosen, gains, evaluations


def plan_towers(
    engine: Engine,
    *,
    dem: str | Path,
    population: str | Path,
    k: int = 10,
    candidates: gpd.GeoDataFrame | None = None,
    spacing_km: float = DEFAULT_SPACING_KM,
    regency: str | None = None,
    technology: str = "4G",
    height_m: float | None = None,
    params: ModelParameters | None = None,
    signals: Sequence[SignalInput] = (),
    progress: Progress | None = None,
) -> gpd.GeoDataFrame:
    """Where ``k`` new ``technology`` towers would cover the most people without signal.

    Today's coverage is modelled from the registry's towers, with the operator rasters
    ``signals`` merged in as a run merges them; ``candidates`` (points, any CRS;
    those off the DEM are left out) or a grid every ``spacing_km`` over the region's villages
    are the sites to choose from.
    Returns the chosen sites in order: rank, village_code, gain (people newly covered),
    cumulative, lon, lat, geometry (EPSG:4326).
    """
    step = progress or quiet
    params = params or ModelParameters()
    if technology not in TECHNOLOGY_CODES:
        raise ValueError(f"technology {technology!r}: use one of {', '.join(TECHNOLOGY_CODES)}")
    with transaction(engine) as session:
        villages = queries.villages(session, regency=regency)
        if villages.empty:
            raise AreaNotFound("no village to plan for: import boundaries first")
        region = tuple(float(v) for v in villages.total_bounds)
        step("modelling today's coverage")
        today = model_today(
            session, region, dem, population, params, keep_heights=True, signals=signals
        )
    grid, heights, best, people = today.grid, today.heights, today.result.best, today.people
    weights = np.where(best == NO_SIGNAL, people, np.float32(0)).ravel()
    if candidates is not None:
        points = candidates.to_crs("EPSG:4326") if candidates.crs else candidates.set_crs(4326)
    else:
        points = candidate_grid(villages, spacing_km)
    points = _on_grid(points, grid, heights)
    step(f"modelling {len(points):,} candidate sites")
    found = candidate_cells(heights, grid, points, weights, params, technology, height_m)
    chosen, gains, _ = greedy_sites(found, k)
    picked = found.points.iloc[chosen].copy()
    picked.insert(0, "rank", range(1, len(chosen) + 1))
    picked["gain"] = gains
    picked["cumulative"] = np.cumsum(gains)
    picked["village_code"] = _village_of(picked, villages)
    picked["lon"], picked["lat"] = picked.geometry.x, picked.geometry.y
    return picked[["rank", "village_code", "gain", "cumulative", "lon", "lat", "geometry"]]


def _on_grid(points: gpd.GeoDataFrame, grid: Grid, heights: np.ndarray) -> gpd.GeoDataFrame:
    """The candidates on the modelled DEM (a site off it cannot be modelled: left out)."""
    xy = points.geometry.to_crs(grid.crs)
    rows, cols = grid.cell_of(xy.x.to_numpy(), xy.y.to_numpy())
    inside = (rows >= 0) & (rows < grid.height) & (cols >= 0) & (cols < grid.width)
    inside[inside] = ~np.isnan(heights[rows[inside], cols[inside]])
    return points[inside].reset_index(drop=True)


def candidate_grid(villages: gpd.GeoDataFrame, spacing_km: float) -> gpd.GeoDataFrame:
    """Points every ``spacing_km`` over the villages (inside one of them), in EPSG:4326."""
    crs = region_crs(tuple(villages.total_bounds))
    land = shapely.union_all(villages.to_crs(crs).geometry.to_numpy())
    minx, miny, maxx, maxy = land.bounds
    step = spacing_km * 1000.0
    xs = np.arange(minx + step / 2, maxx, step)
    ys = np.arange(miny + step / 2, maxy, step)
    xx, yy = np.meshgrid(xs, ys)
    points = shapely.points(xx.ravel(), yy.ravel())
    inside = shapely.contains_xy(land, xx.ravel(), yy.ravel())
    return gpd.GeoDataFrame(geometry=points[inside], crs=crs).to_crs("EPSG:4326")


def candidate_cells(
    heights: np.ndarray,
    grid: Grid,
    points: gpd.GeoDataFrame,
    weights: np.ndarray,
    params: ModelParameters,
    technology: str,
    height_m: float | None,
    workers: int | None = None,
) -> Candidates:
    """Model every candidate (both cores) and keep the cells with people without signal."""
    ground = np.where(np.isnan(heights), np.float32(-1000.0), heights).astype(np.float32)
    code = TECHNOLOGY_CODES[technology]
    xy = points.geometry.to_crs(grid.crs)
    sites = [
        Site(
            p.x,
            p.y,
            height_m or params.default_height_m,
            {code: 1000.0 * params.range_km[technology]},
            None,
            360.0,
        )
        for p in xy
    ]
    width = grid.width

    def cells_of(site: Site) -> np.ndarray:
        rows, cols, codes = tower_coverage(ground, grid, site, params)
        r, c = np.nonzero(codes)
        flat = (r + rows.start) * width + (c + cols.start)
        return flat[weights[flat] > 0]

    with ThreadPoolExecutor(max_workers=workers) as pool:
        cells = list(pool.map(cells_of, sites))
    kept = points.reset_index(drop=True)
    return Candidates(kept, cells, weights)


def _village_of(points: gpd.GeoDataFrame, villages: gpd.GeoDataFrame) -> list[str | None]:
    """The village each point lies in (the smallest code), ``None`` for none."""
    joined = gpd.sjoin(points[["geometry"]], villages[["code", "geometry"]], predicate="within")
    first = joined.sort_values("code").groupby(level=0)["code"].first()
    return [first.get(i) for i in points.index]


def plan_fibre(
    engine: Engine,
    *,
    within_km: float = 2.0,
    regency: str | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Villages near the fibre network, and the order to connect the others.

    Returns ``(near, order)``. ``near``: code, name, office_source, distance_m (to the nearest
    fibre node or route) for the villages within ``within_km``. ``order``: step, code, name,
    connect_to (``network`` or the village code it joins), link_m, cumulative_m, for the rest.
    Raises :class:`~geo.errors.AreaNotFound` without villages, and ValueError without fibre.
    """
    with transaction(engine) as session:
        villages = queries.villages(session, regency=regency)
        if villages.empty:
            raise AreaNotFound("no village to plan for: import boundaries first")
        offices = office_points(session, villages)
        network = [
            f[f["status"].fillna("") != "planned"]
            for f in (queries.assets(session, "fibre_node"), queries.assets(session, "fibre_route"))
        ]
    network = [f for f in network if not f.empty]
    if not network:
        raise ValueError("the registry holds no fibre node or route: import the network first")
    crs = region_crs(tuple(villages.total_bounds))
    xy = offices.geometry.to_crs(crs).to_numpy()
    lines = [g for f in network for g in f.geometry.to_crs(crs).to_numpy()]
    tree = shapely.STRtree(lines)
    _, to_network = tree.query_nearest(xy, return_distance=True, all_matches=False)
    names = dict(zip(villages["code"], villages["name"], strict=True))
    near_mask = to_network <= within_km * 1000.0
    near = pd.DataFrame(
        {
            "code": offices["code"][near_mask].to_numpy(),
            "name": [names[c] for c in offices["code"][near_mask]],
            "office_source": offices["office_source"][near_mask].to_numpy(),
            "distance_m": to_network[near_mask],
        }
    ).sort_values("distance_m", ignore_index=True)
    codes = offices["code"].to_numpy()
    order = _prim_from_network(xy, to_network, near_mask)
    rows = []
    total = 0.0
    for position, (i, parent, length) in enumerate(order, start=1):
        total += length
        rows.append(
            {
                "step": position,
                "code": codes[i],
                "name": names[codes[i]],
                "connect_to": "network" if parent < 0 else codes[parent],
                "link_m": length,
                "cumulative_m": total,
            }
        )
    return near, pd.DataFrame(
        rows, columns=["step", "code", "name", "connect_to", "link_m", "cumulative_m"]
    )


def _prim_from_network(
    points: np.ndarray, to_network: np.ndarray, joined: np.ndarray
) -> list[tuple[int, int, float]]:
    """Prim's order over the points not yet ``joined``: (point, parent or -1, link length).

    The tree starts as the network and the points already joined (offices near it); the
    candidate links are each point's own link to the network and the Delaunay edges between
    the points, which hold the Euclidean minimum spanning tree.
    """
    n = len(points)
    joined = np.asarray(joined, dtype=bool).copy()
    neighbours: list[list[tuple[float, int]]] = [[] for _ in range(n)]
    if n > 1:
        index: dict[tuple[float, float], int] = {}
        for i, p in enumerate(points):
            first = index.setdefault((p.x, p.y), i)
            if first != i:  # two offices at one point (GEOS keeps one): a link of 0 m
                neighbours[first].append((0.0, i))
                neighbours[i].append((0.0, first))
        edges = shapely.delaunay_triangles(shapely.MultiPoint(list(points)), only_edges=True)
        for edge in shapely.get_parts(edges):
            (x0, y0), (x1, y1) = edge.coords
            a, b = index.get((x0, y0)), index.get((x1, y1))
            if a is None or b is None or a == b:
                continue
            length = math.hypot(x1 - x0, y1 - y0)
            neighbours[a].append((length, b))
            neighbours[b].append((length, a))
    heap = [(float(d), i, -1) for i, d in enumerate(to_network) if not joined[i]]
    for i in np.flatnonzero(joined):
        heap.extend((length, j, int(i)) for length, j in neighbours[i] if not joined[j])
    heapq.heapify(heap)
    order = []
    while heap:
        length, i, parent = heapq.heappop(heap)
        if joined[i]:
            continue
        joined[i] = True
        order.append((i, parent, length))
        for edge_length, j in neighbours[i]:
            if not joined[j]:
                heapq.heappush(heap, (edge_length, j, i))
    return order
