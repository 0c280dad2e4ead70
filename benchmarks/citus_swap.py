"""Benchmark: the time per FK of the revision on Citus against plain PostgreSQL, side by side.

The same schema on both: `users` and N child tables, each with a tenant-first composite FK
(tenant_id, user_id) -> users (tenant_id, id) and an index on those columns, R rows per child.
On Citus (a coordinator and two workers on this machine) every table is distributed by
tenant_id and colocated, S shards each; on plain PostgreSQL (the same server binaries, without
Citus) they are ordinary tables. The same generated revision (`cascade-tool generate` from this
checkout) converts the N FKs to ON DELETE CASCADE with `alembic upgrade head`, then
`alembic downgrade base` restores them. Runs alternate plain, Citus, plain, Citus, ... on fresh
databases.

Reported per FK: the time the revision prints for each entry (its swap transaction and its
VALIDATE), the median over the entries of a run, and the median over runs; the whole upgrade's
wall time per FK (alembic start-up included); the downgrade's likewise. Ratio: Citus / plain.

    python benchmarks/citus_swap.py [--quick] [--runs 3] [--tables 8] [--rows 2000] [--shards 32]

Needs Citus installed in a PostgreSQL 15-17 server (tests/citus.py builds it when missing).
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import psycopg

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from cascade_tool import __version__, revisions  # noqa: E402
from cascade_tool.manifest import load_manifest  # noqa: E402
from cascade_tool.pgserver import Cluster  # noqa: E402

LINE = re.compile(r"\[\s*\d+/\d+\] (converted|restored) .*, (\d+) ms$")


@dataclass
class Run:
    per_fk_ms: float  # median of the per-entry times the revision printed
    upgrade_s: float  # wall time of `alembic upgrade head`
    downgrade_per_fk_ms: float
    downgrade_s: float


def schema(tables: int, rows: int, citus: bool, shards: int) -> list[str]:
    users = max(rows // 10, 10)
    out = [
        "CREATE TABLE users (tenant_id bigint NOT NULL, id bigint NOT NULL, PRIMARY KEY (tenant_id, id))",
        f"INSERT INTO users SELECT t, u FROM generate_series(1, 10) AS t, generate_series(1, {users // 10}) AS u",
    ]
    if citus:
        out.append(f"SELECT create_distributed_table('users', 'tenant_id', shard_count => {shards})")
    for k in range(tables):
        t = f"child_{k:02d}"
        out += [
            f"CREATE TABLE {t} (tenant_id bigint NOT NULL, id bigint NOT NULL, user_id bigint, payload text, "
            f"PRIMARY KEY (tenant_id, id), CONSTRAINT {t}_user_fkey FOREIGN KEY (tenant_id, user_id) "
            "REFERENCES users (tenant_id, id))",
            f"CREATE INDEX ON {t} (tenant_id, user_id)",
        ]
        if citus:
            out.append(f"SELECT create_distributed_table('{t}', 'tenant_id', colocate_with => 'users')")
        out.append(f"INSERT INTO {t} SELECT 1 + g % 10, g, 1 + (g / 10) % {users // 10}, 'x' "
                   f"FROM generate_series(1, {rows}) AS g")
    out.append("ANALYZE")
    return out


def manifest(tables: int, directory: Path) -> Path:
    text = ['[target]\ntable = "users"\ncolumns = ["tenant_id", "id"]\n',
            '[defaults]\non_delete = "CASCADE"\ncolumns = ["tenant_id", "user_id"]\n']
    text += [f'[[tables]]\nname = "child_{k:02d}"\n' for k in range(tables)]
    path = directory / "manifest.toml"
    path.write_text("\n".join(text))
    return path


def project(directory: Path, manifest_path: Path) -> Path:
    proj = directory / "project"
    proj.mkdir()
    shutil.copy(REPO / "alembic.ini", proj / "alembic.ini")
    shutil.copytree(REPO / "migrations", proj / "migrations",
                    ignore=shutil.ignore_patterns("*.py[co]", "__pycache__"))
    for rev in (proj / "migrations" / "versions").glob("*.py"):
        rev.unlink()
    revisions.generate(load_manifest(manifest_path), proj / "migrations" / "versions", "bench", rev_id="bench01")
    return proj


def alembic(proj: Path, url: str, *args: str) -> tuple[float, list[int]]:
    env = dict(os.environ, DATABASE_URL=url, PYTHONPATH=str(REPO))
    started = time.monotonic()
    done = subprocess.run([sys.executable, "-m", "alembic", "-x", "create_indexes=false", *args],
                          cwd=proj, env=env, capture_output=True, text=True)
    seconds = time.monotonic() - started
    if done.returncode != 0:
        raise SystemExit(f"alembic {' '.join(args)} failed on {url}:\n{done.stdout}\n{done.stderr}")
    times = [int(m.group(2)) for line in done.stdout.splitlines() if (m := LINE.search(line.strip()))]
    return seconds, times


def new_database(nodes: list[Cluster], name: str) -> str:
    for node in nodes:
        with psycopg.connect(node.url(), autocommit=True) as conn:
            conn.execute(f"CREATE DATABASE {name}")
    if len(nodes) > 1:
        for node in nodes:
            with psycopg.connect(node.url(name), autocommit=True) as conn:
                conn.execute("CREATE EXTENSION citus")
        with psycopg.connect(nodes[0].url(name), autocommit=True) as conn:
            conn.execute("SELECT citus_set_coordinator_host('127.0.0.1', %s)", (nodes[0].port,))
            for worker in nodes[1:]:
                conn.execute("SELECT citus_add_node('127.0.0.1', %s)", (worker.port,))
    return nodes[0].url(name)


def one_run(nodes: list[Cluster], name: str, proj: Path, args: argparse.Namespace) -> Run:
    url = new_database(nodes, name)
    with psycopg.connect(url, autocommit=True) as conn:
        for statement in schema(args.tables, args.rows, len(nodes) > 1, args.shards):
            conn.execute(statement.encode())
    up_s, up = alembic(proj, url, "upgrade", "head")
    down_s, down = alembic(proj, url, "downgrade", "base")
    if len(up) != args.tables or len(down) != args.tables:
        raise SystemExit(f"expected {args.tables} converted and restored lines, got {len(up)} and {len(down)}")
    return Run(statistics.median(up), up_s, statistics.median(down), down_s)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--tables", type=int, default=8)
    parser.add_argument("--rows", type=int, default=2000, help="rows per child table")
    parser.add_argument("--shards", type=int, default=32, help="shards per table (Citus' default)")
    parser.add_argument("--quick", action="store_true", help="1 run, 3 tables, 200 rows")
    args = parser.parse_args()
    if args.quick:
        args.runs, args.tables, args.rows = 1, 3, 200

    from tests.citus import CITUS_SETTINGS, ensure_citus

    try:
        bindir = ensure_citus()
    except BaseException as exc:  # pytest's skip, raised where Citus cannot be built here
        raise SystemExit(f"citus_swap: {exc}") from None
    started: list[Cluster] = []
    try:
        plain = Cluster.start(bindir)
        started.append(plain)
        citus = [Cluster.start(bindir, settings=CITUS_SETTINGS) for _ in range(3)]
        started += citus
        with tempfile.TemporaryDirectory() as tmp:
            proj = project(Path(tmp), manifest(args.tables, Path(tmp)))
            results: dict[str, list[Run]] = {"plain": [], "citus": []}
            for i in range(args.runs):
                results["plain"].append(one_run([plain], f"bench_plain_{i}", proj, args))
                results["citus"].append(one_run(citus, f"bench_citus_{i}", proj, args))
    finally:
        for node in started:
            node.stop()

    print(f"cascade-tool {__version__}, PostgreSQL {plain.version} ({bindir}), Citus: coordinator + 2 workers "
          f"on this machine; {platform.machine()}, {os.cpu_count()} cores")
    print(f"{args.tables} FKs (tenant_id, user_id) -> users, {args.rows} rows per child, {args.shards} shards "
          f"per table on Citus; {args.runs} run(s), alternating; medians over runs")
    print()
    print(f"{'':<10}{'upgrade ms/FK':>15}{'upgrade s':>11}{'wall ms/FK':>12}{'downgrade ms/FK':>17}")
    med: dict[str, dict[str, float]] = {}
    for kind, runs in results.items():
        med[kind] = {
            "fk": statistics.median(r.per_fk_ms for r in runs),
            "up": statistics.median(r.upgrade_s for r in runs),
            "down_fk": statistics.median(r.downgrade_per_fk_ms for r in runs),
        }
        m = med[kind]
        print(f"{kind:<10}{m['fk']:>15.0f}{m['up']:>11.2f}{1000 * m['up'] / args.tables:>12.0f}{m['down_fk']:>17.0f}")
    ratio = {k: med["citus"][k] / med["plain"][k] if med["plain"][k] else float("nan") for k in med["plain"]}
    print(f"{'ratio':<10}{ratio['fk']:>14.1f}x{ratio['up']:>10.1f}x{ratio['up']:>11.1f}x{ratio['down_fk']:>16.1f}x")


if __name__ == "__main__":
    main()
