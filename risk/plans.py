"""Emergency plans (预案): response-level triggers, checked and evaluated — no database here.

A plan's response levels (I most severe … IV) each carry triggers, ``{field, op, value}`` over
the incident's figures (:data:`layers.vocab.TRIGGER_FIELD`: deaths, injured, missing, affected,
relocated, area_km2, duration_h, hazard_level) with ``op`` ≥ or >. **Any** trigger met gives
that level; levels are checked most severe first, so the answer is the most severe level whose
triggers fire.

Unknown is not zero: a figure that is not known (NULL on the incident, or area for a point) can
make no trigger fire, and the proposal says which triggers could not be checked — a level more
severe than the one proposed may still apply once the figure is known.

:func:`check_levels` is what the loader and ``PATCH /plans/{id}`` run on a plan's levels: every
trigger well formed, and the levels in order — a more severe level's threshold on a field must be
strictly more severe than a less severe level's on the same field (``II deaths ≥ 3`` with
``III deaths ≥ 10`` is out of order: III could never be reached before II).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from emgis.layers import vocab

LEVELS: tuple[str, ...] = tuple(vocab.RESPONSE_LEVEL)  # most severe first
FIELDS: tuple[str, ...] = tuple(vocab.TRIGGER_FIELD)
#: the operators a trigger may use, as stored, and the spellings read for them
OPS: dict[str, tuple[str, ...]] = {"≥": ("≥", ">=", "＞=", "≧", "不少于", "以上"),
                                   ">": (">", "＞", "超过", "多于")}


def op_key(text: object) -> str | None:
    """'≥' or '>' for a spelling of either (None if it is neither)."""
    s = str(text or "").strip()
    for key, spellings in OPS.items():
        if s in spellings:
            return key
    return None


@dataclass(frozen=True)
class Trigger:
    """``field op value``: e.g. deaths ≥ 3."""

    field: str
    op: str
    value: float

    def met(self, x: float) -> bool:
        return x >= self.value if self.op == "≥" else x > self.value

    def text(self) -> str:
        return f"{self.field} {self.op} {_num(self.value)}"

    def as_dict(self) -> dict[str, object]:
        return {"field": self.field, "op": self.op, "value": self.value}


def _num(v: float) -> str:
    return f"{v:g}" if isinstance(v, float) else str(v)


def parse_trigger(d: Mapping[str, object]) -> tuple[Trigger | None, list[tuple[str, object, str,
                                                                                 str]]]:
    """A trigger from ``{field, op, value}`` (field: key or Chinese label; op: ≥ / > or a
    spelling), or the problems with it as (field, value, message, fix)."""
    problems: list[tuple[str, object, str, str]] = []
    f = vocab.lookup(vocab.TRIGGER_FIELD, d.get("field"))
    if f is None:
        problems.append(("field", d.get("field"), "is not a trigger field",
                         f"use one of {vocab.describe(vocab.TRIGGER_FIELD)}"))
    op = op_key(d.get("op", "≥"))
    if op is None:
        problems.append(("op", d.get("op"), "is not a trigger operator", "use ≥ or >"))
    value = d.get("value")
    num = None
    if value is not None and not isinstance(value, bool):
        try:
            num = float(str(value).strip())
        except ValueError:
            num = None
    if num is None or not math.isfinite(num) or num < 0:
        problems.append(("value", value, "is not a number (a trigger needs a threshold ≥ 0)",
                         "give the threshold as a number, e.g. 3"))
    if problems or f is None or op is None or num is None:
        return None, problems
    return Trigger(f, op, int(num) if num.is_integer() else num), []


def _stricter(a: Trigger, b: Trigger) -> bool:
    """True if ``a`` asks for strictly more than ``b`` (same field)."""
    return a.value > b.value or (a.value == b.value and a.op == ">" and b.op == "≥")


def order_problems(levels: Mapping[str, Iterable[Trigger]]) -> list[tuple[str, str, str, str]]:
    """Where a more severe level's trigger is not stricter than a less severe level's on the
    same field: (level, trigger text, message, fix) for each."""
    out = []
    present = [lv for lv in LEVELS if lv in levels]
    for i, hi in enumerate(present):
        for lo in present[i + 1:]:
            for a in levels[hi]:
                for b in levels[lo]:
                    if a.field == b.field and not _stricter(a, b):
                        out.append((hi, a.text(),
                                    f"level {hi} is not more severe than level {lo} "
                                    f"({b.text()}) on {a.field}",
                                    f"give level {hi} a higher threshold than level {lo}, "
                                    f"or swap them"))
    return out


@dataclass
class LevelAnswer:
    """The level a plan's triggers give an incident, with the reasons."""

    level: str | None
    reasons: list[str] = field(default_factory=list)
    unknown: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, object]:
        return {"level": self.level, "reasons": self.reasons, "unknown": self.unknown}


def evaluate(levels: Mapping[str, Iterable[Trigger]],
             figures: Mapping[str, float | None]) -> LevelAnswer:
    """The most severe level any of whose triggers the figures meet.

    ``figures`` maps trigger fields to numbers; a missing or None figure is unknown: its
    triggers cannot fire and are listed in ``unknown`` (for the levels above the answer).
    """
    ans = LevelAnswer(None)
    for lv in LEVELS:
        for t in levels.get(lv, ()):
            x = figures.get(t.field)
            if x is None or (isinstance(x, float) and math.isnan(x)):
                ans.unknown.append(f"{t.field} unknown: {t.text()} → {lv} cannot be checked")
                continue
            if t.met(x):
                ans.reasons.append(f"{t.field} {_num(x)} {t.op} {_num(t.value)} → {lv}")
        if ans.reasons:
            ans.level = lv
            return ans
    return ans


def levels_from_json(rows: Iterable[tuple[str, object]]) -> dict[str, list[Trigger]]:
    """Stored ``(level, triggers JSONB)`` rows as triggers by level (bad entries skipped)."""
    out: dict[str, list[Trigger]] = {}
    for lv, trig in rows:
        ts = []
        for d in (trig or []):  # type: ignore[union-attr]
            t, _ = parse_trigger(d)
            if t is not None:
                ts.append(t)
        out[lv] = ts
    return out
