"""Readiness against the norms: are the teams of each township and village at full build?

`assess` takes the stored units, census population, teams and their equipment (read by
`shelters.readiness_store.read_inputs`) and the norms in force, and checks per township:

* ``township_team`` — its largest comprehensive team ≥ ``team.min_personnel.township``;
* ``village_squads`` — its villages whose squad (a comprehensive or volunteer team registered
  to the village, other than the township's own team) has ≥ ``team.min_personnel.village``;
  the full build of seed 000 (``team.min_personnel.village_full``) is reported beside it;
* ``firefighters`` — full-time firefighters (fire-station personnel in the township) against
  ``fire.firefighters_per_1000`` of its census population (`shelters.supply.team_personnel`);
  no census population is "unknown", never 0 required;
* ``equipment`` — each team whose type has a minimum list (norms
  ``equipment.min.<team_type>.<kind>``) holds at least that many of each kind in state ok; a
  team with no equipment list stored is "unknown";
* ``social_assessed`` — the share of its social rescue forces (team type volunteer) with an
  assessment date, against ``team.social_assessed_share.<year>`` for the report's year;
* ``plans`` — plan and drill status, from a ``plan_status`` function when plans are stored;
  without one the report says "plan status: not stored" (never counted as compliant).

Each check carries its value, what the norm requires, the norm's key and source. A township is
coloured by its known checks: compliant (all pass), mostly (at least half pass), not compliant
(fewer), unknown (none fails but some are unknown).
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable
from dataclasses import dataclass, field

import pandas as pd

from emgis.layers import vocab

COMPLIANT, NOT_COMPLIANT, UNKNOWN, NOT_APPLICABLE, NOT_STORED = (
    "compliant", "not_compliant", "unknown", "n/a", "not_stored")
STATUS_ZH = {COMPLIANT: "达标", NOT_COMPLIANT: "不达标", UNKNOWN: "未知", NOT_APPLICABLE: "不适用",
             NOT_STORED: "未录入"}
#: the four colours of a township's compliance (the map and the summary)
COLOURS = {"compliant": ("#1a9641", "达标 compliant"),
           "mostly": ("#fdae61", "基本达标 mostly (≥ half of the checks)"),
           "not_compliant": ("#d7191c", "不达标 not compliant"),
           "unknown": ("#9e9e9e", "未知 unknown (data missing)")}
CHECKS = {"township_team": "乡镇综合性应急救援队伍人数", "village_squads": "村级应急救援队伍",
          "firefighters": "专职消防员（‰人口）", "equipment": "队伍装备（最低配置）",
          "social_assessed": "社会救援力量测评比例", "plans": "预案与演练",
          "village_squad": "村级应急救援队伍人数"}
SQUAD_TYPES = ("comprehensive", "volunteer")
PLAN_NOT_STORED = "plan status: not stored (预案/演练未录入)"


@dataclass
class ReadinessInputs:
    """What the report reads: frames as `readiness_store.read_inputs` returns them."""

    townships: pd.DataFrame   # code, name
    villages: pd.DataFrame    # code, name, parent_code
    population: dict          # code -> people (census year ``census_year``); absent: unknown
    teams: pd.DataFrame       # id, ext_id, name, team_type, personnel, township_code,
    #                           village_code, assessed_on
    equipment: pd.DataFrame   # team_base_id, kind, quantity, state
    census_year: int | None = None
    #: plan and drill status per township code (None: plans are not stored in this database)
    plan_status: Callable[[str], tuple[str, str]] | None = None


@dataclass
class Readiness:
    as_of: dt.date
    checks: pd.DataFrame            # one row per township/village × check
    townships: pd.DataFrame         # one summary row per township
    villages: pd.DataFrame          # one row per village
    norms: list[dict] = field(default_factory=list)  # the norms cited
    census_year: int | None = None

    def as_json(self) -> dict:
        def records(df: pd.DataFrame) -> list[dict]:
            return [{k: (None if isinstance(v, float) and math.isnan(v) else v)
                     for k, v in r.items()} for r in df.to_dict("records")]

        return {"as_of": self.as_of.isoformat(), "census_year": self.census_year,
                "townships": records(self.townships), "villages": records(self.villages),
                "checks": records(self.checks), "norms": self.norms,
                "colours": {k: {"colour": c, "label": lab} for k, (c, lab) in COLOURS.items()}}


def _cite(norms, key: str, cited: dict) -> float:
    row = norms[key]
    cited[key] = {"key": key, "value": row.value, "unit": row.unit, "source": row.source,
                  "note": row.note}
    return norms.number(key)


def _check(where: tuple, check: str, value, required, status: str,
           norm: tuple[str, str] = ("", ""), note: str = "") -> dict:
    """One check's row; ``where`` = (level, code, name, township code), ``norm`` = (key,
    source)."""
    (level, code, name, township), (key, source) = where, norm
    return {"level": level, "code": code, "name": name, "township_code": township,
            "check": check, "check_zh": CHECKS[check], "value": value, "required": required,
            "status": status, "status_zh": STATUS_ZH[status], "norm": key, "source": source,
            "note": note}


def min_lists(norms) -> dict[str, dict[str, float]]:
    """``{team_type: {equipment kind: minimum}}`` from the norms ``equipment.min.*``."""
    out: dict[str, dict[str, float]] = {}
    for suffix, v in norms.group("equipment.min").items():
        team_type, _, kind = suffix.partition(".")
        if team_type in vocab.TEAM_TYPE and kind in vocab.EQUIPMENT_KIND and not isinstance(v, str):
            out.setdefault(team_type, {})[kind] = float(v)
    return out


def equipment_status(team_ids, team_types, equipment: pd.DataFrame,
                     lists: dict[str, dict[str, float]]) -> dict[int, tuple[str, str]]:
    """Per team with a minimum list: (status, what is short or why unknown)."""
    ok = equipment[equipment["state"] == "ok"] if len(equipment) else equipment
    held = (ok.groupby(["team_base_id", "kind"])["quantity"].sum().to_dict() if len(ok) else {})
    listed = set(equipment["team_base_id"]) if len(equipment) else set()
    out = {}
    for tid, ttype in zip(team_ids, team_types, strict=True):
        need = lists.get(ttype)
        if not need:
            continue
        if tid not in listed:
            out[tid] = (UNKNOWN, "no equipment list stored (emgis load team_equipment FILE)")
            continue
        short = [f"{vocab.EQUIPMENT_KIND[k].zh} {held.get((tid, k), 0):g}/{n:g}"
                 for k, n in need.items() if held.get((tid, k), 0) < n]
        out[tid] = (NOT_COMPLIANT, "short: " + ", ".join(short)) if short else (COMPLIANT, "")
    return out


def assessed_target(norms, as_of: dt.date, cited: dict) -> tuple[float | None, str]:
    """The share of social rescue forces due assessed on ``as_of``: the norm of the latest year
    whose end has come (``…share.2024`` from 31 Dec 2024), and its key; None before the first."""
    years = sorted(int(y) for y in norms.group("team.social_assessed_share") if y.isdigit())
    past = [y for y in years if dt.date(y, 12, 31) <= as_of]
    if not past:
        return None, ""
    key = f"team.social_assessed_share.{past[-1]}"
    return _cite(norms, key, cited), key


def _firefighters(pop: float | None, personnel: float, norms, cited: dict) -> tuple:
    """(required, status) through `shelters.supply.team_personnel` (the library function)."""
    from emgis.shelters.supply import team_personnel

    _cite(norms, "fire.firefighters_per_1000", cited)
    if pop is None:
        return None, UNKNOWN
    cov = pd.DataFrame({"facility_id": ["t"], "population": [float(pop)]})
    res = team_personnel(cov, pd.DataFrame({"id": ["t"], "personnel": [float(personnel)]}), norms)
    required = float(res["required"].iloc[0])
    return required, (COMPLIANT if personnel >= required else NOT_COMPLIANT)


def township_population(code: str, villages: pd.DataFrame, population: dict) -> float | None:
    """The township's census population: its own row, else the sum of its villages when every
    village has one; None (unknown) otherwise — never 0 for missing data."""
    if code in population:
        return float(population[code])
    vs = villages.loc[villages["parent_code"] == code, "code"].tolist()
    if not vs or any(v not in population for v in vs):
        return None
    return float(sum(population[v] for v in vs))


def colour_of(statuses: list[str]) -> str:
    known = [s for s in statuses if s in (COMPLIANT, NOT_COMPLIANT)]
    fails = known.count(NOT_COMPLIANT)
    if fails == 0:
        return "unknown" if UNKNOWN in statuses or not known else "compliant"
    return "mostly" if (len(known) - fails) >= len(known) / 2 else "not_compliant"


def assess(inp: ReadinessInputs, norms, as_of: dt.date | None = None) -> Readiness:
    """Check every township and village against the norms (see the module's docstring)."""
    as_of = as_of or dt.date.today()
    cited: dict[str, dict] = {}
    n_town = _cite(norms, "team.min_personnel.township", cited)
    n_vil = _cite(norms, "team.min_personnel.village", cited)
    n_full = _cite(norms, "team.min_personnel.village_full", cited)
    lists = min_lists(norms)
    for t, kinds in lists.items():
        for k in kinds:
            _cite(norms, f"equipment.min.{t}.{k}", cited)
    share_target, share_key = assessed_target(norms, as_of, cited)
    teams = inp.teams
    eq = equipment_status(teams["id"].tolist(), teams["team_type"].tolist(), inp.equipment, lists)
    src = {k: norms[k].source for k in cited}
    checks: list[dict] = []
    vil_rows: list[dict] = []
    town_rows: list[dict] = []
    for t in inp.townships.itertuples(index=False):
        tt = teams[teams["township_code"] == t.code]
        comp = tt[tt["team_type"] == "comprehensive"].sort_values(["personnel", "id"],
                                                                  ascending=[False, True])
        town_team = None if comp.empty else comp.iloc[0]
        rows: list[dict] = []
        here = ("township", t.code, t.name, t.code)
        # 1. the township's comprehensive team
        key = "team.min_personnel.township"
        if town_team is None:
            rows.append(_check(here, "township_team", 0, n_town,
                               NOT_COMPLIANT, (key, src[key]), "no comprehensive team stored"))
        else:
            p = int(town_team["personnel"])
            rows.append(_check(here, "township_team", p, n_town,
                               COMPLIANT if p >= n_town else NOT_COMPLIANT, (key, src[key]),
                               str(town_team["name"])))
        # 2. village squads
        vs = inp.villages[inp.villages["parent_code"] == t.code]
        squads = tt[tt["team_type"].isin(SQUAD_TYPES) & tt["village_code"].notna()]
        if town_team is not None:
            squads = squads[squads["id"] != town_team["id"]]
        n_ok = n_fullbuild = 0
        for v in vs.itertuples(index=False):
            sq = squads[squads["village_code"] == v.code]
            best = int(sq["personnel"].max()) if len(sq) else 0
            st = COMPLIANT if best >= n_vil else NOT_COMPLIANT
            n_ok += st == COMPLIANT
            n_fullbuild += best >= n_full
            note = ("no village squad stored" if sq.empty
                    else "; ".join(sq["name"].astype(str)))
            row = _check(("village", v.code, v.name, t.code), "village_squad", best, n_vil, st,
                         ("team.min_personnel.village", src["team.min_personnel.village"]), note)
            checks.append(row)
            vil_rows.append({"code": v.code, "name": v.name, "township_code": t.code,
                             "township": t.name, "squad_personnel": best,
                             "required": n_vil, "status": st, "status_zh": STATUS_ZH[st],
                             "full_build_required": n_full,
                             "full_build": COMPLIANT if best >= n_full else NOT_COMPLIANT,
                             "population": inp.population.get(v.code), "note": note})
        key = "team.min_personnel.village"
        rows.append(_check(here, "village_squads", n_ok, len(vs),
                           NOT_APPLICABLE if vs.empty else
                           (COMPLIANT if n_ok == len(vs) else NOT_COMPLIANT), (key, src[key]),
                           f"villages with a squad ≥ {n_vil:g}: {n_ok}/{len(vs)}; at full build "
                           f"(≥ {n_full:g}, team.min_personnel.village_full): "
                           f"{n_fullbuild}/{len(vs)}"))
        # 3. full-time firefighters
        pop = township_population(t.code, inp.villages, inp.population)
        ff = float(tt.loc[tt["team_type"] == "fire_station", "personnel"].sum())
        required, st = _firefighters(pop, ff, norms, cited)
        key = "fire.firefighters_per_1000"
        rows.append(_check(here, "firefighters", ff, required, st,
                           (key, norms[key].source),
                           f"population {pop:,.0f} (census {inp.census_year})" if pop is not None
                           else "unknown: no census population for the township or one of its "
                                "villages (emgis load census FILE)"))
        # 4. equipment against the minimum lists
        mine = [(tid, eq[tid]) for tid in tt["id"] if tid in eq]
        if not mine:
            rows.append(_check(here, "equipment", None, None,
                               NOT_APPLICABLE, ("equipment.min.*", "local practice"),
                               "no team here has a minimum list"))
        else:
            names = dict(zip(tt["id"], tt["name"], strict=True))
            sts = [s for _, (s, _) in mine]
            st = (NOT_COMPLIANT if NOT_COMPLIANT in sts else UNKNOWN if UNKNOWN in sts
                  else COMPLIANT)
            notes = "; ".join(f"{names[i]}: {why}" for i, (s, why) in mine if s != COMPLIANT)
            rows.append(_check(here, "equipment",
                               sts.count(COMPLIANT), len(mine), st,
                               ("equipment.min.*",
                                "local practice (norms equipment.min.<team_type>.<kind>)"), notes))
        # 5. social rescue forces assessed
        social = tt[tt["team_type"] == "volunteer"]
        if social.empty or share_target is None:
            rows.append(_check(here, "social_assessed", None,
                               share_target, NOT_APPLICABLE, (share_key, src.get(share_key, "")),
                               "no social rescue force here" if social.empty
                               else "no target for this year"))
        else:
            done = social["assessed_on"].map(
                lambda d: d is not None and not (isinstance(d, float) and math.isnan(d))
                and d <= as_of).sum()
            share = float(done) / len(social)
            rows.append(_check(here, "social_assessed",
                               round(share, 4), share_target,
                               COMPLIANT if share >= share_target - 1e-9 else NOT_COMPLIANT,
                               (share_key, src[share_key]), f"{int(done)}/{len(social)} assessed"))
        # 6. plans and drills
        if inp.plan_status is None:
            rows.append(_check(here, "plans", None, None,
                               NOT_STORED, note=PLAN_NOT_STORED))
        else:
            st, why = inp.plan_status(t.code)
            rows.append(_check(here, "plans", None, None, st,
                               note=why))
        checks.extend(rows)
        by = {r["check"]: r for r in rows}
        colour = colour_of([r["status"] for r in rows])
        town_rows.append({
            "code": t.code, "name": t.name, "compliance": colour,
            "compliance_zh": COLOURS[colour][1], "colour": COLOURS[colour][0],
            **{f"{c}_status": by[c]["status"] for c in by},
            "township_team_personnel": by["township_team"]["value"],
            "villages_ok": n_ok, "villages": len(vs), "population": pop,
            "firefighters": ff, "firefighters_required": required,
            "summary": summary_line(t.name, rows, colour)})
    return Readiness(as_of, pd.DataFrame(checks), pd.DataFrame(town_rows),
                     pd.DataFrame(vil_rows), list(cited.values()), inp.census_year)


def summary_line(name: str, rows: list[dict], colour: str) -> str:
    """One line per township: its colour and each check's status in a few words."""
    parts = []
    for r in rows:
        if r["status"] in (NOT_APPLICABLE,):
            continue
        v, req = r["value"], r["required"]
        if r["check"] == "plans":
            parts.append(PLAN_NOT_STORED if r["status"] == NOT_STORED else
                         f"{r['check_zh']} {r['status_zh']}")
            continue
        parts.append(f"{r['check_zh']} {_fmt(v)}/{_fmt(req)} {r['status_zh']}")
    return f"{name}: {COLOURS[colour][1]} — " + "; ".join(parts)


def _fmt(x) -> str:
    return "?" if x is None else f"{x:g}" if isinstance(x, (int, float)) else str(x)
