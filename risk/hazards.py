"""Hazard (隐患) lifecycle: discovered → confirmed → under_control → rectifying → closed.

The closed loop of 隐患排查治理 — 发现 → 确认 → 管控 → 整改 → 销号 — as a small state machine.
State keys and Chinese labels are those of :data:`layers.vocab.HAZARD_STATE`.

Allowed moves (decided here; each is a real step in county practice):

=================  ==========================  ===============================================
from               to                          why
=================  ==========================  ===============================================
discovered 发现     confirmed 确认               the report is checked on site
confirmed 确认      under_control 管控           interim controls while rectification is planned
confirmed 确认      rectifying 整改              立查立改: a simple (一般) hazard is fixed at once
under_control 管控  rectifying 整改              rectification starts
rectifying 整改     closed 销号                  rectification accepted (验收合格)
rectifying 整改     under_control 管控           acceptance failed or work stalled: back to
                                               interim controls while it is re-planned
=================  ==========================  ===============================================

Not allowed, deliberately: any move out of ``closed`` (a recurrence is recorded as a new
hazard that refers to the old one, so 销号 statistics stay honest); skipping straight from
``discovered`` to control or close-out (every hazard is confirmed first); moving to the same
state. A false report cannot be 销号 either: the vocabulary has no "dismissed" state, so it
stays ``discovered`` with a supervision note until one is added.

Supervision notes (督办) are allowed in every state, including ``closed``, and never change
the state. Closing requires a responsible person and the measures taken.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from emgis.layers import vocab

STATES: tuple[str, ...] = ("discovered", "confirmed", "under_control", "rectifying", "closed")

ALLOWED: dict[str, tuple[str, ...]] = {
    "discovered": ("confirmed",),
    "confirmed": ("under_control", "rectifying"),
    "under_control": ("rectifying",),
    "rectifying": ("closed", "under_control"),
    "closed": (),
}


def label(state: str) -> str:
    """Return the Chinese label of a state key (e.g. 'closed' → '销号')."""
    return vocab.HAZARD_STATE[state].zh


def _show(state: str) -> str:
    return f"{state} ({label(state)})"


class IllegalTransition(ValueError):
    """A hazard was asked to move to a state it may not reach from where it is."""

    def __init__(self, current: str, requested: str, message: str | None = None) -> None:
        self.current = current
        self.requested = requested
        self.allowed = ALLOWED.get(current, ())
        if message is None:
            if self.allowed:
                nxt = ", ".join(_show(s) for s in self.allowed)
                hint = f"allowed next from {_show(current)}: {nxt}"
            else:
                hint = (f"{_show(current)} is final; record a recurrence as a new hazard, "
                        "or add a supervision note")
            req = _show(requested) if requested in ALLOWED else repr(requested)
            message = f"cannot move a hazard from {_show(current)} to {req}; {hint}"
        super().__init__(message)


class MissingForClose(IllegalTransition):
    """Closing (销号) was asked for but the responsible person or measures are missing."""


def _state_key(state: object, what: str) -> str:
    key = vocab.lookup(vocab.HAZARD_STATE, state)
    if key is None:
        raise ValueError(f"{what}={state!r} is not a hazard state; use one of "
                         f"{vocab.describe(vocab.HAZARD_STATE)}")
    return key


def transition(state: str, to_state: str) -> str:
    """Return the new state key if ``state → to_state`` is allowed; raise otherwise.

    Both accept keys or Chinese labels ('整改', '销号', ...).

    Raises
    ------
    IllegalTransition
        Naming the current state, the requested state and the states allowed next.
    ValueError
        If either is not a hazard state at all.
    """
    cur = _state_key(state, "state")
    req = vocab.lookup(vocab.HAZARD_STATE, to_state)
    if req is None:
        raise IllegalTransition(cur, str(to_state))
    if req not in ALLOWED[cur]:
        raise IllegalTransition(cur, req)
    return req


@dataclass(frozen=True)
class HistoryEntry:
    """One state change (``to_state`` set) or supervision note (``to_state`` None)."""

    from_state: str
    to_state: str | None
    at: dt.datetime
    by: str
    note: str = ""

    @property
    def is_note(self) -> bool:
        return self.to_state is None


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


@dataclass
class Hazard:
    """A hazard record with its state and full history."""

    id: str
    title: str
    state: str = "discovered"
    responsible: str | None = None
    deadline: dt.date | None = None
    measures: str | None = None
    history: list[HistoryEntry] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.state = _state_key(self.state, "state")

    def advance(self, to_state: str, *, by: str, at: dt.datetime | None = None,
                note: str = "") -> HistoryEntry:
        """Move to ``to_state`` and record it; closing checks responsible and measures.

        Raises
        ------
        IllegalTransition
            If the move is not allowed from the current state.
        MissingForClose
            If closing without a responsible person or measures.
        """
        new = transition(self.state, to_state)
        if new == "closed":
            missing = [name for name, v in (("responsible", self.responsible),
                                            ("measures", self.measures))
                       if v is None or not str(v).strip()]
            if missing:
                raise MissingForClose(
                    self.state, new,
                    f"cannot close (销号) hazard {self.id!r}: {' and '.join(missing)} "
                    f"{'is' if len(missing) == 1 else 'are'} missing; set the responsible person "
                    "(责任人) and the rectification measures (整改措施) first",
                )
        entry = HistoryEntry(self.state, new, at or _now(), by, note)
        self.history.append(entry)
        self.state = new
        return entry

    def note(self, text: str, *, by: str, at: dt.datetime | None = None) -> HistoryEntry:
        """Record a supervision note (督办); the state does not change."""
        entry = HistoryEntry(self.state, None, at or _now(), by, text)
        self.history.append(entry)
        return entry

    def overdue(self, today: dt.date) -> bool:
        """Return True if the deadline has passed (today is after it) and it is not closed."""
        return self.deadline is not None and today > self.deadline and self.state != "closed"

    @property
    def state_zh(self) -> str:
        return label(self.state)
