"""Shared by every command's output: JSON on stdout, status on stderr, a spinner, a file."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import click
from rich.console import Console


def echo_json(data: Any, *, default: Callable[[Any], Any] | None = None) -> None:
    """JSON on stdout, indented for people who read it too."""
    click.echo(json.dumps(data, indent=2, default=default))


def status(line: str) -> None:
    """A status or summary line, on stderr."""
    click.echo(line, err=True)


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


def write_text(text: str, out: Path | None) -> None:
    """A document (a manifest) to a file, or to stdout."""
    if out is None:
        click.echo(text, nl=False)
        return
    try:
        with out.open("w", encoding="utf-8", newline="") as handle:
            handle.write(text)
    except OSError as exc:
        raise click.FileError(str(out), exc.strerror) from None


