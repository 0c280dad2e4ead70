"""`fleet apply` on one target: `alembic upgrade head` in a worker process, under a lock.

The user's own Alembic project runs (their env.py, their revisions) in a child of the fleet's
worker process (cascade_tool.fleet.worker), with the target's URL set as sqlalchemy.url and
DATABASE_URL. Whether the target is already at head is what Alembic itself reads through the
user's env.py (a custom version_table or version_table_schema included): a target at head runs
no revision and is reported `at-head`.

Two `fleet apply` runs over the same target (two CI jobs) never upgrade it at the same time:
around the upgrade, fleet apply holds a session-level advisory lock on the target's database,
keyed by the target's schema. The second run waits for the first, then finds the target at head.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg

from cascade_tool import catalog
from cascade_tool.errors import DatabaseError, FleetError
from cascade_tool.fleet.pool import WorkerPool, WorkerReply
from cascade_tool.fleet.run import Outcome
from cascade_tool.fleet.targets import Target, log_name, scrub

# The advisory lock's key: 64 bits of a hash of this text and the target's schema (advisory
# locks are per database already). Any process can take it to keep fleet apply off a target.
LOCK_NAMESPACE = "cascade-tool fleet apply"


@dataclass(frozen=True)
class AlembicProject:
    """The user's Alembic project: its ini file and the heads of its script directory."""

    ini: Path
    heads: frozenset[str]

    @classmethod
    def load(cls, ini: Path, read: dict[str, Any] | None = None) -> AlembicProject:
        """Read the ini and its script directory (read-only); a broken project is a FleetError.
        `read`: what fleet apply's worker read of it already (its heads, or the first line of why
        it cannot be read), so that this process need not import Alembic and the revisions too."""
        ini = ini.resolve()
        if not ini.is_file():
            raise FleetError(f"--alembic-ini {ini}: no such file")
        if read is None:  # no worker answered: read it here, as the worker would
            from cascade_tool.fleet.upgrade import preload_project

            read = preload_project(str(ini))
        if "error" in read:
            raise FleetError(f"--alembic-ini {ini}: cannot read its Alembic scripts: {read['error']}")
        if not read.get("heads"):
            raise FleetError(f"--alembic-ini {ini}: the script directory has no revisions")
        return cls(ini, frozenset(read["heads"]))


def lock_key(schema: str | None) -> int:
    """The advisory lock key for a target: the same for every run, whatever URL reaches it."""
    digest = hashlib.blake2b(f"{LOCK_NAMESPACE}\0{schema or ''}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


def _describe(revisions: Any) -> str:
    return ", ".join(sorted(revisions or ())) or "no revision"


APPLICATION_NAME = "cascade-tool fleet apply"
WAITING_NAME = "cascade-tool fleet apply (waiting for another run)"  # < 64 bytes
POLL_SECONDS = 0.2


def _lock(conn: psycopg.Connection[Any], target: Target) -> float:
    """Take the target's advisory lock on `conn` (session level, autocommit); the seconds spent
    waiting for another fleet apply that held it.

    It is polled with pg_try_advisory_lock rather than waited for in pg_advisory_lock: a waiting
    statement is an open transaction with a snapshot, which the other run's CREATE INDEX
    CONCURRENTLY (in the same database) would wait for in turn. The session's application_name
    says what it is doing, for pg_stat_activity.
    """
    key = lock_key(target.schema)
    began = time.monotonic()
    waiting = False
    while True:
        got = conn.execute("SELECT pg_catalog.pg_try_advisory_lock(%s),"
                           " pg_catalog.set_config('application_name', %s, false)",
                           (key, APPLICATION_NAME if not waiting else WAITING_NAME)).fetchone()
        if got is not None and got[0]:
            break
        if not waiting:
            waiting = True
            conn.execute("SELECT pg_catalog.set_config('application_name', %s, false)", (WAITING_NAME,))
        time.sleep(POLL_SECONDS)
    if waiting:
        conn.execute("SELECT pg_catalog.set_config('application_name', %s, false)", (APPLICATION_NAME,))
    return time.monotonic() - began if waiting else 0.0


class LockSessions:
    """The connections fleet apply holds its per-target locks on: one per running target, kept
    for the next target of the same database rather than closed (a new connection is a new
    server process: with thousands of tenant schemas in one database, that adds up)."""

    def __init__(self) -> None:
        self._idle: dict[str, list[psycopg.Connection[Any]]] = {}
        self._guard = threading.Lock()

    def __enter__(self) -> LockSessions:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def take(self, target: Target) -> psycopg.Connection[Any]:
        """An idle connection to the target's database, or a new one (DatabaseError if none)."""
        with self._guard:
            idle = self._idle.get(target.url) or []
            conn = idle.pop() if idle else None
        if conn is not None and not conn.closed and conn.info.transaction_status == psycopg.pq.TransactionStatus.IDLE:
            return conn
        if conn is not None:
            conn.close()
        conn = catalog.connect(target.url)
        conn.autocommit = True
        return conn

    def give_back(self, target: Target, conn: psycopg.Connection[Any]) -> None:
        """Release the target's lock and keep the connection; close it if that fails."""
        try:
            conn.execute("SELECT pg_catalog.pg_advisory_unlock(%s)", (lock_key(target.schema),))
        except psycopg.Error:
            conn.close()
            return
        with self._guard:
            self._idle.setdefault(target.url, []).append(conn)

    def close(self) -> None:
        with self._guard:
            conns = [c for idle in self._idle.values() for c in idle]
            self._idle.clear()
        for conn in conns:
            conn.close()


def _failure(reply: WorkerReply) -> str:
    """Why a child produced no result: the worker died, or the child did (with how)."""
    if reply.problem:
        return reply.problem
    code = reply.code if reply.code is not None else 0
    if code < 0:
        import signal

        try:
            how = f"killed by {signal.Signals(-code).name}"
        except ValueError:
            how = f"killed by signal {-code}"
        if -code == signal.SIGKILL:
            how += " (out of memory, or killed from outside)"
    else:
        how = f"exited with code {code}"
    last = f"; its last output: {reply.last}" if reply.last else ""
    return f"the upgrade's process {how} before reporting a result{last}"


def apply_target(
    target: Target,
    project: AlembicProject,
    log_dir: Path,
    x_args: tuple[str, ...] = (),
    *,
    pool: WorkerPool,
    locks: LockSessions | None = None,
) -> Outcome:
    """Upgrade one target to head, unless it is there already. Never raises for the target's
    own trouble: unreachable, failed (with the upgrade's one-line reason), upgraded or at-head."""
    if locks is None:
        with LockSessions() as own:
            return apply_target(target, project, log_dir, x_args, pool=pool, locks=own)
    try:
        conn = locks.take(target)
    except DatabaseError as exc:
        return Outcome(target.name, "unreachable", target.unreachable(str(exc)))
    secrets = target.secrets()
    where = f"schema {target.schema} of " if target.schema else ""
    try:
        try:
            waited = _lock(conn, target)
        except psycopg.Error as exc:
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            conn.close()
            return Outcome(target.name, "failed", f"cannot take the fleet lock: {first}")
        header = (f"=== {dt.datetime.now(dt.UTC).isoformat(timespec='seconds')} fleet apply {target.name}: "
                  f"alembic upgrade head on {where}{target.display_url}")
        if waited:
            header += f" (after waiting {waited:.1f} s for another fleet apply on this target)"
        reply = pool.run({
            "ini": str(project.ini), "cwd": str(project.ini.parent), "x_args": list(x_args),
            "url": target.connect_url, "secrets": secrets, "header": header,
            # absolute: the worker runs in the project's directory, not in this one
            "log": str((log_dir / f"{log_name(target.name)}.log").absolute()),
        })
    except BaseException:
        conn.close()  # the lock goes with the connection
        raise
    locks.give_back(target, conn)  # the lock is released
    result = reply.result
    if result is None:
        return Outcome(target.name, "failed", scrub(_failure(reply), secrets))
    if not result.get("ok"):
        return Outcome(target.name, "failed", scrub(str(result.get("reason")), secrets))
    after = f" (after waiting {waited:.1f} s for another fleet apply)" if waited else ""
    if result.get("steps") == 0:
        return Outcome(target.name, "at-head", f"at {_describe(result.get('before'))}{after}")
    if result.get("before") is None:  # env.py ended with SystemExit(0): Alembic's own success
        return Outcome(target.name, "upgraded", f"to {_describe(project.heads)}{after}")
    return Outcome(target.name, "upgraded",
                   f"from {_describe(result.get('before'))} to {_describe(result.get('heads'))}{after}")
