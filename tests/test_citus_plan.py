"""plan on a real Citus cluster: every rule cascade_tool.distributed applies, checked by running
the plan's own ALTER TABLE statements on the coordinator and comparing what Citus did with what
plan predicted (each statement in a transaction that is rolled back)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg import sql

from cascade_tool import distributed
from cascade_tool import plan as planning
from cascade_tool.manifest import parse_manifest

pytestmark = pytest.mark.citus

SCHEMA = """
SET citus.shard_count = 4;
CREATE TABLE users (tenant_id bigint, id bigint, PRIMARY KEY (tenant_id, id));
SELECT create_distributed_table('users', 'tenant_id');
CREATE TABLE countries (id int PRIMARY KEY, tenant_id bigint, user_id bigint, cl_id int, local_id int);
SELECT create_reference_table('countries');
CREATE TABLE tenants (id bigint PRIMARY KEY);
SELECT create_reference_table('tenants');
CREATE TABLE regions (id int PRIMARY KEY, country_id int, cl_id int);
SELECT create_reference_table('regions');
CREATE TABLE regions2 (id int PRIMARY KEY, country_id int);
SELECT create_reference_table('regions2');
CREATE TABLE cl (id int PRIMARY KEY, country_id int, tenant_id bigint, user_id bigint);
SELECT citus_add_local_table_to_metadata('cl');
-- a local table that Citus adds to its metadata itself (an FK to a reference table)
CREATE TABLE cl2 (id int PRIMARY KEY, country_id int REFERENCES countries (id));
CREATE TABLE local_parent (id int PRIMARY KEY);
CREATE TABLE local_child (id int PRIMARY KEY, parent_id int REFERENCES local_parent (id));
CREATE TABLE plain (id int PRIMARY KEY, tenant_id bigint, user_id bigint);
CREATE TABLE single (id int PRIMARY KEY, tenant_id bigint, user_id bigint, country_id int);
SELECT create_distributed_table('single', NULL);
SET citus.enable_schema_based_sharding = on;
CREATE SCHEMA t1;
CREATE TABLE t1.accounts (id bigint PRIMARY KEY);
CREATE TABLE t1.notes (id bigint PRIMARY KEY, account_id bigint, country_id int, tenant_id bigint, user_id bigint);
CREATE TABLE t1.posts (id bigint PRIMARY KEY, account_id bigint REFERENCES t1.accounts (id));
CREATE SCHEMA t2;
CREATE TABLE t2.accounts (id bigint PRIMARY KEY);
SET citus.enable_schema_based_sharding = off;
"""

# One hash-distributed table per case: (name, colocated with users).
DIST = [("d_cascade", True), ("d_setnull", True), ("d_setdefault", True), ("d_swapped", True),
        ("d_nodist", True), ("d_noncoloc", False), ("d_ref", True), ("d_ref_setnull", True),
        ("d_ref_distcol", True), ("d_cl", True), ("d_local", True), ("d_tenant", True),
        ("d_conv", True), ("d_conv_setnull", True), ("d_conv_ref", True)]

# (table, columns, target, references, on_delete, rejected by Citus?)
CASES: list[tuple[str, list[str], str, list[str], str, bool]] = [
    ("d_cascade", ["tenant_id", "user_id"], "users", ["tenant_id", "id"], "CASCADE", False),
    ("d_setnull", ["tenant_id", "user_id"], "users", ["tenant_id", "id"], "SET NULL", True),
    ("d_setdefault", ["tenant_id", "user_id"], "users", ["tenant_id", "id"], "SET DEFAULT", True),
    ("d_swapped", ["user_id", "tenant_id"], "users", ["tenant_id", "id"], "CASCADE", True),
    ("d_nodist", ["other_id", "user_id"], "users", ["tenant_id", "id"], "CASCADE", True),
    ("d_noncoloc", ["tenant_id", "user_id"], "users", ["tenant_id", "id"], "CASCADE", True),
    ("d_ref", ["country_id"], "countries", ["id"], "CASCADE", False),
    ("d_ref_setnull", ["country_id"], "countries", ["id"], "SET NULL", False),
    ("d_ref_distcol", ["tenant_id"], "tenants", ["id"], "SET NULL", True),
    ("d_cl", ["country_id"], "cl", ["id"], "CASCADE", True),
    ("d_local", ["country_id"], "local_parent", ["id"], "CASCADE", True),
    ("d_tenant", ["user_id"], "t1.accounts", ["id"], "CASCADE", True),
    ("countries", ["tenant_id", "user_id"], "users", ["tenant_id", "id"], "CASCADE", True),
    ("countries", ["cl_id"], "cl", ["id"], "CASCADE", True),
    ("countries", ["local_id"], "local_parent", ["id"], "CASCADE", True),
    ("regions", ["country_id"], "countries", ["id"], "SET NULL", False),
    ("cl", ["country_id"], "countries", ["id"], "CASCADE", False),
    ("cl", ["tenant_id", "user_id"], "users", ["tenant_id", "id"], "CASCADE", True),
    ("plain", ["tenant_id", "user_id"], "users", ["tenant_id", "id"], "CASCADE", False),
    ("t1.notes", ["account_id"], "t1.accounts", ["id"], "SET NULL", False),
    ("t1.notes", ["user_id"], "t2.accounts", ["id"], "CASCADE", True),
    ("t1.notes", ["country_id"], "countries", ["id"], "CASCADE", False),
    ("t1.notes", ["tenant_id", "user_id"], "users", ["tenant_id", "id"], "CASCADE", True),
    ("single", ["tenant_id", "user_id"], "users", ["tenant_id", "id"], "CASCADE", True),
    ("single", ["country_id"], "countries", ["id"], "SET NULL", False),
    # existing FKs (NO ACTION) the upgrade converts
    ("d_conv", ["tenant_id", "user_id"], "users", ["tenant_id", "id"], "CASCADE", False),
    ("d_conv_setnull", ["tenant_id", "user_id"], "users", ["tenant_id", "id"], "SET NULL", True),
    ("regions2", ["country_id"], "countries", ["id"], "CASCADE", False),
    ("d_conv_ref", ["country_id"], "countries", ["id"], "CASCADE", False),
    ("cl2", ["country_id"], "countries", ["id"], "CASCADE", False),
    ("local_child", ["parent_id"], "local_parent", ["id"], "CASCADE", False),
    ("t1.posts", ["account_id"], "t1.accounts", ["id"], "CASCADE", False),
]
EXISTING = """
ALTER TABLE d_conv ADD CONSTRAINT d_conv_user_fkey FOREIGN KEY (tenant_id, user_id) REFERENCES users (tenant_id, id);
ALTER TABLE d_conv_setnull ADD CONSTRAINT d_conv_setnull_user_fkey
  FOREIGN KEY (tenant_id, user_id) REFERENCES users (tenant_id, id);
ALTER TABLE regions2 ADD CONSTRAINT regions2_country_fkey FOREIGN KEY (country_id) REFERENCES countries (id);
ALTER TABLE d_conv_ref ADD CONSTRAINT d_conv_ref_country_fkey FOREIGN KEY (country_id) REFERENCES countries (id);
"""


def _manifest() -> str:
    lines = ['[target]\ntable = "users"\ncolumns = ["tenant_id", "id"]\n']
    for table, columns, target, references, on_delete, _ in CASES:
        lines.append(f"[[tables]]\nname = {json.dumps(table)}\ncolumns = {json.dumps(columns)}\n"
                     f"target = {json.dumps(target)}\nreferences = {json.dumps(references)}\n"
                     f"on_delete = {json.dumps(on_delete)}\n")
    return "\n".join(lines)


def _setup(url: str) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        for statement in SCHEMA.split(";\n"):
            if statement.strip():
                conn.execute(statement)
        for name, colocated in DIST:
            conn.execute(f"CREATE TABLE {name} (tenant_id bigint, id bigint, user_id bigint, other_id bigint, "
                         "country_id int, PRIMARY KEY (tenant_id, id))")
            conn.execute("SELECT create_distributed_table(%s, 'tenant_id', colocate_with => %s)",
                         (name, "users" if colocated else "none"))
        for statement in EXISTING.split(";\n"):
            if statement.strip():
                conn.execute(statement)


def _accepted(url: str, statements: list[str]) -> tuple[bool, str]:
    """Run the statements in one transaction on the coordinator and roll back: did Citus accept?"""
    with psycopg.connect(url) as conn:
        try:
            for statement in statements:
                conn.execute(statement)
        except psycopg.Error as exc:
            return False, str(exc).splitlines()[0]
        finally:
            conn.rollback()
    return True, ""


def test_plan_predicts_what_citus_accepts_and_rejects(citus_db: str, run_cli: Any, tmp_path: Path) -> None:
    _setup(citus_db)
    manifest = parse_manifest(_manifest())
    with psycopg.connect(citus_db) as conn:
        steps = planning.build_steps(conn, manifest)
        report = distributed.check(conn, steps)
    assert report.version is not None and report.version.startswith("13.")
    assert [s.action for s in steps] == ["create"] * 25 + ["convert"] * 7
    assert len(report.entries) == len(CASES)
    kinds = {(e.table, e.target): (e.table_kind, e.target_kind) for e in report.entries}
    assert kinds[("public.cl2", "public.countries")] == ("citus local", "reference")
    assert kinds[("t1.posts", "t1.accounts")] == ("schema", "schema")
    assert kinds[("public.local_child", "public.local_parent")] == ("local", "local")
    assert kinds[("public.d_noncoloc", "public.users")] == ("distributed", "distributed")
    assert kinds[("public.regions", "public.countries")] == ("reference", "reference")
    assert kinds[("public.single", "public.countries")] == ("single-shard", "reference")

    mismatches = []
    changing = [s for s in steps if s.action in ("convert", "create")]
    for step, entry, case in zip(changing, report.entries, CASES, strict=True):
        assert (step.table, step.target) == (entry.table, entry.target)
        # The statements that add the new FK: what Citus judges (the rename is judged below).
        adds = [s for s in step.swap_statements if " ADD CONSTRAINT " in s]
        assert adds, step
        ok, message = _accepted(citus_db, adds)
        predicted = entry.rejected is None
        if ok != predicted or predicted == case[5]:
            mismatches.append((entry.where, entry.target, "cluster", ok, message, "plan", entry.rejected))
    assert mismatches == []


def test_plan_predicts_which_swaps_need_no_rename(citus_db: str) -> None:
    """The plain swap (add, drop, rename) runs only on local tables: Citus refuses RENAME
    CONSTRAINT on distributed, reference, Citus local and distributed-schema tables alike."""
    _setup(citus_db)
    manifest = parse_manifest(_manifest())
    with psycopg.connect(citus_db) as conn:
        steps = planning.build_steps(conn, manifest)
        report = distributed.check(conn, steps)
    changing = [s for s in steps if s.action in ("convert", "create")]
    converts = [(s, e) for s, e in zip(changing, report.entries, strict=True)
                if s.action == "convert" and e.rejected is None]
    assert sorted(e.table_kind for _, e in converts) == [
        "citus local", "distributed", "distributed", "local", "reference", "schema"]
    for step, entry in converts:
        schema, table = entry.table.split(".")
        rename = sql.SQL("ALTER TABLE {}.{} RENAME CONSTRAINT {} TO {}").format(
            sql.Identifier(schema), sql.Identifier(table), sql.Identifier(entry.constraint or ""),
            sql.Identifier("renamed")).as_string(None)
        ok, message = _accepted(citus_db, [rename])
        assert (entry.swap == "rename") == ok, (entry.where, entry.swap, message)
        if not ok:
            assert "renaming constraints belonging to distributed tables is currently unsupported" in message
        # the lookup's own swap: it runs where it renames only on a local table
        ok, message = _accepted(citus_db, step.swap_statements)
        renames = any(" RENAME CONSTRAINT " in s for s in step.swap_statements)
        assert ok == (entry.swap == "rename" or not renames), (entry.where, message)
    # ... and the four-step swap plan shows in their place runs there, keeping the name.
    shown = {(s.entry, s.constraint): s for s in distributed.as_on_citus(steps, report)}
    for step, entry in converts:
        if entry.swap != "four-step":
            continue
        swap = shown[(step.entry, step.constraint)].swap_statements
        assert not any(" RENAME CONSTRAINT " in s for s in swap), swap
        with psycopg.connect(citus_db) as conn:
            for statement in swap:
                conn.execute(statement)
            after = conn.execute("SELECT conname, confdeltype::text FROM pg_constraint WHERE contype = 'f' "
                                 "AND conrelid = %s::regclass", (entry.table,)).fetchall()
            conn.rollback()
        assert after == [(entry.constraint, "c")], (entry.where, after)
    # Why the sequential mode: after a parallel read of the distributed table in the same
    # transaction (as an orphan check does), Citus refuses an FK to a reference table, unless the
    # transaction runs in sequential mode; an FK between distributed tables does not need it.
    for step, entry in converts:
        if entry.table_kind != "distributed":
            continue
        swap = [s for s in shown[(step.entry, step.constraint)].swap_statements
                if "multi_shard_modify_mode" not in s]
        assert _accepted(citus_db, swap)[0]  # the swap alone runs in parallel mode too
        parallel, message = _accepted(citus_db, [f"SELECT count(*) FROM {entry.table}", *swap])
        assert parallel != entry.sequential, (entry.where, message)
        if entry.sequential:
            assert "because there was a parallel operation on a distributed table" in message
            assert _accepted(citus_db, [distributed.SEQUENTIAL, f"SELECT count(*) FROM {entry.table}", *swap])[0]
    sequential = {e.where for e in report.entries if e.sequential}
    assert "public.d_ref(country_id)" in sequential and "t1.notes(country_id)" in sequential
    assert "public.d_conv_ref(country_id)" in sequential
    assert "public.cl(country_id)" not in sequential and "public.regions(country_id)" not in sequential


def test_plan_cli_on_citus_says_per_entry_and_exits_1(citus_db: str, run_cli: Any, tmp_path: Path) -> None:
    _setup(citus_db)
    path = tmp_path / "manifest.toml"
    path.write_text(_manifest())
    result = run_cli("plan", "--manifest", str(path), "--database-url", citus_db)
    assert result.code == 1, result.err
    assert ("public.d_conv(tenant_id, user_id) d_conv_user_fkey -> public.users (distributed -> distributed):"
            in result.out)
    assert "four-step swap without RENAME CONSTRAINT" in result.out
    assert "swap with RENAME CONSTRAINT (a local table)" in result.out
    assert "REJECTED: Citus rejects ON DELETE SET NULL on an FK that includes the distribution column" in result.out
    assert "multi_shard_modify_mode = 'sequential' for it" in result.out
    assert "options=-c" not in result.out
    rejected = sum(1 for c in CASES if c[5])
    assert "it would reject:" in result.out and f": {rejected} entries it would reject" in result.out
    script = run_cli("plan", "--manifest", str(path), "--database-url", citus_db, "--sql").out
    renames = [line for line in script.splitlines() if " RENAME CONSTRAINT " in line]
    assert len(renames) == 1 and renames[0].startswith("ALTER TABLE public.local_child "), renames
    assert "ALTER TABLE public.d_conv DROP CONSTRAINT cascade_tmp_" in script
    # from a sharded table to a reference table: d_ref, d_ref_setnull, d_ref_distcol, t1.notes, single,
    # d_conv_ref
    assert sum("citus.multi_shard_modify_mode" in line for line in script.splitlines()) == 6
    as_json = run_cli("plan", "--manifest", str(path), "--database-url", citus_db, "--json")
    data = json.loads(as_json.out)["citus"]
    assert len(data["rejected"]) == rejected
    assert {e["swap"] for e in data["entries"]} == {"add", "rename", "four-step"}
    fleet = tmp_path / "fleet.toml"
    fleet.write_text(f'[[targets]]\nname = "coordinator"\nurl = "{citus_db}"\n')
    fleet_plan = run_cli("fleet", "plan", "--fleet", str(fleet), "--manifest", str(path), "--json")
    assert fleet_plan.code == 1, fleet_plan.out + fleet_plan.err
    [target] = json.loads(fleet_plan.out)["targets"]
    assert target["status"] == "blocked"
    assert f"{len(data['rejected'])} entries it would reject; " in target["detail"]
    assert "public.d_conv(tenant_id, user_id)" in target["detail"].split(" four-step swap(s)")[0]
    assert "public.d_conv_ref(country_id) sequential" in target["detail"]
    assert "1 (public.local_child(parent_id)) swap(s) with rename" in target["detail"]
    assert all(line in target["detail"] for line in data["rejected"])
