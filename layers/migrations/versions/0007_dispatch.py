"""Dispatch records and the incident timeline (#16, part 2).

``incident_assignments``: a team, a quantity of one item from a depot's stock, or places in a
shelter, assigned to an incident, with its state (dispatched → en_route → on_scene → returned,
or cancelled), the time it entered each state, its ETA and route at assignment and who assigned
it. A team can be in at most one active assignment: a partial unique index on ``team_id`` where
the state is active, so of two concurrent requests for one team exactly one commits.

``incident_events``: the incident's timeline — every assignment, move and note with its time,
actor (the token's name, or EMGIS_ACTOR on the command line), kind, text and data.

Both are audited by the row trigger of 0001/0002. The vocabularies are frozen here (a migration
never changes after release; shelters/dispatch.py holds the same lists for the code).

Revision ID: 0007
Revises: 0006
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from geoalchemy2 import Geometry
from sqlalchemy.dialects import postgresql

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

KINDS = ("team", "depot_stock", "shelter")
STATES = ("dispatched", "en_route", "on_scene", "returned", "cancelled")
ACTIVE = ("dispatched", "en_route", "on_scene")
EVENT_KINDS = ("assigned", "moved", "note")
BULK_OFF = "WHEN (coalesce(current_setting('emgis.bulk', true), '') <> 'on')"


def _in(values: tuple[str, ...]) -> str:
    return ", ".join(f"'{v}'" for v in values)


def upgrade() -> None:
    ts = sa.DateTime(timezone=True)
    op.create_table(
        "incident_assignments",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("incident_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=12), nullable=False),
        sa.Column("team_id", sa.Integer(), nullable=True),
        sa.Column("depot_id", sa.Integer(), nullable=True),
        sa.Column("item", sa.Text(), nullable=True),
        sa.Column("quantity", sa.Float(), nullable=True),
        sa.Column("shelter_id", sa.Integer(), nullable=True),
        sa.Column("places", sa.Integer(), nullable=True),
        sa.Column("state", sa.String(length=12), nullable=False, server_default="dispatched"),
        sa.Column("eta_s", sa.Float(), nullable=True),
        sa.Column("length_m", sa.Float(), nullable=True),
        sa.Column("route", Geometry(geometry_type="LINESTRING", srid=4326, spatial_index=False,
                                    from_text="ST_GeomFromEWKT", name="geometry"),
                  nullable=True),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("assigned_by", sa.Text(), nullable=False),
        sa.Column("dispatched_at", ts, server_default=sa.text("now()"), nullable=False),
        sa.Column("en_route_at", ts, nullable=True),
        sa.Column("on_scene_at", ts, nullable=True),
        sa.Column("returned_at", ts, nullable=True),
        sa.Column("cancelled_at", ts, nullable=True),
        sa.Column("updated_at", ts, server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint(f"kind IN ({_in(KINDS)})", name="kind_allowed"),
        sa.CheckConstraint(f"state IN ({_in(STATES)})", name="state_allowed"),
        sa.CheckConstraint(
            "(kind = 'team' AND team_id IS NOT NULL AND depot_id IS NULL AND shelter_id IS NULL)"
            " OR (kind = 'depot_stock' AND depot_id IS NOT NULL AND item IS NOT NULL"
            " AND quantity > 0 AND team_id IS NULL AND shelter_id IS NULL)"
            " OR (kind = 'shelter' AND shelter_id IS NOT NULL AND places > 0"
            " AND team_id IS NULL AND depot_id IS NULL)",
            name="resource_of_kind"),
        sa.CheckConstraint("eta_s IS NULL OR eta_s >= 0", name="eta_non_negative"),
        sa.ForeignKeyConstraint(["incident_id"], ["incidents.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["team_id"], ["team_bases.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["depot_id"], ["depots.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["item"], ["stock_items.name"], onupdate="CASCADE",
                                ondelete="RESTRICT"),
        sa.ForeignKeyConstraint(["shelter_id"], ["shelters.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_incident_assignments_incident_id", "incident_assignments",
                    ["incident_id"])
    op.create_index("idx_incident_assignments_route", "incident_assignments", ["route"],
                    postgresql_using="gist")
    # one active assignment per team, whoever asks and however many at once
    op.create_index("uq_incident_assignments_active_team", "incident_assignments", ["team_id"],
                    unique=True, postgresql_where=sa.text(f"state IN ({_in(ACTIVE)})"))
    op.create_table(
        "incident_events",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("incident_id", sa.Integer(), nullable=False),
        sa.Column("at", ts, server_default=sa.text("clock_timestamp()"), nullable=False),
        sa.Column("actor", sa.Text(), nullable=False),
        sa.Column("kind", sa.String(length=12), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("assignment_id", sa.Integer(), nullable=True),
        sa.Column("data", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.CheckConstraint(f"kind IN ({_in(EVENT_KINDS)})", name="kind_allowed"),
        sa.ForeignKeyConstraint(["incident_id"], ["incidents.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["assignment_id"], ["incident_assignments.id"],
                                ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_incident_events_incident_id", "incident_events", ["incident_id", "at"])
    for table in ("incident_assignments", "incident_events"):
        op.execute(f"CREATE TRIGGER {table}_audit AFTER INSERT OR UPDATE OR DELETE ON {table} "
                   f"FOR EACH ROW {BULK_OFF} EXECUTE FUNCTION emgis_audit('id')")


def downgrade() -> None:
    for table in ("incident_events", "incident_assignments"):
        op.execute(f"DROP TRIGGER IF EXISTS {table}_audit ON {table}")
    op.drop_index("ix_incident_events_incident_id", table_name="incident_events")
    op.drop_table("incident_events")
    op.drop_index("uq_incident_assignments_active_team", table_name="incident_assignments")
    op.drop_index("idx_incident_assignments_route", table_name="incident_assignments")
    op.drop_index("ix_incident_assignments_incident_id", table_name="incident_assignments")
    op.drop_table("incident_assignments")
