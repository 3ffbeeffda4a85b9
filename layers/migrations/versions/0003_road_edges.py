"""Road networks: the edges of each loaded network, and one row per network.

``road_networks`` records where a network came from (file and checksum), its size and
the path of the compiled graph routing reads (``EMGIS_HOME/networks/<name>.npz``);
``road_edges`` holds its edges for maps and SQL (one row per graph edge, ``edge_id`` is
the graph's edge index). Deleting a network deletes its edges.

Revision ID: 0003
Revises: 0002
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from geoalchemy2 import Geometry
from sqlalchemy.dialects import postgresql

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "road_networks",
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("source_file", sa.Text(), nullable=True),
        sa.Column("sha256", sa.String(length=64), nullable=True),
        sa.Column("nodes", sa.Integer(), nullable=False),
        sa.Column("edges", sa.Integer(), nullable=False),
        sa.Column("components", sa.Integer(), nullable=False),
        sa.Column("built_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("graph_path", sa.Text(), nullable=True),
        sa.Column("report", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.PrimaryKeyConstraint("name"),
    )
    op.create_geospatial_table(
        "road_edges",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("network", sa.Text(), server_default="default", nullable=False),
        sa.Column("edge_id", sa.Integer(), nullable=False),
        sa.Column("u", sa.BigInteger(), nullable=False),
        sa.Column("v", sa.BigInteger(), nullable=False),
        sa.Column("road_class", sa.Text(), nullable=True),
        sa.Column("name", sa.Text(), nullable=True),
        sa.Column("speed_kmh", sa.Float(), nullable=False),
        sa.Column("length_m", sa.Float(), nullable=False),
        sa.Column("time_s", sa.Float(), nullable=False),
        sa.Column("oneway", sa.Boolean(), nullable=False),
        sa.Column("component", sa.Integer(), nullable=True),
        sa.Column("geom", Geometry(geometry_type="LINESTRING", srid=4326, dimension=2, spatial_index=False,
                                   from_text="ST_GeomFromEWKT", name="geometry", nullable=False), nullable=False),
        sa.ForeignKeyConstraint(["network"], ["road_networks.name"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_geospatial_index("idx_road_edges_geom", "road_edges", ["geom"], unique=False,
                               postgresql_using="gist", postgresql_ops={})
    op.create_index(op.f("ix_road_edges_network"), "road_edges", ["network"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_road_edges_network"), table_name="road_edges")
    op.drop_geospatial_index("idx_road_edges_geom", table_name="road_edges", column_name="geom")
    op.drop_geospatial_table("road_edges")
    op.drop_table("road_networks")
