"""`cascade-tool check-models`: do the application's SQLAlchemy models agree with the manifest?

The library is cascade_tool/models/; it imports SQLAlchemy's ORM only when the command runs, so
other commands start as fast as before.
"""

from __future__ import annotations

from pathlib import Path

import click

from cascade_tool import output
from cascade_tool.cli.options import exit_found_if, json_option, manifest_option
from cascade_tool.manifest import load_manifest


@click.command("check-models")
@manifest_option
@click.option(
    "--models",
    "models_spec",
    required=True,
    metavar="MODULE[:OBJECT]",
    help="The application's declarative base, registry or MetaData, e.g. app.models:Base "
    "(imported with the current directory first on sys.path).",
)
@click.option(
    "--database-url",
    envvar="DATABASE_URL",
    metavar="URL",
    help="Also compare onupdate/deferrable/initially with this database [env: DATABASE_URL].",
)
@json_option()
def check_models(manifest_path: Path, models_spec: str, database_url: str | None, as_json: bool) -> None:
    """Check that SQLAlchemy models agree with the manifest's ON DELETE rules.

    Per manifest entry: the model's ForeignKey(ondelete=...) against the manifest, and its
    onupdate/deferrable/initially against the database (with a URL), which is what alembic
    autogenerate compares; the parent-side relationships over CASCADE / SET NULL FKs
    (passive_deletes, delete-orphan), so the ORM neither nulls NOT NULL columns nor deletes row by
    row what the database deletes itself; manifest entries with no model, and model FKs to the
    target the manifest lacks. Each finding names the model's file and line and the call to write.

    Exit codes: 0 the models agree; 1 findings; 2 usage, input, import or connection error.
    """
    from cascade_tool import models

    manifest = load_manifest(manifest_path)
    result = models.check(manifest, models_spec, database_url)
    output.check_models(result, as_json=as_json)
    exit_found_if(not result.ok)
