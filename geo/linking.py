"""Link every asset to the village (*desa/kelurahan*) it lies in, inside the database.

:func:`link_assets` sets ``village_code`` on the rows of one or more asset layers from the
current village boundaries (``valid_to IS NULL``):

- a point belongs to the village whose boundary *intersects* it, so a point on a shared border
  or in an overlap of two polygons (the real boundaries have slivers) has several candidates;
  the smallest code wins, so the answer is deterministic and the same on both backends;
- any other geometry (fibre routes) belongs to the village holding the largest share of it:
  the length of the intersection for lines, its area for polygons, measured in degrees (only
  the maximum matters), ties again to the smallest code.

The spatial join runs in the database with its spatial index: on PostGIS the planner drives it
from the villages into the asset table's GiST index, so each village boundary is prepared once
(measured about 8x faster than probing the village index once per point, and faster than first
splitting the villages with ``ST_Subdivide``). On GeoPackage the same order goes through an
explicit bounding-box prefilter against the layer's ``rtree_<layer>_geom`` virtual table
(SQLite never uses an R*Tree by itself), and SpatiaLite reuses the boundary it prepared last
(200,000 towers: 2.6 s instead of 8.2 s).

With ``ids`` the assets are looked up one by one instead (a few new rows in a large layer; on
GeoPackage through ``rtree_village_boundary``), unless they are many and a fair share of the
layer: then the villages drive the join again and keep the selected rows, and ids naming every
row of the layer link it whole (an importer's first load). A layer with no rows in scope is
skipped after one ``EXISTS``: every boundary import relinks all nine layers (seven of assets,
two of measurements), and most are often empty.

The winners go to a temporary table together with each asset's ``village_code`` as the join
read it, so what changes is known without another pass over the layer; rows linked before and
now in no village join them with no code. One ``UPDATE ... FROM`` then writes only the rows
whose code changes, through the primary key in id order.

On PostGIS every rewritten row gets a new version. When no indexed column changes and the new
version fits on the row's page, the update is HOT (heap-only tuple) and touches no index;
otherwise it adds an entry to every index of the layer, the GiST on ``geom`` included. As
``village_code`` is indexed, link updates were never HOT: the write-back took 2.6 s of 3.4 s
linking 196,091 of 1,000,000 points (``bench/link_points.py``). So:

- asset tables keep room on their pages (fillfactor 80, :data:`geo.store.models.ASSET_FILLFACTOR`);
- a *bulk* write-back, changing at least :data:`BULK_MIN_ROWS` rows and
  :data:`BULK_MIN_SHARE` of the layer, drops the layer's ``village_code`` index first and
  builds it again afterwards, in the same transaction, with the name and definition the model
  declares (those the migrations created). Its updates are then HOT: in the benchmark the
  write-back takes 0.47 s and the rebuild 0.37 s, and linking end to end 1.9 s. The rebuild
  costs ~0.4 s per 1,000,000 rows of the layer and a HOT update saves ~10 us (rows in id
  order) to ~20 us (scattered ids), so dropping pays from 2-4% of the layer: the thresholds
  leave a margin, and keep small links off this path.
- Dropping an index takes an ACCESS EXCLUSIVE lock on the layer until the caller commits:
  nobody reads the layer (QGIS, the API) until then. That is acceptable for a bulk relink (a
  boundary import, a large asset import), not for small incremental links, which keep the
  index and only take the ROW EXCLUSIVE lock that readers ignore. The lock is waited for at
  most :data:`geo.store.backend.BULK_LOCK_TIMEOUT`: when a reader holds the layer longer, the
  write-back goes the incremental way instead of queueing every other reader behind it.
- The rebuilt index sees HOT chains that older snapshots still read, so PostgreSQL marks it
  ``indcheckxmin``: the planner ignores it for the rest of this transaction, and uses it again
  once the transactions older than the commit are gone.

The GeoPackage has neither HOT updates nor a fillfactor: its write-back is always the plain
one. Nothing is committed: the caller owns the transaction.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
from sqlalchemy import (
    Column,
    Connection,
    Index,
    LargeBinary,
    MetaData,
    Select,
    Table,
    Text,
    and_,
    exists,
    func,
    insert,
    null,
    select,
    update,
)
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

import shapely

from geo.perf import gc_paused
from geo.store.backend import backend_of
from geo.store.models import LINKED_LAYERS, Asset, LayerInfo, Village, asset_layer, utcnow

MAX_LISTED = 1000
"""Default cap on the ``outside`` and ``mismatched`` entries listed per layer (counts are full)."""

BULK_MIN_ROWS = 20_000
"""A write-back changing fewer rows than this always goes the incremental way."""

BULK_MIN_SHARE = 0.05
"""...and so does one changing less than this share of the layer's rows."""

_ROWCOUNT = {"preserve_rowcount": True}
"""SQLAlchemy keeps the row count of an ``INSERT ... SELECT`` only when asked."""


@dataclass
class LayerCounts:
    """What linking did to one layer (within ``ids`` when given)."""

    total: int = 0
    linked: int = 0
    changed: int = 0
    unlinked: int = 0
    mismatched: int = 0


@dataclass(frozen=True)
class OutsideAsset:
    """An asset in no current village; ``lon``/``lat`` is a point on it."""

    layer: str
    id: int
    name: str
    lon: float
    lat: float


@dataclass(frozen=True)
class Mismatch:
    """An asset whose source claimed another village than its geometry says."""

    layer: str
    id: int
    name: str
    claimed_village_code: str
    village_code: str | None


@dataclass
class LinkReport:
    """Per-layer counts, and the assets a person should look at.

    ``outside`` and ``mismatched`` list at most ``max_listed`` entries per layer (lowest ids
    first); the counts in ``layers`` are always complete.
    """

    layers: dict[str, LayerCounts] = field(default_factory=dict)
    outside: list[OutsideAsset] = field(default_factory=list)
    mismatched: list[Mismatch] = field(default_factory=list)
    max_listed: int | None = MAX_LISTED

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready form."""
        return {
            "layers": {name: asdict(counts) for name, counts in self.layers.items()},
            "outside": [asdict(item) for item in self.outside],
            "mismatched": [asdict(item) for item in self.mismatched],
            "max_listed": self.max_listed,
        }


@gc_paused()
def link_assets(
    session: Session,
    layers: Iterable[str] | None = None,
    *,
    ids: dict[str, list[int]] | None = None,
    max_listed: int | None = MAX_LISTED,
    count_as_edit: bool = True,
) -> LinkReport:
    """Set ``village_code`` on the assets of ``layers`` (all layers by default).

    ``ids`` restricts a layer to those row ids (layers default to its keys); a layer named in
    ``layers`` but absent from ``ids`` is linked whole. Rows whose village does not change are
    not rewritten; changed rows get ``version + 1`` and a new ``updated_at``. Runs in the
    session's transaction and does not commit. Raises :class:`~geo.errors.UnknownLayer`.

    ``count_as_edit=False`` leaves ``version`` and ``updated_at`` alone: an importer that has just
    written the rows links them as part of that same edit.
    """
    infos = _resolve_layers(layers, ids)
    session.flush()
    conn = session.connection()
    report = LinkReport(max_listed=max_listed)
    with backend_of(conn).tuned_for_bulk_joins(conn):
        for info in infos:
            selected = None if ids is None else ids.get(info.name)
            _link_layer(conn, info, selected, report, count_as_edit)
    _expire_links(session, {info.model for info in infos})
    return report


POINT_VILLAGES_BATCH = 2_000
"""Village boundaries read and matched at a time by :func:`point_villages` (bounded memory:
a national tower file need not hold 84,940 full-resolution boundaries at once)."""


def point_villages(session: Session, points: np.ndarray) -> list[str | None]:
    """The village each point lies in, decided in memory as :func:`link_assets` decides.

    The current villages that intersect a point (its border included), the smallest code of
    them; ``None`` for a point in no current village. For an importer about to insert many
    points: the villages in the points' bounding box are read in batches of
    :data:`POINT_VILLAGES_BATCH` and each probes a shapely ``STRtree`` of the points with
    GEOS's own intersection test (SpatiaLite's too; PostGIS's own point-in-polygon test may
    differ for a point within rounding of an edge, which a later relink would settle).
    """
    best = np.full(len(points), None, dtype=object)
    if not len(points):
        return best.tolist()
    bounds = tuple(shapely.total_bounds(points).tolist())
    stmt = select(Village.code, func.ST_AsBinary(Village.boundary, type_=LargeBinary)).where(
        Village.in_force()
    )
    stmt = backend_of(session).within_bbox(stmt, Village, Village.boundary, bounds)
    # The villages probe a tree of the points, each boundary prepared once for all its points
    # (as in the database): 0.27 s for 200,000 towers, 0.72 s the other way round.
    tree = shapely.STRtree(points)
    result = session.execute(stmt.execution_options(yield_per=POINT_VILLAGES_BATCH))
    for batch in result.partitions():
        codes = np.array([code for code, _ in batch], dtype=object)
        boundaries = shapely.from_wkb([bytes(wkb) for _, wkb in batch])
        village_index, point_index = tree.query(boundaries, predicate="intersects")
        for i, code in zip(point_index.tolist(), codes[village_index].tolist(), strict=True):
            if best[i] is None or code < best[i]:
                best[i] = code
    return best.tolist()


def _resolve_layers(
    layers: Iterable[str] | None, ids: dict[str, list[int]] | None
) -> list[LayerInfo]:
    """The layers to link, each once and in order: ``layers``, else the keys of ``ids``, else all.

    Every name, those of ``ids`` included, must be a layer (:class:`~geo.errors.UnknownLayer`).
    """
    if isinstance(layers, str):  # one name, not its letters
        layers = [layers]
    names = list(layers) if layers is not None else list(ids or LINKED_LAYERS)
    infos = {name: asset_layer(name) for name in [*names, *(ids or {})]}
    return [infos[name] for name in dict.fromkeys(names)]


def _expire_links(session: Session, models: set[type[Asset]]) -> None:
    """Expire the rewritten columns of loaded assets so that they reload."""
    for obj in list(session.identity_map.values()):
        if isinstance(obj, tuple(models)):
            session.expire(obj, ["village_code", "version", "updated_at"])


# --------------------------------------------------------------------------------------------
# One layer
# --------------------------------------------------------------------------------------------


def _link_layer(
    conn: Connection,
    info: LayerInfo,
    selected: list[int] | None,
    report: LinkReport,
    count_as_edit: bool = True,
) -> None:
    """Link one layer's assets (all, or the ``selected`` ids) and put its counts in ``report``."""
    model = info.model
    if selected is not None and not selected:
        report.layers[info.name] = LayerCounts()
        return
    scratch = MetaData()
    scope, villages_drive = None, True
    if selected is not None:
        scope = _id_table(conn, scratch, selected)
        wanted = len(set(selected))
        rows = _layer_rows(conn, model, wanted)
        if _is_whole_layer(conn, model, scope, wanted, rows):
            scope = None  # the same links, by the whole-layer path
        else:
            villages_drive = _villages_drive(wanted, rows)
    if not _has_rows(conn, model, scope):
        # Every boundary import relinks all layers: an empty one costs this one query.
        report.layers[info.name] = LayerCounts()
        scratch.drop_all(conn)
        return
    best, winners = _best_table(conn, scratch, model, scope, villages_drive)
    changed = _write_back(conn, model, best, winners, scope, count_as_edit)
    _describe_layer(conn, info, scope, report, LayerCounts(changed=changed))
    scratch.drop_all(conn)


def _describe_layer(
    conn: Connection, info: LayerInfo, scope: Table | None, report: LinkReport, counts: LayerCounts
) -> None:
    """Count the layer's links within ``scope``; list the assets in no village or another."""
    _count(conn, info.model, scope, counts)
    report.layers[info.name] = counts
    if counts.unlinked:
        report.outside.extend(_outside(conn, info, scope, report.max_listed))
    if counts.mismatched:
        report.mismatched.extend(_mismatched(conn, info, scope, report.max_listed))


def describe_links(
    session: Session, layer: str, *, changed: int = 0, max_listed: int | None = MAX_LISTED
) -> LinkReport:
    """The report :func:`link_assets` gives of a whole layer, from the links as they stand.

    For a layer whose rows were given their ``village_code`` as they were written (a first
    load of many points, linked by :func:`point_villages`): nothing is joined or rewritten.
    ``changed`` is how many links the caller made.
    """
    session.flush()
    report = LinkReport(max_listed=max_listed)
    counts = LayerCounts(changed=changed)
    _describe_layer(session.connection(), asset_layer(layer), None, report, counts)
    return report


def _has_rows(conn: Connection, model: type[Asset], scope: Table | None) -> bool:
    """True when the layer has a row within ``scope``: one ``EXISTS``, done at the first row."""
    any_row = select(model.id).where(*_in_scope(model, scope)).exists()
    return bool(conn.execute(select(any_row)).scalar_one())


def _temp_table(scratch: MetaData, stem: str, *columns: Column) -> Table:
    """A temporary table of ``columns`` in ``scratch``, under a random name so that none clashes."""
    name = f"petadesa_{stem}_{uuid.uuid4().hex[:8]}"
    return Table(name, scratch, *columns, prefixes=["TEMPORARY"])


def _id_table(conn: Connection, scratch: MetaData, selected: list[int]) -> Table:
    """Put the ids to link in a temporary table (any number, on both backends)."""
    backend = backend_of(conn)
    ids = _temp_table(scratch, "ids", backend.temp_id_column())
    ids.create(conn)
    backend.fill_ids(conn, ids, sorted({int(i) for i in selected}))
    return ids


VILLAGES_DRIVE_MIN_IDS = 5_000
"""Fewer selected ids than this are always linked one village lookup per asset."""

VILLAGES_DRIVE_MIN_SHARE = 0.2
"""...and so are selected ids making up less than this share of their layer."""


def _layer_rows(conn: Connection, model: type[Asset], wanted: int) -> int | None:
    """The layer's rows, counted only as far as the decisions on ``wanted`` ids need.

    ``None`` when the ids are too few for those decisions to matter.
    """
    if wanted < VILLAGES_DRIVE_MIN_IDS:
        return None
    enough = int(wanted / VILLAGES_DRIVE_MIN_SHARE) + 1
    return conn.execute(
        select(func.count()).select_from(select(model.id).limit(enough).subquery())
    ).scalar_one()


def _is_whole_layer(
    conn: Connection, model: type[Asset], scope: Table, wanted: int, rows: int | None
) -> bool:
    """True when the ``wanted`` selected ids are every row of the layer (an importer's load).

    The whole-layer path then links them without looking each one up in the ids.
    """
    if rows != wanted:
        return False
    present = select(func.count()).select_from(model).join(scope, scope.c.id == model.id)
    return conn.execute(present).scalar_one() == wanted


def _villages_drive(wanted: int, rows: int | None) -> bool:
    """Whether villages drive the join into the layer's spatial index (GiST, or R*Tree).

    ``wanted`` selected rows of a layer of ``rows`` (as far as :func:`_layer_rows` counted). A
    whole layer always goes that way. Selected rows too when they are many and a fair share
    of the layer (an importer linking the 200,000 towers it has just written: 4.1 s one village
    lookup per tower, see ``bench``): each village then probes the layer once and keeps the
    selected rows; a few new rows in a large layer are still looked up one by one.
    """
    return rows is not None and rows < int(wanted / VILLAGES_DRIVE_MIN_SHARE) + 1


def _best_table(
    conn: Connection,
    scratch: MetaData,
    model: type[Asset],
    scope: Table | None,
    villages_drive: bool,
) -> tuple[Table, int]:
    """Temporary table (id, code, current): the chosen village of each asset that is in one.

    ``current`` is the asset's ``village_code`` as the join read it, so the write-back knows
    what changes without another look at the layer.
    """
    best = _temp_table(
        scratch,
        "link",
        backend_of(conn).temp_id_column(),
        Column("code", Text),
        Column("current", Text),
    )
    best.create(conn)
    columns = ["id", "code", "current"]
    fill = insert(best).from_select(columns, _best_villages(conn, model, scope, villages_drive))
    return best, conn.execute(fill, execution_options=_ROWCOUNT).rowcount


def _best_villages(
    conn: Connection, model: type[Asset], scope: Table | None, villages_drive: bool
) -> Select:
    """One row (asset id, village code) per asset that lies in at least one current village."""
    cand = _candidates(conn, model, scope, villages_drive).subquery("candidate")
    if model.geometry_type == "POINT":
        return (
            select(cand.c.id, func.min(cand.c.code), cand.c.current)
            .group_by(cand.c.id, cand.c.current)
            .order_by(cand.c.id)
        )
    rank = func.row_number().over(
        partition_by=cand.c.id, order_by=(cand.c.share.desc(), cand.c.code)
    )
    ranked = select(cand.c.id, cand.c.code, cand.c.current, rank.label("rank")).subquery("ranked")
    return (
        select(ranked.c.id, ranked.c.code, ranked.c.current)
        .where(ranked.c.rank == 1)
        .order_by(ranked.c.id)
    )


def _share(model: type[Asset]) -> list[ColumnElement[float]]:
    """How much of an asset a village holds: intersection length for lines, area for polygons.

    Empty for points: a point is wholly in every village it intersects.
    """
    if model.geometry_type == "POINT":
        return []
    piece = func.ST_Intersection(Village.boundary, model.geom)
    measure = func.ST_Area if "POLYGON" in model.geometry_type else func.ST_Length
    return [measure(piece).label("share")]


def _candidates(
    conn: Connection, model: type[Asset], scope: Table | None, villages_drive: bool
) -> Select:
    """(id, code, current[, share]) for every asset and current village that intersect.

    With ``villages_drive`` the villages probe the layer's spatial index, each boundary
    prepared once for all its candidates (see the module's notes); otherwise each selected
    asset probes the villages' index.
    """
    backend = backend_of(conn)
    asset_columns = [model.id.label("id"), model.village_code.label("current"), *_share(model)]
    village_code = Village.code.label("code")
    if villages_drive:
        joined, (asset_id, *rest) = backend.spatial_join(
            Village.__table__,
            Village.boundary,
            model.__table__,
            model.geom,
            inner_columns=asset_columns,
            inner_scope=scope,
            outer_drives=True,
        )
        columns = [asset_id, village_code, *rest]
    else:
        assets = model.__table__
        if scope is not None:
            assets = assets.join(scope, scope.c.id == model.id)
        joined, _ = backend.spatial_join(
            assets,
            model.geom,
            Village.__table__,
            Village.boundary,
            inner_columns=[village_code],
        )
        columns = [asset_columns[0], village_code, *asset_columns[1:]]
    return select(*columns).select_from(joined).where(Village.in_force())


# --------------------------------------------------------------------------------------------
# Write-back and report
# --------------------------------------------------------------------------------------------


def _in_scope(model: type[Asset], scope: Table | None) -> list[ColumnElement[bool]]:
    """Condition keeping ``model``'s rows to the ids in ``scope``; none without a scope."""
    return [] if scope is None else [model.id.in_(select(scope.c.id))]


def _write_back(
    conn: Connection,
    model: type[Asset],
    best: Table,
    winners: int,
    scope: Table | None,
    count_as_edit: bool = True,
) -> int:
    """Write every code that changes, unlinks included, in one ``UPDATE``. Returns the changes.

    Rows linked before and now in no village join ``best`` with no code (finding them uses the
    ``village_code`` index while few rows are linked). A bulk change runs with that index set
    aside where the backend gains by it, see :func:`_is_bulk`.
    """
    backend = backend_of(conn)
    rows = winners + _add_unlinks(conn, model, best, scope)
    pending = best.c.code.is_distinct_from(best.c.current)
    indexes = _link_indexes(model) if _is_bulk(conn, model, best, rows, pending) else []
    bump = {"version": model.version + 1, "updated_at": utcnow()} if count_as_edit else {}
    write = (
        update(model)
        .where(model.id == best.c.id, pending, model.village_code.is_distinct_from(best.c.code))
        .values(village_code=best.c.code, **bump)
    )
    with backend.indexes_set_aside(conn, indexes), backend.tuned_for_keyed_updates(conn):
        return conn.execute(write, execution_options={"synchronize_session": False}).rowcount


def _add_unlinks(conn: Connection, model: type[Asset], best: Table, scope: Table | None) -> int:
    """Add the linked rows that are in no village any more to ``best``, with no code."""
    gone = (
        select(model.id, null(), model.village_code)
        .where(
            model.village_code.is_not(None),
            *_in_scope(model, scope),
            ~exists().where(best.c.id == model.id),
        )
        .order_by(model.id)
    )
    fill = insert(best).from_select(["id", "code", "current"], gone)
    return conn.execute(fill, execution_options=_ROWCOUNT).rowcount


def _count_rows(conn: Connection, best: Table, *where: ColumnElement[bool]) -> int:
    """Number of rows of ``best`` that meet ``where``."""
    return int(conn.execute(select(func.count()).select_from(best).where(*where)).scalar_one())


def _is_bulk(
    conn: Connection, model: type[Asset], best: Table, rows: int, pending: ColumnElement[bool]
) -> bool:
    """Whether a write-back is a bulk change, worth setting the ``village_code`` index aside.

    At least :data:`BULK_MIN_ROWS` changed rows, and at least :data:`BULK_MIN_SHARE` of the
    layer by the planner's row estimate (0 before the first ``ANALYZE``, as for a layer filled
    in this very transaction, where every row changes anyway). Where the backend has no
    estimate (the GeoPackage), it never is: SQLite has no HOT updates to gain.
    """
    if rows < BULK_MIN_ROWS:
        return False
    estimate = backend_of(conn).estimated_rows(conn, model.__tablename__)
    if estimate is None:
        return False
    threshold = max(BULK_MIN_ROWS, BULK_MIN_SHARE * estimate)
    return _count_rows(conn, best, pending) >= threshold


def _link_indexes(model: type[Asset]) -> list[Index]:
    """The layer's ``village_code`` index, as the models declare it (the migrations made it).

    Set aside for a bulk write-back so that its updates are HOT (see the module's notes).
    """
    return [index for index in model.__table__.indexes if "village_code" in index.columns]


def _mismatch_condition(model: type[Asset]) -> ColumnElement[bool]:
    """Condition: the source claimed a village and the link found another one, or none."""
    return and_(
        model.claimed_village_code.is_not(None),
        model.claimed_village_code.is_distinct_from(model.village_code),
    )


def _count(conn: Connection, model: type[Asset], scope: Table | None, counts: LayerCounts) -> None:
    """Fill ``counts`` from the rows within ``scope``: total, linked, unlinked, mismatched."""
    row = conn.execute(
        select(
            func.count(),
            func.count(model.village_code),
            func.count().filter(_mismatch_condition(model)),
        ).where(*_in_scope(model, scope))
    ).one()
    counts.total, counts.linked, counts.mismatched = (int(v) for v in row)
    counts.unlinked = counts.total - counts.linked


def _outside(
    conn: Connection, info: LayerInfo, scope: Table | None, limit: int | None
) -> list[OutsideAsset]:
    """The first ``limit`` assets (by id) in no current village, each with a point on it."""
    model = info.model
    rows = conn.execute(
        select(model.id, model.name, func.ST_AsBinary(model.geom, type_=LargeBinary))
        .where(model.village_code.is_(None), *_in_scope(model, scope))
        .order_by(model.id)
        .limit(limit)
    ).all()
    points = shapely.point_on_surface(shapely.from_wkb([bytes(r[2]) for r in rows]))
    return [
        OutsideAsset(info.name, r.id, r.name, float(p.x), float(p.y))
        for r, p in zip(rows, points, strict=True)
    ]


def _mismatched(
    conn: Connection, info: LayerInfo, scope: Table | None, limit: int | None
) -> list[Mismatch]:
    """The first ``limit`` assets (by id) whose claimed village is not the one linked."""
    model = info.model
    rows = conn.execute(
        select(model.id, model.name, model.claimed_village_code, model.village_code)
        .where(_mismatch_condition(model), *_in_scope(model, scope))
        .order_by(model.id)
        .limit(limit)
    ).all()
    return [Mismatch(info.name, *row) for row in rows]
