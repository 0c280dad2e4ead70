"""This repository's own Alembic environment (migrations/, alembic.ini) and the demo command.

pytest-alembic's built-in checks run on migrations/ (which holds the revision generated from the
example manifest), against the sample schema that manifest describes.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import alembic.config
import pytest
import sqlalchemy as sa
from pytest_alembic import create_alembic_fixture
from pytest_alembic.tests import (  # noqa: F401 - collected as tests of this module
    test_single_head_revision,
    test_up_down_consistency,
    test_upgrade,
)

from tests.helpers import REPO, Server, dump_schema, fk_state

# The runner the built-in tests use, on this repository's alembic.ini (see pyproject.toml for
# why the plugin's own collection is switched off).
alembic_runner = create_alembic_fixture(alembic.config.Config(str(REPO / "alembic.ini")))


@pytest.fixture
def alembic_engine(demo_db: str) -> Iterator[sa.Engine]:
    engine = sa.create_engine(
        demo_db.replace("postgresql://", "postgresql+psycopg://"), poolclass=sa.pool.NullPool
    )
    yield engine
    engine.dispose()


def repo_alembic(url: str, *args: str) -> subprocess.CompletedProcess[str]:
    """`DATABASE_URL=... alembic ARGS` from the project root, as the README says."""
    return subprocess.run(
        [sys.executable, "-m", "alembic", *args],
        cwd=REPO, env=dict(os.environ, DATABASE_URL=url), capture_output=True, text=True,
    )


def test_database_url_env_var_drives_alembic_from_the_project_root(
    server: Server, demo_db: str, run_cli: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = dump_schema(server, demo_db)
    up = repo_alembic(demo_db, "upgrade", "head")
    assert up.returncode == 0, up.stderr
    assert "  [64/70] skipped user_medications (table does not exist)" in up.stdout.splitlines()
    assert "61 converted, 1 created, 1 unchanged, 7 skipped" in up.stdout
    monkeypatch.chdir(REPO)
    result = run_cli("verify", env={"DATABASE_URL": demo_db})  # default manifest: manifest.toml
    assert result.code == 0, result.out
    assert repo_alembic(demo_db, "downgrade", "-1").returncode == 0
    assert dump_schema(server, demo_db) == before


def test_postgres_plain_url_is_accepted_by_env_py(demo_db: str) -> None:
    sa_url = demo_db.replace("postgresql://", "postgresql+psycopg://")
    up = repo_alembic(sa_url, "upgrade", "head")
    assert up.returncode == 0, up.stderr
    assert any(row[3].endswith("ON DELETE CASCADE") for row in fk_state(demo_db))


def test_demo_runs_the_whole_story() -> None:
    """`cascade-tool demo`: throwaway server, upgrade, verify, delete, downgrade; exit 0."""
    out = subprocess.run([sys.executable, "-m", "cascade_tool", "demo"], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "$ cascade-tool verify\n  OK: 70 entries match the manifest, no drift." in out.stdout
    assert "rows linked to user 7: 173 before, 0 after" in out.stdout
    assert "skipped user_medications (table does not exist)" in out.stdout
    assert "62 FKs back to their original ON DELETE" in out.stdout
    # the upgrade section: a line per entry (70) and a few more (alembic's, indexes, check, summary)
    upgrade = out.stdout.split("$ alembic upgrade head\n", 1)[1].split("\n\n", 1)[0].splitlines()
    numbered = [line for line in upgrade if re.match(r"  \[ ?\d+/70\] ", line)]
    assert len(numbered) == 70 and len(upgrade) <= 70 + 20, upgrade
    assert "  [ 1/70] converted public.vitals_raw_data.vitals_raw_data_owner_fk (NO ACTION -> CASCADE), validated, " \
        in out.stdout
