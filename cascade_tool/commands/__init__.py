"""Click commands beyond the core ones, one module per area; registered in cascade_tool/cli.py.

Each module exposes click command objects. Like the core commands they parse, make one library
call and print; library code lives in cascade_tool/<area>.py, never here.
"""

from __future__ import annotations

from pathlib import Path

import click

# The options every command that reads a manifest or a database spells the same way.
manifest_option = click.option(
    "--manifest",
    "manifest_path",
    type=click.Path(dir_okay=False, path_type=Path),
    default="manifest.toml",
    show_default=True,
    help="The reviewed table manifest (TOML).",
)
url_option = click.option(
    "--database-url",
    envvar="DATABASE_URL",
    metavar="URL",
    help="postgresql:// or postgresql+psycopg:// URL [env: DATABASE_URL].",
)


def require_url(url: str | None) -> str:
    """The database URL, or a usage error (exit 2) saying how to give one."""
    if not url:
        raise click.UsageError("no database: pass --database-url or set DATABASE_URL")
    return url
