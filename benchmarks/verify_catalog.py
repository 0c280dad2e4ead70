"""Benchmark: cascade-tool's catalog lookup (plan/verify) against seed 003's verification query.

Seed 003 checks its migration with an information_schema query that joins on constraint names.
This script times both, side by side in one run, on the same throwaway server:
- a synthetic catalog with 2,000 FKs to users (2,000 child tables);
- GitLab's schema from ../shared/corpus (when present) with tests/data/gitlab_manifest.toml.
The information_schema query runs under a statement_timeout (default 60 s); when it hits it, the
ratio printed is a lower bound ("> N x").

    python3 benchmarks/verify_catalog.py [--pg-bindir DIR] [--timeout-s 60] [--repeat 3]

Prints one line per case: lookup time (median), information_schema time, ratio.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

import psycopg

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from cascade_tool import catalog  # noqa: E402
from cascade_tool.manifest import load_manifest, parse_manifest  # noqa: E402
from cascade_tool.pgserver import Cluster  # noqa: E402

SEED_003_QUERY = """
SELECT
    tc.table_name,
    kcu.column_name,
    rc.delete_rule
FROM information_schema.table_constraints AS tc
JOIN information_schema.key_column_usage AS kcu
  ON tc.constraint_name = kcu.constraint_name
JOIN information_schema.referential_constraints AS rc
  ON rc.constraint_name = tc.constraint_name
JOIN information_schema.constraint_column_usage AS ccu
  ON ccu.constraint_name = tc.constraint_name
WHERE tc.constraint_type = 'FOREIGN KEY'
  AND ccu.table_name = 'users'
  AND rc.delete_rule = 'CASCADE'
ORDER BY tc.table_name
"""


def synthetic(url: str, n: int) -> str:
    """n child tables, each with one FK to users (ON DELETE CASCADE); returns a manifest."""
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("CREATE TABLE users (id bigint PRIMARY KEY)")
        # no parameters: psycopg sends the text as is, so format()'s %s stays a single %
        conn.execute(
            "DO $$ BEGIN FOR i IN 1.." + str(int(n)) + " LOOP EXECUTE format("
            "'CREATE TABLE child_%s (id bigserial PRIMARY KEY, user_id bigint REFERENCES users (id) "
            "ON DELETE CASCADE)', i); END LOOP; END $$"
        )
    entries = "".join(f'[[tables]]\nname = "child_{i}"\n' for i in range(1, n + 1))
    return '[target]\ntable = "users"\n[defaults]\ncolumns = ["user_id"]\n' + entries


def time_lookup(url: str, manifest_text: str | None, manifest_path: Path | None, repeat: int) -> float:
    manifest = load_manifest(manifest_path) if manifest_path else parse_manifest(manifest_text or "")
    runs = []
    for _ in range(repeat):
        with catalog.connect(url) as conn:
            start = time.perf_counter()
            rows = catalog.resolve(conn, manifest)
            runs.append(time.perf_counter() - start)
        assert rows
    return statistics.median(runs)


def time_seed_query(url: str, timeout_s: int) -> tuple[float, bool]:
    with psycopg.connect(url) as conn:
        conn.execute(f"SET statement_timeout = '{int(timeout_s)}s'")
        start = time.perf_counter()
        try:
            conn.execute(SEED_003_QUERY).fetchall()
            return time.perf_counter() - start, False
        except psycopg.errors.QueryCanceled:
            return time.perf_counter() - start, True


def report(name: str, ours: float, theirs: float, timed_out: bool) -> None:
    ratio = theirs / ours if ours else float("inf")
    bound = ">" if timed_out else ""
    print(f"{name:<28} lookup {ours * 1000:9.1f} ms   information_schema "
          f"{bound}{theirs:8.2f} s   ratio {bound}{ratio:,.0f} x", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pg-bindir", type=Path)
    parser.add_argument("--timeout-s", type=int, default=60)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--fks", type=int, default=2000)
    args = parser.parse_args()
    with Cluster.start(args.pg_bindir) as cluster:
        print(f"PostgreSQL {cluster.version}; median of {args.repeat} lookups; "
              f"information_schema query once, statement_timeout {args.timeout_s} s", flush=True)
        with psycopg.connect(cluster.url(), autocommit=True) as admin:
            admin.execute("CREATE DATABASE synthetic")
            admin.execute("CREATE DATABASE gitlab")
        url = cluster.url("synthetic")
        text = synthetic(url, args.fks)
        ours = time_lookup(url, text, None, args.repeat)
        theirs, timed_out = time_seed_query(url, args.timeout_s)
        report(f"synthetic, {args.fks} FKs", ours, theirs, timed_out)

        structure = REPO.parent / "shared" / "corpus" / "gitlab" / "structure.sql"
        if structure.exists():
            url = cluster.url("gitlab")
            subprocess.run([str(cluster.tool("psql")), "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", url,
                            "-f", str(structure)], check=True, capture_output=True)
            ours = time_lookup(url, None, REPO / "tests" / "data" / "gitlab_manifest.toml", args.repeat)
            theirs, timed_out = time_seed_query(url, args.timeout_s)
            report("GitLab, 192 FKs to users", ours, theirs, timed_out)
        else:
            print("GitLab: ../shared/corpus/gitlab not found, skipped")


if __name__ == "__main__":
    main()
