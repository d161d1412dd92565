"""asset layers: fillfactor 80, so that relinking can update rows in place (HOT)

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-24 15:40:00.000000

``ALTER TABLE ... SET (fillfactor = ...)`` only changes how full PostgreSQL packs pages from
now on: it takes a SHARE UPDATE EXCLUSIVE lock for an instant and rewrites nothing. Rows already
stored stay on their full pages until they move (an update that finds no room puts the new
version on a page with room) or until ``VACUUM FULL <layer>`` rewrites the table at once.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ASSET_TABLES = (
    "tower",
    "fibre_route",
    "fibre_node",
    "hotspot",
    "destination",
    "product_site",
    "facility",
)
FILLFACTOR = 80
"""As ``geo.store.models.ASSET_FILLFACTOR`` when this revision was written.

A migration keeps its own copy: the model may change later.
"""


def upgrade() -> None:
    # Alembic has no operation for storage parameters; the names are this module's constants.
    for name in ASSET_TABLES:
        op.execute(sa.text(f"ALTER TABLE {name} SET (fillfactor = {FILLFACTOR})"))


def downgrade() -> None:
    for name in ASSET_TABLES:
        op.execute(sa.text(f"ALTER TABLE {name} RESET (fillfactor)"))
