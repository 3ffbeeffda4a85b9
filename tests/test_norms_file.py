"""The norms table as a file: a text with an unquoted comma is refused with the row and the fix,
not silently cut (the default table had three such notes; the risk report printed one cut)."""

from __future__ import annotations

import pytest

from emgis.layers.norms import default_norms, read_override_file
from emgis.layers.problems import InputError


def test_default_notes_are_whole():
    n = default_norms()
    assert n["risk.colour.blue"].note == "低风险 (blue, not green)"
    assert n["field.photo_kb_max"].note.endswith("a few hundred KB")


@pytest.mark.bad_input
def test_an_unquoted_comma_is_an_error_naming_row_and_fix(tmp_path):
    f = tmp_path / "over.csv"
    f.write_text("key,value,unit,standard,clause,status,note\n"
                 "fire.response_min,4,min,市消防规划,—,L,ok\n"
                 "team.response_min,25,min,县预案,—,L,faster, by plan\n", encoding="utf-8")
    with pytest.raises(InputError) as e:
        read_override_file(f)
    [p] = [p for p in e.value.problems if p.severity == "error"]
    assert p.row == 3 and p.field == "note" and "unquoted comma" in p.message
    assert '"a, b"' in p.fix
