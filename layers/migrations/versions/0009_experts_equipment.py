"""The expert roster, team equipment lists and when a team was last assessed (issue #17).

* ``experts``: the 专家库 — specialities (keys of ``vocab.EXPERT_SPECIALITY``, checked by the
  loader so that a county can extend the list without a migration), unit, title, phone
  (personal data: the API shows it to commander and above only, the OGC collection never),
  availability and the expert's base point;
* ``team_equipment``: a team base's equipment list, one row per (team, item) like depot stock:
  kind from the equipment catalogue (``vocab.EQUIPMENT_KIND``), quantity, state ok/repair/retired;
* ``team_bases.assessed_on``: the date a team (a social rescue force above all) last passed its
  assessment, for the readiness report's share assessed.

Both new tables get the audit trigger (skipped during bulk loads, as 0002) and the change
notification of 0005 (nearest teams with an equipment kind are kept in memory by the API).

Revision ID: 0009
Revises: 0008
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from geoalchemy2 import Geometry

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

# frozen here: a migration never changes after release (layers/vocab.py holds the same lists)
AVAILABILITY = ("available", "limited", "unavailable")
KINDS = ("assault_boat", "life_jacket", "breaching_kit", "life_detector", "generator", "lighting",
         "water_pump", "satellite_phone", "chainsaw", "fire_extinguisher_blower", "gas_detector",
         "protective_suit", "stretcher", "first_aid_kit", "drone", "rescue_rope")
STATES = ("ok", "repair", "retired")
BULK_OFF = "WHEN (coalesce(current_setting('emgis.bulk', true), '') <> 'on')"
AUDIT_KEYS = {"experts": "id", "team_equipment": "team_base_id"}


def _in(values: tuple[str, ...]) -> str:
    return ", ".join(f"'{v}'" for v in values)


def upgrade() -> None:
    op.create_table(
        "experts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("ext_id", sa.Text(), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("specialities", sa.ARRAY(sa.Text()), nullable=False),
        sa.Column("unit", sa.Text(), nullable=True),
        sa.Column("title", sa.Text(), nullable=True),
        sa.Column("phone", sa.String(40), nullable=True),
        sa.Column("availability", sa.String(length=12), nullable=False),
        sa.Column("unit_code", sa.String(length=12), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"),
                  nullable=False),
        sa.Column("load_id", sa.Integer(), nullable=True),
        sa.Column("geom", Geometry(geometry_type="POINT", srid=4326, spatial_index=False),
                  nullable=False),
        sa.CheckConstraint(f"availability IN ({_in(AVAILABILITY)})", name="availability_allowed"),
        sa.ForeignKeyConstraint(["load_id"], ["loads.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("ext_id"),
    )
    op.create_index("idx_experts_geom", "experts", ["geom"], postgresql_using="gist")
    op.create_table(
        "team_equipment",
        sa.Column("team_base_id", sa.Integer(), nullable=False),
        sa.Column("item", sa.Text(), nullable=False),
        sa.Column("kind", sa.String(length=30), nullable=False),
        sa.Column("quantity", sa.Integer(), nullable=False),
        sa.Column("state", sa.String(length=10), server_default="ok", nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"),
                  nullable=False),
        sa.Column("load_id", sa.Integer(), nullable=True),
        sa.CheckConstraint(f"kind IN ({_in(KINDS)})", name="kind_allowed"),
        sa.CheckConstraint(f"state IN ({_in(STATES)})", name="state_allowed"),
        sa.CheckConstraint("quantity >= 0", name="quantity_non_negative"),
        sa.ForeignKeyConstraint(["team_base_id"], ["team_bases.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["load_id"], ["loads.id"]),
        sa.PrimaryKeyConstraint("team_base_id", "item"),
    )
    op.add_column("team_bases", sa.Column("assessed_on", sa.Date(), nullable=True))
    for table, key in AUDIT_KEYS.items():
        op.execute(f"CREATE TRIGGER {table}_audit AFTER INSERT OR UPDATE OR DELETE ON {table} "
                   f"FOR EACH ROW {BULK_OFF} EXECUTE FUNCTION emgis_audit('{key}')")
        op.execute(f"CREATE TRIGGER {table}_notify AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE "
                   f"ON {table} FOR EACH STATEMENT EXECUTE FUNCTION emgis_notify_change()")


def downgrade() -> None:
    for table in AUDIT_KEYS:
        op.execute(f"DROP TRIGGER IF EXISTS {table}_notify ON {table}")
        op.execute(f"DROP TRIGGER IF EXISTS {table}_audit ON {table}")
    op.drop_column("team_bases", "assessed_on")
    op.drop_table("team_equipment")
    op.drop_index("idx_experts_geom", table_name="experts")
    op.drop_table("experts")
