"""`validate`: validate the manifest's NOT VALID foreign keys after the deploy, in a window."""

from __future__ import annotations

from pathlib import Path

import click

from cascade_tool import output
from cascade_tool import validate as validation
from cascade_tool.cli.options import (
    exit_found_if,
    json_option,
    manifest_option,
    require_url,
    schema_option,
    tenant_url,
    url_option,
)
from cascade_tool.manifest import load_manifest


@click.command()
@manifest_option
@url_option
@schema_option
@click.option("--jobs", "-j", type=click.IntRange(min=1), default=1, show_default=True,
              help="Connections validating in parallel (never two on the same table).")
@click.option("--max-duration", metavar="DURATION",
              help="Start no new validation after this long (30m, 2h, 90s); what remains is listed.")
@click.option("--statement-timeout", metavar="DURATION",
              help="Cancel one FK's validation (or orphan count) after this long [default: the server's].")
@json_option("One JSON document instead of progress lines.")
def validate(
    manifest_path: Path,
    database_url: str | None,
    tenant_schema: str | None,
    jobs: int,
    max_duration: str | None,
    statement_timeout: str | None,
    as_json: bool,
) -> None:
    """Validate every NOT VALID foreign key the manifest covers: run it after the deploy.

    Covers FKs the upgrade left pending (validate = "later") and FKs that were NOT VALID before
    it. Each FK: ALTER TABLE ... VALIDATE CONSTRAINT runs in a transaction of its own, which
    blocks no reads or writes; if rows reference no parent, the validation fails and changes
    nothing, and those orphan rows are counted: the FK is skipped and reported with the count
    and the command that lists them (nothing is deleted). One line per FK with its duration.
    Largest tables first; with --jobs N, N connections, never two on the same table.
    Resumable: a second run picks up what is still NOT VALID.

    Exit codes: 0 every covered FK is valid; 1 some remain NOT VALID (orphan rows, a failure,
    or --max-duration reached); 2 usage, input or connection error.
    """
    manifest = load_manifest(manifest_path)
    url = tenant_url(require_url(database_url), tenant_schema)
    budget = None if max_duration is None else validation.parse_duration(max_duration, "max_duration")
    timeout = (
        None if statement_timeout is None
        else validation.parse_duration(statement_timeout, "statement_timeout")
    )
    result = validation.run(url, manifest, jobs=jobs, max_duration=budget, statement_timeout=timeout,
                            progress=None if as_json else output.validate_progress)
    output.validate(result, as_json=as_json)
    exit_found_if(not result.ok)
