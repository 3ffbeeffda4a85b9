"""Field reports (灾情快报, 隐患上报), contacts, and warnings with acknowledgement (叫应).

- ``api_tokens.role`` may be ``reporter`` (灾害信息员): viewer < reporter < planner < commander
  < admin (api/http/auth.py);
- ``field_reports``: a report from the field — a hazard (``kind = hazard``) or a disaster quick
  report (``quick_report``) — through initial → follow_up → verified (or rejected). Counts of
  people and houses are NULL when not reported, never 0. The township is the one whose
  boundary holds the point. ``hazard_id`` links a hazard report promoted to a hazard;
- ``field_report_photos``: a report's photo (bytea, one per report; size and type bounded by
  the API). It has no row audit: the trigger would copy the image into ``audit_log``; the
  report's own (audited) row carries the photo's type, size and SHA-256;
- ``field_report_events``: every state change and follow-up of a report (who, when, what);
- ``contacts``: the people responsible for a village or township (村支书, 网格员, 乡镇值班),
  loaded with ``emgis load contacts FILE``;
- ``warnings`` and ``warning_recipients``: a warning issued for an area and the contacts of
  every unit inside it, with who acknowledged when and how. A recipient keeps a copy of the
  contact's name, role and phone as they were when warned (``contact_id`` is set NULL if the
  contact is later replaced).

Additive: the only change to an existing table is the role constraint of ``api_tokens``.

Revision ID: 0011
Revises: 0010
"""
from __future__ import annotations

from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

BULK_OFF = "WHEN (coalesce(current_setting('emgis.bulk', true), '') <> 'on')"
AUDITED = {"field_reports": "id", "contacts": "ext_id", "warnings": "id",
           "warning_recipients": "id"}


def upgrade() -> None:
    op.execute("ALTER TABLE api_tokens DROP CONSTRAINT role_allowed")
    op.execute("ALTER TABLE api_tokens ADD CONSTRAINT role_allowed CHECK "
               "(role IN ('viewer', 'reporter', 'planner', 'commander', 'admin'))")
    op.execute("""
    CREATE TABLE field_reports (
        id serial PRIMARY KEY,
        kind varchar(20) NOT NULL CONSTRAINT kind_allowed
            CHECK (kind IN ('hazard', 'quick_report')),
        state varchar(12) NOT NULL DEFAULT 'initial' CONSTRAINT state_allowed
            CHECK (state IN ('initial', 'follow_up', 'verified', 'rejected')),
        reported_at timestamptz NOT NULL DEFAULT now(),
        occurred_at timestamptz,
        updated_at timestamptz NOT NULL DEFAULT now(),
        reporter text NOT NULL,
        township_code varchar(12) COLLATE "C",
        place text,
        incident_type text,
        deaths integer CONSTRAINT deaths_not_negative CHECK (deaths >= 0),
        missing integer CONSTRAINT missing_not_negative CHECK (missing >= 0),
        injured integer CONSTRAINT injured_not_negative CHECK (injured >= 0),
        relocated integer CONSTRAINT relocated_not_negative CHECK (relocated >= 0),
        houses_damaged integer CONSTRAINT houses_damaged_not_negative
            CHECK (houses_damaged >= 0),
        text text,
        photo_type text,
        photo_bytes integer,
        photo_sha256 varchar(64),
        hazard_id integer REFERENCES hazards(id) ON DELETE SET NULL,
        geom geometry(Point, 4326) NOT NULL
    )""")
    op.execute("CREATE INDEX idx_field_reports_geom ON field_reports USING gist (geom)")
    op.execute("CREATE INDEX ix_field_reports_township ON field_reports (township_code)")
    op.execute("""
    CREATE TABLE field_report_photos (
        report_id integer PRIMARY KEY REFERENCES field_reports(id) ON DELETE CASCADE,
        media_type text NOT NULL,
        data bytea NOT NULL
    )""")
    op.execute("""
    CREATE TABLE field_report_events (
        id serial PRIMARY KEY,
        report_id integer NOT NULL REFERENCES field_reports(id) ON DELETE CASCADE,
        at timestamptz NOT NULL DEFAULT now(),
        actor text NOT NULL,
        from_state varchar(12),
        to_state varchar(12),
        changes jsonb,
        note text
    )""")
    op.execute("CREATE INDEX ix_field_report_events_report ON field_report_events (report_id)")
    op.execute("""
    CREATE TABLE contacts (
        id serial PRIMARY KEY,
        ext_id text NOT NULL UNIQUE,
        name text NOT NULL,
        unit_code varchar(12) COLLATE "C" NOT NULL,
        role text,
        phone varchar(40),
        load_id integer REFERENCES loads(id)
    )""")
    op.execute("CREATE INDEX ix_contacts_unit_code ON contacts (unit_code)")
    op.execute("""
    CREATE TABLE warnings (
        id serial PRIMARY KEY,
        incident_id integer REFERENCES incidents(id) ON DELETE SET NULL,
        level varchar(8) NOT NULL CONSTRAINT level_allowed
            CHECK (level IN ('blue', 'yellow', 'orange', 'red')),
        text text NOT NULL,
        issued_at timestamptz NOT NULL DEFAULT now(),
        issued_by text NOT NULL,
        area geometry(MultiPolygon, 4326) NOT NULL
    )""")
    op.execute("CREATE INDEX idx_warnings_area ON warnings USING gist (area)")
    op.execute("""
    CREATE TABLE warning_recipients (
        id serial PRIMARY KEY,
        warning_id integer NOT NULL REFERENCES warnings(id) ON DELETE CASCADE,
        contact_id integer REFERENCES contacts(id) ON DELETE SET NULL,
        unit_code varchar(12) COLLATE "C" NOT NULL,
        unit_level varchar(20),
        unit_name text,
        name text NOT NULL,
        role text,
        phone varchar(40),
        code varchar(12) NOT NULL,
        acknowledged_at timestamptz,
        acknowledged_by text,
        channel varchar(20),
        CONSTRAINT one_per_contact UNIQUE (warning_id, contact_id)
    )""")
    op.execute("CREATE INDEX ix_warning_recipients_warning ON warning_recipients (warning_id)")
    for table, key in AUDITED.items():
        op.execute(f"CREATE TRIGGER {table}_audit AFTER INSERT OR UPDATE OR DELETE ON {table} "
                   f"FOR EACH ROW {BULK_OFF} EXECUTE FUNCTION emgis_audit('{key}')")


def downgrade() -> None:
    for table in ("warning_recipients", "warnings", "contacts", "field_report_events",
                  "field_report_photos", "field_reports"):
        op.execute(f"DROP TABLE IF EXISTS {table}")
    op.execute("DELETE FROM api_tokens WHERE role = 'reporter'")
    op.execute("ALTER TABLE api_tokens DROP CONSTRAINT role_allowed")
    op.execute("ALTER TABLE api_tokens ADD CONSTRAINT role_allowed CHECK "
               "(role IN ('viewer', 'planner', 'commander', 'admin'))")
