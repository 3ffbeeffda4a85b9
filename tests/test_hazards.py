"""Hazard (隐患) lifecycle: every legal move recorded, every illegal one refused clearly."""

from __future__ import annotations

import datetime as dt
import itertools

import pytest

from emgis.risk.hazards import (
    ALLOWED,
    STATES,
    Hazard,
    IllegalTransition,
    MissingForClose,
    label,
    transition,
)

LEGAL = {  # written out by hand from the module's table
    ("discovered", "confirmed"),
    ("confirmed", "under_control"),
    ("confirmed", "rectifying"),
    ("under_control", "rectifying"),
    ("rectifying", "closed"),
    ("rectifying", "under_control"),
}
T0 = dt.datetime(2025, 3, 1, 9, 0, tzinfo=dt.UTC)


def _hazard(state: str = "discovered", **kw) -> Hazard:
    return Hazard(id="YH-001", title="加油站储罐区静电接地缺失", state=state, **kw)


def test_table_matches_the_documented_moves():
    assert {(a, b) for a, tos in ALLOWED.items() for b in tos} == LEGAL
    assert [label(s) for s in STATES] == ["发现", "确认", "管控", "整改", "销号"]


@pytest.mark.parametrize(("src", "dst"), sorted(LEGAL))
def test_every_legal_move_is_recorded(src, dst):
    h = _hazard(src, responsible="张三", measures="加装静电接地装置")
    entry = h.advance(dst, by="李四", at=T0, note="现场核查")
    assert h.state == dst
    assert h.history == [entry]
    assert (entry.from_state, entry.to_state, entry.at, entry.by, entry.note) == (
        src, dst, T0, "李四", "现场核查")
    assert not entry.is_note


ILLEGAL = sorted(set(itertools.product(STATES, STATES)) - LEGAL)


@pytest.mark.parametrize(("src", "dst"), ILLEGAL)
def test_every_illegal_move_is_refused_with_a_clear_message(src, dst):
    h = _hazard(src)
    with pytest.raises(IllegalTransition) as exc:
        h.advance(dst, by="李四", at=T0)
    msg = str(exc.value)
    assert f"from {src} ({label(src)}) to {dst} ({label(dst)})" in msg
    if src == "closed":
        assert "is final" in msg and "new hazard" in msg
    else:
        assert "allowed next from" in msg
        for nxt in ALLOWED[src]:
            assert f"{nxt} ({label(nxt)})" in msg
    assert (exc.value.current, exc.value.requested) == (src, dst)
    assert h.state == src and h.history == []


def test_transition_function_accepts_chinese_labels_and_names_allowed_states():
    assert transition("整改", "销号") == "closed"
    assert transition("confirmed", "整改") == "rectifying"
    with pytest.raises(IllegalTransition,
                       match=r"discovered \(发现\) to closed \(销号\).*confirmed \(确认\)"):
        transition("发现", "closed")
    with pytest.raises(IllegalTransition, match=r"'fixed'.*allowed next from"):
        transition("rectifying", "fixed")
    with pytest.raises(ValueError, match="state='open' is not a hazard state"):
        transition("open", "closed")


def test_full_loop_with_a_failed_acceptance_is_recorded_in_order():
    h = _hazard(responsible="张三", measures="更换防爆电气")
    path = ["confirmed", "under_control", "rectifying", "under_control", "rectifying", "closed"]
    for i, s in enumerate(path):
        h.advance(s, by="站长", at=T0 + dt.timedelta(days=i))
    assert h.state == "closed" and h.state_zh == "销号"
    assert [(e.from_state, e.to_state) for e in h.history] == list(
        zip(["discovered", *path[:-1]], path, strict=True))
    assert [e.at for e in h.history] == sorted(e.at for e in h.history)


@pytest.mark.parametrize(("responsible", "measures", "missing"), [
    (None, None, "responsible and measures are missing"),
    ("张三", "  ", "measures is missing"),
    ("", "更换阀门", "responsible is missing"),
])
def test_closing_requires_responsible_person_and_measures(responsible, measures, missing):
    h = _hazard("rectifying", responsible=responsible, measures=measures)
    with pytest.raises(MissingForClose, match=missing) as exc:
        h.advance("closed", by="李四")
    assert "责任人" in str(exc.value) and "YH-001" in str(exc.value)
    assert isinstance(exc.value, IllegalTransition)
    assert h.state == "rectifying" and h.history == []


@pytest.mark.parametrize("state", STATES)
def test_supervision_notes_allowed_in_every_state_without_a_state_change(state):
    h = _hazard(state)
    e = h.note("县应急局督办：限期整改", by="督查科", at=T0)
    assert h.state == state
    assert e.is_note and e.from_state == state and e.to_state is None
    assert h.history == [e]


def test_overdue():
    h = _hazard("rectifying", deadline=dt.date(2025, 3, 31), responsible="张三", measures="x")
    assert not h.overdue(dt.date(2025, 3, 31)), "the deadline day itself is not overdue"
    assert h.overdue(dt.date(2025, 4, 1))
    h.advance("closed", by="李四")
    assert not h.overdue(dt.date(2026, 1, 1))
    assert not _hazard().overdue(dt.date(2030, 1, 1)), "no deadline, never overdue"


def test_unknown_initial_state_is_refused():
    with pytest.raises(ValueError, match="state='done'"):
        _hazard("done")
    assert _hazard("整改").state == "rectifying"
