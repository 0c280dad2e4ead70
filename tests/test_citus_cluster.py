"""The Citus test cluster itself: three nodes, distributed tables reach the workers."""

from __future__ import annotations

import psycopg
import pytest

pytestmark = pytest.mark.citus


def test_a_distributed_table_places_shards_on_both_workers(citus_db: str) -> None:
    with psycopg.connect(citus_db, autocommit=True) as conn:
        conn.execute("CREATE TABLE users (tenant_id bigint, id bigint, PRIMARY KEY (tenant_id, id))")
        conn.execute("SELECT create_distributed_table('users', 'tenant_id')")
        nodes = conn.execute(
            "SELECT count(DISTINCT nodeport) FROM pg_dist_shard_placement p "
            "JOIN pg_dist_shard s USING (shardid) WHERE s.logicalrelid = 'users'::regclass"
        ).fetchone()
        workers = conn.execute("SELECT count(*) FROM citus_get_active_worker_nodes()").fetchone()
    assert workers == (2,)
    assert nodes is not None and nodes[0] >= 2
