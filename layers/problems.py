"""Collect every problem in an input and report them together.

A loader never stops at the first bad row: it records each problem with the file, the
row as the user sees it, the field, the value and how to fix it, then raises one
:class:`InputError` carrying them all. Warnings are kept beside errors; a load goes ahead
with warnings only when the caller accepts them.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Literal

Severity = Literal["error", "warning"]


@dataclass(frozen=True)
class Problem:
    """One thing wrong with an input, located precisely enough to fix it."""

    file: str
    row: int | None
    field: str | None
    value: object
    message: str
    fix: str
    severity: Severity = "error"
    row_label: str = "row"  # 'feature' for vector files

    def __str__(self) -> str:
        where = self.file
        if self.row is not None:
            where += f" {self.row_label} {self.row}"
        if self.field is not None:
            where += f", field {self.field}"
        value = "" if self.value is None else f": {self.value!r}"
        return f"{where}{value} {self.message}. Fix: {self.fix}"

    def as_dict(self) -> dict[str, object]:
        return {
            "file": self.file,
            "row": self.row,
            "row_label": self.row_label,
            "field": self.field,
            "value": None if self.value is None else str(self.value),
            "message": self.message,
            "fix": self.fix,
            "severity": self.severity,
        }


class InputError(ValueError):
    """An input had errors; nothing was written. ``problems`` lists every one."""

    def __init__(self, problems: Iterable[Problem], *, source: str = "input") -> None:
        self.problems = list(problems)
        self.source = source
        errors = [p for p in self.problems if p.severity == "error"]
        head = f"{source}: {len(errors)} error(s)"
        warnings = len(self.problems) - len(errors)
        if warnings:
            head += f" and {warnings} warning(s)"
        head += "; nothing was loaded"
        shown = "\n".join(f"  - {p}" for p in self.problems[:50])
        more = len(self.problems) - 50
        if more > 0:
            shown += f"\n  ... and {more} more"
        super().__init__(f"{head}\n{shown}")


@dataclass
class Problems:
    """Accumulator for the problems found in one input file."""

    file: str
    items: list[Problem] = field(default_factory=list)
    row_label: str = "row"

    def error(
        self, row: int | None, field: str | None, value: object, message: str, fix: str
    ) -> None:
        self.items.append(Problem(self.file, row, field, value, message, fix, "error",
                                  self.row_label))

    def warn(
        self, row: int | None, field: str | None, value: object, message: str, fix: str
    ) -> None:
        self.items.append(Problem(self.file, row, field, value, message, fix, "warning",
                                  self.row_label))

    def extend(self, problems: Iterable[Problem]) -> None:
        self.items.extend(problems)

    @property
    def errors(self) -> list[Problem]:
        return [p for p in self.items if p.severity == "error"]

    @property
    def warnings(self) -> list[Problem]:
        return [p for p in self.items if p.severity == "warning"]

    def __iter__(self) -> Iterator[Problem]:
        return iter(self.items)

    def __len__(self) -> int:
        return len(self.items)

    def raise_if_errors(self, *, accept_warnings: bool = True) -> None:
        """Raise :class:`InputError` if there is an error (or a warning not accepted)."""
        if self.errors or (self.warnings and not accept_warnings):
            raise InputError(self.items, source=self.file)


# --- the domain's errors below the edges -------------------------------------------------------
# Services and cores raise these, never an HTTP or typer exception; the edges map them: the
# HTTP side in one table (api/http/errors.py), the command line to a red message and exit 2.


class NotFound(LookupError):
    """The thing asked for (an incident, a network, a layer's row) does not exist (HTTP 404)."""


class MissingData(RuntimeError):
    """What an analysis needs is not stored yet; the message names it and the command that
    supplies it (HTTP 409)."""


class BadArgument(ValueError):
    """A parameter of a request is malformed or out of range; the message says how (HTTP 400)."""
