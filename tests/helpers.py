"""Helpers the tests share: paths, a started server's handle, SQL and CLI runners, dumps.

Tests import these from here; tests/conftest.py holds only the pytest fixtures.
"""

from __future__ import annotations

import itertools
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg import sql

from cascade_tool.cli import main

REPO = Path(__file__).resolve().parent.parent
SHARED = REPO.parent / "shared"
DATA = Path(__file__).resolve().parent / "data"
_counter = itertools.count()


@dataclass
class Server:
    """A running server the tests may create databases on."""

    admin_url: str
    version: int
    bindir: Path | None  # client programs (psql, pg_dump) for this server, when we started it
    templates: dict[str, str] = field(default_factory=dict)

    def url(self, dbname: str) -> str:
        base, _, _ = self.admin_url.rpartition("/")
        return f"{base}/{dbname}"

    def tool(self, name: str) -> str:
        if self.bindir and (self.bindir / name).exists():
            return str(self.bindir / name)
        found = shutil.which(name)
        if not found:
            pytest.skip(f"{name} not found")
        return found

    def create_database(self, template: str | None = None) -> str:
        name = f"t{os.getpid()}_{next(_counter)}"
        with psycopg.connect(self.admin_url, autocommit=True) as conn:
            conn.execute(
                sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(
                    sql.Identifier(name), sql.Identifier(template or "template0")
                )
            )
        return name

    def drop_database(self, name: str) -> None:
        with psycopg.connect(self.admin_url, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))

    def template(self, key: str, loader: Any) -> str:
        """A template database built once per server by `loader(url)`; tests clone it."""
        if key not in self.templates:
            name = self.create_database()
            loader(self.url(name))
            with psycopg.connect(self.admin_url, autocommit=True) as conn:
                conn.execute(
                    sql.SQL("ALTER DATABASE {} WITH IS_TEMPLATE true ALLOW_CONNECTIONS false").format(
                        sql.Identifier(name)
                    )
                )
            self.templates[key] = name
        return self.templates[key]


def execute_sql(url: str, text: str) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(text.encode())


def quirks_loader(url: str) -> None:
    """tests/data/quirks_schema.sql: every FK quirk the upgrade must handle."""
    execute_sql(url, (DATA / "quirks_schema.sql").read_text())


def demo_loader(url: str) -> None:
    from cascade_tool.demo import demo_schema_sql

    execute_sql(url, demo_schema_sql())


@dataclass
class Result:
    code: int
    out: str
    err: str


def cli_runner(capsys: pytest.CaptureFixture[str]) -> Callable[..., Result]:
    """Run `cascade-tool ARGS` in-process; returns exit code, stdout, stderr."""

    def run(*args: str, env: dict[str, str] | None = None) -> Result:
        old = {k: os.environ.get(k) for k in (env or {})}
        os.environ.update(env or {})
        capsys.readouterr()
        try:
            with pytest.raises(SystemExit) as exc:
                main(list(args))
        finally:
            for k, v in old.items():
                if v is None:
                    os.environ.pop(k, None)
                else:
                    os.environ[k] = v
        captured = capsys.readouterr()
        code = exc.value.code if isinstance(exc.value.code, int) else 2
        return Result(code, captured.out, captured.err)

    return run


def alembic(project: Path, url: str, *args: str) -> subprocess.CompletedProcess[str]:
    """Run the real `alembic` command line in `project`, as a deploy would."""
    env = dict(os.environ, DATABASE_URL=url)
    return subprocess.run(
        [sys.executable, "-m", "alembic", *args],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def dump_schema(server: Server, url: str) -> str:
    """pg_dump --schema-only, without our bookkeeping, with a fixed restrict key."""
    pg_dump = server.tool("pg_dump")
    args = [pg_dump, "--schema-only", "--no-owner", "--exclude-schema=cascade_tool",
            "--exclude-table=alembic_version", "-d", url]
    probe = subprocess.run([pg_dump, "--help"], capture_output=True, text=True)
    if "--restrict-key" in probe.stdout:
        args.insert(1, "--restrict-key=cascadetooltest")
    result = subprocess.run(args, capture_output=True, text=True, check=True)
    return result.stdout


def fk_state(url: str) -> list[tuple[Any, ...]]:
    """Every FK row in the catalog (clones included), as comparable text."""
    with psycopg.connect(url) as conn:
        return conn.execute(
            """
            SELECT n.nspname, r.relname, c.conname, pg_get_constraintdef(c.oid), c.convalidated,
                   c.conparentid <> 0
              FROM pg_constraint c JOIN pg_class r ON r.oid = c.conrelid
              JOIN pg_namespace n ON n.oid = r.relnamespace
             WHERE c.contype = 'f' AND n.nspname NOT IN ('cascade_tool')
             ORDER BY 1, 2, 3, 4
            """
        ).fetchall()


def unavailable(reason: str) -> None:
    """Skip a test whose server cannot be had on this machine, with one line saying why; under CI
    (CI set, as CI services and this project's .ci/run do) fail instead, so that a server CI is
    meant to test (Citus, PostgreSQL 16 and 17) can never drop out of the run unnoticed."""
    if os.environ.get("CI"):
        pytest.fail(f"{reason} (CI is set: the run must include this server)", pytrace=False)
    pytest.skip(reason)
