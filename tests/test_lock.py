"""The environment the suite runs in is the one requirements.lock records (the siting issue:
a fresh install once resolved a HiGHS that gave wrong optima while nothing pinned what was
tested)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _check_lock():
    spec = importlib.util.spec_from_file_location("check_lock", ROOT / "scripts" / "check_lock.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_installed_versions_are_the_locked_ones():
    mod = _check_lock()
    assert mod.mismatches() == []
    lock = mod.locked()
    assert {"highspy", "numpy", "scipy", "geopandas", "fastapi"} <= set(lock)


def test_a_drifted_version_is_reported(tmp_path):
    mod = _check_lock()
    lock = mod.locked()
    lock["numpy"] = "0.0.1"
    lock.pop("scipy")
    p = tmp_path / "requirements.lock"
    p.write_text("# header\n" + "".join(f"{k}=={v}\n" for k, v in lock.items()))
    probs = mod.mismatches(p)
    assert any("numpy" in x and "0.0.1" in x for x in probs)
    assert any(x.startswith("scipy") and "not in" in x for x in probs)
