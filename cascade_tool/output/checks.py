"""The read-only checks and the quarantine: orphans, quarantine, preflight, check-models."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from cascade_tool.manifest import Manifest
from cascade_tool.output.common import echo_json, status

if TYPE_CHECKING:
    from cascade_tool.models import ModelCheck
    from cascade_tool.orphans import Finding as OrphanFinding
    from cascade_tool.preflight import Preflight
    from cascade_tool.quarantine import Group, Purged, Restored


# --- orphans and quarantine -------------------------------------------------------------------

_CONSEQUENCE = {
    "fail": 'orphans = "fail": the upgrade stops before changing anything '
            '(set orphans = "quarantine" or "set-null" to keep them aside)',
    "quarantine": 'orphans = "quarantine": the upgrade moves them to cascade_quarantine.rows '
                  "(cascade-tool quarantine restore puts them back)",
    "set-null": 'orphans = "set-null": the upgrade sets {cols} to NULL and keeps the old values in '
                "cascade_quarantine.rows",
}


def _orphan_lines(f: OrphanFinding) -> list[str]:
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


def orphans(findings: list[OrphanFinding], *, as_json: bool) -> None:
    """Per entry, the rows its FK would reject, then a verdict on stderr."""
    found = [f for f in findings if f.found]
    total = sum(f.orphans for f in findings)
    if as_json:
        echo_json([f.to_json() for f in findings])
    else:
        for f in findings:
            for line in _orphan_lines(f):
                click.echo(line)
    if not findings:
        status("orphans: no entry needs a new or NOT VALID foreign key; nothing to check")
    elif found:
        status(f"FOUND: {total} orphan row(s); {len(found)} of {len(findings)} entries to deal with "
               "(read-only: nothing was changed)")
    else:
        status(f"OK: {len(findings)} entries checked, no orphan row (read-only: nothing was changed)")


def quarantine_list(groups: list[Group], *, as_json: bool) -> None:
    if as_json:
        echo_json([g.to_json() for g in groups])
    else:
        for g in groups:
            verb = "moved out" if g.action == "moved" else "nulled"
            click.echo(
                f"{g.revision}  {g.table}  {verb}: {g.pending} in quarantine, {g.restored} restored"
                f"  ({g.oldest:%Y-%m-%d %H:%M:%S%z} .. {g.newest:%Y-%m-%d %H:%M:%S%z}; {', '.join(g.constraints)})"
            )
    pending = sum(g.pending for g in groups)
    status(f"quarantine: {pending} row(s) in quarantine in {len(groups)} group(s)")


def quarantine_restore(result: Restored, *, as_json: bool) -> None:
    if as_json:
        echo_json(result.to_json())
    else:
        click.echo(f"restored {result.restored} row(s); gave {result.unnulled} nulled row(s) their values back")
        for left in result.left:
            click.echo(
                f"left in quarantine: {left.revision} {left.table} ({left.action}): {left.rows} row(s), "
                f"ids {', '.join(str(i) for i in left.ids)}{', ...' if left.rows > len(left.ids) else ''}: {left.why}"
            )
    if result.left:
        status(f"restore: {sum(x.rows for x in result.left)} row(s) stay in quarantine")


def quarantine_purge(purged: list[Purged], older_than: str, *, as_json: bool) -> None:
    if as_json:
        echo_json([p.to_json() for p in purged])
    else:
        for p in purged:
            click.echo(
                f"removed {p.rows} row(s) of {p.table} ({p.action}) quarantined by {p.revision}, "
                f"{p.never_restored} never restored ({p.oldest:%Y-%m-%d} .. {p.newest:%Y-%m-%d})"
            )
    status(f"purge: removed {sum(p.rows for p in purged)} row(s) quarantined more than {older_than} ago")


# --- preflight --------------------------------------------------------------------------------


def preflight_summary(result: Preflight) -> str:
    warnings = len(result.warnings)
    infos = len(result.findings) - warnings
    verdict = (
        "the upgrade would wait or fail here now: see the warnings"
        if warnings
        else "nothing would make the upgrade wait or fail here now"
    )
    return f"{warnings} warning(s), {infos} info: {verdict}."


def _version(num: int) -> str:
    return f"{num // 10000}.{num % 10000}"


def preflight(result: Preflight, manifest: Manifest, *, as_json: bool) -> None:
    if as_json:
        echo_json(result.to_json(), default=str)
        status(preflight_summary(result))
        return
    click.echo(
        f"Preflight for {manifest.source} on database {result.database} "
        f"(PostgreSQL {_version(result.server_version)}), {len(manifest.active)} entries, "
        f"{result.seconds:.2f} s"
    )
    width = max((len(f.kind) for f in result.findings), default=0)
    for finding in result.findings:
        click.echo(f"{finding.severity:<8} {finding.kind:<{width}}  {finding.message}")
    click.echo(preflight_summary(result))


# --- check-models -----------------------------------------------------------------------------


def check_models(result: ModelCheck, *, as_json: bool) -> None:
    """One block per finding (severity, where, what, why, fix), then a summary."""
    if as_json:
        echo_json(result.to_json())
        return
    from cascade_tool.models import ERROR

    lines = [f"cascade-tool check-models: {result.models} against {result.manifest}"]
    for f in result.findings:
        lines += [
            "",
            f"{f.severity}: {f.where}: {f.obj}",
            f"  entry: {f.subject}",
            f"  wrong: {f.problem}",
            f"  why:   {f.why}",
            f"  fix:   {f.fix}",
        ]
    lines.append("")
    for note in result.notes:
        lines.append(f"note: {note}")
    checked = (
        f"{result.entries} entries, {result.fks} model FKs and {result.relationships} relationships checked"
    )
    if result.ok:
        lines.append(f"OK: {checked}; the models agree with the manifest.")
    else:
        errors = sum(f.severity == ERROR for f in result.findings)
        warnings = len(result.findings) - errors
        lines.append(f"FAILED: {checked}: {errors} error(s), {warnings} warning(s).")
    for line in lines:
        click.echo(line)
