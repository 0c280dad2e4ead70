"""Schema-based sharding on a real Citus cluster: three tenant schemas, each a distributed schema
(its tables single-shard and colocated, each on a worker), as `fleet` schema targets."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg import sql

from cascade_tool import revisions
from cascade_tool.manifest import load_manifest
from tests.citus import CitusCluster
from tests.helpers import DATA

pytestmark = pytest.mark.citus

MANIFEST = DATA / "fleet_manifest.toml"
TENANTS = ["tenant_a", "tenant_b", "tenant_c"]
REV = "c1705c4e0001"


def _tenants(url: str) -> None:
    """Each tenant's tables from the fleet schema, created in a distributed schema."""
    text = (DATA / "fleet_schema.sql").read_text()
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("SET citus.enable_schema_based_sharding = on")
        for tenant in TENANTS:
            conn.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(tenant)))
            conn.execute(sql.SQL("SET search_path = {}").format(sql.Identifier(tenant)))
            conn.execute(text)


def _fleet(path: Path, url: str) -> Path:
    path.write_text("".join(f'[[targets]]\nname = "{t}"\nurl = "{url}"\nschema = "{t}"\n\n' for t in TENANTS))
    return path


def _statuses(out: str) -> dict[str, str]:
    return {t["name"]: t["status"] for t in json.loads(out)["targets"]}


def _details(out: str) -> dict[str, str]:
    return {t["name"]: t["detail"] for t in json.loads(out)["targets"]}


def _actions(url: str) -> dict[str, list[tuple[str, str, str]]]:
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "SELECT n.nspname, c.conrelid::regclass::text, c.conname, c.confdeltype::text FROM pg_constraint c"
            " JOIN pg_namespace n ON n.oid = c.connamespace WHERE c.contype = 'f' AND n.nspname LIKE 'tenant%'"
            " ORDER BY 1, 2, 3").fetchall()
    out: dict[str, list[tuple[str, str, str]]] = {}
    for schema, table, name, action in rows:
        out.setdefault(schema, []).append((table.split(".")[-1], name, action))
    return out


def test_fleet_plan_and_verify_on_distributed_tenant_schemas(
    citus_cluster: CitusCluster, citus_db: str, run_cli: Any, tmp_path: Path
) -> None:
    _tenants(citus_db)
    with psycopg.connect(citus_db) as conn:
        schemas = conn.execute("SELECT schemaid::regnamespace::text FROM pg_dist_schema ORDER BY 1").fetchall()
        kinds = conn.execute("SELECT DISTINCT citus_table_type FROM citus_tables").fetchall()
    assert [s for (s,) in schemas] == TENANTS and kinds == [("schema",)]
    fleet = _fleet(tmp_path / "fleet.toml", citus_db)

    plan = run_cli("fleet", "plan", "--fleet", str(fleet), "--manifest", str(MANIFEST), "--json")
    assert plan.code == 0, plan.out + plan.err
    assert set(_statuses(plan.out).values()) == {"ready"}
    for detail in _details(plan.out).values():
        assert detail.startswith("4 to convert, 1 to create, 0 unchanged, 0 skipped, 0 blocked;"), detail
        assert "; Citus 13." in detail
    tenant = _details(plan.out)["tenant_a"]
    assert ("4 (tenant_a.posts(user_id), tenant_a.comments(user_id), tenant_a.comments(post_id), "
            "tenant_a.legacy_notes(user_id)) four-step swap(s) without rename, 0 swap(s) with rename, "
            "1 (tenant_a.sessions(user_id)) to add, 0 entries it would reject") in tenant, tenant
    # one tenant's own plan: per entry, tables of a distributed schema, swapped without a rename
    single = tmp_path / "single.toml"
    single.write_text(MANIFEST.read_text())
    one = run_cli("plan", "--manifest", str(single), "--database-url",
                  citus_db + ("&" if "?" in citus_db else "?") + "options=-csearch_path%3Dtenant_b")
    assert one.code == 0, one.out + one.err
    assert "tenant_b.comments(user_id) comments_user_id_fkey -> tenant_b.users (schema -> schema):" in one.out
    assert "Citus refuses renaming constraints of a table of a distributed schema" in one.out

    before = run_cli("fleet", "verify", "--fleet", str(fleet), "--manifest", str(MANIFEST), "--json")
    assert before.code == 1 and set(_statuses(before.out).values()) == {"drift"}

    # Convert tenant_b's FKs the way Citus allows (four steps, no rename), by hand: verify then
    # finds tenant_b clean, on the coordinator and on the worker holding its shards.
    with psycopg.connect(citus_db, autocommit=True) as conn:
        conn.execute("SET search_path = tenant_b")
        for table, name, columns, target, action in [
            ("posts", "posts_user_id_fkey", "user_id", "users (id)", "CASCADE"),
            ("comments", "comments_user_id_fkey", "user_id", "users (id)", "SET NULL"),
            ("comments", "comments_post_id_fkey", "post_id", "posts (id)", "CASCADE"),
            ("legacy_notes", "legacy_notes_user_id_fkey", "user_id", "users (id)", "CASCADE"),
        ]:
            with conn.transaction():
                conn.execute(f"ALTER TABLE {table} ADD CONSTRAINT tmp FOREIGN KEY ({columns}) REFERENCES {target} "
                             f"ON DELETE {action} NOT VALID")
                conn.execute(f"ALTER TABLE {table} DROP CONSTRAINT {name}")
                conn.execute(f"ALTER TABLE {table} ADD CONSTRAINT {name} FOREIGN KEY ({columns}) "
                             f"REFERENCES {target} ON DELETE {action} NOT VALID")
                conn.execute(f"ALTER TABLE {table} DROP CONSTRAINT tmp")
            conn.execute(f"ALTER TABLE {table} VALIDATE CONSTRAINT {name}")
        conn.execute("ALTER TABLE sessions ADD CONSTRAINT sessions_user_id_fkey FOREIGN KEY (user_id) "
                     "REFERENCES users (id) ON DELETE CASCADE")
    after = run_cli("fleet", "verify", "--fleet", str(fleet), "--manifest", str(MANIFEST), "--json")
    assert after.code == 1
    assert _statuses(after.out) == {"tenant_a": "drift", "tenant_b": "ok", "tenant_c": "drift"}

    # tenant_b's shard of posts, on its worker, loses its CASCADE: drift naming shard and node
    with psycopg.connect(citus_db) as conn:
        row = conn.execute("SELECT shardid, shard_name, nodeport FROM citus_shards "
                           "WHERE table_name = 'tenant_b.posts'::regclass").fetchone()
        users = conn.execute("SELECT shardid FROM pg_dist_shard "
                             "WHERE logicalrelid = 'tenant_b.users'::regclass").fetchone()
    assert row is not None and users is not None
    shardid, shard, port = row
    worker = next(w for w in citus_cluster.workers if w.port == port)
    dbname = str(psycopg.conninfo.conninfo_to_dict(citus_db)["dbname"])
    with psycopg.connect(worker.url(dbname), autocommit=True) as conn:
        conn.execute("SET citus.enable_manual_changes_to_shards = on")
        local = str(shard).split(".")[-1]
        name = f"posts_user_id_fkey_{shardid}"
        conn.execute(sql.SQL("ALTER TABLE {}.{} DROP CONSTRAINT {}").format(
            sql.Identifier("tenant_b"), sql.Identifier(local), sql.Identifier(name)))
        conn.execute(sql.SQL("ALTER TABLE {}.{} ADD CONSTRAINT {} FOREIGN KEY (user_id) REFERENCES {}.{} (id) "
                             "NOT VALID").format(sql.Identifier("tenant_b"), sql.Identifier(local),
                                                 sql.Identifier(name), sql.Identifier("tenant_b"),
                                                 sql.Identifier(f"users_{users[0]}")))
    shard_drift = run_cli("fleet", "verify", "--fleet", str(fleet), "--manifest", str(MANIFEST), "--json")
    assert _statuses(shard_drift.out)["tenant_b"] == "drift"
    assert (f"tenant_b.posts(user_id) posts_user_id_fkey: shard tenant_b.{local} on node 127.0.0.1:{port} has "
            "ON DELETE NO ACTION, the manifest wants ON DELETE CASCADE") in _details(shard_drift.out)["tenant_b"]


def test_fleet_apply_converts_distributed_tenant_schemas(
    citus_db: str, run_cli: Any, alembic_project: Path, tmp_path: Path
) -> None:
    _tenants(citus_db)
    revisions.generate(load_manifest(MANIFEST), alembic_project / "migrations" / "versions",
                       "cascade user foreign keys", rev_id=REV)
    fleet = _fleet(tmp_path / "fleet.toml", citus_db)
    up = run_cli("fleet", "apply", "--fleet", str(fleet), "--alembic-ini", str(alembic_project / "alembic.ini"),
                 "--log-dir", str(tmp_path / "logs"), "--parallel", "1", "--json")
    logs = "".join(p.read_text() for p in (tmp_path / "logs").glob("*.log"))
    assert up.code == 0, up.out + up.err + logs[-3000:]
    assert set(_statuses(up.out).values()) == {"upgraded"}
    wanted = [("comments", "comments_post_id_fkey", "c"), ("comments", "comments_user_id_fkey", "n"),
              ("legacy_notes", "legacy_notes_user_id_fkey", "c"), ("posts", "posts_user_id_fkey", "c"),
              ("sessions", "sessions_user_id_fkey", "c")]
    assert _actions(citus_db) == {t: wanted for t in TENANTS}
    verify = run_cli("fleet", "verify", "--fleet", str(fleet), "--manifest", str(MANIFEST), "--json")
    assert verify.code == 0, verify.out
    assert set(_statuses(verify.out).values()) == {"ok"}
    with psycopg.connect(citus_db, autocommit=True) as conn:
        conn.execute("DELETE FROM tenant_a.users WHERE id = 1")
        left = conn.execute("SELECT count(*) FROM tenant_a.posts WHERE user_id = 1").fetchone()
    assert left == (0,)
