"""Benchmark: converting one big table's FK to users under live traffic, naive vs ours.

Issue 4, item 8, first two bullets, at each child size (default 5,000,000 and 500,000 rows):
- traffic: six application sessions (INSERT, UPDATE and SELECT on the child table and on users,
  50 statements a second each, open loop) run while the upgrade makes events.user_id -> users
  ON DELETE CASCADE;
- holder: the same, plus one session that reads users in a transaction and then sits idle in it
  for 5 s; the upgrade starts just after it.
For each, naive (a hand-written revision: DROP + ADD CONSTRAINT in one transaction) and ours
(`cascade-tool generate` from this checkout, then `alembic upgrade head`) run on fresh copies of
the same database, and the script prints side by side: application lock waits over 50 ms (from
the server log), the worst and p99 latency of each stream, and the ratios.

    python benchmarks/online_locks.py [--quick] [--sizes 5000000,500000] [--scenario both]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.harness import (  # noqa: E402
    LOCK_TIMEOUT_MS,
    MIGRATION_APP,
    WAIT_THRESHOLD_MS,
    Bench,
    Holder,
    LockWait,
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
    ms,
    new_project,
    percentile,
    ratio,
    relation_names,
    seq_scans,
    table,
    write_naive,
)

CHILD = "events"
WARMUP_S = 2.0
COOLDOWN_S = 2.0
TARGET_ROWS = 5_000_000  # the latency target is set on a 5M-row table
MEASURE_FROM_S = 0.5  # statements scheduled before this are connection warm-up, not counted


def make_streams(users: int, rows: int) -> list[Stream]:
    """One session per statement kind and table; every statement is an index lookup or insert."""

    def users_insert(conn: psycopg.Connection[Any], rng: Any) -> None:
        conn.execute("INSERT INTO users (email) VALUES (%s)", (f"new{rng.getrandbits(48)}@example.com",))

    def users_update(conn: psycopg.Connection[Any], rng: Any) -> None:
        conn.execute("UPDATE users SET last_seen_at = now() WHERE id = %s", (rng.randint(1, users),))

    def users_select(conn: psycopg.Connection[Any], rng: Any) -> None:
        conn.execute("SELECT id, email, last_seen_at FROM users WHERE id = %s", (rng.randint(1, users),)).fetchall()

    def child_insert(conn: psycopg.Connection[Any], rng: Any) -> None:
        conn.execute("INSERT INTO events (user_id, payload) VALUES (%s, 'new')", (rng.randint(1, users),))

    def child_update(conn: psycopg.Connection[Any], rng: Any) -> None:
        conn.execute("UPDATE events SET payload = 'updated' WHERE id = %s", (rng.randint(1, rows),))

    def child_select(conn: psycopg.Connection[Any], rng: Any) -> None:
        conn.execute("SELECT id, payload FROM events WHERE user_id = %s LIMIT 20", (rng.randint(1, users),)).fetchall()

    return [
        Stream("users-insert", users_insert),
        Stream("users-update", users_update),
        Stream("users-select", users_select),
        Stream("events-insert", child_insert),
        Stream("events-update", child_update),
        Stream("events-select", child_select),
    ]


def build_template(bench: Bench, rows: int, users: int) -> str:
    name = f"events_{rows}"
    bench.create_database(name)
    start = time.perf_counter()
    with bench.connect(name) as conn:
        load_users(conn, users)
        load_child(conn, CHILD, rows, users, index=True)
        finish_load(conn)
    print(f"\nLoaded {users:,} users and {rows:,} events (FK events.user_id -> users NO ACTION, "
          f"indexed) in {time.perf_counter() - start:.1f} s", flush=True)
    return name


@dataclass
class Case:
    upgrade: Upgrade
    streams: list[Stream]
    waits: list[LockWait]  # every logged wait, all sessions
    deadlocks: int
    cycles: list[str]  # each deadlock as the server described it
    scans: dict[str, int]  # seq scans during the run, per table
    fk: tuple[str, bool] | None
    holder: Holder | None

    def app_waits(self) -> list[LockWait]:
        return app_waits(self.waits)

    def latencies(self, stream: Stream) -> list[float]:
        return [lat for start, lat in stream.latencies if start >= MEASURE_FROM_S]

    def before_upgrade(self) -> list[float]:
        """Latencies of statements scheduled before the upgrade started: traffic alone."""
        return [lat for s in self.streams for start, lat in s.latencies
                if MEASURE_FROM_S <= start < self.upgrade.start_t]

    def worst(self) -> float:
        return max((max(self.latencies(s), default=0.0) for s in self.streams), default=0.0)


def run_case(bench: Bench, template: str, project: Path, rows: int, users: int, holder_s: float) -> Case:
    db = bench.clone(template)
    try:
        bench.quiesce(db, ["users", CHILD])
        with bench.connect(db) as conn:
            before = seq_scans(conn)
        offset = bench.log_offset()
        t0 = time.perf_counter()

        def clock() -> float:
            return time.perf_counter() - t0

        traffic = Traffic(bench.url(db), make_streams(users, rows), clock).start()
        time.sleep(WARMUP_S)
        holder = Holder(bench.url(db), "users", holder_s, clock).start() if holder_s else None
        upgrade = Upgrade(project, bench.url(db), clock).start().wait()
        if holder:
            holder.wait()
        time.sleep(COOLDOWN_S)
        traffic.stop()
        time.sleep(0.5)  # the sessions' statistics reach the server as they exit
        with bench.connect(db) as conn:
            after = seq_scans(conn)
            fk = fk_states(conn, [CHILD]).get(CHILD)
            names = relation_names(conn)
        lines = bench.log_lines(offset)
    finally:
        bench.drop(db)
    scans = {t: after.get(t, 0) - before.get(t, 0) for t in ("users", CHILD)}
    found = deadlocks(lines)
    return Case(upgrade, traffic.streams, lock_waits(lines), len(found), [d.described(names) for d in found],
                scans, fk, holder)


def _fk(case: Case) -> str:
    if not case.upgrade.ok:
        return "upgrade failed"
    if case.fk is None:
        return "no FK"
    action = {"a": "NO ACTION", "c": "CASCADE", "n": "SET NULL", "r": "RESTRICT", "d": "SET DEFAULT"}
    return f"{action.get(case.fk[0], case.fk[0])}, {'valid' if case.fk[1] else 'NOT VALID'}"


def retries(case: Case) -> int:
    """Lock timeouts the upgrade reported and retried ("lock not available within ...")."""
    return (case.upgrade.stdout + case.upgrade.stderr).count("lock not available within")


def report(title: str, rows: int, naive: Case, ours: Case) -> list[tuple[str, bool]]:
    """Print the side-by-side table; return the issue's targets for this case."""
    nw, ow = naive.app_waits(), ours.app_waits()
    n_long = max((w.ms for w in nw), default=0.0)
    o_long = max((w.ms for w in ow), default=0.0)
    lines = [
        ["", "naive", "ours", "naive/ours"],
        ["upgrade: alembic upgrade head, wall time (s)", f"{naive.upgrade.seconds:.2f}",
         f"{ours.upgrade.seconds:.2f}", ""],
        ["FK after the upgrade", _fk(naive), _fk(ours), ""],
        [f"application lock waits > {WAIT_THRESHOLD_MS:.0f} ms (server log)", str(len(nw)), str(len(ow)), ""],
        ["longest application lock wait (ms)", f"{n_long:,.0f}" if nw else "-",
         f"{o_long:,.0f}" if ow else "-", ratio(n_long, o_long) if nw and ow else ""],
        ["the migration's own lock waits > 50 ms",
         str(sum(1 for w in naive.waits if w.app == MIGRATION_APP and w.ms > WAIT_THRESHOLD_MS)),
         str(sum(1 for w in ours.waits if w.app == MIGRATION_APP and w.ms > WAIT_THRESHOLD_MS)), ""],
        ["the migration's lock timeouts, retried (its output)", str(retries(naive)), str(retries(ours)), ""],
        ["deadlocks", str(naive.deadlocks), str(ours.deadlocks), ""],
        [f"seq scans of {CHILD} / users during the run",
         f"{naive.scans[CHILD]} / {naive.scans['users']}", f"{ours.scans[CHILD]} / {ours.scans['users']}", ""],
    ]
    for n_stream, o_stream in zip(naive.streams, ours.streams, strict=True):
        nl, ol = naive.latencies(n_stream), ours.latencies(o_stream)
        n_worst, o_worst = max(nl, default=0.0), max(ol, default=0.0)
        n_p99, o_p99 = percentile(nl, 99), percentile(ol, 99)
        lines.append([f"{n_stream.name}: worst | p99 (ms)", f"{ms(n_worst)} | {ms(n_p99)}",
                     f"{ms(o_worst)} | {ms(o_p99)}", f"{ratio(n_worst, o_worst)} | {ratio(n_p99, o_p99)}"])
        if n_stream.errors or o_stream.errors:
            lines.append([f"{n_stream.name}: failed statements", str(len(n_stream.errors)),
                         str(len(o_stream.errors)), ""])
    lines.append(["every stream: worst (ms)", ms(naive.worst()), ms(ours.worst()),
                 ratio(naive.worst(), ours.worst())])
    lines.append(["traffic before the upgrade started: worst (ms)", ms(max(naive.before_upgrade(), default=0)),
                 ms(max(ours.before_upgrade(), default=0)), ""])
    lines.append(["statements run (all streams)", f"{sum(len(s.latencies) for s in naive.streams):,}",
                 f"{sum(len(s.latencies) for s in ours.streams):,}", ""])
    print(f"\n{title}")
    holder = ours.holder
    if holder and naive.holder:
        for label, case in (("naive", naive), ("ours", ours)):
            h = case.holder
            assert h is not None
            print(f"  {label}: holder idle in transaction on users t={h.start_t:.1f}-{h.end_t:.1f} s; "
                  f"upgrade t={case.upgrade.start_t:.1f}-{case.upgrade.end_t:.1f} s")
    print(table(lines))
    for label, case in (("naive", naive), ("ours", ours)):
        if not case.upgrade.ok:
            print(f"  {label} upgrade failed: {case.upgrade.failure()}")
        for cycle in case.cycles:
            print(f"  {label}: deadlock, {cycle}")

    completed = ours.upgrade.ok and ours.fk is not None and ours.fk == ("c", True)
    if holder:
        limit = LOCK_TIMEOUT_MS + WAIT_THRESHOLD_MS
        return [
            (f"ours: no application lock wait longer than lock_timeout + 50 ms ({limit:.0f} ms)",
             completed and o_long <= limit),
            ("ours: the conversion completes once the holder ends",
             completed and ours.upgrade.end_t >= holder.end_t),
        ]
    worst_ratio = naive.worst() / ours.worst() if ours.worst() else 0.0
    targets = [("ours: no application lock wait over 50 ms", completed and not ow)]
    if rows >= TARGET_ROWS:  # the issue sets the latency target at 5M rows
        targets.append((f"naive's worst latency >= 10x ours ({worst_ratio:,.1f}x)", completed and worst_ratio >= 10))
    return targets


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_common_args(parser)
    parser.add_argument("--sizes", help="child table sizes, comma-separated (default 5000000,500000; "
                        "--quick: 50000)")
    parser.add_argument("--users", type=int, help="rows in users (default 100000; --quick: 10000)")
    parser.add_argument("--holder-s", type=float, help="how long the holder sits idle (default 5; --quick: 2)")
    parser.add_argument("--scenario", choices=["traffic", "holder", "both"], default="both")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")] if args.sizes else (
        [50_000] if args.quick else [5_000_000, 500_000])
    users = args.users or (10_000 if args.quick else 100_000)
    holder_s = args.holder_s or (2.0 if args.quick else 5.0)

    targets: list[tuple[str, bool]] = []
    started = time.perf_counter()
    with Bench(args.pg_bindir) as bench, tempfile.TemporaryDirectory(prefix="cascade-bench-") as tmp:
        header("Converting one big table's FK to users under live traffic: naive vs ours", bench)
        naive_project = new_project(Path(tmp), "naive")
        with bench.connect() as conn:
            write_naive(naive_project, conn, [CHILD])
        ours_project = new_project(Path(tmp), "ours")
        generate_ours(ours_project, manifest_text([CHILD]))
        print("  naive: hand-written revision, DROP + ADD CONSTRAINT ... ON DELETE CASCADE in one transaction")
        print("  ours: cascade-tool generate + alembic upgrade head, tool defaults (lock_timeout 200 ms)")
        print("  six application sessions, 50 statements/s each, latency counted from each statement's "
              "scheduled start", flush=True)
        for rows in sizes:
            template = build_template(bench, rows, users)
            if args.scenario in ("traffic", "both"):
                naive = run_case(bench, template, naive_project, rows, users, 0.0)
                ours = run_case(bench, template, ours_project, rows, users, 0.0)
                for name, ok in report(f"Scenario 1: {CHILD} ({rows:,} rows) -> users, under traffic", rows,
                                       naive, ours):
                    targets.append((f"{rows:,} rows, traffic: {name}", ok))
            if args.scenario in ("holder", "both"):
                naive = run_case(bench, template, naive_project, rows, users, holder_s)
                ours = run_case(bench, template, ours_project, rows, users, holder_s)
                for name, ok in report(
                    f"Scenario 2: {CHILD} ({rows:,} rows) -> users, under traffic, behind a {holder_s:g} s "
                    "lock holder on users", rows, naive, ours,
                ):
                    targets.append((f"{rows:,} rows, holder: {name}", ok))
            bench.drop(template)
    print("\nTargets (issue 4):")
    for name, ok in targets:
        print(f"  {met(ok):7}  {name}")
    print(f"\nTotal time {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
