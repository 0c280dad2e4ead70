"""Benchmark: deferring validation out of the deploy, and validating with several connections.

Issue 13, part 5 (third and fourth bullets). A database of `--tables` child tables with `--rows`
rows each, every one with an FK user_id -> users (NO ACTION, valid). In one run, side by side:

1. the deploy (`alembic upgrade head` of the revision `cascade-tool generate` writes, converting
   every FK to ON DELETE CASCADE) with validate = "now" (the default: it validates each FK it
   swaps) and with validate = "later" (it swaps NOT VALID and records the validations as pending),
   each on a fresh copy of the same database;
2. `cascade-tool validate` of the pending FKs that the "later" deploy left, with --jobs 1 and with
   --jobs 4, each on its own copy of that database, and the bare `ALTER TABLE ... VALIDATE
   CONSTRAINT` statements of the same FKs run one after another by psql on a third copy.

validate --jobs 1 against psql: the command's work is its wall time less its own time when there
is nothing to validate (start-up, catalog reads: the median of three more runs on the same copy,
every FK valid by then); that work over psql's wall time is the ratio (target: at most 1.1x). Start-up varies
most on a busy machine, so the script also prints the FK steps as the command times them (each
step: its transaction, VALIDATE and the bookkeeping) over the statements as psql's \\timing times
them.

    python benchmarks/validate_jobs.py [--quick] [--tables 40] [--rows 250000] [--users 10000] [--runs 3]
    python benchmarks/validate_jobs.py --tables 16 --rows 400000   # the validate-vs-psql figure
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from psycopg import sql  # noqa: E402

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
from tests.helpers import REPO  # noqa: E402

VALIDATE_CMD = [sys.executable, "-c", "import sys; from cascade_tool.cli import main; main(sys.argv[1:])", "validate"]


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


def psql_validate(bench: Bench, db: str, tables: list[str]) -> tuple[float, float]:
    """(wall seconds, seconds of the statements as psql's \\timing reports them) for psql running
    `ALTER TABLE t VALIDATE CONSTRAINT t_user_id_fkey` for every table, one statement (and so one
    transaction) after another."""
    with bench.connect(db) as conn:
        script = "\\timing on\n" + "".join(
            sql.SQL("ALTER TABLE {} VALIDATE CONSTRAINT {};\n").format(
                sql.Identifier(t), sql.Identifier(f"{t}_user_id_fkey")).as_string(conn)
            for t in tables
        )
    with tempfile.NamedTemporaryFile("w", suffix=".sql", delete=False) as fh:
        fh.write(script)
    try:
        cmd = [str(bench.cluster.tool("psql")), "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", bench.url(db),
               "-f", fh.name]
        started = time.monotonic()
        result = subprocess.run(cmd, capture_output=True, text=True)
        seconds = time.monotonic() - started
    finally:
        os.unlink(fh.name)
    if result.returncode != 0:
        raise RuntimeError(f"psql failed ({result.returncode}): {result.stderr.strip()[-800:]}")
    timings = [float(m) for m in re.findall(r"^Time: ([\d.]+) ms", result.stdout, re.M)]
    assert len(timings) == len(tables), result.stdout
    return seconds, sum(timings) / 1000


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
        idle: list[float] = []  # validate --jobs 1 again on its copy: nothing left to validate
        bare: list[float] = []  # psql running the VALIDATE statements one after another
        bare_statements: list[float] = []  # the same, the statements only (psql's \\timing)
        counted: list[int] = []  # --jobs 1: FKs whose orphans were counted (none: no orphans here)
        steps: list[float] = []  # --jobs 1: the FK steps' seconds, as the command times them
        inside: list[float] = []  # --jobs 1: the run's seconds, as the command times it
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
            copies = {"jobs1": later_db, "jobs4": bench.clone(later_db), "psql": bench.clone(later_db)}
            for db in copies.values():
                bench.quiesce(db, ["users", *tables])
            # Side by side; the order turns each run so that no arm always goes first.
            order = ["psql", "jobs1", "jobs4"]
            order = order[(run - 1) % 3:] + order[:(run - 1) % 3]
            for arm in order:
                db = copies[arm]
                if arm == "psql":
                    wall, statements = psql_validate(bench, db, tables)
                    bare.append(wall)
                    bare_statements.append(statements)
                else:
                    jobs = 1 if arm == "jobs1" else 4
                    seconds, out = timed([*VALIDATE_CMD, "--manifest", str(manifest_path), "--jobs", str(jobs),
                                          "--json"], root, bench.url(db))
                    runs[jobs].append(seconds)
                    data = json.loads(out)
                    assert data["validated"] == len(tables), data
                    if jobs == 1:
                        counted.append(sum(1 for f in data["fks"] if f["count_seconds"] is not None))
                        steps.append(sum(f["seconds"] for f in data["fks"]))
                        inside.append(data["seconds"])
                with bench.connect(db) as conn:
                    assert all(valid for _, valid in fk_states(conn, tables).values())
            idles = []  # start-up varies most on a busy machine: the median of three
            for _ in range(3):
                seconds, out = timed([*VALIDATE_CMD, "--manifest", str(manifest_path), "--jobs", "1", "--json"],
                                     root, bench.url(copies["jobs1"]))
                assert json.loads(out)["already_valid"] == len(tables)
                idles.append(seconds)
            idle.append(statistics.median(idles))
            for db in copies.values():
                bench.drop(db)
            print(f"  run {run}: deploy now {deploys['now'][-1]:.2f} s, later {deploys['later'][-1]:.2f} s;"
                  f" validate --jobs 1 {runs[1][-1]:.2f} s (idle {idle[-1]:.2f} s, run {inside[-1]:.2f} s,"
                  f" steps {steps[-1]:.2f} s), --jobs 4 {runs[4][-1]:.2f} s;"
                  f" psql {bare[-1]:.2f} s", flush=True)

        med = statistics.median
        print()
        rows = [
            ('deploy, validate = "now"', med(deploys["now"])),
            ('deploy, validate = "later"', med(deploys["later"])),
            ("cascade-tool validate --jobs 1", med(runs[1])),
            ("  the same, nothing left to validate", med(idle)),
            ("cascade-tool validate --jobs 4", med(runs[4])),
            ("psql: the bare VALIDATE statements, one by one", med(bare)),
        ]
        print(f"  median of {args.runs} run(s){'':<30}{'seconds':>10}")
        for label, seconds in rows:
            print(f"  {label:<48}{seconds:>10.2f}")
        print()
        print(f"  deploy time, now / later:                  {med(deploys['now']) / med(deploys['later']):.2f}x")
        print(f"  validation wall time, --jobs 1 / --jobs 4: {med(runs[1]) / med(runs[4]):.2f}x")
        print(f"  later + validate --jobs 4, over now:       "
              f"{(med(deploys['later']) + med(runs[4])) / med(deploys['now']):.2f}x")
        # Ratios per run (its arms ran side by side, under the same load), then their median.
        work = [j - i for j, i in zip(runs[1], idle, strict=True)]
        ratios = [w / b for w, b in zip(work, bare, strict=True)]
        step_ratios = [st / b for st, b in zip(steps, bare_statements, strict=True)]
        print(f"  validate --jobs 1 less its idle run, over psql: {med(ratios):.2f}x"
              f" (median of the runs' ratios; {med(work):.2f} s against {med(bare):.2f} s; target <= 1.1x)")
        print(f"  validate --jobs 1's FK steps, over psql's statements: {med(step_ratios):.2f}x"
              f" ({med(steps):.2f} s against {med(bare_statements):.2f} s: each side as it times its own work,"
              " start-up left out)")
        print("  per run, the two ratios: " + ", ".join(
            f"{a:.2f}/{b:.2f}" for a, b in zip(ratios, step_ratios, strict=True)))
        print(f"  --jobs 1: orphans counted for {max(counted)} of {len(tables)} FKs"
              " (counted only when a validation fails)")
        print(f"  ({os.cpu_count()} CPUs visible; validations are CPU- and I/O-bound, so --jobs gains at most "
              "the cores and disks the server has free)")


if __name__ == "__main__":
    main()
