"""The `cascade-tool` command line: the click group `cli`, and `main`, its entry point.

One module per command, named after it (cascade_tool/cli/<command>.py); each parses its
options, makes one library call and hands the result to cascade_tool.output. Shared options and
exit codes are in cascade_tool/cli/options.py.

Exit codes, for every command: 0 success / nothing found; 1 a check found problems (drift, an
out-of-date revision); 2 usage, input or connection errors, reported in one line on stderr.
"""

from __future__ import annotations

import sys
import traceback

import click

from cascade_tool import __version__
from cascade_tool.cli import (
    check_models,
    demo,
    discover,
    fleet,
    generate,
    impact,
    lint,
    orphans,
    plan,
    preflight,
    quarantine,
    smoke_test,
    validate,
    verify,
)
from cascade_tool.cli.options import EXIT_CODES, EXIT_ERROR, EXIT_OK, flag
from cascade_tool.errors import CascadeToolError

GROUP_HELP = f"""Convert foreign keys that point at your users table to ON DELETE CASCADE / SET NULL,
through reviewable, reversible Alembic revisions.

\b
Typical flow:
  cascade-tool plan --manifest manifest.toml        # what an upgrade would do here
  cascade-tool generate --manifest manifest.toml    # write the Alembic revision
  alembic upgrade head                              # deploy (alembic downgrade -1 to undo)
  cascade-tool verify --manifest manifest.toml      # after the deploy: 0 = done, 1 = drift

{EXIT_CODES}
"""


@click.group(help=GROUP_HELP, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="cascade-tool")
@click.option("--debug", is_flag=True, help="Show a full traceback on errors.")
@click.pass_context
def cli(ctx: click.Context, debug: bool) -> None:
    ctx.obj = {"debug": debug}


# One module per command, named after it; the command is the module's function of that name.
for command in (
    check_models.check_models,
    demo.demo,
    discover.discover,
    fleet.fleet,
    generate.generate,
    impact.impact,
    lint.lint,
    orphans.orphans,
    plan.plan,
    preflight.preflight,
    quarantine.quarantine,
    smoke_test.smoke_test,
    validate.validate,
    verify.verify,
):
    cli.add_command(command)


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
            message = f"{flag(exc.option)} {problem}" if exc.option else problem
            click.echo(f"cascade-tool: error: {message}", err=True)
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
    except Exception as exc:  # the last line of defence: still one line, exit 2
        if debug:
            traceback.print_exc()
        click.echo(f"cascade-tool: internal error: {type(exc).__name__}: {exc} "
                   "(run with --debug for a traceback)", err=True)
        sys.exit(EXIT_ERROR)
    sys.exit(EXIT_OK)
