"""Change notifications: a committed write to a table the API caches says so on ``emgis_changes``.

The API keeps what it reads on every request (the usable facilities of each layer, the
road network's version, incident areas) in memory and drops it when PostgreSQL says the
table changed (``LISTEN emgis_changes``, api/changes.py). A statement-level trigger sends
the table's name with ``pg_notify``: one notification per statement however many rows it
writes (bulk loads included), delivered only when the transaction commits, and identical
ones within a transaction are sent once.

Revision ID: 0005
Revises: 0004
"""
from __future__ import annotations

from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

CHANNEL = "emgis_changes"
TABLES = ["shelters", "depots", "team_bases", "incidents", "road_networks", "norm_overrides"]


def upgrade() -> None:
    op.execute(f"""
    CREATE OR REPLACE FUNCTION emgis_notify_change() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        PERFORM pg_notify('{CHANNEL}', TG_TABLE_NAME);
        RETURN NULL;
    END $$""")
    for table in TABLES:
        op.execute(f"DROP TRIGGER IF EXISTS {table}_notify ON {table}")
        op.execute(f"CREATE TRIGGER {table}_notify AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON {table} "
                   "FOR EACH STATEMENT EXECUTE FUNCTION emgis_notify_change()")


def downgrade() -> None:
    for table in TABLES:
        op.execute(f"DROP TRIGGER IF EXISTS {table}_notify ON {table}")
    op.execute("DROP FUNCTION IF EXISTS emgis_notify_change()")
