"""Everything the commands print: text (and rich tables) and JSON, for every command.

The library returns data (frozen dataclasses); the commands in cascade_tool/cli hand it here.
Data goes to stdout, status and summaries to stderr. Plain sentences, no colour codes unless
stdout is a terminal (rich decides), no emoji.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click
from rich.console import Console
from rich.table import Table

from cascade_tool.manifest import Manifest
from cascade_tool.plan import Step, Verification

if TYPE_CHECKING:  # the results of the other commands (imported lazily by their commands)
    from cascade_tool.demo import DemoEvent
    from cascade_tool.discover import Discovery
    from cascade_tool.impact import Impact
    from cascade_tool.lint import LintResult
    from cascade_tool.manifest.merge import Merged
    from cascade_tool.models import ModelCheck
    from cascade_tool.orphans import Finding as OrphanFinding
    from cascade_tool.preflight import Preflight
    from cascade_tool.quarantine import Group, Purged, Restored
    from cascade_tool.revisions import CheckResult
    from cascade_tool.smoke import SmokeResult
    from cascade_tool.validate import Outcome, ValidationRun


def echo_json(data: Any, *, default: Callable[[Any], Any] | None = None) -> None:
    """JSON on stdout, indented for people who read it too."""
    click.echo(json.dumps(data, indent=2, default=default))


def status(line: str) -> None:
    """A status or summary line, on stderr."""
    click.echo(line, err=True)


def _by_group(steps: Iterable[Step]) -> dict[str, list[Step]]:
    out: dict[str, list[Step]] = {}
    for step in steps:
        out.setdefault(step.group or "Ungrouped", []).append(step)
    return out


def _where(step: Step) -> str:
    return f"{step.table}({', '.join(step.columns)})"


def print_plan(steps: list[Step], manifest: Manifest) -> None:
    """The plan as a reviewer reads it: per group, per entry, the statements to run."""
    click.echo(f"Plan for {manifest.source} (target {manifest.target}), {len(manifest.entries)} entries")
    for group, items in _by_group(steps).items():
        click.echo(f"\n{group}")
        for step in items:
            name = f" {step.constraint}" if step.constraint else ""
            note = " (optional)" if step.optional and step.action == "skip" else ""
            click.echo(f"  {step.action:<8} {_where(step)}{name}: {step.detail}{note}")
            for statement in step.statements:
                click.echo(f"           {statement};")
            if step.matches > 1 and step.action == "convert":
                click.echo(f"           ({step.matches} FKs match this entry: each is converted)")
            if step.partitions and step.action == "convert":
                click.echo(
                    f"           (partitioned: its {step.partitions} per-partition copies are "
                    "re-created and keep their names)"
                )
            if step.advice:
                click.echo(f"           {step.advice}")
    counts = Counter(s.action for s in steps)
    click.echo(
        "\nSummary: "
        f"{counts['convert']} to convert, {counts['create']} to create, "
        f"{counts['leave']} left alone, {counts['skip']} skipped, {counts['blocked']} blocking"
    )
    if counts["blocked"]:
        click.echo("The upgrade would stop before changing anything: fix the blocking entries first.")


def _status(step: Step) -> str:
    if step.status == "ok":
        return "ok"
    if step.warning is not None:
        return f"warning: {step.detail}"
    return f"DRIFT: {step.detail}" if step.drift else f"skipped: {step.detail}"


def print_verification(result: Verification, manifest: Manifest) -> None:
    """A table by group: a rich table on a terminal, plain aligned lines in logs and pipes."""
    headers = ["group", "table", "columns", "constraint", "expected", "actual", "validated", "status"]
    rows = [
        [
            step.group or "",
            step.table,
            ", ".join(step.columns),
            step.constraint or "",
            step.wanted,
            step.actual or "",
            "" if step.validated is None else ("yes" if step.validated else "NO"),
            _status(step),
        ]
        for step in result.steps
    ]
    title = f"cascade-tool verify: {manifest.source} (target {manifest.target})"
    console = Console(highlight=False)
    if console.is_terminal:
        table = Table(title=title)
        for header in headers:
            table.add_column(header, overflow="fold")
        for row in rows:
            table.add_row(*row)
        console.print(table)
    else:
        click.echo(title)
        widths = [max(len(r[i]) for r in [headers, *rows]) for i in range(len(headers) - 1)]
        for row in [headers, *rows]:
            click.echo("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=False)) + "  " + row[-1])
    lines = []
    for item in result.unlisted:
        level = "DRIFT" if result.strict else "warning"
        lines.append(
            f"{level}: {item.table}({', '.join(item.columns)}) {item.constraint} "
            f"references {manifest.target} (ON DELETE {item.actual}) but is not in the manifest"
        )
    level = "DRIFT" if result.strict else "warning"
    for step in result.warnings:
        where = f"{_where(step)} {step.constraint}"
        if step.warning == "pending":
            lines.append(
                f'{level}: {where}: validation pending (validate = "later"); its ON DELETE action '
                f"applies already; run cascade-tool validate, or: {step.validate_sql};"
            )
        else:
            lines.append(
                f"{level}: {where} is NOT VALID: its ON DELETE action applies, but rows written "
                f"before it was added were never checked; validate it: {step.validate_sql};"
            )
    drift = len(result.drift)
    warned = len(result.warnings)
    if result.ok:
        note = (
            f"; {warned} NOT VALID foreign key(s) to validate (warnings: verify --strict fails on them)"
            if warned else ""
        )
        lines.append(f"OK: {len(result.steps)} entries match the manifest, no drift{note}.")
    else:
        extra = ""
        if result.strict and result.unlisted:
            extra += f" and {len(result.unlisted)} unlisted FK(s)"
        if result.strict and warned:
            extra += f" and {warned} NOT VALID FK(s) (--strict)"
        lines.append(f"FAILED: {drift} entr{'y' if drift == 1 else 'ies'} drifted{extra}.")
    for line in lines:
        click.echo(line)


@contextmanager
def progress_status(first: str) -> Iterator[Callable[[str], None]]:
    """A spinner on stderr saying what long read-only work is running, when stderr is a
    terminal; in logs and pipes it prints nothing (the result says it all)."""
    console = Console(stderr=True)
    if not console.is_terminal:
        yield lambda message: None
        return
    with console.status(first) as status:
        yield lambda message: status.update(message)


# --- generate ---------------------------------------------------------------------------------


def generated(path: Path) -> None:
    click.echo(str(path))


def generate_check(result: CheckResult, manifest_path: Path) -> None:
    """generate --check: up to date, or the diff and what to run (a machinery warning first)."""
    if result.machinery_warning:
        status(f"warning: {result.machinery_warning}")
    if result.ok:
        status(f"up to date: {result.path}")
    elif result.path is None:
        status(f"out of date: {result.diff}; run cascade-tool generate")
    else:
        click.echo(result.diff, nl=False)
        status(
            f"out of date: {result.path} does not match {manifest_path}; "
            "run cascade-tool generate for a new revision"
        )


# --- plan and verify --------------------------------------------------------------------------


def plan(steps: list[Step], manifest: Manifest, *, as_json: bool, as_sql: bool) -> None:
    if as_json:
        echo_json({"entries": [s.to_json() for s in steps]})
    elif as_sql:
        click.echo(plan_script(steps, manifest), nl=False)
    else:
        print_plan(steps, manifest)


def plan_script(steps: list[Step], manifest: Manifest) -> str:
    """The plan as one SQL script, in the order and transactions the revision uses (without its
    retries and bookkeeping): for review, and for linters such as squawk."""
    options = manifest.options
    out = [
        "-- cascade-tool plan --sql: the statements the upgrade would run in this database now.",
        "-- The revision retries each lock timeout with backoff and records every change for downgrade.",
        f"SET lock_timeout = '{options.lock_timeout}';",
    ]
    builds = [s for step in steps for s in step.index_statements]
    if builds:
        out += ["", "-- FK indexes, built without blocking writes (outside any transaction)"]
        out += ["SET statement_timeout = 0;"] + [f"{s};" for s in builds]
    for step in steps:
        if not step.swap_statements:
            continue
        out += ["", f"-- {step.table}({', '.join(step.columns)}) {step.constraint or ''}: {step.detail}".rstrip()]
        # the revision cancels a swap after lock_retry_budget + statement_timeout (retries included)
        out += ["BEGIN;", f"SET LOCAL statement_timeout = '{options.statement_timeout}';"]
        out += [f"{s};" for s in step.swap_statements] + ["COMMIT;"]
        if step.validate_statements:
            out += ["BEGIN;", "SET LOCAL statement_timeout = 0;"]
            out += [f"{s};" for s in step.validate_statements] + ["COMMIT;"]
    return "\n".join(out) + "\n"


def verify(result: Verification, manifest: Manifest, *, as_json: bool) -> None:
    if as_json:
        echo_json(result.to_json())
    else:
        print_verification(result, manifest)


def verify_sql(query: str) -> None:
    """verify --print-sql: the lookup as a query for psql."""
    click.echo(query, nl=False)


# --- discover and lint ------------------------------------------------------------------------


def discovery_summary(found: Discovery) -> str:
    g = found.graph
    return (
        f"{len(g.edges)} foreign keys reach {g.target} ({len(g.direct())} directly), "
        f"from {len(g.reachable())} tables; {len(found.proposals)} entries "
        f"({sum(not p.kept for p in found.proposals)} to change), "
        f"{len(found.candidates)} candidate column(s) without an FK"
    )


def merged_summary(merged: Merged) -> str:
    return (
        f"{len(merged.added)} new entr{'y' if len(merged.added) == 1 else 'ies'}, "
        f"{len(merged.stale)} marked stale, {len(merged.candidates)} new candidate(s)"
    )


def write_text(text: str, out: Path | None) -> None:
    """A document (a manifest) to a file, or to stdout."""
    if out is None:
        click.echo(text, nl=False)
        return
    try:
        with out.open("w", encoding="utf-8", newline="") as handle:
            handle.write(text)
    except OSError as exc:
        raise click.FileError(str(out), exc.strerror) from None


def discover(text: str, found: Discovery, merged: Merged | None, merge_path: Path | None, out: Path | None) -> None:
    """The manifest written by discover (stdout or --out), then what it holds, on stderr."""
    write_text(text, out)
    status(f"discover: {discovery_summary(found)}")
    if merged is not None:
        status(f"merged into {merge_path}: {merged_summary(merged)}")
        for line in (*merged.stale, *merged.notes):
            status(f"  {line}")
    if out is not None:
        status(f"wrote {out}")


def lint_summary(result: LintResult) -> str:
    from cascade_tool.lint import SEVERITIES

    scope = f"manifest {result.manifest}" if result.manifest else "the catalog"
    counts = ", ".join(f"{result.count(s)} {s}{'s' if s != 'info' and result.count(s) != 1 else ''}"
                       for s in SEVERITIES)
    return (f"lint {result.target} ({scope}): {result.edges} foreign keys, {result.tables} tables: "
            f"{counts}")


def lint(result: LintResult, *, as_json: bool) -> None:
    """One block per finding, then the summary (on stderr with --json)."""
    if as_json:
        echo_json(result.to_json())
        status(lint_summary(result))
        return
    for f in result.findings:
        click.echo(f"{f.severity:<8} {f.kind}  {f.object}")
        click.echo(f"         {f.message}")
        click.echo(f"         fix: {f.fix}")
    click.echo(lint_summary(result))


# --- impact and smoke-test --------------------------------------------------------------------


def impact(result: Impact, *, as_json: bool) -> None:
    if as_json:
        echo_json(result.to_json())
        return
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


def smoke_test(result: SmokeResult, *, as_json: bool) -> None:
    if as_json:
        echo_json(result.to_json(), default=str)
        return
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


# --- demo -------------------------------------------------------------------------------------


def demo(events: Iterable[DemoEvent]) -> bool:
    """Narrate the demo as it runs; whether it showed what it should."""
    from cascade_tool import demo as story

    ok = False
    for event in events:
        if isinstance(event, story.Starting):
            click.echo("Starting a throwaway PostgreSQL server...")
        elif isinstance(event, story.ServerStarted):
            click.echo(f"  PostgreSQL {event.version} at {event.url}")
        elif isinstance(event, story.SchemaLoaded):
            click.echo("Loaded the sample health-app schema (FKs to users are NO ACTION: deleting a user fails).")
        elif isinstance(event, story.Planned):
            click.echo(
                f"\n$ cascade-tool plan: {event.convert} to convert, {event.create} to create, "
                f"{event.leave} left alone, {event.skip} skipped (absent legacy tables)"
            )
        elif isinstance(event, story.Generated):
            click.echo(f"\n$ cascade-tool generate\n  {event.file_name}")
        elif isinstance(event, story.Upgrading):
            click.echo("\n$ alembic upgrade head")
        elif isinstance(event, story.Verified):
            click.echo(f"\n$ cascade-tool verify\n  {event.entries} entries, {len(event.drift)} drift: "
                       + ("OK" if event.ok else "FAILED"))
            for step in event.drift:
                click.echo(f"  drift: {step.table} {step.detail}")
        elif isinstance(event, story.Deleted):
            total_before, total_after = sum(n for _, n in event.before), sum(event.after.values())
            click.echo(f"\n$ DELETE FROM users WHERE id = {event.user_id}")
            click.echo(f"  rows linked to user {event.user_id}: {total_before} before, {total_after} after")
            for name, n in event.before:
                if n:
                    click.echo(f"    {name}: {n} -> {event.after.get(name, 0)}")
        elif isinstance(event, story.Downgrading):
            click.echo("\n$ alembic downgrade -1")
        elif isinstance(event, story.Downgraded):
            click.echo(f"  {event.converted_back} FKs back to their original ON DELETE (a downgrade restores "
                       "constraints, not deleted rows)")
        elif isinstance(event, story.Finished):
            if event.completed:
                click.echo("\nStopping the server. Done.")
            ok = event.ok
    return ok


# --- validate ---------------------------------------------------------------------------------

_KIND = {
    "pending": "validation pending",
    "not_valid": "NOT VALID before the upgrade",
    "unfinished": "left NOT VALID by an unfinished upgrade",
}


def _validate_line(o: Outcome) -> str:
    where = f"{o.table} {o.constraint}"
    took = f" in {o.seconds * 1000:.0f} ms" if o.seconds is not None else ""
    if o.result == "validated":
        note = f" ({o.message})" if o.message else ""
        return f"validated {where}{took}{note}"
    if o.result == "orphans":
        return f"SKIPPED {where}{took}: {o.message}"
    if o.result == "failed":
        return f"FAILED {where}{took}: {o.message}; to retry by hand: {o.statement}"
    return f"remaining {where} ({_KIND[o.kind]}): {o.message}"


def validate_progress(outcome: Outcome) -> None:
    """One line per FK as its validation ends."""
    click.echo(_validate_line(outcome))


def validate(result: ValidationRun, *, as_json: bool) -> None:
    """What is left after the run (the progress lines said the rest), then a summary on stderr."""
    if as_json:
        echo_json(result.to_json())
    else:
        for outcome in result.outcomes:
            if outcome.result == "remaining":
                click.echo(_validate_line(outcome))
    summary = (
        f"{result.count('validated')} validated, {result.count('orphans')} skipped for orphan rows, "
        f"{result.count('failed')} failed, {result.count('remaining')} remaining, "
        f"{result.valid} already valid; {result.seconds:.1f} s on {result.jobs} connection(s)"
    )
    status(f"OK: {summary}" if result.ok else f"NOT DONE: {summary}")
