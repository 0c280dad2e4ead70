"""`cascade-tool orphans` and `cascade-tool quarantine list | restore | purge`, through the CLI.

Seed 002's story runs end to end here: 289 orphaned messages in 43 conversations, reported, moved
aside (the revision's online wiring is simulated by tests.test_quarantine.wire), listed, and put
back once their conversations exist again.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import psycopg
import pytest

from cascade_tool.manifest import parse_manifest
from tests.helpers import execute_sql
from tests.test_quarantine import count, wire

# Seed 002 (../shared/reference/002_*.txt): chat_messages_v2.conversation_id had no FK; 289
# messages belonged to 43 conversations that had no conversation_sessions row.
SEED_002 = """
CREATE TABLE conversation_sessions (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    conversation_id uuid NOT NULL,
    agent_id uuid NOT NULL,
    user_id uuid NOT NULL,
    title text,
    status text DEFAULT 'active',
    last_active timestamptz,
    message_count integer DEFAULT 0
);
CREATE TABLE chat_messages_v2 (
    id uuid PRIMARY KEY,
    conversation_id uuid NOT NULL,
    session_id uuid,
    role text NOT NULL,
    content jsonb,
    created_at timestamptz NOT NULL
);
-- 100 conversations with a session, 5 messages each
INSERT INTO conversation_sessions (conversation_id, agent_id, user_id, title, last_active)
SELECT md5('conv' || g)::uuid, md5('agent')::uuid, md5('user' || g % 7)::uuid, 'Conversation ' || g,
       timestamptz '2025-10-01 00:00+00' + g * interval '1 hour'
  FROM generate_series(1, 100) AS g;
INSERT INTO chat_messages_v2
SELECT md5('msg' || c || '.' || m)::uuid, md5('conv' || c)::uuid, NULL,
       CASE m % 2 WHEN 0 THEN 'user' ELSE 'assistant' END, jsonb_build_object('text', 'message ' || m),
       timestamptz '2025-10-01 00:00+00' + (c * 10 + m) * interval '1 minute'
  FROM generate_series(1, 100) AS c, generate_series(1, 5) AS m;
-- 43 conversations without a session (conv 1001..1043): 289 messages (31 x 7 + 12 x 6)
INSERT INTO chat_messages_v2
SELECT md5('msg' || c || '.' || m)::uuid, md5('conv' || c)::uuid, NULL, 'user',
       jsonb_build_object('text', 'lost ' || m), timestamptz '2025-10-11 00:00+00' + (c * 10 + m) * interval '1 minute'
  FROM generate_series(1001, 1043) AS c, generate_series(1, 7) AS m
 WHERE NOT (c > 1031 AND m = 7);
"""

MANIFEST = """\
[target]
table = "conversation_sessions"
columns = ["conversation_id"]

[[tables]]
name = "chat_messages_v2"
columns = ["conversation_id"]
on_delete = "CASCADE"
orphans = "quarantine"
add_unique = true
"""


@pytest.fixture
def seed(empty_db: str, tmp_path: Path) -> tuple[str, str]:
    execute_sql(empty_db, SEED_002)
    path = tmp_path / "manifest.toml"
    path.write_text(MANIFEST)
    return empty_db, str(path)


def messages(url: str) -> list[str]:
    with psycopg.connect(url) as conn:
        return [r[0] for r in conn.execute("SELECT m::text FROM chat_messages_v2 AS m ORDER BY 1").fetchall()]


def test_seed_002_story_end_to_end(seed: tuple[str, str], run_cli: Any) -> None:
    """orphans report -> (upgrade: unique, FK NOT VALID, quarantine, VALIDATE) -> list -> restore."""
    url, manifest = seed
    before = messages(url)
    assert len(before) == 789

    # 1. The report, read-only: 289 orphan rows in 43 conversations; the referenced column is not
    #    unique yet but has no duplicate, and add_unique is set.
    report = run_cli("orphans", "--manifest", manifest, "--database-url", url)
    assert report.code == 1, report.err
    lines = report.out.splitlines()
    assert lines[0] == ("tables[0] public.chat_messages_v2(conversation_id) -> "
                        "public.conversation_sessions(conversation_id): no foreign key yet")
    assert lines[1].startswith("  289 orphan row(s), 43 missing key(s): 0198b584-b778-d691-5a13-4786257e2f68, ")
    assert lines[1].endswith(", ...") and lines[1].count(", ") == 1 + 4 + 1  # 5 keys, then "..."
    assert lines[2] == ('  orphans = "quarantine": the upgrade moves them to cascade_quarantine.rows '
                        "(cascade-tool quarantine restore puts them back)")
    assert lines[3] == ("  public.conversation_sessions(conversation_id) is not unique: 0 referenced key value(s)"
                        " occur more than once; add_unique = true: the upgrade adds the UNIQUE constraint")
    assert report.err == ("FOUND: 289 orphan row(s); 1 of 1 entries to deal with "
                          "(read-only: nothing was changed)\n")
    data = json.loads(run_cli("orphans", "--manifest", manifest, "--database-url", url, "--json").out)
    assert data[0]["orphans"] == 289 and data[0]["missing_keys"] == 43 and len(data[0]["sample_keys"]) == 5
    assert (data[0]["status"], data[0]["policy"], data[0]["duplicate_keys"], data[0]["add_unique"],
            data[0]["blocked"]) == ("not_unique", "quarantine", 0, True, False)
    assert messages(url) == before

    # 2. The upgrade (the lead wires this into the revision): UNIQUE, then per entry the FK NOT
    #    VALID, the orphans moved in batches, VALIDATE.
    execute_sql(url, "ALTER TABLE conversation_sessions ADD CONSTRAINT conversation_sessions_conversation_id_key"
                     " UNIQUE (conversation_id)")
    wire(url, parse_manifest(MANIFEST), revision="c4a0180f720d", batch=100)
    assert count(url, "SELECT count(*) FROM chat_messages_v2") == 500
    assert count(url, "SELECT convalidated FROM pg_constraint WHERE conname = 'chat_messages_v2_conversation_id_fkey'")

    # 3. Verify: nothing left to report.
    after = run_cli("orphans", "--manifest", manifest, "--database-url", url)
    assert (after.code, after.out) == (0, "")
    assert "no entry needs a new or NOT VALID foreign key" in after.err

    # 4. What was kept aside.
    listed = run_cli("quarantine", "list", "--database-url", url)
    assert listed.code == 0
    assert listed.out.startswith("c4a0180f720d  public.chat_messages_v2  moved out: 289 in quarantine, 0 restored  (")
    assert listed.out.rstrip().endswith("; chat_messages_v2_conversation_id_fkey)")
    assert listed.err == "quarantine: 289 row(s) in quarantine in 1 group(s)\n"

    # 5. Restore while the conversations still do not exist: nothing goes back, all reported.
    early = run_cli("quarantine", "restore", "--database-url", url, "--revision", "c4a0180f720d")
    assert early.code == 1
    assert early.out.splitlines()[0] == "restored 0 row(s); gave 0 nulled row(s) their values back"
    assert early.out.splitlines()[1].startswith(
        "left in quarantine: c4a0180f720d public.chat_messages_v2 (moved): 289 row(s), ids ")
    assert early.out.splitlines()[1].endswith(
        ", ...: no row of public.conversation_sessions (conversation_id) matches "
        "(foreign key chat_messages_v2_conversation_id_fkey)")
    assert count(url, "SELECT count(*) FROM chat_messages_v2") == 500

    # 6. The sessions are re-created for 40 of the 43 conversations: their 271 messages go back.
    execute_sql(url, "INSERT INTO conversation_sessions (conversation_id, agent_id, user_id, title)"
                     " SELECT md5('conv' || g)::uuid, md5('agent')::uuid, md5('user')::uuid, 'recovered'"
                     "   FROM generate_series(1001, 1040) AS g")
    partial = run_cli("quarantine", "restore", "--database-url", url, "--table", "chat_messages_v2", "--json")
    assert partial.code == 1
    result = json.loads(partial.out)
    assert result["restored"] == 31 * 7 + 9 * 6 and result["left"][0]["rows"] == 3 * 6
    assert partial.err == "restore: 18 row(s) stay in quarantine\n"
    listed = json.loads(run_cli("quarantine", "list", "--database-url", url, "--json").out)
    assert [(g["pending"], g["restored"]) for g in listed] == [(18, 271)]

    execute_sql(url, "INSERT INTO conversation_sessions (conversation_id, agent_id, user_id, title)"
                     " SELECT md5('conv' || g)::uuid, md5('agent')::uuid, md5('user')::uuid, 'recovered'"
                     "   FROM generate_series(1041, 1043) AS g")
    final = run_cli("quarantine", "restore", "--database-url", url)
    assert (final.code, final.out) == (0, "restored 18 row(s); gave 0 nulled row(s) their values back\n")
    assert messages(url) == before
    again = run_cli("quarantine", "restore", "--database-url", url)
    assert (again.code, again.out) == (0, "restored 0 row(s); gave 0 nulled row(s) their values back\n")


def test_orphans_report_on_a_not_valid_fk_and_duplicate_referenced_keys(seed: tuple[str, str], run_cli: Any,
                                                                        tmp_path: Path) -> None:
    url, manifest = seed
    execute_sql(url, "INSERT INTO conversation_sessions (conversation_id, agent_id, user_id)"
                     " SELECT md5('conv' || g)::uuid, md5('a')::uuid, md5('u')::uuid FROM generate_series(1, 2) AS g")
    plain = tmp_path / "plain.toml"
    plain.write_text(MANIFEST.replace('orphans = "quarantine"\nadd_unique = true\n', ""))
    result = run_cli("orphans", "--manifest", str(plain), "--database-url", url, "--json")
    assert result.code == 1
    (f,) = json.loads(result.out)
    assert (f["policy"], f["duplicate_keys"], f["add_unique"], f["blocked"]) == ("fail", 2, False, True)
    text = run_cli("orphans", "--manifest", str(plain), "--database-url", url).out
    assert ("is not unique: 2 referenced key value(s) occur more than once; the upgrade stops: "
            "set add_unique = true, or add a unique constraint") in text
    assert ('orphans = "fail": the upgrade stops before changing anything (set orphans = "quarantine" or'
            ' "set-null" to keep them aside)') in text

    # an FK left NOT VALID: its rows are counted as VALIDATE would see them
    execute_sql(url, "DELETE FROM conversation_sessions WHERE title IS NULL;"
                     "ALTER TABLE conversation_sessions ADD UNIQUE (conversation_id);"
                     "ALTER TABLE chat_messages_v2 ADD CONSTRAINT msg_conv FOREIGN KEY (conversation_id)"
                     " REFERENCES conversation_sessions (conversation_id) ON DELETE CASCADE NOT VALID")
    result = run_cli("orphans", "--manifest", manifest, "--database-url", url, "--json")
    (f,) = json.loads(result.out)
    assert (result.code, f["status"], f["constraint"], f["orphans"], f["missing_keys"]) == (
        1, "not_valid", "msg_conv", 289, 43)
    assert f["sample_keys"] == sorted(f["sample_keys"])
    text = run_cli("orphans", "--manifest", manifest, "--database-url", url).out
    assert "foreign key msg_conv is NOT VALID" in text
    assert "VALIDATE CONSTRAINT fails until these rows are resolved" in text


def test_orphans_exit_codes(empty_db: str, run_cli: Any, tmp_path: Path) -> None:
    execute_sql(empty_db, "CREATE TABLE users (id int PRIMARY KEY); CREATE TABLE posts (id int, user_id int);"
                          "INSERT INTO users VALUES (1); INSERT INTO posts VALUES (1, 1), (2, NULL);")
    path = tmp_path / "m.toml"
    path.write_text('[target]\ntable = "users"\n[[tables]]\nname = "posts"\ncolumns = ["user_id"]\n')
    clean = run_cli("orphans", "--manifest", str(path), "--database-url", empty_db)
    assert clean.code == 0
    assert clean.out == "tables[0] public.posts(user_id) -> public.users(id): no foreign key yet\n  no orphan row\n"
    assert clean.err == "OK: 1 entries checked, no orphan row (read-only: nothing was changed)\n"
    bad = tmp_path / "bad.toml"
    bad.write_text('[target]\ntable = "users"\n[[tables]]\nname = "posts"\ncolumns = ["user_id"]\norphans = "drop"\n')
    result = run_cli("orphans", "--manifest", str(bad), "--database-url", empty_db)
    assert result.code == 2 and result.err.startswith("cascade-tool: error: ") and result.err.count("\n") == 1
    assert "orphans = 'drop' is not one of" in result.err
    result = run_cli("orphans", "--manifest", str(path), "--database-url", "postgresql://nobody@127.0.0.1:1/x")
    assert result.code == 2 and result.err.startswith("cascade-tool: error: cannot connect to")
    assert run_cli("orphans", "--manifest", str(path)).code == 2


def test_purge_needs_an_explicit_retention_and_prints_what_it_removed(seed: tuple[str, str], run_cli: Any) -> None:
    url, _manifest = seed
    execute_sql(url, "ALTER TABLE conversation_sessions ADD UNIQUE (conversation_id)")
    wire(url, parse_manifest(MANIFEST), revision="r1", batch=1000)
    assert run_cli("quarantine", "purge", "--database-url", url).code == 2
    bad = run_cli("quarantine", "purge", "--database-url", url, "--older-than", "soon")
    assert (bad.code, bad.err) == (2, "cascade-tool: error: --older-than 'soon' is not a duration: write a number"
                                      " and a unit, e.g. 30d, 12h, 2w, 90min\n")
    assert run_cli("quarantine", "purge", "--database-url", url, "--older-than", "0d").code == 2
    young = run_cli("quarantine", "purge", "--database-url", url, "--older-than", "30d")
    assert (young.code, young.out, young.err) == (0, "", "purge: removed 0 row(s) quarantined more than 30d ago\n")
    # age 89 rows by 40 days: a purge with a table filter that matches nothing removes nothing
    execute_sql(url, "UPDATE cascade_quarantine.rows SET quarantined_at = quarantined_at - interval '40 days'"
                     " WHERE id IN (SELECT id FROM cascade_quarantine.rows ORDER BY id LIMIT 89)")
    other = run_cli("quarantine", "purge", "--database-url", url, "--older-than", "30d", "--table", "other")
    assert other.code == 0 and other.out == ""
    old = run_cli("quarantine", "purge", "--database-url", url, "--older-than", "30d", "--revision", "r1",
                  "--table", "public.chat_messages_v2")
    assert old.code == 0
    assert old.out.startswith(
        "removed 89 row(s) of public.chat_messages_v2 (moved) quarantined by r1, 89 never restored (")
    assert old.err == "purge: removed 89 row(s) quarantined more than 30d ago\n"
    assert count(url, "SELECT count(*) FROM cascade_quarantine.rows") == 200


def test_quarantine_commands_on_a_database_that_never_quarantined(empty_db: str, run_cli: Any) -> None:
    listed = run_cli("quarantine", "list", "--database-url", empty_db, "--json")
    assert (listed.code, listed.out) == (0, "[]\n")
    restored = run_cli("quarantine", "restore", "--database-url", empty_db)
    assert (restored.code, restored.out) == (0, "restored 0 row(s); gave 0 nulled row(s) their values back\n")
    purged = run_cli("quarantine", "purge", "--database-url", empty_db, "--older-than", "1d")
    assert purged.code == 0
    assert count(empty_db, "SELECT to_regnamespace('cascade_quarantine')") is None


@pytest.mark.parametrize("command", [["orphans"], ["quarantine", "list"], ["quarantine", "restore"],
                                     ["quarantine", "purge"]])
def test_new_commands_document_their_exit_codes(command: list[str], run_cli: Any) -> None:
    result = run_cli(*command, "--help")
    text = " ".join(result.out.split())
    assert result.code == 0 and "Exit codes: 0 " in text and "2 usage, input" in text
