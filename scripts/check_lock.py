"""Fail unless every distribution installed in this environment is at its requirements.lock
version (and is in the lock at all): what `make test` runs is what the suite passed with.

Run by scripts/bootstrap.sh after installing, and by tests/test_lock.py.
"""

from __future__ import annotations

import re
import sys
from importlib import metadata
from pathlib import Path

LOCK = Path(__file__).resolve().parent.parent / "requirements.lock"


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def locked(path: Path = LOCK) -> dict[str, str]:
    out = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            name, _, version = line.partition("==")
            out[_norm(name)] = version.strip()
    return out


def mismatches(path: Path = LOCK) -> list[str]:
    want = locked(path)
    problems = []
    for dist in metadata.distributions():
        name = _norm(dist.metadata["Name"] or "")
        if not name or name == "emgis":
            continue
        if name not in want:
            problems.append(f"{name} {dist.version} is installed but not in {path.name}")
        elif want[name] != dist.version:
            problems.append(f"{name} {dist.version} is installed, {path.name} says {want[name]}")
    return problems


if __name__ == "__main__":
    probs = mismatches()
    if probs:
        print("emgis: the environment does not match requirements.lock:", *probs, sep="\n  ",
              file=sys.stderr)
        print("Fix: bash scripts/bootstrap.sh (installs the lock), or refresh the lock with "
              "bash scripts/lock.sh", file=sys.stderr)
        sys.exit(1)
