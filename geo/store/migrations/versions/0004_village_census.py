"""village census: one row of self-reported answers per village and survey (BPS PODES)

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01 23:00:00.000000

The first input of the coverage work (:mod:`geo.ingest.census`): signal strength, best mobile
internet, BTS and operator counts, internet at the village office, the flagship product and
the office's surveyed position, keyed by the Kemendagri code and the survey.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "village_census",
        sa.Column("village_code", sa.Text(), nullable=False),
        sa.Column("survey", sa.Text(), nullable=False),
        sa.Column("survey_year", sa.Integer(), nullable=True),
        sa.Column("bps_code", sa.Text(), nullable=True),
        sa.Column("signal_strength", sa.Text(), nullable=True),
        sa.Column("mobile_internet", sa.Text(), nullable=True),
        sa.Column("bts_count", sa.Integer(), nullable=True),
        sa.Column("operator_count", sa.Integer(), nullable=True),
        sa.Column("mobile_phone_use", sa.Text(), nullable=True),
        sa.Column("office_internet", sa.Text(), nullable=True),
        sa.Column("has_flagship_product", sa.Boolean(), nullable=True),
        sa.Column("flagship_food", sa.Text(), nullable=True),
        sa.Column("flagship_nonfood", sa.Text(), nullable=True),
        sa.Column("flagship_exported", sa.Text(), nullable=True),
        sa.Column("office_lon", sa.Double(), nullable=True),
        sa.Column("office_lat", sa.Double(), nullable=True),
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("source", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.Column("version", sa.Integer(), server_default=sa.text("1"), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_village_census")),
        sa.UniqueConstraint(
            "survey", "village_code", name=op.f("uq_village_census_survey_village_code")
        ),
    )
    op.create_index(
        op.f("ix_village_census_village_code"), "village_census", ["village_code"], unique=False
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_village_census_village_code"), table_name="village_census")
    op.drop_table("village_census")
