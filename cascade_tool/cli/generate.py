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
@click.option(
    "--strict",
    is_flag=True,
    help="With --check: exit 1 also on a machinery warning (older, newer or edited machinery).",
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
    (the code below its marker line) with what this cascade-tool writes: machinery that is
    older, newer or edited is a one-line warning (what each asks of you: "Upgrading
    cascade-tool" in the documentation).

    \b
    Exit codes: 0 written; with --check 0 up to date (machinery warnings too, unless
    --strict); 1 the revision no longer matches the manifest (the diff is printed), or with
    --strict its machinery differs; 2 usage, input or connection error.
    """
    from cascade_tool import revisions  # imports alembic: only this command needs it

    if strict and not check:
        raise click.UsageError("--strict goes with --check")
    if versions_dir and alembic_ini:
        raise click.UsageError("give either --versions-dir or --alembic-ini, not both")
    manifest = load_manifest(manifest_path)
    versions = revisions.versions_dir_from(versions_dir, alembic_ini)
    if check:
        result = revisions.check(manifest, versions)
        output.generate_check(result, manifest_path)
        exit_found_if(not result.ok or (strict and bool(result.machinery_warning)))
        return
    output.generated(revisions.generate(manifest, versions, message, rev_id=rev_id))
