"""`orphans`: the read-only report of rows a new (or NOT VALID) FK would reject."""

from __future__ import annotations

import json
from pathlib import Path

import click

from cascade_tool import catalog
from cascade_tool import orphans as orphans_lib
from cascade_tool.commands import manifest_option, require_url, url_option
from cascade_tool.manifest import load_manifest

EXIT_FOUND = 1

_CONSEQUENCE = {
    "fail": 'orphans = "fail": the upgrade stops before changing anything '
            '(set orphans = "quarantine" or "set-null" to keep them aside)',
    "quarantine": 'orphans = "quarantine": the upgrade moves them to cascade_quarantine.rows '
                  "(cascade-tool quarantine restore puts them back)",
    "set-null": 'orphans = "set-null": the upgrade sets {cols} to NULL and keeps the old values in '
                "cascade_quarantine.rows",
}


def _lines(f: orphans_lib.Finding) -> list[str]:
    cols = ", ".join(f.columns)
    state = "no foreign key yet" if f.constraint is None else f"foreign key {f.constraint} is NOT VALID"
    out = [f"tables[{f.entry}] {f.table}({cols}) -> {f.target}({', '.join(f.references)}): {state}"]
    if f.orphans:
        shown = [", ".join("NULL" if v is None else v for v in k) for k in f.sample_keys]
        keys = ", ".join(shown if len(f.columns) == 1 else [f"({k})" for k in shown])
        more = ", ..." if f.missing_keys > len(f.sample_keys) else ""
        out.append(f"  {f.orphans} orphan row(s), {f.missing_keys} missing key(s): {keys}{more}")
        if f.constraint is None:
            out.append("  " + _CONSEQUENCE[f.policy].format(cols=cols))
        else:
            out.append("  the upgrade leaves NOT VALID foreign keys alone; "
                       "VALIDATE CONSTRAINT fails until these rows are resolved")
    else:
        out.append("  no orphan row")
    if f.status == "not_unique":
        dup = f"{f.duplicate_keys} referenced key value(s) occur more than once"
        if f.add_unique:
            fix = ("add_unique = true: the UNIQUE constraint cannot be added until they are fixed"
                   if f.duplicate_keys else "add_unique = true: the upgrade adds the UNIQUE constraint")
        else:
            fix = "the upgrade stops: set add_unique = true, or add a unique constraint"
        out.append(f"  {f.target}({', '.join(f.references)}) is not unique: {dup}; {fix}")
    return out


@click.command()
@manifest_option
@url_option
@click.option("--json", "as_json", is_flag=True, help="A JSON list of entries.")
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
    found = [f for f in findings if f.found]
    total = sum(f.orphans for f in findings)
    if as_json:
        click.echo(json.dumps([f.to_json() for f in findings], indent=2))
    else:
        for f in findings:
            for line in _lines(f):
                click.echo(line)
    if not findings:
        click.echo("orphans: no entry needs a new or NOT VALID foreign key; nothing to check", err=True)
    elif found:
        click.echo(f"FOUND: {total} orphan row(s); {len(found)} of {len(findings)} entries to deal with "
                   "(read-only: nothing was changed)", err=True)
    else:
        click.echo(f"OK: {len(findings)} entries checked, no orphan row (read-only: nothing was changed)", err=True)
    if found:
        raise SystemExit(EXIT_FOUND)


COMMANDS = [orphans]
