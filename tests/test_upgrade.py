"""The generated revision on a real database: every quirk, round trips, offline mode, refusals.

Each test runs once per server (the embedded 18 and, when installed, another major version);
those marked all_majors also on every other supported major (tests/npm_postgres.py).
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path
from typing import Any

import psycopg
import pytest

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


@pytest.mark.all_majors
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
    assert "skipped legacy_table (table does not exist)" in out
    assert "skipped public.posts (column author_id does not exist)" in out
    assert "[one of 2 FKs on these columns], validated, " in out
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


@pytest.mark.all_majors
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
    assert "SELECT record_sql, drop_sql, create_sql, format('DO %L', format('BEGIN RAISE NOTICE %L, %L; END', '%', "\
        "'index built on' || ' ' || label)) FROM pg_temp.cascade_tool_index_steps() \\gexec" in sql.stdout
    script = alembic_project / "offline.sql"
    script.write_text(sql.stdout)
    applied = subprocess.run(
        [server.tool("psql"), "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", offline_db, "-f", str(script)],
        capture_output=True, text=True,
    )
    assert applied.returncode == 0, applied.stderr
    # psql shows the same lines as an online run: one per FK (with the index its swap built, on a
    # small table), one per index built CONCURRENTLY (tokens: its FK is left alone), the summary
    assert "NOTICE:  [ 1/19] converted public.posts.posts_user_id_fkey (NO ACTION -> CASCADE), index built on " \
        "public.posts (user_id), validated, " in applied.stderr
    assert "NOTICE:  [18/19] skipped legacy_table (table does not exist)" in applied.stderr
    assert "NOTICE:  index built on public.tokens (user_id)\n" in applied.stderr
    assert "NOTICE:  [14/19] created public.devices.devices_user_id_fkey (ON DELETE CASCADE), index built on " \
        "public.devices (user_id), validated, " in applied.stderr
    assert "NOTICE:  cascade-tool revision rev0001: 16 converted, 1 created, 1 unchanged, 2 skipped" in applied.stderr
    assert "swapped public.posts" not in applied.stderr  # verbose detail only
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


def test_a_swap_works_its_inline_index_out_again_when_the_table_changed_after_the_check(
    server: Server, alembic_project: Path
) -> None:
    """The check works out the index each small table's swap builds; a swap uses that only while
    the table's indexes are as the check saw them. Here an index on posts(user_id) appears
    between the check and the swaps (the offline script, with a statement put in before the first
    swap): the swap of posts builds none, and records none; the others build theirs."""
    template = server.template("quirks", quirks_loader)
    db = server.url(server.create_database(template))
    generate(alembic_project)
    sql = alembic(alembic_project, db, "upgrade", "head", "--sql")
    assert sql.returncode == 0, sql.stderr
    first_swap = "SELECT pg_temp.cascade_tool_upgrade('swap', 0);"
    assert sql.stdout.count(first_swap) == 1
    head, tail = sql.stdout.split(first_swap)
    before, _, _ = head.rpartition("BEGIN;")
    assert before and "cascade_tool_upgrade('check', NULL)" in before
    injected = "CREATE INDEX posts_user_early ON public.posts (user_id);\n"
    script = alembic_project / "offline.sql"
    script.write_text(before + injected + head[len(before):] + first_swap + tail)
    applied = subprocess.run(
        [server.tool("psql"), "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", db, "-f", str(script)],
        capture_output=True, text=True,
    )
    assert applied.returncode == 0, applied.stderr
    line = next(x for x in applied.stderr.splitlines() if "[ 1/19] converted public.posts.posts_user_id_fkey" in x)
    assert "index built" not in line, line
    assert "index built on public.devices (user_id)" in applied.stderr  # the others' are used
    with psycopg.connect(db) as conn:
        on_posts = conn.execute(
            "SELECT c.relname FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid"
            " WHERE i.indrelid = 'public.posts'::regclass AND NOT i.indisprimary ORDER BY 1").fetchall()
        recorded = conn.execute("SELECT index_name FROM cascade_tool.created_indexes"
                                " WHERE table_name = 'posts'").fetchall()
    assert on_posts == [("posts_user_early",)]
    assert recorded == []


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
        "WARNING: [2/2] skipped gone_table (table does not exist): the manifest does not mark it optional"
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
    assert "skipped legacy_table (table does not exist)" in up.stdout
    assert "cascade-tool revision rev0001: 16 converted, 1 created, 1 unchanged, 2 skipped" in up.stdout
    down = alembic(alembic_project, url, "downgrade", "base")
    assert down.returncode == 0, down.stderr
    assert "16 restored, 1 dropped" in down.stdout


# One line per FK: "[k/n] <what> <schema.table.constraint> (<detail>)[, validated..., N ms]".
FK_LINE = re.compile(
    r"^  (?:WARNING: )?\[ *(?P<k>\d+)/(?P<n>\d+)\] "
    r"(?P<what>converted|created|unchanged|skipped|validated|restored|dropped)"
    r" (?P<fk>.+?) \((?P<detail>[^()]*)\)(?P<rest>.*)$"
)


def report_lines(stdout: str) -> tuple[list[re.Match[str]], list[str]]:
    """The per-FK lines of an alembic run's output, and every other line."""
    fk_lines, other = [], []
    for line in stdout.splitlines():
        match = FK_LINE.match(line)
        if match:
            fk_lines.append(match)
        else:
            other.append(line)
    return fk_lines, other


def test_upgrade_and_downgrade_print_one_line_per_fk(
    server: Server, quirks_db: str, alembic_project: Path
) -> None:
    """Without verbose: a line per FK (its entry's number of 19, what happened, the index its swap
    built on a small table, the time), one line for the indexes built CONCURRENTLY before the swaps,
    the check and the summary; nothing else."""
    generate(alembic_project)
    up = alembic(alembic_project, quirks_db, "upgrade", "head")
    assert up.returncode == 0, up.stderr
    fk_lines, other = report_lines(up.stdout)
    assert {int(m["k"]) for m in fk_lines} == set(range(1, 20)) and {m["n"] for m in fk_lines} == {"19"}
    assert len(fk_lines) == 20  # one entry matches two FKs on the same columns: a line each
    assert [int(m["k"]) for m in fk_lines] == sorted(int(m["k"]) for m in fk_lines)
    for m in fk_lines:
        if m["what"] in ("converted", "created"):
            assert re.fullmatch(r"( \[one of 2 FKs on these columns\])?(, index built on .+ \(.+\))?, validated"
                                r"( by the add \(partitioned table, PostgreSQL < 18\))?, \d+ ms", m["rest"]), m[0]
            assert m["what"] == "created" or re.fullmatch(r"(NO ACTION|RESTRICT|SET NULL|CASCADE) -> "
                                                          r"(CASCADE|SET NULL)", m["detail"]), m[0]
        else:
            assert m["what"] in ("unchanged", "skipped") and m["rest"] == "", m[0]
    posts = next(m for m in fk_lines if m["fk"] == "public.posts.posts_user_id_fkey")
    assert (posts[0][:9], posts["what"], posts["detail"]) == ("  [ 1/19]", "converted", "NO ACTION -> CASCADE")
    assert other[0] == "  cascade-tool revision rev0001: 19 entries checked, nothing stops the upgrade"
    # tokens' FK is left alone, so its index is built CONCURRENTLY; the other 15 by their swaps
    assert re.fullmatch(r"  1 index built on FK columns that had none, \d+ ms", other[1]), other
    assert sum(", index built on " in m["rest"] for m in fk_lines) == 15
    assert other[2:] == ["  cascade-tool revision rev0001: 16 converted, 1 created, 1 unchanged, 2 skipped"]
    assert len(up.stdout.splitlines()) == len(fk_lines) + 3

    down = alembic(alembic_project, quirks_db, "downgrade", "base")
    assert down.returncode == 0, down.stderr
    fk_lines, other = report_lines(down.stdout)
    assert len(fk_lines) == 17  # 16 restored, 1 dropped
    for m in fk_lines:
        assert (m["what"], m["rest"]) in (("restored", m["rest"]), ("dropped", m["rest"]))
        assert re.fullmatch(r", (validated|NOT VALID as it was), \d+ ms" if m["what"] == "restored" else r", \d+ ms",
                            m["rest"]), m[0]
    # the last entry goes back first; numbered as the downgrade goes (entries 19 and 18 were skipped)
    hostile_fk = f'public.{HOSTILE_TABLE}.{HOSTILE_TABLE}_y"; DROP TABLE users; --_fkey'
    assert (fk_lines[0][0][:9], fk_lines[0]["fk"]) == ("  [ 3/19]", hostile_fk)
    assert fk_lines[-1][0].startswith(
        "  [19/19] restored public.posts.posts_user_id_fkey (CASCADE -> NO ACTION), validated, ")
    assert re.fullmatch(r"  16 indexes dropped \(the upgrade built them\), \d+ ms", other[0]), other
    assert other[1:] == ["  cascade-tool revision rev0001: 16 restored, 1 dropped"]


def test_verbose_shows_each_statement_and_each_phase(
    server: Server, quirks_db: str, alembic_project: Path, monkeypatch: Any
) -> None:
    """-x verbose=true (or CASCADE_TOOL_VERBOSE=true): the per-FK lines, and under each the statements
    run and each phase's own time."""
    generate(alembic_project)
    up = alembic(alembic_project, quirks_db, "-x", "verbose=true", "upgrade", "head")
    assert up.returncode == 0, up.stderr
    lines = up.stdout.splitlines()
    end = lines.index(next(s for s in lines if "] converted public.posts.posts_user_id_fkey" in s))
    steps = lines[end - 5:end]  # posts is the first entry: its detail comes right before its line
    # posts is small: its swap builds its index, and its add validates the FK
    assert steps.pop(0) == "    CREATE INDEX IF NOT EXISTS posts_user_id_fk_idx ON public.posts (user_id)"
    assert re.fullmatch(r"    ALTER TABLE public\.posts ADD CONSTRAINT cascade_tmp_\w+ FOREIGN KEY \(user_id\) "
                        r"REFERENCES public\.users\(id\) ON DELETE CASCADE", steps[0]), steps
    assert steps[1] == "    ALTER TABLE public.posts DROP CONSTRAINT posts_user_id_fkey"
    assert re.fullmatch(r"    ALTER TABLE public\.posts RENAME CONSTRAINT cascade_tmp_\w+ TO posts_user_id_fkey",
                        steps[2])
    assert re.fullmatch(r"    swapped public\.posts\.posts_user_id_fkey in \d+ ms, validated by the add "
                        r"\(a table of inline_index_max or less\)", steps[3]), steps
    assert len(report_lines(up.stdout)[0]) == 20
    assert "  index built on public.tokens (user_id) in " in up.stdout  # every index, with verbose

    # with inline_index_max=0, the two steps: NOT VALID, then validated in a transaction of its own
    down = alembic(alembic_project, quirks_db, "downgrade", "base")
    assert down.returncode == 0, down.stderr
    up = alembic(alembic_project, quirks_db, "-x", "verbose=true", "-x", "inline_index_max=0", "upgrade", "head")
    assert up.returncode == 0, up.stderr
    lines = up.stdout.splitlines()
    end = lines.index(next(s for s in lines if "] converted public.posts.posts_user_id_fkey" in s))
    steps = lines[end - 5:end]
    assert re.fullmatch(r"    ALTER TABLE public\.posts ADD CONSTRAINT cascade_tmp_\w+ FOREIGN KEY \(user_id\) "
                        r"REFERENCES public\.users\(id\) ON DELETE CASCADE NOT VALID", steps[0]), steps
    assert steps[1] == "    ALTER TABLE public.posts DROP CONSTRAINT posts_user_id_fkey"
    assert re.fullmatch(r"    ALTER TABLE public\.posts RENAME CONSTRAINT cascade_tmp_\w+ TO posts_user_id_fkey",
                        steps[2])
    assert re.fullmatch(r"    swapped public\.posts\.posts_user_id_fkey in \d+ ms, NOT VALID until validated", steps[3])
    assert re.fullmatch(r"    validated public\.posts\.posts_user_id_fkey in \d+ ms", steps[4])

    monkeypatch.setenv("CASCADE_TOOL_VERBOSE", "true")
    down = alembic(alembic_project, quirks_db, "downgrade", "base")
    assert down.returncode == 0, down.stderr
    assert re.search(r"^    restored public\.posts\.posts_user_id_fkey: FOREIGN KEY \(user_id\) REFERENCES "
                     r"public\.users\(id\) in \d+ ms, NOT VALID until validated$", down.stdout, re.M), down.stdout
    assert re.search(r"^    validated public\.posts\.posts_user_id_fkey in \d+ ms$", down.stdout, re.M)


def test_a_malformed_setting_stops_with_one_line_naming_it_and_changes_nothing(
    server: Server, quirks_db: str, alembic_project: Path, monkeypatch: Any
) -> None:
    """`-x lock_timeout=banana` or a bad CASCADE_TOOL_* value: alembic prints FAILED: and one line
    naming the setting and what it expects; no traceback, nothing changed, nothing stamped, no
    bookkeeping schema."""
    before = fk_state(quirks_db)
    generate(alembic_project)
    cases = [
        (["-x", "lock_timeout=banana"], {},
         "cascade-tool: -x lock_timeout='banana': expected a duration such as 200ms, 5s or 1min"),
        (["-x", "orphan_batch_size=0"], {},
         "cascade-tool: -x orphan_batch_size='0': expected a positive number of rows, such as 5000"),
        (["-x", "verbose=loud"], {}, "cascade-tool: -x verbose='loud': expected true or false"),
        ([], {"CASCADE_TOOL_CREATE_INDEXES": "maybe"},
         "cascade-tool: CASCADE_TOOL_CREATE_INDEXES='maybe': expected true or false"),
        ([], {"CASCADE_TOOL_STATEMENT_TIMEOUT": "10 parsecs"},
         "cascade-tool: CASCADE_TOOL_STATEMENT_TIMEOUT='10 parsecs': expected a duration such as 200ms, 5s or 1min"),
    ]
    for args, env, message in cases:
        with monkeypatch.context() as patched:
            for name, value in env.items():
                patched.setenv(name, value)
            up = alembic(alembic_project, quirks_db, *args, "upgrade", "head")
        # alembic prints FAILED: on stdout, logs the message once on stderr, and exits non-zero
        assert up.returncode != 0
        assert up.stdout == f"FAILED: {message}\n"
        assert [line for line in up.stderr.splitlines() if not line.startswith("INFO  [")] == [
            f"ERROR [alembic.util.messaging] {message}"]
    # the -x value wins over the environment, as for every setting
    monkeypatch.setenv("CASCADE_TOOL_LOCK_TIMEOUT", "banana")
    overridden = alembic(alembic_project, quirks_db, "-x", "lock_timeout=1s", "upgrade", "head", "--sql")
    assert overridden.returncode == 0, overridden.stderr
    assert fk_state(quirks_db) == before
    with psycopg.connect(quirks_db) as conn:
        left = conn.execute("SELECT to_regclass('alembic_version'), to_regclass('cascade_tool.fk_changes')").fetchone()
    assert left == (None, None)
