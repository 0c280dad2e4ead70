"""`cascade-tool verify`: check a database against the manifest after a deploy."""

from __future__ import annotations

from pathlib import Path

import click

from cascade_tool import catalog, output
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
    "--strict", is_flag=True,
    help="Fail on every warning too: NOT VALID FKs (pending validations included) and FKs to the "
    "target missing from the manifest.",
)
@click.option(
    "--print-sql",
    is_flag=True,
    help="Print a query for psql that returns one row per manifest entry, and exit.",
)
def verify(
    manifest_path: Path, database_url: str | None, tenant_schema: str | None, as_json: bool, strict: bool,
    print_sql: bool,
) -> None:
    """Check a database against the manifest after a deploy; fail loudly on any drift.

    Drift: an FK whose ON DELETE differs from the manifest, an FK that is NOT ENFORCED, a
    missing FK, a missing table/column the manifest does not mark optional, or an FK an upgrade
    swapped or created and did not finish validating. On a Citus coordinator, also a shard
    placement (on any node) whose copy of a matching FK has another ON DELETE, or none.

    Warnings (each with the VALIDATE CONSTRAINT statement that clears it): an FK that is NOT
    VALID with the right ON DELETE (as it was before the upgrade; its action applies all the
    same), an FK whose validation is pending (validate = "later"; run cascade-tool validate),
    and FKs to the target that the manifest lacks. --strict turns every warning into a failure.

    Exit codes: 0 no drift (warnings allowed, unless --strict); 1 drift found, or a warning
    with --strict; 2 usage, input or connection error.
    """
    manifest = load_manifest(manifest_path)
    if print_sql:
        output.verify_sql(catalog.print_sql(manifest))
        return
    with catalog.connect(tenant_url(require_url(database_url), tenant_schema)) as conn:
        result = planning.verify(conn, manifest, strict=strict)
    output.verify(result, manifest, as_json=as_json)
    exit_found_if(not result.ok)
