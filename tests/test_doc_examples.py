"""The docs' examples are run: every ```console block of the pages below, against a throwaway
server, with the output compared (tests/docexamples.py says how). A drifted example fails here.
"""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

from cascade_tool.pgserver import embedded_bindir, server_version
from tests import docexamples
from tests.docexamples import EXAMPLE_URL, Session, blocks, matches, run_page
from tests.helpers import DATA, REPO, Server

# Every page with a ```console block, and the test that runs it. A page not listed here must not
# have one: output shown in a console block is a promise that the suite checks it.
EXECUTED = {
    "docs/first-deploy.md": "test_first_deploy_page",
    "README.md": "test_readme_workflow",
    "docs/validate.md": "test_validate_page",
}


def role_url(server: Server, role: str, dbname: str) -> str:
    """The server's URL for `dbname` as `role`, in the postgresql+psycopg:// form the docs use."""
    base = server.url(dbname)
    rest = base.split("://", 1)[1].split("@", 1)[1]
    return f"postgresql+psycopg://{role}@{rest}"


# What docs/privileges.md says the deploy role needs beyond owning the tables, granted here exactly:
# the first-deploy page and validate.md's samples run as that role, not as a superuser.
DEPLOY_GRANTS = ("GRANT CREATE ON DATABASE app TO deploy;", "GRANT CREATE ON SCHEMA public TO deploy;")


def fresh_app_database(server: Server, schema_sql: str) -> str:
    """Database `app` (the docs' name for it) owned, table by table, by the non-superuser `deploy`."""
    with psycopg.connect(server.admin_url, autocommit=True) as conn:
        conn.execute("DROP DATABASE IF EXISTS app WITH (FORCE)")
        if conn.execute("SELECT 1 FROM pg_roles WHERE rolname = 'deploy'").fetchone() is None:
            conn.execute("CREATE ROLE deploy LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE")
        conn.execute("CREATE DATABASE app")
        conn.execute(DEPLOY_GRANTS[0].encode())
    with psycopg.connect(server.url("app"), autocommit=True) as conn:
        conn.execute(DEPLOY_GRANTS[1].encode())
        conn.execute("SET ROLE deploy")
        conn.execute(schema_sql.encode())
    return role_url(server, "deploy", "app")


def one_server_is_enough(server: Server) -> None:
    """The pages' output is the same on every supported server: run them on the newest only (the
    embedded one), to keep CI short. tests/test_operations.py covers rollback and privileges on
    every server."""
    embedded = embedded_bindir()
    if embedded is not None and server.bindir is not None and server.version != server_version(embedded):
        pytest.skip("docs examples run on the embedded server only")


@pytest.fixture
def docs_app(server: Server, tmp_path: Path) -> Iterator[Session]:
    """The first-deploy page's world: a stock `alembic init` project and the example database."""
    one_server_is_enough(server)
    url = fresh_app_database(server, (DATA / "first_deploy_schema.sql").read_text())
    project = tmp_path / "app"
    project.mkdir()
    subprocess.run([sys.executable, "-m", "alembic", "init", "migrations"], cwd=project, check=True,
                   capture_output=True)
    yield Session(project, url)
    with psycopg.connect(server.admin_url, autocommit=True) as conn:
        conn.execute("DROP DATABASE IF EXISTS app WITH (FORCE)")


def test_the_deploy_role_gets_what_the_privileges_page_lists() -> None:
    text = (REPO / "docs" / "privileges.md").read_text(encoding="utf-8")
    for grant in DEPLOY_GRANTS:
        assert grant in text, grant


def test_first_deploy_page(docs_app: Session) -> None:
    page = REPO / "docs" / "first-deploy.md"
    failures = run_page(page, docs_app)
    assert not failures, "\n\n".join(failures)
    # the manifest excerpt the page shows is what discover wrote
    written = (docs_app.cwd / "manifest.toml").read_text(encoding="utf-8")
    excerpts = [b.body for b in blocks(page.read_text(encoding="utf-8")) if b.language == "toml"]
    assert excerpts
    for excerpt in excerpts:
        assert excerpt.strip() in written, excerpt


def test_readme_workflow(docs_app: Session) -> None:
    """The README's deploy workflow, command by command, on the first-deploy page's project."""
    docexamples.set_ini_keys(docs_app.cwd / "alembic.ini", f"sqlalchemy.url = {docs_app.url}")
    failures = run_page(REPO / "README.md", docs_app)
    assert not failures, "\n\n".join(failures)


def test_validate_page(server: Server, tmp_path: Path) -> None:
    """validate.md's samples: verify's warnings, then validate's lines, on the schema they describe."""
    one_server_is_enough(server)
    url = fresh_app_database(server, (DATA / "validate_example_schema.sql").read_text())
    project = tmp_path / "app"
    project.mkdir()
    subprocess.run([sys.executable, "-m", "alembic", "init", "migrations"], cwd=project, check=True,
                   capture_output=True)
    docexamples.set_ini_keys(project / "alembic.ini", f"sqlalchemy.url = {url}")
    (project / "manifest.toml").write_text((DATA / "validate_example_manifest.toml").read_text())
    session = Session(project, url, {"DATABASE_URL": url})
    generated = subprocess.run([sys.executable, "-m", "cascade_tool", "generate"], cwd=project, capture_output=True,
                               text=True, env=session.env)
    assert generated.returncode == 0, generated.stderr
    try:
        failures = run_page(REPO / "docs" / "validate.md", session)
        assert not failures, "\n\n".join(failures)
    finally:
        with psycopg.connect(server.admin_url, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier("app")))


def test_every_page_with_console_blocks_is_run() -> None:
    pages = [REPO / "README.md", *sorted((REPO / "docs").rglob("*.md"))]
    with_console = {
        str(p.relative_to(REPO)) for p in pages if any(b.language == "console" for b in blocks(p.read_text()))
    }
    unrun = with_console - set(EXECUTED)
    assert not unrun, f"console blocks are run by tests/test_doc_examples.py: add a test for {sorted(unrun)}"
    for page, test in EXECUTED.items():
        assert page in with_console, f"{page} has no console block left: drop it from EXECUTED"
        assert test in globals()


def test_readme_and_index_demo_excerpts_are_what_the_demo_prints(tmp_path: Path) -> None:
    """The README and index.md show the demo abridged: every line shown is a line it prints, in order."""
    demo = subprocess.run([sys.executable, "-m", "cascade_tool", "demo"], cwd=tmp_path, capture_output=True,
                          text=True, timeout=300)
    assert demo.returncode == 0, demo.stdout + demo.stderr
    for page in (REPO / "README.md", REPO / "docs" / "index.md"):
        text = page.read_text(encoding="utf-8")
        shown = re.search(r"(?ms)^    \$ cascade-tool plan: .*?(?=\n\S)", text)
        assert shown, f"{page.name}: the demo excerpt"
        lines = [line[4:] for line in shown.group(0).splitlines() if line.strip()]
        expected = ["..."]
        for line in lines:
            expected += [line, "..."] if line.strip() != "..." else []
        assert matches(expected, demo.stdout), f"{page.name}: the demo excerpt is not what the demo prints"


# ---- the harness itself can fail ----


def test_the_harness_catches_drifted_output(tmp_path: Path) -> None:
    assert matches(["OK: 5 entries match the manifest, no drift."], "OK: 5 entries match the manifest, no drift.\n")
    assert not matches(["OK: 5 entries match the manifest, no drift."], "OK: 6 entries match the manifest, no drift.")
    assert not matches(["70 entries, 0 drift: OK"], "OK: 70 entries match the manifest, no drift.")
    assert matches(["a", "...", "z"], "a\nb\nc\nz\n")
    assert not matches(["a", "z"], "a\nb\nz\n")
    assert matches(["[1/5] converted x, validated, 41 ms"], "[1/5] converted x, validated, 3 ms")
    assert matches(["revision acc1989bafac: done"], "revision 0123456789ab: done")

    page = tmp_path / "page.md"
    page.write_text("```console\n$ echo hello\nhullo\n```\n")
    assert run_page(page, Session(tmp_path, EXAMPLE_URL))
    page.write_text("```console\n$ false\n```\n")
    assert run_page(page, Session(tmp_path, EXAMPLE_URL))
    page.write_text("```console\n$ false   # exit 1\n$ echo hello\nhello\n```\n")
    assert not run_page(page, Session(tmp_path, EXAMPLE_URL))
