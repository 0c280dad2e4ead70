"""`quarantine list | restore | purge`: the rows an upgrade kept aside to add a missing FK."""

from __future__ import annotations

import click

from cascade_tool import catalog, output
from cascade_tool import quarantine as quarantine_lib
from cascade_tool.cli.options import exit_found_if, json_option, require_url, tenant_url, url_option
from cascade_tool.manifest import TableName, parse_table_name

_revision_option = click.option("--revision", metavar="REV", help="Only rows this revision quarantined.")
_schema_option = click.option(
    "--schema", "tenant_schema", metavar="SCHEMA",
    help="One tenant of a database whose tenants are schemas: only rows of tables in SCHEMA.",
)
_table_option = click.option("--table", "table_name", metavar="TABLE",
                             help="Only rows of this table (schema.table; a bare name matches any schema).")


def _table(text: str | None) -> TableName | None:
    return parse_table_name(text, "--table") if text else None


@click.group()
def quarantine() -> None:
    """Rows an upgrade moved to cascade_quarantine.rows (or whose FK columns it set to NULL).

    \b
      cascade-tool quarantine list                       # by revision and table
      cascade-tool quarantine restore --revision REV     # put rows back where they can go
      cascade-tool quarantine purge --older-than 30d     # delete after a retention period

    Tenants that share a database share cascade_quarantine.rows: --schema picks one tenant.
    """


@quarantine.command("list")
@url_option
@_revision_option
@_table_option
@_schema_option
@json_option()
def list_(database_url: str | None, revision: str | None, table_name: str | None, tenant_schema: str | None,
          as_json: bool) -> None:
    """What was quarantined, per revision, table and action: counts, oldest and newest (read-only).

    Exit codes: 0 listed (even when empty); 2 usage, input or connection error.
    """
    table = _table(table_name)
    with catalog.connect(tenant_url(require_url(database_url), tenant_schema)) as conn:
        groups = quarantine_lib.list_groups(conn, revision, table, tenant_schema)
    output.quarantine_list(groups, as_json=as_json)


@quarantine.command()
@url_option
@_revision_option
@_table_option
@_schema_option
@json_option()
def restore(database_url: str | None, revision: str | None, table_name: str | None, tenant_schema: str | None,
            as_json: bool) -> None:
    """Put quarantined rows back into their tables, and nulled values back into their rows.

    Each row goes back only if it can: its parents exist (every FK on the table now is
    checked), no row with the same key is there again, and a nulled row still exists with its
    columns still NULL. The others stay in quarantine and are listed. One transaction: each row
    is back, or untouched in quarantine.

    Exit codes: 0 everything selected is back; 1 some rows stay in quarantine; 2 usage, input
    or connection error.
    """
    table = _table(table_name)
    with catalog.connect(tenant_url(require_url(database_url), tenant_schema)) as conn:
        result = quarantine_lib.restore(conn, revision, table, tenant_schema)
    output.quarantine_restore(result, as_json=as_json)
    exit_found_if(bool(result.left))


@quarantine.command()
@url_option
@click.option("--older-than", "older_than", required=True, metavar="AGE",
              help="Retention: remove rows quarantined longer ago than this (30d, 12h, 2w, 90min).")
@_revision_option
@_table_option
@_schema_option
@json_option()
def purge(database_url: str | None, older_than: str, revision: str | None, table_name: str | None,
          tenant_schema: str | None, as_json: bool) -> None:
    """Delete quarantined rows (restored or not) older than an explicit retention; print them.

    The copies are gone for good afterwards: restore what you need first.

    Exit codes: 0 purged (or nothing that old); 2 usage, input or connection error.
    """
    age = quarantine_lib.parse_duration(older_than)
    table = _table(table_name)
    with catalog.connect(tenant_url(require_url(database_url), tenant_schema)) as conn:
        purged = quarantine_lib.purge(conn, age, revision, table, tenant_schema)
    output.quarantine_purge(purged, older_than, as_json=as_json)
