"""The command side: dispatch records and the timeline (0007), plans and drills (0008,
0012), experts and team equipment (0009), batch results (0010), field reports, contacts and
warnings (0011)."""

from __future__ import annotations

import datetime as dt

from geoalchemy2 import Geometry
from sqlalchemy import (
    ARRAY,
    BigInteger,
    Boolean,
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
from emgis.layers.models.core import AUDITED_TABLES


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
    phone: Mapped[str | None] = mapped_column(String(40))
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

