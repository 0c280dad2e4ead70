"""Human-readable output for plan and verify: plain text for plans, a table for verify.

Plain sentences, no colour codes unless stdout is a terminal (rich decides), no emoji.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager

import click
from rich.console import Console
from rich.table import Table

from cascade_tool.manifest import Manifest
from cascade_tool.plan import Step, Verification


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
        if result.strict and result.unlisted:
            extra += f" and {len(result.unlisted)} unlisted FK(s)"
        if result.strict and warned:
            extra += f" and {warned} NOT VALID FK(s) (--strict)"
        lines.append(f"FAILED: {drift} entr{'y' if drift == 1 else 'ies'} drifted{extra}.")
    for line in lines:
        click.echo(line)


@contextmanager
def progress_status(first: str) -> Iterator[Callable[[str], None]]:
    """A spinner on stderr saying what long read-only work is running, when stderr is a
    terminal; in logs and pipes it prints nothing (the result says it all)."""
    console = Console(stderr=True)
    if not console.is_terminal:
        yield lambda message: None
        return
    with console.status(first) as status:
        yield lambda message: status.update(message)
