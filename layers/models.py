"""The data model. The schema changes only through Alembic migrations (layers/migrations).

Geometries are stored in EPSG:4326 with GiST indexes; each loaded row keeps the id of the
load that brought it, and ``loads`` records the file, its checksum and its source CRS.
Class and level columns hold the stable keys of ``layers.vocab``, enforced by CHECK
constraints generated from the same vocabularies.
"""

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
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from emgis.layers import vocab

SRID = 4326
# Division codes are digits: byte order ("C") is the right order and keeps their indexes fast
# (a 700k-row census load spends most of its write in the primary-key index).
CODE = String(12, collation="C")


def _check(column: str, terms: dict, *, nullable: bool = True) -> CheckConstraint:
    allowed = ", ".join(f"'{k}'" for k in terms)
    cond = f"{column} IN ({allowed})"
    if nullable:
        cond = f"{column} IS NULL OR {cond}"
    return CheckConstraint(cond, name=f"{column}_allowed")


def _point() -> Mapped:
    return mapped_column(Geometry("POINT", srid=SRID, spatial_index=True), nullable=False)


class Base(DeclarativeBase):
    pass


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


class IncidentAssignment(Base):
    """A team, a quantity of a depot's item, or shelter places assigned to an incident (0007).

    ``state`` moves dispatched → en_route → on_scene → returned (or cancelled; the moves of
    each kind are `shelters.dispatch.MOVES`); each state's time is kept. A team is in at most
    one active assignment (partial unique index ``uq_incident_assignments_active_team``)."""

    __tablename__ = "incident_assignments"
    __table_args__ = (
        CheckConstraint("kind IN ('team', 'depot_stock', 'shelter')", name="kind_allowed"),
        CheckConstraint("state IN ('dispatched', 'en_route', 'on_scene', 'returned', "
                        "'cancelled')", name="state_allowed"),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    incident_id: Mapped[int] = mapped_column(ForeignKey("incidents.id", ondelete="CASCADE"),
                                             index=True)
    kind: Mapped[str] = mapped_column(String(12))
    team_id: Mapped[int | None] = mapped_column(ForeignKey("team_bases.id", ondelete="CASCADE"))
    depot_id: Mapped[int | None] = mapped_column(ForeignKey("depots.id", ondelete="CASCADE"))
    item: Mapped[str | None] = mapped_column(ForeignKey("stock_items.name", onupdate="CASCADE",
                                                        ondelete="RESTRICT"))
    quantity: Mapped[float | None] = mapped_column(Float)
    shelter_id: Mapped[int | None] = mapped_column(ForeignKey("shelters.id", ondelete="CASCADE"))
    places: Mapped[int | None] = mapped_column(Integer)
    state: Mapped[str] = mapped_column(String(12), server_default="dispatched")
    eta_s: Mapped[float | None] = mapped_column(Float)
    length_m: Mapped[float | None] = mapped_column(Float)
    route = mapped_column(Geometry("LINESTRING", srid=SRID, spatial_index=True), nullable=True)
    note: Mapped[str | None] = mapped_column(Text)
    assigned_by: Mapped[str] = mapped_column(Text)
    dispatched_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True),
                                                       server_default=func.now())
    en_route_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    on_scene_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    returned_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    cancelled_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True),
                                                    server_default=func.now())


class IncidentEvent(Base):
    """One line of an incident's timeline: an assignment, a move or a note, with its actor."""

    __tablename__ = "incident_events"
    __table_args__ = (
        CheckConstraint("kind IN ('assigned', 'moved', 'note')", name="kind_allowed"),
    )
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    incident_id: Mapped[int] = mapped_column(ForeignKey("incidents.id", ondelete="CASCADE"))
    at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True),
                                            server_default=func.clock_timestamp())
    actor: Mapped[str] = mapped_column(Text)
    kind: Mapped[str] = mapped_column(String(12))
    text: Mapped[str] = mapped_column(Text)
    assignment_id: Mapped[int | None] = mapped_column(
        ForeignKey("incident_assignments.id", ondelete="SET NULL"))
    data: Mapped[dict | None] = mapped_column(JSONB)


AUDITED_TABLES += ["incident_assignments", "incident_events"]
# --- emergency plans (预案) and drills (演练), migration 0008 ---------------------------------
from sqlalchemy import UniqueConstraint  # noqa: E402  (appended with the plan tables)


class Plan(Base):
    """An emergency plan: kind, owner, the area it covers (a unit code, an enterprise, or the
    county when both are empty), the incident types it covers (empty = every type), its review."""

    __tablename__ = "plans"
    __table_args__ = (_check("kind", vocab.PLAN_KIND, nullable=False),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    ext_id: Mapped[str] = mapped_column(Text, unique=True)
    name: Mapped[str] = mapped_column(Text)
    kind: Mapped[str] = mapped_column(String(20))
    owner_unit: Mapped[str | None] = mapped_column(Text)
    area_code: Mapped[str | None] = mapped_column(CODE)
    enterprise: Mapped[str | None] = mapped_column(Text)
    incident_types: Mapped[list[str]] = mapped_column(ARRAY(Text), server_default="{}")
    revised_on: Mapped[dt.date | None] = mapped_column(Date)
    next_review_on: Mapped[dt.date | None] = mapped_column(Date)
    entered_on: Mapped[dt.date | None] = mapped_column(Date)
    load_id: Mapped[int | None] = mapped_column(ForeignKey("loads.id"))
    geom = mapped_column(Geometry("GEOMETRY", srid=SRID, spatial_index=True), nullable=True)


class PlanLevel(Base):
    """A plan's response level and its triggers: [{field, op, value}], any met ⇒ this level."""

    __tablename__ = "plan_levels"
    __table_args__ = (_check("level", vocab.RESPONSE_LEVEL, nullable=False),
                      UniqueConstraint("plan_id", "level", name="plan_levels_plan_level_key"))
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    plan_id: Mapped[int] = mapped_column(ForeignKey("plans.id", ondelete="CASCADE"), index=True)
    level: Mapped[str] = mapped_column(String(4))
    triggers = mapped_column(JSONB, nullable=False, server_default="[]")
    command: Mapped[str | None] = mapped_column(Text)


class PlanTask(Base):
    """A task of a plan at a response level: which unit, what, who, done when."""

    __tablename__ = "plan_tasks"
    __table_args__ = (_check("level", vocab.RESPONSE_LEVEL, nullable=False),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    plan_id: Mapped[int] = mapped_column(ForeignKey("plans.id", ondelete="CASCADE"), index=True)
    level: Mapped[str] = mapped_column(String(4))
    seq: Mapped[int] = mapped_column(Integer)
    unit: Mapped[str | None] = mapped_column(Text)
    task: Mapped[str] = mapped_column(Text)
    who: Mapped[str | None] = mapped_column(Text)
    done_when: Mapped[str | None] = mapped_column(Text)
    # what the task mobilises (migration 0012): a team type and how many, or an item and how much
    team_type: Mapped[str | None] = mapped_column(String(24))
    item: Mapped[str | None] = mapped_column(Text)
    quantity: Mapped[float | None] = mapped_column(Float)


class IncidentChecklistItem(Base):
    """A task of a started response on an incident (copied from the plan when it started)."""

    __tablename__ = "incident_checklists"
    __table_args__ = (_check("state", vocab.CHECKLIST_STATE, nullable=False),
                      _check("level", vocab.RESPONSE_LEVEL, nullable=False))
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    incident_id: Mapped[int] = mapped_column(ForeignKey("incidents.id", ondelete="CASCADE"),
                                             index=True)
    plan_id: Mapped[int | None] = mapped_column(ForeignKey("plans.id", ondelete="SET NULL"))
    level: Mapped[str] = mapped_column(String(4))
    task_id: Mapped[int | None] = mapped_column(ForeignKey("plan_tasks.id", ondelete="SET NULL"))
    seq: Mapped[int] = mapped_column(Integer)
    unit: Mapped[str | None] = mapped_column(Text)
    task: Mapped[str] = mapped_column(Text)
    who: Mapped[str | None] = mapped_column(Text)
    done_when: Mapped[str | None] = mapped_column(Text)
    # what the task mobilises (migration 0012): a team type and how many, or an item and how much
    team_type: Mapped[str | None] = mapped_column(String(24))
    item: Mapped[str | None] = mapped_column(Text)
    quantity: Mapped[float | None] = mapped_column(Float)
    state: Mapped[str] = mapped_column(String(8))
    started_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True),
                                                    server_default=func.now())
    started_by: Mapped[str] = mapped_column(Text)
    done_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    done_by: Mapped[str | None] = mapped_column(Text)


class Drill(Base):
    """A drill (演练) of a plan."""

    __tablename__ = "drills"
    __table_args__ = (_check("kind", vocab.DRILL_KIND, nullable=False),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    ext_id: Mapped[str] = mapped_column(Text, unique=True)
    plan_id: Mapped[int | None] = mapped_column(ForeignKey("plans.id", ondelete="SET NULL"),
                                                index=True)
    held_on: Mapped[dt.date] = mapped_column(Date)
    scenario: Mapped[str] = mapped_column(Text)
    kind: Mapped[str] = mapped_column(String(16))
    participants: Mapped[int | None] = mapped_column(Integer)
    units: Mapped[list[str]] = mapped_column(ARRAY(Text), server_default="{}")


class DrillFinding(Base):
    """A drill's evaluation finding, rectified through open → rectifying → closed."""

    __tablename__ = "drill_findings"
    __table_args__ = (_check("state", vocab.FINDING_STATE, nullable=False),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    drill_id: Mapped[int] = mapped_column(ForeignKey("drills.id", ondelete="CASCADE"), index=True)
    finding: Mapped[str] = mapped_column(Text)
    responsible: Mapped[str | None] = mapped_column(Text)
    deadline: Mapped[dt.date | None] = mapped_column(Date)
    state: Mapped[str] = mapped_column(String(12))
    measures: Mapped[str | None] = mapped_column(Text)
    closed_on: Mapped[dt.date | None] = mapped_column(Date)


class DrillFindingEvent(Base):
    """Every state change and note of a drill finding."""

    __tablename__ = "drill_finding_events"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    finding_id: Mapped[int] = mapped_column(ForeignKey("drill_findings.id", ondelete="CASCADE"),
                                            index=True)
# --- field reports, contacts, warnings with acknowledgement (migration 0011) ---------------------

from sqlalchemy import LargeBinary, UniqueConstraint  # noqa: E402

FIELD_REPORT_KINDS = ("hazard", "quick_report")
FIELD_REPORT_STATES = ("initial", "follow_up", "verified", "rejected")
WARNING_LEVELS = ("blue", "yellow", "orange", "red")


def _in(column: str, values: tuple[str, ...], name: str) -> CheckConstraint:
    return CheckConstraint(f"{column} IN ({', '.join(repr(v) for v in values)})", name=name)


class FieldReport(Base):
    """A report from the field (隐患上报 or 灾情快报); counts NULL = not reported, never 0."""

    __tablename__ = "field_reports"
    __table_args__ = (_in("kind", FIELD_REPORT_KINDS, "kind_allowed"),
                      _in("state", FIELD_REPORT_STATES, "state_allowed"))
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(20))
    state: Mapped[str] = mapped_column(String(12), server_default="initial")
    reported_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True),
                                                     server_default=func.now())
    occurred_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True),
                                                    server_default=func.now())
    reporter: Mapped[str] = mapped_column(Text)
    township_code: Mapped[str | None] = mapped_column(CODE, index=True)
    place: Mapped[str | None] = mapped_column(Text)
    incident_type: Mapped[str | None] = mapped_column(Text)
    deaths: Mapped[int | None] = mapped_column(Integer)
    missing: Mapped[int | None] = mapped_column(Integer)
    injured: Mapped[int | None] = mapped_column(Integer)
    relocated: Mapped[int | None] = mapped_column(Integer)
    houses_damaged: Mapped[int | None] = mapped_column(Integer)
    text: Mapped[str | None] = mapped_column(Text)
    photo_type: Mapped[str | None] = mapped_column(Text)
    photo_bytes: Mapped[int | None] = mapped_column(Integer)
    photo_sha256: Mapped[str | None] = mapped_column(String(64))
    hazard_id: Mapped[int | None] = mapped_column(ForeignKey("hazards.id", ondelete="SET NULL"))
    geom = _point()


class FieldReportPhoto(Base):
    """A field report's photo (not row-audited: the report's row holds its type, size, hash)."""

    __tablename__ = "field_report_photos"
    report_id: Mapped[int] = mapped_column(ForeignKey("field_reports.id", ondelete="CASCADE"),
                                           primary_key=True)
    media_type: Mapped[str] = mapped_column(Text)
    data: Mapped[bytes] = mapped_column(LargeBinary)


class FieldReportEvent(Base):
    """Every state change and follow-up of a field report."""

    __tablename__ = "field_report_events"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    report_id: Mapped[int] = mapped_column(ForeignKey("field_reports.id", ondelete="CASCADE"),
                                           index=True)
    at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    actor: Mapped[str] = mapped_column(Text)
    from_state: Mapped[str | None] = mapped_column(String(12))
    to_state: Mapped[str | None] = mapped_column(String(12))
    note: Mapped[str | None] = mapped_column(Text)
# --- experts and team equipment (migration 0009) --------------------------------------------------

class Expert(Base):
    """An expert of the roster (专家库): specialities (keys of `vocab.EXPERT_SPECIALITY`), unit,
    title, phone (personal data: only commander and above see it; never an OGC property),
    availability and base location."""

    __tablename__ = "experts"
    __table_args__ = (_check("availability", vocab.EXPERT_AVAILABILITY, nullable=False),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    ext_id: Mapped[str] = mapped_column(Text, unique=True)
    name: Mapped[str] = mapped_column(Text)
    specialities: Mapped[list[str]] = mapped_column(ARRAY(Text))
    unit: Mapped[str | None] = mapped_column(Text)
    title: Mapped[str | None] = mapped_column(Text)
    phone: Mapped[str | None] = mapped_column(Text)
    availability: Mapped[str] = mapped_column(String(12))
    unit_code: Mapped[str | None] = mapped_column(String(12))
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True),
                                                    server_default=func.now())
    load_id: Mapped[int | None] = mapped_column(ForeignKey("loads.id"))
    geom = _point()


class TeamEquipment(Base):
    """One line of a team's equipment list: item, kind (`vocab.EQUIPMENT_KIND`), quantity, state."""

    __tablename__ = "team_equipment"
    __table_args__ = (
        _check("kind", vocab.EQUIPMENT_KIND, nullable=False),
        _check("state", vocab.EQUIPMENT_STATE, nullable=False),
        CheckConstraint("quantity >= 0", name="quantity_non_negative"),
    )
    team_base_id: Mapped[int] = mapped_column(ForeignKey("team_bases.id", ondelete="CASCADE"),
                                              primary_key=True)
    item: Mapped[str] = mapped_column(Text, primary_key=True)
    kind: Mapped[str] = mapped_column(String(30))
    quantity: Mapped[int] = mapped_column(Integer)
    state: Mapped[str] = mapped_column(String(10), server_default="ok")
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True),
                                                    server_default=func.now())
    load_id: Mapped[int | None] = mapped_column(ForeignKey("loads.id"))


AUDITED_TABLES += ["experts", "team_equipment"]
class BatchResult(Base):
    """One village's result of `emgis batch` (migration 0010). The table is partitioned by
    ``county_code`` (one partition per county, made by `shelters.batch.store`)."""

    __tablename__ = "batch_results"
    __table_args__ = ({"postgresql_partition_by": "LIST (county_code)"},)
    county_code: Mapped[str] = mapped_column(String(6), primary_key=True)
    analysis: Mapped[str] = mapped_column(String(12), primary_key=True)
    layer: Mapped[str] = mapped_column(String(20), primary_key=True)
    code: Mapped[str] = mapped_column(Text, primary_key=True)
    name: Mapped[str | None] = mapped_column(Text)
    population: Mapped[float | None] = mapped_column(Float)
    facility: Mapped[str | None] = mapped_column(Text)
    time_min: Mapped[float | None] = mapped_column(Float)
    standard_min: Mapped[float | None] = mapped_column(Float)
    covered: Mapped[bool | None] = mapped_column(Boolean)
    covered_by: Mapped[str | None] = mapped_column(Text)
    snap_m: Mapped[float | None] = mapped_column(Float)
    uncovered: Mapped[float | None] = mapped_column(Float)
    underserved: Mapped[float | None] = mapped_column(Float)
    gap: Mapped[float | None] = mapped_column(Float)
    geom = mapped_column(Geometry("POINT", srid=SRID, spatial_index=False))
    computed_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True),
                                                     server_default=func.now())


class BatchSummary(Base):
    """The province summary of `emgis batch`: one line per county, analysis and layer, with
    the error of a county that failed (migration 0010)."""

    __tablename__ = "batch_summary"
    county_code: Mapped[str] = mapped_column(String(6), primary_key=True)
    analysis: Mapped[str] = mapped_column(String(12), primary_key=True)
    layer: Mapped[str] = mapped_column(String(20), primary_key=True)
    status: Mapped[str] = mapped_column(String(8))
    error: Mapped[str | None] = mapped_column(Text)
    demand_points: Mapped[int | None] = mapped_column(Integer)
    population: Mapped[float | None] = mapped_column(Float)
    covered_population: Mapped[float | None] = mapped_column(Float)
    coverage_share: Mapped[float | None] = mapped_column(Float)
    gap_population: Mapped[float | None] = mapped_column(Float)
    road_nodes: Mapped[int | None] = mapped_column(Integer)
    facilities: Mapped[int | None] = mapped_column(Integer)
    seconds: Mapped[float | None] = mapped_column(Float)
    computed_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True),
                                                     server_default=func.now())
    changes: Mapped[dict | None] = mapped_column(JSONB)
    note: Mapped[str | None] = mapped_column(Text)


class Contact(Base):
    """A person responsible for a village or township (村支书, 网格员, 乡镇值班)."""

    __tablename__ = "contacts"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    ext_id: Mapped[str] = mapped_column(Text, unique=True)
    name: Mapped[str] = mapped_column(Text)
    unit_code: Mapped[str] = mapped_column(CODE, index=True)
    role: Mapped[str | None] = mapped_column(Text)
    phone: Mapped[str | None] = mapped_column(String(40))
    load_id: Mapped[int | None] = mapped_column(ForeignKey("loads.id"))


class IssuedWarning(Base):
    """A warning issued for an area (level blue … red), by whom and when."""

    __tablename__ = "warnings"
    __table_args__ = (_in("level", WARNING_LEVELS, "level_allowed"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    incident_id: Mapped[int | None] = mapped_column(ForeignKey("incidents.id",
                                                               ondelete="SET NULL"))
    level: Mapped[str] = mapped_column(String(8))
    text: Mapped[str] = mapped_column(Text)
    issued_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True),
                                                   server_default=func.now())
    issued_by: Mapped[str] = mapped_column(Text)
    area = mapped_column(Geometry("MULTIPOLYGON", srid=SRID, spatial_index=True), nullable=False)


class WarningRecipient(Base):
    """A contact a warning went to (name, role and phone as they were) and the acknowledgement."""

    __tablename__ = "warning_recipients"
    __table_args__ = (UniqueConstraint("warning_id", "contact_id", name="one_per_contact"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    warning_id: Mapped[int] = mapped_column(ForeignKey("warnings.id", ondelete="CASCADE"),
                                            index=True)
    contact_id: Mapped[int | None] = mapped_column(ForeignKey("contacts.id",
                                                              ondelete="SET NULL"))
    unit_code: Mapped[str] = mapped_column(CODE)
    unit_level: Mapped[str | None] = mapped_column(String(20))
    unit_name: Mapped[str | None] = mapped_column(Text)
    name: Mapped[str] = mapped_column(Text)
    role: Mapped[str | None] = mapped_column(Text)
    phone: Mapped[str | None] = mapped_column(String(40))
    code: Mapped[str] = mapped_column(String(12))
    acknowledged_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    acknowledged_by: Mapped[str | None] = mapped_column(Text)
    channel: Mapped[str | None] = mapped_column(String(20))


AUDITED_TABLES += ["field_reports", "contacts", "warnings", "warning_recipients"]
