"""The FK-graph commands: discover, lint, impact, smoke-test."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click

from cascade_tool.output.common import echo_json, status, write_text

if TYPE_CHECKING:
    from cascade_tool.impact import Impact
    from cascade_tool.lint import LintResult
    from cascade_tool.manifest.merge import Merged
    from cascade_tool.proposals import Discovery
    from cascade_tool.smoke import SmokeResult


# --- discover and lint ------------------------------------------------------------------------


def discovery_summary(found: Discovery) -> str:
    g = found.graph
    return (
        f"{len(g.edges)} foreign keys reach {g.target} ({len(g.direct())} directly), "
        f"from {len(g.reachable())} tables; {len(found.proposals)} entries "
        f"({sum(not p.kept for p in found.proposals)} to change), "
        f"{len(found.candidates)} candidate column(s) without an FK"
    )


def merged_summary(merged: Merged) -> str:
    return (
        f"{len(merged.added)} new entr{'y' if len(merged.added) == 1 else 'ies'}, "
        f"{len(merged.stale)} marked stale, {len(merged.candidates)} new candidate(s)"
    )


def discover(text: str, found: Discovery, merged: Merged | None, merge_path: Path | None, out: Path | None) -> None:
    """The manifest written by discover (stdout or --out), then what it holds, on stderr."""
    write_text(text, out)
    status(f"discover: {discovery_summary(found)}")
    if merged is not None:
        status(f"merged into {merge_path}: {merged_summary(merged)}")
        for line in (*merged.stale, *merged.notes):
            status(f"  {line}")
    if out is not None:
        status(f"wrote {out}")


def lint_summary(result: LintResult) -> str:
    from cascade_tool.lint import SEVERITIES

    scope = f"manifest {result.manifest}" if result.manifest else "the catalog"
    counts = ", ".join(f"{result.count(s)} {s}{'s' if s != 'info' and result.count(s) != 1 else ''}"
                       for s in SEVERITIES)
    return (f"lint {result.target} ({scope}): {result.edges} foreign keys, {result.tables} tables: "
            f"{counts}")


def lint(result: LintResult, *, as_json: bool) -> None:
    """One block per finding, then the summary (on stderr with --json)."""
    if as_json:
        echo_json(result.to_json())
        status(lint_summary(result))
        return
    for f in result.findings:
        click.echo(f"{f.severity:<8} {f.kind}  {f.object}")
        click.echo(f"         {f.message}")
        click.echo(f"         fix: {f.fix}")
    click.echo(lint_summary(result))


# --- impact and smoke-test --------------------------------------------------------------------


def impact(result: Impact, *, as_json: bool) -> None:
    if as_json:
        echo_json(result.to_json())
        return
    click.echo(f"Deleting from {result.target} where {result.condition}: {result.matched} row(s) match.")
    click.echo("Computed read-only (a READ ONLY transaction, rolled back): nothing was changed.")
    for t in result.tables:
        via = f"  via {', '.join(t.via)}" if t.via else ""
        click.echo(f"  delete    {t.table}: {t.deleted}{via}")
    for e in result.nulled:
        click.echo(f"  {e.on_delete.lower():<9} {e.table}({', '.join(e.columns)}): {e.rows}  via {e.constraint}")
    for e in result.blocked:
        click.echo(f"  BLOCKED   {e.table}({', '.join(e.columns)}): {e.rows}  by {e.constraint}: {e.why}")
    if result.would_fail:
        click.echo(f"The delete would fail: {len(result.blocked)} blocking foreign key(s).")
    else:
        click.echo("The delete would succeed.")


def smoke_test(result: SmokeResult, *, as_json: bool) -> None:
    if as_json:
        echo_json(result.to_json(), default=str)
        return
    click.echo(f"Smoke test on {result.target} (one transaction, rolled back: nothing was kept)")
    for c in result.checks:
        click.echo(f"  {c.result:<10} {c.table}({', '.join(c.columns)}) {c.on_delete}: {c.detail}")
    if result.delete_error:
        click.echo(f"FAILED: deleting the test user failed: {result.delete_error}")
    failed = sum(c.failed for c in result.checks)
    filled = sum(c.result in ("deleted", "nulled", "defaulted") for c in result.checks)
    not_filled = sum(c.result == "not filled" for c in result.checks)
    click.echo(f"{'OK' if result.ok else 'FAILED'}: {filled} checked, {failed} failed, "
               f"{not_filled} not filled automatically.")
