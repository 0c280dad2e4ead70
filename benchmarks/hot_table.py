"""Benchmark: converting the FK of a table written without pause: lock retries, before and after.

One FK, events.user_id -> users (NO ACTION, indexed), on a child of 1,000,000 rows, is made
ON DELETE CASCADE by `cascade-tool generate` + `alembic upgrade head` while 8 writers insert into
events as fast as they can (pgbench style: one process each, closed loop, autocommit, no pause). Each run converts a
fresh copy of the same database once per way of taking the swap's two locks, chosen with the
session setting cascade_tool.lock_strategy:
- nowait: the earlier behaviour: users waiting up to lock_timeout, then events with NOWAIT;
- wait: the tool's behaviour: each lock waiting, all the waits of an attempt together under
  lock_timeout and under the server's deadlock_timeout; events then users on odd attempts, users
  then events on even ones.
(The variants measured to choose it, always events first, always users first, and both in one
LOCK TABLE statement, were removed once measured: see benchmarks/results/README-locks.md.)
Counted per run: the lock timeouts the upgrade retried (its `retrying` lines), its wall time,
deadlocks (server log), the writers' failed statements and their worst latency. The server runs
with its default deadlock_timeout (1s) unless told otherwise.

    python benchmarks/hot_table.py [--quick] [--runs 5] [--rows 1000000] [--writers 8]
"""

from __future__ import annotations

import argparse
import multiprocessing
import random
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.harness import (  # noqa: E402
    APP_PREFIX,
    Bench,
    Upgrade,
    add_common_args,
    deadlocks,
    finish_load,
    fk_states,
    generate_ours,
    header,
    load_child,
    load_users,
    manifest_text,
    met,
    ms,
    new_project,
    table,
)

CHILD = "events"
WARMUP_S = 1.0
COOLDOWN_S = 0.5
BEFORE = "nowait"
AFTER = "wait"


def _write(url: str, users: int, seed: int, stop: Any, out: Any) -> None:
    """One writer, in a process of its own as a pgbench client is: INSERT in a closed loop."""
    rng = random.Random(seed)
    latencies: list[float] = []
    errors: list[str] = []
    with psycopg.connect(url, autocommit=True, application_name=APP_PREFIX + "writer") as conn:
        while not stop.is_set():
            started = time.perf_counter()
            try:
                conn.execute("INSERT INTO events (user_id, payload) VALUES (%s, 'new')", (rng.randint(1, users),))
            except psycopg.Error as exc:
                errors.append(f"{type(exc).__name__}: {str(exc).splitlines()[0]}")
            else:
                latencies.append(time.perf_counter() - started)
    out.send((max(latencies, default=0.0), len(latencies), errors))
    out.close()


class Writers:
    """`count` writer processes; stop() returns their worst latency, inserts and errors."""

    def __init__(self, url: str, users: int, count: int, seed: int) -> None:
        ctx = multiprocessing.get_context("fork")
        self._stop = ctx.Event()
        self._pipes = []
        self._procs = []
        for i in range(count):
            recv, send = ctx.Pipe(duplex=False)
            self._pipes.append(recv)
            self._procs.append(ctx.Process(target=_write, args=(url, users, seed * 100 + i, self._stop, send),
                                           daemon=True))

    def start(self) -> Writers:
        for proc in self._procs:
            proc.start()
        return self

    def stop(self) -> tuple[float, int, list[str]]:
        self._stop.set()
        results = [pipe.recv() for pipe in self._pipes]
        for proc in self._procs:
            proc.join()
        return (max(r[0] for r in results), sum(r[1] for r in results), [e for r in results for e in r[2]])


@dataclass
class Run:
    strategy: str
    upgrade: Upgrade
    retries: int
    deadlocks: int
    errors: list[str]
    worst: float  # the writers' worst statement latency during the run (s)
    inserts: int
    done: bool  # the FK is CASCADE and valid afterwards


def run_once(bench: Bench, template: str, project: Path, strategy: str, count: int, users: int,
             seed: int) -> Run:
    db = bench.clone(template)
    try:
        bench.quiesce(db, ["users", CHILD])
        offset = bench.log_offset()
        t0 = time.perf_counter()
        writers = Writers(bench.url(db), users, count, seed).start()
        time.sleep(WARMUP_S)
        upgrade = Upgrade(project, bench.url(db), lambda: time.perf_counter() - t0,
                          options=f"-c cascade_tool.lock_strategy={strategy}").start().wait()
        time.sleep(COOLDOWN_S)
        worst, inserts, errors = writers.stop()
        with bench.connect(db) as conn:
            fk = fk_states(conn, [CHILD]).get(CHILD)
        lines = bench.log_lines(offset)
    finally:
        bench.drop(db)
    output = upgrade.stdout + upgrade.stderr
    return Run(
        strategy=strategy,
        upgrade=upgrade,
        retries=output.count("retrying"),
        deadlocks=len(deadlocks(lines)),
        errors=errors,
        worst=worst,
        inserts=inserts,
        done=upgrade.ok and fk == ("c", True),
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_common_args(parser)
    parser.add_argument("--runs", type=int, help="runs of each (default 5; --quick: 2)")
    parser.add_argument("--rows", type=int, help="rows in events (default 1000000; --quick: 50000)")
    parser.add_argument("--users", type=int, default=100_000, help="rows in users (default 100000)")
    parser.add_argument("--writers", type=int, default=8, help="sessions inserting into events (default 8)")
    parser.add_argument("--deadlock-timeout", default="1s", help="the server's deadlock_timeout (default 1s)")
    args = parser.parse_args()
    runs = args.runs or (2 if args.quick else 5)
    rows = args.rows or (50_000 if args.quick else 1_000_000)
    strategies = [BEFORE, AFTER]

    started = time.perf_counter()
    with Bench(args.pg_bindir, deadlock_timeout=args.deadlock_timeout) as bench, \
            tempfile.TemporaryDirectory(prefix="cascade-bench-") as tmp:
        header(f"Converting the FK of a table written without pause: {args.writers} writers, {runs} runs", bench)
        project = new_project(Path(tmp), "ours")
        generate_ours(project, manifest_text([CHILD]))
        load_start = time.perf_counter()
        template = bench.create_database("hot")
        with bench.connect(template) as conn:
            load_users(conn, args.users)
            load_child(conn, CHILD, rows, args.users, index=True)
            finish_load(conn)
            dt = conn.execute("SHOW deadlock_timeout").fetchone()
        print(f"  loaded {args.users:,} users and {rows:,} events (FK user_id -> users NO ACTION, indexed) in "
              f"{time.perf_counter() - load_start:.1f} s")
        print(f"  {args.writers} writer processes: INSERT INTO events in a closed loop, autocommit; deadlock_timeout "
              f"{dt[0] if dt else '?'}; tool defaults (lock_timeout 200ms)")
        print("  strategies: " + "; ".join({
            "nowait": "nowait = users waiting, then events NOWAIT (before)",
            "wait": "wait = both waiting, within lock_timeout and deadlock_timeout, events first on odd "
                    "attempts and users first on even ones (after)",
        }[s] for s in strategies) + "\n", flush=True)

        results: dict[str, list[Run]] = {s: [] for s in strategies}
        for i in range(1, runs + 1):
            order = strategies if i % 2 else list(reversed(strategies))  # none always goes first
            for strategy in order:
                run = run_once(bench, template, project, strategy, args.writers, args.users, seed=i)
                results[strategy].append(run)
            print(f"  run {i}: " + "; ".join(
                f"{s} {results[s][-1].retries} retries, {results[s][-1].upgrade.seconds:.1f} s"
                + ("" if results[s][-1].done else " (FAILED)") for s in strategies), flush=True)
        bench.drop(template)

    def med(values: list[float]) -> float:
        return statistics.median(values) if values else 0.0

    lines = [["", *strategies]]
    lines.append(["retries per run"] + [" ".join(str(r.retries) for r in results[s]) for s in strategies])
    lines.append(["retries: median | worst"] + [
        f"{med([r.retries for r in results[s]]):g} | {max(r.retries for r in results[s])}" for s in strategies])
    lines.append(["upgrade wall time: median | worst (s)"] + [
        f"{med([r.upgrade.seconds for r in results[s]]):.1f} | {max(r.upgrade.seconds for r in results[s]):.1f}"
        for s in strategies])
    lines.append(["runs done (FK CASCADE and valid)"] + [
        f"{sum(r.done for r in results[s])}/{runs}" for s in strategies])
    lines.append(["deadlocks, total"] + [str(sum(r.deadlocks for r in results[s])) for s in strategies])
    lines.append(["writers' failed statements, total"] + [str(sum(len(r.errors) for r in results[s]))
                                                          for s in strategies])
    lines.append(["writers' worst latency: median run | worst run (ms)"] + [
        f"{ms(med([r.worst for r in results[s]]))} | {ms(max(r.worst for r in results[s]))}" for s in strategies])
    lines.append(["inserts per run, median"] + [f"{med([r.inserts for r in results[s]]):,.0f}" for s in strategies])
    print(f"\nSummary over {runs} runs")
    print(table(lines))
    before, after = results[BEFORE], results[AFTER]
    b_med, a_med = med([r.retries for r in before]), med([r.retries for r in after])
    b_time, a_time = med([r.upgrade.seconds for r in before]), med([r.upgrade.seconds for r in after])
    print(f"\n  median retries, {BEFORE} / {AFTER}: {b_med:g} / {a_med:g}"
          + (f" = {b_med / a_med:.1f}x" if a_med else " (after: none)"))
    print(f"  median upgrade wall time, {BEFORE} / {AFTER}: {b_time:.1f} / {a_time:.1f} s = {b_time / a_time:.1f}x")
    for s in strategies:
        kinds = sorted({e.split(":")[0] for r in results[s] for e in r.errors})
        failed = [r.upgrade.failure() for r in results[s] if not r.upgrade.ok]
        if kinds:
            print(f"  {s}: writers' errors: {', '.join(kinds)}")
        if failed:
            print(f"  {s}: upgrade failure, e.g.: {failed[0]}")

    worst = max(r.retries for r in after)
    clean = all(r.done and r.deadlocks == 0 and not r.errors for r in after)
    print("\nTargets (hot tables):")
    print(f"  {met(a_med <= 1 and worst <= 4):7}  {AFTER}: median <= 1 retry and worst <= 4 over {runs} runs "
          f"(median {a_med:g}, worst {worst})")
    print(f"  {met(clean):7}  {AFTER}: every run done, 0 deadlocks, 0 failed writes")
    print(f"\nTotal time {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
