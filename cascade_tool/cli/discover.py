"""`cascade-tool discover`: write a manifest from the catalog, or merge into one."""

from __future__ import annotations

from pathlib import Path

import click

from cascade_tool import catalog, output
from cascade_tool.cli.options import no_counts_option, require_url, url_option
from cascade_tool.discover import discover as run_discover
from cascade_tool.manifest import parse_table_name
from cascade_tool.manifest.merge import merge_file
from cascade_tool.manifest.write import render


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
@no_counts_option
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
    table = parse_table_name(target, "--target") if target else None
    merged = None
    with catalog.connect(require_url(database_url)) as conn:
        if merge_path is not None:
            found, merged = merge_file(conn, merge_path, table, count_orphans=not no_counts)
            text = merged.text
        else:
            assert table is not None
            found = run_discover(conn, table, count_orphans=not no_counts)
            text = render(found)
    output.discover(text, found, merged, merge_path, out)
