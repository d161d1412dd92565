"""API keys and what each role may write.

A key is ``pd_`` and 32 random bytes (``secrets.token_urlsafe``), shown once when made; the
marker keeps a key from starting with ``-`` (which a command line reads as an option) and makes a
leaked key easy to find. The registry keeps its SHA-256 digest and its first characters. Roles:

============  ==============================================================================
``public``    reads only (as anyone without a key)
``planner``   the connectivity layers: towers, fibre routes and nodes, hotspots, facilities
              and the measurements
``tourism``   tourist destinations
``economy``   OVOP / UMKM product sites
``admin``     every layer
============  ==============================================================================

A key scoped to a regency (``regency_code``) writes only features inside it: linked to one of
its villages, before the edit and after.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass

from sqlalchemy import Engine, or_, select
from sqlalchemy.orm import Session

from geo.codes import Level, level_of, normalize_code
from geo.errors import PetadesaError
from geo.store.db import transaction
from geo.store.models import ASSET_LAYERS, MEASUREMENT_LAYERS, ApiKey, utcnow

CENSUS = "village_census"
"""The village census table: imported a file at a time by planners and admins."""
WRITES: dict[str, frozenset[str]] = {
    "public": frozenset(),
    "planner": frozenset(
        {"tower", "fibre_route", "fibre_node", "hotspot", "facility", *MEASUREMENT_LAYERS, CENSUS}
    ),
    "tourism": frozenset({"destination"}),
    "economy": frozenset({"product_site"}),
    "admin": frozenset({*ASSET_LAYERS, *MEASUREMENT_LAYERS, CENSUS}),
}
"""The collections each role may create, replace, update and delete features of (and who may
import the village census, :data:`CENSUS`)."""
ROLES = tuple(WRITES)
KEY_MARKER = "pd_"
PREFIX_LENGTH = len(KEY_MARKER) + 8


class KeyProblem(PetadesaError):
    """A key that cannot be made or found (an unknown role, an unknown key to revoke)."""

    code = "invalid_key_request"


@dataclass(frozen=True)
class Caller:
    """Who is writing: the key's id, role and regency (``None``: anywhere)."""

    key_id: int | None
    role: str
    regency_code: str | None

    def may_write(self, collection: str) -> bool:
        """Whether the role may write features of ``collection``."""
        return collection in WRITES.get(self.role, frozenset())


def digest(key: str) -> str:
    """The SHA-256 hex digest of a key, as the registry keeps it."""
    return hashlib.sha256(key.encode()).hexdigest()


def create_key(
    engine: Engine, role: str, *, regency: str | None = None, label: str | None = None
) -> tuple[str, ApiKey]:
    """Make a key for ``role`` (scoped to ``regency``); the key (shown once) and its row."""
    if role not in WRITES:
        raise KeyProblem(f"role {role!r} is not one of {', '.join(ROLES)}")
    code = None
    if regency is not None and role == "admin":
        raise KeyProblem("an admin key is the registry's whole: it takes no --regency")
    if regency is not None:
        code = normalize_code(regency)
        if level_of(code) is not Level.REGENCY:
            raise KeyProblem(f"{regency!r} is not a regency code (35.07)")
    key = KEY_MARKER + secrets.token_urlsafe(32)
    with transaction(engine) as session:
        row = ApiKey(
            prefix=key[:PREFIX_LENGTH], key_hash=digest(key), role=role, regency_code=code,
            label=label,
        )  # fmt: skip
        session.add(row)
        session.flush()
        session.expunge(row)
    return key, row


def revoke_key(engine: Engine, key_or_prefix: str) -> ApiKey:
    """Revoke the key given whole or by its prefix; :class:`KeyProblem` when none or several."""
    with transaction(engine) as session:
        rows = (
            session.execute(
                select(ApiKey).where(
                    or_(ApiKey.key_hash == digest(key_or_prefix), ApiKey.prefix == key_or_prefix),
                    ApiKey.revoked_at.is_(None),
                )
            )
            .scalars()
            .all()
        )
        if len(rows) != 1:
            found = "no" if not rows else "more than one"
            raise KeyProblem(f"{found} key in force matches {key_or_prefix[:PREFIX_LENGTH]!r}")
        rows[0].revoked_at = utcnow()
        session.flush()
        session.expunge(rows[0])
        return rows[0]


def list_keys(session: Session) -> list[ApiKey]:
    """Every key, newest first (revoked ones too)."""
    return list(session.execute(select(ApiKey).order_by(ApiKey.id.desc())).scalars())


def caller_of(session: Session, key: str | None) -> Caller | None:
    """The caller a key in force stands for; ``None`` for no key or an unknown or revoked one."""
    if not key:
        return None
    row = session.execute(
        select(ApiKey).where(ApiKey.key_hash == digest(key), ApiKey.revoked_at.is_(None))
    ).scalar_one_or_none()
    return None if row is None else Caller(row.id, row.role, row.regency_code)
