"""impact (read-only preview of a deletion) and smoke-test (rolled-back test user), on real data."""

from __future__ import annotations

import json
from typing import Any

import psycopg
import pytest

from tests.helpers import REPO, execute_sql
from tests.test_migrations import repo_alembic

MANIFEST = str(REPO / "manifest.toml")


def counts(url: str) -> dict[str, int]:
    """Row count of every user table, and of rows with a NULL doctor/feedback reference."""
    with psycopg.connect(url) as conn:
        tables = conn.execute(
            "SELECT n.nspname || '.' || c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
            " WHERE c.relkind = 'r' AND n.nspname IN ('public', 'audit') ORDER BY 1"
        ).fetchall()
        out = {}
        for (name,) in tables:
            schema, table = name.split(".")
            row = conn.execute(
                psycopg.sql.SQL("SELECT count(*) FROM {}.{}").format(
                    psycopg.sql.Identifier(schema), psycopg.sql.Identifier(table))
            ).fetchone()
            out[name] = row[0] if row else 0
        for table, col in (("appointments", "doctor_id"), ("consultation_requests", "doctor_id"),
                           ("feedback", "user_id")):
            row = conn.execute(
                psycopg.sql.SQL("SELECT count(*) FROM {} WHERE {} IS NULL").format(
                    psycopg.sql.Identifier(table), psycopg.sql.Identifier(col))
            ).fetchone()
            out[f"null {table}.{col}"] = row[0] if row else 0
    return out


def test_impact_before_the_deploy_lists_the_blocking_fks(demo_db: str, run_cli: Any) -> None:
    before = counts(demo_db)
    result = run_cli("impact", "--database-url", demo_db, "--id", "7", "--json")
    assert result.code == 1
    data = json.loads(result.out)
    assert data["would_fail"] and data["matched"] == 1 and data["read_only"]
    blocked = {e["constraint"] for e in data["blocked"]}
    assert "vitals_raw_data_owner_fk" in blocked and "appointments_patient_fk" in blocked
    assert counts(demo_db) == before


def test_impact_predicts_exactly_what_the_delete_then_does(demo_db: str, run_cli: Any) -> None:
    """After the deploy: the preview's per-table counts equal the real delete's effect."""
    assert repo_alembic(demo_db, "upgrade", "head").returncode == 0
    result = run_cli("impact", "--database-url", demo_db, "--where", "email = 'user003@example.com'", "--json")
    assert result.code == 0, result.out + result.err
    data = json.loads(result.out)
    assert data["matched"] == 1 and not data["would_fail"]
    predicted_deleted = {t["table"]: t["deleted"] for t in data["deleted"]}
    predicted_nulled = {f"null {e['table'].split('.')[1]}.{e['columns'][0]}": e["rows"]
                        for e in data["set_null_or_default"]}
    assert predicted_nulled  # user 3 is a doctor: appointments keep their rows, doctor_id NULL

    with psycopg.connect(demo_db) as conn:
        # rows that reference user 3 in a SET NULL column and are not deleted by another path
        expected_nulled = {
            "null appointments.doctor_id": "SELECT count(*) FROM appointments WHERE doctor_id = 3 AND patient_id <> 3",
            "null consultation_requests.doctor_id":
                "SELECT count(*) FROM consultation_requests WHERE doctor_id = 3 AND user_id <> 3",
            "null feedback.user_id": "SELECT count(*) FROM feedback WHERE user_id = 3",
        }
        actual_nulled = {k: conn.execute(q).fetchone()[0] for k, q in expected_nulled.items()}  # type: ignore[index]
    assert {k: v for k, v in actual_nulled.items() if v} == predicted_nulled

    before = counts(demo_db)
    execute_sql(demo_db, "DELETE FROM users WHERE email = 'user003@example.com'")
    after = counts(demo_db)
    actual_deleted = {k: before[k] - after[k] for k in before if not k.startswith("null") and before[k] != after[k]}
    assert actual_deleted == predicted_deleted
    with psycopg.connect(demo_db) as conn:
        left = conn.execute(
            "SELECT (SELECT count(*) FROM appointments WHERE doctor_id = 3)"
            " + (SELECT count(*) FROM consultation_requests WHERE doctor_id = 3)"
        ).fetchone()
    assert left == (0,)


@pytest.mark.parametrize(
    ("where", "message"),
    [
        ("id = 1; COMMIT; DROP TABLE feedback", "syntax error"),
        ("id = 1) ; DROP TABLE feedback; SELECT (1", "cannot insert multiple commands into a prepared statement"),
        ("id = (SELECT nextval('users_id_seq'))", "read-only transaction"),
        ("id = 1 AND pg_sleep(5) IS NOT NULL", "statement timeout"),
        ("no_such_column = 1", 'column "no_such_column" does not exist'),
        ("  ", "--where is empty"),
    ],
)
def test_hostile_or_broken_where_exits_2_and_changes_nothing(
    demo_db: str, run_cli: Any, where: str, message: str
) -> None:
    before = counts(demo_db)
    result = run_cli("impact", "--database-url", demo_db, "--where", where, "--timeout-ms", "300")
    assert result.code == 2, result.out
    assert message in result.err and result.err.count("\n") == 1
    assert counts(demo_db) == before  # feedback still there, no sequence consumed


def test_impact_unknown_target_and_usage(demo_db: str, run_cli: Any) -> None:
    unknown = run_cli("impact", "--database-url", demo_db, "--target", "nope", "--id", "1")
    assert unknown.code == 2 and "table nope does not exist" in unknown.err
    both = run_cli("impact", "--database-url", demo_db, "--id", "1", "--where", "id = 1")
    assert both.code == 2 and "exactly one of --where and --id" in both.err


def test_smoke_test_fails_before_the_deploy_and_passes_after(demo_db: str, run_cli: Any) -> None:
    before = counts(demo_db)
    failing = run_cli("smoke-test", "--manifest", MANIFEST, "--database-url", demo_db)
    assert failing.code == 1
    assert "FAILED: deleting the test user failed: update or delete on table \"users\" violates" in failing.out
    assert counts(demo_db) == before  # rolled back

    assert repo_alembic(demo_db, "upgrade", "head").returncode == 0
    before = counts(demo_db)
    passing = run_cli("smoke-test", "--manifest", MANIFEST, "--database-url", demo_db, "--json")
    assert passing.code == 0, passing.out
    data = json.loads(passing.out)
    results = {(c["table"], tuple(c["columns"])): c["result"] for c in data["checks"]}
    assert results[("public.vitals_raw_data", ("user_id",))] == "deleted"
    assert results[("public.appointments", ("doctor_id",))] == "nulled"
    assert results[("public.chat_messages", ("session_id",))] == "deleted"  # through the chain
    assert results[("user_medications", ("user_id",))] == "skipped"
    assert sum(r in ("deleted", "nulled") for r in results.values()) == 63
    assert data["rolled_back"] is True
    assert counts(demo_db) == before  # nothing kept


def test_smoke_test_catches_a_wrong_action(demo_db: str, run_cli: Any, tmp_path: Any) -> None:
    """A manifest saying SET NULL where the database cascades: the smoke test says FAILED."""
    assert repo_alembic(demo_db, "upgrade", "head").returncode == 0
    manifest = tmp_path / "m.toml"
    manifest.write_text(
        '[target]\ntable = "users"\n[defaults]\ncolumns = ["user_id"]\n'
        '[[tables]]\nname = "clinical_notes"\non_delete = "SET NULL"\n'
    )
    result = run_cli("smoke-test", "--manifest", str(manifest), "--database-url", demo_db)
    assert result.code == 1
    assert (
        "FAILED     public.clinical_notes(user_id) SET NULL: SET NULL expected, but the row was deleted"
        in result.out
    )
