"""verify on a real Citus cluster: the coordinator's FKs and every shard placement's copy of them.
A shard whose FK is changed by hand on a worker is drift, named with its node."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg import sql

from tests.citus import CitusCluster

pytestmark = pytest.mark.citus

SCHEMA = """
SET citus.shard_count = 4;
CREATE TABLE users (tenant_id bigint, id bigint, PRIMARY KEY (tenant_id, id));
SELECT create_distributed_table('users', 'tenant_id');
CREATE TABLE countries (id int PRIMARY KEY);
SELECT create_reference_table('countries');
CREATE TABLE orders (tenant_id bigint, id bigint, user_id bigint, country_id int, PRIMARY KEY (tenant_id, id));
SELECT create_distributed_table('orders', 'tenant_id', colocate_with => 'users');
ALTER TABLE orders ADD CONSTRAINT orders_user_fkey FOREIGN KEY (tenant_id, user_id) REFERENCES users (tenant_id, id)
  ON DELETE CASCADE;
ALTER TABLE orders ADD CONSTRAINT orders_country_fkey FOREIGN KEY (country_id) REFERENCES countries (id)
  ON DELETE CASCADE;
CREATE TABLE regions (id int PRIMARY KEY, country_id int REFERENCES countries (id) ON DELETE CASCADE);
SELECT create_reference_table('regions');
CREATE TABLE offices (id int PRIMARY KEY, country_id int REFERENCES countries (id) ON DELETE CASCADE)
"""

MANIFEST = """
[target]
table = "users"
columns = ["tenant_id", "id"]

[[tables]]
name = "orders"
columns = ["tenant_id", "user_id"]

[[tables]]
name = "orders"
columns = ["country_id"]
target = "countries"
references = ["id"]

[[tables]]
name = "regions"
columns = ["country_id"]
target = "countries"
references = ["id"]

[[tables]]
name = "offices"
columns = ["country_id"]
target = "countries"
references = ["id"]
"""


def _shard_on(url: str, table: str, port: int) -> tuple[int, str]:
    with psycopg.connect(url) as conn:
        row = conn.execute("SELECT shardid, shard_name FROM citus_shards WHERE table_name = %s::regclass "
                           "AND nodeport = %s ORDER BY shardid LIMIT 1", (table, port)).fetchone()
    assert row is not None
    return int(row[0]), str(row[1])


def test_verify_checks_every_shard_placement(
    citus_cluster: CitusCluster, citus_db: str, run_cli: Any, tmp_path: Path
) -> None:
    with psycopg.connect(citus_db, autocommit=True) as conn:
        for statement in SCHEMA.split(";\n"):
            conn.execute(statement)
        # offices became a Citus local table (its FK to a reference table): its shard is on the coordinator
        kind = conn.execute("SELECT citus_table_type FROM citus_tables "
                            "WHERE table_name = 'offices'::regclass").fetchone()
    assert kind == ("local",)
    path = tmp_path / "manifest.toml"
    path.write_text(MANIFEST)
    ok = run_cli("verify", "--manifest", str(path), "--database-url", citus_db)
    assert ok.code == 0, ok.out + ok.err
    assert "OK: 4 entries match the manifest" in ok.out

    # One shard of orders on the second worker loses its CASCADE, by hand, on that worker only.
    worker = citus_cluster.workers[1]
    shardid, shard = _shard_on(citus_db, "orders", worker.port)
    dbname = psycopg.conninfo.conninfo_to_dict(citus_db)["dbname"]
    with psycopg.connect(citus_db) as conn:
        row = conn.execute("SELECT u.shardid FROM pg_dist_shard o JOIN pg_dist_shard u USING (shardminvalue) "
                           "WHERE o.shardid = %s AND u.logicalrelid = 'users'::regclass", (shardid,)).fetchone()
    assert row is not None
    with psycopg.connect(worker.url(str(dbname)), autocommit=True) as conn:
        conn.execute("SET citus.enable_manual_changes_to_shards = on")
        name = f"orders_user_fkey_{shardid}"
        conn.execute(sql.SQL("ALTER TABLE {} DROP CONSTRAINT {}").format(sql.Identifier(shard), sql.Identifier(name)))
        conn.execute(sql.SQL("ALTER TABLE {} ADD CONSTRAINT {} FOREIGN KEY (tenant_id, user_id) REFERENCES {} "
                             "(tenant_id, id) NOT VALID").format(
            sql.Identifier(shard), sql.Identifier(name), sql.Identifier(f"users_{row[0]}")))
    # ... and the coordinator's Citus local shard of offices loses its FK altogether.
    local_shard, local_name = _shard_on(citus_db, "offices", citus_cluster.coordinator.port)
    with psycopg.connect(citus_db, autocommit=True) as conn:
        conn.execute("SET citus.enable_manual_changes_to_shards = on")
        conn.execute(sql.SQL("ALTER TABLE {} DROP CONSTRAINT {}").format(
            sql.Identifier(local_name), sql.Identifier(f"offices_country_id_fkey_{local_shard}")))

    drift = run_cli("verify", "--manifest", str(path), "--database-url", citus_db)
    assert drift.code == 1, drift.out + drift.err
    node = f"127.0.0.1:{worker.port}"
    assert (f"DRIFT: public.orders(tenant_id, user_id) orders_user_fkey: shard public.{shard} on node {node} "
            "has ON DELETE NO ACTION, the manifest wants ON DELETE CASCADE") in drift.out
    assert (f"DRIFT: public.offices(country_id) offices_country_id_fkey: shard public.{local_name} on node "
            f"127.0.0.1:{citus_cluster.coordinator.port} has no copy of the FK") in drift.out
    assert drift.out.count("DRIFT: ") == 2  # the coordinator's own FKs and every other shard are fine
    as_json = json.loads(run_cli("verify", "--manifest", str(path), "--database-url", citus_db, "--json").out)
    assert as_json["ok"] is False
    assert [(d["shard"], d["actual"]) for d in as_json["shard_drift"]] == [
        (f"public.{shard}", "NO ACTION"), (f"public.{local_name}", None)]
