"""Adding a missing FK through the generated revision (issue 6): seed 002's story with
`alembic upgrade` and `alembic downgrade`, orphan rows quarantined or nulled in committed batches,
new orphans rejected while it runs, a deploy killed half-way and re-run, and the round trip of
schema and rows.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import psycopg
import pytest

from cascade_tool import revisions
from cascade_tool.manifest import parse_manifest
from tests.helpers import Server, alembic, dump_schema, execute_sql
from tests.test_orphans import MANIFEST, SEED_002, messages
from tests.test_quarantine import count
from tests.test_upgrade import index_defs


def generate(project: Path, text: str, tmp_path: Path) -> Path:
    path = tmp_path / "manifest.toml"
    path.write_text(text)
    return revisions.generate(parse_manifest(text, str(path)), project / "migrations" / "versions", "seed 002",
                              rev_id="c4a0180f720d")


@pytest.mark.all_majors
def test_seed_002_quarantine_through_the_revision_and_back(
    server: Server, empty_db: str, alembic_project: Path, tmp_path: Path, run_cli: Any
) -> None:
    """289 orphan messages: upgrade builds the unique key, adds the FK NOT VALID, moves the rows
    in batches of 100, validates; verify passes; downgrade gives back every row and the schema."""
    url = empty_db
    execute_sql(url, SEED_002)
    before_rows, before_dump, before_indexes = messages(url), dump_schema(server, url), index_defs(url)
    generate(alembic_project, MANIFEST, tmp_path)
    manifest = str(tmp_path / "manifest.toml")

    plan = run_cli("plan", "--manifest", manifest, "--database-url", url)
    assert plan.code == 0, plan.out
    assert "289 row(s) reference no row of public.conversation_sessions: the upgrade moves them" in plan.out
    assert ("CREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS conversation_sessions_conversation_id_key "
            "ON public.conversation_sessions (conversation_id);") in plan.out

    up = alembic(alembic_project, url, "-x", "orphan_batch_size=100", "-x", "verbose=true", "upgrade", "head")
    assert up.returncode == 0, up.stderr
    assert "index built on public.conversation_sessions (conversation_id) unique in" in up.stdout
    assert "created public.chat_messages_v2.chat_messages_v2_conversation_id_fkey (ON DELETE CASCADE)" in up.stdout
    assert up.stdout.count("batch ") >= 3, up.stdout  # 289 rows, 100 per committed batch (shown: verbose)
    assert "validated public.chat_messages_v2.chat_messages_v2_conversation_id_fkey" in up.stdout
    assert count(url, "SELECT count(*) FROM chat_messages_v2") == 500
    assert count(url, "SELECT count(*) FROM cascade_quarantine.rows WHERE action = 'moved'") == 289
    assert count(url, "SELECT count(*) FROM pg_constraint WHERE conname = 'chat_messages_v2_conversation_id_fkey'"
                      " AND convalidated AND confdeltype = 'c'") == 1
    assert run_cli("verify", "--manifest", manifest, "--database-url", url).code == 0
    assert run_cli("orphans", "--manifest", manifest, "--database-url", url).code == 0
    listed = run_cli("quarantine", "list", "--database-url", url)
    assert listed.out.startswith("c4a0180f720d  public.chat_messages_v2  moved out: 289 in quarantine")

    down = alembic(alembic_project, url, "downgrade", "base")
    assert down.returncode == 0, down.stderr
    assert "289 quarantined row(s) put back" in down.stdout
    assert messages(url) == before_rows
    assert index_defs(url) == before_indexes
    assert dump_schema(server, url) == before_dump


SET_NULL = """\
[target]
table = "conversation_sessions"

[[tables]]
name = "chat_messages_v2"
columns = ["session_id"]
on_delete = "SET NULL"
orphans = "set-null"
"""


@pytest.mark.all_majors
def test_set_null_keeps_the_old_values_and_downgrade_gives_them_back(
    server: Server, empty_db: str, alembic_project: Path, tmp_path: Path, run_cli: Any
) -> None:
    url = empty_db
    execute_sql(url, SEED_002)
    execute_sql(url, "UPDATE chat_messages_v2 SET session_id = s.id FROM conversation_sessions s"
                     " WHERE s.conversation_id = chat_messages_v2.conversation_id")
    execute_sql(url, "UPDATE chat_messages_v2 SET session_id = md5(id::text)::uuid WHERE session_id IS NULL")
    before_rows, before_dump = messages(url), dump_schema(server, url)
    generate(alembic_project, SET_NULL, tmp_path)
    up = alembic(alembic_project, url, "upgrade", "head")
    assert up.returncode == 0, up.stderr
    assert count(url, "SELECT count(*) FROM chat_messages_v2 WHERE session_id IS NULL") == 289
    assert count(url, "SELECT count(*) FROM cascade_quarantine.rows WHERE action = 'nulled'") == 289
    assert count(url, "SELECT count(*) FROM chat_messages_v2") == 789
    down = alembic(alembic_project, url, "downgrade", "base")
    assert down.returncode == 0, down.stderr
    assert messages(url) == before_rows
    assert dump_schema(server, url) == before_dump


def test_set_null_on_a_not_null_column_stops_before_anything_changes(
    server: Server, empty_db: str, alembic_project: Path, tmp_path: Path
) -> None:
    url = empty_db
    execute_sql(url, SEED_002)
    execute_sql(url, "ALTER TABLE conversation_sessions ADD UNIQUE (conversation_id)")
    before = dump_schema(server, url)
    generate(alembic_project, MANIFEST.replace('"quarantine"', '"set-null"').replace("add_unique = true\n", ""),
             tmp_path)
    up = alembic(alembic_project, url, "upgrade", "head")
    assert up.returncode != 0
    assert ('upgrade stopped before changing anything: public.chat_messages_v2(conversation_id): '
            'orphans = "set-null" but conversation_id is NOT NULL') in up.stderr
    assert dump_schema(server, url) == before
    assert count(url, "SELECT count(*) FROM chat_messages_v2") == 789


def test_new_orphans_are_rejected_while_batches_run_and_a_killed_run_converges(
    server: Server, empty_db: str, alembic_project: Path, tmp_path: Path, run_cli: Any
) -> None:
    """Batches of one row: while they run, the NOT VALID FK rejects every new orphan; the deploy
    is killed half-way, and the re-run finishes without losing or duplicating a row."""
    url = empty_db
    execute_sql(url, SEED_002)
    before_rows = messages(url)
    generate(alembic_project, MANIFEST, tmp_path)
    env = {**os.environ, "DATABASE_URL": url}
    proc = subprocess.Popen(
        [sys.executable, "-m", "alembic", "-x", "orphan_batch_size=1", "upgrade", "head"],
        cwd=alembic_project, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    rejected = 0
    try:
        with psycopg.connect(url, autocommit=True) as conn:
            deadline = time.monotonic() + 90
            while True:  # until the first batch has committed: the FK exists NOT VALID
                assert time.monotonic() < deadline, "the batches never started"
                started = conn.execute("SELECT to_regclass('cascade_quarantine.rows') IS NOT NULL").fetchone()
                if started == (True,) and count(url, "SELECT count(*) FROM cascade_quarantine.rows") > 0:
                    break
                time.sleep(0.002)
            for _ in range(10):  # new orphans while the batches run
                try:
                    conn.execute("INSERT INTO chat_messages_v2 (id, conversation_id, role, created_at)"
                                 " VALUES (gen_random_uuid(), gen_random_uuid(), 'user', now())")
                except psycopg.errors.ForeignKeyViolation:
                    rejected += 1
            # the deploy's session dies half-way (as on a crash), then the process
            conn.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                         " WHERE query LIKE '%cascade_tool_upgrade_orphans%' AND pid <> pg_backend_pid()")
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    finally:
        if proc.poll() is None:
            proc.kill()
    assert rejected == 10  # the FK was in place NOT VALID before the first batch
    moved = count(url, "SELECT count(*) FROM cascade_quarantine.rows")
    assert moved + count(url, "SELECT count(*) FROM chat_messages_v2") == 789  # nothing lost
    assert moved < 289, "killed too late to test a re-run"

    again = alembic(alembic_project, url, "-x", "orphan_batch_size=50", "upgrade", "head")
    assert again.returncode == 0, again.stderr
    assert count(url, "SELECT count(*) FROM cascade_quarantine.rows") == 289  # none twice
    assert count(url, "SELECT count(*) FROM chat_messages_v2") == 500
    assert run_cli("verify", "--manifest", str(tmp_path / "manifest.toml"), "--database-url", url).code == 0
    down = alembic(alembic_project, url, "downgrade", "base")
    assert down.returncode == 0, down.stderr
    assert messages(url) == before_rows
