"""geometry columns compressed with lz4; drop the redundant single-column code index of areas

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-22 17:10:00.000000

Boundaries are large values (a Jawa Timur village averages 1.6 kB of WKB, a regency hundreds of
kB), so PostgreSQL compresses them into TOAST. Its default method, pglz, made up about a fifth of
the server's time to load the 8,494 Jawa Timur villages; lz4 compresses about as well and
several times faster, both ways (``bench/load_villages.py``). The method applies to values
written from now on; values already stored keep pglz until rewritten (both stay readable).
A server built without lz4 keeps pglz: the statement is skipped with a notice.

``ix_<area>_code`` duplicated the leading column of both ``uq_<area>_code_valid_from`` and
``ix_<area>_current_code``; every insert paid for a third index on the same key.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

AREA_TABLES = ("province", "regency", "district", "village")
GEOMETRY_COLUMNS = {
    **{name: "boundary" for name in AREA_TABLES},
    **{
        name: "geom"
        for name in (
            "tower",
            "fibre_route",
            "fibre_node",
            "hotspot",
            "destination",
            "product_site",
            "facility",
        )
    },
}


def _set_compression(method: str) -> None:
    # Alembic has no operation for column compression; names are this module's constants.
    for table, column in GEOMETRY_COLUMNS.items():
        op.execute(
            sa.text(
                "DO $$ BEGIN "
                f"ALTER TABLE {table} ALTER COLUMN {column} SET COMPRESSION {method}; "
                "EXCEPTION WHEN feature_not_supported THEN "
                f"RAISE NOTICE 'compression {method} not supported by this server'; "
                "END $$"
            )
        )


def upgrade() -> None:
    _set_compression("lz4")
    for table in AREA_TABLES:
        op.drop_index(f"ix_{table}_code", table_name=table)


def downgrade() -> None:
    for table in AREA_TABLES:
        op.create_index(f"ix_{table}_code", table, ["code"], unique=False)
    _set_compression("default")  # as the columns were before: the server's default
