"""`cascade-tool preflight`: before a deploy, what would make the upgrade wait or fail here now.

The library is cascade_tool/preflight.py (one read-only query, sql/preflight.sql, written so the
generated revision can run it at its start).
"""

from __future__ import annotations

from pathlib import Path

import click

from cascade_tool import catalog, output
from cascade_tool import preflight as preflight_lib
from cascade_tool.cli.options import exit_found_if, json_option, manifest_option, require_url, url_option
from cascade_tool.manifest import load_manifest


@click.command()
@manifest_option
@url_option
@json_option("Print {database, server_version_num, seconds, warnings, findings: [...]}.")
@click.option("--long-transaction-seconds", type=click.FloatRange(min=0),
              default=preflight_lib.DEFAULT_LONG_TRANSACTION_SECONDS, show_default=True, metavar="SECONDS",
              help="Report transactions open at least this long.")
def preflight(manifest_path: Path, database_url: str | None, as_json: bool, long_transaction_seconds: float) -> None:
    """Before a deploy: what would make the upgrade wait or fail in this database right now.

    \b
    Reports, read-only (one query in a READ ONLY transaction, rolled back):
      - transactions open longer than --long-transaction-seconds (this session excluded);
      - sessions holding or waiting for locks on the manifest's tables, the tables they
        reference, or their partitions (the swap would wait for them);
      - per entry: estimated rows, size, whether an index covers the FK columns, and a rough
        validation cost (partitioned tables summed over their partitions; on a Citus
        coordinator, tables Citus shards or replicates summed over their shards);
      - on PostgreSQL 17 and earlier, partitioned tables whose FK is validated inside the swap;
      - max_locks_per_transaction against the lock slots of the largest swap step.
    The query is written to be embedded verbatim in the generated revision, whose upgrade
    runs it first and raises its findings as warnings.

    Exit codes: 0 no warnings; 1 warnings (the upgrade would wait or fail now);
    2 usage, input or connection error.
    """
    manifest = load_manifest(manifest_path)
    with catalog.connect(require_url(database_url)) as conn:
        result = preflight_lib.run(conn, manifest, long_transaction_seconds)
    output.preflight(result, manifest, as_json=as_json)
    exit_found_if(bool(result.warnings))
