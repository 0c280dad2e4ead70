"""Tenants that share a database stay apart: schema-per-tenant, upgraded and downgraded one at a time.

Each tenant is a schema (users, posts, comments) of one database, cloned from a template. The
revision converts one FK, creates one (its orphan rows quarantined) and leaves one for
`cascade-tool validate`, so every kind of bookkeeping is written: cascade_tool.fk_changes (with a
pending validation), cascade_tool.created_indexes and cascade_quarantine.rows, all shared by the
tenants. Downgrading, validating or restoring one tenant must leave every other tenant byte for
byte as it was: its schema dump (definitions and rows), its bookkeeping rows, its quarantined rows
and its alembic_version. Alembic runs in this process through its command API (one template
database, one loop), as the user's env.py: this repository's, Alembic's `-x tenant=` cookbook
recipe, and one with its own version_table_schema.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
import subprocess
import threading
from argparse import Namespace
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from alembic import command
from alembic.config import Config
from sqlalchemy import create_engine, pool

from cascade_tool.manifest import load_manifest
from cascade_tool.render import RevisionInfo, machinery_sha256, render_revision
from tests.helpers import DATA, Server, alembic, execute_sql

MANIFEST = DATA / "tenant_manifest.toml"
SCHEMA_SQL = (DATA / "tenant_schema.sql").read_text()
# The same manifest's revision as cascade-tool 0.2.0 generated it (its machinery read the shared
# bookkeeping back by revision only).
OLD_REVISION = DATA / "tenant_revision_0_2_0.py"
REV = "7e4a47000001"


def tenants_loader(names: list[str]) -> Any:
    def load(url: str) -> None:
        execute_sql(url, "\n".join(f'CREATE SCHEMA "{n}"; SET search_path = "{n}";\n{SCHEMA_SQL}' for n in names))

    return load


THREE = ["s1", "s2", "s3"]
FORTY = [f"t{i:02d}" for i in range(40)]


@pytest.fixture
def three(server: Server) -> Iterator[str]:
    db = server.create_database(server.template("tenants_3", tenants_loader(THREE)))
    yield server.url(db)
    server.drop_database(db)


def write_revision(versions: Path, machinery: str = "new") -> Path:
    """The tenant manifest's revision, REV, with the installed machinery or 0.2.0's."""
    versions.mkdir(parents=True, exist_ok=True)
    path = versions / f"{REV}_cascade_user_foreign_keys.py"
    if machinery == "0.2.0":
        path.write_text(OLD_REVISION.read_text())
    else:
        info = RevisionInfo(REV, None, "2026-12-01 00:00:00", "cascade user foreign keys")
        path.write_text(render_revision(load_manifest(MANIFEST), info))
    for cached in versions.glob("__pycache__"):
        for f in cached.iterdir():
            f.unlink()
    return path


# --- Alembic, in this process ------------------------------------------------------------------

def alembic_run(ini: Path, url: str, verb: str, target: str, *, schema: str | None = None,
                x: list[str] | None = None) -> str:
    """`alembic [-x ...] upgrade|downgrade target` through the command API; returns what it printed.
    With `schema`, the connection has `search_path=schema,public` (as a fleet schema target)."""
    cfg = Config(str(ini), cmd_opts=Namespace(x=x or []))
    cfg.attributes["configure_logger"] = False
    args: dict[str, Any] = {"options": f"-c search_path={schema},public"} if schema else {}
    engine = create_engine(url.replace("postgresql://", "postgresql+psycopg://"), poolclass=pool.NullPool,
                           connect_args=args)
    out = io.StringIO()
    try:
        with contextlib.redirect_stdout(out):
            if x:  # the env.py connects by itself (it reads sqlalchemy.url)
                cfg.set_main_option("sqlalchemy.url", url.replace("postgresql://", "postgresql+psycopg://"))
                getattr(command, verb)(cfg, target)
            else:
                with engine.connect() as connection:
                    cfg.attributes["connection"] = connection
                    getattr(command, verb)(cfg, target)
                    connection.commit()  # alembic_version's change
    finally:
        engine.dispose()
    return out.getvalue()


# --- what one tenant is, as text ---------------------------------------------------------------

def pg_dump(server: Server, url: str, *args: str) -> str:
    cmd = [server.tool("pg_dump"), "--no-owner", *args, "-d", url]
    probe = subprocess.run([cmd[0], "--help"], capture_output=True, text=True)
    if "--restrict-key" in probe.stdout:
        cmd.insert(1, "--restrict-key=cascadetooltest")
    return subprocess.run(cmd, capture_output=True, text=True, check=True).stdout


_BOOKKEEPING = {
    # every column, as text, in a stable order
    "fk_changes": "SELECT to_jsonb(f)::text FROM cascade_tool.fk_changes f WHERE f.table_schema = ANY (%s) "
                  "ORDER BY f.table_schema, f.table_name, f.constraint_name",
    "created_indexes": "SELECT to_jsonb(i)::text FROM cascade_tool.created_indexes i WHERE i.schema_name = ANY (%s) "
                       "ORDER BY i.schema_name, i.index_name",
    "quarantine": "SELECT to_jsonb(q)::text FROM cascade_quarantine.rows q WHERE q.table_schema = ANY (%s) "
                  "ORDER BY q.id",
}


def bookkeeping(url: str, schemas: list[str]) -> dict[str, list[str]]:
    """The shared bookkeeping rows of these schemas' tables, every column as text."""
    out: dict[str, list[str]] = {}
    with psycopg.connect(url) as conn:
        for name, query in _BOOKKEEPING.items():
            table = "cascade_quarantine.rows" if name == "quarantine" else f"cascade_tool.{name}"
            if conn.execute("SELECT to_regclass(%s)", (table,)).fetchone() == (None,):
                out[name] = []
                continue
            out[name] = [r[0] for r in conn.execute(query, (schemas,)).fetchall()]
    return out


def snapshot(server: Server, url: str, schemas: list[str]) -> dict[str, Any]:
    """Everything of these tenants: one pg_dump of their schemas (definitions, indexes, FKs,
    rows, alembic_version) and their rows of the shared bookkeeping."""
    args = ["--schema=" + s for s in schemas]
    return {"dump": pg_dump(server, url, *args), **bookkeeping(url, schemas)}


def state(url: str, schema: str) -> dict[str, Any]:
    """One tenant's FKs (definition, validated), its indexes, comments rows and alembic_version."""
    with psycopg.connect(url, options=f"-c search_path={schema}") as conn:
        fks = conn.execute(
            "SELECT r.relname || '.' || c.conname, pg_get_constraintdef(c.oid), c.convalidated FROM pg_constraint c"
            " JOIN pg_class r ON r.oid = c.conrelid JOIN pg_namespace n ON n.oid = r.relnamespace"
            " WHERE c.contype = 'f' AND n.nspname = %s ORDER BY 1", (schema,)).fetchall()
        indexes = [r[0] for r in conn.execute(
            "SELECT indexname FROM pg_indexes WHERE schemaname = %s ORDER BY 1", (schema,)).fetchall()]
        comments = conn.execute(f'SELECT count(*) FROM "{schema}".comments').fetchone()
        version = conn.execute("SELECT to_regclass(%s)", (f'"{schema}".alembic_version',)).fetchone()
        versions = ([r[0] for r in conn.execute(f'SELECT version_num FROM "{schema}".alembic_version')]
                    if version and version[0] else [])
    return {"fks": {name: (d, v) for name, d, v in fks}, "indexes": indexes,
            "comments": comments[0] if comments else None, "versions": versions}


UPGRADED_FKS = {
    "comments.comments_post_id_fkey": ("FOREIGN KEY (post_id) REFERENCES posts(id) ON DELETE CASCADE NOT VALID", False),
    "comments.comments_user_id_fkey": ("FOREIGN KEY (user_id) REFERENCES users(id) ON DELETE SET NULL", True),
    "posts.posts_user_id_fkey": ("FOREIGN KEY (user_id) REFERENCES users(id) ON DELETE CASCADE", True),
}
ORIGINAL_FKS = {
    "comments.comments_post_id_fkey": ("FOREIGN KEY (post_id) REFERENCES posts(id)", True),
    "posts.posts_user_id_fkey": ("FOREIGN KEY (user_id) REFERENCES users(id)", True),
}
SUMMARY = "2 converted, 1 created, 0 unchanged, 0 skipped"


def statuses(out: str) -> dict[str, str]:
    return {t["name"]: t["status"] for t in json.loads(out)["targets"]}


def write_fleet(path: Path, url: str, schemas: list[str]) -> Path:
    lines = []
    for s in schemas:
        lines += ["[[targets]]", f'name = "{s}"', f"url = {json.dumps(url)}", f'schema = "{s}"', ""]
    path.write_text("\n".join(lines))
    return path


def summaries(text: str) -> list[str]:
    return re.findall(r"cascade-tool revision \w+: (\d+ converted, .*)", text)


# --- the tests ---------------------------------------------------------------------------------

def test_three_tenants_one_downgraded_validated_restored_the_others_untouched(
    server: Server, three: str, alembic_project: Path, tmp_path: Path, run_cli: Any
) -> None:
    ini = alembic_project / "alembic.ini"
    write_revision(alembic_project / "migrations" / "versions")
    before_s1 = pg_dump(server, three, "--schema-only", "--schema=s1", "--exclude-table=s1.alembic_version")

    for s in THREE:
        out = alembic_run(ini, three, "upgrade", "head", schema=s)
        # each tenant's summary counts its own changes, not the tenants upgraded before it
        assert summaries(out) == [SUMMARY], out
        assert not [o for o in THREE if o != s and f"{o}." in out], out  # names no other tenant's table
        assert "already exists" not in out, out
    for s in THREE:
        assert state(three, s)["fks"] == UPGRADED_FKS
        assert state(three, s)["comments"] == 60  # its 2 orphan rows quarantined
        assert state(three, s)["versions"] == [REV]
    assert len(bookkeeping(three, THREE)["quarantine"]) == 6
    assert len(bookkeeping(three, THREE)["created_indexes"]) == 9

    others = snapshot(server, three, ["s2", "s3"])
    down = alembic_run(ini, three, "downgrade", "base", schema="s1")
    # only s1's FKs restored, only s1's indexes dropped, only s1's rows back
    assert re.findall(r"restored (\w+)\.", down) == ["s1", "s1"], down
    assert "3 indexes dropped" in down and "cascade-tool revision 7e4a47000001: 2 restored, 1 dropped" in down, down
    assert "2 quarantined row(s) put back" in down, down
    s1 = state(three, "s1")
    assert s1["fks"] == ORIGINAL_FKS and s1["comments"] == 62 and s1["versions"] == []
    assert pg_dump(server, three, "--schema-only", "--schema=s1", "--exclude-table=s1.alembic_version") == before_s1
    assert bookkeeping(three, ["s1"]) == {"fk_changes": [], "created_indexes": [], "quarantine": []}
    assert snapshot(server, three, ["s2", "s3"]) == others

    # fleet verify: exactly the downgraded tenant drifts
    fleet = write_fleet(tmp_path / "fleet.toml", three, THREE)
    verify = run_cli("fleet", "verify", "--fleet", str(fleet), "--manifest", str(MANIFEST), "--json")
    assert verify.code == 1, verify.out + verify.err
    assert statuses(verify.out) == {"s1": "drift", "s2": "ok", "s3": "ok"}
    for s, code in (("s1", 1), ("s2", 0), ("s3", 0)):
        one = run_cli("verify", "--manifest", str(MANIFEST), "--database-url", three, "--schema", s, "--json")
        assert one.code == code, (s, one.out, one.err)

    for s, actions in (("s1", ["convert", "create", "convert"]), ("s2", ["leave", "leave", "leave"])):
        plan = run_cli("plan", "--manifest", str(MANIFEST), "--database-url", three, "--schema", s, "--json")
        assert plan.code == 0, plan.err
        entries = json.loads(plan.out)["entries"]
        tables = [f"{s}.posts", f"{s}.comments", f"{s}.comments"]
        assert [(e["table"], e["action"]) for e in entries] == list(zip(tables, actions, strict=True))

    # validate on one tenant: s2's pending validation done, s1 and s3 untouched
    s1_and_s3 = snapshot(server, three, ["s1", "s3"])
    valid = run_cli("validate", "--manifest", str(MANIFEST), "--database-url", three, "--schema", "s2", "--json")
    assert valid.code == 0, valid.out + valid.err
    assert [(f["table"], f["result"]) for f in json.loads(valid.out)["fks"]] == [("s2.comments", "validated")]
    assert state(three, "s2")["fks"]["comments.comments_post_id_fkey"][1] is True
    assert state(three, "s3")["fks"]["comments.comments_post_id_fkey"][1] is False
    assert [json.loads(r)["validated_at"] is not None for r in bookkeeping(three, ["s2"])["fk_changes"]
            if json.loads(r)["constraint_name"] == "comments_post_id_fkey"] == [True]
    assert snapshot(server, three, ["s1", "s3"]) == s1_and_s3

    # quarantine on one tenant: list and restore see s3's rows only
    listed = run_cli("quarantine", "list", "--database-url", three, "--schema", "s3", "--json")
    assert listed.code == 0, listed.err
    assert [(g["table"], g["pending"]) for g in json.loads(listed.out)] == [("s3.comments", 2)]
    execute_sql(three, "INSERT INTO s3.users VALUES (4242, 'back@example.com'), (4343, 'back2@example.com')")
    s1_and_s2 = snapshot(server, three, ["s1", "s2"])
    restored = run_cli("quarantine", "restore", "--database-url", three, "--schema", "s3", "--json")
    assert restored.code == 0, restored.out + restored.err
    assert json.loads(restored.out)["restored"] == 2
    assert state(three, "s3")["comments"] == 62
    assert snapshot(server, three, ["s1", "s2"]) == s1_and_s2
    assert len(bookkeeping(three, ["s2"])["quarantine"]) == 2
    missing = run_cli("quarantine", "list", "--database-url", three, "--schema", "nope")
    assert missing.code == 2 and "--schema nope: no such schema" in missing.err
    # purge on one tenant: s2's rows go, s1's (none left) and s3's (restored, kept) stay
    execute_sql(three, "UPDATE cascade_quarantine.rows SET quarantined_at = quarantined_at - interval '2 days'")
    s1_and_s3 = snapshot(server, three, ["s1", "s3"])
    purged = run_cli("quarantine", "purge", "--older-than", "1d", "--database-url", three, "--schema", "s2", "--json")
    assert purged.code == 0, purged.err
    assert [(g["table"], g["rows"]) for g in json.loads(purged.out)] == [("s2.comments", 2)]
    assert bookkeeping(three, ["s2"])["quarantine"] == [] and len(bookkeeping(three, ["s3"])["quarantine"]) == 2
    assert snapshot(server, three, ["s1", "s3"]) == s1_and_s3

    # s1 again: its own summary, its own rows
    again = alembic_run(ini, three, "upgrade", "head", schema="s1")
    assert summaries(again) == [SUMMARY], again
    verify = run_cli("fleet", "verify", "--fleet", str(fleet), "--manifest", str(MANIFEST), "--json")
    assert statuses(verify.out) == {"s1": "ok", "s2": "ok", "s3": "ok"}, verify.out


def test_a_database_upgraded_by_0_2_0_downgrades_one_tenant_with_the_new_machinery(
    server: Server, three: str, alembic_project: Path, tmp_path: Path, run_cli: Any
) -> None:
    """Three tenants upgraded by a revision cascade-tool 0.2.0 generated: their records share the
    bookkeeping tables, attributed by their tables' schemas. That revision regenerated (same id,
    the installed machinery) downgrades one tenant alone. 0.2.0's own downgrade, on a copy,
    restored every tenant's FKs: what this test would catch."""
    ini = alembic_project / "alembic.ini"
    versions = alembic_project / "migrations" / "versions"
    write_revision(versions, "0.2.0")
    outs = [alembic_run(ini, three, "upgrade", "head", schema=s) for s in THREE]
    assert summaries(outs[0]) == [SUMMARY]
    assert summaries(outs[1]) != [SUMMARY]  # 0.2.0 counted s1's changes in s2's summary
    for s in THREE:
        assert state(three, s)["fks"] == UPGRADED_FKS and state(three, s)["versions"] == [REV]
    others = snapshot(server, three, ["s2", "s3"])

    # 0.2.0's downgrade of s1, on a copy: s2 and s3 lose their FKs and indexes too
    copy = server.create_database(three.rsplit("/", 1)[1])
    try:
        old_down = alembic_run(ini, server.url(copy), "downgrade", "base", schema="s1")
        assert "restored s2.posts.posts_user_id_fkey" in old_down, old_down
        assert state(server.url(copy), "s2")["fks"] != UPGRADED_FKS
    finally:
        server.drop_database(copy)

    # regenerated as the docs say: the old file moved away, the same id generated again
    old = write_revision(versions, "0.2.0")
    old.rename(tmp_path / old.name)
    made = run_cli("generate", "--manifest", str(MANIFEST), "--versions-dir", str(versions), "--rev-id", REV,
                   "-m", "cascade user foreign keys")
    assert made.code == 0, made.err
    regenerated = next(versions.glob(f"{REV}_*.py")).read_text()
    assert machinery_sha256(regenerated) != machinery_sha256(OLD_REVISION.read_text())
    down = alembic_run(ini, three, "downgrade", "base", schema="s1")
    assert re.findall(r"restored (\w+)\.", down) == ["s1", "s1"], down
    assert state(three, "s1")["fks"] == ORIGINAL_FKS and state(three, "s1")["comments"] == 62
    assert snapshot(server, three, ["s2", "s3"]) == others
    fleet = write_fleet(tmp_path / "fleet.toml", three, THREE)
    verify = run_cli("fleet", "verify", "--fleet", str(fleet), "--manifest", str(MANIFEST), "--json")
    assert statuses(verify.out) == {"s1": "drift", "s2": "ok", "s3": "ok"}, verify.out

    # the new machinery upgrades s1 again next to 0.2.0's records, and downgrades s3 alone
    assert summaries(alembic_run(ini, three, "upgrade", "head", schema="s1")) == [SUMMARY]
    s1_and_s2 = snapshot(server, three, ["s1", "s2"])
    alembic_run(ini, three, "downgrade", "base", schema="s3")
    assert state(three, "s3")["fks"] == ORIGINAL_FKS
    assert snapshot(server, three, ["s1", "s2"]) == s1_and_s2


def test_forty_tenants_one_downgraded_the_other_thirty_nine_untouched(
    server: Server, alembic_project: Path, tmp_path: Path, run_cli: Any
) -> None:
    db = server.create_database(server.template("tenants_40", tenants_loader(FORTY)))
    url = server.url(db)
    ini = alembic_project / "alembic.ini"
    write_revision(alembic_project / "migrations" / "versions")
    try:
        for s in FORTY:
            assert summaries(alembic_run(ini, url, "upgrade", "head", schema=s)) == [SUMMARY], s
        rest = [s for s in FORTY if s != "t17"]
        before = snapshot(server, url, rest)
        down = alembic_run(ini, url, "downgrade", "base", schema="t17")
        assert re.findall(r"restored (\w+)\.", down) == ["t17", "t17"], down
        assert "3 indexes dropped" in down and "2 quarantined row(s) put back" in down, down
        t17 = state(url, "t17")
        assert t17["fks"] == ORIGINAL_FKS and t17["comments"] == 62 and t17["versions"] == []
        assert snapshot(server, url, rest) == before
        assert bookkeeping(url, ["t17"]) == {"fk_changes": [], "created_indexes": [], "quarantine": []}

        fleet = write_fleet(tmp_path / "fleet.toml", url, FORTY)
        verify = run_cli("fleet", "verify", "--fleet", str(fleet), "--manifest", str(MANIFEST), "--json",
                         "--parallel", "4")
        assert verify.code == 1, verify.err
        found = statuses(verify.out)
        assert len(found) == 40 and {n for n, s in found.items() if s != "ok"} == {"t17"}
        assert found["t17"] == "drift"

        # validate and quarantine restore on one tenant: the other 39 unchanged
        rest = [s for s in FORTY if s not in ("t17", "t05")]
        before = snapshot(server, url, rest)
        valid = run_cli("validate", "--manifest", str(MANIFEST), "--database-url", url, "--schema", "t05", "--json")
        assert valid.code == 0 and [f["table"] for f in json.loads(valid.out)["fks"]] == ["t05.comments"], valid.out
        execute_sql(url, "INSERT INTO t05.users VALUES (4242, 'a@example.com'), (4343, 'b@example.com')")
        back = run_cli("quarantine", "restore", "--database-url", url, "--schema", "t05", "--json")
        assert back.code == 0 and json.loads(back.out)["restored"] == 2, back.out
        assert state(url, "t05")["comments"] == 62
        assert state(url, "t05")["fks"]["comments.comments_post_id_fkey"][1] is True
        assert snapshot(server, url, rest) == before
    finally:
        server.drop_database(db)


COOKBOOK_ENV = '''
"""Alembic's cookbook: Rudimental Schema-Level Multi Tenancy for PostgreSQL Databases."""
from alembic import context
from sqlalchemy import engine_from_config, pool, text

config = context.config


def run_migrations_online():
    connectable = engine_from_config(
        config.get_section(config.config_ini_section, {}), prefix="sqlalchemy.", poolclass=pool.NullPool
    )
    current_tenant = context.get_x_argument(as_dictionary=True).get("tenant")
    with connectable.connect() as connection:
        connection.execute(text('set search_path to "%s"' % current_tenant))
        connection.commit()
        connection.dialect.default_schema_name = current_tenant
        context.configure(connection=connection, target_metadata=None)
        with context.begin_transaction():
            context.run_migrations()


run_migrations_online()
'''

VERSION_SCHEMA_ENV = '''
"""Each tenant keeps its own version table (cascade_version) in its schema: version_table_schema."""
from alembic import context
from sqlalchemy import engine_from_config, pool, text

config = context.config
tenant = context.get_x_argument(as_dictionary=True)["tenant"]
connectable = engine_from_config(
    config.get_section(config.config_ini_section, {}), prefix="sqlalchemy.", poolclass=pool.NullPool
)
with connectable.connect() as connection:
    connection.execute(text("SELECT set_config('search_path', :path, false)"), {"path": f'"{tenant}", public'})
    connection.commit()
    context.configure(connection=connection, target_metadata=None, version_table="cascade_version",
                      version_table_schema=tenant, transaction_per_migration=True)
    with context.begin_transaction():
        context.run_migrations()
'''


@pytest.mark.parametrize("env_py", [COOKBOOK_ENV, VERSION_SCHEMA_ENV], ids=["cookbook", "version_table_schema"])
def test_tenants_picked_by_the_users_env_py(
    server: Server, three: str, tmp_path: Path, env_py: str, run_cli: Any
) -> None:
    """`alembic -x tenant=s2 downgrade base` with the user's own env.py: s1 and s3 untouched."""
    project = tmp_path / "tenanted"
    (project / "versions").mkdir(parents=True)
    (project / "env.py").write_text(env_py)
    ini = tmp_path / "alembic.ini"
    ini.write_text(f"[alembic]\nscript_location = {project}\nsqlalchemy.url =\n")
    write_revision(project / "versions")
    version_table = "cascade_version" if env_py is VERSION_SCHEMA_ENV else "alembic_version"
    for s in THREE:
        out = alembic_run(ini, three, "upgrade", "head", x=[f"tenant={s}"])
        assert summaries(out) == [SUMMARY], out
    with psycopg.connect(three) as conn:
        for s in THREE:
            assert conn.execute(f'SELECT version_num FROM "{s}".{version_table}').fetchall() == [(REV,)]
    others = snapshot(server, three, ["s1", "s3"])
    down = alembic_run(ini, three, "downgrade", "base", x=["tenant=s2"])
    assert re.findall(r"restored (\w+)\.", down) == ["s2", "s2"], down
    assert state(three, "s2")["fks"] == ORIGINAL_FKS
    assert snapshot(server, three, ["s1", "s3"]) == others
    fleet = write_fleet(tmp_path / "fleet.toml", three, THREE)
    verify = run_cli("fleet", "verify", "--fleet", str(fleet), "--manifest", str(MANIFEST), "--json")
    assert statuses(verify.out) == {"s1": "ok", "s2": "drift", "s3": "ok"}, verify.out


def test_offline_downgrade_of_one_tenant_through_psql(
    server: Server, three: str, alembic_project: Path, tmp_path: Path
) -> None:
    """`alembic downgrade REV:base --sql`, run by psql with the tenant first on search_path: the
    tenant's schemas are worked out when psql runs the script, so s1 and s3 stay as they were."""
    ini = alembic_project / "alembic.ini"
    write_revision(alembic_project / "migrations" / "versions")
    for s in THREE:
        alembic_run(ini, three, "upgrade", "head", schema=s)
    others = snapshot(server, three, ["s1", "s3"])
    script = tmp_path / "down.sql"
    offline = alembic(alembic_project, three, "downgrade", f"{REV}:base", "--sql")
    assert offline.returncode == 0, offline.stderr
    script.write_text(offline.stdout)
    ran = subprocess.run([server.tool("psql"), "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", three, "-f", str(script)],
                         capture_output=True, text=True, env={**os.environ, "PGOPTIONS": "-c search_path=s2,public"})
    assert ran.returncode == 0, ran.stderr
    assert re.findall(r"restored (\w+)\.", ran.stderr) == ["s2", "s2"], ran.stderr
    assert state(three, "s2")["fks"] == ORIGINAL_FKS and state(three, "s2")["versions"] == []
    assert snapshot(server, three, ["s1", "s3"]) == others


def test_a_downgrade_keeps_the_quarantine_table_another_tenants_run_is_writing(
    server: Server, three: str, alembic_project: Path
) -> None:
    """s1's downgrade puts back the last committed rows of cascade_quarantine.rows while s2's run
    is moving rows into it, not committed yet: the table stays, and s2's rows with it."""
    ini = alembic_project / "alembic.ini"
    write_revision(alembic_project / "migrations" / "versions")
    alembic_run(ini, three, "upgrade", "head", schema="s1")
    writer = psycopg.connect(three)
    writer.execute(
        "INSERT INTO cascade_quarantine.rows (revision, reason, action, table_schema, table_name, constraint_name,"
        " columns, target_schema, target_table, references_columns, row_data)"
        " VALUES ('other', 'test', 'moved', 's2', 'comments', 'comments_user_id_fkey', '{user_id}', 's2', 'users',"
        " '{id}', '{}')")
    committer = threading.Timer(3.0, writer.commit)
    committer.start()
    try:
        down = alembic_run(ini, three, "downgrade", "base", schema="s1")
    finally:
        committer.join()
        writer.close()
    assert "2 quarantined row(s) put back" in down, down
    assert [json.loads(r)["revision"] for r in bookkeeping(three, ["s2"])["quarantine"]] == ["other"]
    assert state(three, "s1")["comments"] == 62


def test_a_downgrade_that_finds_none_of_its_tables_stops_and_changes_nothing(
    server: Server, three: str, alembic_project: Path
) -> None:
    """A session whose search_path reaches no tenant (the wrong schema) must not report a
    downgrade it did not do: it stops, the version stays, every tenant stays as it was."""
    ini = alembic_project / "alembic.ini"
    write_revision(alembic_project / "migrations" / "versions")
    for s in THREE:
        alembic_run(ini, three, "upgrade", "head", schema=s)
    execute_sql(three, "CREATE SCHEMA elsewhere")
    alembic_run(ini, three, "stamp", "head", schema="elsewhere")
    before = snapshot(server, three, [*THREE, "elsewhere"])
    with pytest.raises(Exception, match="found none of its tables on search_path") as failed:
        alembic_run(ini, three, "downgrade", "base", schema="elsewhere")
    assert "recorded changes in schema(s) s1, s2, s3" in str(failed.value)
    assert snapshot(server, three, [*THREE, "elsewhere"]) == before
    with psycopg.connect(three) as conn:
        assert conn.execute("SELECT version_num FROM elsewhere.alembic_version").fetchall() == [(REV,)]
