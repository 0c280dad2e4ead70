"""The table manifest: the reviewed list of foreign keys to convert, read from TOML.

Parsing is strict on purpose: a typo in a 100-entry manifest must stop the deploy with a message
that names the entry, not silently leave a table out. The parsed manifest is a set of frozen
dataclasses; `Manifest.payload()` turns it into the JSON the catalog query (and the generated
revision) consume, so both read exactly the same input.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cascade_tool.errors import ManifestError
from cascade_tool.tomlfile import parse_toml

ACTIONS = ("CASCADE", "SET NULL", "SET DEFAULT", "RESTRICT", "NO ACTION")
# What to do with rows that reference no parent when the FK has to be created: stop,
# move them to cascade_quarantine.rows, or set their FK columns to NULL (old values kept there).
ORPHAN_POLICIES = ("fail", "quarantine", "set-null")
# When the revision validates the FKs it swaps or creates: in the deploy ("now"), or not at all,
# leaving them NOT VALID with the validation recorded as pending for `cascade-tool validate`.
VALIDATE_WHEN = ("now", "later")

_TOP_KEYS = {"target", "defaults", "options", "tables"}
_TARGET_KEYS = {"table", "columns"}
_DEFAULT_KEYS = {"on_delete", "columns", "validate"}
_ENTRY_KEYS = {
    "name", "group", "columns", "references", "on_delete", "target", "optional", "stale",
    "orphans", "add_unique", "validate",
}
_OPTION_KEYS = {"lock_timeout", "lock_retry_budget", "statement_timeout", "create_indexes", "orphan_batch_size"}
_DURATION = re.compile(r"^\s*\d+(?:\.\d+)?\s*(?:ms|s|min|h)?\s*$")
_UNQUOTED = re.compile(r"[A-Za-z_\x80-\U0010ffff][A-Za-z0-9_$\x80-\U0010ffff]*")


@dataclass(frozen=True, order=True)
class TableName:
    """A table name as PostgreSQL resolves it: schema None means "first match on search_path"."""

    schema: str | None
    name: str

    def __str__(self) -> str:
        return f"{self.schema}.{self.name}" if self.schema else self.name


@dataclass(frozen=True)
class Entry:
    """One foreign key the manifest asks for: columns of `table` referencing `target`."""

    index: int
    table: TableName
    columns: tuple[str, ...]
    target: TableName
    references: tuple[str, ...] | None  # None: the target's primary key
    on_delete: str
    optional: bool
    group: str | None
    chain: bool  # target is not the manifest's main target
    stale: bool = False  # its FK disappeared (discover --merge): kept for review, never applied
    orphans: str = "fail"  # one of ORPHAN_POLICIES: what creating the FK does with orphan rows
    add_unique: bool = False  # create the UNIQUE constraint the FK needs on the referenced columns
    validate: str = "now"  # one of VALIDATE_WHEN: validate in the deploy, or leave it pending

    @property
    def label(self) -> str:
        """How messages name this entry: `tables[3] (audit.login_events)`."""
        return f"tables[{self.index}] ({self.table})"

    def describe(self) -> str:
        cols = ", ".join(self.columns)
        refs = f"({', '.join(self.references)})" if self.references else ""
        return f"{self.table}({cols}) -> {self.target}{refs}"


@dataclass(frozen=True)
class Options:
    """How the generated revision takes its locks ([options]); overridable at deploy time."""

    lock_timeout: str = "200ms"  # each attempt to take a lock waits at most this long
    lock_retry_budget: str = "60s"  # attempts are retried with backoff for this long in all
    statement_timeout: str = "10s"  # a swap is cancelled after lock_retry_budget + this
    create_indexes: bool = True  # CREATE INDEX CONCURRENTLY for FK columns without an index
    orphan_batch_size: int = 5000  # orphan rows moved or nulled per committed batch

    def as_dict(self) -> dict[str, Any]:
        return {
            "lock_timeout": self.lock_timeout,
            "lock_retry_budget": self.lock_retry_budget,
            "statement_timeout": self.statement_timeout,
            "create_indexes": self.create_indexes,
            "orphan_batch_size": self.orphan_batch_size,
        }


@dataclass(frozen=True)
class Manifest:
    """A parsed, validated manifest."""

    target: TableName
    target_columns: tuple[str, ...] | None
    entries: tuple[Entry, ...]
    source: str  # the file it came from, for messages and the revision header
    sha256: str
    options: Options = Options()

    @property
    def active(self) -> tuple[Entry, ...]:
        """The entries generate, plan and verify act on: all but the stale ones.

        The lookup numbers its rows by position in this tuple (`i`).
        """
        return tuple(e for e in self.entries if not e.stale)

    @property
    def stale(self) -> tuple[Entry, ...]:
        return tuple(e for e in self.entries if e.stale)

    def payload(self) -> list[dict[str, Any]]:
        """The active entries as the catalog query reads them (see cascade_tool/sql/resolve.sql)."""
        return [entry_payload(e, i) for i, e in enumerate(self.active)]

    def payload_json(self) -> str:
        return json.dumps(self.payload(), ensure_ascii=True)

    def groups(self) -> list[tuple[str | None, list[Entry]]]:
        """Entries grouped by label, groups in order of first appearance."""
        out: dict[str | None, list[Entry]] = {}
        for entry in self.active:
            out.setdefault(entry.group, []).append(entry)
        return list(out.items())


def entry_payload(entry: Entry, position: int) -> dict[str, Any]:
    """One entry as JSON. `orphans` and `add_unique` appear only when they differ from their
    defaults ("fail", false), so manifests that do not use them give the same JSON (and the same
    revision bytes) as before they existed."""
    item: dict[str, Any] = {
        "i": position,
        "schema": entry.table.schema,
        "table": entry.table.name,
        "columns": list(entry.columns),
        "target_schema": entry.target.schema,
        "target_table": entry.target.name,
        "references": list(entry.references) if entry.references else None,
        "on_delete": entry.on_delete,
        "optional": entry.optional,
    }
    if entry.orphans != "fail":
        item["orphans"] = entry.orphans
    if entry.add_unique:
        item["add_unique"] = True
    if entry.validate != "now":
        item["validate"] = entry.validate
    return item


def parse_table_name(text: str, where: str) -> TableName:
    """Parse `name`, `schema.name`, `"Mixed"."Case"` the way PostgreSQL reads identifiers.

    Unquoted parts fold to lower case; quoted parts keep their spelling, with "" for a quote.
    """
    if not isinstance(text, str) or not text.strip():
        raise ManifestError(f"{where}: table name is empty")
    parts: list[str] = []
    pos, s = 0, text.strip()
    while True:
        if pos < len(s) and s[pos] == '"':
            end = pos + 1
            buf = []
            while True:
                nxt = s.find('"', end)
                if nxt < 0:
                    raise ManifestError(f"{where}: unterminated quoted identifier in {text!r}")
                buf.append(s[end:nxt])
                if nxt + 1 < len(s) and s[nxt + 1] == '"':
                    buf.append('"')
                    end = nxt + 2
                    continue
                pos = nxt + 1
                break
            part = "".join(buf)
            if not part:
                raise ManifestError(f"{where}: empty quoted identifier in {text!r}")
            parts.append(part)
        else:
            match = _UNQUOTED.match(s, pos)
            if not match:
                raise ManifestError(
                    f"{where}: {text!r} is not a valid table name "
                    '(quote unusual names: \'"My Table"\')'
                )
            parts.append(match.group(0).lower())
            pos = match.end()
        if pos == len(s):
            break
        if s[pos] != ".":
            raise ManifestError(f"{where}: unexpected {s[pos]!r} in table name {text!r}")
        pos += 1
    if len(parts) > 2:
        raise ManifestError(f"{where}: {text!r} has more than schema.table")
    for part in parts:
        if len(part.encode()) > 63:
            raise ManifestError(f"{where}: {part!r} is longer than PostgreSQL's 63-byte limit")
    return TableName(parts[0], parts[1]) if len(parts) == 2 else TableName(None, parts[0])


def _columns(value: Any, where: str, key: str) -> tuple[str, ...]:
    if not isinstance(value, list) or not value:
        raise ManifestError(f"{where}: {key} must be a non-empty list of column names")
    for col in value:
        if not isinstance(col, str) or not col:
            raise ManifestError(f"{where}: {key} holds {col!r}, not a column name")
        if len(col.encode()) > 63:
            raise ManifestError(f"{where}: column {col!r} is longer than 63 bytes")
    if len(set(value)) != len(value):
        raise ManifestError(f"{where}: {key} names a column twice")
    return tuple(value)


def _action(value: Any, where: str) -> str:
    if not isinstance(value, str):
        raise ManifestError(f"{where}: on_delete must be one of {', '.join(ACTIONS)}")
    norm = " ".join(value.upper().replace("_", " ").split())
    if norm not in ACTIONS:
        raise ManifestError(
            f"{where}: on_delete = {value!r} is not one of {', '.join(ACTIONS)}"
        )
    return norm


def _table(table: Any, where: str) -> dict[str, Any]:
    if not isinstance(table, dict):
        raise ManifestError(f"{where}: expected a table, got {type(table).__name__}")
    return table


def _unknown_keys(table: dict[str, Any], allowed: set[str], where: str) -> None:
    unknown = sorted(set(table) - allowed)
    if unknown:
        names = ", ".join(repr(k) for k in unknown)
        raise ManifestError(
            f"{where}: unknown key{'s' if len(unknown) > 1 else ''} {names} (allowed: {', '.join(sorted(allowed))})"
        )


class _Problems:
    """Collects every mistake in a manifest, so one run names them all (not one per round trip)."""

    def __init__(self) -> None:
        self.messages: list[str] = []

    @contextmanager
    def check(self) -> Iterator[None]:
        """Run a check; a ManifestError it raises is recorded and parsing goes on."""
        try:
            yield
        except ManifestError as exc:
            self.messages.extend(exc.problems)

    def raise_if_any(self) -> None:
        if self.messages:
            raise ManifestError(*self.messages)


def load_manifest(path: str | Path) -> Manifest:
    """Read and validate a manifest file."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise ManifestError(f"cannot read manifest {path}: {exc.strerror}") from None
    return parse_manifest(raw, str(path))


_NEEDS_TARGET = '[target] needs table = "users" (the table rows are deleted from)'
_UNKNOWN_TARGET = TableName(None, "")  # stands in for a [target] that failed, so entries are still checked


def parse_manifest(raw: bytes | str, source: str = "<manifest>") -> Manifest:
    """Parse and validate a manifest; a ManifestError lists every problem found, one per line."""
    data = raw.encode() if isinstance(raw, str) else raw
    doc = parse_toml(data, source, ManifestError)
    problems = _Problems()
    with problems.check():
        _unknown_keys(doc, _TOP_KEYS, source)

    target, target_columns = _UNKNOWN_TARGET, None
    with problems.check():
        if "target" not in doc:
            raise ManifestError(f"{source}: {_NEEDS_TARGET}")
        where = f"{source}: [target]"
        target_tbl = _table(doc["target"], where)
        with problems.check():
            _unknown_keys(target_tbl, _TARGET_KEYS, where)
        with problems.check():
            if "columns" in target_tbl:
                target_columns = _columns(target_tbl["columns"], where, "columns")
        if "table" not in target_tbl:
            raise ManifestError(f"{source}: {_NEEDS_TARGET}")
        target = parse_table_name(target_tbl["table"], where)

    default_action, default_columns, default_validate = "CASCADE", None, "now"
    with problems.check():
        where = f"{source}: [defaults]"
        defaults = _table(doc.get("defaults", {}), where)
        with problems.check():
            _unknown_keys(defaults, _DEFAULT_KEYS, where)
        with problems.check():
            default_action = _action(defaults.get("on_delete", "CASCADE"), where)
        with problems.check():
            default_validate = _validate(defaults.get("validate", "now"), where)
        if "columns" in defaults:
            default_columns = _columns(defaults["columns"], where, "columns")

    options = Options()
    with problems.check():
        options = _options(doc.get("options", {}), f"{source}: [options]")

    entries: list[Entry] = []
    tables = doc.get("tables")
    if not isinstance(tables, list) or not tables:
        problems.messages.append(f"{source}: no [[tables]] entries")
        tables = []
    seen: dict[tuple[Any, ...], str] = {}
    for index, item in enumerate(tables):
        name = item.get("name") if isinstance(item, dict) else None
        where = f"{source}: tables[{index}]" + (f" ({name})" if isinstance(name, str) and name else "")
        with problems.check():
            entry = _entry(item, index, where, target, target_columns, default_action, default_columns,
                           default_validate)
            key = (entry.table, frozenset(entry.columns), entry.target)
            if key in seen:
                raise ManifestError(f"{where}: duplicate of {seen[key]} (same table, columns and target)")
            seen[key] = f"tables[{index}]"
            entries.append(entry)
    problems.raise_if_any()
    return Manifest(
        target=target,
        target_columns=target_columns,
        entries=tuple(entries),
        source=source,
        sha256=hashlib.sha256(data).hexdigest(),
        options=options,
    )


def _validate(value: Any, where: str) -> str:
    if value not in VALIDATE_WHEN:
        raise ManifestError(
            f"{where}: validate = {value!r} is not one of " + ", ".join(f'"{v}"' for v in VALIDATE_WHEN)
            + ' ("later" leaves the FK NOT VALID for cascade-tool validate)'
        )
    return str(value)


def _entry(
    item: Any,
    index: int,
    where: str,
    target: TableName,
    target_columns: tuple[str, ...] | None,
    default_action: str,
    default_columns: tuple[str, ...] | None,
    default_validate: str = "now",
) -> Entry:
    """One [[tables]] entry; every key is checked, and all its problems are raised together."""
    item = _table(item, where)
    problems = _Problems()
    with problems.check():
        _unknown_keys(item, _ENTRY_KEYS, where)
    table = _UNKNOWN_TARGET
    with problems.check():
        if "name" not in item:
            raise ManifestError(f"{where}: missing name")
        table = parse_table_name(item["name"], where)
    columns: tuple[str, ...] = ()
    with problems.check():
        if "columns" in item:
            columns = _columns(item["columns"], where, "columns")
        elif default_columns:
            columns = default_columns
        else:
            raise ManifestError(f"{where}: no columns, and [defaults] has no columns")
    entry_target = target
    with problems.check():
        if "target" in item:
            entry_target = parse_table_name(item["target"], where)
    chain = entry_target != target
    references = None if chain else target_columns
    with problems.check():
        if "references" in item:
            references = _columns(item["references"], where, "references")
        if references is not None and columns and len(references) != len(columns):
            raise ManifestError(
                f"{where}: {len(columns)} column(s) but {len(references)} referenced column(s)"
            )
    flags: dict[str, bool] = {}
    for key in ("optional", "stale", "add_unique"):
        with problems.check():
            flags[key] = item.get(key, False)
            if not isinstance(flags[key], bool):
                raise ManifestError(f"{where}: {key} must be true or false")
    with problems.check():
        group = item.get("group")
        if group is not None and (not isinstance(group, str) or not group.strip()):
            raise ManifestError(f"{where}: group must be a non-empty string")
    action = default_action
    with problems.check():
        action = _action(item.get("on_delete", default_action), where)
    orphans = item.get("orphans", "fail")
    with problems.check():
        if orphans not in ORPHAN_POLICIES:
            raise ManifestError(
                f"{where}: orphans = {orphans!r} is not one of "
                + ", ".join(f'"{p}"' for p in ORPHAN_POLICIES)
                + " (no policy deletes rows without keeping a copy)"
            )
    validate = default_validate
    with problems.check():
        validate = _validate(item.get("validate", default_validate), where)
    problems.raise_if_any()
    return Entry(
        index, table, columns, entry_target, references, action, flags["optional"], group, chain,
        flags["stale"], orphans, flags["add_unique"], validate,
    )


def _options(table: Any, where: str) -> Options:
    raw = _table(table, where)
    problems = _Problems()
    with problems.check():
        _unknown_keys(raw, _OPTION_KEYS, where)
    values: dict[str, Any] = {}
    for key in ("lock_timeout", "lock_retry_budget", "statement_timeout"):
        with problems.check():
            if key in raw:
                value = raw[key]
                if not isinstance(value, str) or not _DURATION.match(value):
                    raise ManifestError(
                        f"{where}: {key} = {value!r} is not a duration such as \"200ms\", \"5s\" or \"1min\""
                    )
                values[key] = value.strip()
    with problems.check():
        if "create_indexes" in raw:
            if not isinstance(raw["create_indexes"], bool):
                raise ManifestError(f"{where}: create_indexes must be true or false")
            values["create_indexes"] = raw["create_indexes"]
    with problems.check():
        if "orphan_batch_size" in raw:
            size = raw["orphan_batch_size"]
            if isinstance(size, bool) or not isinstance(size, int) or size < 1:
                raise ManifestError(f"{where}: orphan_batch_size must be a positive number of rows")
            values["orphan_batch_size"] = size
    problems.raise_if_any()
    return Options(**values)
