"""Bulk loads skip the per-row audit trigger at queue time; division codes use the "C" collation.

The 0001 trigger returned early when ``emgis.bulk`` was on, but PostgreSQL still queued one
AFTER-trigger event per row and called the function for it: a 700,000-row census load spent
most of its time there. A ``WHEN`` condition is checked as the row is written, so bulk loads
(which write their own one 'load' audit entry) queue nothing.
"""

from __future__ import annotations

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

TABLES = [
    "study_area", "admin_units", "code_list", "population", "risk_points", "hazards", "risk_areas",
    "hazard_zones", "shelters", "depots", "depot_stock", "team_bases", "incidents", "norm_overrides",
]
KEYS = {"admin_units": "code", "code_list": "code", "population": "code", "norm_overrides": "key",
        "depot_stock": "depot_id"}


def _create(when: str) -> None:
    for table in TABLES:
        op.execute(f"DROP TRIGGER IF EXISTS {table}_audit ON {table}")
        op.execute(f"CREATE TRIGGER {table}_audit AFTER INSERT OR UPDATE OR DELETE ON {table} "
                   f"FOR EACH ROW {when} EXECUTE FUNCTION emgis_audit('{KEYS.get(table, 'id')}')")


CODE_COLUMNS = [("admin_units", "code"), ("admin_units", "parent_code"), ("code_list", "code"),
                ("code_list", "parent_code"), ("population", "code")]


def upgrade() -> None:
    _create("WHEN (coalesce(current_setting('emgis.bulk', true), '') <> 'on')")
    # division codes are digits: byte order is their order, and "C" keeps the key indexes fast
    for table, column in CODE_COLUMNS:
        op.execute(f'ALTER TABLE {table} ALTER COLUMN {column} TYPE varchar(12) COLLATE "C"')


def downgrade() -> None:
    for table, column in CODE_COLUMNS:
        op.execute(f"ALTER TABLE {table} ALTER COLUMN {column} TYPE varchar(12) COLLATE \"default\"")
    _create("")
