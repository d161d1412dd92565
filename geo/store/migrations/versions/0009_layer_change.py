"""A log of writes to the served tables, appended by triggers, for caches that are never stale

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-02 04:20:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from geo.store.backend import add_postgis_change_triggers

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The tables served as collections at this revision (geo.store.models.CHANGE_TRACKED).
TRACKED = (
    "province", "regency", "district", "village",
    "tower", "fibre_route", "fibre_node", "hotspot", "destination", "product_site", "facility",
    "speed_tile", "speed_test", "village_connectivity", "blank_spot",
)  # fmt: skip


def upgrade() -> None:
    op.create_table(
        "layer_change",
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column("layer", sa.Text(), nullable=False),
        sa.Column("token", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_layer_change")),
    )
    op.create_index("ix_layer_change_layer_id", "layer_change", ["layer", "id"], unique=False)
    add_postgis_change_triggers(op.get_bind(), TRACKED)


def downgrade() -> None:
    for table in TRACKED:
        op.execute(f'DROP TRIGGER IF EXISTS "{table}_changed" ON "{table}"')
    op.execute("DROP FUNCTION IF EXISTS petadesa_layer_changed()")
    op.drop_index("ix_layer_change_layer_id", table_name="layer_change")
    op.drop_table("layer_change")
