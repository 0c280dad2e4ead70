"""The generated revision on a real database: every quirk, round trips, offline mode, refusals.

Each test runs once per server (the embedded 18 and, when installed, another major version).
"""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import psycopg

from cascade_tool import revisions
from cascade_tool.manifest import load_manifest
from tests.helpers import DATA, Server, alembic, dump_schema, execute_sql, fk_state, quirks_loader

QUIRKS_MANIFEST = DATA / "quirks_manifest.toml"
HOSTILE_TABLE = 'x"; DROP TABLE users; --'
LONG_TABLE = "user_preference_notification_channel_subscription_settings_x"
LONG_FK = "user_preference_notification_channel_subscription_settings_fk1"




def fks(url: str) -> dict[tuple[str, str, str], dict[str, Any]]:
    """(schema, table, constraint) -> definition, ON DELETE code, validated, oid, clone flag."""
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            """
            SELECT n.nspname, r.relname, c.conname, pg_get_constraintdef(c.oid), c.confdeltype,
                   c.convalidated, c.oid, c.conparentid <> 0
              FROM pg_constraint c JOIN pg_class r ON r.oid = c.conrelid
              JOIN pg_namespace n ON n.oid = r.relnamespace
             WHERE c.contype = 'f' AND n.nspname <> 'cascade_tool'
            """
        ).fetchall()
    return {
        (s, t, c): {"def": d, "action": a, "valid": v, "oid": o, "clone": cl}
        for s, t, c, d, a, v, o, cl in rows
    }


def generate(project: Path, manifest: Path = QUIRKS_MANIFEST, rev: str = "rev0001") -> Path:
    return revisions.generate(
        load_manifest(manifest), project / "migrations" / "versions", "cascade quirks", rev_id=rev
    )


def test_upgrade_converts_every_quirk_and_downgrade_restores_the_dump(
    server: Server, quirks_db: str, alembic_project: Path, run_cli: Any
) -> None:
    """Upgrade gives each FK the manifest's ON DELETE and keeps everything else; downgrade
    gives back a byte-identical schema dump."""
    before_dump = dump_schema(server, quirks_db)
    before = fks(quirks_db)
    generate(alembic_project)

    up = alembic(alembic_project, quirks_db, "upgrade", "head")
    assert up.returncode == 0, up.stderr
    after = fks(quirks_db)

    def action(schema: str, table: str, name: str) -> str:
        return str(after[(schema, table, name)]["action"])

    assert action("public", "posts", "posts_user_id_fkey") == "c"
    assert action("public", "documents", "documents_belong_to_owner") == "c"
    assert action("public", "documents", "documents_reviewer") == "n"
    assert action("public", "comments", "comments_user_fk_a") == "c"
    assert action("public", "comments", "comments_user_fk_b") == "c"
    assert action("public", "memberships", "memberships_tenant_id_user_id_fkey") == "c"
    assert after[("public", "sessions", "sessions_user")]["def"] == (
        "FOREIGN KEY (user_id) REFERENCES users(id) MATCH FULL ON UPDATE CASCADE "
        "ON DELETE CASCADE DEFERRABLE INITIALLY DEFERRED"
    )
    assert action("audit", "events", "events_user_fk") == "c"
    assert action("billing", "events", "events_user_fk") == "n"
    assert action("public", "UserSettings", "UserSettings_UserId_fkey") == "c"
    assert action("public", "order", "order_user_fkey") == "n"
    assert action("public", LONG_TABLE, LONG_FK) == "c"
    assert action("public", HOSTILE_TABLE, f'{HOSTILE_TABLE}_y"; DROP TABLE users; --_fkey') == "c"
    assert action("public", "chat_messages", "chat_messages_session_id_fkey") == "c"
    # partitioned: the parent converted, the per-partition clones keep their own names
    assert action("public", "measurements", "measurements_user_fk") == "c"
    assert action("public", "measurements_2024", "measurements_user_fk") == "c"
    assert action("public", "measurements_2025", "m2025_owner_fk") == "c"
    # already CASCADE: not touched at all (same constraint oid)
    key = ("public", "tokens", "tokens_user_id_fkey")
    assert after[key]["oid"] == before[key]["oid"]
    # created, validated
    created = [k for k in after if k[1] == "devices"]
    assert len(created) == 1 and after[created[0]]["action"] == "c" and after[created[0]]["valid"]
    # every FK that existed before still exists under the same name, and nothing else changed
    assert set(after) - set(before) == set(created)
    assert not (set(before) - set(after))
    assert after[("public", "unlisted_notes", "unlisted_notes_user_id_fkey")]["action"] == "a"

    out = up.stdout
    assert "skipping legacy_table (table does not exist)" in out
    assert "skipping public.posts (column author_id does not exist)" in out
    assert "[one of 2 FKs on these columns]" in out
    assert "unchanged public.tokens.tokens_user_id_fkey (already ON DELETE CASCADE)" in out

    # the users table survived the hostile name, and deleting a user now cascades
    with psycopg.connect(quirks_db, autocommit=True) as conn:
        conn.execute("DELETE FROM unlisted_notes WHERE user_id = 3")  # not in the manifest
        conn.execute("DELETE FROM users WHERE id = 3")
        left = conn.execute(
            "SELECT (SELECT count(*) FROM posts WHERE user_id = 3)"
            " + (SELECT count(*) FROM measurements WHERE user_id = 3)"
            " + (SELECT count(*) FROM chat_messages m JOIN chat_sessions s ON s.id = m.session_id"
            "    WHERE s.user_id = 3)"
        ).fetchone()
        nulled = conn.execute("SELECT count(*) FROM documents WHERE reviewed_by IS NULL").fetchone()
    assert left == (0,)
    assert nulled is not None and nulled[0] > 0

    verify = run_cli("verify", "--manifest", str(QUIRKS_MANIFEST), "--database-url", quirks_db)
    assert verify.code == 0, verify.out + verify.err
    plan = run_cli("plan", "--manifest", str(QUIRKS_MANIFEST), "--database-url", quirks_db)
    assert plan.code == 0
    assert "0 to convert, 0 to create" in plan.out

    down = alembic(alembic_project, quirks_db, "downgrade", "-1")
    assert down.returncode == 0, down.stderr
    restored = fks(quirks_db)
    assert {k: v["def"] for k, v in restored.items()} == {
        k: v["def"] for k, v in before.items()
    }
    # the schema dump equals the one taken before the upgrade (rows deleted above aside)
    assert dump_schema(server, quirks_db) == before_dump


def test_round_trip_twice_is_stable(server: Server, quirks_db: str, alembic_project: Path) -> None:
    """upgrade -> downgrade -> upgrade -> downgrade: the bookkeeping is per run, dumps equal."""
    before = dump_schema(server, quirks_db)
    generate(alembic_project)
    for _ in range(2):
        assert alembic(alembic_project, quirks_db, "upgrade", "head").returncode == 0
        assert alembic(alembic_project, quirks_db, "downgrade", "base").returncode == 0
        assert dump_schema(server, quirks_db) == before
    with psycopg.connect(quirks_db) as conn:
        left = conn.execute("SELECT count(*) FROM cascade_tool.fk_changes").fetchone()
    assert left == (0,)


def index_defs(url: str) -> list[tuple[str, str, bool]]:
    """Every index outside the system schemas: (name, definition, valid)."""
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "SELECT c.relname, pg_get_indexdef(i.indexrelid), i.indisvalid FROM pg_index i"
            " JOIN pg_class c ON c.oid = i.indexrelid JOIN pg_namespace n ON n.oid = c.relnamespace"
            " WHERE n.nspname NOT IN ('pg_catalog', 'pg_toast', 'information_schema', 'cascade_tool')"
            " AND c.relname <> 'alembic_version_pkc'"
            " ORDER BY 1, 2"
        ).fetchall()
    return [(str(a), str(b), bool(c)) for a, b, c in rows]


def test_offline_sql_through_psql_gives_the_same_catalog(
    server: Server, alembic_project: Path
) -> None:
    """`alembic upgrade head --sql` fed to psql -v ON_ERROR_STOP=1 converges on the online result."""
    template = server.template("quirks", quirks_loader)
    online_db = server.url(server.create_database(template))
    offline_db = server.url(server.create_database(template))
    generate(alembic_project)

    assert alembic(alembic_project, online_db, "upgrade", "head").returncode == 0
    sql = alembic(alembic_project, offline_db, "upgrade", "head", "--sql")
    assert sql.returncode == 0, sql.stderr
    # per-FK steps in their own transactions, the index builds left to psql's \gexec
    assert "SELECT pg_temp.cascade_tool_upgrade('swap', 0);" in sql.stdout
    assert "SELECT record_sql, drop_sql, create_sql FROM pg_temp.cascade_tool_index_steps() \\gexec" in sql.stdout
    script = alembic_project / "offline.sql"
    script.write_text(sql.stdout)
    applied = subprocess.run(
        [server.tool("psql"), "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", offline_db, "-f", str(script)],
        capture_output=True, text=True,
    )
    assert applied.returncode == 0, applied.stderr
    assert "skipping legacy_table (table does not exist)" in applied.stderr
    assert fk_state(offline_db) == fk_state(online_db)
    assert index_defs(offline_db) == index_defs(online_db) != index_defs(server.url(server.create_database(template)))

    # and the offline downgrade restores it too
    down = alembic(alembic_project, offline_db, "downgrade", "rev0001:base", "--sql")
    assert down.returncode == 0, down.stderr
    script.write_text(down.stdout)
    applied = subprocess.run(
        [server.tool("psql"), "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", offline_db, "-f", str(script)],
        capture_output=True, text=True,
    )
    assert applied.returncode == 0, applied.stderr
    fresh = server.url(server.create_database(template))
    assert fk_state(offline_db) == fk_state(fresh)
    assert index_defs(offline_db) == index_defs(fresh)


def test_orphans_stop_the_upgrade_before_anything_changes(
    server: Server, quirks_db: str, alembic_project: Path, run_cli: Any
) -> None:
    """An FK to create over orphan rows: the upgrade fails naming table and count, changes nothing."""
    execute_sql(quirks_db, "INSERT INTO devices (user_id) VALUES (999), (998)")
    before = fk_state(quirks_db)
    generate(alembic_project)

    up = alembic(alembic_project, quirks_db, "upgrade", "head")
    assert up.returncode != 0
    assert "upgrade stopped before changing anything" in up.stderr
    assert "public.devices(user_id): 2 row(s) reference no row of public.users" in up.stderr
    assert fk_state(quirks_db) == before
    with psycopg.connect(quirks_db) as conn:
        version_table = conn.execute("SELECT to_regclass('alembic_version')").fetchone()
        stamped = (
            conn.execute("SELECT count(*) FROM alembic_version").fetchone()
            if version_table != (None,)
            else (0,)
        )
        bookkeeping = conn.execute("SELECT to_regclass('cascade_tool.fk_changes')").fetchone()
    assert stamped == (0,)
    assert bookkeeping == (None,)

    plan = run_cli("plan", "--manifest", str(QUIRKS_MANIFEST), "--database-url", quirks_db)
    assert plan.code == 1
    assert "blocked  public.devices(user_id): 2 row(s) reference no row of public.users" in plan.out


def test_missing_entry_not_marked_optional_warns_and_is_drift(
    server: Server, quirks_db: str, alembic_project: Path, run_cli: Any, tmp_path: Path
) -> None:
    manifest = tmp_path / "m.toml"
    manifest.write_text(
        '[target]\ntable = "users"\n[defaults]\ncolumns = ["user_id"]\n'
        '[[tables]]\nname = "posts"\n[[tables]]\nname = "gone_table"\n'
    )
    generate(alembic_project, manifest)
    up = alembic(alembic_project, quirks_db, "upgrade", "head")
    assert up.returncode == 0, up.stderr
    assert (
        "WARNING: skipping gone_table (table does not exist): the manifest does not mark it optional"
        in up.stdout
    )
    result = run_cli("verify", "--manifest", str(manifest), "--database-url", quirks_db)
    assert result.code == 1
    assert "DRIFT: table does not exist" in result.out


def test_unique_key_missing_blocks_creation(
    server: Server, quirks_db: str, alembic_project: Path, tmp_path: Path
) -> None:
    """Creating an FK to columns with no unique constraint stops before any change."""
    manifest = tmp_path / "m.toml"
    manifest.write_text(
        '[target]\ntable = "users"\n'
        '[[tables]]\nname = "posts"\ncolumns = ["user_id"]\n'
        '[[tables]]\nname = "devices"\ncolumns = ["user_id"]\nreferences = ["email"]\n'
    )
    before = fk_state(quirks_db)
    generate(alembic_project, manifest)
    up = alembic(alembic_project, quirks_db, "upgrade", "head")
    assert up.returncode != 0
    assert "referenced columns (email) of users have no unique constraint" in up.stderr
    assert fk_state(quirks_db) == before


def test_notices_reach_the_output_with_psycopg2_too(quirks_db: str, alembic_project: Path) -> None:
    """Projects on psycopg2: SQLAlchemy clears conn.notices after each statement; we still print."""
    generate(alembic_project)
    url = quirks_db.replace("postgresql://", "postgresql+psycopg2://")
    up = alembic(alembic_project, url, "upgrade", "head")
    assert up.returncode == 0, up.stderr
    assert "skipping legacy_table (table does not exist)" in up.stdout
    assert "cascade-tool revision rev0001: 16 converted, 1 created, 1 unchanged, 2 skipped" in up.stdout
    down = alembic(alembic_project, url, "downgrade", "base")
    assert down.returncode == 0, down.stderr
    assert "16 restored, 1 dropped" in down.stdout
