"""Benchmark: the application's worst latency while one 5M-row table's FK is converted, against the
same traffic with no migration at all (the baseline) and against the naive migration, and what the
application sessions were waiting on when they were slowest.

The data and traffic are online_locks.py's: users (100,000 rows) and events (5,000,000 rows,
FK user_id -> users NO ACTION, indexed); six application sessions, 50 statements a second each
(INSERT, UPDATE and SELECT on events and on users), latency counted from each statement's
scheduled start. Each run, on fresh copies of the same database: ours (`cascade-tool generate` +
`alembic upgrade head`), then the baseline (the same traffic for as long as ours took, nothing
else), then naive (DROP + ADD CONSTRAINT in one transaction). A separate session samples
pg_stat_activity every 5 ms: for each of ours' slowest statements the script prints what the
application sessions were waiting on and what the migration was running at that moment.

    python benchmarks/stall.py [--quick] [--runs 2] [--rows 5000000] [--users 100000]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.harness import (  # noqa: E402
    MIGRATION_APP,
    Bench,
    Sample,
    Sampler,
    Traffic,
    Upgrade,
    add_common_args,
    fk_states,
    generate_ours,
    header,
    manifest_text,
    met,
    ms,
    new_project,
    percentile,
    ratio,
    table,
    write_naive,
)
from benchmarks.online_locks import CHILD, build_template, make_streams  # noqa: E402

WARMUP_S = 2.0
COOLDOWN_S = 1.0
MEASURE_FROM_S = 0.5  # statements scheduled before this are connection warm-up, not counted
TOP = 3  # ours' slowest statements explained from the samples


@dataclass
class Case:
    label: str
    seconds: float  # the migration's wall time (baseline: how long the traffic ran alone)
    ok: bool
    latencies: list[tuple[float, float, str]]  # (scheduled start, seconds, stream) in the measured window
    samples: list[Sample]
    window: tuple[float, float]  # the migration's start and end on the run's clock

    def worst(self) -> float:
        return max((lat for _, lat, _ in self.latencies), default=0.0)

    def p999(self) -> float:
        return percentile([lat for _, lat, _ in self.latencies], 99.9)


def run_case(bench: Bench, template: str, label: str, project: Path | None, users: int, rows: int,
             alone_s: float) -> Case:
    db = bench.clone(template)
    try:
        bench.quiesce(db, ["users", CHILD])
        t0 = time.perf_counter()

        def clock() -> float:
            return time.perf_counter() - t0

        traffic = Traffic(bench.url(db), make_streams(users, rows), clock).start()
        sampler = Sampler(bench.url(db), t0).start()
        time.sleep(WARMUP_S)
        if project is None:
            start = clock()
            time.sleep(alone_s)
            end, ok = clock(), True
        else:
            upgrade = Upgrade(project, bench.url(db), clock).start().wait()
            start, end = upgrade.start_t, upgrade.end_t
            with bench.connect(db) as conn:
                ok = upgrade.ok and fk_states(conn, [CHILD]).get(CHILD) == ("c", True)
            if not upgrade.ok:
                print(f"  {label} upgrade failed: {upgrade.failure()}")
        time.sleep(COOLDOWN_S)
        sampler.stop()
        traffic.stop()
    finally:
        bench.drop(db)
    # the same span of traffic for every case: warm-up, the migration (or the time alone), cool-down
    latencies = [(t, lat, s.name) for s in traffic.streams for t, lat in s.latencies
                 if MEASURE_FROM_S <= t <= end + COOLDOWN_S]
    return Case(label, end - start, ok, latencies, sampler.samples, (start, end))


def explain(case: Case) -> list[str]:
    """For each of the case's slowest statements: the samples taken while it was delayed."""
    out = []
    worst = sorted(case.latencies, key=lambda x: -x[1])
    seen: list[tuple[float, float]] = []
    for t, lat, stream in worst:
        if len(seen) == TOP:
            break
        if any(a <= t <= b for a, b in seen):
            continue  # the same stall, met by another statement
        seen.append((t, t + lat))
        ticks = [s.t for s in case.samples if s.app == "bench-sampler" and t - 0.1 <= s.t <= t + lat + 0.1]
        gap = max((b - a for a, b in zip(ticks, ticks[1:], strict=False)), default=0.0)
        during = [s for s in case.samples if t <= s.t <= t + lat and s.app != "bench-sampler"]
        app = Counter(s.wait for s in during if s.app != MIGRATION_APP)
        migration = Counter(f"{s.wait} in {s.query[:70]}" for s in during if s.app == MIGRATION_APP)
        where = "during the migration" if case.window[0] <= t <= case.window[1] else (
            "before the migration" if t < case.window[0] else "after the migration")
        out.append(f"  {stream} at t={t:.2f} s ({where}, migration t={case.window[0]:.2f}-{case.window[1]:.2f}),"
                   f" {ms(lat)} ms; the sampler's own longest pause around it {ms(gap)} ms (5 ms when the machine"
                   " keeps up):")
        out.append("    application sessions: " + (", ".join(f"{w} x{n}" for w, n in app.most_common(4)) or "-"))
        out.append("    the migration: " + (", ".join(f"{w} x{n}" for w, n in migration.most_common(3)) or "idle"))
        before = [s for s in case.samples if s.app == MIGRATION_APP and s.t < t]
        if before and not migration:
            out.append(f"    the migration's last sample before: t={before[-1].t:.2f} s, {before[-1].wait} in "
                       f"{before[-1].query[:70]}")
    return out


def swap_worst(case: Case) -> float:
    """The worst latency among the application statements in flight while the swap step ran."""
    swap = [s.t for s in case.samples if s.app == MIGRATION_APP and "upgrade('swap'" in s.query]
    if not swap:
        return 0.0
    a, b = min(swap), max(swap)
    return max((lat for t, lat, _ in case.latencies if t <= b and t + lat >= a), default=0.0)


def timeline(case: Case) -> list[str]:
    """The migration's statements as the samples saw them: first and last sample of each."""
    spans: dict[str, list[float]] = {}
    for s in case.samples:
        if s.app == MIGRATION_APP and s.state != "tick":
            spans.setdefault(s.query[:80], [s.t, s.t])[1] = s.t
    return [f"  t={a:.2f}-{b:.2f} s  {q}" for q, (a, b) in sorted(spans.items(), key=lambda x: x[1][0])]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_common_args(parser)
    parser.add_argument("--runs", type=int, help="runs (default 2; --quick: 1)")
    parser.add_argument("--rows", type=int, help="rows in events (default 5000000; --quick: 200000)")
    parser.add_argument("--users", type=int, help="rows in users (default 100000; --quick: 10000)")
    args = parser.parse_args()
    runs = args.runs or (1 if args.quick else 2)
    rows = args.rows or (200_000 if args.quick else 5_000_000)
    users = args.users or (10_000 if args.quick else 100_000)

    started = time.perf_counter()
    results: dict[str, list[Case]] = {"baseline": [], "ours": [], "naive": []}
    with Bench(args.pg_bindir) as bench, tempfile.TemporaryDirectory(prefix="cascade-bench-") as tmp:
        header(f"The application's worst latency while a {rows:,}-row table's FK is converted: "
               "ours vs no migration vs naive", bench)
        naive_project = new_project(Path(tmp), "naive")
        with bench.connect() as conn:
            write_naive(naive_project, conn, [CHILD])
        ours_project = new_project(Path(tmp), "ours")
        generate_ours(ours_project, manifest_text([CHILD]))
        print("  six application sessions, 50 statements/s each; pg_stat_activity sampled every 5 ms", flush=True)
        template = build_template(bench, rows, users)
        for i in range(1, runs + 1):
            ours = run_case(bench, template, "ours", ours_project, users, rows, 0.0)
            baseline = run_case(bench, template, "baseline", None, users, rows, ours.seconds)
            naive = run_case(bench, template, "naive", naive_project, users, rows, 0.0)
            for case in (ours, baseline, naive):
                results[case.label].append(case)
            print(f"\nRun {i}")
            lines = [["", "baseline (no migration)", "ours", "naive", "ours/baseline", "naive/ours"]]
            lines.append(["migration wall time (s)", f"{baseline.seconds:.2f} (traffic alone)",
                          f"{ours.seconds:.2f}", f"{naive.seconds:.2f}", "", ""])
            lines.append(["worst application latency (ms)", ms(baseline.worst()), ms(ours.worst()),
                          ms(naive.worst()), ratio(ours.worst(), baseline.worst()),
                          ratio(naive.worst(), ours.worst())])
            lines.append(["p99.9 application latency (ms)", ms(baseline.p999()), ms(ours.p999()),
                          ms(naive.p999()), ratio(ours.p999(), baseline.p999()), ratio(naive.p999(), ours.p999())])
            lines.append(["statements measured", f"{len(baseline.latencies):,}", f"{len(ours.latencies):,}",
                          f"{len(naive.latencies):,}", "", ""])
            lines.append(["worst latency of statements overlapping the swap (ms)", "", ms(swap_worst(ours)),
                          "", "", ""])
            print(table(lines))
            print("Ours' statements, as sampled:")
            print("\n".join(timeline(ours)))
            print("Ours' slowest statements, and what pg_stat_activity showed meanwhile:")
            print("\n".join(explain(ours)))
            print("The baseline's slowest:")
            print("\n".join(explain(baseline)), flush=True)
        bench.drop(template)

    def med(label: str, f: str) -> float:
        return float(statistics.median(getattr(c, f)() for c in results[label]))

    b, o, n = med("baseline", "worst"), med("ours", "worst"), med("naive", "worst")
    print(f"\nMedian over {runs} run(s): worst latency baseline {ms(b)} ms, ours {ms(o)} ms, naive {ms(n)} ms;"
          f" ours/baseline {ratio(o, b)}, naive/ours {ratio(n, o)}")
    print("\nTargets (5M-row stall):")
    for i in range(runs):
        ob, oo, on = results["baseline"][i].worst(), results["ours"][i].worst(), results["naive"][i].worst()
        ok = results["ours"][i].ok
        print(f"  {met(ok and oo <= 3 * ob):7}  run {i + 1}: ours' worst <= 3x the baseline's worst "
              f"({ratio(oo, ob)})")
        print(f"  {met(ok and on >= 10 * oo):7}  run {i + 1}: naive's worst >= 10x ours ({ratio(on, oo)})")
    print(f"\nTotal time {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
