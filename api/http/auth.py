"""Bearer tokens with roles: viewer < reporter < planner < commander < admin.

A reporter (灾害信息员) may post field reports and follow up their own, nothing else.

Reads need no token (the API serves a county intranet); writes need one. A token is a
random string shown once when created; only its SHA-256 is stored (``api_tokens``), so
a copy of the database gives no one a usable token. The token's name is the actor the
audit log records for every write made with it.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass

import sqlalchemy as sa
from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.engine import Engine

from emgis.api.http.errors import Forbidden, Unauthorized
from emgis.layers.problems import Problems

ROLES = ("viewer", "reporter", "planner", "commander", "admin")
RANK = {r: i for i, r in enumerate(ROLES)}
TOKEN_PREFIX = "emgis_"

_bearer = HTTPBearer(auto_error=False,
                     description="a token from `emgis token create NAME --role ROLE`")


@dataclass(frozen=True)
class Principal:
    """Who is writing: the token's name (the audit actor) and role."""

    name: str
    role: str

    def at_least(self, role: str) -> bool:
        return RANK[self.role] >= RANK[role]


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def _check(name: str, role: str) -> None:
    p = Problems("token")
    if not isinstance(name, str) or not name.strip() or len(name) > 100:
        p.error(None, "name", name, "is not a token name",
                "give a short name, e.g. the person or system using it")
    if role not in RANK:
        p.error(None, "role", role, "is not a role", f"use one of {', '.join(ROLES)}")
    p.raise_if_errors()


def create_token(engine: Engine, name: str, role: str) -> str:
    """Create a token named ``name`` with ``role``; return the token (shown once, stored hashed)."""
    _check(name, role)
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    with engine.begin() as c:
        taken = c.execute(sa.text("SELECT 1 FROM api_tokens WHERE name = :n"), {"n": name}).first()
        if taken:
            p = Problems("token")
            p.error(None, "name", name, "is already a token name",
                    "pick another name, or revoke the old one with `emgis token revoke` "
                    "and use a new name")
            p.raise_if_errors()
        c.execute(sa.text("INSERT INTO api_tokens (name, token_hash, role) VALUES (:n, :h, :r)"),
                  {"n": name, "h": hash_token(token), "r": role})
    return token


def list_tokens(engine: Engine) -> list[dict]:
    """Return every token's name, role, creation time and whether it is revoked (never the
    token)."""
    with engine.connect() as c:
        rows = c.execute(sa.text("SELECT name, role, created_at, revoked FROM api_tokens "
                                 "ORDER BY name"))
        return [dict(r) for r in rows.mappings()]


def revoke_token(engine: Engine, name: str) -> bool:
    """Revoke the token ``name``; return False when there is no such token."""
    with engine.begin() as c:
        return c.execute(sa.text("UPDATE api_tokens SET revoked = true WHERE name = :n "
                                 "RETURNING id"),
                         {"n": name}).first() is not None


def authenticate(engine: Engine, token: str) -> Principal | None:
    """Return who holds ``token``, or None when it is unknown or revoked."""
    with engine.connect() as c:
        row = c.execute(sa.text("SELECT name, role FROM api_tokens "
                                "WHERE token_hash = :h AND NOT revoked"),
                        {"h": hash_token(token)}).first()
    return None if row is None else Principal(row[0], row[1])


def require(role: str):
    """A FastAPI dependency: the request's `Principal`, at least ``role`` (401 / 403 otherwise)."""
    if role not in RANK:
        raise ValueError(f"role={role!r} is not one of {ROLES}")

    def dependency(request: Request,
                   cred: HTTPAuthorizationCredentials | None = Depends(_bearer)) -> Principal:
        if cred is None or not cred.credentials:
            raise Unauthorized("this request changes data and needs a token: send "
                               "'Authorization: Bearer <token>' "
                               "(create one with `emgis token create NAME --role ROLE`)")
        who = authenticate(request.app.state.engine, cred.credentials)
        if who is None:
            raise Unauthorized("the token is not known or has been revoked")
        if not who.at_least(role):
            raise Forbidden(f"the token {who.name!r} has role {who.role!r}; "
                            f"this needs {role} or above")
        return who

    dependency.__name__ = f"require_{role}"
    return dependency


def optional_principal(request: Request) -> Principal | None:
    """A FastAPI dependency for reads and answers that show or allow more to some roles (phone
    numbers to commanders, an acknowledgement recorded by a duty officer): the `Principal` of an
    ``Authorization: Bearer`` header, None without one; an unknown or revoked token is 401.

    It reads the header itself rather than through the bearer scheme, so the OpenAPI document
    does not mark these routes as needing a token (they do not)."""
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    who = authenticate(request.app.state.engine, token.strip())
    if who is None:
        raise Unauthorized("the token is not known or has been revoked")
    return who
