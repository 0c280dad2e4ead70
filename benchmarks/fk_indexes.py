"""Benchmark: deleting one user across 100 tables of 200,000 rows, before and after our index step.

Issue 4, item 8, fourth bullet. 100 tables each reference users through a user_id column that
no index covers (FK NO ACTION), 200,000 rows each. Deleting a user is timed twice, ON DELETE
CASCADE both times:
- before: the FKs made CASCADE the hand-written way (DROP + ADD CONSTRAINT, no index), in a
  transaction that is rolled back afterwards: every cascade scans its whole table;
- after: `cascade-tool generate` + `alembic upgrade head` from this checkout, whose index step
  builds the missing indexes (CREATE INDEX CONCURRENTLY) before converting the FKs.
Each user owns rows/users rows in each table (2 by default); users who own none are timed too.
Each figure is the median of several deletes of different users, each in its own statement, after
one untimed delete that plans the cascades, with every table and index in shared buffers
(pg_prewarm; the issue measured with a warm cache). The script also counts how many times the
upgrade read each table whole (its index build and its validation).

    python benchmarks/fk_indexes.py [--quick] [--tables 100] [--rows 200000] [--deletes 7]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.harness import (  # noqa: E402
    Bench,
    Upgrade,
    add_common_args,
    finish_load,
    fk_states,
    generate_ours,
    header,
    heap_blocks,
    load_child,
    load_users,
    manifest_text,
    met,
    new_project,
    prewarm,
    ratio,
    seq_scans,
    table,
)

TARGET_RATIO = 300

# Indexes whose leading column is the table's user_id (what the FK's cascade can use).
COVERING_SQL = """
SELECT r.relname, count(*) FILTER (WHERE i.indisvalid AND i.indpred IS NULL)
  FROM pg_class r
  JOIN pg_attribute a ON a.attrelid = r.oid AND a.attname = 'user_id'
  LEFT JOIN pg_index i ON i.indrelid = r.oid AND i.indkey[0] = a.attnum
 WHERE r.relname = ANY (%s)
 GROUP BY r.relname
"""


def time_deletes(conn: psycopg.Connection[Any], users: list[int]) -> tuple[float, list[float], int]:
    """Delete users[0] untimed-ish (returned apart: it plans the cascades), then time the rest."""
    times = []
    for user in users:
        start = time.perf_counter()
        cur = conn.execute("DELETE FROM users WHERE id = %s", (user,))
        times.append(time.perf_counter() - start)
        if cur.rowcount != 1:
            raise RuntimeError(f"user {user} was not deleted")
    return times[0], times[1:], len(times)


def linked_rows(conn: psycopg.Connection[Any], tables: list[str], user: int) -> int:
    total = 0
    for name in tables:
        row = conn.execute(sql.SQL("SELECT count(*) FROM {} WHERE user_id = %s").format(sql.Identifier(name)),
                           (user,)).fetchone()
        total += int(row[0]) if row else 0
    return total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_common_args(parser)
    parser.add_argument("--tables", type=int, help="user-linked tables (default 100; --quick: 10)")
    parser.add_argument("--rows", type=int, help="rows per table (default 200000; --quick: 20000)")
    parser.add_argument("--users", type=int, help="rows in users (default 100000; --quick: 10000)")
    parser.add_argument("--deletes", type=int, default=7, help="timed deletes on each side (default 7)")
    args = parser.parse_args()
    n_tables = args.tables or (10 if args.quick else 100)
    rows = args.rows or (20_000 if args.quick else 200_000)
    users = args.users or (10_000 if args.quick else 100_000)
    tables = [f"t{i:03d}" for i in range(1, n_tables + 1)]
    # Different users on each side, spread over the id range; one extra for the untimed delete.
    step = max(1, users // (2 * (args.deletes + 1) + 1))
    picks = [step * (k + 1) for k in range(2 * (args.deletes + 1))]
    before_users, after_users = picks[0::2], picks[1::2]
    # Users with no rows anywhere (just signed up): ids past the ones the rows reference.
    empty = [users + 1 + k for k in range(2 * (args.deletes + 1))]
    before_empty, after_empty = empty[0::2], empty[1::2]

    started = time.perf_counter()
    with Bench(args.pg_bindir) as bench, tempfile.TemporaryDirectory(prefix="cascade-bench-") as tmp:
        header(f"Deleting one user across {n_tables} tables x {rows:,} rows: before and after our index step",
               bench)
        db = bench.create_database("fkindex")
        load_start = time.perf_counter()
        with bench.connect(db) as conn:
            load_users(conn, users)
            conn.execute("INSERT INTO users (id, email) SELECT g, 'new' || g || '@example.com'"
                         " FROM unnest(%s::bigint[]) AS g", (empty,))
            for name in tables:
                load_child(conn, name, rows, users, index=False)
            finish_load(conn)
        print(f"  loaded {users:,} users and {n_tables} tables x {rows:,} rows (FK user_id -> users NO ACTION, "
              f"no index on user_id) in {time.perf_counter() - load_start:.1f} s", flush=True)

        # Before: CASCADE without indexes, in a transaction rolled back afterwards.
        with bench.connect(db) as conn:
            prewarm(conn)
        with psycopg.connect(bench.url(db)) as conn:
            for name in tables:
                t, c = sql.Identifier(name), sql.Identifier(f"{name}_user_id_fkey")
                conn.execute(sql.SQL("ALTER TABLE {} DROP CONSTRAINT {}").format(t, c))
                conn.execute(sql.SQL("ALTER TABLE {} ADD CONSTRAINT {} FOREIGN KEY (user_id) REFERENCES users (id)"
                                     " ON DELETE CASCADE").format(t, c))
            before_linked = linked_rows(conn, tables, before_users[1])
            before_first, before_times, _ = time_deletes(conn, before_users)
            _, before_empty_times, _ = time_deletes(conn, before_empty)
            conn.rollback()
        print(f"  before: {len(before_times)} deletes timed, median "
              f"{statistics.median(before_times) * 1000:,.1f} ms", flush=True)

        # After: the real tool, index step included.
        project = new_project(Path(tmp), "ours")
        generate_ours(project, manifest_text(tables))
        with bench.connect(db) as conn:
            conn.execute("CHECKPOINT")
            scans_before, blocks_before = seq_scans(conn), heap_blocks(conn)
        upgrade = Upgrade(project, bench.url(db), time.perf_counter).start().wait()
        if not upgrade.ok:
            print(f"  ours: upgrade failed: {upgrade.failure()}")
        time.sleep(0.5)
        with bench.connect(db) as conn:
            scans_after, blocks_after = seq_scans(conn), heap_blocks(conn)
            states = fk_states(conn, tables)
            covered = dict(conn.execute(COVERING_SQL, (tables,)).fetchall())
            after_linked = linked_rows(conn, tables, after_users[1])
            prewarm(conn)
        with bench.connect(db) as conn:
            after_first, after_times, _ = time_deletes(conn, after_users)
            _, after_empty_times, _ = time_deletes(conn, after_empty)
        print(f"  after: upgrade {upgrade.seconds:.1f} s; {len(after_times)} deletes timed, median "
              f"{statistics.median(after_times) * 1000:,.2f} ms", flush=True)

    scans = Counter(scans_after.get(t, 0) - scans_before.get(t, 0) for t in tables)

    def passes(name: str) -> float:
        blocks, size = blocks_after.get(name, (0, 0))
        return (blocks - blocks_before.get(name, (0, 0))[0]) / size if size else 0.0

    table_passes = Counter(f"{passes(t):.1f}" for t in tables)
    before_med, after_med = statistics.median(before_times), statistics.median(after_times)
    cascade_ok = sum(1 for action, valid in states.values() if action == "c" and valid)
    rows_out = [
        ["", "before index step", "after", "before/after"],
        ["delete one user: median (ms)", f"{before_med * 1000:,.1f}", f"{after_med * 1000:,.2f}",
         ratio(before_med, after_med)],
        ["delete one user: fastest | slowest (ms)",
         f"{min(before_times) * 1000:,.1f} | {max(before_times) * 1000:,.1f}",
         f"{min(after_times) * 1000:,.2f} | {max(after_times) * 1000:,.2f}", ""],
        ["first delete in the session, plans the cascades (ms)", f"{before_first * 1000:,.1f}",
         f"{after_first * 1000:,.2f}", ratio(before_first, after_first)],
        ["rows deleted with each user", f"{before_linked:,}", f"{after_linked:,}", ""],
        ["delete a user who has no rows: median (ms)", f"{statistics.median(before_empty_times) * 1000:,.1f}",
         f"{statistics.median(after_empty_times) * 1000:,.2f}",
         ratio(statistics.median(before_empty_times), statistics.median(after_empty_times))],
        ["FKs ON DELETE CASCADE and valid", f"{n_tables}", f"{cascade_ok}", ""],
        ["tables whose user_id an index covers", "0", f"{sum(1 for n in covered.values() if n)}", ""],
        ["upgrade: alembic upgrade head, wall time (s)", "", f"{upgrade.seconds:.1f}", ""],
        ["reads of each whole table during the upgrade", "",
         ", ".join(f"{k} on {v} tables" for k, v in sorted(table_passes.items())), ""],
        ["  (blocks read / table size: index build 2 + validation 1 = 3)", "", "", ""],
        ["seq scans counted per table (parallel workers count apart)", "",
         ", ".join(f"{k} on {v} tables" for k, v in sorted(scans.items())), ""],
        ["reads of the whole users table (validations)", "", f"{passes('users'):.1f}", ""],
    ]
    print(f"\nDeleting one user, ON DELETE CASCADE on {n_tables} tables x {rows:,} rows")
    print(table(rows_out))
    print("\nTargets (issue 4):")
    for label, before, after in (
        (f"who owns {after_linked:,} rows", before_med, after_med),
        ("who owns no rows", statistics.median(before_empty_times), statistics.median(after_empty_times)),
    ):
        speedup = before / after if after else 0.0
        print(f"  {met(upgrade.ok and speedup >= TARGET_RATIO):7}  cascade delete of one user after our index "
              f"step >= {TARGET_RATIO}x faster than before it: a user {label}, {speedup:,.0f}x")
    print(f"\nTotal time {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
