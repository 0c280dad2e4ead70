"""`fleet apply` on one target: skip it when at head, else `alembic upgrade head` in a subprocess.

The user's own Alembic project runs (their env.py, their revisions), through
`python -m cascade_tool.fleet.upgrade` (Alembic's command line, with the target's URL set as
sqlalchemy.url and DATABASE_URL). The child runs in a session of its own, so a Ctrl-C on the
terminal reaches only `fleet apply`, which then lets it finish. Its output goes, passwords
scrubbed, to one log file per target.
"""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql

from cascade_tool import catalog
from cascade_tool.errors import DatabaseError, FleetError
from cascade_tool.fleet.run import Outcome
from cascade_tool.fleet.targets import Target, log_name, scrub
from cascade_tool.fleet.upgrade import REASON_MARK

VERSION_TABLE = "alembic_version"


@dataclass(frozen=True)
class AlembicProject:
    """The user's Alembic project: its ini file and the heads of its script directory."""

    ini: Path
    heads: frozenset[str]

    @classmethod
    def load(cls, ini: Path) -> AlembicProject:
        """Read the ini and its script directory (read-only); a broken project is a FleetError."""
        from alembic.config import Config
        from alembic.script import ScriptDirectory

        ini = ini.resolve()
        if not ini.is_file():
            raise FleetError(f"--alembic-ini {ini}: no such file")
        try:
            config = Config(str(ini))
            heads = ScriptDirectory.from_config(config).get_heads()
        except Exception as exc:  # alembic raises several kinds; say it in one line
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise FleetError(f"--alembic-ini {ini}: cannot read its Alembic scripts: {first}") from None
        if not heads:
            raise FleetError(f"--alembic-ini {ini}: the script directory has no revisions")
        return cls(ini, frozenset(heads))


def current_revisions(conn: psycopg.Connection[Any]) -> frozenset[str]:
    """The revisions in alembic_version as this connection resolves the name (the target's
    search_path: for a schema target, that schema's table first); empty when there is none."""
    found = conn.execute(
        "SELECT n.nspname, c.relname FROM pg_catalog.pg_class c"
        " JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace"
        " WHERE c.oid = pg_catalog.to_regclass(%s)",
        (VERSION_TABLE,),
    ).fetchone()
    if found is None:
        return frozenset()
    rows = conn.execute(
        sql.SQL("SELECT version_num FROM {}").format(sql.Identifier(found[0], found[1]))
    ).fetchall()
    return frozenset(str(r[0]) for r in rows)


def _describe(revisions: frozenset[str]) -> str:
    return ", ".join(sorted(revisions)) or "no revision"


def read_revisions(target: Target) -> frozenset[str]:
    """Connect (read-only) and read the target's revisions; DatabaseError when unreachable."""
    with catalog.connect(target.connect_url) as conn:
        try:
            return current_revisions(conn)
        except psycopg.Error as exc:
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise DatabaseError(f"cannot read alembic_version: {first}") from None
        finally:
            conn.rollback()


def _reason(log_text: str, code: int) -> str:
    marks = [line[len(REASON_MARK):].strip() for line in log_text.splitlines() if line.startswith(REASON_MARK)]
    if marks:
        return marks[-1]
    lines = [line.strip() for line in log_text.splitlines() if line.strip()]
    return lines[-1] if lines else f"alembic exited with code {code}"


def apply_target(
    target: Target,
    project: AlembicProject,
    log_dir: Path,
    x_args: tuple[str, ...] = (),
    timeout: float | None = None,
) -> Outcome:
    """Upgrade one target to head, unless it is there already. Never raises for the target's
    own trouble: unreachable, failed (with the upgrade's one-line reason) or upgraded."""
    try:
        before = read_revisions(target)
    except DatabaseError as exc:
        return Outcome(target.name, "unreachable", target.unreachable(str(exc)))
    if before == project.heads:
        return Outcome(target.name, "at-head", f"at {_describe(before)}")
    secrets = target.secrets()
    log_path = log_dir / f"{log_name(target.name)}.log"
    env = dict(os.environ, DATABASE_URL=target.connect_url)
    command = [sys.executable, "-m", "cascade_tool.fleet.upgrade", str(project.ini)]
    for pair in x_args:
        command += ["-x", pair]
    where = f"schema {target.schema} of " if target.schema else ""
    with log_path.open("a", encoding="utf-8") as log:
        log.write(f"=== {dt.datetime.now(dt.UTC).isoformat(timespec='seconds')} fleet apply {target.name}: "
                  f"alembic upgrade head on {where}{target.display_url}, from {_describe(before)}\n")
        log.flush()
        output: list[str] = []
        with subprocess.Popen(
            command, cwd=project.ini.parent, env=env, stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True,
        ) as child:
            assert child.stdout is not None
            for line in child.stdout:
                clean = scrub(line, secrets)
                output.append(clean)
                log.write(clean)
                log.flush()
            code = child.wait(timeout)
        log.write(f"=== exit code {code}\n")
    if code != 0:
        return Outcome(target.name, "failed", _reason("".join(output), code))
    # Alembic exited 0: the target is at the project's heads (not read back: one connection
    # less per target).
    return Outcome(target.name, "upgraded", f"from {_describe(before)} to {_describe(project.heads)}")
