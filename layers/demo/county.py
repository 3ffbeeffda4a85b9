"""``write_demo_county``: draw the demo county from one seeded generator and write its files.

Everything is drawn from one ``numpy.random.Generator(PCG64(seed))`` in the fixed order of
:func:`write_demo_county`, so a seed always gives the same files (byte-identical on the same
library versions). The parts it calls live beside it: ``geography``, ``facilities``,
``hazards`` and ``files``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from numpy.random import PCG64, Generator
from pyproj import Transformer

from emgis.layers.demo.common import COUNTY_CODE, COUNTY_NAME, COUNTY_NAME_EN, DEFAULT_SEED
from emgis.layers.demo.facilities import draw_depots, draw_shelters, draw_teams
from emgis.layers.demo.files import (
    FILES,
    readme,
    write_boundaries,
    write_census,
    write_codes,
    write_depots,
    write_geojson,
    write_points_geojson,
    write_roads,
    write_shelters,
    write_teams,
)
from emgis.layers.demo.geography import build_world
from emgis.layers.demo.hazards import draw_hazards, draw_risk_points
from emgis.layers.demo.readiness import with_assessments, write_readiness_files


@dataclass(frozen=True)
class DemoFiles:
    """Where ``write_demo_county`` wrote each file, and what the county holds."""

    out_dir: Path
    county: Path
    admin_units: Path
    census_2020: Path
    census_2023: Path
    codes_2020: Path
    codes_2023: Path
    shelters: Path
    depots: Path
    depot_stock: Path
    team_bases: Path
    risk_points: Path
    hazards: Path
    hazard_zones: Path
    roads: Path
    readme: Path
    seed: int
    county_code: str = COUNTY_CODE
    county_name: str = COUNTY_NAME
    county_name_en: str = COUNTY_NAME_EN
    metric_epsg: int = 4549
    counts: dict[str, int] = field(default_factory=dict)
    experts: Path | None = None          # layers/demo/readiness.py
    team_equipment: Path | None = None


def write_demo_county(out_dir: Path, *, seed: int = DEFAULT_SEED) -> DemoFiles:
    """Write the synthetic demo county's files into ``out_dir`` and return their paths.

    Parameters
    ----------
    out_dir
        Directory to write into (created if missing; files of an earlier run are replaced).
    seed
        Seed of the random generator; the same seed gives the same files.

    Returns
    -------
    DemoFiles
        The path of every file, the county code and name, the metric EPSG code used for
        the geography and summary counts.
    """
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed={seed!r} is not a non-negative integer; pass e.g. "
                         f"seed={DEFAULT_SEED}")
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise ValueError(f"out_dir={str(out)!r} is a file, not a directory; give a directory path")
    out.mkdir(parents=True, exist_ok=True)
    rng = Generator(PCG64(int(seed)))
    w = build_world(rng)
    to_wgs = Transformer.from_crs(w.epsg, 4326, always_xy=True)

    shelters = draw_shelters(rng, w)
    depots, stock = draw_depots(rng, w)
    teams = draw_teams(rng, w)
    risks = draw_risk_points(rng, w)
    hazards = draw_hazards(rng, w, risks, to_wgs)

    p = {name: out / fname for name, fname in FILES.items()}
    write_boundaries(w, p)
    write_census(w, p)
    write_codes(w, p)
    write_shelters(shelters, w, to_wgs, p["shelters"])
    write_depots(depots, stock, w, p["depots"], p["depot_stock"])
    write_teams(with_assessments(teams), w, p["team_bases"])
    ready = write_readiness_files(out, w, to_wgs, teams, int(seed))
    write_points_geojson(risks, w, p["risk_points"])
    hazards.to_csv(p["hazards"], index=False, encoding="utf-8", lineterminator="\n")
    write_geojson(w.zones.to_crs(4326), p["hazard_zones"])
    n_roads = write_roads(w, int(seed), to_wgs, p["roads"])
    vil = w.villages
    counts = {
        "townships": len(w.towns),
        "villages_2020": len(vil),
        "villages_2023": int((w.units["level"] == "village").sum()),
        "population_2020": int(vil["pop_2020"].sum()),
        "population_2023": int(vil["pop_2023"].sum()),
        "shelters": len(shelters),
        "depots": len(depots),
        "depot_stock_rows": len(stock),
        "team_bases": len(teams),
        "risk_points": len(risks),
        "hazards": len(hazards),
        "hazard_zones": len(w.zones),
        "roads": n_roads,
    }
    p["readme"].write_text(readme(seed, w, counts), encoding="utf-8")
    return DemoFiles(out_dir=out, seed=int(seed), metric_epsg=w.epsg, counts=counts, **p,
                     **ready)
