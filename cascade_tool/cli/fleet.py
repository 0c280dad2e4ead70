"""`cascade-tool fleet plan|apply|verify`: one revision across many databases and tenant schemas.

The library is cascade_tool/fleet/ (targets, scheduler, per-target plan/verify/apply); this
module parses, makes one call and hands the report to cascade_tool.output.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from pathlib import Path

import click

from cascade_tool import output
from cascade_tool import preflight as preflight_lib
from cascade_tool.cli.options import exit_found_if, json_option, manifest_option
from cascade_tool.fleet import targets as targets_lib
from cascade_tool.fleet.apply import AlembicProject, LockSessions, apply_target
from cascade_tool.fleet.checks import plan_target, verify_target
from cascade_tool.fleet.pool import WorkerPool
from cascade_tool.fleet.run import ON_ERROR, FleetReport, Outcome, run_targets
from cascade_tool.fleet.targets import Target
from cascade_tool.manifest import load_manifest


def _targets_options(fn: Callable[..., None]) -> Callable[..., None]:
    options = [
        click.option("--fleet", "fleet_path", type=click.Path(dir_okay=False, path_type=Path), metavar="FILE",
                     help="Targets file (TOML, [[targets]] with name, url or url_env, schema, tags)."),
        click.option("--targets-query", metavar="SQL",
                     help="Instead of --fleet: a read-only query returning name, url[, schema]."),
        click.option("--targets-url", metavar="URL", envvar="CASCADE_TOOL_TARGETS_URL",
                     help="The database --targets-query runs on [env: CASCADE_TOOL_TARGETS_URL]."),
        click.option("--parallel", type=click.IntRange(min=1), default=4, show_default=True, metavar="N",
                     help="Targets worked on at once."),
        json_option('Print {"targets": [{"name", "status", "detail"}, ...], "summary": {...}}.'),
    ]
    for option in reversed(options):
        fn = option(fn)
    return fn


def _load(fleet_path: Path | None, query: str | None, query_url: str | None) -> list[Target]:
    if fleet_path is not None and query is not None:
        raise click.UsageError("give --fleet or --targets-query, not both")
    if fleet_path is not None:
        return targets_lib.load_targets(fleet_path)
    if query is None:
        raise click.UsageError("no targets: pass --fleet FILE or --targets-query SQL --targets-url URL")
    if not query_url:
        raise click.UsageError("--targets-query needs --targets-url (the database to run it on)")
    return targets_lib.query_targets(query, query_url)


def _run(command: str, targets: list[Target], work: Callable[[Target], Outcome], parallel: int,
         canaries: list[Target] | None = None, on_error: str = "continue") -> FleetReport:
    with output.fleet_status_line(command) as on_progress:
        return run_targets(command, targets, work, parallel=parallel, canaries=canaries or [],
                           on_error=on_error, on_progress=on_progress,
                           one_first_per_database=command == "apply")


def _print(report: FleetReport, as_json: bool, footer: str | None = None) -> None:
    output.fleet(report, as_json=as_json, footer=footer)
    exit_found_if(not report.ok)


@click.group()
def fleet() -> None:
    """Run one revision across many databases and tenant schemas, with a report per target.

    \b
    Targets come from a TOML file (--fleet) or a read-only query (--targets-query):
      [[targets]]
      name = "tenant-a"
      url = "postgresql+psycopg://app@db1/tenant_a"   # or url_env = "TENANT_A_URL"
      schema = "tenant_a"                             # optional: a schema-per-tenant target
      tags = ["canary", "eu"]
    A schema target connects with that schema first on search_path. Passwords are never printed.

    Exit codes: 0 every target is fine; 1 a target failed, drifted, was blocked, unreachable or
    not run; 2 usage or input error.
    """


@fleet.command("plan")
@_targets_options
@manifest_option
@click.option("--long-transaction-seconds", type=click.FloatRange(min=0), metavar="SECONDS",
              default=preflight_lib.DEFAULT_LONG_TRANSACTION_SECONDS, show_default=True,
              help="Count transactions open at least this long.")
def fleet_plan(fleet_path: Path | None, targets_query: str | None, targets_url: str | None, parallel: int,
               as_json: bool, manifest_path: Path, long_transaction_seconds: float) -> None:
    """Per target, what an upgrade would do, and what would stop it (read-only).

    Counts per target: entries to convert, to create, unchanged, skipped and blocked; long
    transactions, orphan rows, preflight warnings. On a Citus coordinator, the entries to change
    by four-step swap (no RENAME CONSTRAINT), by swap with a rename and by adding an FK, and
    the entries Citus would reject, and why. Statuses: ready, nothing-to-do, blocked, failed, unreachable.

    Exit codes: 0 every target is ready or has nothing to do; 1 a target is blocked, failed,
    unreachable or not run; 2 usage or input error.
    """
    manifest = load_manifest(manifest_path)
    targets = _load(fleet_path, targets_query, targets_url)
    work = partial(plan_target, manifest=manifest, long_transaction_seconds=long_transaction_seconds)
    _print(_run("plan", targets, work, parallel=parallel), as_json)


@fleet.command("verify")
@_targets_options
@manifest_option
@click.option("--strict", is_flag=True,
              help="As verify --strict: NOT VALID FKs and FKs to the target missing from the manifest are drift.")
def fleet_verify(fleet_path: Path | None, targets_query: str | None, targets_url: str | None, parallel: int,
                 as_json: bool, manifest_path: Path, strict: bool) -> None:
    """Per target, after a deploy: does the database match the manifest? (read-only)

    Statuses: ok, drift (with the first drifted entries), failed, unreachable.

    Exit codes: 0 every target is ok; 1 a target drifted, failed, is unreachable or was not run;
    2 usage or input error.
    """
    manifest = load_manifest(manifest_path)
    targets = _load(fleet_path, targets_query, targets_url)
    work = partial(verify_target, manifest=manifest, strict=strict)
    _print(_run("verify", targets, work, parallel=parallel), as_json)


@fleet.command("apply")
@_targets_options
@click.option("--alembic-ini", type=click.Path(dir_okay=False, path_type=Path), default="alembic.ini",
              show_default=True, help="Your Alembic project's config; `alembic upgrade head` runs with it.")
@click.option("--canary", "canaries", multiple=True, metavar="NAME|TAG",
              help="Upgrade these targets first; if one fails the rest are not run. Repeatable.")
@click.option("--on-error", type=click.Choice(ON_ERROR), default="stop", show_default=True,
              help="After a target fails: start no more (stop) or go on with the rest (continue).")
@click.option("--log-dir", type=click.Path(file_okay=False, path_type=Path), default="fleet-logs",
              show_default=True, help="One log file per target (<name>.log, appended to).")
@click.option("-x", "x_args", multiple=True, metavar="KEY=VALUE",
              help="Passed to alembic as -x KEY=VALUE (e.g. -x lock_timeout=500ms). Repeatable.")
def fleet_apply(fleet_path: Path | None, targets_query: str | None, targets_url: str | None, parallel: int,
                as_json: bool, alembic_ini: Path, canaries: tuple[str, ...], on_error: str, log_dir: Path,
                x_args: tuple[str, ...]) -> None:
    """`alembic upgrade head` of your Alembic project on every target, canaries first.

    \b
    - A target already at the project's heads (as Alembic reads them through your env.py, a
      custom version_table or version_table_schema included) runs no revision: at-head.
    - At most --parallel targets at once, in forks of one worker that imported Alembic once;
      a fork runs env.py afresh for each of its targets, and is replaced after 100 of them or
      after one that failed. A target that kills its process is failed, the rest go on. Each
      one's output goes to --log-dir/<name>.log. Progress goes to stderr.
    - Two runs over the same target never upgrade it at once: the second waits on the
      target's advisory lock, then finds it at head.
    - Ctrl-C: running targets finish (an upgrade is resumable anyway); the rest are not run.
    - The URL reaches Alembic as sqlalchemy.url and as DATABASE_URL: a stock env.py and one
      reading DATABASE_URL both work.
    Statuses: upgraded, at-head, failed (with the upgrade's reason), unreachable, not-run.
    A failed target is unchanged when the revision stopped at its checks; when it stopped
    later, the FKs already swapped stay swapped and running fleet apply again continues.

    Exit codes: 0 every target is upgraded or at head; 1 a target failed, is unreachable or was
    not run; 2 usage or input error.
    """
    for pair in x_args:
        if "=" not in pair:
            raise click.BadParameter(f"{pair!r} is not KEY=VALUE", param_hint="-x")
    with WorkerPool() as pool:
        if alembic_ini.is_file():  # the worker's start overlaps with reading the targets and the project
            pool.start(alembic_ini.resolve())
        targets = _load(fleet_path, targets_query, targets_url)
        project = AlembicProject.load(alembic_ini, pool.project())
        chosen = [t for selector in canaries for t in targets_lib.select(targets, selector)]
        try:
            log_dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise click.BadParameter(f"cannot create {log_dir}: {exc.strerror}", param_hint="--log-dir") from None
        with LockSessions() as locks:
            work = partial(apply_target, project=project, log_dir=log_dir, x_args=x_args, pool=pool, locks=locks)
            report = _run("apply", targets, work, parallel, canaries=chosen, on_error=on_error)
    _print(report, as_json, footer=f"logs: {log_dir}/")

