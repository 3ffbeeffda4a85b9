"""Writing a staged layer into its table without losing what depends on it.

`write_prepared` (layers/load/write.py) copies a checked file into the temp table ``_stage``;
this module moves it into the layer's table and says what that did:

* every mode matches the file's rows to the stored ones by their external key (``ext_id``,
  ``code``; a depot's stock by depot and item) and updates a matched row in place — same
  internal id, so stock, hazard links and hazard history that point at it survive;
* ``replace`` also deletes the stored rows the file no longer has, but first counts what
  depends on them: every foreign key that points at the table (read from ``pg_catalog``, so a
  table added later is covered too, following ON DELETE CASCADE down), the references that are
  not foreign keys (`LOGICAL_REFS`) and rows that were entered outside any file. If anything
  would go, the load is refused with that list unless ``delete_dependents`` is given; then the
  deleted rows are written to the audit log one by one (their before-images), and the counts go
  into the load's own audit entry;
* hazards: a hazard whose state was moved through the workflow (`emgis hazard move`, recorded
  in ``hazard_events``) keeps that state unless the file's state is a legal next step from it
  (then the load makes that move and records it); blanks in the file do not erase the
  responsible person, measures or deadline such a move set. A load that changes a stored
  hazard's state records the change in ``hazard_events``.
"""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from emgis.layers.problems import InputError, Problems
from emgis.layers.schema import COMPOSITE_KEYS, LayerSpec

# References that are not foreign keys: (parent table, parent column, child table, child column,
# extra condition on the child row x). A deleted parent leaves these rows naming nothing.
LOGICAL_REFS: tuple[tuple[str, str, str, str, str], ...] = (
    ("admin_units", "code", "admin_units", "parent_code", ""),
    ("admin_units", "code", "population", "code", ""),
    ("admin_units", "code", "shelters", "unit_code", ""),
    ("admin_units", "code", "depots", "unit_code", ""),
    ("admin_units", "code", "team_bases", "unit_code", ""),
    ("admin_units", "code", "risk_points", "unit_code", ""),
    ("admin_units", "code", "risk_areas", "unit_code", "x.unit_kind = 'admin'"),
)

_EFFECT = {"c": "deleted", "n": "unlinked", "d": "unlinked", "a": "blocked", "r": "blocked"}
_MAX_DEPTH = 4
_EXAMPLES = 5
_MAX_KEYS = 1000


@dataclass(frozen=True)
class Dependent:
    """Rows of ``table`` that a replace would take with it (or leave pointing at nothing)."""

    table: str
    count: int
    effect: str          # deleted | unlinked | orphaned | blocked
    via: str             # the referencing column(s), or why the rows count
    examples: tuple[str, ...]  # keys of the rows to be deleted that have such dependents


def key_columns(spec: LayerSpec) -> list[str]:
    return list(COMPOSITE_KEYS.get(spec.name, (spec.key,)))


def _match(cols: list[str], a: str, b: str) -> str:
    return " AND ".join(f'{a}."{c}" = {b}."{c}"' for c in cols)


def _label_sql(spec: LayerSpec, alias: str) -> str:
    """SQL text giving the user's key of a row of ``spec``'s table under ``alias``."""
    if spec.name == "depot_stock":
        return (f"coalesce((SELECT ext_id FROM depots WHERE id = {alias}.depot_id), "
                f"{alias}.depot_id::text) || '/' || {alias}.item")
    if spec.name == "team_equipment":
        return (f"coalesce((SELECT ext_id FROM team_bases WHERE id = {alias}.team_base_id), "
                f"{alias}.team_base_id::text) || '/' || {alias}.item")
    return f"coalesce({alias}.\"{spec.key}\"::text, '#' || {alias}.id::text)" \
        if spec.key == "ext_id" else f"{alias}.\"{spec.key}\"::text"


# --- what depends on the rows to be deleted -----------------------------------------------------

def _foreign_keys(conn: Connection, table: str) -> list[tuple[str, str, list[str], list[str]]]:
    """(child table, ON DELETE action, child columns, parent columns) of every FK to ``table``."""
    rows = conn.execute(sa.text("""
        SELECT c.conrelid::regclass::text, c.confdeltype::text,
               ARRAY(SELECT a.attname::text FROM unnest(c.conkey) WITH ORDINALITY k(n, i)
                     JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = k.n
                     ORDER BY k.i),
               ARRAY(SELECT a.attname::text FROM unnest(c.confkey) WITH ORDINALITY k(n, i)
                     JOIN pg_attribute a ON a.attrelid = c.confrelid AND a.attnum = k.n
                     ORDER BY k.i)
        FROM pg_constraint c
        WHERE c.contype = 'f' AND c.confrelid = CAST(:t AS regclass)
        ORDER BY 1, 3"""), {"t": table}).all()
    return [(r[0], r[1], list(r[2]), list(r[3])) for r in rows]


def _examples(conn: Connection, spec: LayerSpec, exists_sql: str) -> tuple[str, ...]:
    rows = conn.execute(sa.text(
        f"SELECT {_label_sql(spec, 'g')} AS k FROM _gone g WHERE {exists_sql} "
        f"ORDER BY 1 LIMIT {_EXAMPLES}")).scalars()
    return tuple(str(r) for r in rows)


def find_dependents(conn: Connection, spec: LayerSpec) -> list[Dependent]:
    """Count what depends on the rows in ``_gone`` (the rows a replace would delete)."""
    out: list[Dependent] = []

    def walk(table: str, rows_sql: str, depth: int) -> None:
        for child, action, ccols, pcols in _foreign_keys(conn, table):
            cc = ", ".join(f'x."{c}"' for c in ccols)
            pc = ", ".join(f'p."{c}"' for c in pcols)
            child_sql = (f"SELECT x.* FROM {child} x "
                         f"WHERE ({cc}) IN (SELECT {pc} FROM ({rows_sql}) p)")
            n = conn.execute(sa.text(f"SELECT count(*) FROM ({child_sql}) q")).scalar_one()
            if not n:
                continue
            examples: tuple[str, ...] = ()
            if depth == 0:
                on = " AND ".join(f'x."{c}" = g."{p}"' for c, p in zip(ccols, pcols, strict=True))
                examples = _examples(conn, spec, f"EXISTS (SELECT 1 FROM {child} x WHERE {on})")
            effect = _EFFECT.get(action, "blocked")
            out.append(Dependent(child, int(n), effect, ", ".join(ccols), examples))
            if effect == "deleted" and depth < _MAX_DEPTH:
                walk(child, child_sql, depth + 1)

    walk(spec.table, "SELECT * FROM _gone", 0)
    for parent, pcol, child, ccol, cond in LOGICAL_REFS:
        if parent != spec.table:
            continue
        where = f'x."{ccol}" = g."{pcol}"' + (f" AND {cond}" if cond else "")
        if child == parent:  # rows deleted with their parent are not left behind
            where += f' AND x."{pcol}" NOT IN (SELECT "{pcol}" FROM _gone)'
        n = conn.execute(sa.text(f"SELECT count(*) FROM {child} x WHERE EXISTS "
                                 f"(SELECT 1 FROM _gone g WHERE {where})")).scalar_one()
        if n:
            ex = _examples(conn, spec, f"EXISTS (SELECT 1 FROM {child} x WHERE {where})")
            out.append(Dependent(child, int(n), "orphaned", ccol, ex))
    has_load_id = conn.execute(sa.text(
        "SELECT 1 FROM information_schema.columns WHERE table_name = :t "
        "AND column_name = 'load_id'"), {"t": spec.table}).first()
    if has_load_id:
        n = conn.execute(sa.text("SELECT count(*) FROM _gone WHERE load_id IS NULL")).scalar_one()
        if n:
            out.append(Dependent(spec.table, int(n), "deleted",
                                 "entered outside any file load (the API, by hand)",
                                 _examples(conn, spec, "g.load_id IS NULL")))
    return out


def _refuse(spec: LayerSpec, file: str, gone: int, deps: list[Dependent],
            delete_dependents: bool) -> None:
    p = Problems(file)
    keys = " + ".join(key_columns(spec))
    for d in deps:
        if d.effect == "blocked" or not delete_dependents:
            what = {"deleted": "would be deleted",
                    "unlinked": f"would lose their link ({d.via})",
                    "orphaned": f"would name a unit that no longer exists ({d.via})",
                    "blocked": f"reference them ({d.via}) and block the delete"}[d.effect]
            if d.table == spec.table:
                what = f"were {d.via} and would be deleted"
            fix = ("delete or relink those rows first" if d.effect == "blocked" else
                   f"keep those rows in the file (rows are matched by {keys}), or pass "
                   "--delete-dependents to delete them and what depends on them")
            p.error(None, d.table, ", ".join(d.examples) or None,
                    f"{d.count} {d.table} row(s) {what}; they depend on these {spec.table} "
                    f"rows, which the file no longer has ({gone} such row(s) in all)", fix)
    if p.errors:
        raise InputError(p.items, source=f"{file} (--mode replace)")


# --- hazards: the workflow's state is kept ------------------------------------------------------

def _reconcile_hazards(conn: Connection) -> tuple[list[tuple[int, str, str]], list[str]]:
    """Adjust ``_stage`` so stored hazard workflow is not undone; return (state changes the load
    makes: (id, from, to)), notes)."""
    from emgis.risk.hazards import ALLOWED

    rows = conn.execute(sa.text(
        "SELECT h.id, h.ext_id, h.state, s.state, EXISTS (SELECT 1 FROM hazard_events e "
        "WHERE e.hazard_id = h.id AND e.to_state IS NOT NULL) FROM hazards h "
        "JOIN _stage s ON s.ext_id = h.ext_id ORDER BY h.ext_id")).all()
    changes, notes = [], []
    for hid, ext, stored, wanted, moved in rows:
        if moved:
            conn.execute(sa.text(
                "UPDATE _stage s SET responsible = coalesce(s.responsible, h.responsible), "
                "measures = coalesce(s.measures, h.measures), "
                "deadline = coalesce(s.deadline, h.deadline) FROM hazards h "
                "WHERE h.id = :id AND s.ext_id = h.ext_id"), {"id": hid})
        if wanted == stored:
            continue
        if moved and wanted not in ALLOWED.get(stored, ()):
            conn.execute(sa.text("UPDATE _stage SET state = :s WHERE ext_id = :e"),
                         {"s": stored, "e": ext})
            notes.append(f"hazard {ext}: the file says {wanted}, kept {stored} reached through "
                         f"the workflow (emgis hazard move {ext} STATE changes it)")
        else:
            changes.append((hid, stored, wanted))
    return changes, notes


def _record_hazard_moves(conn: Connection, changes: list[tuple[int, str, str]], actor: str,
                         load_id: int) -> None:
    for hid, old, new in changes:
        conn.execute(sa.text(
            "INSERT INTO hazard_events (hazard_id, actor, from_state, to_state, note) "
            "VALUES (:h, :a, :f, :t, :n)"),
            {"h": hid, "a": actor, "f": old, "t": new, "n": f"set by load #{load_id}"})
        conn.execute(sa.text(
            "UPDATE hazards SET closed_on = CASE WHEN state = 'closed' "
            "THEN coalesce(closed_on, current_date) END WHERE id = :h"), {"h": hid})


# --- the write ----------------------------------------------------------------------------------

@dataclass(frozen=True)
class Staged:
    """What is in ``_stage`` and how to write it."""

    spec: LayerSpec
    columns: list[str]
    file: str
    load_id: int
    kept: frozenset[str] = frozenset()  # columns a stored row keeps (the file does not give them)


def write_staged(conn: Connection, st: Staged, *, mode: str, actor: str,
                 delete_dependents: bool = False) -> tuple[dict, list[str], list[str]]:
    """Move ``_stage`` into the table; return (counts, deleted keys, notes).

    Raises InputError (nothing written) when a replace would delete dependents and
    ``delete_dependents`` is not given.
    """
    spec, columns = st.spec, st.columns
    keys = key_columns(spec)
    notes: list[str] = []
    counts: dict = {}
    gone_keys: list[str] = []
    if mode == "replace":
        conn.execute(sa.text(
            f"CREATE TEMP TABLE _gone ON COMMIT DROP AS SELECT t.* FROM {spec.table} t "
            f"WHERE NOT EXISTS (SELECT 1 FROM _stage s WHERE {_match(keys, 's', 't')})"))
        n_gone = conn.execute(sa.text("SELECT count(*) FROM _gone")).scalar_one()
        deps = find_dependents(conn, spec) if n_gone else []
        _refuse(spec, st.file, n_gone, deps, delete_dependents)
        for effect in ("deleted", "unlinked", "orphaned"):
            by = {d.table: d.count for d in deps if d.effect == effect and d.table != spec.table}
            if by:
                counts[f"dependents_{effect}"] = by
        gone_keys = [str(k) for k in conn.execute(sa.text(
            f"SELECT {_label_sql(spec, 'g')} FROM _gone g ORDER BY 1")).scalars()]
    changes: list[tuple[int, str, str]] = []
    if spec.name == "hazards" and mode != "append":
        changes, notes = _reconcile_hazards(conn)
    updated = conn.execute(sa.text(
        f"SELECT count(*) FROM _stage s WHERE EXISTS (SELECT 1 FROM {spec.table} t "
        f"WHERE {_match(keys, 's', 't')})")).scalar_one()
    total = conn.execute(sa.text("SELECT count(*) FROM _stage")).scalar_one()
    deleted = 0
    if mode == "replace" and gone_keys:
        # row by row into the audit log: the before-image of every deleted row (and of what the
        # foreign keys cascade to) stays recoverable
        conn.execute(sa.text("SELECT set_config('emgis.bulk', 'off', true)"))
        deleted = conn.execute(sa.text(
            f"DELETE FROM {spec.table} t USING _gone g WHERE {_match(keys, 'g', 't')}")).rowcount
        conn.execute(sa.text("SELECT set_config('emgis.bulk', 'on', true)"))
    conflict = ""
    if mode != "append" or spec.name in COMPOSITE_KEYS:
        updates = ", ".join(f'"{c}" = EXCLUDED."{c}"' for c in columns
                            if c not in keys and c not in st.kept)
        conflict = f"ON CONFLICT ({', '.join(keys)}) DO UPDATE SET {updates}"
    cols = ", ".join(f'"{c}"' for c in columns)
    conn.execute(sa.text(f"INSERT INTO {spec.table} ({cols}) SELECT {cols} FROM _stage {conflict}"))
    _record_hazard_moves(conn, changes, actor, st.load_id)
    counts = {"inserted": int(total - updated), "updated": int(updated), "deleted": int(deleted),
              **counts}
    if len(notes) > 0:
        counts["hazard_states_kept"] = len(notes)
    if changes:
        counts["hazard_states_changed"] = len(changes)
    return counts, gone_keys, notes
