"""What the operations pages promise, on a real server: rollback after a finished and a half-done
upgrade (docs/rollback.md), the privileges docs/privileges.md lists, fleet verify --strict."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import psycopg
import pytest

from cascade_tool.fleet.checks import verify_target
from cascade_tool.fleet.targets import Target
from cascade_tool.manifest import load_manifest
from tests.helpers import DATA, Server, fk_state
from tests.test_doc_examples import fresh_app_database, role_url

EARLIER_REVISION = '''"""an earlier revision of the application"""
from alembic import op
import sqlalchemy as sa

revision = "0001app"
down_revision = None
branch_labels = None
depends_on = None


def upgrade():
    op.add_column("users", sa.Column("nickname", sa.Text()))


def downgrade():
    op.drop_column("users", "nickname")
'''


def run(project: Path, *args: str, url: str) -> subprocess.CompletedProcess[str]:
    """`python -m alembic ...` or `python -m cascade_tool ...` in the project, with DATABASE_URL."""
    env = dict(os.environ, DATABASE_URL=url)
    return subprocess.run([sys.executable, "-m", *args], cwd=project, env=env, capture_output=True, text=True,
                          timeout=300)


def project_with_two_revisions(server: Server, tmp_path: Path) -> tuple[Path, str, str]:
    """The first-deploy app, an earlier revision of its own, then the cascade-tool revision."""
    url = fresh_app_database(server, (DATA / "first_deploy_schema.sql").read_text())
    project = tmp_path / "app"
    project.mkdir()
    subprocess.run([sys.executable, "-m", "alembic", "init", "migrations"], cwd=project, check=True,
                   capture_output=True)
    ini = project / "alembic.ini"
    ini.write_text(ini.read_text().replace("driver://user:pass@localhost/dbname", url))
    (project / "migrations" / "versions" / "0001app_earlier.py").write_text(EARLIER_REVISION)
    assert run(project, "alembic", "upgrade", "head", url=url).returncode == 0
    discovered = run(project, "cascade_tool", "discover", "--target", "users", "--out", "manifest.toml", url=url)
    assert discovered.returncode == 0, discovered.stderr
    generated = run(project, "cascade_tool", "generate", "--rev-id", "c0cade000001", url=url)
    assert generated.returncode == 0, generated.stderr
    return project, url, "c0cade000001"


def version(url: str) -> list[str]:
    with psycopg.connect(url.replace("+psycopg", "")) as conn:
        return [row[0] for row in conn.execute("SELECT version_num FROM alembic_version")]


def stop_half_way(project: Path, url: str, admin_url: str) -> subprocess.CompletedProcess[str]:
    """An upgrade that gives up on entry 3 (sessions): a session holds a lock on that table."""
    with psycopg.connect(admin_url) as holder:
        holder.execute("LOCK TABLE sessions IN ACCESS SHARE MODE")
        result = run(project, "alembic", "-x", "lock_retry_budget=1s", "-x", "create_indexes=false",
                     "upgrade", "head", url=url)
    return result


def test_a_half_done_upgrade_is_not_stamped_and_rerunning_finishes_it(server: Server, tmp_path: Path) -> None:
    project, url, rev = project_with_two_revisions(server, tmp_path)
    result = stop_half_way(project, url, server.url("app"))
    assert result.returncode != 0
    assert "swap of" in result.stderr and "stopped: no lock within lock_timeout" in result.stderr
    # not stamped: Alembic still records the revision before it, and two FKs are already swapped
    assert version(url) == ["0001app"]
    swapped = {row[2] for row in fk_state(server.url("app")) if "ON DELETE CASCADE" in row[3]}
    assert swapped == {"comments_user_id_fkey", "posts_user_id_fkey"}
    # supported way 1: run it again once the lock is gone
    again = run(project, "alembic", "upgrade", "head", url=url)
    assert again.returncode == 0, again.stderr
    assert "5 converted, 0 created, 0 unchanged" in again.stdout  # the revision reports all it did
    assert version(url) == [rev]
    assert run(project, "cascade_tool", "verify", url=url).returncode == 0


def test_a_half_done_upgrade_rolled_back_by_stamping_then_downgrading(server: Server, tmp_path: Path) -> None:
    project, url, rev = project_with_two_revisions(server, tmp_path)
    before = fk_state(server.url("app"))
    assert stop_half_way(project, url, server.url("app")).returncode != 0
    # what the page warns against: -1 here would undo the application's own earlier revision
    assert version(url) == ["0001app"]
    # supported way 2: stamp the cascade-tool revision, then downgrade it
    stamped = run(project, "alembic", "stamp", rev, url=url)
    assert stamped.returncode == 0, stamped.stderr
    down = run(project, "alembic", "downgrade", "-1", url=url)
    assert down.returncode == 0, down.stderr
    assert "2 restored" in down.stdout
    assert fk_state(server.url("app")) == before
    assert version(url) == ["0001app"]
    with psycopg.connect(server.url("app")) as conn:  # the earlier revision's column is still there
        assert conn.execute(
            "SELECT count(*) FROM information_schema.columns WHERE table_name = 'users' AND column_name = 'nickname'"
        ).fetchone() == (1,)


# The read-only role of docs/privileges.md, granted exactly what the page lists.
READER_GRANTS = """
CREATE ROLE cascade_reader LOGIN;
GRANT pg_read_all_stats TO cascade_reader;
GRANT USAGE ON SCHEMA public TO cascade_reader;
GRANT SELECT ON users, posts, comments, sessions, audit_events TO cascade_reader;
GRANT USAGE ON SCHEMA cascade_tool TO cascade_reader;
GRANT SELECT ON ALL TABLES IN SCHEMA cascade_tool TO cascade_reader;
"""

READ_ONLY_COMMANDS = [
    ("discover", "--target", "users", "--out", "proposed.toml"),
    ("lint", "--manifest", "manifest.toml"),
    ("plan", "--manifest", "manifest.toml"),
    ("preflight", "--manifest", "manifest.toml"),
    ("verify", "--manifest", "manifest.toml"),
    ("orphans", "--manifest", "manifest.toml"),
    ("impact", "--id", "7"),
]


def test_the_read_only_role_of_the_privileges_page_runs_every_read_only_command(
    server: Server, tmp_path: Path
) -> None:
    page = (Path(__file__).resolve().parent.parent / "docs" / "privileges.md").read_text()
    for grant in READER_GRANTS.strip().splitlines():
        assert grant in page, f"docs/privileges.md lists: {grant}"
    project, url, _ = project_with_two_revisions(server, tmp_path)
    with psycopg.connect(server.url("app"), autocommit=True) as conn:
        conn.execute("DROP ROLE IF EXISTS cascade_reader")  # roles are per server
    assert run(project, "alembic", "-x", "create_indexes=false", "upgrade", "head", url=url).returncode == 0
    with psycopg.connect(server.url("app"), autocommit=True) as conn:
        conn.execute("DROP OWNED BY cascade_reader") if conn.execute(
            "SELECT 1 FROM pg_roles WHERE rolname = 'cascade_reader'").fetchone() else None
        conn.execute(READER_GRANTS)
    reader = role_url(server, "cascade_reader", "app")
    try:
        for command in READ_ONLY_COMMANDS:
            result = run(project, "cascade_tool", *command, url=reader)
            assert result.returncode == 0, (command, result.stdout, result.stderr)
            assert "permission denied" not in (result.stdout + result.stderr), command
            assert "pg_read_all_stats" not in result.stdout, command  # preflight sees every session
        # and verify reads the bookkeeping: an FK the upgrade left unvalidated is drift, not a warning
        with psycopg.connect(server.url("app"), autocommit=True) as conn:
            conn.execute("UPDATE cascade_tool.fk_changes SET validated_at = NULL")
            conn.execute("ALTER TABLE posts DROP CONSTRAINT posts_user_id_fkey")
            conn.execute("ALTER TABLE posts ADD CONSTRAINT posts_user_id_fkey FOREIGN KEY (user_id)"
                         " REFERENCES users ON DELETE CASCADE NOT VALID")
        half_done = run(project, "cascade_tool", "verify", url=reader)
        assert half_done.returncode == 1, half_done.stdout + half_done.stderr
    finally:
        with psycopg.connect(server.url("app"), autocommit=True) as conn:
            conn.execute("DROP OWNED BY cascade_reader")
        with psycopg.connect(server.admin_url, autocommit=True) as conn:
            conn.execute("DROP DATABASE IF EXISTS app WITH (FORCE)")
            conn.execute("DROP ROLE IF EXISTS cascade_reader")


def test_fleet_verify_strict_fails_on_what_verify_strict_fails_on(server: Server, tmp_path: Path) -> None:
    """NOT VALID FKs are warnings for fleet verify as for verify; --strict makes them fail, with the FK named."""
    admin = server.url(server.create_database())
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute((DATA / "validate_example_schema.sql").read_text().encode())
    manifest_path = tmp_path / "manifest.toml"
    manifest_path.write_text("[target]\ntable = \"users\"\n[defaults]\non_delete = \"CASCADE\"\n"
                             "columns = [\"user_id\"]\n[[tables]]\nname = \"likes\"\n")
    manifest = load_manifest(manifest_path)
    target = Target("db", admin)
    plain: Any = verify_target(target, manifest)
    assert plain.status == "ok" and "1 NOT VALID" in plain.detail
    strict: Any = verify_target(target, manifest, strict=True)
    assert strict.status == "drift"
    assert "likes_user_id_fkey: NOT VALID (--strict)" in strict.detail


def test_fleet_docs_say_what_fleet_verify_strict_does() -> None:
    from click.testing import CliRunner

    from cascade_tool.cli import cli

    help_text = " ".join(CliRunner().invoke(cli, ["fleet", "verify", "--help"]).output.split())
    assert "--strict As verify --strict: NOT VALID FKs and FKs to the target missing from the manifest" in help_text
    fleet_page = (Path(__file__).resolve().parent.parent / "docs" / "fleet.md").read_text()
    assert "`--strict` as for `verify`: NOT VALID FKs" in " ".join(fleet_page.split())


@pytest.mark.parametrize("page", ["docs/real-schemas.md", "docs/fleet.md", "docs/validate.md"])
def test_not_valid_is_a_warning_on_every_page(page: str) -> None:
    """One rule: a NOT VALID FK is a verify warning (drift only with --strict), wherever it is described."""
    import re

    text = (Path(__file__).resolve().parent.parent / page).read_text()
    for sentence in re.split(r"(?<=[.;])\s", text):
        if "NOT VALID" in sentence and "drift" in sentence:
            assert re.search(r"warning|--strict|interrupted|did not get that far|not drift|run the upgrade again",
                             sentence), f"{page}: {sentence!r}"


def test_fleet_apply_help_and_fleet_page_say_the_same_about_a_failed_target() -> None:
    from click.testing import CliRunner

    from cascade_tool.cli import cli

    help_text = " ".join(CliRunner().invoke(cli, ["fleet", "apply", "--help"]).output.split())
    assert "left as it was" not in help_text
    assert "when it stopped later, the FKs already swapped stay swapped" in help_text
    page = " ".join((Path(__file__).resolve().parent.parent / "docs" / "fleet.md").read_text().split())
    assert "the FKs already swapped stay swapped" in page
    assert "left as it was" not in page


def test_dropping_the_bookkeeping_makes_a_downgrade_restore_nothing(server: Server, tmp_path: Path) -> None:
    """What docs/changing-the-manifest.md says happens when cascade_tool is dropped too early."""
    project, url, rev = project_with_two_revisions(server, tmp_path)
    assert run(project, "alembic", "upgrade", "head", url=url).returncode == 0
    after_upgrade = fk_state(server.url("app"))
    with psycopg.connect(server.url("app"), autocommit=True) as conn:
        conn.execute("DROP SCHEMA cascade_tool CASCADE")
    down = run(project, "alembic", "downgrade", "-1", url=url)
    assert down.returncode == 0, down.stderr
    assert f"cascade-tool revision {rev}: nothing recorded, nothing to restore" in down.stdout
    assert version(url) == ["0001app"]
    assert fk_state(server.url("app")) == after_upgrade  # every FK keeps its new action
    page = " ".join((Path(__file__).resolve().parent.parent / "docs" / "changing-the-manifest.md").read_text().split())
    assert "nothing recorded, nothing to restore" in page


def test_changing_the_manifest_after_a_deploy_is_a_new_revision(server: Server, tmp_path: Path) -> None:
    """docs/changing-the-manifest.md, step by step: --check says out of date, the new revision converts
    only what changed, and its downgrade undoes only that."""
    project, url, first = project_with_two_revisions(server, tmp_path)
    assert run(project, "alembic", "upgrade", "head", url=url).returncode == 0
    deployed = fk_state(server.url("app"))
    manifest = project / "manifest.toml"
    text = manifest.read_text()
    entry = 'columns = ["actor_id"]\non_delete = '
    edited = text.replace(entry + '"SET NULL"', entry + '"CASCADE"')
    assert edited != text
    manifest.write_text(edited)
    assert run(project, "cascade_tool", "generate", "--check", url=url).returncode == 1
    plan = run(project, "cascade_tool", "plan", url=url)
    assert "1 to convert, 0 to create, 4 left alone" in plan.stdout, plan.stdout
    assert run(project, "cascade_tool", "generate", "--rev-id", "c0cade000002", url=url).returncode == 0
    up = run(project, "alembic", "upgrade", "head", url=url)
    assert "1 converted, 0 created, 4 unchanged" in up.stdout, up.stdout + up.stderr
    assert run(project, "cascade_tool", "verify", url=url).returncode == 0
    assert version(url) == ["c0cade000002"]
    down = run(project, "alembic", "downgrade", "-1", url=url)
    assert down.returncode == 0, down.stderr
    assert fk_state(server.url("app")) == deployed  # back to what the first revision left
    assert version(url) == [first]
