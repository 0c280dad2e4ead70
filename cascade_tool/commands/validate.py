"""`validate`: validate the manifest's NOT VALID foreign keys after the deploy, in a window."""

from __future__ import annotations

import json
from pathlib import Path

import click

from cascade_tool import validate as validation
from cascade_tool.commands import manifest_option, require_url, url_option
from cascade_tool.manifest import load_manifest

EXIT_FOUND = 1

_KIND = {
    "pending": "validation pending",
    "not_valid": "NOT VALID before the upgrade",
    "unfinished": "left NOT VALID by an unfinished upgrade",
}


def _line(o: validation.Outcome) -> str:
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


@click.command()
@manifest_option
@url_option
@click.option("--jobs", "-j", type=click.IntRange(min=1), default=1, show_default=True,
              help="Connections validating in parallel (never two on the same table).")
@click.option("--max-duration", metavar="DURATION",
              help="Start no new validation after this long (30m, 2h, 90s); what remains is listed.")
@click.option("--statement-timeout", metavar="DURATION",
              help="Cancel one FK's orphan count or validation after this long [default: the server's].")
@click.option("--json", "as_json", is_flag=True, help="One JSON document instead of progress lines.")
def validate(
    manifest_path: Path,
    database_url: str | None,
    jobs: int,
    max_duration: str | None,
    statement_timeout: str | None,
    as_json: bool,
) -> None:
    """Validate every NOT VALID foreign key the manifest covers: run it after the deploy.

    Covers FKs the upgrade left pending (validate = "later") and FKs that were NOT VALID before
    it. Each FK: its orphan rows are counted first (an FK with any is skipped and reported with
    the command that lists them; nothing is deleted), then ALTER TABLE ... VALIDATE CONSTRAINT
    runs in a transaction of its own, which blocks no reads or writes; one line per FK with its
    duration. Largest tables first; with --jobs N, N connections, never two on the same table.
    Resumable: a second run picks up what is still NOT VALID.

    Exit codes: 0 every covered FK is valid; 1 some remain NOT VALID (orphan rows, a failure,
    or --max-duration reached); 2 usage, input or connection error.
    """
    url = require_url(database_url)
    manifest = load_manifest(manifest_path)
    budget = None if max_duration is None else validation.parse_duration(max_duration, "--max-duration")
    timeout = (
        None if statement_timeout is None
        else validation.parse_duration(statement_timeout, "--statement-timeout")
    )

    def progress(outcome: validation.Outcome) -> None:
        if not as_json:
            click.echo(_line(outcome))

    result = validation.run(url, manifest, jobs=jobs, max_duration=budget, statement_timeout=timeout,
                            progress=progress)
    if as_json:
        click.echo(json.dumps(result.to_json(), indent=2))
    else:
        for outcome in result.outcomes:
            if outcome.result == "remaining":
                click.echo(_line(outcome))
    summary = (
        f"{result.count('validated')} validated, {result.count('orphans')} skipped for orphan rows, "
        f"{result.count('failed')} failed, {result.count('remaining')} remaining, "
        f"{result.valid} already valid; {result.seconds:.1f} s on {result.jobs} connection(s)"
    )
    if result.ok:
        click.echo(f"OK: {summary}", err=True)
    else:
        click.echo(f"NOT DONE: {summary}", err=True)
        raise SystemExit(EXIT_FOUND)


COMMANDS = [validate]
