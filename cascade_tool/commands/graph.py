"""`discover` and `lint`: commands over the catalog's FK graph around a target table.

Like the core commands, each parses, makes one library call (cascade_tool.discover,
cascade_tool.lint) and prints: data on stdout, status on stderr.
"""

from __future__ import annotations

import json
from pathlib import Path

import click

from cascade_tool import catalog
from cascade_tool.commands import require_url, url_option
from cascade_tool.discover import discover as run_discover
from cascade_tool.discover import merge_file, render
from cascade_tool.lint import SEVERITIES
from cascade_tool.lint import lint as run_lint
from cascade_tool.manifest import load_manifest

EXIT_FOUND = 1

_no_counts_option = click.option(
    "--no-counts", is_flag=True, help="Skip the read-only row counts (for very large tables)."
)



def _write(text: str, out: Path | None) -> None:
    if out is None:
        click.echo(text, nl=False)
        return
    try:
        with out.open("w", encoding="utf-8", newline="") as handle:
            handle.write(text)
    except OSError as exc:
        raise click.FileError(str(out), exc.strerror) from None


@click.command()
@url_option
@click.option("--target", metavar="TABLE",
              help="The table rows are deleted from, e.g. users or public.users "
                   "[default with --merge: the manifest's].")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path),
              help="Write the manifest here instead of to stdout.")
@click.option("--merge", "merge_path", type=click.Path(dir_okay=False, path_type=Path),
              help="An existing manifest: keep it as written, add only what is new, mark entries "
                   "whose FK is gone as stale.")
@_no_counts_option
def discover(database_url: str | None, target: str | None, out: Path | None,
             merge_path: Path | None, no_counts: bool) -> None:
    """Write a manifest from the catalog: every FK that reaches the target, with a proposal.

    Lists each declared foreign key whose referenced table is the target or reaches it through
    other FKs (chain entries carry `target`), with a proposed ON DELETE action and a comment
    saying why. Columns that look like references to the target but have no FK are added as
    commented-out candidates with their orphan counts. Per-partition copies are never listed.
    The output is sorted and stable.

    \b
      cascade-tool discover --target users --out manifest.toml
      cascade-tool discover --merge manifest.toml --out manifest.toml

    Exit codes: 0 written; 2 usage, input or connection error (an unknown target, say).
    """
    if merge_path is None and not target:
        raise click.UsageError("pass --target TABLE (or --merge MANIFEST)")
    with catalog.connect(require_url(database_url)) as conn:
        if merge_path is not None:
            found, merged = merge_file(conn, merge_path, target, count_orphans=not no_counts)
            text = merged.text
        else:
            found = run_discover(conn, str(target), count_orphans=not no_counts)
            text = render(found)
    _write(text, out)
    click.echo(f"discover: {found.summary()}", err=True)
    if merge_path is not None:
        click.echo(f"merged into {merge_path}: {merged.summary()}", err=True)
        for line in (*merged.stale, *merged.notes):
            click.echo(f"  {line}", err=True)
    if out is not None:
        click.echo(f"wrote {out}", err=True)


@click.command()
@click.option("--manifest", "manifest_path", type=click.Path(dir_okay=False, path_type=Path),
              help="Lint the graph as this manifest will leave it.")
@click.option("--target", metavar="TABLE", help="Without a manifest: lint the graph around this table.")
@url_option
@click.option("--json", "as_json", is_flag=True, help="A JSON list of findings.")
@click.option("--fail-on", type=click.Choice(SEVERITIES), default="error", show_default=True,
              help="Exit 1 when a finding has this severity or a higher one.")
@_no_counts_option
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
    with catalog.connect(require_url(database_url)) as conn:
        result = run_lint(conn, manifest=manifest, target=target, count=not no_counts)
    if as_json:
        click.echo(json.dumps(result.to_json(), indent=2))
        click.echo(result.summary(), err=True)
    else:
        for line in result.lines():
            click.echo(line)
    if result.fails(fail_on):
        raise SystemExit(EXIT_FOUND)


COMMANDS = [discover, lint]
