"""cascade-tool discover: a manifest from the catalog, merged into a reviewed one without loss.

On tests/data/lint_schema.sql (every shape discover must handle), then on the two real schemas
in ../shared/corpus: Danbooru goes discover -> generate -> alembic upgrade head -> verify, and
GitLab's figures are checked against ../shared/corpus/gitlab/census.txt.
"""

from __future__ import annotations

import json
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from cascade_tool.manifest import TableName, load_manifest
from tests.helpers import Server, alembic, execute_sql
from tests.test_corpus import CORPUS, corpus_db
from tests.test_lint import lint_loader

corpus = pytest.mark.skipif(not CORPUS.is_dir(), reason="../shared/corpus not present")


@pytest.fixture
def schema_db(server: Server) -> Iterator[str]:
    name = server.create_database(server.template("lint_schema", lint_loader))
    yield server.url(name)
    server.drop_database(name)


def entries(path: Path) -> dict[tuple[str, tuple[str, ...], str | None], dict[str, Any]]:
    """(name, columns, target) -> the entry, as written."""
    doc = tomllib.loads(path.read_text())
    return {(t["name"], tuple(t["columns"]), t.get("target")): t for t in doc["tables"]}


def test_discover_writes_a_manifest_a_reviewer_can_read(schema_db: str, run_cli: Any, tmp_path: Path) -> None:
    """Every FK that reaches users, once; a proposal and a reason each; candidates commented out."""
    out = tmp_path / "manifest.toml"
    result = run_cli("discover", "--target", "users", "--database-url", schema_db, "--out", str(out))
    assert result.code == 0, result.err
    assert result.out == ""
    assert result.err == (
        "discover: 29 foreign keys reach public.users (20 directly), from 21 tables; 28 entries "
        f"(8 to change), 2 candidate column(s) without an FK\nwrote {out}\n"
    )
    manifest = load_manifest(out)
    assert len(manifest.entries) == 28
    assert manifest.target == TableName("public", "users") and manifest.target_columns == ("id",)
    got = entries(out)
    actions = {key: e["on_delete"] for key, e in got.items()}
    # NOT NULL owner -> CASCADE; nullable -> SET NULL; nullable self-reference -> SET NULL
    assert actions[("public.favorites", ("user_id",), None)] == "CASCADE"  # two FKs, one entry
    assert actions[("public.users", ("inviter_id",), None)] == "SET NULL"
    assert actions[('public."AuditLog"', ("actorId",), None)] == "SET NULL"
    # broken SET NULL / SET DEFAULT on NOT NULL columns -> CASCADE; RESTRICT and SET DEFAULT kept
    assert actions[("public.link_events", ("user_id",), None)] == "CASCADE"
    assert actions[("public.approvals", ("approver_id",), None)] == "CASCADE"
    assert actions[("public.shares", ("user_id",), None)] == "RESTRICT"
    assert actions[("public.reviews", ("reviewer_id",), None)] == "SET DEFAULT"
    # chains carry their target; a composite FK in another column order names its references
    assert actions[("public.chat_messages", ("chat_room_id",), "public.chat_rooms")] == "CASCADE"
    assert actions[("public.project_tasks", ("project_id",), "public.projects")] == "CASCADE"
    history = got[("public.setting_history", ("setting_key", "setting_user_id"), "public.user_settings")]
    assert history["references"] == ["key", "user_id"]
    # the partitioned table is listed once; its partitions never
    assert [k for k in got if k[0].startswith("public.events")] == [("public.events", ("user_id",), None)]
    assert not [k for k in got if k[0].startswith("public.events_")]
    assert manifest.entries[0].group == "public.users: owned rows (CASCADE)"
    assert sum(1 for k in got if k[2] is None) == 19  # 20 direct FKs, two of them on favorites

    text = out.read_text()
    assert (
        "# users_inviter_id_fkey: inviter_id bigint, ON DELETE NO ACTION today.\n"
        "# -> SET NULL: a self-reference on a nullable column: the rows stay, the link is cleared.\n"
        "[[tables]]\n"
        'name = "public.users"\n'
    ) in text
    assert "# 2 FKs match this entry (favorites_user_fk1, favorites_user_fk2): each is converted.\n" in text
    assert "# note: partitioned: the entry covers its 2 per-partition copies.\n" in text
    assert "# note: no index on (user_id): each delete scans api_tokens.\n" in text
    assert (
        "# candidate: public.legacy_notes(user_id)\n"
        "# bigint, no index, 1 row(s) reference no users row.\n"
        "# [[tables]]\n"
        '# name = "public.legacy_notes"\n'
        '# columns = ["user_id"]\n'
        '# on_delete = "SET NULL"\n'
    ) in text
    assert "# candidate: public.audit_trail(acting_user_id)\n# integer NOT NULL, no index, 0 row(s)" in text
    assert "member_notes" not in text  # its user_id references members

    again = run_cli("discover", "--target", "public.users", "--database-url", schema_db)
    assert again.code == 0 and again.out == text  # deterministic; stdout without --out


def test_merge_keeps_every_edit_and_adds_only_what_is_new(
    schema_db: str, run_cli: Any, tmp_path: Path
) -> None:
    """Reviewed text is kept byte for byte; gone FKs get stale = true; new FKs are appended."""
    path = tmp_path / "manifest.toml"
    assert run_cli("discover", "--target", "users", "--database-url", schema_db, "--out", str(path)).code == 0
    reviewed = path.read_text().replace(
        'name = "public.favorites"\ncolumns = ["user_id"]\non_delete = "CASCADE"\n',
        'name = "public.favorites"\ncolumns = ["user_id"]\non_delete = "RESTRICT"  # kept on purpose\n',
    ).replace(  # a reviewer uncomments a candidate: the FK is to be created, not stale
        '# [[tables]]\n# name = "public.legacy_notes"\n# columns = ["user_id"]\n# on_delete = "SET NULL"\n'
        '# group = "candidates (no FK yet)"\n',
        '[[tables]]\nname = "public.legacy_notes"\ncolumns = ["user_id"]\non_delete = "SET NULL"\n'
        'group = "candidates (no FK yet)"\n',
    )
    assert reviewed.count("RESTRICT\"  # kept on purpose") == 1 and "\n[[tables]]\nname = \"public.legacy" in reviewed
    path.write_text(reviewed)
    execute_sql(schema_db, "ALTER TABLE api_tokens DROP CONSTRAINT api_tokens_user_id_fkey;"
                           "CREATE TABLE notifications (id int PRIMARY KEY, user_id bigint NOT NULL REFERENCES users);"
                           "CREATE TABLE reports (id int PRIMARY KEY, reporter_user_id bigint);")

    result = run_cli("discover", "--merge", str(path), "--database-url", schema_db, "--out", str(path))
    assert result.code == 0, result.err
    assert (f"merged into {path}: 1 new entry, 1 marked stale, 1 new candidate(s)\n"
            "  tables[0] (public.api_tokens): no foreign key matches it\n") in result.err
    merged = path.read_text()
    stale_line = "stale = true  # cascade-tool discover --merge: no foreign key matches this entry any more\n"
    assert merged.count(stale_line) == 1
    assert ('name = "public.api_tokens"\ncolumns = ["user_id"]\non_delete = "CASCADE"\n'
            f'group = "public.users: owned rows (CASCADE)"\n{stale_line}') in merged
    head, added = merged.replace(stale_line, "", 1)[:len(reviewed)], merged.replace(stale_line, "", 1)[len(reviewed):]
    assert head == reviewed  # every reviewed byte, in order
    assert added.startswith("\n# === Added by cascade-tool discover --merge: 1 foreign key(s) new since")
    assert 'name = "public.notifications"\ncolumns = ["user_id"]\non_delete = "CASCADE"\n' in added
    assert "# candidate: public.reports(reporter_user_id)\n" in added
    manifest = load_manifest(path)
    assert [e.table.name for e in manifest.stale] == ["api_tokens"]
    assert len(manifest.entries) == 30

    # merging again changes nothing; the plan skips the stale entry
    second = run_cli("discover", "--merge", str(path), "--database-url", schema_db)
    assert second.code == 0 and second.out == merged
    assert "0 new entries, 0 marked stale, 0 new candidate(s)" in second.err
    plan = run_cli("plan", "--manifest", str(path), "--database-url", schema_db)
    assert "skip     public.api_tokens(user_id): marked stale" in plan.out

    # the FK comes back: merge says so and leaves the reviewer's decision alone
    execute_sql(schema_db, "ALTER TABLE api_tokens ADD FOREIGN KEY (user_id) REFERENCES users ON DELETE CASCADE")
    back = run_cli("discover", "--merge", str(path), "--database-url", schema_db)
    assert back.code == 0 and back.out == merged
    assert ("tables[0] (public.api_tokens): marked stale, but a foreign key matches it again; "
            "remove stale = true to apply it") in back.err

    # Windows line endings survive a merge byte for byte
    crlf = tmp_path / "crlf.toml"
    crlf.write_bytes(merged.replace("\n", "\r\n").encode())
    assert run_cli("discover", "--merge", str(crlf), "--database-url", schema_db, "--out", str(crlf)).code == 0
    assert crlf.read_bytes() == merged.replace("\n", "\r\n").encode()

    other = run_cli("discover", "--merge", str(path), "--target", "posts", "--database-url", schema_db)
    assert other.code == 2 and "--target public.posts is not the target of" in other.err


def test_unknown_target_runs_nothing(schema_db: str, run_cli: Any, tmp_path: Path) -> None:
    out = tmp_path / "m.toml"
    result = run_cli("discover", "--target", "customers", "--database-url", schema_db, "--out", str(out))
    assert result.code == 2 and result.out == ""
    assert result.err == ("cascade-tool: error: target table customers does not exist "
                          "(looked in the schemas on search_path)\n")
    assert not out.exists()
    execute_sql(schema_db, "CREATE TABLE lonely (id int PRIMARY KEY)")
    empty = run_cli("discover", "--target", "lonely", "--database-url", schema_db)
    assert empty.code == 2 and "no foreign key references public.lonely: no manifest to write" in empty.err
    assert run_cli("discover", "--database-url", schema_db).code == 2  # no --target, no --merge


@pytest.fixture
def danbooru_db(server: Server) -> Iterator[str]:
    yield from corpus_db(server, "danbooru", "structure.sql")


@pytest.fixture
def gitlab_db(server: Server) -> Iterator[str]:
    yield from corpus_db(server, "gitlab", "structure.sql")


@corpus
def test_danbooru_discover_generate_upgrade_verify(
    danbooru_db: str, alembic_project: Path, run_cli: Any
) -> None:
    """The discovered manifest deploys as is: generate, upgrade, verify --strict, impact, smoke-test."""
    path = alembic_project / "manifest.toml"
    found = run_cli("discover", "--target", "users", "--database-url", danbooru_db, "--out", str(path))
    assert found.code == 0, found.err
    # census: 56 FKs to users, 43 tables reach it, 84 FKs in that subgraph
    assert found.err.startswith("discover: 84 foreign keys reach public.users (56 directly), from 43 tables; "
                                "84 entries (84 to change), 3 candidate column(s) without an FK\n")
    manifest = load_manifest(path)
    assert sum(not e.chain for e in manifest.entries) == 56
    by_column = {(e.table.name, e.columns): e.on_delete for e in manifest.entries}
    assert by_column[("users", ("inviter_id",))] == "SET NULL"  # self-reference
    assert by_column[("posts", ("approver_id",))] == "SET NULL"  # nullable actor
    assert by_column[("favorites", ("user_id",))] == "CASCADE"  # NOT NULL owner

    assert run_cli("lint", "--manifest", str(path), "--database-url", danbooru_db).code == 0
    assert run_cli("generate", "--manifest", str(path), "--versions-dir",
                   str(alembic_project / "migrations" / "versions")).code == 0
    up = alembic(alembic_project, danbooru_db, "upgrade", "head")
    assert up.returncode == 0, up.stderr
    assert "84 converted, 0 created, 0 unchanged, 0 skipped" in up.stdout
    verify = run_cli("verify", "--manifest", str(path), "--database-url", danbooru_db, "--strict")
    assert verify.code == 0, verify.out
    # impact (read-only) and smoke-test (a real test user, rolled back) on the converted schema
    impact = run_cli("impact", "--database-url", danbooru_db, "--where", "id > 0", "--json")
    assert impact.code == 0, impact.out + impact.err
    smoke = run_cli("smoke-test", "--manifest", str(path), "--database-url", danbooru_db, "--json")
    assert smoke.code == 0, smoke.out
    results = [c["result"] for c in json.loads(smoke.out)["checks"]]
    # a schema nobody wrote fixtures for: 32 tables exercised, none failed, the rest reported
    assert results.count("deleted") + results.count("nulled") >= 30 and "FAILED" not in results
    # after the deploy, the same discovery has nothing to add
    merged = run_cli("discover", "--merge", str(path), "--database-url", danbooru_db)
    assert merged.code == 0 and merged.out == path.read_text()


@corpus
def test_gitlab_figures_match_the_census(gitlab_db: str, run_cli: Any, tmp_path: Path) -> None:
    """192 FKs to users (not the 279 clone rows), 352 tables, 523 FKs; the two SET NULL-on-NOT
    NULL FKs. (Their timing is reported on the real-schemas docs page, not asserted
    here: a loaded machine would fail a timed test.)"""
    path = tmp_path / "gitlab.toml"
    found = run_cli("discover", "--target", "users", "--database-url", gitlab_db, "--out", str(path))
    lint = run_cli("lint", "--target", "users", "--database-url", gitlab_db, "--json")
    assert found.code == 0, found.err
    assert found.err.startswith("discover: 523 foreign keys reach public.users (192 directly), from 352 tables; "
                                "523 entries (6 to change), 68 candidate column(s) without an FK\n")
    manifest = load_manifest(path)
    assert len(manifest.entries) == 523 and sum(not e.chain for e in manifest.entries) == 192
    assert not [e for e in manifest.entries if e.table.schema != "public"]  # no partition clones
    text = path.read_text()
    assert text.count("# note: partitioned:") == 15

    assert lint.code == 1
    findings = json.loads(lint.out)

    def objects(kind: str) -> list[str]:
        return [f["object"] for f in findings if f["kind"] == kind]

    assert objects("set_null_not_null") == [
        "public.resource_iteration_events(user_id) -> public.users [fk_rails_501fa15d69]",
        "public.resource_link_events(user_id) -> public.users [fk_bd4ae15ce4]",
    ]
    # census: 9 FKs to users (30 in the subgraph) lack a non-partial index; every one has a
    # "col IS NOT NULL" partial index, which the FK lookups use: none is really unindexed
    assert objects("unindexed_fk") == []
    partial = objects("partial_index_fk")
    assert len(partial) == 30 and sum(p.endswith(f"-> public.users [{p.rsplit('[', 1)[1]}") for p in partial) == 9
    assert "public.issues(updated_by_id) -> public.users [fk_ffed080f01]" in partial
    assert objects("not_valid") == [
        "public.duo_workflows_workflows(service_account_id) -> public.users "
        "[fk_duo_workflows_workflows_service_account_id]"
    ]
    assert [f["severity"] for f in findings].count("error") == 2
    # the discovered manifest fixes both errors
    assert run_cli("lint", "--manifest", str(path), "--database-url", gitlab_db).code == 0
