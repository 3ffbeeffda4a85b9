"""Batch results: per-village rows of `emgis batch coverage|gaps`, partitioned by county, and
the province summary (one line per county, analysis and layer, with its error if it failed).

``batch_results`` is declaratively partitioned (``PARTITION BY LIST (county_code)``): each
county's rows live in their own partition, created by the writer on first use
(``batch_results_<code>``), so a rerun replaces one county by deleting from one partition and
a province of 100 counties (or a country of 2,850) never scans the others. The primary key
includes the partition key, as PostgreSQL requires.

Both tables carry the audit trigger of 0001; the writer sets ``emgis.bulk`` for the rows and
writes one audit entry per county (as a load does).

Revision ID: 0010
Revises: 0009
"""
from __future__ import annotations

from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

BULK_OFF = "WHEN (coalesce(current_setting('emgis.bulk', true), '') <> 'on')"


def upgrade() -> None:
    op.execute("""
    CREATE TABLE batch_results (
        county_code varchar(6) NOT NULL,
        analysis varchar(12) NOT NULL CHECK (analysis IN ('coverage', 'gaps')),
        layer varchar(20) NOT NULL,
        code text NOT NULL,
        name text,
        population double precision,
        facility text,
        time_min double precision,
        standard_min double precision,
        covered boolean,
        covered_by text,
        snap_m double precision,
        uncovered double precision,
        underserved double precision,
        gap double precision,
        geom geometry(POINT, 4326),
        computed_at timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (county_code, analysis, layer, code)
    ) PARTITION BY LIST (county_code)
    """)
    op.execute("CREATE INDEX ix_batch_results_geom ON batch_results USING gist (geom)")
    op.execute("""
    CREATE TABLE batch_summary (
        county_code varchar(6) NOT NULL,
        analysis varchar(12) NOT NULL CHECK (analysis IN ('coverage', 'gaps')),
        layer varchar(20) NOT NULL,
        status varchar(8) NOT NULL CHECK (status IN ('ok', 'failed')),
        error text,
        demand_points integer,
        population double precision,
        covered_population double precision,
        coverage_share double precision,
        gap_population double precision,
        road_nodes integer,
        facilities integer,
        seconds double precision,
        computed_at timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (county_code, analysis, layer)
    )
    """)
    for table in ("batch_results", "batch_summary"):
        op.execute(f"CREATE TRIGGER {table}_audit AFTER INSERT OR UPDATE OR DELETE ON {table} "
                   f"FOR EACH ROW {BULK_OFF} EXECUTE FUNCTION emgis_audit('county_code')")


def downgrade() -> None:
    op.execute("DROP TABLE IF EXISTS batch_summary")
    op.execute("DROP TABLE IF EXISTS batch_results CASCADE")  # and every county's partition
