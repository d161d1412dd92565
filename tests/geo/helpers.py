"""Build small registries in code: areas with valid parents, and assets, on either backend."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.orm import Session

import shapely
from shapely.geometry import MultiPolygon, Polygon, box
from shapely.geometry.base import BaseGeometry

from geo.codes import kind_of, level_of, parent_of
from geo.store.backend import backend_of
from geo.store.models import AREA_MODELS, LINKED_LAYERS, AdminArea, Asset, utcnow

LON0, LAT0 = 112.0, -8.0
"""South-west corner of the test grid (near Kab. Malang, so coordinates look real)."""
CELL = 0.1


def cell(col: float, row: float = 0.0, width: float = 1.0, height: float = 1.0) -> Polygon:
    """A rectangle on the test grid, ``width`` x ``height`` cells from cell (col, row)."""
    x0, y0 = LON0 + col * CELL, LAT0 + row * CELL
    return box(x0, y0, x0 + width * CELL, y0 + height * CELL)


def at(col: float, row: float = 0.0) -> tuple[float, float]:
    """Lon/lat of a grid position (fractions of a cell allowed)."""
    return (LON0 + col * CELL, LAT0 + row * CELL)


def add_area(
    session: Session,
    code: str,
    shape: Polygon | MultiPolygon,
    *,
    name: str | None = None,
    valid_from: dt.date = dt.date(1970, 1, 1),
    valid_to: dt.date | None = None,
) -> AdminArea:
    """Insert one area of the level its code says, linked to its current parent row."""
    model = AREA_MODELS[level_of(code)]
    parent_code = parent_of(code)
    parent_id = None
    if parent_code is not None:
        parent = AREA_MODELS[level_of(parent_code)]
        parent_id = session.execute(
            select(parent.id).where(parent.code == parent_code, parent.valid_to.is_(None))
        ).scalar_one()
    multi = shape if isinstance(shape, MultiPolygon) else MultiPolygon([shape])
    point = multi.representative_point()
    row = dict(
        code=code,
        name=name or f"Area {code}",
        source="test",
        kind=kind_of(code),
        parent_code=parent_code,
        parent_id=parent_id,
        area_km2=round(multi.area * 12_300, 3),
        label_lon=point.x,
        label_lat=point.y,
        valid_from=valid_from,
        valid_to=valid_to,
    )
    return _insert(session, model, "boundary", multi, row)


def _insert(
    session: Session, model: type, geom_column: str, geom: BaseGeometry, row: dict[str, Any]
) -> Any:
    """Insert like the importers do (GeoPackage binary on a GeoPackage) and load the row."""
    now = utcnow()
    geom_value = backend_of(session).geom_from_wkb()
    stmt = insert(model).values({geom_column: geom_value}).returning(model.id)
    payload = {**row, "_wkb": shapely.to_wkb(geom), "created_at": now, "updated_at": now}
    new_id = session.execute(stmt, payload).scalar_one()
    return session.get(model, new_id)


def add_areas(session: Session, areas: dict[str, Polygon | MultiPolygon]) -> None:
    """Insert areas given as {code: shape}, parents first (sorted by code does that)."""
    for code in sorted(areas, key=lambda c: (c.count("."), c)):
        add_area(session, code, areas[code])


def add_asset(
    session: Session,
    layer: str,
    geom: BaseGeometry,
    *,
    name: str | None = None,
    claimed: str | None = None,
    village_code: str | None = None,
    **columns: Any,
) -> Asset:
    """Insert one asset row; ``source_id`` is taken from the row count so that it is unique."""
    model = LINKED_LAYERS[layer].model
    source_id = str(len(session.execute(select(model.id)).all()) + 1)
    row = dict(
        name=name or f"{layer} {source_id}",
        source="test",
        source_id=source_id,
        claimed_village_code=claimed,
        village_code=village_code,
        **columns,
    )
    return _insert(session, model, "geom", geom, row)


TULUNGREJO = "35.07.01.2001"
SUMBEROTO = "35.07.01.2002"
KEDUNGSALAM = "35.07.10.2001"
PESANTREN = "35.71.01.1001"
BLABAK = "35.71.01.1002"
OLD_TULUNGREJO_FROM, NEW_TULUNGREJO_FROM = dt.date(1970, 1, 1), dt.date(2020, 1, 1)

SAMPLE_AREAS: dict[str, Polygon] = {
    "35": cell(0, -1, 10, 4),
    "35.07": cell(0, 0, 3, 1),
    "35.71": cell(3, 0, 2, 1),
    "35.07.01": cell(0, 0, 2, 1),
    "35.07.10": cell(2, 0, 1, 1),
    "35.71.01": cell(3, 0, 2, 1),
    TULUNGREJO: cell(0),
    SUMBEROTO: cell(1),
    KEDUNGSALAM: cell(1.95, 0, 1.05),  # overlaps Sumberoto by a 0.05-cell sliver
    PESANTREN: cell(3),
    BLABAK: cell(4),
}
"""A province, two regencies, three districts and five villages in a row, west to east::

    | Tulungrejo | Sumberoto |#| Kedungsalam | Pesantren | Blabak |      (cells 0..5)
    35.07.01.2001  35.07.01.2002  35.07.10.2001  35.71.01.1001  35.71.01.1002

``#`` is the sliver where Sumberoto and Kedungsalam overlap. Tulungrejo also has a retired
version (``valid_to`` set) far to the east, over cell 6, which no query or link may use.
"""


def add_sample_areas(session: Session) -> None:
    """Insert :data:`SAMPLE_AREAS` plus the retired version of Tulungrejo."""
    areas = dict(SAMPLE_AREAS)
    current = areas.pop(TULUNGREJO)
    add_areas(session, areas)
    add_area(
        session,
        TULUNGREJO,
        cell(6),
        name="Tulungrejo (old)",
        valid_from=OLD_TULUNGREJO_FROM,
        valid_to=NEW_TULUNGREJO_FROM,
    )
    add_area(session, TULUNGREJO, current, name="Tulungrejo", valid_from=NEW_TULUNGREJO_FROM)
