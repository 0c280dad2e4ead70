"""cascade-tool lint on tests/data/lint_schema.sql, a schema with every kind of finding.

Each finding is checked against what PostgreSQL does: the users lint says cannot be deleted
really cannot be, and the one it does not flag can.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

from tests.helpers import DATA, Server, execute_sql


def lint_loader(url: str) -> None:
    execute_sql(url, (DATA / "lint_schema.sql").read_text())


@pytest.fixture
def lint_db(server: Server) -> Iterator[str]:
    """A fresh copy of tests/data/lint_schema.sql (with its data)."""
    name = server.create_database(server.template("lint_schema", lint_loader))
    yield server.url(name)
    server.drop_database(name)


def findings(out: str) -> list[tuple[str, str, str]]:
    return [(f["severity"], f["kind"], f["object"]) for f in json.loads(out)]


USERS = "-> public.users"
TODAY = [
    ("error", "set_default_violates_fk", f"public.reviews(reviewer_id) {USERS} [reviews_reviewer_id_fkey]"),
    ("error", "set_null_not_null", f"public.approvals(approver_id) {USERS} [approvals_approver_id_fkey]"),
    ("error", "set_null_not_null", f"public.link_events(user_id) {USERS} [link_events_user_id_fkey]"),
    ("warning", "blocking_fk", f"public.AuditLog(actorId) {USERS} [AuditLog_actorId_fkey]"),
    ("warning", "blocking_fk", "public.attachments(post_id) -> public.posts [attachments_post_id_fkey]"),
    ("warning", "blocking_fk",
     "public.chat_messages(chat_room_id) -> public.chat_rooms [chat_messages_chat_room_id_fkey]"),
    ("warning", "blocking_fk", f"public.favorites(user_id) {USERS} [favorites_user_fk1]"),
    ("warning", "blocking_fk", f"public.favorites(user_id) {USERS} [favorites_user_fk2]"),
    ("warning", "blocking_fk", "public.setting_history(setting_key, setting_user_id) -> public.user_settings "
                               "[setting_history_setting_key_setting_user_id_fkey]"),
    ("warning", "blocking_fk", f"public.shares(user_id) {USERS} [shares_user_id_fkey]"),
    ("warning", "blocking_fk", f"public.users(inviter_id) {USERS} [users_inviter_id_fkey]"),
    ("warning", "multiple_paths", "public.shares"),
    ("warning", "not_valid", f"public.devices(user_id) {USERS} [devices_user_id_fkey]"),
    ("warning", "undeletable_rows", "public.attachments(post_id) -> public.posts [attachments_post_id_fkey]"),
    ("warning", "undeletable_rows",
     "public.chat_messages(chat_room_id) -> public.chat_rooms [chat_messages_chat_room_id_fkey]"),
    ("warning", "undeletable_rows", f"public.link_events(user_id) {USERS} [link_events_user_id_fkey]"),
    ("warning", "undeletable_rows", f"public.reviews(reviewer_id) {USERS} [reviews_reviewer_id_fkey]"),
    ("warning", "undeletable_rows", f"public.shares(user_id) {USERS} [shares_user_id_fkey]"),
    ("warning", "undeletable_rows", f"public.users(inviter_id) {USERS} [users_inviter_id_fkey]"),
    ("warning", "unindexed_fk", f"public.api_tokens(user_id) {USERS} [api_tokens_user_id_fkey]"),
    ("warning", "unindexed_fk", f"public.sessions(user_id) {USERS} [sessions_user_id_fkey]"),
    ("info", "blocking_fk", "public.project_tasks(project_id) -> public.projects [project_tasks_project_id_fkey]"),
    ("info", "cycle", "cycle: public.memberships, public.teams"),
    ("info", "multiple_paths", "public.attachments"),
    ("info", "multiple_paths", "public.comments"),
    ("info", "partial_index_fk", f"public.comments(editor_id) {USERS} [comments_editor_id_fkey]"),
    ("info", "set_null_then_cascade", "public.teams"),
]


def deletable(url: str, user_id: int) -> str:
    """Try the delete (rolled back): 'ok' or the error's first line."""
    with psycopg.connect(url) as conn:
        try:
            conn.execute("DELETE FROM users WHERE id = %s", [user_id])
            return "ok"
        except psycopg.Error as exc:
            return str(exc).splitlines()[0]
        finally:
            conn.rollback()


def test_lint_reports_every_kind_and_the_rows_it_blocks(lint_db: str, run_cli: Any) -> None:
    """Every finding kind, sorted by severity; the blocked counts match what DELETE does."""
    result = run_cli("lint", "--target", "users", "--database-url", lint_db, "--json", "--fail-on", "info")
    assert result.code == 1, result.err
    assert findings(result.out) == TODAY
    rows = {f["object"]: f["rows"] for f in json.loads(result.out) if f["kind"] == "undeletable_rows"}
    assert rows == {
        "public.attachments(post_id) -> public.posts [attachments_post_id_fkey]": 1,  # user 1
        "public.chat_messages(chat_room_id) -> public.chat_rooms [chat_messages_chat_room_id_fkey]": 2,  # 1, 2
        f"public.link_events(user_id) {USERS} [link_events_user_id_fkey]": 1,  # user 3
        f"public.reviews(reviewer_id) {USERS} [reviews_reviewer_id_fkey]": 1,  # user 4
        f"public.shares(user_id) {USERS} [shares_user_id_fkey]": 1,  # user 6
        f"public.users(inviter_id) {USERS} [users_inviter_id_fkey]": 1,  # user 1
    }
    assert "violates foreign key constraint \"users_inviter_id_fkey\"" in deletable(lint_db, 1)
    assert "chat_messages_chat_room_id_fkey" in deletable(lint_db, 2)
    assert "null value in column \"user_id\" of relation \"link_events\"" in deletable(lint_db, 3)
    assert "reviews_reviewer_id_fkey" in deletable(lint_db, 4)
    assert deletable(lint_db, 5) == "ok"
    # the RESTRICT check runs before the cascade through posts would have removed the share
    assert "foreign key constraint \"shares_user_id_fkey\"" in deletable(lint_db, 6)
    # ... and NO ACTION is no more forgiving inside one statement
    execute_sql(lint_db, "ALTER TABLE shares DROP CONSTRAINT shares_user_id_fkey, ADD CONSTRAINT "
                         "shares_user_id_fkey FOREIGN KEY (user_id) REFERENCES users ON DELETE NO ACTION")
    assert "foreign key constraint \"shares_user_id_fkey\"" in deletable(lint_db, 6)
    # JSON findings have exactly the documented keys
    assert set(json.loads(result.out)[0]) == {"severity", "kind", "object", "message", "fix", "rows"}


def test_lint_text_output_and_fail_on(lint_db: str, empty_db: str, run_cli: Any) -> None:
    """Exit 1 at or above --fail-on (default error), 0 below it; messages say why and how to fix."""
    result = run_cli("lint", "--target", "users", "--database-url", lint_db)
    assert result.code == 1
    lines = result.out.splitlines()
    assert lines[-1] == ("lint public.users (the catalog): 29 foreign keys, 21 tables: "
                         "3 errors, 18 warnings, 6 info")
    at = lines.index("error    set_null_not_null  public.link_events(user_id) -> public.users "
                     "[link_events_user_id_fkey]")
    assert lines[at + 1] == (
        "         ON DELETE SET NULL writes NULL into NOT NULL column(s) user_id: deleting a public.users "
        "row fails with a NOT NULL violation while a public.link_events row references it")
    assert lines[at + 2].startswith("         fix: make it ON DELETE CASCADE")
    assert ("up to 2 public.users row(s) cannot be deleted today: each has public.chat_messages rows "
            "through public.users -> public.chat_rooms (CASCADE)") in result.out
    assert 'fix: CREATE INDEX CONCURRENTLY ON "public"."api_tokens" ("user_id");' in result.out
    assert 'fix: ALTER TABLE "public"."devices" VALIDATE CONSTRAINT "devices_user_id_fkey";' in result.out

    # warnings only: clean for the default --fail-on error, a failure for --fail-on warning
    execute_sql(empty_db, "CREATE TABLE users (id int PRIMARY KEY);"
                          "CREATE TABLE tokens (id int, user_id int REFERENCES users ON DELETE CASCADE);")
    warn = run_cli("lint", "--target", "users", "--database-url", empty_db)
    assert warn.code == 0
    assert warn.out.splitlines()[-1].endswith("1 foreign keys, 1 tables: 0 errors, 1 warning, 0 info")
    assert run_cli("lint", "--target", "users", "--database-url", empty_db, "--fail-on", "warning").code == 1
    execute_sql(empty_db, "CREATE INDEX ON tokens (user_id)")
    clean = run_cli("lint", "--target", "users", "--database-url", empty_db, "--fail-on", "info", "--json")
    assert clean.code == 0 and json.loads(clean.out) == []


MANIFEST = """
[target]
table = "users"
[defaults]
columns = ["user_id"]
[[tables]]
name = "chat_rooms"
columns = ["owner_id"]
[[tables]]
name = "chat_messages"
columns = ["chat_room_id"]
target = "chat_rooms"
[[tables]]
name = "link_events"
[[tables]]
name = "approvals"
columns = ["approver_id"]
on_delete = "SET NULL"
[[tables]]
name = "attachments"
columns = ["post_id"]
target = "posts"
on_delete = "RESTRICT"
[[tables]]
name = "project_tasks"
columns = ["project_id"]
target = "projects"
on_delete = "RESTRICT"
[[tables]]
name = "no_such_table"
[[tables]]
name = "old_table"
optional = true
[[tables]]
name = "sessions"
columns = ["nope_id"]
[[tables]]
name = "legacy_notes"
on_delete = "SET NULL"
[[tables]]
name = "posts"
target = "nowhere"
[[tables]]
name = "post_tags"
columns = ["tag_name"]
target = "tags"
[[tables]]
name = "gone"
stale = true
"""


def test_lint_manifest_judges_the_graph_as_the_deploy_leaves_it(
    lint_db: str, run_cli: Any, tmp_path: Path
) -> None:
    """The manifest's actions replace the catalog's; its own entries are checked too."""
    path = tmp_path / "m.toml"
    path.write_text(MANIFEST)
    result = run_cli("lint", "--manifest", str(path), "--database-url", lint_db, "--json")
    assert result.code == 1
    got = findings(result.out)
    src = str(path)
    manifest_kinds = [f for f in got if f[2].startswith(src)]
    assert manifest_kinds == [
        ("error", "manifest_blocked", f"{src} tables[11] (post_tags)"),
        ("error", "missing_column", f"{src} tables[8] (sessions)"),
        ("error", "missing_table", f"{src} tables[6] (no_such_table)"),
        ("error", "missing_target", f"{src} tables[10] (posts)"),
        ("info", "missing_fk", f"{src} tables[9] (legacy_notes)"),
        ("info", "missing_table", f"{src} tables[7] (old_table)"),
        ("info", "stale_entry", f"{src} tables[12] (gone)"),
    ]
    # chat_messages now cascades and link_events is CASCADE: those failures are gone ...
    assert not [f for f in got if "chat_messages(chat_room_id)" in f[2] or "link_events" in f[2]]
    # ... the manifest's SET NULL on a NOT NULL column is an error, named as the manifest's doing
    by_object = {f["object"]: f for f in json.loads(result.out)}
    approvals = by_object[f"public.approvals(approver_id) {USERS} [approvals_approver_id_fkey]"]
    assert approvals["severity"] == "error"
    assert approvals["message"].startswith(f"ON DELETE SET NULL (set by {src} tables[3] (approvals)) writes NULL")
    # a RESTRICT the manifest chose is information, not a warning; its blocked rows too
    restrict = [f for f in got if "attachments(post_id)" in f[2]]
    assert restrict == [
        ("info", "blocking_fk", "public.attachments(post_id) -> public.posts [attachments_post_id_fkey]"),
        ("info", "undeletable_rows", "public.attachments(post_id) -> public.posts [attachments_post_id_fkey]"),
    ]
    assert "cannot be deleted once the manifest is deployed" in result.out


def test_unknown_target_and_usage_errors(lint_db: str, run_cli: Any, tmp_path: Path) -> None:
    """One line on stderr, exit 2, nothing on stdout."""
    result = run_cli("lint", "--target", "usres", "--database-url", lint_db)
    assert (result.code, result.out) == (2, "")
    assert result.err == (
        "cascade-tool: error: target table usres does not exist (looked in the schemas on "
        "search_path); similar tables: public.users\n"
    )
    other = run_cli("lint", "--target", "audit.users", "--database-url", lint_db)
    assert other.code == 2 and "target table audit.users does not exist (looked in schema audit)" in other.err
    both = run_cli("lint", "--target", "users", "--manifest", str(tmp_path / "m.toml"), "--database-url", lint_db)
    assert both.code == 2 and "pass either --manifest PATH or --target TABLE" in both.err
    assert run_cli("lint", "--database-url", lint_db).code == 2
    assert run_cli("lint", "--target", "users", "--fail-on", "fatal", "--database-url", lint_db).code == 2


@pytest.mark.parametrize("command", ["discover", "lint"])
def test_commands_document_their_exit_codes(command: str, run_cli: Any) -> None:
    result = run_cli(command, "--help")
    assert result.code == 0 and "Exit codes:" in result.out and "2 usage" in result.out
