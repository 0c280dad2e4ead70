"""`orphans`: the read-only report of rows a new (or NOT VALID) FK would reject."""

from __future__ import annotations

from pathlib import Path

import click

from cascade_tool import catalog, output
from cascade_tool import orphans as orphans_lib
from cascade_tool.cli.options import exit_found_if, json_option, manifest_option, require_url, url_option
from cascade_tool.manifest import load_manifest


@click.command()
@manifest_option
@url_option
@json_option("A JSON list of entries.")
def orphans(manifest_path: Path, database_url: str | None, as_json: bool) -> None:
    """Count the rows each missing (or NOT VALID) foreign key would reject, changing nothing.

    For every manifest entry whose FK does not exist yet, or exists NOT VALID: the orphan rows
    (rows whose key matches no row of the referenced table), the number of distinct missing
    keys and up to five of them, and what the entry's `orphans` policy will do with them. When
    the referenced columns are not unique, the number of duplicate key values (a UNIQUE
    constraint cannot be added while there are any) and whether `add_unique` is set. Runs in a
    READ ONLY transaction.

    Exit codes: 0 no orphan row (and referenced keys unique); 1 orphan rows, duplicate
    referenced keys, or referenced columns not unique without add_unique; 2 usage, input or
    connection error.
    """
    url = require_url(database_url)
    manifest = load_manifest(manifest_path)
    with catalog.connect(url) as conn:
        findings = orphans_lib.report(conn, manifest)
    output.orphans(findings, as_json=as_json)
    exit_found_if(any(f.found for f in findings))
