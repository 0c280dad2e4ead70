"""`alembic -c INI upgrade head` on one fleet target, inside a `fleet apply` worker process.

This is Alembic's own command line and command (the same parser, Config and
`alembic.command.upgrade` body), with two additions:
- the target's URL (handed over in DATABASE_URL, never on a command line, where `ps` would show
  its password) is also set as the config's `sqlalchemy.url`, so a stock `alembic init` env.py
  (reading sqlalchemy.url) and one reading DATABASE_URL both connect to the target;
- the heads Alembic reads before it upgrades are recorded. They are read by the MigrationContext
  the user's env.py configured, so a custom `version_table` or `version_table_schema` is honoured:
  a target whose heads are already the project's is reported at head, with nothing run.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any


@dataclass
class UpgradeResult:
    """What one `upgrade head` did: the heads it found, and whether it ran any revision."""

    before: tuple[str, ...] = ()
    steps: int = 0
    heads: tuple[str, ...] = ()
    # seconds: "setup" (config, script directory, env.py up to its run_migrations call: the
    # connection and the version table read included), "migrations" (the revisions' own work)
    timings: dict[str, float] = field(default_factory=dict)


def reason(exc: BaseException) -> str:
    """One line saying why the upgrade failed: the database's own message when there is one."""
    if isinstance(exc, SystemExit):
        return str(exc.code)
    orig = getattr(exc, "orig", None)  # sqlalchemy.exc.DBAPIError wraps the driver's error
    diag = getattr(orig, "diag", None)
    primary = getattr(diag, "message_primary", None)
    if primary:
        return " ".join(str(primary).split())
    text = str(orig if orig is not None else exc).strip()
    first = text.splitlines()[0] if text else type(exc).__name__
    return first if first.startswith(type(exc).__name__) or orig is not None else f"{type(exc).__name__}: {first}"


# Built once per process (the worker builds them before it forks): Alembic's argument parser,
# and each project's script directory (its revision modules imported), by ini file.
_COMMAND_LINE: list[Any] = []
_SCRIPTS: dict[str, Any] = {}


def command_line() -> Any:
    """Alembic's own `alembic` argument parser (slow to build: one sub-parser per command)."""
    if not _COMMAND_LINE:
        from alembic.config import CommandLine

        _COMMAND_LINE.append(CommandLine(prog="alembic"))
    return _COMMAND_LINE[0]


def preload_project(ini: str) -> dict[str, Any]:
    """Read the project's script directory once (from the ini's directory, as a child would),
    so that forked children start with its revision modules imported. Returns its heads, or
    why it cannot be read (the first line of Alembic's error): fleet apply reports that before
    any target, and otherwise each child would, per target."""
    from alembic.script import ScriptDirectory

    if ini in _SCRIPTS:
        return {"heads": sorted(_SCRIPTS[ini].get_heads())}
    try:
        config = alembic_config(ini, (), "")
        script = ScriptDirectory.from_config(config)
        heads = script.get_heads()  # imports every revision module
    except Exception as exc:  # noqa: BLE001  alembic raises several kinds; say it in one line
        return {"error": str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__}
    _SCRIPTS[ini] = script
    return {"heads": sorted(heads)}


def alembic_config(ini: str, x_args: tuple[str, ...] | list[str], url: str) -> Any:
    """The Config `alembic -c INI --raiseerr [-x ...] upgrade head` builds, with `url` as
    sqlalchemy.url (escaped for ConfigParser's % interpolation)."""
    from alembic.config import Config

    cl = command_line()
    extra = [arg for pair in x_args for arg in ("-x", pair)]
    options = cl.parser.parse_args(["-c", ini, "--raiseerr", *extra, "upgrade", "head"])
    config_file = options.config[-1] if isinstance(options.config, list) else options.config
    config = Config(file_=config_file, ini_section=options.name, cmd_opts=options)
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def upgrade_to_head(config: Any) -> UpgradeResult:
    """`alembic.command.upgrade(config, "head")`, recording the heads it started from.

    The body of Alembic's command (the user's env.py runs, and calls back for the steps), with
    the steps function also noting the heads Alembic read and how many revisions it runs.
    """
    from alembic.runtime.environment import EnvironmentContext
    from alembic.script import ScriptDirectory

    started = time.monotonic()
    result = UpgradeResult()
    script = _SCRIPTS.get(config.config_file_name) or ScriptDirectory.from_config(config)
    result.heads = tuple(sorted(script.get_heads()))
    called: list[float] = []

    def upgrade(rev: Any, context: Any) -> Any:
        if not called:
            called.append(time.monotonic())
            result.before = tuple(sorted(rev)) if isinstance(rev, (tuple, list)) else ((rev,) if rev else ())
        steps = script._upgrade_revs("head", rev)  # what alembic.command.upgrade returns here
        result.steps += len(steps)
        return steps

    with EnvironmentContext(config, script, fn=upgrade, as_sql=False, starting_rev=None,
                            destination_rev="head", tag=None):
        script.run_env()
    ended = time.monotonic()
    fn_at = called[0] if called else ended
    result.timings = {"setup": fn_at - started, "migrations": ended - fn_at}
    return result
