"""What every command shares, defined once: exit codes, --manifest, --database-url, --json.

Commands import these; nothing here imports a command module.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import click

from cascade_tool import catalog
from cascade_tool.errors import DatabaseError
from cascade_tool.fleet.targets import with_search_path

F = TypeVar("F", bound=Callable[..., object])

EXIT_OK, EXIT_FOUND, EXIT_ERROR = 0, 1, 2
EXIT_CODES = "Exit codes: 0 success, 1 problems found, 2 usage, input or connection error."

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
schema_option = click.option(
    "--schema",
    "tenant_schema",
    metavar="SCHEMA",
    help="One tenant of a database whose tenants are schemas: run with SCHEMA first on search_path "
    "(SCHEMA,public, as a fleet schema target does), so the manifest's tables and the upgrades' "
    "records are that tenant's only.",
)
no_counts_option = click.option(
    "--no-counts", is_flag=True, help="Skip the read-only row counts (for very large tables)."
)


def json_option(help: str = "Machine-readable output.") -> Callable[[F], F]:
    """--json, with the help text saying what the JSON holds."""
    return click.option("--json", "as_json", is_flag=True, help=help)


# Library parameters whose flag is not simply --<name with dashes>.
_FLAGS = {"key": "--id"}


def flag(option: str) -> str:
    """The command-line flag for a library parameter name (older_than -> --older-than)."""
    return _FLAGS.get(option, "--" + option.replace("_", "-"))


def require_url(url: str | None) -> str:
    """The database URL, or a usage error (exit 2) saying how to give one."""
    if not url:
        raise click.UsageError("no database: pass --database-url or set DATABASE_URL")
    return url


def tenant_url(url: str, schema: str | None) -> str:
    """The URL to connect with for one tenant schema (`--schema`): with `options=-c
    search_path=SCHEMA,public` added; `url` itself without one. A schema the database lacks is an
    input error (exit 2): with it missing, the names would resolve in public instead."""
    if schema is None:
        return url
    if not schema.strip():
        raise click.UsageError("--schema: expected a schema name, got an empty one")
    with catalog.connect(url) as conn:
        found = conn.execute("SELECT 1 FROM pg_catalog.pg_namespace WHERE nspname = %s", (schema,)).fetchone()
    if found is None:
        raise DatabaseError(f"--schema {schema}: no such schema in this database")
    return with_search_path(url, schema)


def exit_found_if(problems: bool) -> None:
    """Exit 1 when a check found problems (the caller has printed them)."""
    if problems:
        raise SystemExit(EXIT_FOUND)
