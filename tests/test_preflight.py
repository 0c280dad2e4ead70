"""preflight on real PostgreSQL: lock holders and waiters, long transactions, sizes and indexes,
partitioned tables, max_locks_per_transaction, exit codes, and the query inside a DO block.

Each test runs once per server (the embedded 18 and, when installed, another major version).
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg import sql

from cascade_tool import catalog
from cascade_tool import preflight as preflight_lib
from cascade_tool.errors import ServerError
from cascade_tool.manifest import load_manifest, parse_manifest
from cascade_tool.pgserver import Cluster
from tests.helpers import DATA, Server, execute_sql
from tests.test_corpus import CORPUS, corpus_db
from tests.test_upgrade import QUIRKS_MANIFEST

MANIFEST = str(QUIRKS_MANIFEST)



def run_preflight(url: str, manifest: Any = None, seconds: float = 60.0) -> preflight_lib.Preflight:
    with catalog.connect(url) as conn:
        return preflight_lib.run(conn, manifest or load_manifest(QUIRKS_MANIFEST), seconds)


def by_object(result: preflight_lib.Preflight, kind: str) -> dict[str, preflight_lib.Finding]:
    return {f.object: f for f in result.of_kind(kind)}


def wait_until(check: Any, seconds: float = 10.0) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


# --- sessions: lock holders, waiters, long transactions ---------------------------------------

def test_lock_holder_is_a_warning_naming_pid_and_table(quirks_db: str, run_cli: Any) -> None:
    """A transaction holding a lock on a manifest table makes preflight warn and exit 1."""
    with psycopg.connect(quirks_db) as holder:
        holder.execute("SELECT count(*) FROM posts")  # AccessShareLock, kept until the transaction ends
        pid = holder.info.backend_pid
        time.sleep(0.3)
        short = run_cli("preflight", "--manifest", MANIFEST, "--database-url", quirks_db,
                        "--long-transaction-seconds", "0.2")
        default = run_cli("preflight", "--manifest", MANIFEST, "--database-url", quirks_db, "--json")
        holder.rollback()
    assert short.code == 1, short.err
    lines = [line for line in short.out.splitlines() if line.startswith("warning")]
    assert any(
        line.startswith("warning  lock ") and f"pid {pid} " in line
        and "holds AccessShareLock on public.posts: a swap on this table waits until that transaction ends" in line
        and "query: SELECT count(*) FROM posts" in line
        for line in lines
    ), short.out
    assert any(line.startswith("warning  long_transaction") and f"pid {pid} " in line
               and "idle in transaction" in line and "longer than 0.2 s" in line for line in lines), short.out
    assert short.out.splitlines()[-1].startswith("2 warning(s), ")

    # The default threshold (60 s) does not report the young transaction; its lock still counts.
    assert default.code == 1
    data = json.loads(default.out)
    warnings = [f for f in data["findings"] if f["severity"] == "warning"]
    assert [(f["kind"], f["object"], f["detail"]["pid"], f["detail"]["modes"], f["detail"]["granted"])
            for f in warnings] == [("lock", "public.posts", pid, "AccessShareLock", True)]
    assert data["warnings"] == 1
    assert default.err.startswith("1 warning(s)")


def test_waiting_session_and_partition_and_referenced_table(quirks_db: str) -> None:
    """Waiters are named with who blocks them; locks on partitions and on users count too."""
    with psycopg.connect(quirks_db) as holder, psycopg.connect(quirks_db) as waiter:
        holder.execute("SELECT count(*) FROM measurements_2024")
        holder.execute("SELECT count(*) FROM users")
        holder_pid, waiter_pid = holder.info.backend_pid, waiter.info.backend_pid
        waiter.execute("SET lock_timeout = '20s'")
        errors: list[BaseException] = []

        def take() -> None:
            try:
                waiter.execute("LOCK TABLE measurements_2024 IN ACCESS EXCLUSIVE MODE")
            except BaseException as exc:  # reported by the main thread
                errors.append(exc)

        thread = threading.Thread(target=take)
        thread.start()
        with psycopg.connect(quirks_db, autocommit=True) as probe:
            wait_until(lambda: probe.execute(
                "SELECT count(*) FROM pg_locks WHERE pid = %s AND NOT granted", (waiter_pid,)
            ).fetchone() == (1,))
        try:
            result = run_preflight(quirks_db)
        finally:
            holder.rollback()
            thread.join(30)
            waiter.rollback()
    assert not errors
    locks = [(f.severity, f.detail["pid"], f.object, f.detail["modes"], f.detail["granted"])
             for f in result.of_kind("lock")]
    assert sorted(locks, key=str) == sorted([
        ("warning", holder_pid, "public.measurements_2024", "AccessShareLock", True),
        ("warning", holder_pid, "public.users", "AccessShareLock", True),
        ("warning", waiter_pid, "public.measurements_2024", "AccessExclusiveLock", False),
    ], key=str)
    waiting = next(f for f in result.of_kind("lock") if f.detail["pid"] == waiter_pid)
    assert (f"waits for AccessExclusiveLock on public.measurements_2024 (a partition of public.measurements)"
            f" behind pid {holder_pid}: a swap on this table would queue behind it") in waiting.message
    assert waiting.detail["blocked_by"] == [holder_pid]


def test_clean_database_exits_0(quirks_db: str, run_cli: Any) -> None:
    result = run_cli("preflight", "--manifest", MANIFEST, "--database-url", quirks_db)
    assert result.code == 0, result.out + result.err
    lines = result.out.splitlines()
    assert lines[0].startswith(f"Preflight for {MANIFEST} on database ")
    assert not [line for line in lines if line.startswith("warning")]
    assert lines[-1].startswith("0 warning(s), ") and lines[-1].endswith(
        "nothing would make the upgrade wait or fail here now.")
    # One table line per entry the upgrade acts on: not the absent legacy_table nor posts.author_id.
    tables = [line for line in lines if line.startswith("info     table")]
    assert len(tables) == 17
    assert not any("legacy_table" in line or "author_id" in line for line in tables)


def test_preflight_transaction_is_read_only_and_ends(quirks_db: str) -> None:
    """The query runs in a READ ONLY transaction that is closed again; no open transaction taken."""
    with catalog.connect(quirks_db) as conn:
        conn.autocommit = True
        preflight_lib.run(conn, load_manifest(QUIRKS_MANIFEST))
        assert conn.info.transaction_status == psycopg.pq.TransactionStatus.IDLE
        assert conn.autocommit
        conn.autocommit = False
        conn.read_only = False
        conn.execute("SELECT 1")
        with pytest.raises(preflight_lib.DatabaseError, match="no transaction open"):
            preflight_lib.run(conn, load_manifest(QUIRKS_MANIFEST))


# --- tables: rows, size, covering index, cost --------------------------------------------------

# The main forks of a table, its indexes, its TOAST table and index: what ANALYZE leaves in pg_class.
SIZE = sql.SQL(
    "(SELECT sum(pg_relation_size(r)) FROM (SELECT %(t)s::regclass::oid AS r"
    " UNION ALL SELECT indexrelid FROM pg_index WHERE indrelid = %(t)s::regclass"
    " UNION ALL SELECT reltoastrelid FROM pg_class WHERE oid = %(t)s::regclass AND reltoastrelid <> 0"
    " UNION ALL SELECT indexrelid FROM pg_index WHERE indrelid = (SELECT reltoastrelid FROM pg_class"
    " WHERE oid = %(t)s::regclass)) AS rels)"
)


def test_rows_size_and_covering_indexes(quirks_db: str) -> None:
    execute_sql(quirks_db, """
        CREATE INDEX posts_user_idx ON posts (user_id);
        CREATE INDEX documents_reviewer_idx ON documents (reviewed_by) WHERE reviewed_by IS NOT NULL;
        CREATE INDEX comments_recent_idx ON comments (user_id) WHERE id > 5;
        CREATE INDEX memberships_idx ON memberships (tenant_id, user_id, tenant_id);
        CREATE INDEX sessions_idx ON sessions (id, user_id);
        CREATE INDEX devices_expr_idx ON devices ((user_id + 0));
        ANALYZE;
    """)
    result = run_preflight(quirks_db)
    tables = by_object(result, "table")
    indexed = {obj: (f.detail["indexed"], f.detail["index"]) for obj, f in tables.items()}
    assert indexed["public.posts(user_id)"] == (True, "posts_user_idx")
    assert indexed["public.documents(reviewed_by)"] == (True, "documents_reviewer_idx")  # IS NOT NULL: counts
    assert indexed["public.documents(owner_id)"] == (False, None)
    assert indexed["public.comments(user_id)"] == (False, None)  # other predicate: does not count
    assert indexed["public.memberships(user_id, tenant_id)"] == (True, "memberships_idx")  # any order
    assert indexed["public.sessions(user_id)"] == (False, None)  # not leading
    assert indexed["public.devices(user_id)"] == (False, None)  # an expression

    with psycopg.connect(quirks_db) as conn:
        for obj, table in [("public.posts(user_id)", "posts"), ("public.documents(owner_id)", "documents")]:
            count, total, heap = conn.execute(
                sql.SQL("SELECT count(*), {size}, pg_relation_size(%(t)s::regclass) FROM {t}").format(
                    size=SIZE, t=sql.Identifier(table)), {"t": table}).fetchone() or (0, 0, 0)
            detail = tables[obj].detail
            assert (detail["rows_estimate"], detail["total_bytes"], detail["heap_bytes"]) == (count, total, heap)
            assert detail["cost"] == "trivial" and detail["partitioned"] is False
    posts = tables["public.posts(user_id)"].message
    assert posts == ("public.posts(user_id): about 50 rows, "
                     f"{tables['public.posts(user_id)'].detail['total_bytes'] // 1024} kB in total; "
                     "indexed (posts_user_idx); validation cost trivial (under 10 MB to scan)")
    assert tables["public.documents(owner_id)"].message.endswith(
        "; not indexed: deleting a public.users row scans this table (the upgrade builds the index first "
        "when create_indexes is on); validation cost trivial (under 10 MB to scan)")
    # A chain entry names its own referenced table.
    assert "deleting a public.chat_sessions row" in tables["public.chat_messages(session_id)"].message
    assert tables["public.chat_messages(session_id)"].detail["target"] == "public.chat_sessions"


def test_never_analyzed_table_says_so(quirks_db: str, tmp_path: Path) -> None:
    """Below autovacuum's thresholds and never analyzed: no size from pg_class, and it says so."""
    execute_sql(quirks_db, "CREATE TABLE fresh (user_id bigint REFERENCES users (id));"
                           " INSERT INTO fresh SELECT 1 FROM generate_series(1, 10)")
    manifest = tmp_path / "fresh.toml"
    manifest.write_text('[target]\ntable = "users"\n\n[[tables]]\nname = "fresh"\ncolumns = ["user_id"]\n')
    (fresh,) = run_preflight(quirks_db, load_manifest(manifest)).of_kind("table")
    assert fresh.detail["cost"] == "unknown" and fresh.detail["unanalyzed"] == 1
    assert ", size unknown; not indexed" in fresh.message
    assert fresh.message.endswith("validation cost unknown (never analyzed: run ANALYZE for estimates)")
    execute_sql(quirks_db, "ANALYZE fresh")
    (fresh,) = run_preflight(quirks_db, load_manifest(manifest)).of_kind("table")
    assert (fresh.detail["cost"], fresh.detail["rows_estimate"], fresh.detail["heap_bytes"]) == ("trivial", 10, 8192)


def test_partitioned_table_sums_its_partitions(server: Server, quirks_db: str, run_cli: Any) -> None:
    execute_sql(quirks_db, "CREATE INDEX ON measurements_2024 (user_id); ANALYZE")
    first = by_object(run_preflight(quirks_db), "table")["public.measurements(user_id)"]
    assert first.detail["partitioned"] is True and first.detail["partitions"] == 2
    assert first.detail["rows_estimate"] == 60
    assert (first.detail["indexed"], first.detail["indexed_partitions"]) == (False, 1)
    assert "about 60 rows" in first.message and "summed over 2 partition(s)" in first.message
    assert "indexed on 1 of 2 partitions" in first.message
    with psycopg.connect(quirks_db) as conn:
        sizes = [conn.execute(sql.SQL("SELECT {}, pg_relation_size(%(t)s::regclass)").format(SIZE),
                              {"t": t}).fetchone() or (0, 0) for t in ("measurements_2024", "measurements_2025")]
    assert (first.detail["total_bytes"], first.detail["heap_bytes"]) == (
        sum(s[0] for s in sizes), sum(s[1] for s in sizes))

    # Enough rows for a validation scan that matters: PostgreSQL 17 and earlier validate a
    # partitioned table's FK inside the swap, holding users ACCESS EXCLUSIVE: a warning there.
    execute_sql(quirks_db, """
        CREATE INDEX ON measurements (user_id);
        INSERT INTO measurements SELECT g, 1 + g % 10, DATE '2024-01-01' + g % 700
          FROM generate_series(1, 250000) g;
        ANALYZE measurements;
    """)
    result = run_cli("preflight", "--manifest", MANIFEST, "--database-url", quirks_db, "--json")
    data = json.loads(result.out)
    table = next(f for f in data["findings"] if f["object"] == "public.measurements(user_id)" and f["kind"] == "table")
    assert table["detail"]["indexed"] is True and "indexed on every partition" in table["message"]
    assert table["detail"]["rows_estimate"] == pytest.approx(250060, rel=0.05)
    assert table["detail"]["cost"] == "small"
    swaps = [f for f in data["findings"] if f["kind"] == "partitioned_swap"]
    if server.version <= 17:
        assert result.code == 1
        assert [(f["severity"], f["object"]) for f in swaps] == [("warning", "public.measurements(user_id)")]
        assert ("holding SHARE ROW EXCLUSIVE (writes wait) on public.measurements and public.users while it scans about"
                in swaps[0]["message"])
    else:
        assert result.code == 0, result.out
        assert swaps == []


# --- max_locks_per_transaction -----------------------------------------------------------------

def swap_lock_slots(url: str, table: str, constraint: str) -> int:
    """Distinct locks (relations and objects) a validated DROP + ADD of one FK takes, rolled back.

    That is the swap PostgreSQL 17 and earlier need for a partitioned table, and the most any
    swap step takes (the NOT VALID swap and the VALIDATE each take a part of it).
    """
    schema, _, name = table.rpartition(".")
    with psycopg.connect(url) as conn:
        row = conn.execute(
            "SELECT pg_get_constraintdef(c.oid) FROM pg_constraint c"
            " WHERE c.conrelid = %s::regclass AND c.conname = %s", (table, constraint)).fetchone()
        assert row is not None
        definition = str(row[0])
        if " ON DELETE " in definition:
            definition = re.sub(r" ON DELETE (SET NULL|SET DEFAULT|RESTRICT|NO ACTION)", " ON DELETE CASCADE",
                                definition)
        else:
            definition += " ON DELETE CASCADE"
        conn.execute(sql.SQL("ALTER TABLE {t} DROP CONSTRAINT {c}, ADD CONSTRAINT {c} ").format(
            t=sql.Identifier(*(p for p in (schema, name) if p)), c=sql.Identifier(constraint))
            + sql.SQL(definition))  # the server's own text for this FK, with a new ON DELETE
        row = conn.execute(
            "SELECT count(DISTINCT (locktype, relation, classid, objid, objsubid)) FROM pg_locks"
            " WHERE pid = pg_backend_pid() AND locktype IN ('relation', 'object')"
            " AND relation IS DISTINCT FROM 'pg_locks'::regclass").fetchone()
        conn.rollback()
    return int(row[0]) if row else 0


def test_max_locks_figure_matches_a_real_swap(quirks_db: str) -> None:
    result = run_preflight(quirks_db)
    (finding,) = result.of_kind("max_locks")
    assert finding.severity == "info"
    assert finding.detail["table"] == "public.measurements"  # the partitioned one is the largest step
    assert finding.detail["relations"] == 4  # measurements, its 2 partitions, users
    actual = swap_lock_slots(quirks_db, "public.measurements", "measurements_user_fk")
    assert actual <= finding.detail["lock_slots"] <= 1.5 * actual
    assert finding.message.endswith("max_locks_per_transaction = 256 is enough")


def test_max_locks_too_low_for_a_many_partition_table(quirks_db: str, run_cli: Any, tmp_path: Path) -> None:
    """70 partitions with an index: one swap takes more lock slots than max_locks_per_transaction."""
    execute_sql(quirks_db, """
        CREATE TABLE readings (user_id bigint NOT NULL REFERENCES users (id), n int NOT NULL)
            PARTITION BY RANGE (n);
        CREATE INDEX ON readings (user_id);
    """ + "".join(f"CREATE TABLE readings_{i} PARTITION OF readings FOR VALUES FROM ({i}) TO ({i + 1});"
                  for i in range(70)))
    manifest = tmp_path / "readings.toml"
    manifest.write_text('[target]\ntable = "users"\n\n[[tables]]\nname = "readings"\ncolumns = ["user_id"]\n')
    result = run_cli("preflight", "--manifest", str(manifest), "--database-url", quirks_db, "--json")
    assert result.code == 1, result.out + result.err
    (finding,) = [f for f in json.loads(result.out)["findings"] if f["kind"] == "max_locks"]
    detail = finding["detail"]
    assert finding["severity"] == "warning"
    assert detail["relations"] == 72  # readings, 70 partitions, users
    with psycopg.connect(quirks_db) as conn:
        max_locks = int(conn.execute("SHOW max_locks_per_transaction").fetchone()[0])  # type: ignore[index]
    actual = swap_lock_slots(quirks_db, "public.readings", "readings_user_id_fkey")
    assert max_locks < actual <= detail["lock_slots"] <= 1.3 * actual
    suggested = -(-detail["lock_slots"] // 64) * 64
    assert detail["suggested"] == suggested
    assert finding["message"].endswith(
        f"max_locks_per_transaction = {max_locks} is too low: the step can fail with \"out of shared memory\" "
        f"while other sessions hold locks. Set max_locks_per_transaction = {suggested} (a server restart is needed)")


# --- errors --------------------------------------------------------------------------------------

def test_errors_exit_2_in_one_line(run_cli: Any, tmp_path: Path) -> None:
    bad = run_cli("preflight", "--manifest", MANIFEST, "--database-url", "postgresql://nobody@127.0.0.1:1/none")
    assert bad.code == 2 and bad.out == ""
    assert bad.err.startswith("cascade-tool: error: cannot connect to postgresql://nobody@127.0.0.1:1/none: ")
    assert bad.err.count("\n") == 1
    scheme = run_cli("preflight", "--manifest", MANIFEST, "--database-url", "mysql://x@y/z")
    assert scheme.code == 2 and scheme.err.startswith("cascade-tool: error: database URL must start with")
    negative = run_cli("preflight", "--manifest", MANIFEST, "--database-url", "postgresql://x@y/z",
                       "--long-transaction-seconds", "-1")
    assert negative.code == 2 and "--long-transaction-seconds" in negative.err
    missing = run_cli("preflight", "--manifest", str(tmp_path / "nope.toml"), "--database-url", "postgresql://x@y/z")
    assert missing.code == 2 and missing.err.startswith("cascade-tool: error: cannot read manifest")
    help_text = run_cli("preflight", "--help")
    assert help_text.code == 0
    assert "Exit codes: 0 no warnings; 1 warnings" in help_text.out


# --- embedding in the revision ---------------------------------------------------------------------

def test_query_text_is_embeddable() -> None:
    """One SELECT: no semicolon outside string literals, no dollar quote, no percent sign."""
    text = preflight_lib.PREFLIGHT_SQL
    code = re.sub(r"'(?:[^']|'')*'", "''", re.sub(r"--[^\n]*", "", text))
    assert ";" not in code and "$" not in text and "%" not in text
    assert code.strip().startswith("WITH RECURSIVE")
    assert text.count(catalog.ENTRIES_SLOT) == 1 and text.count(preflight_lib.LONG_TRANSACTION_SLOT) == 1


def test_query_runs_inside_a_do_block(quirks_db: str) -> None:
    """The lead embeds the text in PL/pgSQL: it must run there and say what the command says."""
    manifest = load_manifest(QUIRKS_MANIFEST)
    query = preflight_lib.query_text(manifest)
    # Variables named like the query's columns: they must not capture anything.
    block = ("DO $x$ DECLARE r record; severity text; kind text; object text; message text; detail jsonb;"
             " i integer; relid oid; root oid; columns text[]; schema text; pid integer; BEGIN FOR r IN "
             + query + " LOOP RAISE WARNING '%', r.message; END LOOP; END $x$")
    raised: list[str] = []
    with psycopg.connect(quirks_db) as conn:
        conn.add_notice_handler(lambda diag: raised.append(diag.message_primary or ""))
        conn.execute(block.encode())
        # It took no lock on any table of the database (only catalogs and views): inside the
        # revision it holds nothing, and it never queues behind a waiting ALTER TABLE.
        locked = conn.execute(
            "SELECT l.relation::regclass::text FROM pg_locks l JOIN pg_class c ON c.oid = l.relation"
            " JOIN pg_namespace n ON n.oid = c.relnamespace"
            " WHERE l.pid = pg_backend_pid() AND n.nspname NOT IN ('pg_catalog', 'information_schema')"
        ).fetchall()
        assert locked == []
        conn.rollback()
    # Compare what does not depend on other sessions (autovacuum may come and go).
    stable = ("max_locks", "table", "partitioned_swap")
    expected = [f.message for f in run_preflight(quirks_db, manifest).findings if f.kind in stable]
    assert [m for m in raised if not m.startswith(("pid ", "prepared ", "a prepared "))] == expected
    assert len(raised) >= 18


def test_payload_with_dollar_signs_is_quoted_safely(quirks_db: str) -> None:
    manifest = parse_manifest(
        '[target]\ntable = "users"\n\n[[tables]]\nname = \'"a$cascade_tool_entries$b"\'\ncolumns = ["user_id"]\n'
    )
    execute_sql(quirks_db, 'CREATE TABLE "a$cascade_tool_entries$b" (user_id bigint REFERENCES users (id))')
    query = preflight_lib.query_text(manifest, 0)
    assert "$cascade_tool_entries_$" in query
    with psycopg.connect(quirks_db) as conn:
        rows = conn.execute(query.encode()).fetchall()
    assert [r[2] for r in rows if r[1] == "table"] == ["public.a$cascade_tool_entries$b(user_id)"]


# --- prepared transactions (needs max_prepared_transactions > 0: a cluster of its own) ---------------

def test_forgotten_prepared_transaction_is_reported(tmp_path: Path) -> None:
    try:
        cluster = Cluster.start(settings={"max_prepared_transactions": "2"})
    except ServerError as exc:  # pragma: no cover - no server binaries here
        pytest.skip(str(exc))
    try:
        url = cluster.url()
        execute_sql(url, (DATA / "quirks_schema.sql").read_text())
        with psycopg.connect(url) as conn:
            conn.execute("SELECT count(*) FROM posts")
            conn.execute("PREPARE TRANSACTION 'forgotten'")
        result = run_preflight(url, seconds=0)
        prepared = [f for f in result.of_kind("long_transaction") if f.object == "prepared transaction 'forgotten'"]
        assert len(prepared) == 1 and prepared[0].severity == "warning"
        locks = [f for f in result.of_kind("lock") if f.detail["pid"] is None]
        assert [(f.object, f.severity) for f in locks] == [("public.posts", "warning")]
        assert locks[0].message == ("prepared transaction 'forgotten' holds AccessShareLock on public.posts: a swap "
                                    "on this table waits until COMMIT PREPARED or ROLLBACK PREPARED")
        assert locks[0].detail["gid"] == "forgotten"
        execute_sql(url, "ROLLBACK PREPARED 'forgotten'")
        assert run_preflight(url).warnings == ()
    finally:
        cluster.stop()


# --- GitLab's schema ---------------------------------------------------------------------------------

@pytest.fixture
def gitlab_db(server: Server) -> Iterator[str]:
    """A copy of GitLab's schema (the template test_corpus.py builds, shared per server)."""
    yield from corpus_db(server, "gitlab", "structure.sql")


@pytest.mark.skipif(not CORPUS.is_dir(), reason="../shared/corpus not present")
def test_gitlab(gitlab_db: str, run_cli: Any) -> None:
    """192 entries: every FK column covered (by partial IS NOT NULL indexes, as lint finds), and the
    64-partition work_item_descriptions swap needs more lock slots than max_locks_per_transaction."""
    started = time.monotonic()
    result = run_cli("preflight", "--manifest", str(DATA / "gitlab_manifest.toml"), "--database-url", gitlab_db,
                     "--json")
    elapsed = time.monotonic() - started
    assert result.code == 1, result.err
    data = json.loads(result.out)
    tables = [f for f in data["findings"] if f["kind"] == "table"]
    assert len(tables) == 192
    assert [f["object"] for f in tables if not f["detail"]["indexed"]] == [
        "public.merge_requests_merge_data(merge_user_id)"]  # partitioned, with no partitions yet
    assert "; no partitions yet;" in next(f["message"] for f in tables if not f["detail"]["indexed"])
    (locks,) = [f for f in data["findings"] if f["kind"] == "max_locks"]
    assert (locks["severity"], locks["detail"]["table"], locks["detail"]["relations"]) == (
        "warning", "public.work_item_descriptions", 66)
    with psycopg.connect(gitlab_db) as conn:
        row = conn.execute(
            "SELECT conname FROM pg_constraint WHERE conrelid = 'public.work_item_descriptions'::regclass"
            " AND confrelid = 'public.users'::regclass AND contype = 'f'").fetchone()
    assert row is not None
    actual = swap_lock_slots(gitlab_db, "public.work_item_descriptions", str(row[0]))
    assert 256 < actual <= locks["detail"]["lock_slots"] <= 1.25 * actual
    assert data["seconds"] < 5 and elapsed < 20
