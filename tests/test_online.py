"""The online revision under adverse conditions: lock holders, a killed deploy, a failed validation,
partitioned tables on both sides of PostgreSQL 18, and the FK index step.

Each test runs once per server (the embedded 18 and, when installed, another major version);
those marked all_majors also on every other supported major (tests/npm_postgres.py).
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import psycopg
import pytest

from tests.helpers import Server, alembic, dump_schema, execute_sql, fk_state
from tests.test_upgrade import fks, generate, index_defs


def stamped(url: str) -> int:
    with psycopg.connect(url) as conn:
        if conn.execute("SELECT to_regclass('alembic_version')").fetchone() == (None,):
            return 0
        row = conn.execute("SELECT count(*) FROM alembic_version").fetchone()
    return int(row[0]) if row else 0


def temporary_constraints(url: str) -> list[str]:
    with psycopg.connect(url) as conn:
        rows = conn.execute("SELECT conname FROM pg_constraint WHERE conname LIKE 'cascade_tmp_%'").fetchall()
    return [str(r[0]) for r in rows]


def hold_lock(url: str, table: str, mode: str = "ACCESS SHARE") -> tuple[psycopg.Connection[Any], int]:
    """A session that keeps a lock on `table` in an open transaction, as an application might."""
    conn = psycopg.connect(url)
    conn.execute(f"LOCK TABLE {table} IN {mode} MODE")  # test-owned constant names
    pid = conn.info.backend_pid
    return conn, pid


def upgrade_while_locked(project: Path, url: str, table: str) -> tuple[subprocess.CompletedProcess[str], int]:
    """`alembic upgrade head` (lock_timeout 100ms, lock_retry_budget 300ms) while another session
    holds ACCESS SHARE on `table`; returns the run and the holder's pid."""
    holder, pid = hold_lock(url, table)
    try:
        run = alembic(project, url, "-x", "lock_timeout=100ms", "-x", "lock_retry_budget=300ms", "upgrade", "head")
    finally:
        holder.rollback()
        holder.close()
    return run, pid


def preflight_warnings(stdout: str) -> list[str]:
    """The check's preflight warnings in an upgrade's output."""
    return [line for line in stdout.splitlines() if "WARNING: preflight:" in line]


def test_a_lock_holder_stops_the_upgrade_with_its_pid_and_nothing_half_done(
    server: Server, quirks_db: str, alembic_project: Path
) -> None:
    """lock_timeout + retries exhausted: one clear error naming the table and the holder; every FK
    as it was, alembic_version unstamped; once the holder is gone, a re-run completes."""
    before = fk_state(quirks_db)
    generate(alembic_project)
    holder, pid = hold_lock(quirks_db, "posts")
    try:
        started = time.monotonic()
        up = alembic(alembic_project, quirks_db, "-x", "lock_timeout=100ms", "-x", "lock_retry_budget=1s",
                     "upgrade", "head")
        elapsed = time.monotonic() - started
    finally:
        holder.rollback()
        holder.close()
    assert up.returncode != 0
    message = re.search(r"cascade-tool: swap of .* stopped: no lock within lock_timeout 100ms in \d+ attempt\(s\)"
                        r" over [\d.]+ s; this step changed nothing; held by: pid (\d+) \(", up.stderr)
    assert message is not None, up.stderr
    assert int(message.group(1)) == pid
    assert "AccessShareLock on posts" in up.stderr
    assert "lock not available within 100ms (attempt 1), retrying in 50 ms" in up.stdout
    # the check phase warned first (the query `cascade-tool preflight` runs)
    assert any(f"pid {pid}" in line and "posts" in line for line in preflight_warnings(up.stdout)), up.stdout
    assert elapsed < 30
    assert fk_state(quirks_db) == before
    assert stamped(quirks_db) == 0
    assert temporary_constraints(quirks_db) == []

    again = alembic(alembic_project, quirks_db, "upgrade", "head")
    assert again.returncode == 0, again.stderr
    assert stamped(quirks_db) == 1


@pytest.mark.all_majors
def test_retries_outlast_a_short_lock_holder(server: Server, quirks_db: str, alembic_project: Path) -> None:
    """A transaction holding a read lock on users for ~2 s: the swap waits in 100 ms attempts, never
    queues behind it for longer, and completes after it ends."""
    generate(alembic_project)
    holder, pid = hold_lock(quirks_db, "users")

    def release_once_the_swaps_wait() -> None:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not _upgrade_backends(quirks_db, "swap"):
            time.sleep(0.05)
        time.sleep(1.5)
        holder.rollback()

    release = threading.Thread(target=release_once_the_swaps_wait)
    release.start()
    try:
        up = alembic(alembic_project, quirks_db, "-x", "lock_timeout=100ms", "-x", "lock_retry_budget=30s",
                     "upgrade", "head")
    finally:
        release.join()
        holder.close()
    assert up.returncode == 0, up.stderr
    assert re.search(rf"lock not available within 100ms \(attempt \d+\), retrying in \d+ ms; held by: pid {pid} ",
                     up.stdout), up.stdout
    assert "cascade-tool revision rev0001: 16 converted, 1 created, 1 unchanged, 2 skipped" in up.stdout
    assert stamped(quirks_db) == 1


def _upgrade_backends(url: str, phase: str = "") -> list[int]:
    """Sessions running an upgrade step (of `phase`, if given)."""
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "SELECT pid FROM pg_stat_activity WHERE query LIKE %s AND pid <> pg_backend_pid()",
            (f"%pg_temp.cascade_tool_upgrade(%{phase}%",),
        ).fetchall()
    return [int(r[0]) for r in rows]


@pytest.mark.all_majors
def test_killed_mid_run_keeps_finished_steps_and_a_rerun_converges(
    server: Server, quirks_db: str, alembic_project: Path, run_cli: Any
) -> None:
    """SIGKILL the deploy while it waits on one table: earlier FKs are fully replaced and validated,
    the rest untouched, no temporary FK left; the re-run finishes and verify passes."""
    before_dump = dump_schema(server, quirks_db)
    before = fks(quirks_db)
    project = generate(alembic_project)
    assert project.exists()
    holder, _ = hold_lock(quirks_db, "sessions")
    env = {**os.environ, "DATABASE_URL": quirks_db}
    proc = subprocess.Popen(
        [sys.executable, "-m", "alembic", "-x", "lock_timeout=100ms", "-x", "lock_retry_budget=60s",
         "upgrade", "head"],
        cwd=alembic_project, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:  # until memberships (the entry before sessions) is validated
            with psycopg.connect(quirks_db) as conn:
                done = conn.execute(
                    "SELECT count(*) FROM pg_constraint WHERE conrelid = 'memberships'::regclass AND convalidated"
                    " AND confdeltype = 'c'"
                ).fetchone()
            if done == (1,):
                break
            time.sleep(0.05)
        else:
            raise AssertionError("the upgrade never reached memberships")
        time.sleep(0.3)  # now retrying on sessions
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        for pid in _upgrade_backends(quirks_db):
            execute_sql(quirks_db, f"SELECT pg_terminate_backend({int(pid)})")
    finally:
        holder.rollback()
        holder.close()
        if proc.poll() is None:
            proc.kill()

    after = fks(quirks_db)
    assert stamped(quirks_db) == 0
    assert temporary_constraints(quirks_db) == []
    assert after[("public", "posts", "posts_user_id_fkey")]["action"] == "c"
    assert all(v["valid"] for k, v in after.items() if k[1] in ("posts", "documents", "comments", "memberships"))
    sessions = ("public", "sessions", "sessions_user")
    assert after[sessions]["oid"] == before[sessions]["oid"]
    assert after[("public", "tokens", "tokens_user_id_fkey")] == before[("public", "tokens", "tokens_user_id_fkey")]

    again = alembic(alembic_project, quirks_db, "upgrade", "head")
    assert again.returncode == 0, again.stderr
    assert "converted public.posts" not in again.stdout  # done before the kill: not redone
    assert "converted public.sessions.sessions_user" in again.stdout
    assert "16 converted, 1 created, 1 unchanged, 2 skipped" in again.stdout
    manifest = str(Path(__file__).parent / "data" / "quirks_manifest.toml")
    assert run_cli("verify", "--manifest", manifest, "--database-url", quirks_db).code == 0

    down = alembic(alembic_project, quirks_db, "downgrade", "base")
    assert down.returncode == 0, down.stderr
    assert dump_schema(server, quirks_db) == before_dump


def test_a_row_breaking_a_small_tables_fk_stops_its_swap_and_leaves_the_fk_as_it_was(
    server: Server, quirks_db: str, alembic_project: Path, run_cli: Any
) -> None:
    """On a small table the swap's add validates the FK: a row that breaks it (written with
    triggers off) stops that swap in one line naming the FK and the row's key, and the old FK is
    left exactly as it was; once the row is fixed the re-run converts it."""
    before = fks(quirks_db)[("public", "posts", "posts_user_id_fkey")]
    execute_sql(quirks_db, "SET session_replication_role = replica; INSERT INTO posts (user_id) VALUES (424242)")
    generate(alembic_project)
    up = alembic(alembic_project, quirks_db, "upgrade", "head")
    assert up.returncode != 0
    failed = [line for line in up.stdout.splitlines() if line.startswith("FAILED:")]
    assert len(failed) == 1 and "Traceback" not in up.stderr, up.stdout + up.stderr
    assert ("cascade-tool: public.posts.posts_user_id_fkey cannot be converted: 1 row(s) reference no row of "
            "public.users (Key (user_id)=(424242) is not present in table \"users\")") in failed[0], failed[0]
    listing = failed[0].split("they are: ", 1)[1]
    assert listing.startswith("SELECT child.* FROM public.posts AS child WHERE"), listing
    with psycopg.connect(quirks_db) as conn:  # the query the hint gives lists the row
        assert conn.execute(f"SELECT x.user_id FROM ({listing}) AS x").fetchall() == [(424242,)]
    assert fks(quirks_db)[("public", "posts", "posts_user_id_fkey")] == before
    assert temporary_constraints(quirks_db) == []
    assert stamped(quirks_db) == 0

    execute_sql(quirks_db, "DELETE FROM posts WHERE user_id = 424242")
    again = alembic(alembic_project, quirks_db, "upgrade", "head")
    assert again.returncode == 0, again.stderr
    assert re.search(r"\] converted public\.posts\.posts_user_id_fkey \(NO ACTION -> CASCADE\).*, validated, \d+ ms$",
                     again.stdout, re.M), again.stdout
    state = fks(quirks_db)[("public", "posts", "posts_user_id_fkey")]
    assert (state["action"], state["valid"]) == ("c", True)


def test_a_failed_validation_leaves_a_not_valid_fk_that_the_rerun_validates(
    server: Server, quirks_db: str, alembic_project: Path, run_cli: Any
) -> None:
    """The state a crash between swap and validate leaves: the FK replaced but NOT VALID. Here a row
    that broke the old FK (written with triggers off) makes VALIDATE fail; verify reports it; once
    the row is fixed the re-run validates that FK, once, and nothing else is redone. (posts is
    small: inline_index_max=0 keeps its validation a step of its own, as a bigger table's is.)"""
    execute_sql(quirks_db, "SET session_replication_role = replica; INSERT INTO posts (user_id) VALUES (424242)")
    generate(alembic_project)
    up = alembic(alembic_project, quirks_db, "-x", "inline_index_max=0", "upgrade", "head")
    assert up.returncode != 0
    assert 'violates foreign key constraint "posts_user_id_fkey"' in up.stderr
    state = fks(quirks_db)[("public", "posts", "posts_user_id_fkey")]
    assert (state["action"], state["valid"]) == ("c", False)
    assert stamped(quirks_db) == 0
    manifest = str(Path(__file__).parent / "data" / "quirks_manifest.toml")
    drift = run_cli("verify", "--manifest", manifest, "--database-url", quirks_db)
    assert drift.code == 1
    assert "NOT VALID" in drift.out

    execute_sql(quirks_db, "DELETE FROM posts WHERE user_id = 424242")
    again = alembic(alembic_project, quirks_db, "-x", "inline_index_max=0", "upgrade", "head")
    assert again.returncode == 0, again.stderr
    validated = re.findall(r"\] (?:converted|created|validated) (\S+) .*, validated, \d+ ms$",
                           up.stdout + again.stdout, re.M)
    assert "validated public.posts.posts_user_id_fkey (left NOT VALID by an earlier run), validated, " in again.stdout
    assert validated.count("public.posts.posts_user_id_fkey") == 1
    assert len(validated) == len(set(validated))  # every FK validated exactly once over both runs
    assert "converted public.posts" not in again.stdout
    assert run_cli("verify", "--manifest", manifest, "--database-url", quirks_db).code == 0


@pytest.mark.all_majors
def test_partitioned_table_uses_not_valid_only_where_the_server_allows_it(
    server: Server, quirks_db: str, alembic_project: Path
) -> None:
    """PostgreSQL 18 adds the FK on a partitioned table NOT VALID and validates it after; 17 and
    earlier refuse that, so the add validates at once. Either way the partitions' FKs keep their
    names and end up valid."""
    before = fks(quirks_db)
    generate(alembic_project)
    up = alembic(alembic_project, quirks_db, "upgrade", "head")
    assert up.returncode == 0, up.stderr
    line = next(s for s in up.stdout.splitlines() if "converted public.measurements." in s)
    if server.version >= 18:
        assert re.search(r"\(NO ACTION -> CASCADE\), validated, \d+ ms$", line), line
    else:
        assert re.search(r"\(NO ACTION -> CASCADE\), validated by the add \(partitioned table, PostgreSQL < 18\), "
                         r"\d+ ms$", line), line
    after = fks(quirks_db)
    parts = {k for k in before if k[1].startswith("measurements")}
    assert parts == {k for k in after if k[1].startswith("measurements")}
    assert all(after[k]["valid"] and after[k]["action"] == "c" for k in parts)


@pytest.mark.parametrize("inline_index_max", ["0", "1MB"])
def test_index_step_builds_what_is_missing_replaces_an_invalid_leftover_and_downgrade_drops_only_its_own(
    server: Server, quirks_db: str, alembic_project: Path, inline_index_max: str
) -> None:
    """With inline_index_max=0 every index is built CONCURRENTLY before the swaps, one line each
    (verbose); at the default the quirks schema's tables are small enough for their swaps to build
    them, and the entry's line names them. Either way the same indexes, recorded, dropped by the
    downgrade and no other."""
    execute_sql(quirks_db, "CREATE INDEX my_own_posts_idx ON posts (user_id)")
    execute_sql(quirks_db, "INSERT INTO devices (user_id) VALUES (1), (1)")
    with psycopg.connect(quirks_db, autocommit=True) as conn:  # a failed earlier build, left INVALID
        try:
            conn.execute("CREATE UNIQUE INDEX CONCURRENTLY devices_user_id_fk_idx ON devices (user_id)")
        except psycopg.errors.UniqueViolation:
            pass
    assert ("devices_user_id_fk_idx", "CREATE UNIQUE INDEX devices_user_id_fk_idx ON public.devices USING btree "
            "(user_id)", False) in index_defs(quirks_db)
    before = index_defs(quirks_db)
    generate(alembic_project)
    up = alembic(alembic_project, quirks_db, "-x", "verbose=true", "-x", f"inline_index_max={inline_index_max}",
                 "upgrade", "head")  # a line per index
    assert up.returncode == 0, up.stderr
    after = index_defs(quirks_db)
    assert ("devices_user_id_fk_idx", "CREATE INDEX devices_user_id_fk_idx ON public.devices USING btree (user_id)",
            True) in after
    assert "index built on public.posts" not in up.stdout  # my_own_posts_idx covers it
    assert not [name for name, _, valid in after if not valid]
    with psycopg.connect(quirks_db) as conn:
        recorded = conn.execute("SELECT count(*) FROM cascade_tool.created_indexes").fetchone()
    if inline_index_max == "0":
        assert "index built on public.devices (user_id) in" in up.stdout
        built = up.stdout.count("index built on ")
        assert "CREATE INDEX IF NOT EXISTS" not in up.stdout
    else:
        assert re.search(r"(?m)^  \[\s*\d+/\d+\] created public\.devices\.devices_user_id_fkey \(ON DELETE CASCADE\), "
                         r"index built on public\.devices \(user_id\), validated, \d+ ms$", up.stdout), up.stdout
        built = (len(re.findall(r"(?m)^  index built on .* in \d+ ms$", up.stdout))  # before the swaps
                 + sum(len(m.split("), ")) for m in re.findall(r"index built on (.*?\)), validated", up.stdout)))
        assert "CREATE INDEX IF NOT EXISTS" in up.stdout
    assert recorded == (built,) and built >= 5

    again = alembic(alembic_project, quirks_db, "downgrade", "base")
    assert again.returncode == 0, again.stderr
    left = index_defs(quirks_db)
    assert ("my_own_posts_idx", "CREATE INDEX my_own_posts_idx ON public.posts USING btree (user_id)", True) in left
    assert left == [ix for ix in before if ix[0] != "devices_user_id_fk_idx"]


def test_create_indexes_false_builds_none(server: Server, quirks_db: str, alembic_project: Path) -> None:
    before = index_defs(quirks_db)
    generate(alembic_project)
    up = alembic(alembic_project, quirks_db, "-x", "create_indexes=false", "upgrade", "head")
    assert up.returncode == 0, up.stderr
    assert "index built" not in up.stdout
    assert index_defs(quirks_db) == before


def test_the_check_runs_the_preflight_when_it_has_something_to_warn_of_and_only_then(
    server: Server, alembic_project: Path
) -> None:
    """A schema of plain tables (no partitioned one): with another session's lock on one of its
    tables, and with a swap needing more lock slots than max_locks_per_transaction, the check
    runs the preflight and warns; on the quiet schema it does not run it (it says so, verbose)."""
    from tests.test_tenants import SCHEMA_SQL, write_revision

    db = server.create_database(server.template("tenant_in_public", lambda url: execute_sql(url, SCHEMA_SQL)))
    url = server.url(db)
    write_revision(alembic_project / "migrations" / "versions")
    try:
        locked, pid = upgrade_while_locked(alembic_project, url, "posts")
        assert locked.returncode != 0 and stamped(url) == 0
        assert any(f"pid {pid} " in line and "holds AccessShareLock on public.posts" in line
                   for line in preflight_warnings(locked.stdout)), locked.stdout

        quiet = alembic(alembic_project, url, "-x", "verbose=true", "upgrade", "head")
        assert quiet.returncode == 0, quiet.stderr
        assert "preflight: not run, nothing to warn of" in quiet.stdout
        assert "WARNING: preflight:" not in quiet.stdout
        down = alembic(alembic_project, url, "downgrade", "base")
        assert down.returncode == 0 and stamped(url) == 0, down.stderr

        with psycopg.connect(url, autocommit=True) as conn:
            row = conn.execute("SELECT current_setting('max_locks_per_transaction')::int,"
                               " (SELECT count(*) FROM pg_index WHERE indrelid IN ('posts'::regclass,"
                               " 'users'::regclass))").fetchone()
            assert row is not None
            slots, indexes = row
            for k in range(slots - indexes - 12):  # the swap of posts: 2 tables, their indexes, 12
                conn.execute(f"CREATE INDEX posts_body_{k} ON posts (body)")  # test-owned names
        crowded = alembic(alembic_project, url, "-x", "verbose=true", "upgrade", "head")
        assert any(f"max_locks_per_transaction = {slots} is too low" in line
                   for line in preflight_warnings(crowded.stdout)), crowded.stdout
        assert "preflight: not run" not in crowded.stdout
    finally:
        server.drop_database(db)


def test_a_lock_on_a_partition_is_warned_of_before_the_swaps(
    server: Server, quirks_db: str, alembic_project: Path
) -> None:
    """The preflight watches the partitions of a partitioned table too: with a partitioned table in
    the manifest the check always runs it, and it names the partition another session has locked."""
    generate(alembic_project)
    up, pid = upgrade_while_locked(alembic_project, quirks_db, "measurements_2024")
    assert any(f"pid {pid} " in line and "on public.measurements_2024 (a partition of public.measurements)" in line
               for line in preflight_warnings(up.stdout)), up.stdout
