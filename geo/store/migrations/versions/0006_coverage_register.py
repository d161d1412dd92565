"""coverage runs, the per-village connectivity register and blank-spot areas

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01 23:20:00.000000

A coverage run (:mod:`geo.coverage`) records its parameters and the digests of its inputs;
its results, one connectivity row per village and the blank-spot areas, are kept per run and
go with it (``ON DELETE CASCADE``).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from geoalchemy2 import Geometry

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SHARES = ("area_share_2g", "area_share_3g", "area_share_4g", "area_share_5g")
PEOPLE = ("population_2g", "population_3g", "population_4g", "population_5g")


def upgrade() -> None:
    op.create_table(
        "coverage_run",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("scope", sa.Text(), nullable=False),
        sa.Column("method", sa.Text(), nullable=False),
        sa.Column("parameters", sa.Text(), nullable=False),
        sa.Column("inputs", sa.Text(), nullable=False),
        sa.Column("sample", sa.Boolean(), nullable=False),
        sa.Column("towers_modelled", sa.Integer(), nullable=False),
        sa.Column("coverage_path", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_coverage_run")),
    )
    op.create_table(
        "village_connectivity",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("run_id", sa.Integer(), nullable=False),
        sa.Column("village_code", sa.Text(), nullable=False),
        sa.Column("connectivity_class", sa.Text(), nullable=False),
        sa.Column("class_source", sa.Text(), nullable=False),
        sa.Column("confidence", sa.Text(), nullable=False),
        sa.Column("disagreement", sa.Text(), nullable=True),
        sa.Column("census_class", sa.Text(), nullable=True),
        sa.Column("model_class", sa.Text(), nullable=True),
        sa.Column("has_fibre", sa.Boolean(), nullable=False),
        sa.Column("covered_area_share", sa.Double(), nullable=True),
        *(sa.Column(name, sa.Double(), nullable=True) for name in SHARES),
        sa.Column("population", sa.Double(), nullable=True),
        sa.Column("population_uncovered", sa.Double(), nullable=True),
        *(sa.Column(name, sa.Double(), nullable=True) for name in PEOPLE),
        sa.Column("office_source", sa.Text(), nullable=True),
        sa.Column("office_to_fibre_m", sa.Double(), nullable=True),
        sa.Column("office_to_tower_m", sa.Double(), nullable=True),
        sa.ForeignKeyConstraint(
            ["run_id"],
            ["coverage_run.id"],
            name=op.f("fk_village_connectivity_run_id_coverage_run"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_village_connectivity")),
        sa.UniqueConstraint(
            "run_id", "village_code", name=op.f("uq_village_connectivity_run_id_village_code")
        ),
    )
    op.create_index(
        op.f("ix_village_connectivity_run_id"), "village_connectivity", ["run_id"], unique=False
    )
    op.create_index(
        op.f("ix_village_connectivity_village_code"),
        "village_connectivity",
        ["village_code"],
        unique=False,
    )
    op.create_geospatial_table(
        "blank_spot",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("run_id", sa.Integer(), nullable=False),
        sa.Column("village_code", sa.Text(), nullable=False),
        sa.Column("area_km2", sa.Double(), nullable=False),
        sa.Column("population", sa.Double(), nullable=True),
        sa.Column(
            "geom",
            Geometry(
                geometry_type="MULTIPOLYGON",
                srid=4326,
                dimension=2,
                spatial_index=False,
                from_text="ST_GeomFromEWKT",
                name="geometry",
                nullable=False,
            ),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["run_id"],
            ["coverage_run.id"],
            name=op.f("fk_blank_spot_run_id_coverage_run"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_blank_spot")),
    )
    op.create_geospatial_index(
        "idx_blank_spot_geom",
        "blank_spot",
        ["geom"],
        unique=False,
        postgresql_using="gist",
        postgresql_ops={},
    )
    op.create_index(op.f("ix_blank_spot_run_id"), "blank_spot", ["run_id"], unique=False)
    op.create_index(
        op.f("ix_blank_spot_village_code"), "blank_spot", ["village_code"], unique=False
    )
    # as every geometry column since 0003; a server without lz4 keeps its default
    op.execute(
        sa.text(
            "DO $$ BEGIN ALTER TABLE blank_spot ALTER COLUMN geom SET COMPRESSION lz4; "
            "EXCEPTION WHEN feature_not_supported THEN "
            "RAISE NOTICE 'compression lz4 not supported by this server'; END $$"
        )
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_blank_spot_village_code"), table_name="blank_spot")
    op.drop_index(op.f("ix_blank_spot_run_id"), table_name="blank_spot")
    op.drop_geospatial_index(
        "idx_blank_spot_geom",
        table_name="blank_spot",
        postgresql_using="gist",
        column_name="geom",
    )
    op.drop_geospatial_table("blank_spot")
    op.drop_index(op.f("ix_village_connectivity_village_code"), table_name="village_connectivity")
    op.drop_index(op.f("ix_village_connectivity_run_id"), table_name="village_connectivity")
    op.drop_table("village_connectivity")
    op.drop_table("coverage_run")
