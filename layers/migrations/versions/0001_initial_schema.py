"""Initial schema: every table of the data model, spatial indexes and the audit trigger.

Revision ID: 0001
Revises: 
Create Date: 2026-11-23 06:38:04.053570
"""
from __future__ import annotations

import geoalchemy2
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql
from geoalchemy2 import Geometry

revision = '0001'
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("CREATE EXTENSION IF NOT EXISTS postgis")
    op.create_table('audit_log',
    sa.Column('id', sa.BigInteger(), nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('actor', sa.Text(), nullable=False),
    sa.Column('action', sa.String(length=20), nullable=False),
    sa.Column('table_name', sa.Text(), nullable=False),
    sa.Column('row_key', sa.Text(), nullable=True),
    sa.Column('before', postgresql.JSONB(astext_type=sa.Text()), nullable=True),
    sa.Column('after', postgresql.JSONB(astext_type=sa.Text()), nullable=True),
    sa.Column('detail', sa.Text(), nullable=True),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index(op.f('ix_audit_log_at'), 'audit_log', ['at'], unique=False)
    op.create_index(op.f('ix_audit_log_table_name'), 'audit_log', ['table_name'], unique=False)
    op.create_table('loads',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('layer', sa.String(length=40), nullable=False),
    sa.Column('file', sa.Text(), nullable=False),
    sa.Column('sha256', sa.String(length=64), nullable=True),
    sa.Column('rows', sa.Integer(), nullable=False),
    sa.Column('source_crs', sa.Text(), nullable=True),
    sa.Column('mode', sa.String(length=10), nullable=False),
    sa.Column('actor', sa.Text(), nullable=False),
    sa.Column('warnings', postgresql.JSONB(astext_type=sa.Text()), nullable=True),
    sa.Column('loaded_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_table('norm_overrides',
    sa.Column('key', sa.Text(), nullable=False),
    sa.Column('value', sa.Text(), nullable=False),
    sa.Column('unit', sa.Text(), nullable=True),
    sa.Column('standard', sa.Text(), nullable=True),
    sa.Column('clause', sa.Text(), nullable=True),
    sa.Column('note', sa.Text(), nullable=True),
    sa.Column('set_by', sa.Text(), nullable=False),
    sa.Column('set_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.PrimaryKeyConstraint('key')
    )
    op.create_geospatial_table('risk_areas',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('run_id', sa.String(length=40), nullable=False),
    sa.Column('unit_kind', sa.String(length=10), nullable=False),
    sa.Column('unit_code', sa.Text(), nullable=False),
    sa.Column('level', sa.String(length=10), nullable=True),
    sa.Column('rule', sa.String(length=40), nullable=False),
    sa.Column('n_points', sa.Integer(), nullable=False),
    sa.Column('counts', postgresql.JSONB(astext_type=sa.Text()), nullable=True),
    sa.Column('risk_index', sa.Float(), nullable=True),
    sa.Column('population', sa.Float(), nullable=True),
    sa.Column('computed_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('geom', Geometry(geometry_type='MULTIPOLYGON', srid=4326, dimension=2, spatial_index=False, from_text='ST_GeomFromEWKT', name='geometry', nullable=False), nullable=False),
    sa.CheckConstraint("level IS NULL OR level IN ('red', 'orange', 'yellow', 'blue')", name='level_allowed'),
    sa.CheckConstraint("unit_kind IN ('admin', 'grid')", name='unit_kind_allowed'),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_geospatial_index('idx_risk_areas_geom', 'risk_areas', ['geom'], unique=False, postgresql_using='gist', postgresql_ops={})
    op.create_index(op.f('ix_risk_areas_run_id'), 'risk_areas', ['run_id'], unique=False)
    op.create_geospatial_table('study_area',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('county_code', sa.String(length=6), nullable=True),
    sa.Column('name', sa.Text(), nullable=False),
    sa.Column('metric_epsg', sa.Integer(), nullable=False),
    sa.Column('source_crs', sa.Text(), nullable=True),
    sa.Column('boundary_file', sa.Text(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('geom', Geometry(geometry_type='MULTIPOLYGON', srid=4326, dimension=2, spatial_index=False, from_text='ST_GeomFromEWKT', name='geometry', nullable=False), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_geospatial_index('idx_study_area_geom', 'study_area', ['geom'], unique=False, postgresql_using='gist', postgresql_ops={})
    op.create_geospatial_table('admin_units',
    sa.Column('code', sa.String(length=12), nullable=False),
    sa.Column('name', sa.Text(), nullable=False),
    sa.Column('level', sa.String(length=12), nullable=False),
    sa.Column('parent_code', sa.String(length=12), nullable=True),
    sa.Column('urban_rural_class', sa.String(length=3), nullable=True),
    sa.Column('placement', sa.String(length=20), server_default='boundary', nullable=False),
    sa.Column('load_id', sa.Integer(), nullable=True),
    sa.Column('geom', Geometry(geometry_type='MULTIPOLYGON', srid=4326, dimension=2, spatial_index=False, from_text='ST_GeomFromEWKT', name='geometry'), nullable=True),
    sa.Column('point', Geometry(geometry_type='POINT', srid=4326, dimension=2, spatial_index=False, from_text='ST_GeomFromEWKT', name='geometry'), nullable=True),
    sa.CheckConstraint("code ~ '^[0-9]{12}$'", name='code_12_digits'),
    sa.CheckConstraint("level IN ('province', 'city', 'county', 'township', 'village')", name='level_allowed'),
    sa.CheckConstraint("placement IN ('boundary', 'point', 'township_weighted', 'code_only')", name='placement_allowed'),
    sa.ForeignKeyConstraint(['load_id'], ['loads.id'], ),
    sa.PrimaryKeyConstraint('code')
    )
    op.create_geospatial_index('idx_admin_units_geom', 'admin_units', ['geom'], unique=False, postgresql_using='gist', postgresql_ops={})
    op.create_geospatial_index('idx_admin_units_point', 'admin_units', ['point'], unique=False, postgresql_using='gist', postgresql_ops={})
    op.create_index(op.f('ix_admin_units_parent_code'), 'admin_units', ['parent_code'], unique=False)
    op.create_table('code_list',
    sa.Column('code', sa.String(length=12), nullable=False),
    sa.Column('vintage', sa.Integer(), nullable=False),
    sa.Column('name', sa.Text(), nullable=False),
    sa.Column('level', sa.String(length=12), nullable=False),
    sa.Column('parent_code', sa.String(length=12), nullable=True),
    sa.Column('urban_rural_class', sa.String(length=3), nullable=True),
    sa.Column('load_id', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['load_id'], ['loads.id'], ),
    sa.PrimaryKeyConstraint('code', 'vintage')
    )
    op.create_geospatial_table('depots',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('ext_id', sa.Text(), nullable=False),
    sa.Column('name', sa.Text(), nullable=False),
    sa.Column('level', sa.String(length=12), nullable=False),
    sa.Column('area_m2', sa.Float(), nullable=True),
    sa.Column('status', sa.String(length=12), nullable=False),
    sa.Column('unit_code', sa.String(length=12), nullable=True),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('load_id', sa.Integer(), nullable=True),
    sa.Column('geom', Geometry(geometry_type='POINT', srid=4326, dimension=2, spatial_index=False, from_text='ST_GeomFromEWKT', name='geometry', nullable=False), nullable=False),
    sa.CheckConstraint("level IN ('province', 'city', 'county', 'township', 'village')", name='level_allowed'),
    sa.CheckConstraint("status IN ('active', 'inactive', 'planned')", name='status_allowed'),
    sa.ForeignKeyConstraint(['load_id'], ['loads.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('ext_id')
    )
    op.create_geospatial_index('idx_depots_geom', 'depots', ['geom'], unique=False, postgresql_using='gist', postgresql_ops={})
    op.create_geospatial_table('hazard_zones',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('ext_id', sa.Text(), nullable=True),
    sa.Column('hazard_type', sa.String(length=20), nullable=False),
    sa.Column('level', sa.String(length=10), nullable=True),
    sa.Column('source', sa.Text(), nullable=True),
    sa.Column('load_id', sa.Integer(), nullable=True),
    sa.Column('geom', Geometry(geometry_type='MULTIPOLYGON', srid=4326, dimension=2, spatial_index=False, from_text='ST_GeomFromEWKT', name='geometry', nullable=False), nullable=False),
    sa.CheckConstraint("hazard_type IN ('flood', 'landslide', 'earthquake', 'composite', 'other')", name='hazard_type_allowed'),
    sa.CheckConstraint("level IS NULL OR level IN ('high', 'medium', 'low')", name='level_allowed'),
    sa.ForeignKeyConstraint(['load_id'], ['loads.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('ext_id')
    )
    op.create_geospatial_index('idx_hazard_zones_geom', 'hazard_zones', ['geom'], unique=False, postgresql_using='gist', postgresql_ops={})
    op.create_geospatial_table('incidents',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('ext_id', sa.Text(), nullable=True),
    sa.Column('title', sa.Text(), nullable=False),
    sa.Column('incident_type', sa.Text(), nullable=False),
    sa.Column('level', sa.Text(), nullable=True),
    sa.Column('status', sa.String(length=12), nullable=False),
    sa.Column('reported_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('load_id', sa.Integer(), nullable=True),
    sa.Column('geom', Geometry(srid=4326, dimension=2, spatial_index=False, from_text='ST_GeomFromEWKT', name='geometry', nullable=False), nullable=False),
    sa.CheckConstraint("status IN ('reported', 'responding', 'contained', 'closed')", name='status_allowed'),
    sa.ForeignKeyConstraint(['load_id'], ['loads.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('ext_id')
    )
    op.create_geospatial_index('idx_incidents_geom', 'incidents', ['geom'], unique=False, postgresql_using='gist', postgresql_ops={})
    op.create_table('population',
    sa.Column('code', sa.String(length=12), nullable=False),
    sa.Column('year', sa.Integer(), nullable=False),
    sa.Column('population', sa.BigInteger(), nullable=False),
    sa.Column('households', sa.BigInteger(), nullable=True),
    sa.Column('age_0_14', sa.BigInteger(), nullable=True),
    sa.Column('age_15_64', sa.BigInteger(), nullable=True),
    sa.Column('age_65_plus', sa.BigInteger(), nullable=True),
    sa.Column('urban_rural_class', sa.String(length=3), nullable=True),
    sa.Column('load_id', sa.Integer(), nullable=True),
    sa.CheckConstraint('population >= 0', name='population_non_negative'),
    sa.CheckConstraint('year BETWEEN 1949 AND 2100', name='year_plausible'),
    sa.ForeignKeyConstraint(['load_id'], ['loads.id'], ),
    sa.PrimaryKeyConstraint('code', 'year')
    )
    op.create_geospatial_table('risk_points',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('ext_id', sa.Text(), nullable=False),
    sa.Column('name', sa.Text(), nullable=False),
    sa.Column('category', sa.String(length=20), nullable=False),
    sa.Column('method', sa.String(length=10), nullable=True),
    sa.Column('inputs', postgresql.JSONB(astext_type=sa.Text()), nullable=True),
    sa.Column('score', sa.Float(), nullable=True),
    sa.Column('level', sa.String(length=10), nullable=True),
    sa.Column('band_version', sa.String(length=40), nullable=True),
    sa.Column('unit_code', sa.String(length=12), nullable=True),
    sa.Column('load_id', sa.Integer(), nullable=True),
    sa.Column('geom', Geometry(geometry_type='POINT', srid=4326, dimension=2, spatial_index=False, from_text='ST_GeomFromEWKT', name='geometry', nullable=False), nullable=False),
    sa.CheckConstraint("category IN ('hazchem', 'fuel_station', 'industrial', 'mine', 'landslide', 'flood', 'crowded', 'fire', 'other')", name='category_allowed'),
    sa.CheckConstraint("level IS NULL OR level IN ('red', 'orange', 'yellow', 'blue')", name='level_allowed'),
    sa.CheckConstraint("method IS NULL OR method IN ('LEC', 'matrix')", name='method_allowed'),
    sa.ForeignKeyConstraint(['load_id'], ['loads.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('ext_id')
    )
    op.create_geospatial_index('idx_risk_points_geom', 'risk_points', ['geom'], unique=False, postgresql_using='gist', postgresql_ops={})
    op.create_geospatial_table('shelters',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('ext_id', sa.Text(), nullable=False),
    sa.Column('name', sa.Text(), nullable=False),
    sa.Column('admin_level', sa.String(length=12), nullable=True),
    sa.Column('design_class', sa.String(length=12), nullable=True),
    sa.Column('duration_class', sa.String(length=12), nullable=False),
    sa.Column('hazard_types', sa.ARRAY(sa.Text()), nullable=True),
    sa.Column('space_type', sa.String(length=10), nullable=True),
    sa.Column('effective_area_m2', sa.Float(), nullable=True),
    sa.Column('capacity', sa.Integer(), nullable=True),
    sa.Column('capacity_source', sa.String(length=10), nullable=False),
    sa.Column('status', sa.String(length=12), nullable=False),
    sa.Column('occupancy', sa.Integer(), server_default='0', nullable=False),
    sa.Column('address', sa.Text(), nullable=True),
    sa.Column('unit_code', sa.String(length=12), nullable=True),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('load_id', sa.Integer(), nullable=True),
    sa.Column('geom', Geometry(geometry_type='POINT', srid=4326, dimension=2, spatial_index=False, from_text='ST_GeomFromEWKT', name='geometry', nullable=False), nullable=False),
    sa.CheckConstraint("admin_level IS NULL OR admin_level IN ('province', 'city', 'county', 'township', 'village')", name='admin_level_allowed'),
    sa.CheckConstraint("capacity_source IN ('given', 'area', 'unknown')", name='capacity_source_allowed'),
    sa.CheckConstraint("design_class IS NULL OR design_class IN ('emergency', 'fixed', 'central')", name='design_class_allowed'),
    sa.CheckConstraint("duration_class IN ('emergency', 'short', 'medium', 'long')", name='duration_class_allowed'),
    sa.CheckConstraint("space_type IS NULL OR space_type IN ('outdoor', 'indoor', 'mixed')", name='space_type_allowed'),
    sa.CheckConstraint("status IN ('open', 'closed', 'planned', 'unusable')", name='status_allowed'),
    sa.CheckConstraint('effective_area_m2 IS NULL OR effective_area_m2 > 0', name='area_positive'),
    sa.CheckConstraint('occupancy >= 0', name='occupancy_non_negative'),
    sa.ForeignKeyConstraint(['load_id'], ['loads.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('ext_id')
    )
    op.create_geospatial_index('idx_shelters_geom', 'shelters', ['geom'], unique=False, postgresql_using='gist', postgresql_ops={})
    op.create_geospatial_table('team_bases',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('ext_id', sa.Text(), nullable=False),
    sa.Column('name', sa.Text(), nullable=False),
    sa.Column('team_type', sa.String(length=20), nullable=False),
    sa.Column('specialities', sa.ARRAY(sa.Text()), nullable=True),
    sa.Column('personnel', sa.Integer(), nullable=False),
    sa.Column('vehicles', sa.Integer(), nullable=True),
    sa.Column('status', sa.String(length=12), nullable=False),
    sa.Column('fire_class', sa.String(length=12), nullable=True),
    sa.Column('unit_code', sa.String(length=12), nullable=True),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('load_id', sa.Integer(), nullable=True),
    sa.Column('geom', Geometry(geometry_type='POINT', srid=4326, dimension=2, spatial_index=False, from_text='ST_GeomFromEWKT', name='geometry', nullable=False), nullable=False),
    sa.CheckConstraint("fire_class IS NULL OR fire_class IN ('class1', 'class2', 'small', 'special', 'suburban', 'micro')", name='fire_class_allowed'),
    sa.CheckConstraint("status IN ('available', 'deployed', 'unavailable')", name='status_allowed'),
    sa.CheckConstraint("team_type IN ('comprehensive', 'fire_station', 'forest_fire', 'hazchem', 'flood', 'water_rescue', 'medical', 'mine', 'geological', 'utility', 'volunteer')", name='team_type_allowed'),
    sa.CheckConstraint('personnel >= 0', name='personnel_non_negative'),
    sa.ForeignKeyConstraint(['load_id'], ['loads.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('ext_id')
    )
    op.create_geospatial_index('idx_team_bases_geom', 'team_bases', ['geom'], unique=False, postgresql_using='gist', postgresql_ops={})
    op.create_table('depot_stock',
    sa.Column('depot_id', sa.Integer(), nullable=False),
    sa.Column('item', sa.Text(), nullable=False),
    sa.Column('quantity', sa.Float(), nullable=False),
    sa.Column('unit', sa.Text(), nullable=True),
    sa.Column('load_id', sa.Integer(), nullable=True),
    sa.CheckConstraint('quantity >= 0', name='quantity_non_negative'),
    sa.ForeignKeyConstraint(['depot_id'], ['depots.id'], ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['load_id'], ['loads.id'], ),
    sa.PrimaryKeyConstraint('depot_id', 'item')
    )
    op.create_geospatial_table('hazards',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('ext_id', sa.Text(), nullable=False),
    sa.Column('title', sa.Text(), nullable=False),
    sa.Column('risk_point_id', sa.Integer(), nullable=True),
    sa.Column('state', sa.String(length=20), nullable=False),
    sa.Column('responsible', sa.Text(), nullable=True),
    sa.Column('deadline', sa.Date(), nullable=True),
    sa.Column('measures', sa.Text(), nullable=True),
    sa.Column('discovered_on', sa.Date(), nullable=True),
    sa.Column('closed_on', sa.Date(), nullable=True),
    sa.Column('load_id', sa.Integer(), nullable=True),
    sa.Column('geom', Geometry(geometry_type='POINT', srid=4326, dimension=2, spatial_index=False, from_text='ST_GeomFromEWKT', name='geometry'), nullable=True),
    sa.CheckConstraint("state IN ('discovered', 'confirmed', 'under_control', 'rectifying', 'closed')", name='state_allowed'),
    sa.ForeignKeyConstraint(['load_id'], ['loads.id'], ),
    sa.ForeignKeyConstraint(['risk_point_id'], ['risk_points.id'], ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('ext_id')
    )
    op.create_geospatial_index('idx_hazards_geom', 'hazards', ['geom'], unique=False, postgresql_using='gist', postgresql_ops={})
    op.create_table('hazard_events',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('hazard_id', sa.Integer(), nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('actor', sa.Text(), nullable=False),
    sa.Column('from_state', sa.String(length=20), nullable=True),
    sa.Column('to_state', sa.String(length=20), nullable=True),
    sa.Column('note', sa.Text(), nullable=True),
    sa.ForeignKeyConstraint(['hazard_id'], ['hazards.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index(op.f('ix_hazard_events_hazard_id'), 'hazard_events', ['hazard_id'], unique=False)
    _create_audit_trigger()


def downgrade() -> None:
    for table in AUDITED_TABLES:
        op.execute(f"DROP TRIGGER IF EXISTS {table}_audit ON {table}")
    op.execute("DROP FUNCTION IF EXISTS emgis_audit()")
    op.drop_index(op.f('ix_hazard_events_hazard_id'), table_name='hazard_events')
    op.drop_table('hazard_events')
    op.drop_geospatial_index('idx_hazards_geom', table_name='hazards', postgresql_using='gist', column_name='geom')
    op.drop_geospatial_table('hazards')
    op.drop_table('depot_stock')
    op.drop_geospatial_index('idx_team_bases_geom', table_name='team_bases', postgresql_using='gist', column_name='geom')
    op.drop_geospatial_table('team_bases')
    op.drop_geospatial_index('idx_shelters_geom', table_name='shelters', postgresql_using='gist', column_name='geom')
    op.drop_geospatial_table('shelters')
    op.drop_geospatial_index('idx_risk_points_geom', table_name='risk_points', postgresql_using='gist', column_name='geom')
    op.drop_geospatial_table('risk_points')
    op.drop_table('population')
    op.drop_geospatial_index('idx_incidents_geom', table_name='incidents', postgresql_using='gist', column_name='geom')
    op.drop_geospatial_table('incidents')
    op.drop_geospatial_index('idx_hazard_zones_geom', table_name='hazard_zones', postgresql_using='gist', column_name='geom')
    op.drop_geospatial_table('hazard_zones')
    op.drop_geospatial_index('idx_depots_geom', table_name='depots', postgresql_using='gist', column_name='geom')
    op.drop_geospatial_table('depots')
    op.drop_table('code_list')
    op.drop_index(op.f('ix_admin_units_parent_code'), table_name='admin_units')
    op.drop_geospatial_index('idx_admin_units_point', table_name='admin_units', postgresql_using='gist', column_name='point')
    op.drop_geospatial_index('idx_admin_units_geom', table_name='admin_units', postgresql_using='gist', column_name='geom')
    op.drop_geospatial_table('admin_units')
    op.drop_geospatial_index('idx_study_area_geom', table_name='study_area', postgresql_using='gist', column_name='geom')
    op.drop_geospatial_table('study_area')
    op.drop_index(op.f('ix_risk_areas_run_id'), table_name='risk_areas')
    op.drop_geospatial_index('idx_risk_areas_geom', table_name='risk_areas', postgresql_using='gist', column_name='geom')
    op.drop_geospatial_table('risk_areas')
    op.drop_table('norm_overrides')
    op.drop_table('loads')
    op.drop_index(op.f('ix_audit_log_table_name'), table_name='audit_log')
    op.drop_index(op.f('ix_audit_log_at'), table_name='audit_log')
    op.drop_table('audit_log')


# Frozen here (not imported from the models) so this migration never changes after release.
AUDITED_TABLES = [
    "study_area", "admin_units", "code_list", "population", "risk_points", "hazards", "risk_areas",
    "hazard_zones", "shelters", "depots", "depot_stock", "team_bases", "incidents", "norm_overrides",
]


def _create_audit_trigger() -> None:
    # Every INSERT/UPDATE/DELETE of a data table is logged with the actor set by the session
    # (SET LOCAL emgis.actor). Bulk loads set emgis.bulk = on and write one 'load' entry
    # themselves, so 700k census rows do not become 700k audit rows.
    op.execute("""
    CREATE OR REPLACE FUNCTION emgis_audit() RETURNS trigger LANGUAGE plpgsql AS $$
    DECLARE
        actor text := coalesce(nullif(current_setting('emgis.actor', true), ''), session_user);
        old_row jsonb;
        new_row jsonb;
    BEGIN
        IF coalesce(current_setting('emgis.bulk', true), '') = 'on' THEN
            RETURN NULL;
        END IF;
        IF TG_OP <> 'INSERT' THEN old_row := to_jsonb(OLD) - 'geom'; END IF;
        IF TG_OP <> 'DELETE' THEN new_row := to_jsonb(NEW) - 'geom'; END IF;
        INSERT INTO audit_log (actor, action, table_name, row_key, before, after)
        VALUES (actor, lower(TG_OP), TG_TABLE_NAME,
                coalesce(new_row, old_row) ->> coalesce(TG_ARGV[0], 'id'), old_row, new_row);
        RETURN NULL;
    END $$
    """)
    keys = {"admin_units": "code", "code_list": "code", "population": "code", "norm_overrides": "key",
            "depot_stock": "depot_id"}
    for table in AUDITED_TABLES:
        op.execute(
            f"CREATE TRIGGER {table}_audit AFTER INSERT OR UPDATE OR DELETE ON {table} "
            f"FOR EACH ROW EXECUTE FUNCTION emgis_audit('{keys.get(table, 'id')}')"
        )
