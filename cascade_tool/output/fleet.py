"""fleet plan, verify and apply: one row per target, a summary, a live status line."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

import click
from rich.console import Console
from rich.table import Table

from cascade_tool.fleet.run import FleetReport, Progress
from cascade_tool.output.common import echo_json


def fleet_summary(report: FleetReport) -> str:
    parts = [f"{n} {status}" for status, n in report.counts().items() if n]
    verdict = "all fine" if report.ok else "see the rows above"
    stopped = ", interrupted" if report.interrupted else ""
    return (f"fleet {report.command}: {len(report.outcomes)} targets: {', '.join(parts) or 'none'} "
            f"in {report.seconds:.1f} s{stopped}; {verdict}.")


def _progress_line(progress: Progress, command: str) -> str:
    parts = ", ".join(f"{n} {s}" for s, n in sorted(progress.statuses.items()))
    text = f"fleet {command}: {progress.done}/{progress.total} done, {progress.running} running"
    return text + (f" ({parts})" if parts else "") + (f"; {progress.note}" if progress.note else "")


@contextmanager
def fleet_status_line(command: str) -> Iterator[Callable[[Progress], None]]:
    """A status line on stderr that updates as targets finish, when stderr is a terminal;
    elsewhere only notes (an interruption) are printed, once each."""
    console = Console(stderr=True)
    if not console.is_terminal:
        said: set[str] = set()

        def notes(progress: Progress) -> None:
            if progress.note and progress.note.split(":")[0] not in said:
                said.add(progress.note.split(":")[0])
                click.echo(f"fleet {command}: {progress.note}", err=True)

        yield notes
        return
    with console.status(f"fleet {command}: starting") as status:
        yield lambda progress: status.update(_progress_line(progress, command))


def fleet(report: FleetReport, *, as_json: bool, footer: str | None = None) -> None:
    """A table of targets (rich on a terminal, aligned lines elsewhere), then the summary."""
    if as_json:
        echo_json(report.to_json())
        click.echo(fleet_summary(report), err=True)
    else:
        rows = [(o.name, o.status, o.detail) for o in report.outcomes]
        console = Console(highlight=False)
        if console.is_terminal:
            table = Table(title=f"cascade-tool fleet {report.command}")
            for header in ("target", "status", "detail"):
                table.add_column(header, overflow="fold")
            for row in rows:
                table.add_row(*row)
            console.print(table)
        else:
            widths = [max(len(r[i]) for r in [("target", "status", ""), *rows]) for i in range(2)]
            for name, status, detail in [("target", "status", "detail"), *rows]:
                click.echo(f"{name:<{widths[0]}}  {status:<{widths[1]}}  {detail}")
        click.echo(fleet_summary(report))
    if footer:
        click.echo(footer, err=True)
