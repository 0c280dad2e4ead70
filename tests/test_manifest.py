"""Manifest parsing: SQL name rules, defaults, and one clear error per kind of mistake."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from cascade_tool.errors import ManifestError
from cascade_tool.manifest import TableName, load_manifest, parse_manifest, parse_table_name
from tests.conftest import DATA, REPO

HEAD = '[target]\ntable = "users"\n[defaults]\ncolumns = ["user_id"]\n'


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("users", TableName(None, "users")),
        ("Users", TableName(None, "users")),
        ("public.users", TableName("public", "users")),
        ('public."User"', TableName("public", "User")),
        ('"My Schema"."Odd.Name"', TableName("My Schema", "Odd.Name")),
        ('"x""; DROP TABLE users; --"', TableName(None, 'x"; DROP TABLE users; --')),
        ('"order"', TableName(None, "order")),
        ("Audit.Login_Events", TableName("audit", "login_events")),
    ],
)
def test_table_names_follow_sql_rules(text: str, expected: TableName) -> None:
    """Unquoted parts fold to lower case; quoted parts are kept as written."""
    assert parse_table_name(text, "t") == expected


@pytest.mark.parametrize(
    "text", ["", "  ", "a.b.c", 'x"; DROP TABLE users; --', '"unterminated', "a..b", '""', "a b"]
)
def test_bad_table_names_are_rejected(text: str) -> None:
    with pytest.raises(ManifestError):
        parse_table_name(text, "t")


def test_the_shipped_example_manifest_parses() -> None:
    manifest = load_manifest(REPO / "manifest.toml")
    assert len(manifest.entries) == 70
    assert sum(e.optional for e in manifest.entries) == 9
    groups = [g for g, _ in manifest.groups()]
    assert groups[0] == "Raw Data Tables" and groups[-1] == "Legacy Tables"
    chain = [e for e in manifest.entries if e.chain]
    assert [(str(e.table), str(e.target)) for e in chain] == [("chat_messages", "chat_sessions")]
    assert chain[0].references is None  # a chain link defaults to that table's primary key


def test_defaults_and_overrides() -> None:
    m = parse_manifest(
        HEAD
        + '[[tables]]\nname = "a"\n'
        + '[[tables]]\nname = "a"\ncolumns = ["doctor_id"]\non_delete = "set null"\n'
        + '[[tables]]\nname = "c"\ncolumns = ["u", "t"]\nreferences = ["id", "tenant_id"]\n'
    )
    a, a2, c = m.entries
    assert a.columns == ("user_id",) and a.on_delete == "CASCADE" and a.references is None
    assert a2.on_delete == "SET NULL"
    assert c.references == ("id", "tenant_id")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[target\n", "invalid TOML"),
        (HEAD + '[[tables]]\nname = "a"\n[[tables]]\nname = "b"\ncolums = ["x"]\n',
         "tables[1] (b): unknown key 'colums'"),
        (HEAD + '[[tables]]\nname = "a"\non_delete = "DELETE"\n', "on_delete = 'DELETE' is not one of"),
        (HEAD + '[[tables]]\nname = ""\n', "tables[0]: table name is empty"),
        (HEAD + '[[tables]]\nname = "a"\n[[tables]]\nname = "A"\n', "tables[1] (A): duplicate of tables[0]"),
        (HEAD + '[[tables]]\ngroup = "x"\n', "tables[0]: missing name"),
        ('[defaults]\ncolumns = ["u"]\n[[tables]]\nname = "a"\n', "[target] needs table"),
        (HEAD, "no [[tables]] entries"),
        (HEAD + '[[tables]]\nname = "a"\ncolumns = ["a", "b"]\nreferences = ["id"]\n',
         "2 column(s) but 1 referenced column(s)"),
        ('[target]\ntable = "users"\n[[tables]]\nname = "a"\n', "no columns, and [defaults] has no columns"),
        (HEAD + '[settings]\nx = 1\n[[tables]]\nname = "a"\n', "unknown key 'settings'"),
        (HEAD + '[options]\nx = 1\n[[tables]]\nname = "a"\n', "[options]: unknown key 'x'"),
        (HEAD + '[options]\nlock_timeout = 200\n[[tables]]\nname = "a"\n', "lock_timeout = 200 is not a duration"),
        (HEAD + '[options]\nlock_retry_budget = "soon"\n[[tables]]\nname = "a"\n', "'soon' is not a duration"),
        (HEAD + '[options]\ncreate_indexes = "yes"\n[[tables]]\nname = "a"\n', "create_indexes must be true or false"),
        (HEAD + '[[tables]]\nname = "a"\noptional = "yes"\n', "optional must be true or false"),
    ],
)
def test_malformed_manifests_name_the_culprit(text: str, message: str) -> None:
    with pytest.raises(ManifestError) as exc:
        parse_manifest(text, "m.toml")
    assert message in str(exc.value)
    assert "\n" not in str(exc.value)


def test_payload_is_what_the_catalog_query_reads() -> None:
    m = load_manifest(DATA / "quirks_manifest.toml")
    payload = m.payload()
    assert payload[0] == {
        "i": 0, "schema": None, "table": "posts", "columns": ["user_id"],
        "target_schema": None, "target_table": "users", "references": ["id"],
        "on_delete": "CASCADE", "optional": False,
    }
    hostile = next(p for p in payload if p["table"].startswith("x"))
    assert hostile["table"] == 'x"; DROP TABLE users; --'


def test_stale_entries_are_kept_but_never_applied() -> None:
    """discover --merge marks entries whose FK disappeared; generate/plan/verify skip them."""
    m = parse_manifest(
        HEAD + '[[tables]]\nname = "a"\nstale = true\n[[tables]]\nname = "b"\n'
        + '[[tables]]\nname = "c"\nstale = false\n'
    )
    assert [str(e.table) for e in m.stale] == ["a"]
    assert [(p["i"], p["table"]) for p in m.payload()] == [(0, "b"), (1, "c")]
    assert [e.index for e in m.active] == [1, 2]
    with pytest.raises(ManifestError, match="stale must be true or false"):
        parse_manifest(HEAD + '[[tables]]\nname = "a"\nstale = "yes"\n')


def test_orphans_policy_and_add_unique_are_parsed_into_entries_and_payload() -> None:
    """Defaults ("fail", false) stay out of the payload, so existing revisions render the same."""
    m = parse_manifest(
        HEAD + '[[tables]]\nname = "a"\n'
        + '[[tables]]\nname = "b"\norphans = "quarantine"\n'
        + '[[tables]]\nname = "c"\norphans = "set-null"\nadd_unique = true\n'
        + '[[tables]]\nname = "d"\norphans = "fail"\nadd_unique = false\n'
    )
    assert [(e.orphans, e.add_unique) for e in m.entries] == [
        ("fail", False), ("quarantine", False), ("set-null", True), ("fail", False)
    ]
    payload = m.payload()
    assert "orphans" not in payload[0] and "add_unique" not in payload[0]
    assert payload[1]["orphans"] == "quarantine" and "add_unique" not in payload[1]
    assert (payload[2]["orphans"], payload[2]["add_unique"]) == ("set-null", True)
    assert payload[3] == {**payload[0], "i": 3, "table": "d"}


@pytest.mark.parametrize(
    ("item", "message"),
    [
        ('orphans = "delete"', 'tables[0] (a): orphans = \'delete\' is not one of "fail", "quarantine", "set-null"'),
        ('orphans = "set_null"', "tables[0] (a): orphans = 'set_null' is not one of"),
        ("orphans = true", "tables[0] (a): orphans = True is not one of"),
        ('add_unique = "yes"', "tables[0] (a): add_unique must be true or false"),
        ("add_unique = 1", "tables[0] (a): add_unique must be true or false"),
    ],
)
def test_bad_orphan_keys_name_the_entry(item: str, message: str) -> None:
    with pytest.raises(ManifestError) as exc:
        parse_manifest(HEAD + f'[[tables]]\nname = "a"\n{item}\n', "m.toml")
    assert message in str(exc.value)
    assert str(exc.value).startswith("m.toml: tables[0] (a): ")


THREE_MISTAKES = (
    HEAD
    + '[[tables]]\nname = "posts"\ncolums = ["author_id"]\n'
    + '[[tables]]\nname = "comments"\non_delete = "DELETE"\n'
    + '[[tables]]\nname = ""\n'
)


def test_every_mistake_is_reported_at_once() -> None:
    """Three mistakes in three entries: one error naming all three, entry and key each."""
    with pytest.raises(ManifestError) as exc:
        parse_manifest(THREE_MISTAKES, "m.toml")
    assert exc.value.problems == [
        "m.toml: tables[0] (posts): unknown key 'colums' (allowed: add_unique, columns, group, name, "
        "on_delete, optional, orphans, references, stale, target, validate)",
        "m.toml: tables[1] (comments): on_delete = 'DELETE' is not one of CASCADE, SET NULL, SET DEFAULT, "
        "RESTRICT, NO ACTION",
        "m.toml: tables[2]: table name is empty",
    ]


def test_several_mistakes_in_one_entry_and_section_are_all_named() -> None:
    text = (
        '[target]\ntable = "users"\ncolor = "red"\n[options]\nlock_timeout = "soon"\norphan_batch_size = 0\n'
        '[[tables]]\nname = "a"\ncolumns = []\noptional = "yes"\norphans = "delete"\n'
    )
    with pytest.raises(ManifestError) as exc:
        parse_manifest(text, "m.toml")
    assert exc.value.problems == [
        "m.toml: [target]: unknown key 'color' (allowed: columns, table)",
        "m.toml: [options]: lock_timeout = 'soon' is not a duration such as \"200ms\", \"5s\" or \"1min\"",
        "m.toml: [options]: orphan_batch_size must be a positive number of rows",
        "m.toml: tables[0] (a): columns must be a non-empty list of column names",
        "m.toml: tables[0] (a): optional must be true or false",
        'm.toml: tables[0] (a): orphans = \'delete\' is not one of "fail", "quarantine", "set-null" '
        "(no policy deletes rows without keeping a copy)",
    ]


def test_the_cli_prints_one_line_per_mistake_and_writes_nothing(run_cli: Any, tmp_path: Path) -> None:
    manifest = tmp_path / "manifest.toml"
    manifest.write_text(THREE_MISTAKES)
    versions = tmp_path / "versions"
    versions.mkdir()
    result = run_cli("generate", "--manifest", str(manifest), "--versions-dir", str(versions), "--rev-id", "r1")
    lines = result.err.splitlines()
    assert result.code == 2 and result.out == "" and len(lines) == 3
    assert all(line.startswith(f"cascade-tool: error: {manifest}: tables[") for line in lines)
    assert ["colums" in lines[0], "on_delete" in lines[1], "name is empty" in lines[2]] == [True] * 3
    assert list(versions.iterdir()) == []
