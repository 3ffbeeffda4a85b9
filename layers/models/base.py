"""The declarative base and the helpers every model module shares (SRID, division-code
column type, CHECK constraints from the vocabularies)."""

from __future__ import annotations

from geoalchemy2 import Geometry
from sqlalchemy import (
    CheckConstraint,
    String,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

SRID = 4326
# Division codes are digits: byte order ("C") is the right order and keeps their indexes fast
# (a 700k-row census load spends most of its write in the primary-key index).
CODE = String(12, collation="C")


def _check(column: str, terms: dict, *, nullable: bool = True) -> CheckConstraint:
    allowed = ", ".join(f"'{k}'" for k in terms)
    cond = f"{column} IN ({allowed})"
    if nullable:
        cond = f"{column} IS NULL OR {cond}"
    return CheckConstraint(cond, name=f"{column}_allowed")


def _point() -> Mapped:
    return mapped_column(Geometry("POINT", srid=SRID, spatial_index=True), nullable=False)


class Base(DeclarativeBase):
    pass


