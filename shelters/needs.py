"""What an incident needs: the team types (and later supplies) its kind asks for, as norms.

An incident's type is free text (flood, 山洪, 危化品泄漏 …); `incident_kind` reads it through the
vocabulary `layers.vocab.INCIDENT_TYPE`, and ``incident.team_types.<kind>`` in the norms says
which team types it needs (`;`-separated keys of `layers.vocab.TEAM_TYPE`), with the row's source
and certainty — local practice unless a standard says otherwise, and overridable by a planner
(`emgis norms set incident.team_types.flood "water_rescue;flood;medical"`).
"""

from __future__ import annotations

from dataclasses import dataclass

from emgis.layers import vocab

PREFIX = "incident.team_types"


@dataclass(frozen=True)
class TeamNeeds:
    kind: str              # the incident kind (a key of INCIDENT_TYPE, or "other")
    known: bool            # False: the type was not recognised, the "other" row applies
    team_types: list[str]  # keys of TEAM_TYPE, in the order the norm lists them
    source: str            # the norm's source and certainty


def incident_kind(text: str | None) -> str | None:
    """The `INCIDENT_TYPE` key of an incident's type text, or None."""
    return vocab.lookup(vocab.INCIDENT_TYPE, text)


def team_needs(incident_type: str | None, norms) -> TeamNeeds:
    """The team types an incident of ``incident_type`` needs, from the norms in force."""
    kind = incident_kind(incident_type)
    key = f"{PREFIX}.{kind}" if kind is not None and f"{PREFIX}.{kind}" in norms else None
    row = norms[key or f"{PREFIX}.other"]
    types = [t.strip() for t in str(row.value).split(";") if t.strip()]
    unknown = [t for t in types if t not in vocab.TEAM_TYPE]
    if unknown:
        raise ValueError(f"norm {row.key} names unknown team types {unknown}; use keys of "
                         f"{', '.join(vocab.TEAM_TYPE)}")
    return TeamNeeds(kind or "other", key is not None, types, row.source)


def team_filter(layer: str, team_type: str | None,
                speciality: str | None) -> tuple[str, str | None, str | None]:
    """``(table, team type key, speciality)`` for a facility layer or kind (``fire`` is the fire
    stations, `shelters.coverage.KINDS`) and a team type (key, Chinese name or alias) and
    speciality; raises `BadArgument` naming the choices on a wrong one. The one rule the CLI
    (--to/--layer, --type) and the API (layer, team_type) share."""
    from emgis.geo.store import FACILITY_LAYERS
    from emgis.layers.problems import BadArgument
    from emgis.shelters.coverage import KINDS, kind

    table, implied = layer, None
    if layer not in FACILITY_LAYERS:
        try:
            k = kind(layer)
        except ValueError:
            raise BadArgument(f"{layer!r} is not a facility layer; use one of "
                              f"{', '.join([*FACILITY_LAYERS, *KINDS])}") from None
        table, implied = k.table, k.team_type
    key = implied
    if team_type:
        key = vocab.lookup(vocab.TEAM_TYPE, team_type)
        if key is None:
            raise BadArgument(f"team type {team_type!r} is not a team type; use one of "
                              f"{vocab.describe(vocab.TEAM_TYPE)}")
        if implied is not None and key != implied:
            raise BadArgument(f"{layer} means team type {implied}; drop the team type or use "
                              "team_bases")
    spec = (speciality.strip() or None) if speciality else None
    if (key or spec) and table != "team_bases":
        raise BadArgument(f"a team type or speciality select teams: {table} are not teams")
    return table, key, spec


def equipment_filter(table: str, equipment: str | None) -> str | None:
    """The `EQUIPMENT_KIND` key of ``equipment`` (key, Chinese name or alias, e.g. 冲锋舟) for a
    nearest-teams question; None for none. `BadArgument` naming the catalogue on an unknown kind,
    or when ``table`` is not the teams (the CLI's --equipment and the API's equipment)."""
    from emgis.layers.problems import BadArgument

    if equipment is None or not equipment.strip():
        return None
    key = vocab.lookup(vocab.EQUIPMENT_KIND, equipment)
    if key is None:
        raise BadArgument(f"equipment {equipment!r} is not in the equipment catalogue; use one "
                          f"of {vocab.describe(vocab.EQUIPMENT_KIND)}")
    if table != "team_bases":
        raise BadArgument(f"an equipment kind selects teams: {table} are not teams")
    return key
