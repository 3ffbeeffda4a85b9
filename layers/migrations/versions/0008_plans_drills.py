"""Emergency plans (预案) as data, response checklists on incidents, drills (演练) and findings.

Additive: new tables ``plans``, ``plan_levels``, ``plan_tasks``, ``incident_checklists``,
``drills``, ``drill_findings``, ``drill_finding_events``, and nullable columns on ``incidents``
holding the figures plan triggers read (deaths, injured, missing, affected, relocated,
duration_h, hazard_level; NULL = unknown, which a trigger never reads as 0). Every new table is
audited by the row trigger of 0001/0002 (skipped during bulk loads). Vocabularies are frozen here
(layers/vocab.py holds the same keys for the code).

Revision ID: 0008
Revises: 0007
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from geoalchemy2 import Geometry
from sqlalchemy.dialects import postgresql

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

PLAN_KINDS = ("general", "special", "department", "township", "village", "enterprise")
LEVELS = ("I", "II", "III", "IV")
DRILL_KINDS = ("tabletop", "live", "double_blind")
FINDING_STATES = ("open", "rectifying", "closed")
CHECK_STATES = ("open", "done")
INCIDENT_FIGURES = (("deaths", sa.Integer()), ("injured", sa.Integer()),
                    ("missing", sa.Integer()), ("affected", sa.Integer()),
                    ("relocated", sa.Integer()), ("duration_h", sa.Float()),
                    ("hazard_level", sa.Float()))
AUDITED = ("plans", "plan_levels", "plan_tasks", "incident_checklists", "drills",
           "drill_findings", "drill_finding_events")
BULK_OFF = "WHEN (coalesce(current_setting('emgis.bulk', true), '') <> 'on')"


def _in(column: str, keys: tuple[str, ...]) -> sa.CheckConstraint:
    return sa.CheckConstraint(f"{column} IN ({', '.join(repr(k) for k in keys)})",
                              name=f"{column}_allowed")


def _id() -> sa.Column:
    return sa.Column("id", sa.Integer(), primary_key=True)


def upgrade() -> None:
    for name, kind in INCIDENT_FIGURES:
        op.add_column("incidents", sa.Column(name, kind, nullable=True))
    op.create_check_constraint("figures_not_negative", "incidents",
                               " AND ".join(f"({n} IS NULL OR {n} >= 0)"
                                            for n, _ in INCIDENT_FIGURES))
    op.create_table(
        "plans", _id(),
        sa.Column("ext_id", sa.Text(), nullable=False, unique=True),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("owner_unit", sa.Text()),
        sa.Column("area_code", sa.String(12, collation="C")),
        sa.Column("enterprise", sa.Text()),
        sa.Column("incident_types", postgresql.ARRAY(sa.Text()), nullable=False,
                  server_default="{}"),
        sa.Column("revised_on", sa.Date()), sa.Column("next_review_on", sa.Date()),
        sa.Column("entered_on", sa.Date()),
        sa.Column("load_id", sa.Integer(), sa.ForeignKey("loads.id")),
        sa.Column("geom", Geometry("GEOMETRY", srid=4326, spatial_index=False)),
        _in("kind", PLAN_KINDS),
    )
    op.execute("CREATE INDEX idx_plans_geom ON plans USING gist (geom)")
    op.create_table(
        "plan_levels", _id(),
        sa.Column("plan_id", sa.Integer(), sa.ForeignKey("plans.id", ondelete="CASCADE"),
                  nullable=False, index=True),
        sa.Column("level", sa.String(4), nullable=False),
        sa.Column("triggers", postgresql.JSONB(), nullable=False, server_default="[]"),
        sa.Column("command", sa.Text()),
        _in("level", LEVELS),
        sa.UniqueConstraint("plan_id", "level", name="plan_levels_plan_level_key"),
    )
    op.create_table(
        "plan_tasks", _id(),
        sa.Column("plan_id", sa.Integer(), sa.ForeignKey("plans.id", ondelete="CASCADE"),
                  nullable=False, index=True),
        sa.Column("level", sa.String(4), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("unit", sa.Text()), sa.Column("task", sa.Text(), nullable=False),
        sa.Column("who", sa.Text()), sa.Column("done_when", sa.Text()),
        _in("level", LEVELS),
    )
    op.create_table(
        "incident_checklists", _id(),
        sa.Column("incident_id", sa.Integer(),
                  sa.ForeignKey("incidents.id", ondelete="CASCADE"), nullable=False, index=True),
        sa.Column("plan_id", sa.Integer(), sa.ForeignKey("plans.id", ondelete="SET NULL")),
        sa.Column("level", sa.String(4), nullable=False),
        sa.Column("task_id", sa.Integer(), sa.ForeignKey("plan_tasks.id", ondelete="SET NULL")),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("unit", sa.Text()), sa.Column("task", sa.Text(), nullable=False),
        sa.Column("who", sa.Text()), sa.Column("done_when", sa.Text()),
        sa.Column("state", sa.String(8), nullable=False, server_default="open"),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False,
                  server_default=sa.text("now()")),
        sa.Column("started_by", sa.Text(), nullable=False),
        sa.Column("done_at", sa.DateTime(timezone=True)), sa.Column("done_by", sa.Text()),
        _in("state", CHECK_STATES), _in("level", LEVELS),
    )
    op.create_table(
        "drills", _id(),
        sa.Column("ext_id", sa.Text(), nullable=False, unique=True),
        sa.Column("plan_id", sa.Integer(), sa.ForeignKey("plans.id", ondelete="SET NULL"),
                  index=True),
        sa.Column("held_on", sa.Date(), nullable=False),
        sa.Column("scenario", sa.Text(), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("participants", sa.Integer()),
        sa.Column("units", postgresql.ARRAY(sa.Text()), nullable=False, server_default="{}"),
        _in("kind", DRILL_KINDS),
        sa.CheckConstraint("participants IS NULL OR participants >= 0",
                           name="participants_not_negative"),
    )
    op.create_table(
        "drill_findings", _id(),
        sa.Column("drill_id", sa.Integer(), sa.ForeignKey("drills.id", ondelete="CASCADE"),
                  nullable=False, index=True),
        sa.Column("finding", sa.Text(), nullable=False),
        sa.Column("responsible", sa.Text()), sa.Column("deadline", sa.Date()),
        sa.Column("state", sa.String(12), nullable=False, server_default="open"),
        sa.Column("measures", sa.Text()), sa.Column("closed_on", sa.Date()),
        _in("state", FINDING_STATES),
    )
    op.create_table(
        "drill_finding_events", _id(),
        sa.Column("finding_id", sa.Integer(),
                  sa.ForeignKey("drill_findings.id", ondelete="CASCADE"), nullable=False,
                  index=True),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False,
                  server_default=sa.text("now()")),
        sa.Column("actor", sa.Text(), nullable=False),
        sa.Column("from_state", sa.String(12)), sa.Column("to_state", sa.String(12)),
        sa.Column("note", sa.Text()),
    )
    for table in AUDITED:
        op.execute(f"CREATE TRIGGER {table}_audit AFTER INSERT OR UPDATE OR DELETE ON {table} "
                   f"FOR EACH ROW {BULK_OFF} EXECUTE FUNCTION emgis_audit('id')")


def downgrade() -> None:
    for table in reversed(AUDITED):
        op.execute(f"DROP TRIGGER IF EXISTS {table}_audit ON {table}")
    for table in ("drill_finding_events", "drill_findings", "drills", "incident_checklists",
                  "plan_tasks", "plan_levels", "plans"):
        op.drop_table(table)
    op.drop_constraint("figures_not_negative", "incidents", type_="check")
    for name, _ in INCIDENT_FIGURES:
        op.drop_column("incidents", name)
