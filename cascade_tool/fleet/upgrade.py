"""`alembic -c INI upgrade head` for one fleet target, run by `fleet apply` as a subprocess.

This is Alembic's own command line (the same parser, Config and command), with one addition:
the target's URL, handed over in the DATABASE_URL environment variable (never on the command
line, where `ps` would show its password), is also set as the config's `sqlalchemy.url`. So a
stock `alembic init` env.py (reading sqlalchemy.url) and one reading DATABASE_URL both connect to
the target. On failure the last line of stderr is `REASON_MARK <one line>`: what fleet apply
reports for the target.

    python -m cascade_tool.fleet.upgrade INI [-x KEY=VALUE ...]
"""

from __future__ import annotations

import os
import sys
import traceback

REASON_MARK = "cascade-tool fleet: reason:"


def reason(exc: BaseException) -> str:
    """One line saying why the upgrade failed: the database's own message when there is one."""
    orig = getattr(exc, "orig", None)  # sqlalchemy.exc.DBAPIError wraps the driver's error
    diag = getattr(orig, "diag", None)
    primary = getattr(diag, "message_primary", None)
    if primary:
        return " ".join(str(primary).split())
    text = str(orig if orig is not None else exc).strip()
    first = text.splitlines()[0] if text else type(exc).__name__
    return first if first.startswith(type(exc).__name__) or orig is not None else f"{type(exc).__name__}: {first}"


def main(argv: list[str]) -> int:
    from alembic.config import CommandLine, Config
    from alembic.util import CommandError

    if not argv:
        print("usage: python -m cascade_tool.fleet.upgrade INI [-x KEY=VALUE ...]", file=sys.stderr)
        return 2
    ini, extra = argv[0], argv[1:]
    url = os.environ.get("DATABASE_URL", "")
    if not url:
        print(f"{REASON_MARK} DATABASE_URL is not set", file=sys.stderr)
        return 2
    cl = CommandLine(prog="alembic")
    options = cl.parser.parse_args(["-c", ini, "--raiseerr", *extra, "upgrade", "head"])
    config_file = options.config[-1] if isinstance(options.config, list) else options.config
    config = Config(file_=config_file, ini_section=options.name, cmd_opts=options)
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))  # ConfigParser interpolation
    try:
        cl.run_cmd(config, options)
    except BaseException as exc:  # reported as one line; the traceback goes to the log
        if isinstance(exc, SystemExit) and exc.code in (0, None):
            return 0
        if isinstance(exc, CommandError):  # already one line (a revision's failure): as alembic prints it
            message = " ".join(str(exc).split())
            print(f"FAILED: {message}", file=sys.stderr)
            print(f"{REASON_MARK} {message}", file=sys.stderr)
            return 1
        traceback.print_exc()
        message = str(exc.code) if isinstance(exc, SystemExit) else reason(exc)
        print(f"{REASON_MARK} {message}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
