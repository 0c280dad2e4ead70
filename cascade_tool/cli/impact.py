"""`cascade-tool impact`: what deleting some target rows would do, computed read-only."""

from __future__ import annotations

import click

from cascade_tool import catalog, output
from cascade_tool import impact as impact_lib
from cascade_tool.cli.options import exit_found_if, json_option, require_url, url_option
from cascade_tool.manifest import parse_table_name


@click.command()
@url_option
@click.option("--target", default="users", show_default=True, help="The table rows are deleted from.")
@click.option("--where", "where", metavar="SQL", help='Which rows, as a SQL condition: "id = 12345".')
@click.option("--id", "key", metavar="VALUE", help="Shorthand for a one-column primary key = VALUE.")
@click.option("--timeout-ms", default=30000, show_default=True, help="statement_timeout for each query.")
@json_option()
def impact(database_url: str | None, target: str, where: str | None, key: str | None,
           timeout_ms: int, as_json: bool) -> None:
    """Show what deleting some target rows would do, table by table, changing nothing.

    Follows every declared FK from the matched rows: rows CASCADE would delete (and what those
    reach), rows SET NULL / SET DEFAULT would change, and the FKs that would make the delete
    fail. Runs in a READ ONLY transaction that is rolled back; --where is sent as a prepared
    statement (one command only) under a statement_timeout.

    Exit codes: 0 the delete would succeed; 1 it would fail (blocking FKs listed);
    2 usage, input or connection error.
    """
    if (where is None) == (key is None):
        raise click.UsageError("give exactly one of --where and --id")
    table = parse_table_name(target, "--target")
    with catalog.connect(require_url(database_url)) as conn:
        result = impact_lib.compute(conn, table, where=where, key=[key] if key is not None else None,
                                    statement_timeout_ms=timeout_ms)
    output.impact(result, as_json=as_json)
    exit_found_if(result.would_fail)
