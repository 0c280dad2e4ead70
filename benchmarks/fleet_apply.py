"""Benchmark: `cascade-tool fleet apply --parallel 4` over a fleet of databases vs a shell loop.

The fleet: N databases (default 16) cloned from one template holding the sample health-app schema
(cascade_tool/data/demo_schema.sql, 60-odd user-linked tables with rows) and, in each, the same
revision to deploy: `cascade-tool generate` of the shipped example manifest, in a throwaway
Alembic project (a copy of this repository's alembic.ini and migrations/).

Measured in the same run, each on fresh clones of the template, in rounds that alternate the order:
- the loop: `for ini in *.ini; do alembic -c "$ini" upgrade head; done` in bash, one ini per
  database (sqlalchemy.url set in it), which is what teams write by hand;
- `cascade-tool fleet apply --parallel P` for P in 1, 2, 4, 8, the whole command timed
  (its at-head checks, log files and report included).
Printed: wall times (median of the rounds), each as a ratio of the loop's, and the parallel
efficiency T(1) / (P x T(P)). The machine's load average is printed too: the cores are shared.

    python benchmarks/fleet_apply.py [--quick] [--databases 16] [--rounds 3] [--pg-bindir DIR]
"""

from __future__ import annotations

import argparse
import os
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
from cascade_tool import __version__  # noqa: E402
from cascade_tool.demo import demo_schema_sql  # noqa: E402
from cascade_tool.pgserver import Cluster  # noqa: E402

PARALLEL = (1, 2, 4, 8)
SETTINGS = {"max_connections": "100", "autovacuum": "off", "fsync": "off", "lc_messages": "'C'"}


def project(tmp: Path) -> Path:
    """A copy of this repository's Alembic project holding the revision generated from the
    shipped example manifest."""
    root = tmp / "project"
    root.mkdir()
    shutil.copy(REPO / "alembic.ini", root / "alembic.ini")
    shutil.copytree(REPO / "migrations", root / "migrations", ignore=shutil.ignore_patterns("*.py[co]", "__pycache__"))
    for rev in (root / "migrations" / "versions").glob("*.py"):
        rev.unlink()
    manifest = REPO / "cascade_tool" / "data" / "example_manifest.toml"
    cmd = [sys.executable, "-c", "import sys; from cascade_tool.cli import main; main(sys.argv[1:])", "generate",
           "--manifest", str(manifest), "--versions-dir", str(root / "migrations" / "versions"),
           "--rev-id", "fleetbench01"]
    subprocess.run(cmd, cwd=root, env=_env(), check=True, capture_output=True)
    return root


def clone(admin: str, template: str, name: str) -> None:
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(sql.Identifier(name), sql.Identifier(template)))


def drop(admin: str, name: str) -> None:
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


def upgraded(url: str) -> bool:
    with psycopg.connect(url) as conn:
        row = conn.execute("SELECT version_num FROM alembic_version").fetchone()
    return row == ("fleetbench01",)


def run_loop(cluster: Cluster, root: Path, names: list[str], workdir: Path) -> float:
    """bash: one `alembic -c X.ini upgrade head` per database, one after another."""
    inis = workdir / "inis"
    inis.mkdir()
    text = (root / "alembic.ini").read_text().replace("%(here)s", str(root))
    for i, name in enumerate(names):
        url = cluster.url(name).replace("postgresql://", "postgresql+psycopg://")
        (inis / f"{i:03d}.ini").write_text(text.replace("sqlalchemy.url =", f"sqlalchemy.url = {url}", 1))
    alembic = Path(sys.executable).parent / "alembic"
    script = f'for ini in {inis}/*.ini; do "{alembic}" -c "$ini" upgrade head >/dev/null 2>&1 || exit 1; done'
    env = _env()
    env.pop("DATABASE_URL", None)
    started = time.monotonic()
    subprocess.run(["bash", "-c", script], cwd=root, env=env, check=True)
    return time.monotonic() - started


def run_fleet(cluster: Cluster, root: Path, names: list[str], workdir: Path, parallel: int) -> float:
    fleet = workdir / "fleet.toml"
    fleet.write_text("".join(
        f'[[targets]]\nname = "{name}"\nurl = "{cluster.url(name).replace("postgresql://", "postgresql+psycopg://")}"\n\n'
        for name in names))
    cmd = [sys.executable, "-c", "import sys; from cascade_tool.cli import main; main(sys.argv[1:])",
           "fleet", "apply", "--fleet", str(fleet), "--alembic-ini", str(root / "alembic.ini"),
           "--parallel", str(parallel), "--log-dir", str(workdir / "logs")]
    started = time.monotonic()
    result = subprocess.run(cmd, cwd=workdir, env=_env(), capture_output=True, text=True)
    elapsed = time.monotonic() - started
    if result.returncode != 0:
        raise RuntimeError(f"fleet apply --parallel {parallel} failed:\n{result.stdout}{result.stderr}")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="4 databases, 1 round: a smoke run")
    parser.add_argument("--databases", type=int, default=16)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--levels", default=",".join(map(str, PARALLEL)), help="--parallel values to run, e.g. 1,4")
    parser.add_argument("--pg-bindir", type=Path, help="server binaries (default: the embedded PostgreSQL)")
    args = parser.parse_args()
    levels = tuple(int(p) for p in args.levels.split(","))
    if levels[0] != 1:
        parser.error("--levels must start with 1 (the efficiency is measured against --parallel 1)")
    count, rounds = (4, 1) if args.quick else (args.databases, args.rounds)
    cluster = Cluster.start(args.pg_bindir, settings=SETTINGS)
    tmp = Path(tempfile.mkdtemp(prefix="fleet-bench-"))
    try:
        admin = cluster.url()
        with psycopg.connect(admin) as conn:
            version = conn.execute("SHOW server_version").fetchone()[0]  # type: ignore[index]
        print(f"fleet apply vs a shell loop of alembic upgrade head: {count} databases, {rounds} round(s)")
        print(f"  PostgreSQL {version}; machine: {machine()}; os.cpu_count() = {os.cpu_count()}")
        print(f"  cascade-tool {__version__} at {checkout()}")
        load = os.getloadavg()
        print(f"  load average at start: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} (cores shared with other work)")
        clone(admin, "template0", "fleet_template")
        with psycopg.connect(cluster.url("fleet_template"), autocommit=True) as conn:
            conn.execute(demo_schema_sql().encode())
        root = project(tmp)
        kinds = ["loop", *[f"p{p}" for p in levels]]
        times: dict[str, list[float]] = {k: [] for k in kinds}
        seq = 0
        for round_no in range(rounds):
            order = kinds if round_no % 2 == 0 else list(reversed(kinds))
            for kind in order:
                seq += 1
                names = [f"f{seq:02d}_{i:03d}" for i in range(count)]
                for name in names:
                    clone(admin, "fleet_template", name)
                workdir = tmp / f"run{seq}"
                workdir.mkdir()
                with psycopg.connect(admin, autocommit=True) as conn:
                    conn.execute("CHECKPOINT")
                if kind == "loop":
                    elapsed = run_loop(cluster, root, names, workdir)
                else:
                    elapsed = run_fleet(cluster, root, names, workdir, int(kind[1:]))
                if not all(upgraded(cluster.url(n)) for n in names):
                    raise RuntimeError(f"{kind}: not every database reached head")
                times[kind].append(elapsed)
                print(f"  round {round_no + 1}: {kind:<5} {elapsed:6.1f} s", flush=True)
                for name in names:
                    drop(admin, name)
        load = os.getloadavg()
        print(f"  load average at end: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
        loop = statistics.median(times["loop"])
        one = statistics.median(times["p1"])
        print()
        print(f"  {'run':<28} {'wall (median)':>13} {'vs loop':>8} {'speedup':>8} {'efficiency':>10}")
        print(f"  {'shell loop of alembic':<28} {loop:11.1f} s {1.0:7.2f}x {'':>8} {'':>10}")
        for p in levels:
            t = statistics.median(times[f"p{p}"])
            print(f"  {f'fleet apply --parallel {p}':<28} {t:11.1f} s {t / loop:7.2f}x "
                  f"{one / t:7.2f}x {one / (p * t):9.0%}")
        if 4 in levels:
            p4 = statistics.median(times["p4"]) / loop
            print(f"\n  fleet apply --parallel 4 takes {p4:.2f}x the loop's wall time (target <= 0.60x): "
                  f"{'met' if p4 <= 0.6 else 'NOT met'}")
    finally:
        cluster.stop()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
