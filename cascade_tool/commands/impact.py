"""`impact` and `smoke-test`: what deleting a user does, before and after a deploy."""

from __future__ import annotations

import json
from pathlib import Path

import click

from cascade_tool import catalog
from cascade_tool import impact as impact_lib
from cascade_tool import smoke as smoke_lib
from cascade_tool.commands import manifest_option, require_url, url_option
from cascade_tool.manifest import load_manifest, parse_table_name


@click.command()
@url_option
@click.option("--target", default="users", show_default=True, help="The table rows are deleted from.")
@click.option("--where", "where", metavar="SQL", help='Which rows, as a SQL condition: "id = 12345".')
@click.option("--id", "key", metavar="VALUE", help="Shorthand for a one-column primary key = VALUE.")
@click.option("--timeout-ms", default=30000, show_default=True, help="statement_timeout for each query.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
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
    if as_json:
        click.echo(json.dumps(result.to_json(), indent=2))
    else:
        click.echo(f"Deleting from {result.target} where {result.condition}: {result.matched} row(s) match.")
        click.echo("Computed read-only (a READ ONLY transaction, rolled back): nothing was changed.")
        for t in result.tables:
            via = f"  via {', '.join(t.via)}" if t.via else ""
            click.echo(f"  delete    {t.table}: {t.deleted}{via}")
        for e in result.nulled:
            click.echo(f"  {e.on_delete.lower():<9} {e.table}({', '.join(e.columns)}): {e.rows}  via {e.constraint}")
        for e in result.blocked:
            click.echo(f"  BLOCKED   {e.table}({', '.join(e.columns)}): {e.rows}  by {e.constraint}: {e.why}")
        if result.would_fail:
            click.echo(f"The delete would fail: {len(result.blocked)} blocking foreign key(s).")
        else:
            click.echo("The delete would succeed.")
    if result.would_fail:
        raise SystemExit(1)


@click.command("smoke-test")
@manifest_option
@url_option
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def smoke_test(manifest_path: Path, database_url: str | None, as_json: bool) -> None:
    """Create a test user, add a row to every manifest table, delete the user, check, roll back.

    Every row must be gone (CASCADE) or kept with its reference cleared (SET NULL), as the
    manifest says. All of it runs in one transaction that is always rolled back. Tables it
    cannot fill automatically are reported, not failed.

    Exit codes: 0 every filled table behaved as the manifest says; 1 a row did not, or the
    delete failed; 2 usage, input or connection error.
    """
    manifest = load_manifest(manifest_path)
    with catalog.connect(require_url(database_url)) as conn:
        result = smoke_lib.run(conn, manifest)
    if as_json:
        click.echo(json.dumps(result.to_json(), indent=2, default=str))
    else:
        click.echo(f"Smoke test on {result.target} (one transaction, rolled back: nothing was kept)")
        for c in result.checks:
            click.echo(f"  {c.result:<10} {c.table}({', '.join(c.columns)}) {c.on_delete}: {c.detail}")
        if result.delete_error:
            click.echo(f"FAILED: deleting the test user failed: {result.delete_error}")
        failed = sum(c.failed for c in result.checks)
        filled = sum(c.result in ("deleted", "nulled", "defaulted") for c in result.checks)
        not_filled = sum(c.result == "not filled" for c in result.checks)
        click.echo(f"{'OK' if result.ok else 'FAILED'}: {filled} checked, {failed} failed, "
                   f"{not_filled} not filled automatically.")
    if not result.ok:
        raise SystemExit(1)


COMMANDS = [impact, smoke_test]
