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
    UniqueViolation creating alembic_version or the schema revision's tables), or other."""
    if run.code == 0:
        return "ok"
    last = run.out.rstrip().splitlines()[-1] if run.out.strip() else ""
    if last.startswith("FAILED: ") and "Traceback" not in run.err:
        return "FAILED"
    if "Traceback" in run.err and "psycopg.errors.UniqueViolation" in run.err and "rev0001_" not in run.err:
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
