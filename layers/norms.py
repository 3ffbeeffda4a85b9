"""The norms table: numbers from standards, each with its source, overridable.

Defaults ship in ``norms_default.csv`` beside this module (compiled from the project's
domain notes, each row with standard, clause and certainty: V verified, S secondary,
U unverified, M measured). A planner overrides any of them with a CSV file
(``EMGIS_NORMS_FILE`` or ``--norms``) or in the database (``emgis norms set``). Every
analysis reads the numbers it needs from a :class:`Norms` object passed to it, so a
report can cite the clause it applied.
"""

from __future__ import annotations

import csv
import functools
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, replace
from importlib import resources
from pathlib import Path
from typing import Any

from emgis.layers.problems import Problems

STATUSES = {"V": "verified", "S": "secondary", "U": "unverified", "M": "measured", "L": "local"}


@dataclass(frozen=True)
class Norm:
    """One number (or colour) from a standard, with where it comes from."""

    key: str
    value: float | str
    unit: str
    standard: str
    clause: str
    status: str
    note: str = ""
    origin: str = "default"  # default | file:<path> | database

    @property
    def source(self) -> str:
        clause = "" if self.clause in ("", "—") else f" {self.clause}"
        return f"{self.standard}{clause} [{self.status}]"


def _parse_value(text: str) -> float | str:
    text = text.strip()
    try:
        return float(text)
    except ValueError:
        return text


class Norms(Mapping[str, Norm]):
    """An immutable view of the norms in force: defaults plus overrides."""

    def __init__(self, rows: Iterable[Norm]) -> None:
        self._rows = {r.key: r for r in rows}
        self._read: set[str] = set()  # keys an analysis read: `read_keys`

    def __getitem__(self, key: str) -> Norm:
        try:
            row = self._rows[key]
            self._read.add(key)
            return row
        except KeyError:
            near = [k for k in self._rows if k.split(".")[0] == key.split(".")[0]]
            hint = f" Known keys in that group: {', '.join(sorted(near)[:12])}" if near else ""
            raise KeyError(f"no norm {key!r}.{hint}") from None

    def __iter__(self) -> Iterator[str]:
        return iter(self._rows)

    def __contains__(self, key: object) -> bool:
        return key in self._rows  # asking is not reading: `read_keys` does not count it

    def read_keys(self) -> list[str]:
        """The keys read so far through this object (``norms[k]``, `value`, `number`, `group`):
        the norms an analysis used, for the notes of its workbook (`layers.workbook.Notes`)."""
        return sorted(self._read)

    def __len__(self) -> int:
        return len(self._rows)

    def value(self, key: str) -> float | str:
        return self[key].value

    def number(self, key: str) -> float:
        """Return the numeric value of ``key``; raise if it is not a number."""
        v = self[key].value
        if isinstance(v, str):
            raise TypeError(f"norm {key!r} is {v!r}, not a number")
        return v

    def group(self, prefix: str) -> dict[str, float | str]:
        """Return ``{suffix: value}`` for every key ``prefix.suffix``."""
        p = prefix.rstrip(".") + "."
        out = {k[len(p):]: r.value for k, r in self._rows.items() if k.startswith(p)}
        self._read.update(p + k for k in out)
        return out

    def with_overrides(self, overrides: Iterable[Norm]) -> Norms:
        """Return a copy where each override replaces the row with the same key.

        An override may leave ``unit``/``standard``/``clause`` blank to keep the default's.
        """
        rows = dict(self._rows)
        for o in overrides:
            base = rows.get(o.key)
            if base is not None:
                o = replace(
                    o,
                    unit=o.unit or base.unit,
                    standard=o.standard or f"local override of {base.standard}",
                    clause=o.clause or base.clause,
                    status=o.status or "L",
                )
            rows[o.key] = o
        return Norms(rows.values())


def _read_csv(path: Path | None, text: str | None, origin: str, problems: Problems) -> list[Norm]:
    import io

    handle = (io.StringIO(text) if text is not None
              else open(path, encoding="utf-8-sig"))  # noqa: SIM115
    with handle:
        reader = csv.DictReader(handle)
        fields = set(reader.fieldnames or [])
        if not {"key", "value"} <= fields:
            problems.error(
                1, None, ",".join(reader.fieldnames or []),
                "is not a norms header: a norms file needs the columns key,value",
                "give a CSV with at least 'key,value' (optionally "
                "unit,standard,clause,status,note)",
            )
            return []
        out = []
        for i, row in enumerate(reader, start=2):
            key = (row.get("key") or "").strip()
            raw = (row.get("value") or "").strip()
            if not key:
                problems.error(i, "key", key, "is empty",
                               "give the norm's key, e.g. fire.response_min")
                continue
            if row.get(None):  # csv.DictReader puts the fields past the header under None
                problems.error(i, "note", ",".join(row[None]),
                               f"is {len(row[None])} field(s) past the header's "
                               f"{len(reader.fieldnames or [])} for {key}: an unquoted comma",
                               'put a text with a comma in double quotes: "a, b"')
                continue
            if not raw:
                problems.error(i, "value", raw, f"is empty for {key}", "give a number or a colour")
                continue
            status = (row.get("status") or "").strip()
            if status and status not in STATUSES:
                problems.error(i, "status", status, "is not a known certainty",
                               f"use one of {', '.join(STATUSES)}")
            out.append(Norm(
                key=key, value=_parse_value(raw), unit=(row.get("unit") or "").strip(),
                standard=(row.get("standard") or "").strip(),
                clause=(row.get("clause") or "").strip(), status=status,
                note=(row.get("note") or "").strip(), origin=origin,
            ))
        return out


@functools.lru_cache(maxsize=1)
def _default_rows() -> tuple[Norm, ...]:
    text = resources.files("emgis.layers").joinpath("norms_default.csv").read_text(encoding="utf-8")
    problems = Problems("norms_default.csv")
    rows = _read_csv(None, text, "default", problems)
    problems.raise_if_errors()
    return tuple(rows)


def default_norms() -> Norms:
    """Return the shipped defaults (the file is read once per process; it ships with the code)."""
    return Norms(_default_rows())


def read_override_file(path: str | Path, defaults: Norms | None = None) -> list[Norm]:
    """Read a planner's override CSV, checking keys and value types against the defaults."""
    path = Path(path)
    problems = Problems(str(path))
    rows = _read_csv(path, None, f"file:{path}", problems)
    defaults = defaults or default_norms()
    for i, r in enumerate(rows, start=2):
        if r.key not in defaults:
            problems.warn(i, "key", r.key, "is not a default norm; it is added as a new one",
                          "check the spelling against `emgis norms list`")
        elif isinstance(defaults[r.key].value, float) and not isinstance(r.value, float):
            problems.error(i, "value", r.value, f"is not a number, but {r.key} is numeric",
                           f"give a number in {defaults[r.key].unit}")
    problems.raise_if_errors()
    return rows


def load_norms(override_file: str | Path | None = None, db_rows: Iterable[Norm] = ()) -> Norms:
    """Return defaults, then file overrides, then database overrides (last wins)."""
    norms = default_norms()
    if override_file:
        norms = norms.with_overrides(read_override_file(override_file, norms))
    return norms.with_overrides(db_rows)


def norms_in_force(engine: Any = None, override_file: str | Path | None = None) -> Norms:
    """The norms an analysis uses: defaults, then ``EMGIS_NORMS_FILE`` (or ``override_file``),
    then the planner's overrides stored in the database (``emgis norms set``), last wins.

    The one function the CLI, the HTTP API and the demo call for "the norms in force".
    """
    import sqlalchemy as sa

    from emgis.layers.settings import LoadSettings

    if override_file is None:
        override_file = LoadSettings().norms_file
    rows = []
    if engine is not None:
        with engine.connect() as c:
            for r in c.execute(sa.text(
                    "SELECT key, value, unit, standard, clause, note FROM norm_overrides")):
                rows.append(Norm(r[0], _parse_value(r[1]), r[2] or "", r[3] or "", r[4] or "", "L",
                                 r[5] or "", "database"))
    return load_norms(override_file, rows)
