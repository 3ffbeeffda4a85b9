"""Shared test fixtures.

Tests that need PostGIS, Chromium or ../shared/data may skip on a developer's laptop, but
with CI=true a missing part fails the run instead of skipping it: a skipped test proves
nothing.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SHARED_DATA = Path(os.environ.get("EMGIS_SHARED_DATA", ROOT.parent / "shared" / "data"))
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def missing(reason: str) -> None:
    """Skip locally, fail in CI: a part the test needs is not there."""
    if IN_CI:
        pytest.fail(f"{reason} (CI=true: required, not skipped)", pytrace=False)
    pytest.skip(reason)


def shared(relpath: str) -> Path:
    """Return a path under ../shared/data, or skip/fail if it is not there."""
    p = SHARED_DATA / relpath
    if not p.exists():
        missing(f"shared data file {p} is not available")
    return p


@pytest.fixture
def shared_data():
    """Call ``shared_data("osm/file.osm")`` to get a real fixture from ../shared/data."""
    return shared
