"""The county's data: loads, study area, units, census, risk, hazards, resources, incidents,
norm overrides, the audit log, roads and API tokens (migrations 0001–0006)."""

from __future__ import annotations

import datetime as dt

from geoalchemy2 import Geometry
from sqlalchemy import (
    ARRAY,
    BigInteger,
    CheckConstraint,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Integer,
    String,
    Text,
    func,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from emgis.layers import vocab
from emgis.layers.models.base import CODE, SRID, Base, _check, _point


class Load(Base):
    """One load of one file: what, from where, in which CRS, by whom."""

    __tablename__ = "loads"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    layer: Mapped[str] = mapped_column(String(40))
    file: Mapped[str] = mapped_column(Text)
    sha256: Mapped[str | None] = mapped_column(String(64))
    rows: Mapped[int] = mapped_column(Integer)
    source_crs: Mapped[str | None] = mapped_column(Text)
    mode: Mapped[str] = mapped_column(String(10))
    actor: Mapped[str] = mapped_column(Text)
    warnings: Mapped[list | None] = mapped_column(JSONB)
    loaded_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True),
                                                   server_default=func.now())


class StudyArea(Base):
    __tablename__ = "study_area"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    county_code: Mapped[str | None] = mapped_column(String(6))
    name: Mapped[str] = mapped_column(Text)
    metric_epsg: Mapped[int] = mapped_column(Integer)
    source_crs: Mapped[str | None] = mapped_column(Text)
    boundary_file: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True),
                                                    server_default=func.now())
    geom = mapped_column(Geometry("MULTIPOLYGON", srid=SRID, spatial_index=True), nullable=False)


class AdminUnit(Base):
    """Administrative / statistical units keyed by the 12-digit statistical division code."""

    __tablename__ = "admin_units"
    __table_args__ = (
        _check("level", vocab.ADMIN_LEVEL, nullable=False),
        CheckConstraint("code ~ '^[0-9]{12}$'", name="code_12_digits"),
        CheckConstraint(
            "placement IN ('boundary', 'point', 'township_weighted', 'code_only')",
            name="placement_allowed"
        ),
    )
    code: Mapped[str] = mapped_column(CODE, primary_key=True)
    name: Mapped[str] = mapped_column(Text)
    level: Mapped[str] = mapped_column(String(12))
    parent_code: Mapped[str | None] = mapped_column(CODE, index=True)
    urban_rural_class: Mapped[str | None] = mapped_column(String(3))
    placement: Mapped[str] = mapped_column(String(20), server_default="boundary")
    load_id: Mapped[int | None] = mapped_column(ForeignKey("loads.id"))
    geom = mapped_column(Geometry("MULTIPOLYGON", srid=SRID, spatial_index=True), nullable=True)
    point = mapped_column(Geometry("POINT", srid=SRID, spatial_index=True), nullable=True)


class CodeListEntry(Base):
    """Official statistical division codes by vintage, to track withdrawals and renames."""

    __tablename__ = "code_list"
    code: Mapped[str] = mapped_column(CODE, primary_key=True)
    vintage: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(Text)
    level: Mapped[str] = mapped_column(String(12))
    parent_code: Mapped[str | None] = mapped_column(CODE)
    urban_rural_class: Mapped[str | None] = mapped_column(String(3))
    load_id: Mapped[int | None] = mapped_column(ForeignKey("loads.id"))


class Population(Base):
    __tablename__ = "population"
    __table_args__ = (
        CheckConstraint("population >= 0", name="population_non_negative"),
        CheckConstraint("year BETWEEN 1949 AND 2100", name="year_plausible"),
    )
    code: Mapped[str] = mapped_column(CODE, primary_key=True)
    year: Mapped[int] = mapped_column(Integer, primary_key=True)
    population: Mapped[int] = mapped_column(BigInteger)
    households: Mapped[int | None] = mapped_column(BigInteger)
    age_0_14: Mapped[int | None] = mapped_column(BigInteger)
    age_15_64: Mapped[int | None] = mapped_column(BigInteger)
    age_65_plus: Mapped[int | None] = mapped_column(BigInteger)
    urban_rural_class: Mapped[str | None] = mapped_column(String(3))
    load_id: Mapped[int | None] = mapped_column(ForeignKey("loads.id"))


class RiskPoint(Base):
    __tablename__ = "risk_points"
    __table_args__ = (
        _check("category", vocab.RISK_CATEGORY, nullable=False),
        _check("method", vocab.RISK_METHOD),
        _check("level", vocab.RISK_LEVEL),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    ext_id: Mapped[str] = mapped_column(Text, unique=True)
    name: Mapped[str] = mapped_column(Text)
    category: Mapped[str] = mapped_column(String(20))
    method: Mapped[str | None] = mapped_column(String(10))
    inputs: Mapped[dict | None] = mapped_column(JSONB)
    score: Mapped[float | None] = mapped_column(Float)
    level: Mapped[str | None] = mapped_column(String(10))
    band_version: Mapped[str | None] = mapped_column(String(40))
    unit_code: Mapped[str | None] = mapped_column(String(12))
    load_id: Mapped[int | None] = mapped_column(ForeignKey("loads.id"))
    geom = _point()


class Hazard(Base):
    """A hazard (隐患) and its place in the closed loop discover → ... → close-out."""

    __tablename__ = "hazards"
    __table_args__ = (_check("state", vocab.HAZARD_STATE, nullable=False),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    ext_id: Mapped[str] = mapped_column(Text, unique=True)
    title: Mapped[str] = mapped_column(Text)
    risk_point_id: Mapped[int | None] = mapped_column(ForeignKey("risk_points.id",
                                                                 ondelete="SET NULL"))
    state: Mapped[str] = mapped_column(String(20))
    responsible: Mapped[str | None] = mapped_column(Text)
    deadline: Mapped[dt.date | None] = mapped_column(Date)
    measures: Mapped[str | None] = mapped_column(Text)
    discovered_on: Mapped[dt.date | None] = mapped_column(Date)
    closed_on: Mapped[dt.date | None] = mapped_column(Date)
    load_id: Mapped[int | None] = mapped_column(ForeignKey("loads.id"))
    geom = mapped_column(Geometry("POINT", srid=SRID, spatial_index=True), nullable=True)


class HazardEvent(Base):
    """Every state change and supervision note of a hazard."""

    __tablename__ = "hazard_events"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    hazard_id: Mapped[int] = mapped_column(ForeignKey("hazards.id", ondelete="CASCADE"), index=True)
    at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    actor: Mapped[str] = mapped_column(Text)
    from_state: Mapped[str | None] = mapped_column(String(20))
    to_state: Mapped[str | None] = mapped_column(String(20))
    note: Mapped[str | None] = mapped_column(Text)


class RiskArea(Base):
    """A coloured area of the four-colour map, from one aggregation run."""

    __tablename__ = "risk_areas"
    __table_args__ = (
        _check("level", vocab.RISK_LEVEL),
        CheckConstraint("unit_kind IN ('admin', 'grid')", name="unit_kind_allowed"),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    run_id: Mapped[str] = mapped_column(String(40), index=True)
    unit_kind: Mapped[str] = mapped_column(String(10))
    unit_code: Mapped[str] = mapped_column(Text)
    level: Mapped[str | None] = mapped_column(String(10))
    rule: Mapped[str] = mapped_column(String(40))
    n_points: Mapped[int] = mapped_column(Integer)
    counts: Mapped[dict | None] = mapped_column(JSONB)
    risk_index: Mapped[float | None] = mapped_column(Float)
    population: Mapped[float | None] = mapped_column(Float)
    computed_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True),
                                                     server_default=func.now())
    geom = mapped_column(Geometry("MULTIPOLYGON", srid=SRID, spatial_index=True), nullable=False)


class HazardZone(Base):
    __tablename__ = "hazard_zones"
    __table_args__ = (_check("hazard_type", vocab.ZONE_HAZARD, nullable=False),
                      _check("level", vocab.ZONE_LEVEL))
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    ext_id: Mapped[str | None] = mapped_column(Text, unique=True)
    hazard_type: Mapped[str] = mapped_column(String(20))
    level: Mapped[str | None] = mapped_column(String(10))
    source: Mapped[str | None] = mapped_column(Text)
    load_id: Mapped[int | None] = mapped_column(ForeignKey("loads.id"))
    geom = mapped_column(Geometry("MULTIPOLYGON", srid=SRID, spatial_index=True), nullable=False)


class Shelter(Base):
    """An emergency shelter, with the classes of GB 51143 and GB/T 44013."""

    __tablename__ = "shelters"
    __table_args__ = (
        _check("admin_level", vocab.ADMIN_LEVEL),
        _check("design_class", vocab.SHELTER_DESIGN_CLASS),
        _check("duration_class", vocab.SHELTER_DURATION_CLASS, nullable=False),
        _check("space_type", vocab.SPACE_TYPE),
        _check("status", vocab.SHELTER_STATUS, nullable=False),
        CheckConstraint("capacity_source IN ('given', 'area', 'unknown')",
                        name="capacity_source_allowed"),
        CheckConstraint("occupancy >= 0", name="occupancy_non_negative"),
        CheckConstraint("effective_area_m2 IS NULL OR effective_area_m2 > 0", name="area_positive"),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    ext_id: Mapped[str] = mapped_column(Text, unique=True)
    name: Mapped[str] = mapped_column(Text)
    admin_level: Mapped[str | None] = mapped_column(String(12))
    design_class: Mapped[str | None] = mapped_column(String(12))
    duration_class: Mapped[str] = mapped_column(String(12))
    hazard_types: Mapped[list[str] | None] = mapped_column(ARRAY(Text))
    space_type: Mapped[str | None] = mapped_column(String(10))
    effective_area_m2: Mapped[float | None] = mapped_column(Float)
    capacity: Mapped[int | None] = mapped_column(Integer)
    capacity_source: Mapped[str] = mapped_column(String(10))
    status: Mapped[str] = mapped_column(String(12))
    occupancy: Mapped[int] = mapped_column(Integer, server_default="0")
    address: Mapped[str | None] = mapped_column(Text)
    unit_code: Mapped[str | None] = mapped_column(String(12))
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True),
                                                    server_default=func.now())
    load_id: Mapped[int | None] = mapped_column(ForeignKey("loads.id"))
    geom = _point()


class Depot(Base):
    """A supply depot (储备库/点) of the five-level reserve system."""

    __tablename__ = "depots"
    __table_args__ = (_check("level", vocab.ADMIN_LEVEL, nullable=False),
                      _check("status", vocab.DEPOT_STATUS, nullable=False))
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    ext_id: Mapped[str] = mapped_column(Text, unique=True)
    name: Mapped[str] = mapped_column(Text)
    level: Mapped[str] = mapped_column(String(12))
    area_m2: Mapped[float | None] = mapped_column(Float)
    status: Mapped[str] = mapped_column(String(12))
    unit_code: Mapped[str | None] = mapped_column(String(12))
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True),
                                                    server_default=func.now())
    load_id: Mapped[int | None] = mapped_column(ForeignKey("loads.id"))
    geom = _point()


class StockItem(Base):
    """A relief item depots may stock (migration 0006): the vocabulary of ``depot_stock.item``.

    Seeded with ``vocab.STOCK_ITEMS``; more are added on purpose (`emgis stock-items add`,
    ``POST /stock-items``), never by a typo in a stock update."""

    __tablename__ = "stock_items"
    __table_args__ = (_check("kind", vocab.STOCK_KIND, nullable=False),
                      CheckConstraint("length(btrim(name)) > 0", name="name_not_blank"))
    name: Mapped[str] = mapped_column(Text, primary_key=True)
    unit: Mapped[str | None] = mapped_column(Text)
    kind: Mapped[str] = mapped_column(String(20), server_default="other")
    name_en: Mapped[str | None] = mapped_column(Text)
    added_by: Mapped[str] = mapped_column(Text, server_default="seed")
    added_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True),
                                                  server_default=func.now())


class DepotStock(Base):
    __tablename__ = "depot_stock"
    __table_args__ = (CheckConstraint("quantity >= 0", name="quantity_non_negative"),)
    depot_id: Mapped[int] = mapped_column(ForeignKey("depots.id", ondelete="CASCADE"),
                                          primary_key=True)
    item: Mapped[str] = mapped_column(ForeignKey("stock_items.name", onupdate="CASCADE",
                                                 ondelete="RESTRICT"), primary_key=True)
    quantity: Mapped[float] = mapped_column(Float)
    unit: Mapped[str | None] = mapped_column(Text)
    load_id: Mapped[int | None] = mapped_column(ForeignKey("loads.id"))


class TeamBase(Base):
    """A rescue team base; fire stations are team_type 'fire_station'."""

    __tablename__ = "team_bases"
    __table_args__ = (
        _check("team_type", vocab.TEAM_TYPE, nullable=False),
        _check("status", vocab.TEAM_STATUS, nullable=False),
        _check("fire_class", vocab.FIRE_CLASS),
        CheckConstraint("personnel >= 0", name="personnel_non_negative"),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    ext_id: Mapped[str] = mapped_column(Text, unique=True)
    name: Mapped[str] = mapped_column(Text)
    team_type: Mapped[str] = mapped_column(String(20))
    specialities: Mapped[list[str] | None] = mapped_column(ARRAY(Text))
    personnel: Mapped[int] = mapped_column(Integer)
    vehicles: Mapped[int | None] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(12))
    fire_class: Mapped[str | None] = mapped_column(String(12))
    unit_code: Mapped[str | None] = mapped_column(String(12))
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True),
                                                    server_default=func.now())
    load_id: Mapped[int | None] = mapped_column(ForeignKey("loads.id"))
    geom = _point()
    # when the team last passed its assessment (社会救援力量 测评; migration 0009)
    assessed_on: Mapped[dt.date | None] = mapped_column(Date)


class Incident(Base):
    __tablename__ = "incidents"
    __table_args__ = (_check("status", vocab.INCIDENT_STATUS, nullable=False),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    ext_id: Mapped[str | None] = mapped_column(Text, unique=True)
    title: Mapped[str] = mapped_column(Text)
    incident_type: Mapped[str] = mapped_column(Text)
    level: Mapped[str | None] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(12))
    reported_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True),
                                                     server_default=func.now())
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True),
                                                    server_default=func.now())
    load_id: Mapped[int | None] = mapped_column(ForeignKey("loads.id"))
    geom = mapped_column(Geometry("GEOMETRY", srid=SRID, spatial_index=True), nullable=False)
    # the figures plan triggers read (migration 0008); NULL = unknown, never 0
    deaths: Mapped[int | None] = mapped_column(Integer)
    injured: Mapped[int | None] = mapped_column(Integer)
    missing: Mapped[int | None] = mapped_column(Integer)
    affected: Mapped[int | None] = mapped_column(Integer)
    relocated: Mapped[int | None] = mapped_column(Integer)
    duration_h: Mapped[float | None] = mapped_column(Float)
    hazard_level: Mapped[float | None] = mapped_column(Float)


class NormOverride(Base):
    """A planner's override of one norm (see layers.norms)."""

    __tablename__ = "norm_overrides"
    key: Mapped[str] = mapped_column(Text, primary_key=True)
    value: Mapped[str] = mapped_column(Text)
    unit: Mapped[str | None] = mapped_column(Text)
    standard: Mapped[str | None] = mapped_column(Text)
    clause: Mapped[str | None] = mapped_column(Text)
    note: Mapped[str | None] = mapped_column(Text)
    set_by: Mapped[str] = mapped_column(Text)
    set_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class AuditEntry(Base):
    """Every edit of every data table, written by a trigger (see the first migration)."""

    __tablename__ = "audit_log"
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now(),
                                            index=True)
    actor: Mapped[str] = mapped_column(Text)
    action: Mapped[str] = mapped_column(String(20))
    table_name: Mapped[str] = mapped_column(Text, index=True)
    row_key: Mapped[str | None] = mapped_column(Text)
    before: Mapped[dict | None] = mapped_column(JSONB)
    after: Mapped[dict | None] = mapped_column(JSONB)
    detail: Mapped[str | None] = mapped_column(Text)


# Tables whose every row edit the audit trigger records (bulk loads record one 'load' entry).
AUDITED_TABLES = [
    "study_area", "admin_units", "code_list", "population", "risk_points", "hazards", "risk_areas",
    "hazard_zones", "shelters", "depots", "depot_stock", "team_bases", "incidents",
    "norm_overrides", "stock_items",
]


from sqlalchemy import Boolean  # noqa: E402  (road tables, appended; see migration 0003)


class RoadNetwork(Base):
    """One loaded road network: its source, size and the compiled graph routing reads."""

    __tablename__ = "road_networks"
    name: Mapped[str] = mapped_column(Text, primary_key=True)
    source_file: Mapped[str | None] = mapped_column(Text)
    sha256: Mapped[str | None] = mapped_column(String(64))
    nodes: Mapped[int] = mapped_column(Integer)
    edges: Mapped[int] = mapped_column(Integer)
    components: Mapped[int] = mapped_column(Integer)
    built_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True),
                                                  server_default=func.now())
    graph_path: Mapped[str | None] = mapped_column(Text)
    report: Mapped[dict | None] = mapped_column(JSONB)


class RoadEdge(Base):
    """One edge of a road network (``edge_id``: its index in the compiled graph)."""

    __tablename__ = "road_edges"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    network: Mapped[str] = mapped_column(ForeignKey("road_networks.name", ondelete="CASCADE"),
                                         server_default="default", index=True)
    edge_id: Mapped[int] = mapped_column(Integer)
    u: Mapped[int] = mapped_column(BigInteger)
    v: Mapped[int] = mapped_column(BigInteger)
    road_class: Mapped[str | None] = mapped_column(Text)
    name: Mapped[str | None] = mapped_column(Text)
    speed_kmh: Mapped[float] = mapped_column(Float)
    length_m: Mapped[float] = mapped_column(Float)
    time_s: Mapped[float] = mapped_column(Float)
    oneway: Mapped[bool] = mapped_column(Boolean)
    component: Mapped[int | None] = mapped_column(Integer)
    geom = mapped_column(Geometry("LINESTRING", srid=SRID, spatial_index=True), nullable=False)


class ApiToken(Base):
    """A bearer token of the HTTP API (only its SHA-256 is stored) and its role (migration 0004)."""

    __tablename__ = "api_tokens"
    __table_args__ = (
        CheckConstraint("role IN ('viewer', 'reporter', 'planner', 'commander', 'admin')",
                        name="role_allowed"),  # reporter: migration 0011
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(Text, unique=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    role: Mapped[str] = mapped_column(String(12))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True),
                                                    server_default=func.now())
    revoked: Mapped[bool] = mapped_column(Boolean, server_default="false")


