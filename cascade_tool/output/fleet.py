"""fleet plan, verify and apply: one row per target, a summary, progress while they run."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import click
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, TextColumn
from rich.progress import Progress as RichProgress
from rich.table import Table

from cascade_tool.fleet.run import FleetReport, Progress
from cascade_tool.output.common import echo_json


def fleet_summary(report: FleetReport) -> str:
    parts = [f"{n} {status}" for status, n in report.counts().items() if n]
    verdict = "all fine" if report.ok else "see the rows above"
    stopped = ", interrupted" if report.interrupted else ""
    return (f"fleet {report.command}: {len(report.outcomes)} targets: {', '.join(parts) or 'none'} "
            f"in {report.seconds:.1f} s{stopped}; {verdict}.")


def _seconds(value: float | None) -> str:
    if value is None:
        return "?"
    value = round(value)
    return f"{value // 60} min {value % 60:02d} s" if value >= 60 else f"{value} s"


def progress_text(progress: Progress, now: float | None = None) -> str:
    """done/total, the problems so far, the rate and the time left: `12/200 done, 0 failed, ...`."""
    problems = ", ".join(f"{n} {s}" for s, n in progress.problems.items()) or "0 failed"
    rate = progress.rate(now)
    text = (f"{progress.done}/{progress.total} done, {problems}, {progress.running} running, "
            f"{rate:.1f} targets/s, ETA {_seconds(progress.eta(now)) if progress.done < progress.total else '0 s'}")
    return text + (f"; {progress.note}" if progress.note else "")


class _PlainProgress:
    """Progress as plain lines (a log, a pipe): at every tenth of the targets, at most every 30 s
    otherwise, and each note (an interruption) once."""

    EVERY_SECONDS = 30.0

    def __init__(self, command: str) -> None:
        self.command = command
        self.shown_done = 0
        self.shown_at = time.monotonic()
        self.notes: set[str] = set()

    def __call__(self, progress: Progress) -> None:
        now = time.monotonic()
        step = max(1, progress.total // 10)
        milestone = progress.done // step > self.shown_done // step or (
            progress.done == progress.total and self.shown_done < progress.total)
        if progress.done > self.shown_done and (milestone or now - self.shown_at >= self.EVERY_SECONDS):
            self.shown_done, self.shown_at = progress.done, now
            click.echo(f"fleet {self.command}: {progress_text(progress, now).split('; ')[0]}", err=True)
        if progress.note and progress.note.split(":")[0] not in self.notes:
            self.notes.add(progress.note.split(":")[0])
            click.echo(f"fleet {self.command}: {progress.note}", err=True)


@contextmanager
def fleet_status_line(command: str, console: Console | None = None) -> Iterator[Callable[[Progress], None]]:
    """Progress on stderr while targets run: on a terminal, a live bar with done/total, the
    problems so far, the rate and the time left; elsewhere, the same as a plain line now and then."""
    console = console or Console(stderr=True)
    if not console.is_terminal:
        yield _PlainProgress(command)
        return
    bar = RichProgress(TextColumn(f"fleet {command}"), BarColumn(), MofNCompleteColumn(),
                       TextColumn("{task.fields[text]}"), console=console, transient=False)
    with bar:
        task = bar.add_task(command, total=None, text="starting")

        def update(progress: Progress) -> None:
            text = progress_text(progress).split(" done, ", 1)[-1]
            bar.update(task, total=progress.total, completed=progress.done, text=text)

        yield update


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
