"""Benchmark: time to resolve 100k orphan rows (quarantine and set-null), per batch size.

On a throwaway server (the embedded PostgreSQL 18 unless --pg-bindir), for each batch size:
a fresh `messages` table of --rows rows (primary key, an index on the FK column, a jsonb column)
of which --orphans reference no user, spread evenly through the table; the FK added NOT VALID;
then the timed part, as the revision runs it: CALL pg_temp.cascade_tool_resolve_orphans(...)
(one COMMIT per batch), then VALIDATE CONSTRAINT.

    python3 benchmarks/quarantine_throughput.py [--rows 1000000] [--orphans 100000]
        [--batches 1000,10000,50000] [--policies quarantine,set-null] [--pg-bindir DIR]

Prints one line per policy and batch size: seconds for the CALL, per 100k orphan rows, rows/s,
and the VALIDATE time.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import psycopg
from psycopg.types.json import Jsonb

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from cascade_tool import quarantine  # noqa: E402
from cascade_tool.pgserver import Cluster  # noqa: E402

SETUP = """
CREATE TABLE users (id bigint PRIMARY KEY);
INSERT INTO users SELECT generate_series(1, 100000);
CREATE TABLE messages_template AS
SELECT g AS id,
       CASE WHEN g % ({rows} / {orphans}) = 0 THEN 1000000 + g ELSE 1 + g % 100000 END AS user_id,
       jsonb_build_object('text', 'message ' || g, 'n', g) AS content,
       now() - g * interval '1 second' AS created_at
  FROM generate_series(1, {rows}) AS g;
"""

FRESH = """
DROP TABLE IF EXISTS messages;
DROP SCHEMA IF EXISTS cascade_quarantine CASCADE;
CREATE TABLE messages (id bigint PRIMARY KEY, user_id bigint, content jsonb, created_at timestamptz);
INSERT INTO messages SELECT * FROM messages_template;
CREATE INDEX messages_user_id ON messages (user_id);
VACUUM ANALYZE messages;
ALTER TABLE messages ADD CONSTRAINT messages_user_fk FOREIGN KEY (user_id) REFERENCES users (id) NOT VALID;
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--orphans", type=int, default=100_000)
    parser.add_argument("--batches", default="1000,10000,50000")
    parser.add_argument("--policies", default="quarantine,set-null")
    parser.add_argument("--pg-bindir", type=Path)
    args = parser.parse_args()
    cluster = Cluster.start(args.pg_bindir)
    try:
        with psycopg.connect(cluster.url(), autocommit=True) as conn:
            print(f"PostgreSQL {conn.info.server_version}: {args.rows:,} rows, {args.orphans:,} orphans", flush=True)
            conn.execute(SETUP.format(rows=int(args.rows), orphans=int(args.orphans)).encode())
            quarantine.install_routines(conn)
            entry = {"table_schema": "public", "table_name": "messages", "table_display": "public.messages",
                     "target_display": "public.users", "columns": ["user_id"], "references_columns": ["id"]}
            for policy in args.policies.split(","):
                for batch in (int(b) for b in args.batches.split(",")):
                    for statement in FRESH.split(";"):  # one at a time: VACUUM cannot run in a block
                        if statement.strip():
                            conn.execute(statement.encode())
                    start = time.perf_counter()
                    conn.execute("CALL pg_temp.cascade_tool_resolve_orphans('bench', %s, %s)",
                                 [Jsonb({**entry, "orphans": policy}), batch])
                    resolved = time.perf_counter() - start
                    start = time.perf_counter()
                    conn.execute("ALTER TABLE messages VALIDATE CONSTRAINT messages_user_fk")
                    validated = time.perf_counter() - start
                    row = conn.execute("SELECT count(*) FROM cascade_quarantine.rows").fetchone()
                    moved = row[0] if row else 0
                    assert moved == args.orphans, (moved, args.orphans)
                    print(f"{policy:<10} batch {batch:>6}: {resolved:6.2f} s for {moved:,} rows"
                          f" = {resolved * 100_000 / moved:5.2f} s per 100k ({moved / resolved:,.0f} rows/s);"
                          f" VALIDATE {validated:.2f} s", flush=True)
    finally:
        cluster.stop()


if __name__ == "__main__":
    main()
