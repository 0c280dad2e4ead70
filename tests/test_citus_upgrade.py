"""The generated revision on a real Citus cluster (a coordinator and two workers).

The multi-tenant schema of tests/citus.py: users and four colocated children distributed by
tenant_id with tenant-first composite FKs, two reference tables, an FK from a distributed table to
a reference table and a Citus local table. Citus refuses RENAME CONSTRAINT on all of those tables;
the same revision that renames on plain PostgreSQL swaps without a rename here, and every shard
on every worker follows.
"""

from __future__ import annotations

import os
import random
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import psycopg
import pytest

from cascade_tool import revisions
from cascade_tool.manifest import load_manifest
from tests.citus import CitusCluster, load_multi_tenant, node_fks
from tests.helpers import DATA, alembic

pytestmark = pytest.mark.citus

MANIFEST = DATA / "citus_manifest.toml"
# (table, constraint) -> the ON DELETE code the manifest asks for
WANTED = {
    ("posts", "posts_user_fkey"): "c",
    ("comments", "comments_user_fkey"): "c",
    ("orders", "orders_user_fkey"): "c",
    ("sessions", "sessions_user_fkey"): "c",
    ("sessions", "sessions_plan_fkey"): "n",
    ("plan_notes", "plan_notes_plan_fkey"): "c",
    ("plans", "plans_country_fkey"): "c",
}
ACTIONS = {"a": "NO ACTION", "r": "RESTRICT", "c": "CASCADE", "n": "SET NULL"}

Fks = dict[str, list[tuple[str, str, str, bool, str]]]


def generate(project: Path) -> Path:
    return revisions.generate(
        load_manifest(MANIFEST), project / "migrations" / "versions", "cascade citus", rev_id="rev0001"
    )


def cluster_fks(cluster: CitusCluster, url: str) -> Fks:
    """Every FK on every node: the coordinator's tables, and each worker's shards (and the
    shell tables Citus keeps there)."""
    name = url.rsplit("/", 1)[1]
    return {node_url: node_fks(node_url) for node_url in [url, *cluster.worker_urls(name)]}


def owner(shard_table: str, constraint: str) -> tuple[str, str] | None:
    """The (table, constraint) of the manifest a shard's (or the table's own) FK belongs to."""
    for table, name in WANTED:
        if (shard_table, constraint) == (table, name):
            return table, name
        if shard_table.startswith(table + "_") and constraint.startswith(name + "_") \
                and constraint[len(name) + 1:] == shard_table[len(table) + 1:]:
            return table, name
    return None


def assert_converted(before: Fks, after: Fks) -> None:
    """The same FKs on every node under the same names, each of the manifest's with its ON DELETE
    changed and nothing else, validated; no temporary constraint left anywhere."""
    shards = 0
    for node, rows in before.items():
        now = {(t, c): (a, v, d) for t, c, a, v, d in after[node]}
        assert set(now) == {(t, c) for t, c, *_ in rows}, node
        for table, name, action, _valid, definition in rows:
            key = owner(table, name)
            got_action, got_valid, got_def = now[(table, name)]
            if key is None:
                assert (got_action, got_def) == (action, definition)
                continue
            shards += table != key[0]
            wanted = WANTED[key]
            old = f" ON DELETE {ACTIONS[action]}" if action != "a" else ""
            new = f" ON DELETE {ACTIONS[wanted]}"
            expected = definition.replace(old, new, 1) if old else _with_delete(definition, new)
            assert (got_action, got_valid, got_def) == (wanted, True, expected), (node, table, name)
    # 8 shards for each of the five FKs of distributed tables, spread over the two workers
    assert shards >= 5 * 8


def _with_delete(definition: str, clause: str) -> str:
    """`definition` with ON DELETE `clause` where PostgreSQL prints it (after ON UPDATE)."""
    for tail in (" DEFERRABLE", " NOT VALID"):
        if tail in definition:
            head, _, rest = definition.partition(tail)
            return head + clause + tail + rest
    return definition + clause


def test_upgrade_converts_every_shard_verify_passes_deletes_cascade_downgrade_restores(
    citus_cluster: CitusCluster, citus_db: str, alembic_project: Path, run_cli: Any
) -> None:
    load_multi_tenant(citus_db)
    before = cluster_fks(citus_cluster, citus_db)
    # why the revision swaps without a rename here: Citus refuses it on all three kinds of table
    with psycopg.connect(citus_db, autocommit=True) as conn:
        for table, name in (("posts", "posts_user_fkey"), ("plans", "plans_country_fkey"),
                            ("plan_notes", "plan_notes_plan_fkey")):
            with pytest.raises(psycopg.errors.FeatureNotSupported, match="renaming constraints belonging to "
                               "distributed tables is currently unsupported"):
                conn.execute(f"ALTER TABLE {table} RENAME CONSTRAINT {name} TO renamed")
        # why the revision sets sequential mode for an FK to a reference table: Citus refuses the
        # change once the transaction has used parallel connections
        with pytest.raises(psycopg.errors.InternalError, match="parallel operation"):
            with conn.transaction():
                conn.execute("SELECT count(*) FROM sessions")
                conn.execute("ALTER TABLE sessions ADD CONSTRAINT x FOREIGN KEY (plan_id) REFERENCES plans (id) "
                             "NOT VALID")
    generate(alembic_project)

    up = alembic(alembic_project, citus_db, "upgrade", "head")
    assert up.returncode == 0, up.stderr
    assert "[1/7] converted public.posts.posts_user_fkey (NO ACTION -> CASCADE), validated" in up.stdout
    assert "[5/7] converted public.sessions.sessions_plan_fkey (NO ACTION -> SET NULL), validated" in up.stdout
    assert "[6/7] converted public.plan_notes.plan_notes_plan_fkey (NO ACTION -> CASCADE), validated" in up.stdout
    assert "7 converted, 0 created, 0 unchanged, 0 skipped" in up.stdout
    assert "WARNING" not in up.stdout + up.stderr  # no Citus warnings about the session's routines
    assert "removing table" not in up.stdout + up.stderr  # the Citus local table stayed in the metadata
    after = cluster_fks(citus_cluster, citus_db)
    assert_converted(before, after)
    # ON UPDATE, MATCH FULL, DEFERRABLE INITIALLY DEFERRED kept, on the coordinator
    coordinator = {(t, c): d for t, c, _, _, d in after[citus_db]}
    assert coordinator[("orders", "orders_user_fkey")] == (
        "FOREIGN KEY (tenant_id, user_id) REFERENCES users(tenant_id, id) MATCH FULL ON DELETE CASCADE "
        "DEFERRABLE INITIALLY DEFERRED")
    assert coordinator[("comments", "comments_user_fkey")] == (
        "FOREIGN KEY (tenant_id, user_id) REFERENCES users(tenant_id, id) ON UPDATE RESTRICT ON DELETE CASCADE")
    with psycopg.connect(citus_db) as conn:
        kind = conn.execute("SELECT citus_table_type FROM citus_tables WHERE table_name = 'plan_notes'::regclass")
        assert kind.fetchone() == ("local",)

    verify = run_cli("verify", "--manifest", str(MANIFEST), "--database-url", citus_db)
    assert verify.code == 0, verify.out + verify.err

    children = ("posts", "comments", "orders", "sessions")
    with psycopg.connect(citus_db, autocommit=True) as conn:
        def counts() -> dict[str, tuple[int, int]]:
            return {t: conn.execute(f"SELECT count(*) FILTER (WHERE tenant_id = 3 AND user_id = 2), count(*) FROM {t}")
                    .fetchone() for t in children}  # type: ignore[misc]
        start = counts()
        assert all(mine > 0 for mine, _ in start.values())
        conn.execute("DELETE FROM users WHERE tenant_id = 3 AND id = 2")
        end = counts()
        assert end == {t: (0, total - mine) for t, (mine, total) in start.items()}
        # SET NULL to a reference table, and CASCADE from one
        conn.execute("DELETE FROM plans WHERE id = 3")
        assert conn.execute("SELECT count(*) FROM sessions WHERE plan_id IS NULL").fetchone() == (39,)
        assert conn.execute("SELECT count(*) FROM plan_notes").fetchone() == (1,)

    down = alembic(alembic_project, citus_db, "downgrade", "base")
    assert down.returncode == 0, down.stderr
    assert "7 restored, 0 dropped" in down.stdout
    assert cluster_fks(citus_cluster, citus_db) == before


def _shard_on_a_worker(url: str, table: str) -> tuple[str, int]:
    """One shard of `table` and the port of the worker holding it."""
    with psycopg.connect(url) as conn:
        row = conn.execute(
            "SELECT shard_name(s.logicalrelid, s.shardid), p.nodeport FROM pg_dist_shard s "
            "JOIN pg_dist_shard_placement p USING (shardid) WHERE s.logicalrelid = %s::regclass "
            "ORDER BY s.shardid LIMIT 1", (table,)).fetchone()
    assert row is not None
    return str(row[0]), int(row[1])


def _hold_shard_lock(citus_cluster: CitusCluster, url: str, table: str) -> psycopg.Connection[Any]:
    """A session on the worker holding ROW EXCLUSIVE on one of `table`'s shards (as a write in
    flight there does), invisible to the coordinator's pg_locks."""
    shard, port = _shard_on_a_worker(url, table)
    worker = next(w for w in citus_cluster.workers if w.port == port)
    conn = psycopg.connect(worker.url(url.rsplit("/", 1)[1]))
    conn.execute("SET citus.enable_manual_changes_to_shards = on")
    conn.execute(f"LOCK TABLE {shard} IN ROW EXCLUSIVE MODE")
    return conn


def test_a_lock_held_on_a_shard_times_out_on_the_worker_and_the_swap_retries(
    citus_cluster: CitusCluster, citus_db: str, alembic_project: Path
) -> None:
    """lock_timeout reaches the workers: a swap waiting for a shard's lock gives up after
    lock_timeout there, is rolled back whole and retried within lock_retry_budget."""
    load_multi_tenant(citus_db)
    before = cluster_fks(citus_cluster, citus_db)
    generate(alembic_project)
    holder = _hold_shard_lock(citus_cluster, citus_db, "posts")
    try:
        started = time.monotonic()
        up = alembic(alembic_project, citus_db, "-x", "lock_retry_budget=2s", "-x", "statement_timeout=60s",
                     "-x", "create_indexes=false", "upgrade", "head")
        elapsed = time.monotonic() - started
        assert up.returncode != 0
        assert "cascade-tool: swap of users and posts stopped: no lock within lock_timeout 200ms" in up.stderr
        assert "lock not available within 200ms (attempt 1), retrying" in up.stdout
        # the holder is named although it is on a worker, not on the coordinator
        assert re.search(r"held by: pid \d+ on node \d+ \(RowExclusiveLock on posts_\d+\)", up.stderr), up.stderr
        assert elapsed < 30  # the budget, not the statement_timeout of 60 s, ended it
        assert cluster_fks(citus_cluster, citus_db) == before  # changed nothing, on any node

        threading.Timer(6.0, holder.rollback).start()  # the write on the worker ends in 6 s
        up = alembic(alembic_project, citus_db, "-x", "lock_retry_budget=60s", "-x", "create_indexes=false",
                     "upgrade", "head")
        assert up.returncode == 0, up.stderr
        assert "lock not available within 200ms (attempt 1), retrying" in up.stdout
        assert "[1/7] converted public.posts.posts_user_fkey (NO ACTION -> CASCADE), validated" in up.stdout
    finally:
        holder.close()
    assert_converted(before, cluster_fks(citus_cluster, citus_db))


@pytest.mark.parametrize("how", ["kill-client", "terminate-backend"])
def test_a_killed_upgrade_run_again_converges(
    citus_cluster: CitusCluster, citus_db: str, alembic_project: Path, how: str
) -> None:
    """Killed mid-upgrade (the alembic process at a random moment, or its server session while it
    is in the middle of an entry), the upgrade run again finishes it, and the downgrade restores."""
    load_multi_tenant(citus_db)
    before = cluster_fks(citus_cluster, citus_db)
    generate(alembic_project)
    env = {"DATABASE_URL": citus_db}
    command = [sys.executable, "-m", "alembic", "upgrade", "head"]
    if how == "kill-client":
        # SIGKILL at a random step (an entry's swap or validate, the last entry's excepted),
        # a random moment into it
        rng = random.Random()
        target, delay = rng.randrange(0, 2 * (len(WANTED) - 1)), rng.uniform(0.0, 0.05)
        proc = subprocess.Popen(command, cwd=alembic_project, env={**os.environ, **env},
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        with psycopg.connect(citus_db, autocommit=True) as conn:
            for _ in range(3000):
                assert proc.poll() is None, f"the upgrade finished before step {target} was seen"
                row = conn.execute(
                    "SELECT substring(query FROM %s) FROM pg_stat_activity WHERE query ~ %s",
                    (r"cascade_tool_upgrade\('(\w+', \d+)\)", r"cascade_tool_upgrade\('(swap|validate)'"),
                ).fetchone()
                if row:
                    phase, entry = row[0].split("', ")
                    if 2 * int(entry) + (phase == "validate") >= target:
                        break
                time.sleep(0.01)
            else:
                pytest.fail("the upgrade never reached its entries")
        time.sleep(delay)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        print(f"killed alembic {delay:.3f} s into step {target} ({row[0]})")
        with psycopg.connect(citus_db) as conn:
            assert conn.execute("SELECT count(*) FROM alembic_version").fetchone() == (0,)  # it was cut short
    else:
        # orders' swap waits (and retries) on a worker's shard lock: end the session there
        holder = _hold_shard_lock(citus_cluster, citus_db, "orders")
        command[3:3] = ["-x", "create_indexes=false"]  # an index build would wait for that write to end
        proc = subprocess.Popen(command, cwd=alembic_project, env={**os.environ, **env},
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        try:
            with psycopg.connect(citus_db, autocommit=True) as conn:
                for _ in range(600):
                    row = conn.execute(
                        "SELECT pid FROM pg_stat_activity WHERE query LIKE %s AND pid <> pg_backend_pid()",
                        ("%cascade_tool_upgrade('swap', 2)%",)).fetchone()
                    if row:
                        time.sleep(0.5)  # in its retry loop, after a worker's lock timeout or two
                        conn.execute("SELECT pg_terminate_backend(%s::integer)", (row[0],))
                        break
                    time.sleep(0.05)
                else:
                    pytest.fail("the upgrade never reached the third entry")
            out = proc.communicate(timeout=120)[0].decode()
            assert proc.returncode != 0, out
        finally:
            holder.close()
        middle = cluster_fks(citus_cluster, citus_db)
        names = {(t, c) for rows in middle.values() for t, c, *_ in rows}
        assert not any("cascade_tmp" in c for _, c in names)  # the interrupted swap left nothing
        coordinator = {(t, c): a for t, c, a, _, _ in middle[citus_db]}
        assert coordinator[("posts", "posts_user_fkey")] == "c"  # finished steps are kept
        assert coordinator[("orders", "orders_user_fkey")] == "r"

    again = alembic(alembic_project, citus_db, "upgrade", "head")
    assert again.returncode == 0, again.stdout + again.stderr
    assert_converted(before, cluster_fks(citus_cluster, citus_db))
    down = alembic(alembic_project, citus_db, "downgrade", "base")
    assert down.returncode == 0, down.stderr
    assert cluster_fks(citus_cluster, citus_db) == before


def test_offline_sql_through_psql_converts_every_shard_and_restores(
    citus_cluster: CitusCluster, citus_db: str, alembic_project: Path
) -> None:
    """`alembic upgrade head --sql` run by psql on the coordinator makes the same choice inside
    the database, and the offline downgrade restores every FK."""
    load_multi_tenant(citus_db)
    before = cluster_fks(citus_cluster, citus_db)
    generate(alembic_project)
    psql = str(citus_cluster.coordinator.tool("psql"))
    script = alembic_project / "offline.sql"
    for args in (["upgrade", "head", "--sql"], ["downgrade", "rev0001:base", "--sql"]):
        sql = alembic(alembic_project, citus_db, *args)
        assert sql.returncode == 0, sql.stderr
        script.write_text(sql.stdout)
        applied = subprocess.run([psql, "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", citus_db, "-f", str(script)],
                                 capture_output=True, text=True)
        assert applied.returncode == 0, applied.stderr
        assert "WARNING" not in applied.stderr
        if args[0] == "upgrade":
            assert "NOTICE:  [1/7] converted public.posts.posts_user_fkey (NO ACTION -> CASCADE), validated" \
                in applied.stderr
            assert_converted(before, cluster_fks(citus_cluster, citus_db))
    assert cluster_fks(citus_cluster, citus_db) == before


def test_a_table_of_a_distributed_schema_converts_and_restores(
    citus_cluster: CitusCluster, citus_db: str, alembic_project: Path, tmp_path: Path
) -> None:
    """Schema-based sharding: a tenant schema's tables are single-shard distributed tables, which
    refuse RENAME CONSTRAINT too; the revision converts and restores them, shard included."""
    with psycopg.connect(citus_db, autocommit=True) as conn:
        conn.execute("SET citus.enable_schema_based_sharding = on")
        conn.execute("CREATE SCHEMA tenant_a")
        conn.execute("RESET citus.enable_schema_based_sharding")
        conn.execute("CREATE TABLE tenant_a.users (id bigint PRIMARY KEY)")
        conn.execute("CREATE TABLE tenant_a.posts (id bigint PRIMARY KEY, user_id bigint "
                     "CONSTRAINT posts_user_fkey REFERENCES tenant_a.users (id) ON UPDATE RESTRICT)")
        conn.execute("INSERT INTO tenant_a.users SELECT generate_series(1, 10)")
        conn.execute("INSERT INTO tenant_a.posts SELECT g, 1 + g % 10 FROM generate_series(1, 50) AS g")
        placed = conn.execute("SELECT citus_table_type FROM citus_tables WHERE table_name = 'tenant_a.posts'::regclass")
        assert placed.fetchone() == ("schema",)
        with pytest.raises(psycopg.errors.FeatureNotSupported, match="renaming constraints"):
            conn.execute("ALTER TABLE tenant_a.posts RENAME CONSTRAINT posts_user_fkey TO renamed")
    manifest = tmp_path / "schema.toml"
    manifest.write_text('[target]\ntable = "tenant_a.users"\n\n[defaults]\ncolumns = ["user_id"]\n\n'
                        '[[tables]]\nname = "tenant_a.posts"\n')
    revisions.generate(load_manifest(manifest), alembic_project / "migrations" / "versions", "tenant a",
                       rev_id="rev0001")
    name = citus_db.rsplit("/", 1)[1]

    def shard_fks() -> list[tuple[str, str]]:
        rows = []
        for url in [citus_db, *citus_cluster.worker_urls(name)]:
            with psycopg.connect(url) as conn:
                conn.execute("SET citus.show_shards_for_app_name_prefixes = '*'")
                rows += conn.execute(
                    "SELECT c.conname::text, pg_get_constraintdef(c.oid) FROM pg_constraint c "
                    "JOIN pg_class r ON r.oid = c.conrelid WHERE c.contype = 'f' "
                    "AND r.relnamespace = 'tenant_a'::regnamespace ORDER BY 1").fetchall()
        return rows

    before = shard_fks()
    assert any(c.startswith("posts_user_fkey_") for c, _ in before)  # the shard's FK, on a node
    up = alembic(alembic_project, citus_db, "upgrade", "head")
    assert up.returncode == 0, up.stderr
    assert "[1/1] converted tenant_a.posts.posts_user_fkey (NO ACTION -> CASCADE), validated" in up.stdout
    after = shard_fks()
    assert [c for c, _ in after] == [c for c, _ in before]
    assert all(d.endswith("ON UPDATE RESTRICT ON DELETE CASCADE") for _, d in after), after
    down = alembic(alembic_project, citus_db, "downgrade", "base")
    assert down.returncode == 0, down.stderr
    assert shard_fks() == before


def test_an_index_build_waits_for_a_write_in_progress_on_a_worker(
    citus_cluster: CitusCluster, citus_db: str, alembic_project: Path
) -> None:
    """A limit, shown: CREATE INDEX CONCURRENTLY on the shards waits for transactions in progress
    on the workers, and lock_timeout does not bound that wait there (it cannot run in a
    transaction, so SET LOCAL does not reach the workers). It blocks no reads or writes."""
    load_multi_tenant(citus_db)
    generate(alembic_project)
    holder = _hold_shard_lock(citus_cluster, citus_db, "posts")
    threading.Timer(6.0, holder.rollback).start()  # the write on the worker ends in 6 s
    try:
        started = time.monotonic()
        up = alembic(alembic_project, citus_db, "-x", "lock_retry_budget=1s", "upgrade", "head")
        elapsed = time.monotonic() - started
    finally:
        holder.close()
    assert up.returncode == 0, up.stderr
    assert "7 indexes built on FK columns that had none" in up.stdout
    assert elapsed > 5  # it waited for the write, past lock_retry_budget, and then finished


def test_a_partitioned_distributed_table_converts_and_restores(
    citus_cluster: CitusCluster, citus_db: str, alembic_project: Path, tmp_path: Path
) -> None:
    """A distributed partitioned table: the FK and its per-partition copies, on every shard,
    converted (the add validates at once before PostgreSQL 18) and restored under their names."""
    with psycopg.connect(citus_db, autocommit=True) as conn:
        for statement in (
            "CREATE TABLE users (tenant_id bigint NOT NULL, id bigint NOT NULL, PRIMARY KEY (tenant_id, id))",
            "SELECT create_distributed_table('users', 'tenant_id', shard_count => 4)",
            "CREATE TABLE events (tenant_id bigint NOT NULL, id bigint NOT NULL, user_id bigint, at date NOT NULL, "
            "PRIMARY KEY (tenant_id, id, at), CONSTRAINT events_user_fkey FOREIGN KEY (tenant_id, user_id) "
            "REFERENCES users (tenant_id, id)) PARTITION BY RANGE (at)",
            "CREATE TABLE events_2025 PARTITION OF events FOR VALUES FROM ('2025-01-01') TO ('2026-01-01')",
            "CREATE TABLE events_2026 PARTITION OF events FOR VALUES FROM ('2026-01-01') TO ('2027-01-01')",
            "SELECT create_distributed_table('events', 'tenant_id', colocate_with => 'users')",
            "INSERT INTO users SELECT t, u FROM generate_series(1, 5) AS t, generate_series(1, 5) AS u",
            "INSERT INTO events SELECT 1 + g % 5, g, 1 + g % 5, date '2025-06-01' + g "
            "FROM generate_series(1, 300) AS g",
        ):
            conn.execute(statement)
    manifest = tmp_path / "events.toml"
    manifest.write_text('[target]\ntable = "users"\ncolumns = ["tenant_id", "id"]\n\n'
                        '[defaults]\ncolumns = ["tenant_id", "user_id"]\n\n[[tables]]\nname = "events"\n')
    revisions.generate(load_manifest(manifest), alembic_project / "migrations" / "versions", "events",
                       rev_id="rev0001")
    before = cluster_fks(citus_cluster, citus_db)
    names = sorted(c for rows in before.values() for _, c, *_ in rows)
    assert names.count("events_user_fkey") == 3 * 3  # the parent and two partitions, on each node
    assert sum(c.startswith("events_user_fkey_") for c in names) == 3 * 4  # and on each shard

    up = alembic(alembic_project, citus_db, "upgrade", "head")
    assert up.returncode == 0, up.stderr
    assert "[1/1] converted public.events.events_user_fkey (NO ACTION -> CASCADE)" in up.stdout
    after = cluster_fks(citus_cluster, citus_db)
    assert sorted(c for rows in after.values() for _, c, *_ in rows) == names
    assert all(a == "c" and v for rows in after.values() for _, _, a, v, _ in rows)
    down = alembic(alembic_project, citus_db, "downgrade", "base")
    assert down.returncode == 0, down.stderr
    assert cluster_fks(citus_cluster, citus_db) == before


def test_no_moment_without_the_fk_seen_from_outside(
    citus_cluster: CitusCluster, citus_db: str, alembic_project: Path
) -> None:
    """While the upgrade runs, an orphan row is refused every time it is tried (through the
    coordinator), and each worker's catalog always shows every shard of posts with an FK to users."""
    load_multi_tenant(citus_db)
    generate(alembic_project)
    name = citus_db.rsplit("/", 1)[1]
    stop = threading.Event()
    accepted: list[int] = []
    refused: list[int] = []
    short: list[tuple[str, int]] = []

    def writer() -> None:
        with psycopg.connect(citus_db, autocommit=True) as conn:
            n = 0
            while not stop.is_set():
                n += 1
                try:
                    conn.execute("INSERT INTO posts (tenant_id, id, user_id) VALUES (1, %s, 999999)", (10**6 + n,))
                    accepted.append(n)
                except psycopg.errors.ForeignKeyViolation:
                    refused.append(n)

    def watcher(url: str) -> None:
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("SET citus.show_shards_for_app_name_prefixes = '*'")
            expected = None
            while not stop.is_set():
                shards, with_fk = conn.execute(
                    "SELECT count(*), count(*) FILTER (WHERE EXISTS (SELECT 1 FROM pg_constraint c "
                    "  WHERE c.conrelid = r.oid AND c.contype = 'f' AND c.confrelid::regclass::text LIKE 'users%%')) "
                    "FROM pg_class r WHERE r.relname ~ '^posts_[0-9]+$' AND r.relkind = 'r'").fetchone()  # type: ignore[misc]
                expected = expected or shards
                if shards != expected or with_fk != shards:
                    short.append((url, with_fk))
                time.sleep(0.005)

    threads = [threading.Thread(target=writer)] + [
        threading.Thread(target=watcher, args=(url,)) for url in citus_cluster.worker_urls(name)]
    for thread in threads:
        thread.start()
    try:
        up = alembic(alembic_project, citus_db, "upgrade", "head")
    finally:
        stop.set()
        for thread in threads:
            thread.join()
    assert up.returncode == 0, up.stderr
    assert accepted == [] and len(refused) > 10
    assert short == []
