"""tower radio parameters for the coverage model: range, sector azimuth and width, power, frequency

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01 23:10:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

COLUMNS = ("range_km", "azimuth_deg", "beamwidth_deg", "tx_power_dbm", "frequency_mhz")


def upgrade() -> None:
    for name in COLUMNS:
        op.add_column("tower", sa.Column(name, sa.Double(), nullable=True))


def downgrade() -> None:
    for name in reversed(COLUMNS):
        op.drop_column("tower", name)
