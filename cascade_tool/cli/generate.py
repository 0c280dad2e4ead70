"""`cascade-tool generate`: render the manifest into an Alembic revision (or --check one)."""

from __future__ import annotations

from pathlib import Path

import click

from cascade_tool import output
from cascade_tool.cli.options import exit_found_if, manifest_option
from cascade_tool.manifest import load_manifest


@click.command()
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
def generate(
    manifest_path: Path,
    versions_dir: Path | None,
    alembic_ini: Path | None,
    message: str,
    rev_id: str | None,
    check: bool,
) -> None:
    """Render the manifest into an Alembic revision chained onto the current head.

    Prints the path of the new file. With --check: exit 0 when the newest generated revision
    is what the manifest renders to, 1 when it is not (the diff is printed), 2 on errors.
    """
    from cascade_tool import revisions  # imports alembic: only this command needs it

    if versions_dir and alembic_ini:
        raise click.UsageError("give either --versions-dir or --alembic-ini, not both")
    manifest = load_manifest(manifest_path)
    versions = revisions.versions_dir_from(versions_dir, alembic_ini)
    if check:
        result = revisions.check(manifest, versions)
        output.generate_check(result, manifest_path)
        exit_found_if(not result.ok)
        return
    output.generated(revisions.generate(manifest, versions, message, rev_id=rev_id))
