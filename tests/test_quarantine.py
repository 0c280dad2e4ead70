"""The quarantine routines (templates/_quarantine.sql.j2), run as rendered on real PostgreSQL.

The revision's online mode is wired by the lead; `wire()` below does per entry what it will do:
precheck, ADD FOREIGN KEY ... NOT VALID (committed), CALL the resolve procedure outside any
transaction block, VALIDATE CONSTRAINT. Downgrade: DROP the FKs, CALL the restore procedure.
"""

from __future__ import annotations

import json
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg.types.json import Jsonb

from cascade_tool import catalog, quarantine
from cascade_tool.manifest import Manifest, parse_manifest
from tests.helpers import Server, dump_schema, execute_sql

SCHEMA = """
CREATE TABLE users (id bigint PRIMARY KEY, tenant_id int NOT NULL, UNIQUE (id, tenant_id));
INSERT INTO users SELECT g, g % 3 FROM generate_series(1, 20) AS g;

-- moved: an identity ALWAYS key, a generated column, awkward types
CREATE TABLE notes (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id bigint NOT NULL,
    body text,
    size int GENERATED ALWAYS AS (length(body)) STORED,
    meta jsonb, raw bytea, score float8, amount numeric(12, 4), tags text[], at timestamptz
);
INSERT INTO notes (user_id, body, meta, raw, score, amount, tags, at)
SELECT CASE WHEN g % 3 = 0 THEN 1000 + g ELSE 1 + g % 20 END, 'note ' || g,
       jsonb_build_object('g', g, 'nested', jsonb_build_array(1, 'x', NULL)), decode(md5(g::text), 'hex'),
       CASE g % 7 WHEN 0 THEN 'NaN'::float8 WHEN 1 THEN '-Infinity'::float8 ELSE g / 3.0 END,
       g * 1.0001, ARRAY['a', NULL, 'c ' || g], timestamptz '2024-02-29 12:34:56.789012+00' + g * interval '1 hour'
  FROM generate_series(1, 60) AS g;

-- nulled: a nullable column, a primary key
CREATE TABLE comments (id int PRIMARY KEY, author_id bigint, body text);
INSERT INTO comments SELECT g, CASE WHEN g % 4 = 0 THEN 500 + g WHEN g % 5 = 0 THEN NULL ELSE g % 20 + 1 END, 'c' || g
  FROM generate_series(1, 40) AS g;

-- composite, nullable: nulled; (user, wrong tenant) is an orphan, a partly NULL key is not (MATCH SIMPLE)
CREATE TABLE memberships (id serial PRIMARY KEY, user_id bigint, tenant_id int, role text);
INSERT INTO memberships (user_id, tenant_id, role)
SELECT g % 20 + 1, CASE WHEN g % 6 = 0 THEN 99 ELSE (g % 20 + 1) % 3 END, 'r' || g FROM generate_series(1, 30) AS g;
INSERT INTO memberships (user_id, tenant_id, role) VALUES (NULL, 99, 'partly null'), (777, NULL, 'partly null');

-- composite, NOT NULL, no single-column key: moved
CREATE TABLE consents (user_id bigint NOT NULL, tenant_id int NOT NULL, kind text NOT NULL,
                       PRIMARY KEY (user_id, tenant_id, kind));
INSERT INTO consents SELECT g, g % 3, 'k' || g FROM generate_series(1, 20) AS g;
INSERT INTO consents SELECT g, 7, 'orphan' FROM generate_series(1, 9) AS g;
"""

MANIFEST = """
[target]
table = "users"

[[tables]]
name = "notes"
columns = ["user_id"]
orphans = "quarantine"

[[tables]]
name = "comments"
columns = ["author_id"]
on_delete = "SET NULL"
orphans = "set-null"

[[tables]]
name = "memberships"
columns = ["user_id", "tenant_id"]
references = ["id", "tenant_id"]
orphans = "set-null"

[[tables]]
name = "consents"
columns = ["user_id", "tenant_id"]
references = ["id", "tenant_id"]
orphans = "quarantine"
"""

# orphan rows per table in SCHEMA: notes 20 (g % 3 = 0), comments 10 (g % 4 = 0),
# memberships 5 (g % 6 = 0), consents 9
EXPECTED = {"notes": 20, "comments": 10, "memberships": 5, "consents": 9}
TABLES = ("notes", "comments", "memberships", "consents")


def contents(url: str, tables: tuple[str, ...] = TABLES) -> dict[str, list[str]]:
    """Every row of each table as PostgreSQL prints it, sorted."""
    out = {}
    with psycopg.connect(url) as conn:
        for table in tables:
            rows = conn.execute(
                psycopg.sql.SQL("SELECT t::text FROM {} AS t ORDER BY 1").format(psycopg.sql.Identifier(table))
            ).fetchall()
            out[table] = [r[0] for r in rows]
    return out


def count(url: str, query: str) -> Any:
    with psycopg.connect(url) as conn:
        row = conn.execute(query.encode()).fetchone()
        return row[0] if row else None


def entries(url: str, manifest: Manifest) -> list[dict[str, Any]]:
    """The lookup's rows for entries whose FK must be created, as the revision passes them."""
    with catalog.connect(url) as conn:
        rows = catalog.resolve(conn, manifest)
    out = []
    for row in rows:
        if row.status == "create":
            entry = row.to_json()
            entry["orphans"] = manifest.active[row.i].orphans
            out.append(entry)
    return out


def session(url: str, notices: list[str] | None = None) -> psycopg.Connection[Any]:
    """An autocommit session with the routines created in its pg_temp."""
    conn = psycopg.connect(url, autocommit=True)
    if notices is not None:
        conn.add_notice_handler(lambda d: notices.append(d.message_primary or ""))
    quarantine.install_routines(conn)
    return conn


def not_valid_add(entry: dict[str, Any]) -> str:
    """The lookup's statement that creates the entry's FK, NOT VALID."""
    statement = str(entry["swap_sql"][0])
    return statement if statement.endswith(" NOT VALID") else statement + " NOT VALID"


def wire(url: str, manifest: Manifest, revision: str = "rev1", batch: int = 4,
         notices: list[str] | None = None) -> list[str]:
    """What the online revision does per entry; returns the constraint names it validated."""
    names = []
    with session(url, notices) as conn:
        for entry in entries(url, manifest):
            problem = conn.execute("SELECT pg_temp.cascade_tool_orphans_precheck(%s)", [Jsonb(entry)]).fetchone()
            assert problem is not None and problem[0] is None, problem
            conn.execute(not_valid_add(entry).encode())
            conn.execute("CALL pg_temp.cascade_tool_resolve_orphans(%s, %s, %s)", [revision, Jsonb(entry), batch])
            fk = conn.execute("SELECT pg_temp.cascade_tool_orphan_fk(%s)", [Jsonb(entry)]).fetchone()
            assert fk is not None
            name = fk[0]["conname"]
            conn.execute(
                psycopg.sql.SQL("ALTER TABLE {}.{} VALIDATE CONSTRAINT {}").format(
                    psycopg.sql.Identifier(entry["table_schema"]), psycopg.sql.Identifier(entry["table_name"]),
                    psycopg.sql.Identifier(name))
            )
            names.append(f"{entry['table_name']}.{name}")
    return names


def unwire(url: str, names: list[str], revision: str = "rev1") -> None:
    """What the downgrade does: drop the FKs the revision created, then put the rows back."""
    with session(url) as conn:
        with conn.transaction():
            for qualified in names:
                table, name = qualified.split(".")
                conn.execute(psycopg.sql.SQL("ALTER TABLE {} DROP CONSTRAINT {}").format(
                    psycopg.sql.Identifier(table), psycopg.sql.Identifier(name)))
            conn.execute("CALL pg_temp.cascade_tool_restore_revision(%s, NULL)", [revision])


@pytest.fixture
def db(empty_db: str) -> str:
    execute_sql(empty_db, SCHEMA)
    return empty_db


@pytest.mark.all_majors
def test_round_trip_quarantine_then_restore_gives_identical_tables(db: str, server: Server) -> None:
    """Moved rows and nulled values come back exactly: every table compared sorted, as text, and
    the schema dump is byte for byte what it was."""
    manifest = parse_manifest(MANIFEST)
    before = contents(db)
    schema_before = dump_schema(server, db)
    notices: list[str] = []
    names = wire(db, manifest, notices=notices)
    assert len(names) == 4
    with psycopg.connect(db) as conn:
        validated = conn.execute("SELECT bool_and(convalidated) FROM pg_constraint WHERE contype = 'f'").fetchone()
        assert validated == (True,)
        got = dict(conn.execute(
            "SELECT table_name || ':' || action, count(*) FROM cascade_quarantine.rows GROUP BY 1").fetchall())
    assert got == {"notes:moved": 20, "comments:nulled": 10, "memberships:nulled": 5, "consents:moved": 9}
    after = contents(db)
    assert len(after["notes"]) == 40 and len(after["consents"]) == 20
    assert count(db, "SELECT count(*) FROM comments WHERE author_id IS NULL") == 10 + 6
    assert count(db, "SELECT count(*) FROM memberships WHERE user_id IS NULL AND tenant_id IS NULL") == 5
    # the partly NULL keys were not orphans and are untouched
    partly_null = "SELECT count(*) FROM memberships WHERE role = 'partly null' AND num_nulls(user_id, tenant_id) = 1"
    assert count(db, partly_null) == 2
    # progress: one NOTICE per batch of at most 4 rows, then a summary per entry
    assert ("cascade-tool: public.notes(user_id): batch 5: 4 orphan row(s) moved to cascade_quarantine.rows,"
            " 20 in all") in " ".join(notices)
    assert any(n.startswith("cascade-tool: public.comments(author_id): 10 orphan row(s) set to NULL in 3 batch(es)"
                            " of up to 4") for n in notices)

    unwire(db, names)
    assert contents(db) == before
    assert dump_schema(server, db) == schema_before
    # nothing left behind: the storage goes when the last revision's rows are back
    assert count(db, "SELECT to_regnamespace('cascade_quarantine')") is None
    assert count(db, "SELECT count(*) FROM pg_constraint WHERE contype = 'f'") == 0


def test_quarantine_rows_keep_what_a_person_needs(db: str) -> None:
    manifest = parse_manifest(MANIFEST)
    original = count(db, "SELECT to_jsonb(n) FROM notes AS n WHERE id = 3")
    wire(db, manifest, revision="abc123")
    with psycopg.connect(db) as conn:
        row = conn.execute(
            "SELECT revision, action, table_schema, table_name, partition_name, columns, target_schema, target_table,"
            " references_columns, key_columns, row_key, row_data, reason, quarantined_at <= now(), restored_at"
            " FROM cascade_quarantine.rows WHERE table_name = 'notes' AND row_key = '{\"id\": 3}'").fetchone()
        nulled = conn.execute(
            "SELECT row_key, row_data->'author_id', columns FROM cascade_quarantine.rows"
            " WHERE table_name = 'comments' ORDER BY id LIMIT 1").fetchone()
    assert row is not None and nulled is not None
    assert row[:11] == ("abc123", "moved", "public", "notes", "notes", ["user_id"], "public", "users", ["id"],
                        ["id"], {"id": 3})
    assert row[11] == original  # the row as it was, generated column included
    assert row[12].startswith("no row of public.users (id) matches public.notes(user_id): foreign key ")
    assert row[12].endswith(" added by revision abc123")
    assert row[13] is True and row[14] is None
    assert nulled == ({"id": 4}, 504, ["author_id"])


def test_zero_orphans_changes_nothing_and_creates_no_storage(empty_db: str) -> None:
    execute_sql(empty_db, "CREATE TABLE users (id int PRIMARY KEY);"
                          "CREATE TABLE posts (id int PRIMARY KEY, user_id int);"
                          "INSERT INTO users VALUES (1); INSERT INTO posts VALUES (1, 1), (2, NULL);")
    manifest = parse_manifest('[target]\ntable = "users"\n[[tables]]\nname = "posts"\ncolumns = ["user_id"]\n'
                              'orphans = "quarantine"\n')
    notices: list[str] = []
    wire(empty_db, manifest, notices=notices)
    assert count(empty_db, "SELECT to_regnamespace('cascade_quarantine')") is None
    assert count(empty_db, "SELECT count(*) FROM posts") == 2
    assert notices[-1].startswith(
        "cascade-tool: public.posts(user_id): 0 orphan row(s) moved to cascade_quarantine.rows in 0 batch(es)")


def test_fail_policy_stops_with_table_column_and_count(db: str) -> None:
    manifest = parse_manifest(MANIFEST.replace('orphans = "quarantine"', 'orphans = "fail"', 1))
    entry = entries(db, manifest)[0]
    assert entry["table_name"] == "notes" and entry["orphans"] == "fail"
    before = contents(db)
    with session(db) as conn:
        problem = conn.execute("SELECT pg_temp.cascade_tool_orphans_precheck(%s)", [Jsonb(entry)]).fetchone()
        assert problem == ('public.notes(user_id): 20 row(s) reference no row of public.users, so the foreign key'
                           ' cannot be created (orphans = "fail"; "quarantine" or "set-null" keep them aside)',)
        conn.execute(not_valid_add(entry).encode())
        with pytest.raises(psycopg.errors.RaiseException, match=r"public.notes\(user_id\): 20 row\(s\)"):
            conn.execute("CALL pg_temp.cascade_tool_resolve_orphans('r', %s, 100)", [Jsonb(entry)])
    assert contents(db) == before
    assert count(db, "SELECT to_regnamespace('cascade_quarantine')") is None


def test_set_null_is_refused_on_a_not_null_column_and_without_a_key(db: str) -> None:
    execute_sql(db, "CREATE TABLE logs (user_id bigint, note text); INSERT INTO logs VALUES (999, 'x');")
    manifest = parse_manifest(
        '[target]\ntable = "users"\n[[tables]]\nname = "notes"\ncolumns = ["user_id"]\norphans = "set-null"\n'
        '[[tables]]\nname = "logs"\ncolumns = ["user_id"]\norphans = "set-null"\n')
    notes, logs = entries(db, manifest)
    before = contents(db)
    with session(db) as conn:
        check = "SELECT pg_temp.cascade_tool_orphans_precheck(%s)"
        assert conn.execute(check, [Jsonb(notes)]).fetchone() == (
            'public.notes(user_id): orphans = "set-null" but user_id is NOT NULL;'
            ' use orphans = "quarantine" (moves the rows aside)',)
        assert conn.execute(check, [Jsonb(logs)]).fetchone() == (
            'public.logs(user_id): orphans = "set-null" needs a primary key or a replica identity index on'
            ' public.logs, to find each nulled row again on restore; use orphans = "quarantine"',)
        conn.execute(not_valid_add(notes).encode())
        with pytest.raises(psycopg.errors.RaiseException, match="user_id is NOT NULL"):
            conn.execute("CALL pg_temp.cascade_tool_resolve_orphans('r', %s, 100)", [Jsonb(notes)])
        # a replica identity index is a key too
        conn.execute("ALTER TABLE logs ADD COLUMN id int; UPDATE logs SET id = 1;"
                     "ALTER TABLE logs ALTER id SET NOT NULL; CREATE UNIQUE INDEX logs_id ON logs (id);"
                     "ALTER TABLE logs REPLICA IDENTITY USING INDEX logs_id")
        assert conn.execute(check, [Jsonb(logs)]).fetchone() == (None,)
    assert contents(db) == before


def test_resolving_without_the_not_valid_fk_is_refused(db: str) -> None:
    entry = entries(db, parse_manifest(MANIFEST))[0]
    with session(db) as conn, pytest.raises(psycopg.errors.RaiseException) as exc:
        conn.execute("CALL pg_temp.cascade_tool_resolve_orphans('r', %s, 100)", [Jsonb(entry)])
    assert "public.notes(user_id) has no foreign key to public.users yet" in str(exc.value)
    assert "Add it NOT VALID first" in str(exc.value.diag.message_hint)
    assert count(db, "SELECT count(*) FROM notes") == 60


def test_rows_that_other_rows_reference_are_not_moved(db: str) -> None:
    """Moving a referenced row would CASCADE to rows nobody copied: refused, nothing moved."""
    execute_sql(db, "CREATE TABLE note_likes (note_id bigint REFERENCES notes ON DELETE CASCADE);"
                    "INSERT INTO note_likes VALUES (3), (3), (4);")
    entry = entries(db, parse_manifest(MANIFEST))[0]
    before = contents(db, ("notes", "note_likes"))
    with session(db) as conn:
        conn.execute(not_valid_add(entry).encode())
        with pytest.raises(psycopg.errors.RaiseException) as exc:
            conn.execute("CALL pg_temp.cascade_tool_resolve_orphans('r', %s, 5)", [Jsonb(entry)])
    assert exc.value.diag.message_primary == (
        "cascade-tool: public.notes(user_id): 2 row(s) of public.note_likes (foreign key"
        " note_likes_note_id_fkey, ON DELETE CASCADE) reference orphan rows of public.notes,"
        " which would take them along")
    assert contents(db, ("notes", "note_likes")) == before


@pytest.mark.all_majors
def test_offline_psql_script_quarantines_and_validates(db: str, server: Server, tmp_path: Path) -> None:
    """The same SQL run by `psql -v ON_ERROR_STOP=1 -f`: CALL at top level may COMMIT."""
    manifest = parse_manifest(MANIFEST)
    before = contents(db)
    script = [quarantine.routines_sql()]
    for entry in entries(db, manifest):
        literal = "$entry$" + json.dumps(entry) + "$entry$::jsonb"
        script.append(f"DO $do$ BEGIN IF pg_temp.cascade_tool_orphans_precheck({literal}) IS NOT NULL THEN"
                      f" RAISE EXCEPTION '%', pg_temp.cascade_tool_orphans_precheck({literal}); END IF; END $do$;")
        script.append(not_valid_add(entry) + ";")
        script.append(f"CALL pg_temp.cascade_tool_resolve_orphans('offline1', {literal}, 3);")
        script.append(f"DO $do$ BEGIN EXECUTE format('ALTER TABLE %s VALIDATE CONSTRAINT %I', {entry['q_table']!r},"
                      f" pg_temp.cascade_tool_orphan_fk({literal})->>'conname'); END $do$;")
    path = tmp_path / "upgrade.sql"
    path.write_text("\n".join(script))
    result = subprocess.run([server.tool("psql"), "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", db, "-f", str(path)],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert "NOTICE:  cascade-tool: public.notes(user_id): batch 7: 2 orphan row(s) moved" in result.stderr
    assert count(db, "SELECT count(*) FROM pg_constraint WHERE contype = 'f' AND convalidated") == 4
    recorded = count(db, "SELECT count(*) FROM cascade_quarantine.rows WHERE revision = 'offline1'")
    assert recorded == sum(EXPECTED.values())

    down = tmp_path / "downgrade.sql"
    down.write_text(quarantine.routines_sql() + "\nBEGIN;\n" + "".join(
        f"ALTER TABLE {t} DROP CONSTRAINT {n};\n"
        for t, n in (count(db, "SELECT array_agg(ARRAY[conrelid::regclass::text, quote_ident(conname)])"
                               " FROM pg_constraint WHERE contype = 'f'"))
    ) + "CALL pg_temp.cascade_tool_restore_revision('offline1', NULL);\nCOMMIT;\n")
    result = subprocess.run([server.tool("psql"), "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", db, "-f", str(down)],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert "29 quarantined row(s) put back, 15 nulled row(s) given their values back" in result.stderr
    assert contents(db) == before


def _wait_for(predicate: Any, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("timed out")
        time.sleep(0.02)


@pytest.mark.parametrize("policy", ["quarantine", "set-null"])
def test_a_session_killed_mid_batch_reruns_to_the_same_result(empty_db: str, policy: str) -> None:
    """Killed inside batch 4 (3 committed): nothing lost or doubled; concurrent new orphans are
    rejected by the NOT VALID FK meanwhile; a re-run converges and VALIDATE passes."""
    execute_sql(empty_db, """
        CREATE TABLE users (id int PRIMARY KEY);
        INSERT INTO users SELECT generate_series(1, 10);
        CREATE TABLE posts (id int PRIMARY KEY, user_id int, body text);
        INSERT INTO posts SELECT g, CASE WHEN g % 2 = 0 THEN 100 + g ELSE g % 10 + 1 END, 'p' || g
          FROM generate_series(1, 200) AS g;
        -- test hook: once 30 rows are committed, the next batch waits for advisory lock 4242
        CREATE FUNCTION hold() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            IF (SELECT count(*) FROM cascade_quarantine.rows) > 30 THEN PERFORM pg_advisory_lock(4242); END IF;
            RETURN NULL;
        END $$;
    """)
    manifest = parse_manifest('[target]\ntable = "users"\n[[tables]]\nname = "posts"\ncolumns = ["user_id"]\n'
                              f'orphans = "{policy}"\n')
    before = contents(empty_db, ("posts",))
    entry = entries(empty_db, manifest)[0]
    with psycopg.connect(empty_db, autocommit=True) as killer:
        killer.execute("SELECT pg_advisory_lock(4242)")
        worker = session(empty_db)
        worker.execute(not_valid_add(entry).encode())
        # the hook goes on the quarantine table once it exists: create it the way the procedure does
        worker.execute("CALL pg_temp.cascade_tool_quarantine_setup()")
        worker.execute("CREATE TRIGGER hold AFTER INSERT ON cascade_quarantine.rows"
                       " FOR EACH STATEMENT EXECUTE FUNCTION hold()")
        pid = worker.info.backend_pid
        errors: list[BaseException] = []

        def run() -> None:
            try:
                worker.execute("CALL pg_temp.cascade_tool_resolve_orphans('r1', %s, 10)", [Jsonb(entry)])
            except BaseException as exc:  # the kill ends the call; we assert on it
                errors.append(exc)

        thread = threading.Thread(target=run)
        thread.start()
        _wait_for(lambda: killer.execute(
            "SELECT wait_event_type = 'Lock' FROM pg_stat_activity WHERE pid = %s", [pid]).fetchone() == (True,))
        # during the batches: a new orphan is rejected, a valid row goes in
        with pytest.raises(psycopg.errors.ForeignKeyViolation):
            killer.execute("INSERT INTO posts VALUES (1001, 555, 'new orphan')")
        killer.execute("INSERT INTO posts VALUES (1002, 5, 'new valid')")
        killer.execute("SELECT pg_terminate_backend(%s)", [pid])
        thread.join(30)
        worker.close()
        assert errors and isinstance(errors[0], psycopg.OperationalError)
        killer.execute("SELECT pg_advisory_unlock(4242)")
        killer.execute("DROP TRIGGER hold ON cascade_quarantine.rows")

    # three batches committed, the fourth undone
    assert count(empty_db, "SELECT count(*) FROM cascade_quarantine.rows") == 30
    orphans_left = "SELECT count(*) FROM posts WHERE user_id > 100"
    assert count(empty_db, orphans_left) == 70
    # 200 rows, 1 valid row added meanwhile, 30 moved out (or nulled in place)
    assert count(empty_db, "SELECT count(*) FROM posts") == (171 if policy == "quarantine" else 201)
    with session(empty_db) as conn:
        conn.execute("CALL pg_temp.cascade_tool_resolve_orphans('r1', %s, 10)", [Jsonb(entry)])
        name = conn.execute("SELECT pg_temp.cascade_tool_orphan_fk(%s)->>'conname'", [Jsonb(entry)]).fetchone()
        assert name is not None
        conn.execute(psycopg.sql.SQL("ALTER TABLE posts VALIDATE CONSTRAINT {}").format(
            psycopg.sql.Identifier(name[0])))
    assert count(empty_db, orphans_left) == 0
    assert count(empty_db, "SELECT count(*) FROM cascade_quarantine.rows") == 100
    assert count(empty_db, "SELECT count(DISTINCT row_key) FROM cascade_quarantine.rows") == 100
    expected_rows = 101 if policy == "quarantine" else 201
    assert count(empty_db, "SELECT count(*) FROM posts") == expected_rows

    with session(empty_db) as conn, conn.transaction():
        conn.execute(psycopg.sql.SQL("ALTER TABLE posts DROP CONSTRAINT {}").format(psycopg.sql.Identifier(name[0])))
        conn.execute("CALL pg_temp.cascade_tool_restore_revision('r1', NULL)")
    after = contents(empty_db, ("posts",))["posts"]
    after.remove("(1002,5,\"new valid\")")
    assert after == before["posts"]


def test_restore_puts_back_only_rows_whose_parent_exists(db: str) -> None:
    """While the FK is in place, a row goes back only when its parent exists again."""
    manifest = parse_manifest(MANIFEST)
    wire(db, manifest, revision="r9")
    restore = "SELECT pg_temp.cascade_tool_restore_quarantined('r9', 'public', 'notes', 'test', NULL)"
    with session(db) as conn:
        result = conn.execute(restore).fetchone()
        assert result is not None
        assert result[0]["restored"] == 0 and result[0]["unnulled"] == 0
        (left,) = result[0]["left"]
        assert left["rows"] == 20 and left["table"] == "public.notes" and len(left["ids"]) == 5
        assert left["why"].startswith("no row of public.users (id) matches (foreign key ")
        conn.execute("INSERT INTO users VALUES (1003, 0), (1006, 0)")
        result = conn.execute(restore).fetchone()
        assert result is not None and result[0]["restored"] == 2 and result[0]["left"][0]["rows"] == 18
    assert count(db, "SELECT count(*) FROM notes WHERE user_id IN (1003, 1006)") == 2
    assert count(db, "SELECT count(*) FROM cascade_quarantine.rows WHERE restored_by = 'test'") == 2


def test_partitioned_table_is_resolved_partition_by_partition(empty_db: str, server: Server) -> None:
    """Orphans in two partitions are moved leaf by leaf and restored through the parent."""
    if server.version < 18:
        pytest.skip("PostgreSQL before 18 cannot add a NOT VALID foreign key on a partitioned table")
    execute_sql(empty_db, """
        CREATE TABLE users (id int PRIMARY KEY);
        INSERT INTO users SELECT generate_series(1, 5);
        CREATE TABLE events (id int, user_id int NOT NULL, at date NOT NULL, PRIMARY KEY (id, at))
            PARTITION BY RANGE (at);
        CREATE TABLE events_2024 PARTITION OF events FOR VALUES FROM ('2024-01-01') TO ('2025-01-01');
        CREATE TABLE events_2025 PARTITION OF events FOR VALUES FROM ('2025-01-01') TO ('2026-01-01');
        INSERT INTO events SELECT g, CASE WHEN g % 4 = 0 THEN 50 + g ELSE g % 5 + 1 END,
                                  date '2024-06-01' + (g * 15) FROM generate_series(1, 30) AS g;
    """)
    manifest = parse_manifest('[target]\ntable = "users"\n[[tables]]\nname = "events"\norphans = "quarantine"\n'
                              'columns = ["user_id"]\n')
    before = contents(empty_db, ("events",))
    names = wire(empty_db, manifest, revision="p1", batch=2)
    with psycopg.connect(empty_db) as conn:
        rows = conn.execute("SELECT partition_name, table_name, count(*) FROM cascade_quarantine.rows"
                            " GROUP BY 1, 2 ORDER BY 1").fetchall()
    assert rows == [("events_2024", "events", 3), ("events_2025", "events", 4)]
    assert count(empty_db, "SELECT count(*) FROM events") == 23
    unwire(empty_db, names, revision="p1")
    assert contents(empty_db, ("events",)) == before


def test_routines_can_be_embedded_in_a_revision() -> None:
    """The revision keeps SQL programs in r'''...''' strings and runs them through SQLAlchemy."""
    text = quarantine.routines_sql()
    assert "'''" not in text and not text.rstrip("\n").endswith("\\")
    assert text.count("CREATE OR REPLACE") == 8
    for name in ("cascade_tool_quarantine_setup()", "cascade_tool_orphans_precheck(p_entry jsonb)",
                 "cascade_tool_resolve_orphans(p_revision text, p_entry jsonb, p_batch integer)",
                 "cascade_tool_restore_revision(p_revision text, p_schemas text[])"):
        assert f"pg_temp.{name}" in text


def test_restore_leaves_rows_that_would_clash_and_says_why(db: str) -> None:
    """A re-used key, a nulled value overwritten since, a nulled row deleted since: left, listed."""
    wire(db, parse_manifest(MANIFEST), revision="r5")
    execute_sql(db, "ALTER TABLE notes DROP CONSTRAINT notes_user_id_fkey;"
                    "ALTER TABLE comments DROP CONSTRAINT comments_author_id_fkey;"
                    "INSERT INTO notes (id, user_id, body) OVERRIDING SYSTEM VALUE VALUES (3, 1, 'id 3 again');"
                    "UPDATE comments SET author_id = 1 WHERE id = 8; DELETE FROM comments WHERE id = 12;")
    with session(db) as conn:
        result = conn.execute(
            "SELECT pg_temp.cascade_tool_restore_quarantined('r5', 'public', NULL, 'test', NULL)").fetchone()
    assert result is not None
    left = {(x["table"], x["action"]): x for x in result[0]["left"]}
    assert set(left) == {("public.notes", "moved"), ("public.comments", "nulled"), ("public.memberships", "nulled"),
                         ("public.consents", "moved")}
    # memberships and consents still have their FK: their rows wait for their parents
    assert left["public.consents", "moved"]["why"].startswith("no row of public.users (id, tenant_id) matches")
    assert left["public.memberships", "nulled"]["rows"] == 5
    assert (left["public.notes", "moved"]["rows"], left["public.notes", "moved"]["why"]) == (
        1, "a row with the same (id) is in the table again")
    assert (left["public.comments", "nulled"]["rows"], left["public.comments", "nulled"]["why"]) == (
        2, "the row is gone, or its author_id no longer NULL")
    # everything else went back
    assert result[0]["restored"] == 19 and result[0]["unnulled"] == 8
    assert count(db, "SELECT body FROM notes WHERE id = 3") == "id 3 again"
    assert count(db, "SELECT author_id FROM comments WHERE id = 8") == 1
    assert count(db, "SELECT count(*) FROM cascade_quarantine.rows WHERE restored_at IS NULL") == 1 + 2 + 5 + 9
