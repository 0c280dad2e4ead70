"""Benchmark: deferring validation out of the deploy, and validating with several connections.

Issue 13, part 5 (third and fourth bullets). A database of `--tables` child tables with `--rows`
rows each, every one with an FK user_id -> users (NO ACTION, valid). In one run, side by side:

1. the deploy (`alembic upgrade head` of the revision `cascade-tool generate` writes, converting
   every FK to ON DELETE CASCADE) with validate = "now" (the default: it validates each FK it
   swaps) and with validate = "later" (it swaps NOT VALID and records the validations as pending),
   each on a fresh copy of the same database;
2. `cascade-tool validate` of the pending FKs that the "later" deploy left, with --jobs 1 and with
   --jobs 4, each on its own copy of that database (orphan counts included, as the command runs).

    python benchmarks/validate_jobs.py [--quick] [--tables 40] [--rows 250000] [--users 10000] [--runs 3]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.harness import (  # noqa: E402
    Bench,
    add_common_args,
    finish_load,
    fk_states,
    generate_ours,
    header,
    load_child,
    load_users,
    manifest_text,
    new_project,
)
from tests.conftest import REPO  # noqa: E402


def _env(url: str) -> dict[str, str]:
    env = dict(os.environ, DATABASE_URL=url)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO), env.get("PYTHONPATH", "")) if p)
    return env


def timed(cmd: list[str], cwd: Path, url: str) -> tuple[float, str]:
    started = time.monotonic()
    result = subprocess.run(cmd, cwd=cwd, env=_env(url), capture_output=True, text=True)
    seconds = time.monotonic() - started
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd[:4])} failed ({result.returncode}): {result.stderr.strip()[-800:]}")
    return seconds, result.stdout


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_common_args(parser)
    parser.add_argument("--tables", type=int, default=40)
    parser.add_argument("--rows", type=int, default=250_000, help="rows per child table")
    parser.add_argument("--users", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=3, help="repetitions, each on fresh copies (medians)")
    args = parser.parse_args()
    if args.quick:
        args.tables, args.rows, args.users, args.runs = 8, 20_000, 1_000, 1
    tables = [f"t{i:03d}" for i in range(1, args.tables + 1)]

    with Bench(args.pg_bindir) as bench, tempfile.TemporaryDirectory() as tmp:
        header(f"validate_jobs: {args.tables} tables x {args.rows} rows, FKs to {args.users} users", bench)
        template = bench.create_database("validate_template")
        loading = time.monotonic()
        with bench.connect(template) as conn:
            load_users(conn, args.users)
            for table in tables:
                load_child(conn, table, args.rows, args.users, index=True)
            finish_load(conn)
        print(f"  loaded in {time.monotonic() - loading:.0f} s", flush=True)
        bench.quiesce(template, ["users", *tables])

        root = Path(tmp)
        projects: dict[str, Path] = {}
        for mode in ("now", "later"):
            projects[mode] = new_project(root, f"project_{mode}")
            manifest = manifest_text(tables).replace(
                'columns = ["user_id"]', f'columns = ["user_id"]\nvalidate = "{mode}"', 1
            )
            generate_ours(projects[mode], manifest)
        manifest_path = projects["later"] / "manifest.toml"
        deploys: dict[str, list[float]] = {"now": [], "later": []}
        runs: dict[int, list[float]] = {1: [], 4: []}
        counts: list[tuple[float, float]] = []  # --jobs 1: sum of orphan-count and of step seconds
        for run in range(1, args.runs + 1):
            later_db = ""
            for mode in ("now", "later"):
                db = bench.clone(template)
                seconds, _ = timed([sys.executable, "-m", "alembic", "upgrade", "head"], projects[mode], bench.url(db))
                deploys[mode].append(seconds)
                with bench.connect(db) as conn:
                    states = fk_states(conn, tables)
                assert all(a == "c" for a, _ in states.values()), states
                assert all(valid == (mode == "now") for _, valid in states.values()), states
                if mode == "later":
                    later_db = db
                else:
                    bench.drop(db)
            copy = bench.clone(later_db)
            for jobs, db in ((1, later_db), (4, copy)):
                bench.quiesce(db, ["users", *tables])
                seconds, out = timed(
                    [sys.executable, "-c", "import sys; from cascade_tool.cli import main; main(sys.argv[1:])",
                     "validate", "--manifest", str(manifest_path), "--jobs", str(jobs), "--json"],
                    root, bench.url(db),
                )
                runs[jobs].append(seconds)
                with bench.connect(db) as conn:
                    assert all(valid for _, valid in fk_states(conn, tables).values())
                if jobs == 1:
                    fks = json.loads(out)["fks"]
                    counts.append((sum(f["count_seconds"] for f in fks), sum(f["seconds"] for f in fks)))
                bench.drop(db)
            print(f"  run {run}: deploy now {deploys['now'][-1]:.1f} s, later {deploys['later'][-1]:.1f} s;"
                  f" validate --jobs 1 {runs[1][-1]:.1f} s, --jobs 4 {runs[4][-1]:.1f} s", flush=True)

        med = statistics.median
        print()
        rows = [
            ('deploy, validate = "now"', med(deploys["now"])),
            ('deploy, validate = "later"', med(deploys["later"])),
            ("cascade-tool validate --jobs 1", med(runs[1])),
            ("cascade-tool validate --jobs 4", med(runs[4])),
        ]
        print(f"  median of {args.runs} run(s){'':<26}{'seconds':>10}")
        for label, seconds in rows:
            print(f"  {label:<44}{seconds:>10.1f}")
        print()
        print(f"  deploy time, now / later:                  {med(deploys['now']) / med(deploys['later']):.2f}x")
        print(f"  validation wall time, --jobs 1 / --jobs 4: {med(runs[1]) / med(runs[4]):.2f}x")
        print(f"  later + validate --jobs 4, over now:       "
              f"{(med(deploys['later']) + med(runs[4])) / med(deploys['now']):.2f}x")
        count = med([c for c, _ in counts])
        steps = med([t for _, t in counts])
        print(f"  --jobs 1: orphan counts {count:.1f} s of {steps:.1f} s in the FK steps ({count / steps:.0%}); "
              "the rest is VALIDATE")
        print(f"  ({os.cpu_count()} CPUs visible; validations are CPU- and I/O-bound, so --jobs gains at most "
              "the cores and disks the server has free)")


if __name__ == "__main__":
    main()
