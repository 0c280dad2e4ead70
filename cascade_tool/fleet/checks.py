"""`fleet plan` and `fleet verify` on one target: the single-database library calls, summarised.

Plan is cascade_tool.plan.build_steps plus cascade_tool.preflight.run, and on a Citus
coordinator the entries Citus would reject (cascade_tool.distributed); verify is
cascade_tool.plan.verify. Both are read-only.
"""

from __future__ import annotations

from collections import Counter

import psycopg

from cascade_tool import catalog, distributed, preflight
from cascade_tool import plan as planning
from cascade_tool.errors import DatabaseError
from cascade_tool.fleet.run import Outcome
from cascade_tool.fleet.targets import Target
from cascade_tool.manifest import Manifest


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def plan_target(target: Target, manifest: Manifest, long_transaction_seconds: float) -> Outcome:
    """Our plan and preflight on one target: the counts, and what would stop the upgrade."""
    try:
        conn = catalog.connect(target.connect_url)
    except DatabaseError as exc:
        return Outcome(target.name, "unreachable", target.unreachable(str(exc)))
    with conn:
        try:
            steps = planning.build_steps(conn, manifest)
            conn.rollback()
            checked = preflight.run(conn, manifest, long_transaction_seconds)
            citus = distributed.check(conn, steps)
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
    problems = citus.rejected
    if citus.version:
        def named(swap: str) -> str:
            """How many entries Citus will change that way, and which (the sequential ones marked)."""
            these = [e for e in citus.entries if e.swap == swap and not e.rejected]
            listed = ", ".join(e.where + (" sequential" if e.sequential else "") for e in these)
            return f"{len(these)}" + (f" ({listed})" if listed else "")

        detail += (f"; Citus {citus.version}: {named('four-step')} four-step swap(s) without rename, "
                   f"{named('rename')} swap(s) with rename, {named('add')} to add, "
                   f"{len(problems)} entr{'y' if len(problems) == 1 else 'ies'} it would reject")
    if blocked or problems:
        return Outcome(target.name, "blocked", "; ".join([detail, *blocked, *problems]))
    status = "ready" if counts["convert"] or counts["create"] else "nothing-to-do"
    return Outcome(target.name, status, detail)


def verify_target(target: Target, manifest: Manifest, strict: bool = False) -> Outcome:
    """Verify on one target: ok, or drift with the first drifted entries."""
    try:
        conn = catalog.connect(target.connect_url)
    except DatabaseError as exc:
        return Outcome(target.name, "unreachable", target.unreachable(str(exc)))
    with conn:
        try:
            result = planning.verify(conn, manifest, strict=strict)
            conn.rollback()
        except (psycopg.Error, DatabaseError) as exc:
            return Outcome(target.name, "failed", _first_line(exc))
    warned = len(result.warnings)
    if result.ok:
        note = f"; {warned} NOT VALID (warnings: --strict fails on them)" if warned else ""
        return Outcome(target.name, "ok", f"{len(result.steps)} entries match the manifest{note}")
    drifted = [f"{s.table}({', '.join(s.columns)}): {s.detail}" for s in result.drift]
    drifted += [d.detail for d in result.shards]
    if strict:  # as verify --strict: NOT VALID FKs (pending validations too) and unlisted FKs fail
        drifted += [f"{s.table}({', '.join(s.columns)}) {s.constraint}: NOT VALID (--strict)" for s in result.warnings]
        drifted += [f"{u.table}({', '.join(u.columns)}) {u.constraint}: not in the manifest" for u in result.unlisted]
    shown = "; ".join(drifted[:3]) + (f"; and {len(drifted) - 3} more" if len(drifted) > 3 else "")
    return Outcome(target.name, "drift", f"{len(drifted)} drifted: {shown}")
