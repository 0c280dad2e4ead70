"""`cascade-tool lint`: what makes deleting a target row fail or scan, in the FK graph around it."""

from __future__ import annotations

from pathlib import Path

import click

from cascade_tool import catalog, output
from cascade_tool.cli.options import exit_found_if, json_option, no_counts_option, require_url, url_option
from cascade_tool.lint import SEVERITIES
from cascade_tool.lint import lint as run_lint
from cascade_tool.manifest import load_manifest, parse_table_name


@click.command()
@click.option("--manifest", "manifest_path", type=click.Path(dir_okay=False, path_type=Path),
              help="Lint the graph as this manifest will leave it.")
@click.option("--target", metavar="TABLE", help="Without a manifest: lint the graph around this table.")
@url_option
@json_option("A JSON list of findings.")
@click.option("--fail-on", type=click.Choice(SEVERITIES), default="error", show_default=True,
              help="Exit 1 when a finding has this severity or a higher one.")
@no_counts_option
def lint(manifest_path: Path | None, target: str | None, database_url: str | None, as_json: bool,
         fail_on: str, no_counts: bool) -> None:
    """Find what makes deleting a target row fail or scan, in the FK graph around it.

    With --manifest, each FK an entry matches is judged with the entry's ON DELETE, as the
    deploy will leave it; with --target, as the database is today. Findings: SET NULL on NOT
    NULL columns, blocking RESTRICT / NO ACTION FKs and the target rows they hold (read-only
    counts), FK columns without an index, NOT VALID FKs, manifest entries that match nothing,
    cycles, several paths to one table, SET NULL paths that stop a cascade.

    Exit codes: 0 no finding at or above --fail-on; 1 such findings; 2 usage, input or
    connection error.
    """
    if (manifest_path is None) == (target is None):
        raise click.UsageError("pass either --manifest PATH or --target TABLE")
    manifest = load_manifest(manifest_path) if manifest_path is not None else None
    table = parse_table_name(target, "--target") if target is not None else None
    with catalog.connect(require_url(database_url)) as conn:
        result = run_lint(conn, manifest=manifest, target=table, count=not no_counts)
    output.lint(result, as_json=as_json)
    exit_found_if(result.fails(fail_on))
