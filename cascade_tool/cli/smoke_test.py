"""`cascade-tool smoke-test`: delete a test user in a rolled-back transaction and check every table."""

from __future__ import annotations

from pathlib import Path

import click

from cascade_tool import catalog, output
from cascade_tool import smoke as smoke_lib
from cascade_tool.cli.options import exit_found_if, json_option, manifest_option, require_url, url_option
from cascade_tool.manifest import load_manifest


@click.command("smoke-test")
@manifest_option
@url_option
@json_option()
def smoke_test(manifest_path: Path, database_url: str | None, as_json: bool) -> None:
    """Create a test user, add a row to every manifest table, delete the user, check, roll back.

    Every row must be gone (CASCADE) or kept with its reference cleared (SET NULL), as the
    manifest says. All of it runs in one transaction that is rolled back: no row is kept, but
    sequences it drew from stay advanced, and it holds ROW EXCLUSIVE locks on every manifest
    table until the end (they block DDL there, not reads or writes). Tables it cannot fill
    automatically are reported, not failed.

    Exit codes: 0 every filled table behaved as the manifest says; 1 a row did not, or the
    delete failed; 2 usage, input or connection error.
    """
    manifest = load_manifest(manifest_path)
    with catalog.connect(require_url(database_url)) as conn:
        result = smoke_lib.run(conn, manifest)
    output.smoke_test(result, as_json=as_json)
    exit_found_if(not result.ok)
