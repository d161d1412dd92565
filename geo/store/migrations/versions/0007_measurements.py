"""speed-test tiles and points (measurement layers); measurements and provenance in the register

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-02 01:40:00.000000

``speed_tile`` holds tiles in the schema of Ookla's open data, ``speed_test`` single tests or
signal readings at points. Both are linked to villages as the asset layers are, so they carry
the same columns, key, indexes, fillfactor and geometry compression. The register gains the
class the measurements give and a JSON record of each field's provenance.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from geoalchemy2 import Geometry

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

FILLFACTOR = 80


def _layers() -> dict[str, tuple[str, tuple[sa.Column, ...]]]:
    """Each layer's geometry type and own columns (new objects: a column joins one table)."""
    return {
        "speed_tile": (
            "MULTIPOLYGON",
            (
                sa.Column("quadkey", sa.Text(), nullable=True),
                sa.Column("network", sa.Text(), nullable=True),
                sa.Column("period_start", sa.Date(), nullable=True),
                sa.Column("avg_d_kbps", sa.Double(), nullable=True),
                sa.Column("avg_u_kbps", sa.Double(), nullable=True),
                sa.Column("avg_lat_ms", sa.Double(), nullable=True),
                sa.Column("tests", sa.Integer(), nullable=True),
                sa.Column("devices", sa.Integer(), nullable=True),
            ),
        ),
        "speed_test": (
            "POINT",
            (
                sa.Column("measured_on", sa.Date(), nullable=True),
                sa.Column("network", sa.Text(), nullable=True),
                sa.Column("technology", sa.Text(), nullable=True),
                sa.Column("operator", sa.Text(), nullable=True),
                sa.Column("download_kbps", sa.Double(), nullable=True),
                sa.Column("upload_kbps", sa.Double(), nullable=True),
                sa.Column("latency_ms", sa.Double(), nullable=True),
                sa.Column("signal_dbm", sa.Double(), nullable=True),
            ),
        ),
    }


def _register() -> tuple[sa.Column, ...]:
    """The register's new columns."""
    return (
        sa.Column("measured_class", sa.Text(), nullable=True),
        sa.Column("measured_tests", sa.Integer(), nullable=True),
        sa.Column("measured_download_kbps", sa.Double(), nullable=True),
        sa.Column("measured_period", sa.Text(), nullable=True),
        sa.Column("provenance", sa.Text(), nullable=True),
    )


def upgrade() -> None:
    for name, (geometry_type, columns) in _layers().items():
        op.create_geospatial_table(
            name,
            *columns,
            sa.Column("source_id", sa.Text(), nullable=False),
            sa.Column("village_code", sa.Text(), nullable=True),
            sa.Column("claimed_village_code", sa.Text(), nullable=True),
            sa.Column(
                "geom",
                Geometry(
                    geometry_type=geometry_type,
                    srid=4326,
                    dimension=2,
                    spatial_index=False,
                    from_text="ST_GeomFromEWKT",
                    name="geometry",
                    nullable=False,
                ),
                nullable=False,
            ),
            sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
            sa.Column("name", sa.Text(), nullable=False),
            sa.Column("source", sa.Text(), nullable=False),
            sa.Column("created_at", sa.DateTime(), nullable=False),
            sa.Column("updated_at", sa.DateTime(), nullable=False),
            sa.Column("version", sa.Integer(), server_default=sa.text("1"), nullable=False),
            sa.PrimaryKeyConstraint("id", name=op.f(f"pk_{name}")),
            sa.UniqueConstraint("source", "source_id", name=op.f(f"uq_{name}_source_source_id")),
            postgresql_with={"fillfactor": FILLFACTOR},
        )
        op.create_geospatial_index(
            f"idx_{name}_geom",
            name,
            ["geom"],
            unique=False,
            postgresql_using="gist",
            postgresql_ops={},
        )
        op.create_index(op.f(f"ix_{name}_village_code"), name, ["village_code"], unique=False)
        # as every geometry column since 0003; a server without lz4 keeps its default
        op.execute(
            sa.text(
                f"DO $$ BEGIN ALTER TABLE {name} ALTER COLUMN geom SET COMPRESSION lz4; "
                "EXCEPTION WHEN feature_not_supported THEN "
                "RAISE NOTICE 'compression lz4 not supported by this server'; END $$"
            )
        )
    for column in _register():
        op.add_column("village_connectivity", column)


def downgrade() -> None:
    for column in reversed(_register()):
        op.drop_column("village_connectivity", column.name)
    for name in reversed(list(_layers())):
        op.drop_index(op.f(f"ix_{name}_village_code"), table_name=name)
        op.drop_geospatial_index(
            f"idx_{name}_geom", table_name=name, postgresql_using="gist", column_name="geom"
        )
        op.drop_geospatial_table(name)
