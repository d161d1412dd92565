"""A summary of the registry: areas per level and kind, assets per layer, gaps."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine, case, func, select
from sqlalchemy.orm import Session

from geo.codes import normalize_code
from geo.queries import without_layer
from geo.store.backend import backend_of
from geo.store.db import transaction
from geo.store.models import AREA_MODELS, ASSET_LAYERS, Village

SAMPLE = "sample"


def describe_database(engine: Engine) -> str:
    """Where the registry is, without a password."""
    return backend_of(engine).describe(engine)


def registry_summary(engine: Engine, *, regency: str | None = None) -> dict[str, Any]:
    """Counts per level, per kind, per layer, and villages lacking a destination or product.

    ``regency`` (a code such as ``35.07``) limits villages and assets to that regency.
    """
    if regency is not None:
        regency = normalize_code(regency)
    with transaction(engine) as session:
        return {
            "database": describe_database(engine),
            "regency": regency,
            "areas": _areas(session, regency),
            "villages_by_kind": _village_kinds(session, regency),
            "layers": {name: _layer(session, name, regency) for name in ASSET_LAYERS},
            "villages_without": {
                "destination": _villages_without(session, "destination", regency),
                "product_site": _villages_without(session, "product_site", regency),
            },
        }


def _in_regency(column: Any, regency: str | None) -> Any:
    """Condition: the code in ``column`` lies in ``regency`` (always true without one)."""
    return True if regency is None else column.like(f"{regency}.%")


def _areas(session: Session, regency: str | None) -> dict[str, dict[str, int]]:
    """Areas in force per level: how many, how many derived, repaired or sample, their km².

    With ``regency``, only that regency, its province and the areas under it.
    """
    out = {}
    for level, model in AREA_MODELS.items():
        where = [model.in_force()]
        if regency is not None:
            where.append(
                (model.code == regency)
                | model.code.like(f"{regency}.%")
                | (model.code == regency.split(".")[0])
            )
        row = session.execute(
            select(
                func.count(),
                func.coalesce(func.sum(case((model.source.like("derived%"), 1), else_=0)), 0),
                func.coalesce(
                    func.sum(
                        case(
                            (model.geometry_note.is_not(None) & ~model.source.like("derived%"), 1),
                            else_=0,
                        )
                    ),
                    0,
                ),
                func.coalesce(func.sum(case((model.source == SAMPLE, 1), else_=0)), 0),
                func.coalesce(func.sum(model.area_km2), 0.0),
            ).where(*where)
        ).one()
        out[str(level)] = {
            "count": row[0],
            "derived": row[1],
            "repaired": row[2],
            "sample": row[3],
            "area_km2": round(float(row[4]), 2),
        }
    return out


def _village_kinds(session: Session, regency: str | None) -> dict[str, int]:
    """Villages in force per kind (``desa``, ``kelurahan``)."""
    rows = session.execute(
        select(Village.kind, func.count())
        .where(Village.in_force(), _in_regency(Village.code, regency))
        .group_by(Village.kind)
        .order_by(Village.kind)
    ).all()
    return {kind: count for kind, count in rows}


def _layer(session: Session, name: str, regency: str | None) -> dict[str, int]:
    """Features of the asset layer ``name``: how many, linked, unlinked and sample."""
    model = ASSET_LAYERS[name].model
    where = [] if regency is None else [model.village_code.like(f"{regency}.%")]
    row = session.execute(
        select(
            func.count(),
            func.coalesce(func.sum(case((model.village_code.is_not(None), 1), else_=0)), 0),
            func.coalesce(func.sum(case((model.source == SAMPLE, 1), else_=0)), 0),
        ).where(*where)
    ).one()
    return {"count": row[0], "linked": row[1], "unlinked": row[0] - row[1], "sample": row[2]}


def _villages_without(session: Session, layer: str, regency: str | None) -> int:
    """Number of villages in force with no feature of ``layer`` linked to them."""
    return session.scalar(
        select(func.count())
        .select_from(Village)
        .where(Village.in_force(), _in_regency(Village.code, regency), without_layer(layer))
    )
