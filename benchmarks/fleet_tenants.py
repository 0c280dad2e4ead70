"""Benchmark: `cascade-tool fleet apply --parallel 2` over N tenant schemas vs a shell loop.

The fleet: one database holding N tenant schemas, each with `users` and 12 tables whose `user_id`
references it (NO ACTION, 40 rows each; no index on user_id unless --fk-indexes), and the
revision `cascade-tool generate` writes for a 12-entry manifest (all 12 to ON DELETE CASCADE), in
a throwaway Alembic project (a copy of this repository's alembic.ini and migrations/). Every run
starts from a fresh clone of the template.

Measured in the same run, for each N (default 50, 200, 1000):
- the loop teams write by hand, in bash: for each tenant,
  `DATABASE_URL=<url with options=-c search_path=<tenant>,public> alembic upgrade head`. The loop
  costs the same per tenant whatever N is (one process each, one after another), so it runs on a
  sample of tenants (--loop-sample, default 20) and its per-tenant time is scaled to N;
- `cascade-tool fleet apply --parallel 2` on all N tenants, the whole command timed (its start,
  per-target lock and log file, the report).
With --rounds R, each size is measured R times, the loop and fleet apply side by side in each
round (alternating which goes first), and the medians are printed, the ratio being the median of
the rounds' ratios: the loop's time per tenant moves with the machine's load more than fleet
apply's does.
Printed: per tenant, the ratio to the loop, the time for 1,000 tenants; then where a target's
time goes: starting an interpreter and importing Alembic, SQLAlchemy and psycopg (what the loop
pays per tenant, measured on its own), and in fleet apply's children, Alembic and env.py up
to run_migrations (its connection and version table read included) and the revision's own work
(from the per-target log lines).

    python benchmarks/fleet_tenants.py [--quick] [--sizes 50,200,1000] [--loop-sample 20] [--rounds 1] [--pg-bindir DIR]
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psycopg
from psycopg import sql

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.harness import REPO, _env, checkout, machine  # noqa: E402
from cascade_tool import __version__, revisions  # noqa: E402
from cascade_tool.fleet.targets import with_search_path  # noqa: E402
from cascade_tool.manifest import load_manifest  # noqa: E402
from cascade_tool.pgserver import Cluster  # noqa: E402

FKS = 12
REV = "tenantbench1"
SETTINGS = {"max_connections": "100", "autovacuum": "off", "fsync": "off", "lc_messages": "'C'",
            "max_locks_per_transaction": "256"}
IMPORTS = ("import logging.config, psycopg, sqlalchemy, sqlalchemy.dialects.postgresql.psycopg, "
           "alembic.command, alembic.config, alembic.script, alembic.runtime.migration")


def tenant_sql(schema: str, fk_indexes: bool = False) -> sql.Composed:
    """One tenant: users and FKS tables referencing it, with rows (and, with `fk_indexes`, an
    index on each referencing column, as a schema whose deletes are served well has)."""
    s = sql.Identifier(schema)
    parts = [sql.SQL("CREATE SCHEMA {s}; CREATE TABLE {s}.users (id bigint PRIMARY KEY, email text NOT NULL);"
                     " INSERT INTO {s}.users SELECT g, 'u' || g FROM generate_series(1, 20) g;").format(s=s)]
    for i in range(1, FKS + 1):
        t = sql.Identifier(f"t{i:02d}")
        parts.append(sql.SQL(
            "CREATE TABLE {s}.{t} (id bigint PRIMARY KEY, user_id bigint REFERENCES {s}.users (id), body text);"
            " INSERT INTO {s}.{t} SELECT g, 1 + g % 20, 'x' FROM generate_series(1, 40) g;").format(s=s, t=t))
        if fk_indexes:
            parts.append(sql.SQL("CREATE INDEX ON {s}.{t} (user_id);").format(s=s, t=t))
    return sql.Composed(parts)


def project(tmp: Path) -> Path:
    """A copy of this repository's Alembic project with the 12-FK revision."""
    root = tmp / "project"
    root.mkdir()
    shutil.copy(REPO / "alembic.ini", root / "alembic.ini")
    shutil.copytree(REPO / "migrations", root / "migrations", ignore=shutil.ignore_patterns("*.py[co]", "__pycache__"))
    for rev in (root / "migrations" / "versions").glob("*.py"):
        rev.unlink()
    manifest = tmp / "manifest.toml"
    manifest.write_text('[target]\ntable = "users"\n\n[defaults]\non_delete = "CASCADE"\ncolumns = ["user_id"]\n\n'
                        + "".join(f'[[tables]]\nname = "t{i:02d}"\n\n' for i in range(1, FKS + 1)))
    revisions.generate(load_manifest(manifest), root / "migrations" / "versions", "cascade tenants", rev_id=REV)
    return root


def admin_exec(admin: str, statement: sql.Composed | sql.SQL) -> None:
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(statement)


def at_head(url: str, schemas: list[str]) -> bool:
    with psycopg.connect(url) as conn:
        for schema in schemas:
            row = conn.execute(sql.SQL("SELECT version_num FROM {}.alembic_version").format(
                sql.Identifier(schema))).fetchone()
            if row != (REV,):
                return False
    return True


def run_loop(url: str, root: Path, schemas: list[str], workdir: Path) -> float:
    """bash: `DATABASE_URL=... alembic upgrade head` per tenant, one after another."""
    lines = ["set -e"]
    alembic = Path(sys.executable).parent / "alembic"
    for schema in schemas:
        lines.append(f"DATABASE_URL='{with_search_path(url, schema)}' '{alembic}' -c '{root / 'alembic.ini'}'"
                     " upgrade head >/dev/null 2>&1")
    script = workdir / "loop.sh"
    script.write_text("\n".join(lines) + "\n")
    started = time.monotonic()
    subprocess.run(["bash", str(script)], cwd=root, env=_env(), check=True)
    return time.monotonic() - started


def run_fleet(url: str, root: Path, schemas: list[str], workdir: Path, parallel: int) -> float:
    fleet = workdir / "fleet.toml"
    fleet.write_text("".join(f'[[targets]]\nname = "{s}"\nurl = "{url}"\nschema = "{s}"\n\n' for s in schemas))
    cmd = [sys.executable, "-c", "import sys; from cascade_tool.cli import main; main(sys.argv[1:])",
           "fleet", "apply", "--fleet", str(fleet), "--alembic-ini", str(root / "alembic.ini"),
           "--parallel", str(parallel), "--log-dir", str(workdir / "logs"), "--json"]
    started = time.monotonic()
    result = subprocess.run(cmd, cwd=workdir, env=_env(), capture_output=True, text=True)
    elapsed = time.monotonic() - started
    if result.returncode != 0:
        raise RuntimeError(f"fleet apply failed:\n{result.stdout[-3000:]}{result.stderr[-3000:]}")
    return elapsed


FOOTER = re.compile(r"^=== succeeded after (\d+) ms \(Alembic and env.py up to run_migrations, connection "
                    r"included: (\d+) ms; revisions: (\d+) ms\)$", re.M)


def child_split(logs: Path) -> tuple[float, float, float]:
    """Medians over the targets' logs: the child's whole time, up to run_migrations, revisions."""
    rows = [tuple(map(float, m.groups())) for p in logs.glob("*.log") for m in FOOTER.finditer(p.read_text())]
    if not rows:
        raise RuntimeError(f"no timing lines in {logs}")
    total, setup, revs = (statistics.median(r[i] for r in rows) for i in range(3))
    return total, setup, revs


def interpreter_cost() -> tuple[float, float]:
    """Median ms of `python -c pass` and of `python -c '<the imports an upgrade needs>'`."""
    def timed(code: str) -> float:
        runs = []
        for _ in range(5):
            started = time.monotonic()
            subprocess.run([sys.executable, "-c", code], check=True, env=_env())
            runs.append((time.monotonic() - started) * 1000)
        return statistics.median(runs)
    return timed("pass"), timed(IMPORTS)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="10 tenants, a loop sample of 4: a smoke run")
    parser.add_argument("--sizes", default="50,200,1000", help="tenant counts, e.g. 50,200,1000")
    parser.add_argument("--loop-sample", type=int, default=20, help="tenants the loop runs on (scaled to N)")
    parser.add_argument("--parallel", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=1,
                        help="rounds per size, each the loop and fleet apply side by side (alternating which goes"
                             " first); the ratio printed is the median of the rounds'")
    parser.add_argument("--fk-indexes", action="store_true",
                        help="tenants whose FK columns are indexed already (the revision builds none)")
    parser.add_argument("--pg-bindir", type=Path, help="server binaries (default: the embedded PostgreSQL)")
    args = parser.parse_args()
    sizes = [10] if args.quick else [int(n) for n in args.sizes.split(",")]
    sample = 4 if args.quick else args.loop_sample
    rounds = 1 if args.quick else max(1, args.rounds)
    cluster = Cluster.start(args.pg_bindir, settings=SETTINGS)
    tmp = Path(tempfile.mkdtemp(prefix="fleet-tenants-"))
    try:
        admin = cluster.url()
        with psycopg.connect(admin) as conn:
            version = conn.execute("SHOW server_version").fetchone()[0]  # type: ignore[index]
        print(f"fleet apply --parallel {args.parallel} vs a shell loop of alembic upgrade head: tenant schemas"
              f" x {FKS} FKs, sizes {', '.join(map(str, sizes))}; loop on {sample} tenants per size, scaled")
        print(f"  PostgreSQL {version}; machine: {machine()}; os.cpu_count() = {os.cpu_count()}")
        print(f"  cascade-tool {__version__} at {checkout()}")
        load = os.getloadavg()
        print(f"  load average at start: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} (cores shared with other work)")
        root = project(tmp)
        lines = sum(1 for _ in next((root / "migrations" / "versions").glob("*.py")).open())
        indexes = "indexed already" if args.fk_indexes else "without an index: the revision builds 12 per tenant"
        print(f"  the revision: {lines} lines; FK columns {indexes}")
        bare, imported = interpreter_cost()
        rows: list[tuple[int, float, float, float, tuple[float, float, float]]] = []
        for n in sizes:
            template = f"tpl_{n}"
            admin_exec(admin, sql.SQL("CREATE DATABASE {}").format(sql.Identifier(template)))
            schemas = [f"tenant_{i:04d}" for i in range(n)]
            with psycopg.connect(cluster.url(template), autocommit=True) as conn:
                for schema in schemas:
                    conn.execute(tenant_sql(schema, args.fk_indexes))
                conn.execute("VACUUM ANALYZE")
            loops: list[float] = []
            fleets: list[float] = []
            splits: list[tuple[float, float, float]] = []
            for round_ in range(rounds):
                kinds = ("loop", "fleet") if round_ % 2 == 0 else ("fleet", "loop")
                for kind in kinds:
                    db = f"{kind}_{n}_{round_}"
                    admin_exec(admin, sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(
                        sql.Identifier(db), sql.Identifier(template)))
                    admin_exec(admin, sql.SQL("CHECKPOINT"))
                    url = cluster.url(db).replace("postgresql://", "postgresql+psycopg://")
                    workdir = tmp / db
                    workdir.mkdir()
                    chosen = schemas[:: max(1, n // sample)][:sample] if kind == "loop" else schemas
                    if kind == "loop":
                        per_tenant = run_loop(url, root, chosen, workdir) / len(chosen)
                        loops.append(per_tenant)
                    else:
                        per_tenant = run_fleet(url, root, chosen, workdir, args.parallel) / len(chosen)
                        fleets.append(per_tenant)
                        splits.append(child_split(workdir / "logs"))
                    if not at_head(cluster.url(db), chosen):
                        raise RuntimeError(f"{kind} {n}: not every tenant reached head")
                    admin_exec(admin, sql.SQL("DROP DATABASE {} WITH (FORCE)").format(sql.Identifier(db)))
                    print(f"  {n} tenants, round {round_ + 1}: {kind} {per_tenant * 1000:.0f} ms per tenant",
                          flush=True)
            ratios = [f / lp for f, lp in zip(fleets, loops, strict=True)]
            if rounds > 1:
                print(f"  {n} tenants: fleet/loop per round {', '.join(f'{r:.3f}x' for r in ratios)}", flush=True)
            split = (statistics.median(x[0] for x in splits), statistics.median(x[1] for x in splits),
                     statistics.median(x[2] for x in splits))
            result = {"loop": statistics.median(loops), "fleet": statistics.median(fleets),
                      "ratio": statistics.median(ratios)}
            admin_exec(admin, sql.SQL("DROP DATABASE {}").format(sql.Identifier(template)))
            rows.append((n, result["loop"], result["fleet"], result["ratio"], split))
        load = os.getloadavg()
        print(f"  load average at end: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
        print()
        print(f"  {'tenants':>7} {'loop/tenant':>12} {'fleet/tenant':>13} {'vs loop':>8} {'loop, all':>10}"
              f" {'fleet, all':>11} {'1,000 at this rate':>19}")
        for n, loop, fleet, ratio, _ in rows:
            print(f"  {n:>7} {loop * 1000:9.0f} ms {fleet * 1000:10.0f} ms {ratio:7.2f}x {loop * n:8.0f} s"
                  f" {fleet * n:9.1f} s {fleet * 1000:15.0f} s")
        print()
        print("  where a target's time goes (ms, medians):")
        print(f"    interpreter start: {bare:.0f}; importing alembic, SQLAlchemy, psycopg: {imported - bare:.0f}"
              " (paid per tenant by the loop, once per run by fleet apply)")
        for n, _, _, _, (total, setup, revs) in rows:
            print(f"    {n:>5} tenants, a target in fleet apply's child: {total:.0f} in all; Alembic and env.py up to"
                  f" run_migrations (connection, version table read) {setup:.0f}; the revision {revs:.0f};"
                  f" the rest (request, log) {max(total - setup - revs, 0):.0f}")
        if 200 in sizes:
            ratio = next(r for n, _, _, r, _ in rows if n == 200)
            print(f"\n  200 tenants: fleet apply --parallel {args.parallel} takes {ratio:.3f}x the loop's time per"
                  f" tenant (target <= 0.10x): {'met' if ratio <= 0.1 else 'NOT met'}")
    finally:
        cluster.stop()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
