"""Bulk reads and writes shared by the importers (SQLAlchemy Core, both backends)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
from sqlalchemy import bindparam, func, select, update
from sqlalchemy.orm import Session

import shapely

from geo.store.backend import WKB_PARAM, backend_of
from geo.store.models import utcnow


def read_geometries(session: Session, column: Any, key: Any, keys: Sequence[Any]) -> dict[Any, Any]:
    """Map ``key`` -> shapely geometry of ``column`` for the given keys (chunked IN lists)."""
    out: dict[Any, Any] = {}
    for start in range(0, len(keys), 5000):
        chunk = list(keys[start : start + 5000])
        rows = session.execute(select(key, func.ST_AsBinary(column)).where(key.in_(chunk))).all()
        for k, wkb in rows:
            out[k] = shapely.from_wkb(bytes(wkb)) if wkb is not None else None
    return out


class Inserter:
    """Inserts rows chunk by chunk within the session's transaction; use as a context manager.

    Each row is a dict of column values with the geometry already encoded by the backend's
    :meth:`~geo.store.backend.Backend.encode_geometries` under ``geom_column``. The backend
    decides how rows travel (:meth:`~geo.store.backend.Backend.row_sink`: one binary ``COPY``
    on PostGIS, an ``executemany`` per chunk on the GeoPackage).

    ``expected``: how many rows the caller is about to insert. When that is at least
    :data:`geo.store.backend.BULK_LOAD_MIN_ROWS` and more than the table holds, PostGIS makes
    it a bulk load, with the table's GiST indexes and foreign keys made once at the end.
    """

    def __init__(
        self, session: Session, model: type, geom_column: str, *, expected: int = 0
    ) -> None:
        self.session, self.model, self.geom_column = session, model, geom_column
        self._sink = backend_of(session).row_sink(session, model, geom_column, expected)

    @property
    def bulk(self) -> bool:
        """Whether the indexes and foreign keys were suspended (PostGIS only)."""
        return self._sink.bulk

    def __enter__(self) -> Inserter:
        return self

    def __exit__(self, exc_type: object, *exc: object) -> None:
        self._sink.close(committed=exc_type is None)

    def write(self, rows: list[dict[str, Any]]) -> None:
        """Insert these rows (in the order given)."""
        self._sink.write(rows)


def insert_rows(
    session: Session, model: type, rows: list[dict[str, Any]], geom_column: str
) -> None:
    """Insert rows, each with a shapely geometry under ``geom_column``, in one go.

    A bulk load (see :class:`Inserter`) when there are many rows for the table's size.
    """
    if not rows:
        return
    wkbs = backend_of(session).encode_geometries([row[geom_column] for row in rows])
    with Inserter(session, model, geom_column, expected=len(rows)) as inserter:
        inserter.write([{**row, geom_column: wkb} for row, wkb in zip(rows, wkbs, strict=True)])


def update_rows(
    session: Session, model: type, rows: list[dict[str, Any]], geom_column: str
) -> None:
    """Update rows by ``id``, bumping ``version`` and ``updated_at`` (rows carry ``version``)."""
    if not rows:
        return
    now = utcnow()
    table = model.__table__
    backend = backend_of(session)
    payload = []
    for row in rows:
        item = {k: v for k, v in row.items() if k not in ("id", geom_column)}
        item.update(updated_at=now, version=row["version"] + 1, _id=row["id"])
        item[WKB_PARAM] = shapely.to_wkb(row[geom_column])
        payload.append(item)
    columns = [k for k in payload[0] if k not in ("_id", WKB_PARAM)]
    stmt = (
        update(table)
        .where(table.c.id == bindparam("_id"))
        .values({c: bindparam(c) for c in columns} | {geom_column: backend.geom_from_wkb()})
    )
    session.execute(stmt, payload)


def same_geometries(a: Sequence[Any], b: Sequence[Any]) -> np.ndarray:
    """Pairwise, whether two geometries are identical once normalised (two missing ones are).

    Two equally long sequences, compared in one vectorised pass.
    """
    left = np.asarray(a, dtype=object)
    right = np.asarray(b, dtype=object)
    same = shapely.equals_exact(shapely.normalize(left), shapely.normalize(right), tolerance=0)
    both_missing = shapely.is_missing(left) & shapely.is_missing(right)
    return np.asarray(same, dtype=bool) | both_missing


def changed_fields(
    existing: dict[str, Any], new: dict[str, Any], fields: Iterable[str]
) -> list[str]:
    """Names of the fields whose value differs (floats compared to 1e-9)."""
    out = []
    for name in fields:
        old, value = existing.get(name), new.get(name)
        if isinstance(old, float) and isinstance(value, float):
            if abs(old - value) > 1e-9 * max(1.0, abs(old)):
                out.append(name)
        elif old != value:
            out.append(name)
    return out
