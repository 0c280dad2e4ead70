"""Replicas deploying at once: 8 `alembic upgrade head` started together, through the real Alembic
command line, from the previous head and from an empty database, with a stock `alembic init`
env.py and with the env.py recipe in docs/deploying.md. Whatever the mix, the database ends exactly
as after one run, no run deadlocks, and no traceback comes from our revision.

Set CASCADE_TOOL_REPLICA_REPORT=FILE to append each run's figures (exit codes, time to converge,
lines printed) to FILE.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
import pytest

from cascade_tool import revisions
from cascade_tool.manifest import load_manifest
from tests.helpers import REPO, Server, dump_schema, execute_sql, fk_state

# on every supported major, not only the local servers
pytestmark = pytest.mark.all_majors

REPLICAS = 8

SCHEMA = """
CREATE TABLE users (id bigint PRIMARY KEY);
INSERT INTO users (id) SELECT g FROM generate_series(1, 500) AS g;
CREATE TABLE events (id bigint PRIMARY KEY,
                     user_id bigint NOT NULL CONSTRAINT events_user_id_fkey REFERENCES users (id));
CREATE INDEX events_user_id_idx ON events (user_id);
CREATE TABLE posts (id bigint PRIMARY KEY, user_id bigint CONSTRAINT posts_user_id_fkey REFERENCES users (id));
CREATE TABLE comments (id bigint PRIMARY KEY, post_id bigint REFERENCES posts (id),
                       user_id bigint NOT NULL CONSTRAINT comments_user_id_fkey REFERENCES users (id));
CREATE TABLE likes (user_id bigint NOT NULL, post_id bigint NOT NULL, PRIMARY KEY (post_id, user_id));
INSERT INTO events SELECT g, 1 + g % 500 FROM generate_series(1, 3000) AS g;
INSERT INTO posts SELECT g, 1 + g % 500 FROM generate_series(1, 2000) AS g;
INSERT INTO comments SELECT g, 1 + g % 2000, 1 + g % 500 FROM generate_series(1, 3000) AS g;
INSERT INTO likes SELECT 1 + g % 500, g FROM generate_series(1, 2000) AS g;
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
on_delete = "SET NULL"

[[tables]]
name = "comments"

[[tables]]
name = "likes"
"""

SCHEMA_REVISION = '''"""the application's tables"""
from alembic import op

revision = "rev0000"
down_revision = None
branch_labels = None
depends_on = None

SCHEMA = {schema!r}


def upgrade() -> None:
    op.execute(SCHEMA)


def downgrade() -> None:
    op.execute("DROP TABLE likes, comments, posts, events, users")
'''


def recipe() -> str:
    """The env.py block docs/deploying.md shows, exactly."""
    text = (REPO / "docs" / "deploying.md").read_text()
    found = re.search(r"<!-- env.py recipe: start -->\n```python\n(.*?)```\n<!-- env.py recipe: end -->", text, re.S)
    assert found is not None, "the recipe block is missing from docs/deploying.md"
    return found.group(1)


def make_project(root: Path, url: str, tmp_path: Path, env: str = "stock") -> Path:
    """`alembic init`, sqlalchemy.url set, the schema revision, then ours generated on top."""
    root.mkdir()
    subprocess.run([sys.executable, "-m", "alembic", "init", "migrations"], cwd=root, check=True,
                   capture_output=True, text=True)
    ini = root / "alembic.ini"
    ini.write_text(re.sub(r"(?m)^sqlalchemy\.url = .*$", "sqlalchemy.url = " + url.replace(
        "postgresql://", "postgresql+psycopg://", 1), ini.read_text()))
    env_py = root / "migrations" / "env.py"
    if env == "recipe":
        text = env_py.read_text()
        start = text.index("def run_migrations_online()")
        end = text.index("\n\nif context.is_offline_mode():")
        env_py.write_text(text[:start] + recipe() + text[end:])
    versions = root / "migrations" / "versions"
    (versions / "rev0000_schema.py").write_text(SCHEMA_REVISION.format(schema=SCHEMA))
    manifest = tmp_path / f"{root.name}_manifest.toml"
    manifest.write_text(MANIFEST)
    revisions.generate(load_manifest(manifest), versions, "cascade", rev_id="rev0001")
    return root


def at_previous_head(url: str) -> None:
    execute_sql(url, SCHEMA + """
        CREATE TABLE alembic_version (version_num varchar(32) NOT NULL CONSTRAINT alembic_version_pkc PRIMARY KEY);
        INSERT INTO alembic_version VALUES ('rev0000');""")


@dataclass
class Run:
    code: int
    out: str
    err: str
    seconds: float

    @property
    def text(self) -> str:
        return self.out + self.err

    @property
    def lines(self) -> int:
        return len(self.text.splitlines())


class Writer(threading.Thread):
    """An application transaction on `likes` (ROW EXCLUSIVE, as an INSERT takes) held for `hold` seconds
    as soon as the table exists: the first run's index build and swap on it wait, so the replicas
    started with it overlap for certain instead of one finishing before the next has started."""

    def __init__(self, url: str, hold: float = 4.0) -> None:
        super().__init__(daemon=True)
        self.url, self.hold = url, hold
        self.held = threading.Event()

    def run(self) -> None:
        with psycopg.connect(self.url, application_name="test-writer") as conn:
            deadline = time.monotonic() + 120
            while conn.execute("SELECT to_regclass('likes')").fetchone() == (None,) and time.monotonic() < deadline:
                conn.rollback()
                time.sleep(0.01)
            conn.execute("LOCK TABLE likes IN ROW EXCLUSIVE MODE")
            self.held.set()
            time.sleep(self.hold)
            conn.rollback()


def replicas(project: Path, n: int = REPLICAS, *args: str) -> tuple[list[Run], float]:
    """n `alembic upgrade head` started together; their results and the time until the last ended."""
    env = dict(os.environ)
    env.pop("DATABASE_URL", None)
    started = time.monotonic()
    children = [subprocess.Popen([sys.executable, "-m", "alembic", *args, "upgrade", "head"], cwd=project, env=env,
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(n)]
    runs = []
    for child in children:
        out, err = child.communicate(timeout=600)
        runs.append(Run(child.returncode, out, err, time.monotonic() - started))
    return runs, time.monotonic() - started


def state(server: Server, url: str) -> dict[str, Any]:
    """What one run must leave: every FK, the schema dump, alembic_version, our bookkeeping, the rows."""
    with psycopg.connect(url) as conn:
        versions = conn.execute("SELECT version_num FROM alembic_version").fetchall()
        changes = conn.execute("SELECT revision, table_name, constraint_name, change, old_definition, new_definition,"
                               " validated_at IS NOT NULL, restored_at FROM cascade_tool.fk_changes"
                               " ORDER BY 1, 2, 3").fetchall()
        indexes = conn.execute("SELECT revision, schema_name, index_name FROM cascade_tool.created_indexes"
                               " ORDER BY 1, 2, 3").fetchall()
        rows = conn.execute("SELECT (SELECT count(*) FROM users), (SELECT count(*) FROM events),"
                            " (SELECT count(*) FROM posts), (SELECT count(*) FROM comments),"
                            " (SELECT count(*) FROM likes)").fetchone()
        invalid = conn.execute("SELECT count(*) FROM pg_index WHERE NOT indisvalid").fetchone()
    return {"fks": fk_state(url), "dump": dump_schema(server, url), "versions": versions, "changes": changes,
            "indexes": indexes, "rows": rows, "invalid_indexes": invalid}


def report(name: str, runs: list[Run], seconds: float) -> None:
    figures = {"scenario": name, "exit_codes": [r.code for r in runs], "converged_s": round(seconds, 2),
               "lines": [r.lines for r in runs], "converting_logs": sum(converts(r) for r in runs),
               "endings": sorted(failure(r) for r in runs),
               "waiting_lines": sum(r.out.count("waiting for another run") for r in runs)}
    print(json.dumps(figures))
    target = os.environ.get("CASCADE_TOOL_REPLICA_REPORT")
    if target:
        with open(target, "a", encoding="utf-8") as f:
            f.write(json.dumps(figures) + "\n")


def converts(run: Run) -> bool:
    """The run changed an FK: a line `[i/n] converted ...` or `[i/n] created ...`."""
    return re.search(r"(?m)^  \[\s*\d+/\d+\] (converted|created) ", run.out) is not None


def failure(run: Run) -> str:
    """How a run ended: ok, FAILED (Alembic's one line, no traceback), alembic-race (a
    UniqueViolation, DuplicateTable or DuplicateObject creating alembic_version or the schema
    revision's tables), or other."""
    if run.code == 0:
        return "ok"
    last = run.out.rstrip().splitlines()[-1] if run.out.strip() else ""
    if last.startswith("FAILED: ") and "Traceback" not in run.err:
        return "FAILED"
    # which one: timing (two CREATE TABLEs of one name collide on the table, or on its row type)
    alembic_race = ("psycopg.errors.UniqueViolation", "psycopg.errors.DuplicateTable", "psycopg.errors.DuplicateObject")
    if "Traceback" in run.err and any(e in run.err for e in alembic_race) and "rev0001_" not in run.err:
        return "alembic-race"
    return "other"


def no_deadlock_no_traceback_from_us(runs: list[Run]) -> None:
    for run in runs:
        assert "deadlock" not in run.text.lower(), run.text
        assert "rev0001_cascade.py" not in run.err, run.err  # no traceback frame in our revision


@pytest.mark.parametrize("start", ["previous_head", "empty"])
@pytest.mark.parametrize("env", ["recipe", "stock"])
def test_eight_replicas_at_once_end_as_one_run(server: Server, tmp_path: Path, start: str, env: str) -> None:
    single_db = server.url(server.create_database())
    many_db = server.url(server.create_database())
    try:
        for url in (single_db, many_db):
            if start == "previous_head":
                at_previous_head(url)
        single = make_project(tmp_path / "single", single_db, tmp_path, env)
        alone, _ = replicas(single, 1)
        assert alone[0].code == 0, alone[0].text
        expected = state(server, single_db)

        project = make_project(tmp_path / "many", many_db, tmp_path, env)
        writer = Writer(many_db)
        writer.start()
        runs, seconds = replicas(project)
        writer.join()
        assert writer.held.is_set()
        report(f"{server.version} {env} from {start}", runs, seconds)
        assert state(server, many_db) == expected
        no_deadlock_no_traceback_from_us(runs)
        converting = [r for r in runs if converts(r)]
        assert len(converting) == 1, [r.text for r in runs]
        if env == "recipe":
            assert [r.code for r in runs] == [0] * REPLICAS, [r.text for r in runs if r.code]
            others = [r for r in runs if r is not converting[0]]
            assert all("Running upgrade" not in r.err for r in others), [r.err for r in others]
        else:
            # a loser fails with Alembic's one line, or (from an empty database) with Alembic's
            # own race creating its tables, a traceback whose frames are not ours
            for run in runs:
                if run.code != 0:
                    assert failure(run) in ("FAILED", "alembic-race"), run.text
    finally:
        server.drop_database(single_db.rpartition("/")[2])
        server.drop_database(many_db.rpartition("/")[2])


def test_tenants_in_one_database_do_not_wait_for_each_other(empty_db: str, alembic_project: Path,
                                                             tmp_path: Path) -> None:
    """Tenant a's run is held in its index build by an application transaction; tenant b's run, in
    the same database, goes through meanwhile without waiting for a's turn."""
    for tenant in ("tenant_a", "tenant_b"):
        execute_sql(empty_db, f"CREATE SCHEMA {tenant}; SET search_path = {tenant};" + SCHEMA)
    manifest = tmp_path / "tenants_manifest.toml"
    manifest.write_text(MANIFEST)
    versions = alembic_project / "migrations" / "versions"
    revisions.generate(load_manifest(manifest), versions, "cascade", rev_id="rev0001")

    def env(tenant: str) -> dict[str, str]:
        return dict(os.environ, DATABASE_URL=empty_db, PGOPTIONS=f"-c search_path={tenant}")

    with psycopg.connect(empty_db) as holder:
        holder.execute("LOCK TABLE tenant_a.likes IN ROW EXCLUSIVE MODE")
        first = subprocess.Popen([sys.executable, "-m", "alembic", "upgrade", "head"], cwd=alembic_project,
                                 env=env("tenant_a"), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            deadline = time.monotonic() + 60
            with psycopg.connect(empty_db, autocommit=True) as watch:
                while watch.execute("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted"
                                    " AND classid = 1667330915").fetchone() == (0,):
                    assert time.monotonic() < deadline, "tenant a never took its turn"
                    time.sleep(0.05)
            second = subprocess.run([sys.executable, "-m", "alembic", "upgrade", "head"], cwd=alembic_project,
                                    env=env("tenant_b"), capture_output=True, text=True, timeout=300)
            assert first.poll() is None, "tenant a should still be held"
        finally:
            holder.rollback()
        out, err = first.communicate(timeout=300)
    assert second.returncode == 0, second.stdout + second.stderr
    assert "waiting for another run" not in second.stdout
    assert first.returncode == 0, out + err
    with psycopg.connect(empty_db) as conn:
        assert conn.execute("SELECT n.nspname, count(*) FROM pg_constraint c JOIN pg_namespace n"
                            " ON n.oid = c.connamespace WHERE c.contype = 'f' AND c.confdeltype IN ('c', 'n')"
                            " GROUP BY 1 ORDER BY 1").fetchall() == [("tenant_a", 4), ("tenant_b", 4)]


def test_offline_scripts_take_turns_too(server: Server, empty_db: str, alembic_project: Path,
                                        tmp_path: Path) -> None:
    """`alembic upgrade head --sql` run by psql: a session holding the turn makes it wait (and,
    past run_wait, stop with the give-up line); released, the script goes on and converts."""
    execute_sql(empty_db, SCHEMA)
    manifest = tmp_path / "offline_manifest.toml"
    manifest.write_text(MANIFEST)
    versions = alembic_project / "migrations" / "versions"
    revisions.generate(load_manifest(manifest), versions, "cascade", rev_id="rev0001")
    env = dict(os.environ, DATABASE_URL=empty_db)
    scripts = {}
    for wait in ("1s", "60s"):
        sql = subprocess.run([sys.executable, "-m", "alembic", "-x", f"run_wait={wait}", "upgrade", "head", "--sql"],
                             cwd=alembic_project, env=env, capture_output=True, text=True, check=True).stdout
        scripts[wait] = tmp_path / f"upgrade_{wait}.sql"
        scripts[wait].write_text(sql)
    psql = [server.tool("psql"), "-X", "-v", "ON_ERROR_STOP=1", "-d", empty_db, "-f"]
    before = fk_state(empty_db)
    key = "(1667330915::bigint << 32) | 'public'::regnamespace::oid::bigint"
    holder = psycopg.connect(empty_db, autocommit=True, application_name="other-deploy")
    try:
        holder.execute(f"SELECT pg_advisory_lock({key})")
        gave_up = subprocess.run([*psql, str(scripts["1s"])], capture_output=True, text=True, timeout=120)
        assert gave_up.returncode != 0
        assert "cascade-tool: gave up waiting for another run on schema public after run_wait 1s: held by pid" \
            in gave_up.stderr, gave_up.stderr
        assert "application 'other-deploy'" in gave_up.stderr
        assert fk_state(empty_db) == before  # nothing changed
        execute_sql(empty_db, "DROP TABLE alembic_version")  # the script's first statements created it
        threading.Timer(2.0, lambda: holder.execute(f"SELECT pg_advisory_unlock({key})")).start()
        waited = subprocess.run([*psql, str(scripts["60s"])], capture_output=True, text=True, timeout=120)
    finally:
        time.sleep(2.5)
        holder.close()
    assert waited.returncode == 0, waited.stderr
    assert "cascade-tool: waiting for another run on schema public to finish" in waited.stderr, waited.stderr
    assert "cascade-tool: the other run has finished" in waited.stderr
    assert "[4/4] created public.likes.likes_user_id_fkey" in waited.stderr


def test_replicas_downgrading_at_once_end_as_one_downgrade(server: Server, tmp_path: Path) -> None:
    """4 `alembic downgrade rev0000` at once, stock env.py, one of them held in its first restore:
    one restores, the others wait their turn, then fail with Alembic's line or succeed; the schema
    ends as before the upgrade."""
    db = server.url(server.create_database())
    try:
        at_previous_head(db)
        before = (fk_state(db), dump_schema(server, db))
        project = make_project(tmp_path / "down", db, tmp_path)
        up, _ = replicas(project, 1)
        assert up[0].code == 0, up[0].text
        writer = Writer(db)
        writer.start()
        env = dict(os.environ)
        children = [subprocess.Popen([sys.executable, "-m", "alembic", "downgrade", "rev0000"], cwd=project, env=env,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(4)]
        outputs = [c.communicate(timeout=600) for c in children]
        runs = [Run(c.returncode, out, err, 0.0) for c, (out, err) in zip(children, outputs, strict=True)]
        writer.join()
        no_deadlock_no_traceback_from_us(runs)
        restoring = [r for r in runs if re.search(r"(?m)^  \[\s*\d+/\d+\] restored ", r.out)]
        assert len(restoring) == 1, [r.text for r in runs]
        assert all(failure(r) in ("ok", "FAILED") for r in runs), [r.text for r in runs]
        assert (fk_state(db), dump_schema(server, db)) == before
    finally:
        server.drop_database(db.rpartition("/")[2])
