"""Every failure inside the revision reaches the user as Alembic's one line, `FAILED: cascade-tool:
...`, through the real Alembic command line: a lock give-up in a swap and in an index build (naming
what it waited for), the orphan refusal, a server error mid-swap, a dead connection, a run that
waited too long for another. Also: the quiet re-run after a kill, and the lock_timeout cap line."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg
import pytest

from tests.helpers import alembic, execute_sql
from tests.test_upgrade import generate

# on every supported major, not only the local servers
pytestmark = pytest.mark.all_majors

SCHEMA = """
CREATE TABLE users (id bigint PRIMARY KEY);
INSERT INTO users SELECT g FROM generate_series(1, 100) AS g;
CREATE TABLE events (id bigint PRIMARY KEY,
                     user_id bigint NOT NULL CONSTRAINT events_user_id_fkey REFERENCES users (id));
CREATE INDEX ON events (user_id);
CREATE TABLE posts (id bigint PRIMARY KEY, user_id bigint CONSTRAINT posts_user_id_fkey REFERENCES users (id));
CREATE TABLE likes (id bigint PRIMARY KEY, user_id bigint NOT NULL);
CREATE INDEX ON likes (user_id);
CREATE TABLE unrelated (id bigint);
INSERT INTO events SELECT g, 1 + g % 100 FROM generate_series(1, 500) AS g;
INSERT INTO posts SELECT g, 1 + g % 100 FROM generate_series(1, 500) AS g;
INSERT INTO likes SELECT g, 1 + g % 100 FROM generate_series(1, 500) AS g;
"""

MANIFEST = """\
[target]
table = "users"

[defaults]
on_delete = "CASCADE"
columns = ["user_id"]

[[tables]]
name = "events"

[[tables]]
name = "posts"

[[tables]]
name = "likes"
"""

FK_LINE = re.compile(r"^  (\[\s*\d+/\d+\] .*|cascade-tool revision \S+: .*|\d+ index(es)? built on FK columns .*)$")


def project(db: str, alembic_project: Path, tmp_path: Path) -> Path:
    execute_sql(db, SCHEMA)
    manifest = tmp_path / "failures_manifest.toml"
    manifest.write_text(MANIFEST)
    generate(alembic_project, manifest)
    return alembic_project


def failed_line(result: subprocess.CompletedProcess[str]) -> str:
    """The run failed with exactly one line of ours and no traceback."""
    assert result.returncode != 0, result.stdout + result.stderr
    assert "Traceback" not in result.stderr, result.stderr
    lines = [line for line in result.stdout.splitlines() if line.startswith("FAILED:")]
    assert len(lines) == 1, result.stdout
    assert lines[0].startswith("FAILED: cascade-tool: "), lines[0]
    return lines[0]


def action(db: str, name: str) -> str:
    with psycopg.connect(db) as conn:
        row = conn.execute("SELECT confdeltype::text FROM pg_constraint WHERE conname = %s", (name,)).fetchone()
    return "-" if row is None else str(row[0])


@contextmanager
def holding(db: str, statement: str, app: str = "holder-app",
            snapshot: bool = False) -> Iterator[psycopg.Connection[tuple[object, ...]]]:
    """A session left idle in a transaction after `statement` (with `snapshot`, a REPEATABLE READ
    one, which keeps its snapshot)."""
    conn = psycopg.connect(db, application_name=app)
    if snapshot:
        conn.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
    try:
        conn.execute(statement)
        yield conn
    finally:
        conn.rollback()
        conn.close()


def test_a_swap_give_up_names_the_holders_in_one_line(empty_db: str, alembic_project: Path, tmp_path: Path) -> None:
    p = project(empty_db, alembic_project, tmp_path)
    with holding(empty_db, "SELECT count(*) FROM users") as holder:
        up = alembic(p, empty_db, "-x", "lock_timeout=100ms", "-x", "lock_retry_budget=1s",
                     "-x", "create_indexes=false", "upgrade", "head")
        pid = holder.info.backend_pid
    line = failed_line(up)
    assert re.search(r"FAILED: cascade-tool: swap of \S+ and \S+ stopped: no lock within lock_timeout 100ms",
                     line), line
    assert f"held by: pid {pid} (" in line and "application 'holder-app'" in line, line
    assert "hint: Run the upgrade again" in line, line
    assert action(empty_db, "events_user_id_fkey") == "a"
    assert alembic(p, empty_db, "upgrade", "head").returncode == 0
    assert action(empty_db, "events_user_id_fkey") == "c"


def test_an_index_build_give_up_names_the_older_transactions(empty_db: str, alembic_project: Path,
                                                             tmp_path: Path) -> None:
    """The holder never touches posts: it read another table, and keeps its snapshot. The index
    build on posts waits for it all the same, and the line says so. (inline_index_max=0: posts is
    small enough for its swap to build the index, which would not wait.)"""
    p = project(empty_db, alembic_project, tmp_path)
    with holding(empty_db, "SELECT count(*) FROM unrelated", snapshot=True) as holder:
        up = alembic(p, empty_db, "-x", "lock_retry_budget=1s", "-x", "inline_index_max=0", "upgrade", "head")
        pid = holder.info.backend_pid
    line = failed_line(up)
    assert "index build on public.posts" in line and "stopped: no lock within lock_retry_budget 1s" in line, line
    assert "waits for every transaction in the database older than itself, not only those on its table" in line
    assert re.search(rf"older transactions: pid {pid} \(application 'holder-app', idle in transaction, "
                     r"transaction open [\d.]+ s: SELECT count\(\*\) FROM unrelated", line), line
    assert action(empty_db, "posts_user_id_fkey") == "a"
    assert alembic(p, empty_db, "upgrade", "head").returncode == 0
    assert action(empty_db, "posts_user_id_fkey") == "c"


def test_the_orphan_refusal_is_one_line(empty_db: str, alembic_project: Path, tmp_path: Path) -> None:
    p = project(empty_db, alembic_project, tmp_path)
    execute_sql(empty_db, "INSERT INTO likes VALUES (9999, 424242)")
    up = alembic(p, empty_db, "upgrade", "head")
    line = failed_line(up)
    assert "upgrade stopped before changing anything: public.likes(user_id): 1 row(s) reference no row of" in line, line
    assert "hint: Fix the rows" in line, line
    assert action(empty_db, "events_user_id_fkey") == "a"


def test_a_server_error_mid_swap_is_one_line_with_detail_and_hint(empty_db: str, alembic_project: Path,
                                                                  tmp_path: Path) -> None:
    """An event trigger refuses ALTER TABLE: the server's message, detail and hint, on one line;
    with -x verbose=true the traceback too."""
    p = project(empty_db, alembic_project, tmp_path)
    execute_sql(empty_db, """
        CREATE FUNCTION refuse() RETURNS event_trigger LANGUAGE plpgsql AS $$
        BEGIN
            IF EXISTS (SELECT 1 FROM pg_event_trigger_ddl_commands() WHERE schema_name = 'public') THEN
                RAISE EXCEPTION 'schema changes are frozen' USING DETAIL = 'release freeze until Monday',
                                                                  HINT = 'ask the release manager';
            END IF;
        END $$;
        CREATE EVENT TRIGGER schema_freeze ON ddl_command_end WHEN TAG IN ('ALTER TABLE') EXECUTE FUNCTION refuse();""")
    up = alembic(p, empty_db, "-x", "create_indexes=false", "upgrade", "head")
    line = failed_line(up)
    assert line == ("FAILED: cascade-tool: stopped in swap of entry 1 (events): schema changes are frozen;"
                    " detail: release freeze until Monday; hint: ask the release manager; the step was rolled back,"
                    " finished steps are kept: run it again once this is resolved"), line
    verbose = alembic(p, empty_db, "-x", "create_indexes=false", "-x", "verbose=true", "upgrade", "head")
    assert "Traceback" in verbose.stderr and "schema changes are frozen" in verbose.stderr
    assert [x for x in verbose.stdout.splitlines() if x.startswith("FAILED:")] == [line]
    assert action(empty_db, "events_user_id_fkey") == "a"


def _migration_pid(db: str, deadline: float) -> int:
    with psycopg.connect(db, autocommit=True) as conn:
        while time.monotonic() < deadline:
            row = conn.execute("SELECT pid FROM pg_stat_activity WHERE application_name = 'cascade-tool revision'"
                               " AND query LIKE '%cascade_tool_upgrade(''swap''%'").fetchone()
            if row:
                return int(row[0])
            time.sleep(0.05)
    raise AssertionError("the migration never reached its swap")


def test_a_dead_connection_is_one_line(empty_db: str, alembic_project: Path, tmp_path: Path) -> None:
    p = project(empty_db, alembic_project, tmp_path)
    with holding(empty_db, "SELECT count(*) FROM users"):
        killed: list[int] = []

        def kill() -> None:
            pid = _migration_pid(empty_db, time.monotonic() + 60)
            with psycopg.connect(empty_db, autocommit=True) as conn:
                conn.execute("SELECT pg_terminate_backend(%s)", (pid,))
            killed.append(pid)

        killer = threading.Thread(target=kill)
        killer.start()
        up = alembic(p, empty_db, "-x", "create_indexes=false", "upgrade", "head")
        killer.join()
    line = failed_line(up)
    assert killed
    assert line.startswith("FAILED: cascade-tool: stopped in swap of entry 1 (events): lost the connection to the"
                           " server: terminating connection due to administrator command"), line
    assert alembic(p, empty_db, "upgrade", "head").returncode == 0
    assert action(empty_db, "events_user_id_fkey") == "c"


def test_a_run_that_waits_too_long_for_another_gives_up_in_one_line(empty_db: str, alembic_project: Path,
                                                                    tmp_path: Path) -> None:
    """The first run is held in its swap; the second, with run_wait=1s, names it and changes nothing."""
    p = project(empty_db, alembic_project, tmp_path)
    env = dict(os.environ, DATABASE_URL=empty_db)
    with holding(empty_db, "SELECT count(*) FROM users"):
        first = subprocess.Popen([sys.executable, "-m", "alembic", "-x", "create_indexes=false", "upgrade", "head"],
                                 cwd=p, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            pid = _migration_pid(empty_db, time.monotonic() + 60)
            second = alembic(p, empty_db, "-x", "run_wait=1s", "upgrade", "head")
        finally:
            first.send_signal(signal.SIGKILL)
            first.communicate()
    assert re.search(r"(?m)^  cascade-tool: waiting for another run on schema public to finish: "
                     rf"pid {pid} \(application 'cascade-tool revision'", second.stdout), second.stdout
    line = failed_line(second)
    assert line.startswith(f"FAILED: cascade-tool: gave up waiting for another run on schema public after run_wait 1s:"
                           f" held by pid {pid} ("), line
    assert "nothing changed" in line


def test_a_rerun_after_a_kill_prints_its_fk_lines_and_summary_only(empty_db: str, alembic_project: Path,
                                                                   tmp_path: Path) -> None:
    p = project(empty_db, alembic_project, tmp_path)
    env = dict(os.environ, DATABASE_URL=empty_db)
    with holding(empty_db, "SELECT count(*) FROM likes"):  # the third swap waits
        first = subprocess.Popen([sys.executable, "-m", "alembic", "upgrade", "head"], cwd=p, env=env,
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        assert first.stdout is not None
        for out in first.stdout:
            if "[2/3]" in out:
                break
        first.send_signal(signal.SIGKILL)
        first.communicate()
    with psycopg.connect(empty_db, autocommit=True) as conn:  # its backend notices at its next statement
        deadline = time.monotonic() + 60
        while conn.execute("SELECT count(*) FROM pg_stat_activity WHERE application_name = 'cascade-tool revision'"
                           ).fetchone() != (0,) and time.monotonic() < deadline:
            time.sleep(0.1)
    again = alembic(p, empty_db, "upgrade", "head")
    assert again.returncode == 0, again.stderr
    lines = again.stdout.splitlines()
    assert [x for x in lines if not FK_LINE.match(x)] == [], again.stdout
    # the kill lands in the third entry's swap or, when that was quick, in its validation
    assert any(re.match(r"  \[3/3\] (created public\.likes|validated public\.likes\.likes_user_id_fkey"
                        r" \(left NOT VALID by an earlier run\))", x) for x in lines), again.stdout
    assert all(x.startswith("INFO  [alembic") for x in again.stderr.splitlines()), again.stderr


def test_a_lock_timeout_above_the_cap_says_so_in_one_line_at_the_start(empty_db: str, alembic_project: Path,
                                                                       tmp_path: Path) -> None:
    p = project(empty_db, alembic_project, tmp_path)
    up = alembic(p, empty_db, "-x", "lock_timeout=2s", "upgrade", "head")
    assert up.returncode == 0, up.stderr
    lines = up.stdout.splitlines()
    assert lines[0] == ("  cascade-tool: lock_timeout 2s acts as 800 ms here: all the lock waits of one swap"
                        " end within 0.8 x the server's deadlock_timeout (1s), so that no session waiting behind a"
                        " swap is ever reported a deadlock (raise deadlock_timeout to wait longer)"), lines[0]
    assert sum("acts as" in x for x in lines) == 1
    down = alembic(p, empty_db, "downgrade", "-1")
    assert down.returncode == 0 and "acts as" not in down.stdout, down.stdout
