"""A summary of the registry: areas per level and kind, assets per layer, gaps.

And the numbers behind a decision, per district or regency (:func:`decision_numbers`).
"""

from __future__ import annotations

from typing import Any

import pandas as pd
from sqlalchemy import Engine, case, func, select
from sqlalchemy.orm import Session

from geo import queries
from geo.codes import Level, normalize_code
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


DECISION_COLUMNS = (
    "villages", "with_fibre", "without_fibre", "with_4g", "without_4g", "blank_spot",
    "unknown", "people_without_signal", "with_destination", "without_destination",
    "with_product", "without_product",
)  # fmt: skip
"""The numbers behind a decision, per district or regency (:func:`decision_numbers`)."""
AT_LEAST_4G = ("fibre", "4G")
"""Classes of the register with 4G or better (a village on fibre is better served than 4G)."""


def decision_numbers(
    session: Session, *, by: str = "district", regency: str | None = None
) -> pd.DataFrame:
    """Per district (or regency) of the villages in force: what planners decide on.

    ``villages``; ``with_fibre`` (the register's fibre link); ``with_4g`` (class fibre or 4G);
    ``blank_spot`` (class blank spot); ``unknown`` (no register row, or class unknown);
    ``people_without_signal`` (people the model leaves without any signal); villages
    ``with_destination`` and ``with_product`` (a linked tourist destination, an OVOP/UMKM
    product site) and the ``without_`` of each. Register numbers are each village's latest
    run. Rows ordered by code, with ``code`` and ``name`` of the district or regency; one row
    for each area that has villages. Raises ValueError for ``by`` not district or regency.
    """
    if by not in ("district", "regency"):
        raise ValueError(f"by must be district or regency, got {by!r}")
    if regency is not None:
        regency = normalize_code(regency)
    villages = queries.plain_frame(
        session,
        select(Village.code, Village.parent_code.label("district")).where(
            Village.in_force(), _in_regency(Village.code, regency)
        ),
    )
    register = queries.connectivity(session, regency=regency).set_index("code")
    classes = register["connectivity_class"]
    fibre = register["has_fibre"].fillna(False).astype(bool)
    uncovered = register["population_uncovered"]
    linked = {
        layer: _linked_villages(session, layer, regency)
        for layer in ("destination", "product_site")
    }
    codes = villages["code"]
    cls = codes.map(classes)
    frame = pd.DataFrame(
        {
            "code": villages["district"] if by == "district" else codes.str[:5],
            "villages": 1,
            "with_fibre": codes.map(fibre).fillna(False).astype(int),
            "with_4g": cls.isin(AT_LEAST_4G).astype(int),
            "blank_spot": (cls == "blank spot").astype(int),
            "unknown": (cls.isna() | (cls == "unknown")).astype(int),
            "people_without_signal": codes.map(uncovered),
            "with_destination": codes.isin(linked["destination"]).astype(int),
            "with_product": codes.isin(linked["product_site"]).astype(int),
        }
    )
    table = frame.groupby("code", sort=True).agg(
        {c: "sum" for c in frame.columns if c not in ("code", "people_without_signal")}
        | {"people_without_signal": lambda s: None if s.isna().all() else round(s.sum(), 1)}
    )
    for name in ("fibre", "4g", "destination", "product"):
        table[f"without_{name}"] = table["villages"] - table[f"with_{name}"]
    model = AREA_MODELS[Level.DISTRICT if by == "district" else Level.REGENCY]
    in_table = model.code.in_(list(table.index))
    names = dict(
        session.execute(select(model.code, model.name).where(model.in_force(), in_table)).all()
    )
    table.insert(0, "name", [names.get(code) for code in table.index])
    return table[["name", *DECISION_COLUMNS]].reset_index()


def _linked_villages(session: Session, layer: str, regency: str | None) -> set[str]:
    model = ASSET_LAYERS[layer].model
    stmt = select(model.village_code).where(
        model.village_code.is_not(None), _in_regency(model.village_code, regency)
    )
    return set(session.scalars(stmt.distinct()))
