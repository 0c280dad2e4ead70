"""`cascade-tool plan`: what `alembic upgrade` would do to this database, entry by entry."""

from __future__ import annotations

from pathlib import Path

import click

from cascade_tool import catalog, distributed, output
from cascade_tool import plan as planning
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
@json_option()
@click.option(
    "--sql", "as_sql", is_flag=True,
    help="Print the statements as one SQL script, in the revision's order and transactions (for review and linters).",
)
def plan(manifest_path: Path, database_url: str | None, tenant_schema: str | None, as_json: bool, as_sql: bool) -> None:
    """Show what `alembic upgrade` would do to this database, entry by entry (read-only).

    Lists the exact statements per FK, what it would leave alone and why, what it would skip,
    and what would stop it (orphan rows for an FK it must create).

    On a Citus coordinator, also per entry: what kind of Citus table it is, how the revision
    will swap its FK there, and whether Citus would reject the new FK, and why.

    Exit codes: 0 the upgrade would run (or there is nothing to do); 1 it would stop
    (blocked entries, or entries Citus would reject); 2 usage, input or connection error.
    """
    manifest = load_manifest(manifest_path)
    url = tenant_url(require_url(database_url), tenant_schema)
    with catalog.connect(url) as conn, output.progress_status("looking up the manifest") as status:
        steps = planning.build_steps(conn, manifest, progress=status)
        citus = distributed.check(conn, steps)
        steps = distributed.as_on_citus(steps, citus)
    output.plan(steps, manifest, as_json=as_json, as_sql=as_sql, citus=citus)
    exit_found_if(any(s.action == "blocked" for s in steps) or bool(citus.rejected))
