"""Change counters of the served tables, bumped by triggers, for caches that are never stale

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-02 04:20:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

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

# One bump a statement (a COPY of 80,000 rows is one), whoever writes: this program, psql, QGIS.
FUNCTION = """
CREATE OR REPLACE FUNCTION petadesa_layer_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO layer_change (layer, version) VALUES (TG_TABLE_NAME, 1)
    ON CONFLICT (layer) DO UPDATE SET version = layer_change.version + 1;
    RETURN NULL;
END
$$
"""


def upgrade() -> None:
    op.create_table(
        "layer_change",
        sa.Column("layer", sa.Text(), nullable=False),
        sa.Column("version", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("layer", name=op.f("pk_layer_change")),
    )
    op.execute(FUNCTION)
    for table in TRACKED:
        op.execute(f"INSERT INTO layer_change (layer, version) VALUES ('{table}', 0)")
        op.execute(
            f"CREATE TRIGGER {table}_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE "
            f"ON {table} FOR EACH STATEMENT EXECUTE FUNCTION petadesa_layer_changed()"
        )


def downgrade() -> None:
    for table in TRACKED:
        op.execute(f"DROP TRIGGER IF EXISTS {table}_changed ON {table}")
    op.execute("DROP FUNCTION IF EXISTS petadesa_layer_changed()")
    op.drop_table("layer_change")
