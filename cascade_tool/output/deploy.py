"""The deploy commands: generate, plan, verify, validate, and the demo's story."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING

import click
from rich.console import Console
from rich.table import Table

from cascade_tool.manifest import Manifest
from cascade_tool.output.common import echo_json, status
from cascade_tool.plan import Step, Verification

if TYPE_CHECKING:
    from cascade_tool.demo import DemoEvent
    from cascade_tool.distributed import CitusReport
    from cascade_tool.revisions import CheckResult
    from cascade_tool.validate import Outcome, ValidationRun


def _by_group(steps: Iterable[Step]) -> dict[str, list[Step]]:
    out: dict[str, list[Step]] = {}
    for step in steps:
        out.setdefault(step.group or "Ungrouped", []).append(step)
    return out


def _where(step: Step) -> str:
    return f"{step.table}({', '.join(step.columns)})"


def print_plan(steps: list[Step], manifest: Manifest) -> None:
    """The plan as a reviewer reads it: per group, per entry, the statements to run."""
    click.echo(f"Plan for {manifest.source} (target {manifest.target}), {len(manifest.entries)} entries")
    for group, items in _by_group(steps).items():
        click.echo(f"\n{group}")
        for step in items:
            name = f" {step.constraint}" if step.constraint else ""
            note = " (optional)" if step.optional and step.action == "skip" else ""
            click.echo(f"  {step.action:<8} {_where(step)}{name}: {step.detail}{note}")
            for statement in step.statements:
                click.echo(f"           {statement};")
            if step.matches > 1 and step.action == "convert":
                click.echo(f"           ({step.matches} FKs match this entry: each is converted)")
            if step.partitions and step.action == "convert":
                click.echo(
                    f"           (partitioned: its {step.partitions} per-partition copies are "
                    "re-created and keep their names)"
                )
            if step.advice:
                click.echo(f"           {step.advice}")
    counts = Counter(s.action for s in steps)
    click.echo(
        "\nSummary: "
        f"{counts['convert']} to convert, {counts['create']} to create, "
        f"{counts['leave']} left alone, {counts['skip']} skipped, {counts['blocked']} blocking"
    )
    if counts["blocked"]:
        click.echo("The upgrade would stop before changing anything: fix the blocking entries first.")


def _status(step: Step) -> str:
    if step.status == "ok":
        return "ok"
    if step.warning is not None:
        return f"warning: {step.detail}"
    return f"DRIFT: {step.detail}" if step.drift else f"skipped: {step.detail}"


def print_verification(result: Verification, manifest: Manifest) -> None:
    """A table by group: a rich table on a terminal, plain aligned lines in logs and pipes."""
    headers = ["group", "table", "columns", "constraint", "expected", "actual", "validated", "status"]
    rows = [
        [
            step.group or "",
            step.table,
            ", ".join(step.columns),
            step.constraint or "",
            step.wanted,
            step.actual or "",
            "" if step.validated is None else ("yes" if step.validated else "NO"),
            _status(step),
        ]
        for step in result.steps
    ]
    title = f"cascade-tool verify: {manifest.source} (target {manifest.target})"
    console = Console(highlight=False)
    if console.is_terminal:
        table = Table(title=title)
        for header in headers:
            table.add_column(header, overflow="fold")
        for row in rows:
            table.add_row(*row)
        console.print(table)
    else:
        click.echo(title)
        widths = [max(len(r[i]) for r in [headers, *rows]) for i in range(len(headers) - 1)]
        for row in [headers, *rows]:
            click.echo("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=False)) + "  " + row[-1])
    lines = []
    for item in result.unlisted:
        level = "DRIFT" if result.strict else "warning"
        lines.append(
            f"{level}: {item.table}({', '.join(item.columns)}) {item.constraint} "
            f"references {manifest.target} (ON DELETE {item.actual}) but is not in the manifest"
        )
    level = "DRIFT" if result.strict else "warning"
    for step in result.warnings:
        where = f"{_where(step)} {step.constraint}"
        if step.warning == "pending":
            lines.append(
                f'{level}: {where}: validation pending (validate = "later"); its ON DELETE action '
                f"applies already; run cascade-tool validate, or: {step.validate_sql};"
            )
        else:
            lines.append(
                f"{level}: {where} is NOT VALID: its ON DELETE action applies, but rows written "
                f"before it was added were never checked; validate it: {step.validate_sql};"
            )
    for shard in result.shards:
        lines.append(f"DRIFT: {shard.detail}")
    drift = len(result.drift)
    warned = len(result.warnings)
    if result.ok:
        note = (
            f"; {warned} NOT VALID foreign key(s) to validate (warnings: verify --strict fails on them)"
            if warned else ""
        )
        lines.append(f"OK: {len(result.steps)} entries match the manifest, no drift{note}.")
    else:
        extra = ""
        if result.shards:
            extra += f" and {len(result.shards)} shard placement(s) disagree with the manifest"
        if result.strict and result.unlisted:
            extra += f" and {len(result.unlisted)} unlisted FK(s)"
        if result.strict and warned:
            extra += f" and {warned} NOT VALID FK(s) (--strict)"
        lines.append(f"FAILED: {drift} entr{'y' if drift == 1 else 'ies'} drifted{extra}.")
    for line in lines:
        click.echo(line)


# --- generate ---------------------------------------------------------------------------------


def generated(path: Path) -> None:
    click.echo(str(path))


def generate_check(result: CheckResult, manifest_path: Path) -> None:
    """generate --check: up to date, or the diff and what to run (a machinery warning first)."""
    if result.machinery_warning:
        status(f"warning: {result.machinery_warning}")
    if result.ok:
        status(f"up to date: {result.path}")
    elif result.path is None:
        status(f"out of date: {result.diff}; run cascade-tool generate")
    else:
        click.echo(result.diff, nl=False)
        status(
            f"out of date: {result.path} does not match {manifest_path}; "
            "run cascade-tool generate for a new revision"
        )


# --- plan and verify --------------------------------------------------------------------------


def plan(
    steps: list[Step], manifest: Manifest, *, as_json: bool, as_sql: bool,
    citus: CitusReport | None = None,
) -> None:
    """The plan (text, JSON or SQL); on a Citus coordinator, how each entry will be changed there
    and what Citus would reject (on stderr when stdout holds JSON or SQL)."""
    on_citus = citus is not None and citus.version is not None
    if as_json:
        extra = {"citus": citus.to_json()} if citus is not None and on_citus else {}
        echo_json({"entries": [s.to_json() for s in steps], **extra})
    elif as_sql:
        click.echo(plan_script(steps, manifest), nl=False)
    else:
        print_plan(steps, manifest)
    if citus is not None and on_citus:
        for line in citus_lines(citus):
            click.echo(line, err=as_json or as_sql)


def citus_lines(report: CitusReport) -> list[str]:
    """Per entry to convert or create: the two tables' kinds, how it is swapped, and Citus'
    verdict; then the count of entries Citus would reject."""
    lines = [f"\nCitus {report.version} coordinator: {len(report.entries)} entr"
             f"{'y' if len(report.entries) == 1 else 'ies'} to change"]
    for e in report.entries:
        name = f" {e.constraint}" if e.constraint else ""
        lines.append(f"  {e.where}{name} -> {e.target} ({e.table_kind} -> {e.target_kind}):")
        lines.append(f"    REJECTED: {e.rejected}" if e.rejected else f"    {e.how}")
        if e.note:
            lines.append(f"    note: {e.note}")
        if e.estimate:
            lines.append(f"    {e.table}: {e.estimate}")
    rejected = len(report.rejected)
    lines.append(f"Citus {report.version}: {rejected} entr{'y' if rejected == 1 else 'ies'} it would reject"
                 + (":" if rejected else "."))
    lines += [f"  {line}" for line in report.rejected]
    return lines


def plan_script(steps: list[Step], manifest: Manifest) -> str:
    """The plan as one SQL script, in the order and transactions the revision uses (without its
    retries and bookkeeping): for review, and for linters such as squawk."""
    options = manifest.options
    out = [
        "-- cascade-tool plan --sql: the statements the upgrade would run in this database now.",
        "-- The revision retries each lock timeout with backoff and records every change for downgrade.",
        f"SET lock_timeout = '{options.lock_timeout}';",
    ]
    builds = [s for step in steps for s in step.index_statements]
    if builds:
        out += ["", "-- FK indexes, built without blocking writes (outside any transaction)"]
        out += ["SET statement_timeout = 0;"] + [f"{s};" for s in builds]
    for step in steps:
        if not step.swap_statements:
            continue
        out += ["", f"-- {step.table}({', '.join(step.columns)}) {step.constraint or ''}: {step.detail}".rstrip()]
        # the revision cancels a swap after lock_retry_budget + statement_timeout (retries included)
        out += ["BEGIN;", f"SET LOCAL statement_timeout = '{options.statement_timeout}';"]
        out += [f"{s};" for s in step.swap_statements] + ["COMMIT;"]
        if step.validate_statements:
            out += ["BEGIN;", "SET LOCAL statement_timeout = 0;"]
            out += [f"{s};" for s in step.validate_statements] + ["COMMIT;"]
    return "\n".join(out) + "\n"


def verify(result: Verification, manifest: Manifest, *, as_json: bool) -> None:
    if as_json:
        echo_json(result.to_json())
    else:
        print_verification(result, manifest)


def verify_sql(query: str) -> None:
    """verify --print-sql: the lookup as a query for psql."""
    click.echo(query, nl=False)


# --- validate ---------------------------------------------------------------------------------

_KIND = {
    "pending": "validation pending",
    "not_valid": "NOT VALID before the upgrade",
    "unfinished": "left NOT VALID by an unfinished upgrade",
}


def _validate_line(o: Outcome) -> str:
    where = f"{o.table} {o.constraint}"
    took = f" in {o.seconds * 1000:.0f} ms" if o.seconds is not None else ""
    if o.result == "validated":
        note = f" ({o.message})" if o.message else ""
        return f"validated {where}{took}{note}"
    if o.result == "orphans":
        return f"SKIPPED {where}{took}: {o.message}"
    if o.result == "failed":
        return f"FAILED {where}{took}: {o.message}; to retry by hand: {o.statement}"
    return f"remaining {where} ({_KIND[o.kind]}): {o.message}"


def validate_progress(outcome: Outcome) -> None:
    """One line per FK as its validation ends."""
    click.echo(_validate_line(outcome))


def validate(result: ValidationRun, *, as_json: bool) -> None:
    """What is left after the run (the progress lines said the rest), then a summary on stderr."""
    if as_json:
        echo_json(result.to_json())
    else:
        for outcome in result.outcomes:
            if outcome.result == "remaining":
                click.echo(_validate_line(outcome))
    summary = (
        f"{result.count('validated')} validated, {result.count('orphans')} skipped for orphan rows, "
        f"{result.count('failed')} failed, {result.count('remaining')} remaining, "
        f"{result.valid} already valid; {result.seconds:.1f} s on {result.jobs} connection(s)"
    )
    status(f"OK: {summary}" if result.ok else f"NOT DONE: {summary}")


# --- demo -------------------------------------------------------------------------------------


def demo(events: Iterable[DemoEvent]) -> bool:
    """Narrate the demo as it runs; whether it showed what it should."""
    from cascade_tool import demo as story

    ok = False
    for event in events:
        if isinstance(event, story.Starting):
            click.echo("Starting a throwaway PostgreSQL server...")
        elif isinstance(event, story.ServerStarted):
            click.echo(f"  PostgreSQL {event.version} at {event.url}")
        elif isinstance(event, story.SchemaLoaded):
            click.echo("Loaded the sample health-app schema (FKs to users are NO ACTION: deleting a user fails).")
        elif isinstance(event, story.Planned):
            click.echo(
                f"\n$ cascade-tool plan: {event.convert} to convert, {event.create} to create, "
                f"{event.leave} left alone, {event.skip} skipped (absent legacy tables)"
            )
        elif isinstance(event, story.Generated):
            click.echo(f"\n$ cascade-tool generate\n  {event.file_name}")
        elif isinstance(event, story.Upgrading):
            click.echo("\n$ alembic upgrade head")
        elif isinstance(event, story.Verified):
            # verify's own summary line, word for word, so the demo teaches what verify prints
            drifted = len(event.drift)
            click.echo("\n$ cascade-tool verify\n  " + (
                f"OK: {event.entries} entries match the manifest, no drift." if event.ok
                else f"FAILED: {drifted} entr{'y' if drifted == 1 else 'ies'} drifted."))
            for step in event.drift:
                click.echo(f"  drift: {step.table} {step.detail}")
        elif isinstance(event, story.Deleted):
            total_before, total_after = sum(n for _, n in event.before), sum(event.after.values())
            click.echo(f"\n$ DELETE FROM users WHERE id = {event.user_id}")
            click.echo(f"  rows linked to user {event.user_id}: {total_before} before, {total_after} after")
            for name, n in event.before:
                if n:
                    click.echo(f"    {name}: {n} -> {event.after.get(name, 0)}")
        elif isinstance(event, story.Downgrading):
            click.echo("\n$ alembic downgrade -1")
        elif isinstance(event, story.Downgraded):
            click.echo(f"  {event.converted_back} FKs back to their original ON DELETE (a downgrade restores "
                       "constraints, not deleted rows)")
        elif isinstance(event, story.Finished):
            if event.completed:
                click.echo("\nStopping the server. Done.")
            ok = event.ok
    return ok
