"""Benchmark: converting 100 user-linked tables under concurrent writes, naive vs ours, N runs.

Issue 4, item 8, third bullet. 100 tables each hold an FK user_id -> users (NO ACTION, indexed);
four application sessions write while the upgrade makes all 100 ON DELETE CASCADE:
- two sessions INSERT one row into a random table (autocommit), the most ordinary write there is;
- one inserts into two random tables in one transaction (a row and its companion);
- one updates the user and inserts a row for them in one transaction.
Each session starts a transaction every 20 ms (open loop). Every run converts a fresh copy of the
same database twice: naive (a hand-written revision: DROP + ADD CONSTRAINT per table, all in one
transaction, seed 003's way) and ours (`cascade-tool generate` from this checkout, then
`alembic upgrade head`). Counted per run: deadlocks (server log), failed application writes,
application lock waits over 50 ms (server log), and whether the upgrade finished with every FK
CASCADE and valid.

    python benchmarks/many_tables.py [--quick] [--runs 10] [--tables 100] [--rows 20000]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.harness import (  # noqa: E402
    Bench,
    Stream,
    Traffic,
    Upgrade,
    add_common_args,
    app_waits,
    deadlocks,
    finish_load,
    fk_states,
    generate_ours,
    header,
    load_child,
    load_users,
    lock_waits,
    manifest_text,
    met,
    new_project,
    relation_names,
    table,
    write_naive,
)

WARMUP_S = 1.0
COOLDOWN_S = 1.0


def make_streams(tables: list[str], users: int) -> list[Stream]:
    inserts = [sql.SQL("INSERT INTO {} (user_id, payload) VALUES (%s, 'app')").format(sql.Identifier(t))
               for t in tables]

    def one_insert(conn: psycopg.Connection[Any], rng: Any) -> None:
        conn.execute(rng.choice(inserts), (rng.randint(1, users),))

    def two_tables(conn: psycopg.Connection[Any], rng: Any) -> None:
        user = rng.randint(1, users)
        first, second = rng.sample(inserts, 2)
        with conn.transaction():
            conn.execute(first, (user,))
            conn.execute(second, (user,))

    def user_then_child(conn: psycopg.Connection[Any], rng: Any) -> None:
        user = rng.randint(1, users)
        with conn.transaction():
            conn.execute("UPDATE users SET last_seen_at = now() WHERE id = %s", (user,))
            conn.execute(rng.choice(inserts), (user,))

    return [
        Stream("insert-1", one_insert),
        Stream("insert-2", one_insert),
        Stream("two-tables", two_tables),
        Stream("user-then-child", user_then_child),
    ]


@dataclass
class Run:
    upgrade: Upgrade
    deadlocks: int
    victims: list[str]
    failed_writes: int
    errors: list[str]
    app_waits: int
    longest_wait: float
    converted: int  # FKs CASCADE and valid afterwards
    writes: int
    cycles: list[str]  # each deadlock as the server described it
    worst_latency: float = 0.0  # the application's worst transaction latency (s), from its schedule

    def summary(self) -> str:
        state = "ok" if self.upgrade.ok else "FAILED"
        return f"{state} {self.upgrade.seconds:.1f} s"


def run_once(bench: Bench, template: str, project: Path, tables: list[str], users: int, seed: int) -> Run:
    db = bench.clone(template)
    try:
        bench.quiesce(db, [])
        offset = bench.log_offset()
        t0 = time.perf_counter()

        def clock() -> float:
            return time.perf_counter() - t0

        traffic = Traffic(bench.url(db), make_streams(tables, users), clock, seed=seed).start()
        time.sleep(WARMUP_S)
        upgrade = Upgrade(project, bench.url(db), clock).start().wait()
        time.sleep(COOLDOWN_S)
        traffic.stop()
        with bench.connect(db) as conn:
            states = fk_states(conn, tables)
            names = relation_names(conn)
        lines = bench.log_lines(offset)
    finally:
        bench.drop(db)
    found = deadlocks(lines)
    waits = app_waits(lock_waits(lines))
    errors = [msg for s in traffic.streams for _, msg in s.errors]
    return Run(
        upgrade=upgrade,
        deadlocks=len(found),
        victims=[d.victim for d in found],
        failed_writes=len(errors),
        errors=errors,
        app_waits=len(waits),
        longest_wait=max((w.ms for w in waits), default=0.0),
        converted=sum(1 for action, valid in states.values() if action == "c" and valid),
        writes=sum(len(s.latencies) for s in traffic.streams),
        cycles=[d.described(names) for d in found],
        worst_latency=max((lat for s in traffic.streams for _, lat in s.latencies), default=0.0),
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_common_args(parser)
    parser.add_argument("--runs", type=int, help="runs of each (default 10; --quick: 2)")
    parser.add_argument("--tables", type=int, default=100, help="user-linked tables (default 100)")
    parser.add_argument("--rows", type=int, help="rows per table (default 20000; --quick: 1000)")
    parser.add_argument("--users", type=int, default=10_000, help="rows in users (default 10000)")
    parser.add_argument("--deadlock-timeout", default="1s",
                        help="the server's deadlock_timeout (default 1s, PostgreSQL's default); lock waits "
                             "longer than it are logged and counted")
    args = parser.parse_args()
    runs = args.runs or (2 if args.quick else 10)
    rows = args.rows or (1_000 if args.quick else 20_000)
    tables = [f"t{i:03d}" for i in range(1, args.tables + 1)]

    started = time.perf_counter()
    with Bench(args.pg_bindir, deadlock_timeout=args.deadlock_timeout) as bench, \
            tempfile.TemporaryDirectory(prefix="cascade-bench-") as tmp:
        header(f"Converting {len(tables)} user-linked tables under concurrent writes: naive vs ours, "
               f"{runs} runs", bench)
        naive_project = new_project(Path(tmp), "naive")
        with bench.connect() as conn:
            write_naive(naive_project, conn, tables)
        ours_project = new_project(Path(tmp), "ours")
        generate_ours(ours_project, manifest_text(tables))

        load_start = time.perf_counter()
        template = bench.create_database("many")
        with bench.connect(template) as conn:
            load_users(conn, args.users)
            for name in tables:
                load_child(conn, name, rows, args.users, index=True)
            finish_load(conn)
        print(f"  loaded {args.users:,} users and {len(tables)} tables x {rows:,} rows (FK user_id -> users "
              f"NO ACTION, indexed) in {time.perf_counter() - load_start:.1f} s")
        print(f"  deadlock_timeout {args.deadlock_timeout} (lock waits longer than it are logged)")
        print("  writers: 2 x single INSERT, 1 x two-table transaction, 1 x UPDATE users + INSERT; "
              "a transaction every 20 ms each\n", flush=True)

        rows_out = [["run", "naive: deadlocks", "failed writes", "upgrade", "FKs done",
                     "ours: deadlocks", "failed writes", "upgrade", "FKs done"]]
        results: dict[str, list[Run]] = {"naive": [], "ours": []}
        for i in range(1, runs + 1):
            order = [("naive", naive_project), ("ours", ours_project)]
            if i % 2 == 0:
                order.reverse()  # neither always goes first
            for label, project in order:
                results[label].append(run_once(bench, template, project, tables, args.users, seed=i))
            n, o = results["naive"][-1], results["ours"][-1]
            rows_out.append([str(i), str(n.deadlocks), str(n.failed_writes), n.summary(), str(n.converted),
                             str(o.deadlocks), str(o.failed_writes), o.summary(), str(o.converted)])
            print(f"  run {i}: naive {n.deadlocks} deadlock(s), {n.failed_writes} failed write(s), upgrade "
                  f"{n.summary()}; ours {o.deadlocks} deadlock(s), {o.failed_writes} failed write(s), "
                  f"upgrade {o.summary()}", flush=True)
        print()
        print(table(rows_out))

        def count(label: str, pred: Any) -> str:
            return f"{sum(1 for r in results[label] if pred(r))}/{runs}"

        summary = [
            ["", "naive", "ours"],
            ["runs with a deadlock", count("naive", lambda r: r.deadlocks), count("ours", lambda r: r.deadlocks)],
            ["runs with a failed application write", count("naive", lambda r: r.failed_writes),
             count("ours", lambda r: r.failed_writes)],
            ["runs whose upgrade failed", count("naive", lambda r: not r.upgrade.ok),
             count("ours", lambda r: not r.upgrade.ok)],
            [f"runs ending with all {len(tables)} FKs CASCADE and valid",
             count("naive", lambda r: r.converted == len(tables)),
             count("ours", lambda r: r.converted == len(tables))],
        ]
        for label_row, attr in (("deadlocks, total", "deadlocks"), ("failed application writes, total",
                                                                      "failed_writes"),
                                (f"application lock waits > {args.deadlock_timeout}, total", "app_waits")):
            summary.append([label_row, str(sum(getattr(r, attr) for r in results["naive"])),
                            str(sum(getattr(r, attr) for r in results["ours"]))])
        summary.append(["longest application lock wait (ms)", longest(results["naive"]), longest(results["ours"])])
        summary.append(["worst application transaction latency, median run (ms)",
                        f"{1000 * statistics.median(r.worst_latency for r in results['naive']):,.0f}",
                        f"{1000 * statistics.median(r.worst_latency for r in results['ours']):,.0f}"])
        summary.append(["deadlock victims: application / migration",
                        "{} / {}".format(*victims(results["naive"])), "{} / {}".format(*victims(results["ours"]))])
        summary.append(["upgrade wall time, median (s)",
                        f"{statistics.median(r.upgrade.seconds for r in results['naive']):.1f}",
                        f"{statistics.median(r.upgrade.seconds for r in results['ours']):.1f}"])
        summary.append(["application transactions committed, total",
                        f"{sum(r.writes for r in results['naive']):,}", f"{sum(r.writes for r in results['ours']):,}"])
        print(f"\nSummary over {runs} runs")
        print(table(summary))
        for label in ("naive", "ours"):
            kinds = sorted({e.split(":")[0] for r in results[label] for e in r.errors})
            failed = [r.upgrade.failure() for r in results[label] if not r.upgrade.ok]
            if kinds:
                print(f"  {label}: application errors: {', '.join(kinds)}")
            if failed:
                print(f"  {label}: upgrade failure, e.g.: {failed[0]}")
            cycles = [c for r in results[label] for c in r.cycles]
            for cycle in cycles[: 3 if label == "ours" else 1]:
                print(f"  {label}: deadlock, {cycle}")

    clean = [r for r in results["ours"] if r.deadlocks == 0 and r.failed_writes == 0 and r.upgrade.ok
             and r.converted == len(tables)]
    print("\nTargets (issue 4):")
    print(f"  {met(len(clean) == runs):7}  ours: 0 deadlocks, 0 failed application writes, upgrade done, in "
          f"{len(clean)} of {runs} runs")
    print(f"\nTotal time {time.perf_counter() - started:.0f} s")


def longest(runs: list[Run]) -> str:
    value = max(r.longest_wait for r in runs)
    return f"{value:,.0f}" if value else "-"


def victims(runs: list[Run]) -> tuple[int, int]:
    names = [v for r in runs for v in r.victims]
    app = sum(1 for v in names if v.startswith("bench-app-"))
    return app, len(names) - app


if __name__ == "__main__":
    main()
