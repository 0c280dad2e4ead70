"""NOT VALID foreign keys: verify's warnings, validate = "later", and `cascade-tool validate`.

Every test runs on a real server (PostgreSQL 15 and 18): catalog state (convalidated), the
bookkeeping table, row counts and exit codes are what they assert.
"""

from __future__ import annotations

import json
import re
import threading
import time
from pathlib import Path
from typing import Any

import psycopg
import pytest

from cascade_tool.manifest import parse_manifest
from tests.helpers import alembic, execute_sql

SCHEMA = """
CREATE TABLE users (id bigint PRIMARY KEY);
INSERT INTO users SELECT g FROM generate_series(1, 100) AS g;
-- NO ACTION and valid: converted to CASCADE (validated by the deploy, or later)
CREATE TABLE posts (id bigserial PRIMARY KEY, user_id bigint REFERENCES users (id));
INSERT INTO posts (user_id) SELECT 1 + g % 100 FROM generate_series(1, 20000) AS g;
-- two FKs of one table, both NOT VALID before the upgrade
CREATE TABLE comments (id bigserial PRIMARY KEY, user_id bigint, editor_id bigint);
INSERT INTO comments (user_id, editor_id) SELECT 1 + g % 100, 1 + g % 50 FROM generate_series(1, 2000) AS g;
ALTER TABLE comments ADD CONSTRAINT comments_user_id_fkey FOREIGN KEY (user_id)
    REFERENCES users (id) ON DELETE CASCADE NOT VALID;
ALTER TABLE comments ADD CONSTRAINT comments_editor_id_fkey FOREIGN KEY (editor_id)
    REFERENCES users (id) NOT VALID;
-- no FK yet: created
CREATE TABLE likes (user_id bigint);
INSERT INTO likes SELECT 1 + g % 100 FROM generate_series(1, 500) AS g;
ANALYZE;
"""

MANIFEST = """
[target]
table = "users"

[defaults]
columns = ["user_id"]
{defaults}

[[tables]]
name = "posts"

[[tables]]
name = "comments"

[[tables]]
name = "comments"
columns = ["editor_id"]
on_delete = "SET NULL"

[[tables]]
name = "likes"
"""

ALL = [
    ("comments", "comments_editor_id_fkey"), ("comments", "comments_user_id_fkey"),
    ("likes", "likes_user_id_fkey"), ("posts", "posts_user_id_fkey"),
]


@pytest.fixture
def db(empty_db: str) -> str:
    execute_sql(empty_db, SCHEMA)
    return empty_db


def write_manifest(tmp_path: Path, defaults: str = "") -> str:
    path = tmp_path / "manifest.toml"
    path.write_text(MANIFEST.format(defaults=defaults))
    return str(path)


def deploy(project: Path, manifest: str, url: str, run_cli: Any) -> str:
    gen = run_cli("generate", "--manifest", manifest, "--versions-dir",
                  str(project / "migrations" / "versions"), "--rev-id", "val0001")
    assert gen.code == 0, gen.err
    up = alembic(project, url, "upgrade", "head")
    assert up.returncode == 0, up.stderr
    return up.stdout


def validity(url: str) -> dict[tuple[str, str], bool]:
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "SELECT r.relname, c.conname, c.convalidated FROM pg_constraint c"
            " JOIN pg_class r ON r.oid = c.conrelid WHERE c.contype = 'f' AND r.relnamespace = 'public'::regnamespace"
        ).fetchall()
    return {(r[0], r[1]): r[2] for r in rows}


def counts(url: str) -> dict[str, int]:
    with psycopg.connect(url) as conn:
        return {t: conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0]  # type: ignore[index]
                for t in ("users", "posts", "comments", "likes")}


def test_bad_validate_value_is_one_line_naming_the_entry(tmp_path: Path, run_cli: Any) -> None:
    path = tmp_path / "m.toml"
    path.write_text(MANIFEST.format(defaults="").replace('name = "likes"', 'name = "likes"\nvalidate = "soon"'))
    result = run_cli("plan", "--manifest", str(path), "--database-url", "postgresql://nowhere/x")
    assert result.code == 2
    assert result.err == (
        f"cascade-tool: error: {path}: tables[3] (likes): validate = 'soon' is not one of \"now\", \"later\""
        ' ("later" leaves the FK NOT VALID for cascade-tool validate)\n'
    )
    path.write_text(MANIFEST.format(defaults="validate = true"))
    result = run_cli("plan", "--manifest", str(path), "--database-url", "postgresql://nowhere/x")
    assert result.code == 2
    assert result.err.startswith(f"cascade-tool: error: {path}: [defaults]: validate = True is not one of")


def test_validate_option_defaults_and_per_entry() -> None:
    """[defaults] validate applies to every entry, an entry may override it; the lookup's JSON
    (and so the revision) mentions it only when it is "later", so other manifests render as before."""
    text = MANIFEST.format(defaults='validate = "later"').replace(
        'name = "likes"', 'name = "likes"\nvalidate = "now"')
    manifest = parse_manifest(text, "m.toml")
    assert [e.validate for e in manifest.entries] == ["later", "later", "later", "now"]
    assert [p.get("validate") for p in manifest.payload()] == ["later", "later", "later", None]
    plain = parse_manifest(MANIFEST.format(defaults=""), "m.toml")
    assert all(e.validate == "now" and "validate" not in p for e, p in zip(plain.entries, plain.payload(), strict=True))


def test_validate_locks_the_child_and_only_row_share_on_the_referenced_table(db: str) -> None:
    """Why --jobs keeps apart validations of one child table only: VALIDATE takes SHARE UPDATE
    EXCLUSIVE (self-conflicting) on the child and ROW SHARE (compatible with itself) on users."""
    with psycopg.connect(db) as conn:
        conn.execute("ALTER TABLE comments VALIDATE CONSTRAINT comments_user_id_fkey")
        locks = conn.execute(
            "SELECT relation::regclass::text, mode FROM pg_locks WHERE pid = pg_backend_pid()"
            " AND locktype = 'relation' AND relation::regclass::text IN ('comments', 'users')"
        ).fetchall()
        conn.rollback()
    # (AccessShareLock: the check query reading both; it conflicts only with ACCESS EXCLUSIVE)
    assert sorted(set(locks)) == [
        ("comments", "AccessShareLock"), ("comments", "ShareUpdateExclusiveLock"),
        ("users", "AccessShareLock"), ("users", "RowShareLock"),
    ]


def test_pre_existing_not_valid_fk_is_a_warning_and_strict_fails(
    db: str, tmp_path: Path, alembic_project: Path, run_cli: Any
) -> None:
    """validate = "now": the deploy validates what it swaps or creates, keeps the two FKs that
    were NOT VALID before as they were; verify exits 0 with a warning per FK giving the statement,
    --strict exits 1; lint reports them as warnings too."""
    manifest = write_manifest(tmp_path)
    out = deploy(alembic_project, manifest, db, run_cli)
    assert re.search(r"^  \[1/4\] converted public\.posts\.posts_user_id_fkey \(NO ACTION -> CASCADE\), "
                     r"index built on public\.posts \(user_id\), validated, \d+ ms$", out, re.M), out
    assert validity(db) == {
        ("comments", "comments_editor_id_fkey"): False, ("comments", "comments_user_id_fkey"): False,
        ("likes", "likes_user_id_fkey"): True, ("posts", "posts_user_id_fkey"): True,
    }
    verify = run_cli("verify", "--manifest", manifest, "--database-url", db)
    assert verify.code == 0, verify.out
    assert (
        'warning: public.comments(user_id) comments_user_id_fkey is NOT VALID: its ON DELETE action applies, '
        "but rows written before it was added were never checked; validate it: "
        'ALTER TABLE "public"."comments" VALIDATE CONSTRAINT "comments_user_id_fkey";'
    ) in verify.out.splitlines()
    assert verify.out.splitlines()[-1] == (
        "OK: 4 entries match the manifest, no drift; 2 NOT VALID foreign key(s) to validate "
        "(warnings: verify --strict fails on them)."
    )
    strict = run_cli("verify", "--manifest", manifest, "--database-url", db, "--strict", "--json")
    assert strict.code == 1
    data = json.loads(strict.out)
    assert data["ok"] is False and data["drift"] == 0
    assert [(w["kind"], w["constraint"], w["statement"]) for w in data["warnings"]] == [
        ("not_valid", "comments_user_id_fkey",
         'ALTER TABLE "public"."comments" VALIDATE CONSTRAINT "comments_user_id_fkey";'),
        ("not_valid", "comments_editor_id_fkey",
         'ALTER TABLE "public"."comments" VALIDATE CONSTRAINT "comments_editor_id_fkey";'),
    ]
    lint = run_cli("lint", "--manifest", manifest, "--database-url", db, "--json")
    assert lint.code == 0, lint.out
    findings = [(f["severity"], f["kind"], f["fix"]) for f in json.loads(lint.out)
                if f["kind"] == "not_valid"]
    assert ("warning", "not_valid",
            'ALTER TABLE "public"."comments" VALIDATE CONSTRAINT "comments_user_id_fkey";') in findings

    done = run_cli("validate", "--manifest", manifest, "--database-url", db)
    assert done.code == 0, done.out + done.err
    assert all(validity(db).values())
    assert run_cli("verify", "--manifest", manifest, "--database-url", db, "--strict").code == 0


def test_validate_later_then_validate_with_two_jobs(
    db: str, tmp_path: Path, alembic_project: Path, run_cli: Any
) -> None:
    """validate = "later": the deploy swaps and creates NOT VALID only and records the validations
    as pending; verify warns (0), --strict fails (1); `validate --jobs 2` validates all four
    (pending and pre-existing), updates the bookkeeping, and verify --strict passes."""
    manifest = write_manifest(tmp_path, 'validate = "later"')
    before = counts(db)
    out = deploy(alembic_project, manifest, db, run_cli)
    assert re.search(
        r'^  \[1/4\] converted public\.posts\.posts_user_id_fkey \(NO ACTION -> CASCADE\), index built on '
        r'public\.posts \(user_id\), NOT VALID: validation pending \(validate = "later"\), \d+ ms$', out, re.M), out
    assert re.search(r'^  \[4/4\] created public\.likes\.likes_user_id_fkey \(ON DELETE CASCADE\), index built on '
                     r'public\.likes \(user_id\), NOT VALID: validation pending', out, re.M), out
    assert ", validated" not in out
    assert not any(validity(db).values())
    verify = run_cli("verify", "--manifest", manifest, "--database-url", db, "--json")
    assert verify.code == 0, verify.out
    kinds = {w["constraint"]: w["kind"] for w in json.loads(verify.out)["warnings"]}
    assert kinds == {"posts_user_id_fkey": "pending", "comments_user_id_fkey": "not_valid",
                     "comments_editor_id_fkey": "not_valid", "likes_user_id_fkey": "pending"}
    text = run_cli("verify", "--manifest", manifest, "--database-url", db)
    assert (
        'warning: public.posts(user_id) posts_user_id_fkey: validation pending (validate = "later"); its ON '
        'DELETE action applies already; run cascade-tool validate, or: ALTER TABLE "public"."posts" '
        'VALIDATE CONSTRAINT "posts_user_id_fkey";'
    ) in text.out.splitlines()
    assert run_cli("verify", "--manifest", manifest, "--database-url", db, "--strict").code == 1

    result = run_cli("validate", "--manifest", manifest, "--database-url", db, "--jobs", "2", "--json")
    assert result.code == 0, result.out + result.err
    data = json.loads(result.out)
    assert data["validated"] == 4 and data["remaining"] == 0 and data["jobs"] == 2
    assert sorted((f["table"], f["constraint"], f["result"], f["orphans"]) for f in data["fks"]) == [
        ("public." + t, c, "validated", 0) for t, c in ALL
    ]
    assert all(validity(db).values())
    with psycopg.connect(db) as conn:
        pending = conn.execute("SELECT constraint_name FROM cascade_tool.fk_changes"
                               " WHERE validate_later AND validated_at IS NULL").fetchall()
    assert pending == []
    assert run_cli("verify", "--manifest", manifest, "--database-url", db, "--strict").code == 0
    assert counts(db) == before
    again = run_cli("validate", "--manifest", manifest, "--database-url", db)
    assert again.code == 0
    assert again.out == ""
    assert again.err.startswith("OK: 0 validated, 0 skipped for orphan rows, 0 failed, 0 remaining, 4 already valid")


def test_validation_that_hits_orphans_is_skipped_and_deletes_nothing(
    db: str, tmp_path: Path, run_cli: Any
) -> None:
    """Rows that reference no user (written before the FK, with triggers off): the FK is skipped
    with the command that lists them, exit 1, every row still there; the others are validated."""
    execute_sql(db, "SET session_replication_role = replica;"
                    " INSERT INTO comments (user_id, editor_id) VALUES (9001, 1), (9002, 1), (9002, 2);"
                    " ALTER TABLE comments DROP CONSTRAINT comments_editor_id_fkey,"
                    " ADD CONSTRAINT comments_editor_id_fkey FOREIGN KEY (editor_id) REFERENCES users (id)"
                    " ON DELETE SET NULL NOT VALID")
    manifest = write_manifest(tmp_path)
    before = counts(db)
    result = run_cli("validate", "--manifest", manifest, "--database-url", db)
    assert result.code == 1
    lines = result.out.splitlines()
    skipped = [line for line in lines if line.startswith("SKIPPED")]
    assert len(skipped) == 1
    assert skipped[0].startswith("SKIPPED public.comments comments_user_id_fkey in ")
    assert skipped[0].endswith(
        f": 3 row(s) reference no row of public.users: skipped, nothing deleted; "
        f"see them with: cascade-tool orphans --manifest {manifest}"
    )
    assert any(line.startswith("validated public.comments comments_editor_id_fkey in ") for line in lines)
    assert result.err.startswith("NOT DONE: 1 validated, 1 skipped for orphan rows, 0 failed, 0 remaining")
    assert counts(db) == before
    assert validity(db)[("comments", "comments_user_id_fkey")] is False
    assert validity(db)[("comments", "comments_editor_id_fkey")] is True


def test_run_stopped_by_max_duration_and_resumed(db: str, tmp_path: Path, run_cli: Any) -> None:
    """--max-duration 1s while the first (largest) table's validation waits 1.5 s for a lock: that
    one finishes, no other starts, the rest is listed, exit 1; the next run does only the rest."""
    execute_sql(db, "ALTER TABLE posts DROP CONSTRAINT posts_user_id_fkey;"
                    " ALTER TABLE posts ADD CONSTRAINT posts_user_id_fkey FOREIGN KEY (user_id)"
                    " REFERENCES users (id) ON DELETE CASCADE NOT VALID;"
                    " ALTER TABLE likes ADD CONSTRAINT likes_user_id_fkey FOREIGN KEY (user_id)"
                    " REFERENCES users (id) ON DELETE CASCADE NOT VALID;"
                    " ALTER TABLE comments DROP CONSTRAINT comments_editor_id_fkey,"
                    " ADD CONSTRAINT comments_editor_id_fkey FOREIGN KEY (editor_id) REFERENCES users (id)"
                    " ON DELETE SET NULL NOT VALID; ANALYZE")
    manifest = write_manifest(tmp_path)
    locked = threading.Event()

    def hold() -> None:
        with psycopg.connect(db) as conn:
            conn.execute("LOCK TABLE posts IN SHARE UPDATE EXCLUSIVE MODE")
            locked.set()
            time.sleep(1.5)
            conn.rollback()

    holder = threading.Thread(target=hold)
    holder.start()
    assert locked.wait(10)
    try:
        first = run_cli("validate", "--manifest", manifest, "--database-url", db, "--max-duration", "1s")
    finally:
        holder.join()
    assert first.code == 1
    lines = first.out.splitlines()
    assert lines[0].startswith("validated public.posts posts_user_id_fkey in ")
    remaining = sorted(line.split(" (")[0] for line in lines[1:])
    assert remaining == ["remaining public.comments comments_editor_id_fkey",
                         "remaining public.comments comments_user_id_fkey",
                         "remaining public.likes likes_user_id_fkey"]
    assert all(line.endswith("not started: --max-duration reached; run cascade-tool validate again")
               for line in lines[1:])
    assert "1 validated, 0 skipped for orphan rows, 0 failed, 3 remaining" in first.err
    assert validity(db)[("posts", "posts_user_id_fkey")] is True
    assert not validity(db)[("likes", "likes_user_id_fkey")]

    second = run_cli("validate", "--manifest", manifest, "--database-url", db, "--jobs", "2")
    assert second.code == 0, second.out
    assert sorted(line.split(" in ")[0] for line in second.out.splitlines()) == [
        "validated public.comments comments_editor_id_fkey", "validated public.comments comments_user_id_fkey",
        "validated public.likes likes_user_id_fkey",
    ]
    assert all(validity(db).values())


def test_statement_timeout_fails_one_fk_and_bad_options_are_usage_errors(
    db: str, tmp_path: Path, run_cli: Any
) -> None:
    """A validation cancelled by --statement-timeout changes nothing and exits 1; a malformed
    duration is one line, exit 2."""
    manifest = write_manifest(tmp_path)
    bad = run_cli("validate", "--manifest", manifest, "--database-url", db, "--max-duration", "soon")
    assert bad.code == 2
    assert bad.err == "cascade-tool: error: --max-duration 'soon' is not a duration such as 30m, 90s, 2h or 500ms\n"
    locked = threading.Event()

    def hold() -> None:
        with psycopg.connect(db) as conn:
            conn.execute("LOCK TABLE comments IN SHARE UPDATE EXCLUSIVE MODE")
            locked.set()
            time.sleep(1.0)
            conn.rollback()

    holder = threading.Thread(target=hold)
    holder.start()
    assert locked.wait(10)
    try:
        result = run_cli("validate", "--manifest", manifest, "--database-url", db, "--statement-timeout", "200ms")
    finally:
        holder.join()
    assert result.code == 1
    failed = [line for line in result.out.splitlines() if line.startswith("FAILED")]
    assert len(failed) == 1
    assert failed[0].startswith("FAILED public.comments comments_user_id_fkey in ")
    assert failed[0].endswith(
        ': cancelled by statement_timeout; nothing changed; to retry by hand: '
        'ALTER TABLE "public"."comments" VALIDATE CONSTRAINT "comments_user_id_fkey";'
    )
    assert validity(db)[("comments", "comments_user_id_fkey")] is False


def _scans(url: str, tables: tuple[str, ...]) -> dict[str, int]:
    """Reads of each table (sequential and index scans) since the database was created, once every
    other session of the database has ended (a backend flushes its statistics as it exits)."""
    with psycopg.connect(url, autocommit=True) as conn:
        deadline = time.monotonic() + 30
        while conn.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
                           " AND pid <> pg_backend_pid()").fetchone() != (0,):
            assert time.monotonic() < deadline, "other sessions did not end"
            time.sleep(0.05)
        conn.execute("SELECT pg_stat_clear_snapshot()")
        rows = conn.execute("SELECT relname, coalesce(seq_scan, 0) + coalesce(idx_scan, 0)"
                            " FROM pg_stat_user_tables WHERE relname = ANY (%s)", [list(tables)]).fetchall()
    return {r[0]: int(r[1]) for r in rows}


def test_clean_fk_is_read_once_and_orphans_are_counted_only_when_validation_fails(
    db: str, tmp_path: Path, run_cli: Any
) -> None:
    """VALIDATE runs first: a clean child table is read once (no orphan count); an FK whose
    validation fails for orphan rows is rolled back, its rows counted, and the line gives the
    count and the orphans command, which lists the same rows; nothing deleted, exit 1."""
    execute_sql(db, "ALTER TABLE posts DROP CONSTRAINT posts_user_id_fkey;"
                    " ALTER TABLE posts ADD CONSTRAINT posts_user_id_fkey FOREIGN KEY (user_id)"
                    " REFERENCES users (id) ON DELETE CASCADE NOT VALID;"
                    " SET session_replication_role = replica;"
                    " INSERT INTO comments (user_id, editor_id) VALUES (9001, 1), (9002, 1), (9002, 2);"
                    " ALTER TABLE comments DROP CONSTRAINT comments_editor_id_fkey,"
                    " ADD CONSTRAINT comments_editor_id_fkey FOREIGN KEY (editor_id) REFERENCES users (id)"
                    " ON DELETE SET NULL NOT VALID")
    manifest = write_manifest(tmp_path)
    before = counts(db)
    scans = _scans(db, ("posts", "comments"))
    result = run_cli("validate", "--manifest", manifest, "--database-url", db, "--json")
    assert result.code == 1, result.out + result.err
    data = json.loads(result.out)
    fks = {f["constraint"]: f for f in data["fks"]}
    assert (data["validated"], data["orphans"], data["failed"]) == (2, 1, 0)
    for name in ("posts_user_id_fkey", "comments_editor_id_fkey"):
        assert (fks[name]["result"], fks[name]["orphans"], fks[name]["count_seconds"]) == ("validated", 0, None)
    skipped = fks["comments_user_id_fkey"]
    assert (skipped["result"], skipped["orphans"]) == ("orphans", 3)
    assert skipped["count_seconds"] is not None and skipped["count_seconds"] <= skipped["seconds"]
    assert skipped["message"] == (f"3 row(s) reference no row of public.users: skipped, nothing deleted; "
                                  f"see them with: cascade-tool orphans --manifest {manifest}")
    after = _scans(db, ("posts", "comments"))
    assert after["posts"] - scans["posts"] == 1  # VALIDATE's read only
    # comments: the failed validation, the count, the editor_id validation
    assert after["comments"] - scans["comments"] == 3
    assert counts(db) == before
    assert validity(db) == {
        ("comments", "comments_editor_id_fkey"): True, ("comments", "comments_user_id_fkey"): False,
        ("posts", "posts_user_id_fkey"): True,
    }
    listed = run_cli("orphans", "--manifest", manifest, "--database-url", db, "--json")
    assert listed.code == 1, listed.out + listed.err
    found = [f for f in json.loads(listed.out) if f["orphans"]]
    assert [(f["constraint"], f["orphans"]) for f in found] == [("comments_user_id_fkey", 3)]


def test_constraint_dropped_or_recreated_during_the_run(db: str, tmp_path: Path) -> None:
    """Between the lookup and its turn, one FK is dropped (failed, with the server's message,
    nothing changed) and another re-created NOT VALID under its name (validated as it is now)."""
    from cascade_tool import validate as validation
    from cascade_tool.manifest import load_manifest

    execute_sql(db, "ALTER TABLE posts DROP CONSTRAINT posts_user_id_fkey;"
                    " ALTER TABLE posts ADD CONSTRAINT posts_user_id_fkey FOREIGN KEY (user_id)"
                    " REFERENCES users (id) ON DELETE CASCADE NOT VALID;"
                    " ALTER TABLE comments DROP CONSTRAINT comments_editor_id_fkey,"
                    " ADD CONSTRAINT comments_editor_id_fkey FOREIGN KEY (editor_id) REFERENCES users (id)"
                    " ON DELETE SET NULL NOT VALID; ANALYZE")
    manifest = load_manifest(Path(write_manifest(tmp_path)))
    seen: list[str] = []

    def meddle(outcome: Any) -> None:
        seen.append(outcome.constraint)
        if len(seen) == 1:  # the largest table (posts) is done: change the two FKs of comments
            execute_sql(db, "ALTER TABLE comments DROP CONSTRAINT comments_user_id_fkey;"
                            " ALTER TABLE comments DROP CONSTRAINT comments_editor_id_fkey,"
                            " ADD CONSTRAINT comments_editor_id_fkey FOREIGN KEY (editor_id)"
                            " REFERENCES users (id) ON DELETE SET NULL NOT VALID")

    result = validation.run(db, manifest, jobs=1, progress=meddle)
    by_name = {o.constraint: o for o in result.outcomes}
    assert seen[0] == "posts_user_id_fkey" and by_name["posts_user_id_fkey"].result == "validated"
    gone = by_name["comments_user_id_fkey"]
    assert gone.result == "failed" and not result.ok
    assert gone.message == ('constraint "comments_user_id_fkey" of relation "comments" does not exist; '
                            "nothing changed")
    again = by_name["comments_editor_id_fkey"]
    assert (again.result, again.message) == ("validated", "re-created since the lookup; validated as it is now")
    assert validity(db) == {("comments", "comments_editor_id_fkey"): True, ("posts", "posts_user_id_fkey"): True}
