"""Edits of single features, each one transaction: checked, written, linked, audited.

A feature is validated by the same code that validates a file import (the import frame's
single-feature path, :func:`geo.ingest.assets.validate_asset`), linked to its village as it
is written, and every write is kept in the audit log with the feature before and after.
Writes are optimistic: a replace, update or delete names the version it read, and a feature
changed since is not overwritten (:class:`StaleEdit`). Who may write what is
:mod:`geo.keys`' (:class:`EditForbidden`); a key scoped to a regency writes only features
linked to one of its villages, before the edit and after.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine, delete, insert, select, update
from sqlalchemy.orm import Session

import shapely
from shapely.geometry import mapping

from geo import features
from geo.errors import PetadesaError
from geo.ingest.assets import layer_columns, validate_asset
from geo.keys import Caller
from geo.linking import link_assets
from geo.store.backend import WKB_PARAM, backend_of
from geo.store.db import transaction
from geo.store.models import AuditEntry, asset_layer, utcnow


class EditForbidden(PetadesaError):
    """A write the caller's role or regency does not allow."""

    code = "forbidden"


class StaleEdit(PetadesaError):
    """A write naming a version of the feature that is no longer the latest."""

    code = "stale_edit"


class FeatureExists(PetadesaError):
    """A new feature whose ``source`` and ``source_id`` another feature of the layer has."""

    code = "feature_exists"


class NoSuchFeature(PetadesaError):
    """No feature of that id in the layer."""

    code = "feature_not_found"


@dataclass(frozen=True)
class Written:
    """A feature as written: its id, version and GeoJSON-like feature."""

    id: int
    version: int
    feature: dict[str, Any]


def create(
    engine: Engine, caller: Caller, layer: str, properties: dict[str, Any], geometry: Any
) -> Written:
    """Add a feature to ``layer``; its ``source`` defaults to the caller's role."""
    _allowed(caller, layer)
    model = asset_layer(layer).model
    given = {"source": f"api:{caller.role}", **properties}
    row = validate_asset(layer, given, geometry)
    with transaction(engine) as session:
        _no_clash(session, layer, None, row)
        values = {k: v for k, v in row.items() if k != "geom"}
        now = utcnow()
        stmt = insert(model.__table__).values(
            **values, created_at=now, updated_at=now, version=1,
            geom=backend_of(session).geom_from_wkb(),
        ).returning(model.id)  # fmt: skip
        new_id = session.execute(stmt, {WKB_PARAM: shapely.to_wkb(row["geom"])}).scalar_one()
        link_assets(session, [layer], ids={layer: [new_id]}, count_as_edit=False)
        after = _feature(session, layer, new_id)
        _in_scope(caller, layer, after)
        _audit(session, caller, layer, new_id, "create", None, after)
        return Written(new_id, 1, after)


def replace(
    engine: Engine,
    caller: Caller,
    layer: str,
    feature_id: int,
    version: int,
    properties: dict[str, Any],
    geometry: Any,
    *,
    partial: bool = False,
) -> Written:
    """Write the feature anew (``partial``: only what is given, the rest kept).

    ``version`` is the one the caller read; :class:`StaleEdit` when it is not the latest.
    """
    _allowed(caller, layer)
    model = asset_layer(layer).model
    with transaction(engine) as session:
        before = _feature(session, layer, feature_id)
        _in_scope(caller, layer, before)
        if partial:
            kept = {c: before["properties"].get(c) for c in layer_columns(layer)}
            properties = {**kept, **properties}
            if geometry is None:
                geometry = shapely.geometry.shape(before["geometry"])
        kept_key = {k: before["properties"][k] for k in ("source", "source_id")}
        given = {**kept_key, **properties}  # the upsert key stays unless given
        row = validate_asset(layer, given, geometry)
        _no_clash(session, layer, feature_id, row)
        values = _all_columns(layer, row)
        stmt = (
            update(model.__table__)
            .where(model.id == feature_id, model.version == version)
            .values(
                **values,
                updated_at=utcnow(),
                version=version + 1,
                geom=backend_of(session).geom_from_wkb(),
            )  # fmt: skip
        )
        result = session.execute(stmt, {WKB_PARAM: shapely.to_wkb(row["geom"])})
        if result.rowcount != 1:
            raise StaleEdit(_stale(layer, feature_id, version, before))
        link_assets(session, [layer], ids={layer: [feature_id]}, count_as_edit=False)
        after = _feature(session, layer, feature_id)
        _in_scope(caller, layer, after)
        _audit(
            session, caller, layer, feature_id, "update" if partial else "replace", before, after
        )
        return Written(feature_id, version + 1, after)


def remove(engine: Engine, caller: Caller, layer: str, feature_id: int, version: int) -> None:
    """Delete the feature; ``version`` is the one the caller read (:class:`StaleEdit`)."""
    _allowed(caller, layer)
    model = asset_layer(layer).model
    with transaction(engine) as session:
        before = _feature(session, layer, feature_id)
        _in_scope(caller, layer, before)
        result = session.execute(
            delete(model.__table__).where(model.id == feature_id, model.version == version)
        )
        if result.rowcount != 1:
            raise StaleEdit(_stale(layer, feature_id, version, before))
        _audit(session, caller, layer, feature_id, "delete", before, None)


def _no_clash(session: Session, layer: str, feature_id: int | None, row: dict[str, Any]) -> None:
    """Refuse an upsert key (``source``, ``source_id``) another feature of the layer has.

    ``feature_id`` is the feature being written (``None``: a new one).
    """
    model = asset_layer(layer).model
    stmt = select(model.id).where(
        model.source == row["source"], model.source_id == row["source_id"]
    )
    if feature_id is not None:
        stmt = stmt.where(model.id != feature_id)
    other = session.execute(stmt).first()
    if other:
        raise FeatureExists(
            f"{layer} {other[0]} already has source {row['source']!r} and source_id "
            f"{row['source_id']!r}: write that one, or give another source_id"
        )


def current_version(session: Session, layer: str, feature_id: int) -> int:
    """The feature's version now; :class:`NoSuchFeature` when there is none."""
    model = asset_layer(layer).model
    version = session.execute(select(model.version).where(model.id == feature_id)).scalar()
    if version is None:
        raise NoSuchFeature(f"no feature {feature_id} in collection {layer}")
    return int(version)


def _all_columns(layer: str, row: dict[str, Any]) -> dict[str, Any]:
    """A validated row's values for every column of the layer: what it does not give, empty."""
    values = {k: v for k, v in row.items() if k != "geom"}
    for column in layer_columns(layer):
        values.setdefault(column, None)
    return values


def _allowed(caller: Caller, layer: str) -> None:
    if not caller.may_write(layer):
        raise EditForbidden(f"a {caller.role} key may not write {layer}")


def _in_scope(caller: Caller, layer: str, feature: dict[str, Any]) -> None:
    """A regency's key writes only features linked to one of its villages."""
    if caller.regency_code is None:
        return
    village = feature["properties"].get("village_code") or ""
    if not village.startswith(caller.regency_code + "."):
        where = f"village {village}" if village else "no village of the registry"
        raise EditForbidden(
            f"a key of regency {caller.regency_code} may not write this {layer}: it lies in {where}"
        )


def _feature(session: Session, layer: str, feature_id: int) -> dict[str, Any]:
    frame = features.item(session, features.COLLECTIONS[layer], str(feature_id))
    if frame.empty:
        raise NoSuchFeature(f"no feature {feature_id} in collection {layer}")
    record = frame.drop(columns="geometry").iloc[0].to_dict()
    properties = {k: _plain(v) for k, v in record.items()}
    return {
        "type": "Feature",
        "id": int(feature_id),
        "geometry": mapping(frame.geometry.iloc[0]),
        "properties": properties,
    }


def _plain(value: Any) -> Any:
    if value is None:
        return None
    if hasattr(value, "isoformat"):
        return value.isoformat()
    if hasattr(value, "item"):
        value = value.item()
    if isinstance(value, float) and value != value:  # NaN: missing
        return None
    return value


def _stale(layer: str, feature_id: int, version: int, before: dict[str, Any]) -> str:
    now = before["properties"]["version"]
    return (
        f"{layer} {feature_id} is at version {now}, not {version}: someone changed it since "
        "it was read; read it again and redo the edit"
    )


def _audit(
    session: Session,
    caller: Caller,
    layer: str,
    feature_id: int,
    action: str,
    before: dict[str, Any] | None,
    after: dict[str, Any] | None,
) -> None:
    session.add(
        AuditEntry(
            key_id=caller.key_id,
            role=caller.role,
            collection=layer,
            feature_id=str(feature_id),
            action=action,
            before=None if before is None else json.dumps(before, default=str),
            after=None if after is None else json.dumps(after, default=str),
        )
    )


def audit_entries(
    session: Session,
    *,
    collection: str | None = None,
    feature_id: str | None = None,
    limit: int = 100,
) -> list[dict[str, Any]]:
    """The audit log, newest first: who (key and role), when, what, before and after."""
    stmt = select(AuditEntry).order_by(AuditEntry.id.desc()).limit(limit)
    if collection is not None:
        stmt = stmt.where(AuditEntry.collection == collection)
    if feature_id is not None:
        stmt = stmt.where(AuditEntry.feature_id == feature_id)
    return [
        {
            "id": e.id,
            "at": e.at.isoformat() + "Z",
            "key_id": e.key_id,
            "role": e.role,
            "collection": e.collection,
            "feature_id": e.feature_id,
            "action": e.action,
            "before": None if e.before is None else json.loads(e.before),
            "after": None if e.after is None else json.loads(e.after),
        }
        for e in session.execute(stmt).scalars()
    ]


def revert(engine: Engine, caller: Caller, entry_id: int) -> dict[str, Any] | None:
    """Undo one audited write, if the feature has not changed since; the feature as now.

    A create is undone by deleting the feature, an update or replace by writing the feature
    as it was before, a delete by adding it back with its id. Only an admin reverts; the
    revert is audited too. :class:`StaleEdit` when the feature changed after that write.
    """
    if caller.role != "admin":
        raise EditForbidden("only an admin key reverts a change")
    with transaction(engine) as session:
        entry = session.get(AuditEntry, entry_id)
        if entry is None:
            raise NoSuchFeature(f"no audit entry {entry_id}")
        if entry.action == "import":
            raise EditForbidden(
                f"entry {entry_id} is a whole file's import: revert its features one by one, "
                "or import the corrected file again"
            )
        layer, feature_id = entry.collection, int(entry.feature_id)
        before = None if entry.before is None else json.loads(entry.before)
        after = None if entry.after is None else json.loads(entry.after)
        model = asset_layer(layer).model
        now = session.execute(select(model.version).where(model.id == feature_id)).scalar()
        if after is not None and now != after["properties"]["version"]:
            raise StaleEdit(
                f"{layer} {feature_id} changed after entry {entry_id} (now version {now}); "
                "revert the later changes first"
            )
        if after is None and now is not None:
            raise FeatureExists(f"{layer} {feature_id} exists again: nothing to bring back")
        if before is None:  # undo a create
            gone = session.execute(
                delete(model.__table__).where(model.id == feature_id, model.version == now)
            )
            if gone.rowcount != 1:
                raise StaleEdit(f"{layer} {feature_id} changed while it was being reverted")
            restored = None
        else:
            restored = _restore(session, layer, feature_id, before, now)
        _audit(session, caller, layer, feature_id, "revert", after, restored)
        return restored


def _restore(
    session: Session, layer: str, feature_id: int, before: dict[str, Any], now: int | None
) -> dict[str, Any]:
    """Write ``before`` back as the feature ``feature_id`` (re-added when it was deleted)."""
    model = asset_layer(layer).model
    properties = dict(before["properties"])
    own = {c: properties.get(c) for c in layer_columns(layer)} | {"source": properties["source"]}
    row = validate_asset(layer, own, shapely.geometry.shape(before["geometry"]))
    values = _all_columns(layer, row)
    geom = backend_of(session).geom_from_wkb()
    wkb = {WKB_PARAM: shapely.to_wkb(row["geom"])}
    if now is None:
        created = _timestamp(properties.get("created_at"))
        stmt = insert(model.__table__).values(
            id=feature_id, **values, created_at=created, updated_at=utcnow(),
            version=int(properties["version"]) + 1, geom=geom,
        )  # fmt: skip
    else:
        stmt = (
            update(model.__table__)
            .where(model.id == feature_id, model.version == now)
            .values(**values, updated_at=utcnow(), version=now + 1, geom=geom)
        )
    _no_clash(session, layer, feature_id, row)
    result = session.execute(stmt, wkb)
    if now is not None and result.rowcount != 1:
        raise StaleEdit(f"{layer} {feature_id} changed while it was being reverted")
    link_assets(session, [layer], ids={layer: [feature_id]}, count_as_edit=False)
    return _feature(session, layer, feature_id)


def _timestamp(text: Any) -> dt.datetime:
    if not text:
        return utcnow()
    return dt.datetime.fromisoformat(str(text).removesuffix("Z")).replace(tzinfo=None)


def audit_import(
    session: Session, caller: Caller, layer: str, file_name: str, report: dict[str, Any]
) -> None:
    """Keep a bulk import in the audit log: one entry, its report as what came after."""
    session.add(
        AuditEntry(
            key_id=caller.key_id,
            role=caller.role,
            collection=layer,
            feature_id="*",
            action="import",
            before=None,
            after=json.dumps({"file": file_name, "report": report}, default=str),
        )
    )
