"""`fleet plan` and `fleet verify` on one target: the single-database library calls, summarised.

Plan is cascade_tool.plan.build_steps plus cascade_tool.preflight.run, and on a Citus
coordinator the entries Citus would reject (see `citus_problems`); verify is
cascade_tool.plan.verify. Both are read-only.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Any

import psycopg

from cascade_tool import catalog, preflight
from cascade_tool import plan as planning
from cascade_tool.errors import DatabaseError
from cascade_tool.fleet.run import Outcome
from cascade_tool.fleet.targets import Target
from cascade_tool.manifest import Manifest

# Distributed tables by oid: how Citus places each one. partkey is Citus's text form of the
# distribution column (a Var node); its :varattno is the column's number.
CITUS_TABLES_SQL = """
SELECT p.logicalrelid::oid AS oid, n.nspname || '.' || c.relname AS name,
       p.partmethod::text AS method, p.repmodel::text AS replication,
       p.colocationid AS colocation, a.attname::text AS column
  FROM pg_catalog.pg_dist_partition p
  JOIN pg_catalog.pg_class c ON c.oid = p.logicalrelid
  JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
  LEFT JOIN pg_catalog.pg_attribute a
    ON a.attrelid = c.oid AND a.attnum = substring(p.partkey FROM ':varattno ([0-9]+)')::int
"""
TABLE_OID_SQL = "SELECT pg_catalog.to_regclass(%s)::oid"


@dataclass(frozen=True)
class Placement:
    """How Citus places a table: `distributed` (hash, on `column`) or `reference`."""

    kind: str
    column: str | None
    colocation: int | None


def citus_version(conn: psycopg.Connection[Any]) -> str | None:
    row = conn.execute("SELECT extversion FROM pg_catalog.pg_extension WHERE extname = 'citus'").fetchone()
    return None if row is None else str(row[0])


def citus_problems(steps: list[planning.Step], placements: dict[str, Placement]) -> list[str]:
    """Why Citus would reject each entry the upgrade would convert or create (pure: `placements`
    maps schema.table to how Citus places it; tables not in it are local)."""
    problems: list[str] = []
    for step in steps:
        if step.action not in ("convert", "create"):
            continue
        child, parent = placements.get(step.table), placements.get(step.target)
        where = f"{step.table}({', '.join(step.columns)})"
        if child is None and parent is None:
            continue
        if child and child.kind == "reference" and parent and parent.kind == "distributed":
            problems.append(f"{where}: Citus has no foreign key from a reference table to a distributed table")
            continue
        if child and parent and child.kind == parent.kind == "distributed":
            if child.column not in step.columns:
                problems.append(f"{where}: Citus needs an FK between distributed tables to include the "
                                f"distribution column {child.column}")
                continue
            if child.colocation != parent.colocation:
                problems.append(f"{where}: Citus needs {step.table} and {step.target} colocated for this FK")
                continue
            if step.wanted in ("SET NULL", "SET DEFAULT"):
                problems.append(f"{where}: Citus rejects ON DELETE {step.wanted} on an FK that includes the "
                                f"distribution column; only CASCADE (or no action) is allowed here")
                continue
        if child and child.kind == "distributed" and parent and parent.kind == "reference":
            problems.append(f"{where}: an FK from a distributed table to a reference table needs "
                            "citus.multi_shard_modify_mode = 'sequential' in the upgrade's session "
                            "(for example options=-c citus.multi_shard_modify_mode=sequential in the URL)")
    return problems


def _placements(conn: psycopg.Connection[Any]) -> dict[str, Placement]:
    out: dict[str, Placement] = {}
    for row in conn.execute(CITUS_TABLES_SQL).fetchall():
        _, name, method, replication, colocation, column = row
        # hash-distributed; reference tables are replicated to every node ('t'); the rest (Citus
        # local tables, append or range distribution) are left to Citus to judge
        kind = "distributed" if method == "h" else "reference" if method == "n" and replication == "t" else "other"
        out[str(name)] = Placement(kind, column, colocation)
    return out


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def plan_target(target: Target, manifest: Manifest, long_transaction_seconds: float) -> Outcome:
    """Our plan and preflight on one target: the counts, and what would stop the upgrade."""
    try:
        conn = catalog.connect(target.connect_url)
    except DatabaseError as exc:
        return Outcome(target.name, "unreachable", str(exc))
    with conn:
        try:
            steps = planning.build_steps(conn, manifest)
            conn.rollback()
            checked = preflight.run(conn, manifest, long_transaction_seconds)
            citus = citus_version(conn)
            problems = citus_problems(steps, _placements(conn)) if citus else []
            conn.rollback()
        except (psycopg.Error, DatabaseError) as exc:
            return Outcome(target.name, "failed", _first_line(exc))
    counts = Counter(s.action for s in steps)
    orphans = sum(s.orphans or 0 for s in steps)
    long_tx = len(checked.of_kind("long_transaction"))
    detail = (f"{counts['convert']} to convert, {counts['create']} to create, {counts['leave']} unchanged, "
              f"{counts['skip']} skipped, {counts['blocked']} blocked; {long_tx} long transaction(s), "
              f"{orphans} orphan row(s), {len(checked.warnings)} preflight warning(s)")
    blocked = [f"{s.table}({', '.join(s.columns)}): {s.detail}" for s in steps if s.action == "blocked"]
    if citus:
        detail += f"; Citus {citus}: {len(problems)} entr{'y' if len(problems) == 1 else 'ies'} it cannot convert"
    if blocked or problems:
        return Outcome(target.name, "blocked", "; ".join([detail, *blocked, *problems]))
    status = "ready" if counts["convert"] or counts["create"] else "nothing-to-do"
    return Outcome(target.name, status, detail)


def verify_target(target: Target, manifest: Manifest, strict: bool = False) -> Outcome:
    """Verify on one target: ok, or drift with the first drifted entries."""
    try:
        conn = catalog.connect(target.connect_url)
    except DatabaseError as exc:
        return Outcome(target.name, "unreachable", str(exc))
    with conn:
        try:
            result = planning.verify(conn, manifest, strict=strict)
            conn.rollback()
        except (psycopg.Error, DatabaseError) as exc:
            return Outcome(target.name, "failed", _first_line(exc))
    if result.ok:
        return Outcome(target.name, "ok", f"{len(result.steps)} entries match the manifest")
    drifted = [f"{s.table}({', '.join(s.columns)}): {s.detail}" for s in result.drift]
    if strict:
        drifted += [f"{u.table}({', '.join(u.columns)}) {u.constraint}: not in the manifest" for u in result.unlisted]
    shown = "; ".join(drifted[:3]) + (f"; and {len(drifted) - 3} more" if len(drifted) > 3 else "")
    return Outcome(target.name, "drift", f"{len(drifted)} drifted: {shown}")
