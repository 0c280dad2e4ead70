"""The command line: exit codes, JSON, --print-sql, generate into existing projects, bad input."""

from __future__ import annotations

import json
import re
import socket
import subprocess
from pathlib import Path
from typing import Any

import click
import psycopg
import pytest

from cascade_tool.cli import cli
from tests.helpers import DATA, REPO, Server, alembic, execute_sql, fk_state
from tests.test_upgrade import QUIRKS_MANIFEST

MANIFEST = str(QUIRKS_MANIFEST)



def upgraded(project: Path, url: str, run_cli: Any) -> None:
    gen = run_cli("generate", "--manifest", MANIFEST, "--versions-dir",
                  str(project / "migrations" / "versions"), "--rev-id", "cli0001")
    assert gen.code == 0, gen.err
    up = alembic(project, url, "upgrade", "head")
    assert up.returncode == 0, up.stderr


def test_verify_exit_codes_and_json(quirks_db: str, alembic_project: Path, run_cli: Any) -> None:
    """verify: 1 with drift before the deploy, 0 after; the JSON says the same."""
    before = run_cli("verify", "--manifest", MANIFEST, "--database-url", quirks_db, "--json")
    assert before.code == 1
    data = json.loads(before.out)
    assert data["ok"] is False
    statuses = {(e["table"], e["constraint"]): e["status"] for e in data["entries"]}
    assert statuses[("public.posts", "posts_user_id_fkey")] == "convert"
    assert statuses[("public.tokens", "tokens_user_id_fkey")] == "ok"
    assert statuses[("public.devices", None)] == "create"
    assert [u["constraint"] for u in data["unlisted"]] == ["unlisted_notes_user_id_fkey"]

    upgraded(alembic_project, quirks_db, run_cli)
    after = run_cli("verify", "--manifest", MANIFEST, "--database-url", quirks_db, "--json")
    assert after.code == 0, after.out
    data = json.loads(after.out)
    assert data["ok"] is True and data["drift"] == 0
    skipped = [e for e in data["entries"] if e["status"].startswith("missing")]
    assert {e["table"] for e in skipped} == {"legacy_table", "public.posts"}
    assert all(e["optional"] and not e["drift"] for e in skipped)

    # an FK to users the manifest does not list: a warning, drift only with --strict
    text = run_cli("verify", "--manifest", MANIFEST, "--database-url", quirks_db)
    assert text.code == 0
    assert "warning: public.unlisted_notes(user_id) unlisted_notes_user_id_fkey references users" in text.out
    strict = run_cli("verify", "--manifest", MANIFEST, "--database-url", quirks_db, "--strict")
    assert strict.code == 1

    # someone reverts one FK by hand: verify names it
    execute_sql(
        quirks_db,
        "ALTER TABLE posts DROP CONSTRAINT posts_user_id_fkey,"
        " ADD CONSTRAINT posts_user_id_fkey FOREIGN KEY (user_id) REFERENCES users(id) NOT VALID",
    )
    drift = run_cli("verify", "--manifest", MANIFEST, "--database-url", quirks_db)
    assert drift.code == 1
    assert "DRIFT: ON DELETE NO ACTION -> CASCADE" in drift.out


def test_verify_warns_about_a_not_valid_fk(quirks_db: str, alembic_project: Path, run_cli: Any) -> None:
    """An FK made NOT VALID by hand after the deploy, with the right action: a warning (exit 0)
    naming the VALIDATE statement; --strict makes it a failure (exit 1)."""
    upgraded(alembic_project, quirks_db, run_cli)
    execute_sql(
        quirks_db,
        "ALTER TABLE posts DROP CONSTRAINT posts_user_id_fkey, ADD CONSTRAINT posts_user_id_fkey"
        " FOREIGN KEY (user_id) REFERENCES users(id) ON DELETE CASCADE NOT VALID",
    )
    result = run_cli("verify", "--manifest", MANIFEST, "--database-url", quirks_db, "--json")
    assert result.code == 0
    data = json.loads(result.out)
    assert [e for e in data["entries"] if e["drift"]] == []
    assert [(w["table"], w["kind"], w["statement"]) for w in data["warnings"]] == [
        ("public.posts", "not_valid", 'ALTER TABLE "public"."posts" VALIDATE CONSTRAINT "posts_user_id_fkey";')
    ]
    strict = run_cli("verify", "--manifest", MANIFEST, "--database-url", quirks_db, "--strict")
    assert strict.code == 1
    assert "FAILED: 0 entries drifted and 1 unlisted FK(s) and 1 NOT VALID FK(s) (--strict)." in strict.out
    plan = run_cli("plan", "--manifest", MANIFEST, "--database-url", quirks_db)
    assert plan.code == 0
    assert (
        "NOT VALID: the upgrade keeps it so (its ON DELETE action applies all the same); verify warns "
        "until it is validated: run cascade-tool validate, or: "
        'ALTER TABLE "public"."posts" VALIDATE CONSTRAINT "posts_user_id_fkey";' in plan.out
    )


def test_print_sql_runs_in_psql(server: Server, quirks_db: str, run_cli: Any) -> None:
    """--print-sql: a query a DBA pastes into psql; one row per entry (and per matching FK)."""
    result = run_cli("verify", "--manifest", MANIFEST, "--print-sql")
    assert result.code == 0
    out = subprocess.run(
        [server.tool("psql"), "-X", "-q", "-A", "-t", "-F", "|", "-v", "ON_ERROR_STOP=1", "-d", quirks_db],
        input=result.out, capture_output=True, text=True,
    )
    assert out.returncode == 0, out.stderr
    rows = [line.split("|") for line in out.stdout.splitlines() if line]
    # 19 entries; comments matches two FKs
    assert len(rows) == 20
    by_table = {(r[0], r[2]): r for r in rows}
    posts = by_table[("public.posts", "posts_user_id_fkey")]
    assert posts[3:8] == ["CASCADE", "NO ACTION", "t", "f", "convert"]
    assert by_table[("public.tokens", "tokens_user_id_fkey")][7] == "ok"
    assert by_table[("legacy_table", "")][7] == "missing_table"
    memberships = by_table[("public.memberships", "memberships_tenant_id_user_id_fkey")]
    assert memberships[1] == "tenant_id, user_id"  # one row for a composite key, not two


def test_plan_lists_statements_and_changes_nothing(quirks_db: str, run_cli: Any) -> None:
    before = fk_state(quirks_db)
    result = run_cli("plan", "--manifest", MANIFEST, "--database-url", quirks_db)
    assert result.code == 0, result.err
    # the online swap: the new FK added NOT VALID under a hashed temporary name, the old one
    # dropped, the new one renamed; every other property kept; then VALIDATE on its own
    swap = re.search(
        r"ALTER TABLE public\.sessions ADD CONSTRAINT (cascade_tmp_[0-9a-f]{16}) FOREIGN KEY \(user_id\) "
        r"REFERENCES public\.users\(id\) MATCH FULL ON UPDATE CASCADE ON DELETE CASCADE "
        r"DEFERRABLE INITIALLY DEFERRED NOT VALID;\n\s+ALTER TABLE public\.sessions DROP CONSTRAINT sessions_user;\n"
        r"\s+ALTER TABLE public\.sessions RENAME CONSTRAINT (cascade_tmp_[0-9a-f]{16}) TO sessions_user;\n"
        r"\s+ALTER TABLE public\.sessions VALIDATE CONSTRAINT sessions_user;\n",
        result.out,
    )
    assert swap is not None and swap.group(1) == swap.group(2), result.out
    assert "leave    public.tokens(user_id) tokens_user_id_fkey: already ON DELETE CASCADE" in result.out
    assert "skip     legacy_table(user_id): table does not exist (optional)" in result.out
    assert (
        "ALTER TABLE public.devices ADD CONSTRAINT devices_user_id_fkey FOREIGN KEY (user_id) "
        "REFERENCES public.users (id) ON DELETE CASCADE NOT VALID;\n"
        "           ALTER TABLE public.devices VALIDATE CONSTRAINT devices_user_id_fkey;" in result.out
    )
    # FK columns without an index get one first, built without blocking writes
    assert "CREATE INDEX CONCURRENTLY IF NOT EXISTS devices_user_id_fk_idx ON public.devices (user_id);" in result.out
    assert "(2 FKs match this entry: each is converted)" in result.out
    assert "Summary: 16 to convert, 1 to create, 1 left alone, 2 skipped, 0 blocking" in result.out
    assert fk_state(quirks_db) == before
    data = json.loads(run_cli("plan", "--manifest", MANIFEST, "--database-url", quirks_db, "--json").out)
    assert sum(1 for e in data["entries"] if e["action"] == "convert") == 16


def _dead_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"postgresql://nobody@127.0.0.1:{port}/nothing"


@pytest.mark.parametrize("command", ["plan", "verify"])
def test_connection_errors_exit_2_with_one_line(command: str, run_cli: Any) -> None:
    dead = run_cli(command, "--manifest", MANIFEST, "--database-url", _dead_url())
    assert dead.code == 2
    assert dead.err.startswith("cascade-tool: error: cannot connect to postgresql://nobody@127.0.0.1:")
    assert dead.err.count("\n") == 1 and "Traceback" not in dead.err

    wrong = run_cli(command, "--manifest", MANIFEST, "--database-url", "mysql://root:secret@db/app")
    assert wrong.code == 2
    assert "must start with postgresql://" in wrong.err and "secret" not in wrong.err

    missing = run_cli(command, "--manifest", MANIFEST, env={"DATABASE_URL": ""})
    assert missing.code == 2 and "DATABASE_URL" in missing.err


def test_url_forms_and_env_var(quirks_db: str, run_cli: Any) -> None:
    sa_url = quirks_db.replace("postgresql://", "postgresql+psycopg://")
    assert run_cli("plan", "--manifest", MANIFEST, "--database-url", sa_url).code == 0
    assert run_cli("plan", "--manifest", MANIFEST, env={"DATABASE_URL": quirks_db}).code == 0


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("[target\n", "invalid TOML"),
        ('[target]\ntable = "users"\n[[tables]]\nname = "a"\ncolumns = ["u"]\nbogus = 1\n',
         "tables[0] (a): unknown key 'bogus'"),
        ('[target]\ntable = "users"\n[[tables]]\nname = "a"\ncolumns = ["u"]\non_delete = "DROP"\n',
         "is not one of"),
        ('[target]\ntable = "users"\n[[tables]]\nname = ""\ncolumns = ["u"]\n', "table name is empty"),
        ('[target]\ntable = "users"\n[[tables]]\nname = "a"\ncolumns = ["u"]\n'
         '[[tables]]\nname = "a"\ncolumns = ["u"]\n', "duplicate of tables[0]"),
    ],
)
def test_malformed_manifest_exits_2_and_runs_nothing(
    body: str, message: str, tmp_path: Path, alembic_project: Path, run_cli: Any
) -> None:
    manifest = tmp_path / "bad.toml"
    manifest.write_text(body)
    versions = alembic_project / "migrations" / "versions"
    for args in (
        ["generate", "--versions-dir", str(versions)],
        ["plan", "--database-url", _dead_url()],  # the manifest is read before any connection
        ["verify", "--database-url", _dead_url()],
    ):
        result = run_cli(args[0], "--manifest", str(manifest), *args[1:])
        assert result.code == 2, result
        assert message in result.err and result.err.count("\n") == 1
    assert list(versions.glob("*.py")) == []


def test_missing_manifest_file(run_cli: Any, tmp_path: Path) -> None:
    result = run_cli("plan", "--manifest", str(tmp_path / "nope.toml"), "--database-url", _dead_url())
    assert result.code == 2
    assert "cannot read manifest" in result.err and "nope.toml" in result.err


def test_generate_chains_onto_an_existing_head(
    server: Server, quirks_db: str, alembic_project: Path, run_cli: Any
) -> None:
    """Dropped into a project with its own history, the revision follows its head and runs."""
    versions = alembic_project / "migrations" / "versions"
    (versions / "aaa111_app_table.py").write_text(
        '"""app table"""\nfrom alembic import op\nimport sqlalchemy as sa\n'
        'revision = "aaa111"\ndown_revision = None\nbranch_labels = None\ndepends_on = None\n\n'
        "def upgrade():\n    op.create_table('app_notes', sa.Column('user_id', sa.BigInteger,"
        " sa.ForeignKey('users.id')))\n\n"
        "def downgrade():\n    op.drop_table('app_notes')\n"
    )
    result = run_cli("generate", "--manifest", MANIFEST, "--alembic-ini",
                     str(alembic_project / "alembic.ini"), "-m", "cascade users")
    assert result.code == 0, result.err
    path = Path(result.out.strip())
    assert path.parent == versions and path.name.endswith("_cascade_users.py")
    assert 'down_revision = "aaa111"' in path.read_text()

    heads = alembic(alembic_project, quirks_db, "heads")
    assert heads.stdout.split()[0] == path.name.split("_")[0]
    up = alembic(alembic_project, quirks_db, "upgrade", "head")
    assert up.returncode == 0, up.stderr
    assert run_cli("verify", "--manifest", MANIFEST, "--database-url", quirks_db).code == 0
    assert alembic(alembic_project, quirks_db, "downgrade", "-1").returncode == 0
    with psycopg.connect(quirks_db) as conn:
        assert conn.execute("SELECT to_regclass('app_notes') IS NOT NULL").fetchone() == (True,)

    # --check: up to date now; out of date once the manifest changes
    check = run_cli("generate", "--manifest", MANIFEST, "--versions-dir", str(versions), "--check")
    assert check.code == 0 and "up to date" in check.err
    changed = alembic_project / "changed.toml"
    changed.write_text(QUIRKS_MANIFEST.read_text().replace('name = "tokens"', 'name = "tokenz"'))
    stale = run_cli("generate", "--manifest", str(changed), "--versions-dir", str(versions), "--check")
    assert stale.code == 1
    assert '-{"table": "tokens"' in stale.out and '+{"table": "tokenz"' in stale.out
    assert len(list(versions.glob("*.py"))) == 2  # --check wrote nothing


def test_generate_refuses_several_heads(alembic_project: Path, run_cli: Any) -> None:
    versions = alembic_project / "migrations" / "versions"
    for rev in ("h1", "h2"):
        (versions / f"{rev}.py").write_text(
            f'revision = "{rev}"\ndown_revision = None\n'
            "def upgrade():\n    pass\n\ndef downgrade():\n    pass\n"
        )
    result = run_cli("generate", "--manifest", MANIFEST, "--versions-dir", str(versions))
    assert result.code == 2
    assert "has 2 heads (h1, h2): merge them first" in result.err
    check = run_cli("generate", "--manifest", MANIFEST, "--versions-dir", str(versions), "--check")
    assert check.code == 1 and "no generated revision" in check.err


def test_generate_without_a_project_is_a_usage_error(tmp_path: Path, run_cli: Any,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    result = run_cli("generate", "--manifest", MANIFEST)
    assert result.code == 2
    assert "no alembic.ini or migrations/versions here" in result.err
    bad_rev = run_cli("generate", "--manifest", MANIFEST, "--versions-dir", str(tmp_path),
                      "--rev-id", "x'; drop")
    assert bad_rev.code == 2 and "revision id" in bad_rev.err


def _commands(group: click.Group, path: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    """Every command that runs (subcommands of groups included), as its argv path."""
    out: list[tuple[str, ...]] = []
    for name, command in sorted(group.commands.items()):
        if isinstance(command, click.Group):
            out += _commands(command, (*path, name))
        else:
            out.append((*path, name))
    return out


COMMANDS = _commands(cli)


def test_the_command_walk_sees_every_command() -> None:
    assert len(COMMANDS) >= 14 and ("quarantine", "restore") in COMMANDS and ("smoke-test",) in COMMANDS


@pytest.mark.parametrize("command", COMMANDS, ids=" ".join)
def test_every_command_documents_its_exit_codes(command: tuple[str, ...], run_cli: Any) -> None:
    result = run_cli(*command, "--help")
    assert result.code == 0
    assert "Exit codes" in result.out or "exit 1" in result.out
    assert "2" in result.out


def test_console_script_is_installed() -> None:
    out = subprocess.run(["cascade-tool", "--version"], capture_output=True, text=True)
    assert out.returncode == 0 and "cascade-tool" in out.stdout


def test_data_files(tmp_path: Path) -> None:
    assert (REPO / "manifest.toml").resolve() == (REPO / "cascade_tool/data/example_manifest.toml").resolve()
    assert (DATA / "quirks_schema.sql").exists()


def test_plan_counts_orphans_in_tables_with_odd_names(empty_db: str, run_cli: Any, tmp_path: Path) -> None:
    """Orphan counts run the database-built query as is (a % in a name is not a placeholder)."""
    execute_sql(
        empty_db,
        'CREATE TABLE users (id int PRIMARY KEY); INSERT INTO users VALUES (1);'
        'CREATE TABLE "50% off" ("user:id" int); INSERT INTO "50% off" VALUES (1), (2), (3), (NULL);',
    )
    manifest = tmp_path / "m.toml"
    manifest.write_text('[target]\ntable = "users"\n[[tables]]\nname = \'"50% off"\'\ncolumns = ["user:id"]\n')
    result = run_cli("plan", "--manifest", str(manifest), "--database-url", empty_db)
    assert result.code == 1
    assert 'blocked  public.50% off(user:id): 2 row(s) reference no row of public.users' in result.out


def test_stale_entries_are_skipped_by_plan_and_verify(quirks_db: str, run_cli: Any, tmp_path: Path) -> None:
    manifest = tmp_path / "m.toml"
    manifest.write_text(
        '[target]\ntable = "users"\n[defaults]\ncolumns = ["user_id"]\n'
        '[[tables]]\nname = "tokens"\n[[tables]]\nname = "gone"\nstale = true\n'
    )
    plan = run_cli("plan", "--manifest", str(manifest), "--database-url", quirks_db)
    assert plan.code == 0
    assert "skip     gone(user_id): marked stale (its FK is gone): review and remove the entry" in plan.out
    verify = run_cli("verify", "--manifest", str(manifest), "--database-url", quirks_db)
    assert verify.code == 0, verify.out


NO_URL = "no database: pass --database-url or set DATABASE_URL"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["plan", "--manifest", MANIFEST], f"{NO_URL} (see cascade-tool plan --help)"),
        (["orphans", "--manifest", MANIFEST], f"{NO_URL} (see cascade-tool orphans --help)"),
        (["plan", "--bogus"], "No such option '--bogus'. (see cascade-tool plan --help)"),
        (["impact", "--id", "1", "--where", "id = 1"],
         "give exactly one of --where and --id (see cascade-tool impact --help)"),
    ],
    ids=["no-url", "no-url-orphans", "unknown-option", "conflicting-options"],
)
def test_usage_errors_are_one_line_with_exit_2(args: list[str], message: str, run_cli: Any) -> None:
    result = run_cli(*args, env={"DATABASE_URL": ""})
    assert (result.code, result.out, result.err) == (2, "", f"cascade-tool: error: {message}\n")


def test_demo_with_a_directory_holding_no_server_says_so_in_one_line(run_cli: Any, tmp_path: Path) -> None:
    """A wrong --pg-bindir is an input error (exit 2, one line), not an internal error."""
    result = run_cli("demo", "--pg-bindir", str(tmp_path))
    assert (result.code, result.out, result.err) == (
        2, "", f"cascade-tool: error: {tmp_path} holds no PostgreSQL server binaries (postgres, initdb)\n"
    )
