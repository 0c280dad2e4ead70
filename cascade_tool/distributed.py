"""Distributed PostgreSQL: on a Citus coordinator, which manifest entries Citus would reject.

Citus is detected by its extension (pg_extension); how it places each table comes from
pg_dist_partition (hash-distributed on a column, or a reference table). `citus_problems` is pure:
the plan's steps and the placements in, one sentence per entry Citus would reject out.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import psycopg

from cascade_tool import sqlfile
from cascade_tool.plan import Step

# Distributed tables by oid: how Citus places each one. partkey is Citus's text form of the
# distribution column (a Var node); its :varattno is the column's number.
CITUS_TABLES_SQL = sqlfile.load("citus_tables")


@dataclass(frozen=True)
class Placement:
    """How Citus places a table: `distributed` (hash, on `column`) or `reference`."""

    kind: str
    column: str | None
    colocation: int | None


def citus_version(conn: psycopg.Connection[Any]) -> str | None:
    row = conn.execute("SELECT extversion FROM pg_catalog.pg_extension WHERE extname = 'citus'").fetchone()
    return None if row is None else str(row[0])


def citus_problems(steps: list[Step], placements: dict[str, Placement]) -> list[str]:
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


def placements(conn: psycopg.Connection[Any]) -> dict[str, Placement]:
    out: dict[str, Placement] = {}
    for row in conn.execute(CITUS_TABLES_SQL).fetchall():
        _, name, method, replication, colocation, column = row
        # hash-distributed; reference tables are replicated to every node ('t'); the rest (Citus
        # local tables, append or range distribution) are left to Citus to judge
        kind = "distributed" if method == "h" else "reference" if method == "n" and replication == "t" else "other"
        out[str(name)] = Placement(kind, column, colocation)
    return out


def check(conn: psycopg.Connection[Any], steps: list[Step]) -> tuple[str | None, list[str]]:
    """The Citus version (None when the extension is absent) and the entries it would reject."""
    version = citus_version(conn)
    return version, (citus_problems(steps, placements(conn)) if version else [])
