"""preflight and plan on a real Citus cluster: rows and sizes come from the shards, not from the
coordinator's empty shell tables."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import psycopg
import pytest

pytestmark = pytest.mark.citus

SCHEMA = """
SET citus.shard_count = 4;
CREATE TABLE users (tenant_id bigint, id bigint, PRIMARY KEY (tenant_id, id));
SELECT create_distributed_table('users', 'tenant_id');
CREATE TABLE orders (tenant_id bigint, id bigint, user_id bigint, PRIMARY KEY (tenant_id, id));
SELECT create_distributed_table('orders', 'tenant_id', colocate_with => 'users');
ALTER TABLE orders ADD CONSTRAINT orders_user_fkey FOREIGN KEY (tenant_id, user_id) REFERENCES users (tenant_id, id);
ALTER TABLE users SET (autovacuum_enabled = off);
ALTER TABLE orders SET (autovacuum_enabled = off);
INSERT INTO users SELECT g % 50, g FROM generate_series(1, 2000) g;
INSERT INTO orders SELECT (g % 2000 + 1) % 50, g, g % 2000 + 1 FROM generate_series(1, 20000) g
"""

MANIFEST = """
[target]
table = "users"
columns = ["tenant_id", "id"]

[[tables]]
name = "orders"
columns = ["tenant_id", "user_id"]
"""


def test_preflight_and_plan_estimate_from_the_shards(citus_db: str, run_cli: Any, tmp_path: Path) -> None:
    with psycopg.connect(citus_db, autocommit=True) as conn:
        for statement in SCHEMA.split(";\n"):
            conn.execute(statement)
        # the coordinator's shell table: never analyzed, no rows
        shell = conn.execute("SELECT reltuples, relpages FROM pg_class WHERE oid = 'orders'::regclass").fetchone()
    assert shell == (-1, 0)
    path = tmp_path / "manifest.toml"
    path.write_text(MANIFEST)

    before = run_cli("preflight", "--manifest", str(path), "--database-url", citus_db, "--json")
    table = [f for f in json.loads(before.out)["findings"] if f["kind"] == "table"]
    assert len(table) == 1 and table[0]["detail"]["shards"] == 4
    assert table[0]["detail"]["cost"] == "unknown"
    assert "ANALYZE on the coordinator" in table[0]["message"]

    with psycopg.connect(citus_db, autocommit=True) as conn:
        conn.execute("ANALYZE users")
        conn.execute("ANALYZE orders")  # Citus runs it on every shard
        shards = conn.execute("SELECT sum(shard_size) FROM citus_shards "
                              "WHERE table_name = 'orders'::regclass").fetchone()
    text = run_cli("preflight", "--manifest", str(path), "--database-url", citus_db)
    assert text.code == 0, text.out + text.err
    line = next(x for x in text.out.splitlines() if " table " in x and "public.orders(tenant_id, user_id)" in x)
    assert "about 20000 rows" in line and "summed over 4 shard(s)" in line, line
    assert "never analyzed" not in line and "validation cost trivial" in line, line
    after = json.loads(run_cli("preflight", "--manifest", str(path), "--database-url", citus_db, "--json").out)
    detail = next(f["detail"] for f in after["findings"] if f["kind"] == "table")
    assert detail["rows_estimate"] == 20000
    # pg_class pages, summed over the shards, against Citus' own measure of the shards' files
    assert shards is not None and 0 < detail["total_bytes"] <= int(shards[0])
    assert detail["heap_bytes"] > 0

    plan = run_cli("plan", "--manifest", str(path), "--database-url", citus_db)
    assert plan.code == 0, plan.out + plan.err
    assert "public.orders: about 20000 rows, " in plan.out and "summed over 4 shard(s)" in plan.out
