"""`cascade-tool preflight`: before a deploy, what would make the upgrade wait or fail here now.

The library is cascade_tool/preflight.py (one read-only query, sql/preflight.sql, written so the
generated revision can run it at its start); this module parses, makes one call and prints.
"""

from __future__ import annotations

import json
from pathlib import Path

import click

from cascade_tool import catalog
from cascade_tool import preflight as preflight_lib
from cascade_tool.commands import manifest_option, require_url, url_option
from cascade_tool.manifest import load_manifest

EXIT_FOUND = 1



def _version(num: int) -> str:
    return f"{num // 10000}.{num % 10000}"


@click.command()
@manifest_option
@url_option
@click.option("--json", "as_json", is_flag=True,
              help="Print {database, server_version_num, seconds, warnings, findings: [...]}.")
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
        validation cost (partitioned tables summed over their partitions);
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
    if as_json:
        click.echo(json.dumps(result.to_json(), indent=2, default=str))
        click.echo(result.summary(), err=True)
    else:
        click.echo(
            f"Preflight for {manifest.source} on database {result.database} "
            f"(PostgreSQL {_version(result.server_version)}), {len(manifest.active)} entries, "
            f"{result.seconds:.2f} s"
        )
        width = max((len(f.kind) for f in result.findings), default=0)
        for finding in result.findings:
            click.echo(f"{finding.severity:<8} {finding.kind:<{width}}  {finding.message}")
        click.echo(result.summary())
    if result.warnings:
        raise SystemExit(EXIT_FOUND)


COMMANDS = [preflight]
